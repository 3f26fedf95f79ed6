//! Bearer-key check and the per-key query-rate window on `/tasks*`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use super::error::ApiError;
use crate::faults::FaultTarget;
use crate::keys::{self, KeyError};
use crate::state::{Shared, lock};

/// Check the API key; returns it on success.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    keys::check(shared, headers).map_err(|e| match e {
        KeyError::Missing => ApiError::no_key(),
        KeyError::Invalid => ApiError::bad_key(),
    })
}

/// Sliding one-second window of accepted `/tasks*` requests per key.
#[derive(Debug, Default)]
pub(crate) struct QpsWindow {
    hits: HashMap<String, VecDeque<Instant>>,
}

impl QpsWindow {
    /// Record a hit for `key` unless `limit` hits already happened in the last second; the
    /// hits in the window, this one included, when admitted.
    pub(crate) fn admit(&mut self, key: &str, limit: u32, now: Instant) -> Option<usize> {
        let window = Duration::from_secs(1);
        if self.hits.len() > 1024 {
            self.hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
        }
        let q = self.hits.entry(key.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            return None;
        }
        q.push_back(now);
        Some(q.len())
    }
}

/// Common front door: an injected fault for `target`, then auth, then (optionally) the QPS limit.
pub(crate) fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    target: FaultTarget,
    rate_limited: bool,
) -> Result<String, ApiError> {
    if let Some(fault) = shared.faults.take(target) {
        if fault.status == 429 {
            shared.bump(|s| s.throttled += 1);
        }
        return Err(ApiError::from_fault(&fault));
    }
    let key = authenticate(shared, headers)?;
    if rate_limited && let Some(limit) = shared.config().tasks_qps {
        let admitted = lock(&shared.dashscope.qps).admit(&key, limit, Instant::now());
        let Some(in_window) = admitted else {
            shared.bump(|s| s.throttled += 1);
            return Err(ApiError::throttled(1));
        };
        shared.bump(|s| s.peak_tasks_per_second = s.peak_tasks_per_second.max(in_window as u64));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limits_per_key() {
        let mut w = QpsWindow::default();
        let t0 = Instant::now();
        assert_eq!(w.admit("a", 2, t0), Some(1));
        assert_eq!(w.admit("a", 2, t0 + Duration::from_millis(10)), Some(2));
        assert_eq!(w.admit("a", 2, t0 + Duration::from_millis(20)), None);
        assert_eq!(w.admit("b", 2, t0 + Duration::from_millis(20)), Some(1));
        assert_eq!(w.admit("a", 2, t0 + Duration::from_millis(1000)), Some(2));
        assert_eq!(w.admit("a", 2, t0 + Duration::from_millis(1005)), None);
        assert_eq!(w.admit("a", 2, t0 + Duration::from_millis(1011)), Some(2));
    }
}
