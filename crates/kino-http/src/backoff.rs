use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Bounded exponential backoff for idempotent requests (polls, downloads, uploads). Creates are
/// never retried through this: see `kino_core::SubmitError`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration, attempts: u32) -> Self {
        Self {
            base,
            max,
            attempts,
        }
    }

    /// The pause after failed attempt `n` (0-based); a server's Retry-After wins when longer.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(n.min(20)));
        let d = exp.min(self.max);
        match retry_after {
            Some(r) if r > d => r.min(Duration::from_secs(3600)),
            _ => d,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30), 8)
    }
}

/// Reads `Retry-After` as delta-seconds or as an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn delays_grow_and_respect_retry_after() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 5);
        assert_eq!(b.delay(0, None), Duration::from_millis(100));
        assert_eq!(b.delay(3, None), Duration::from_millis(800));
        assert_eq!(b.delay(9, None), Duration::from_secs(1));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }
}
