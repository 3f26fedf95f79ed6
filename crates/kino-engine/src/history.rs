//! When to poll next: the provider's policy, shaped by how long similar recent jobs took
//! ([`PollPlan`]). What the ledger says is read at most once per [`REFRESH`] for each provider
//! and model, however many jobs are followed, and topped up at once with this engine's own
//! successes. Only run times and the request fields that set them are kept; nothing is written.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use kino_core::{Expected, Job, PollPlan, now_millis};

use crate::Engine;

/// The percentiles come from this many of the latest similar jobs.
pub(crate) const SAMPLES: usize = 20;

/// Rows read per provider and model: room for several shapes of job.
const READ: u32 = 100;

/// How long what the ledger said is trusted before it is read again (other processes' jobs
/// show up within this; this engine's own at once).
const REFRESH: Duration = Duration::from_secs(60);

/// The request fields that change how long a job runs: the video's length and its size.
const SHAPE_FIELDS: [&str; 3] = ["duration", "resolution", "size"];

/// What makes two jobs of one model similar: their values of [`SHAPE_FIELDS`] (a job that
/// sets none of them runs with the platform's defaults, as every other such job).
pub(crate) fn shape(request: &Value) -> String {
    SHAPE_FIELDS
        .iter()
        .map(|f| request.get(f).map_or(String::new(), Value::to_string))
        .collect::<Vec<_>>()
        .join("|")
}

/// One provider and model's run times, behind a lock that its one reader holds while it reads.
type Shared = Arc<tokio::sync::Mutex<Pair>>;

/// Run times per provider and model.
#[derive(Default)]
pub(crate) struct History {
    pairs: Mutex<HashMap<(String, String), Shared>>,
}

#[derive(Default)]
struct Pair {
    read_at: Option<Instant>,
    /// Newest first: (shape, run time).
    runs: VecDeque<(String, Duration)>,
    /// Percentiles by shape, computed once per change of `runs`.
    expected: HashMap<String, Option<Expected>>,
}

impl Pair {
    fn expected(&mut self, shape: &str) -> Option<Expected> {
        if let Some(e) = self.expected.get(shape) {
            return *e;
        }
        let similar: Vec<Duration> = self
            .runs
            .iter()
            .filter(|(s, _)| s == shape)
            .take(SAMPLES)
            .map(|(_, took)| *took)
            .collect();
        let e = Expected::from_samples(&similar);
        self.expected.insert(shape.to_string(), e);
        e
    }
}

impl History {
    fn pair(&self, provider: &str, model: &str) -> Shared {
        let mut pairs = self.pairs.lock().unwrap_or_else(|p| p.into_inner());
        pairs
            .entry((provider.to_string(), model.to_string()))
            .or_default()
            .clone()
    }
}

impl Engine {
    /// How long to wait before polling `job` again, `polls` polls into this follow. A
    /// `poll_override` is followed as it always was, by count; otherwise the plan reads the time
    /// since the create request, so a resumed or taken-over job keeps its place.
    pub(crate) async fn poll_delay(&self, job: &Job, polls: u32) -> Duration {
        let policy = self.policy(&job.provider);
        if self.config.poll_override.is_some() {
            return policy.delay(polls);
        }
        let learns = self
            .provider(&job.provider)
            .is_ok_and(|p| p.learns_run_times());
        let expected = if learns {
            self.expected(job).await
        } else {
            None
        };
        let sent = job.submitted_at.unwrap_or(job.created_at);
        let elapsed = Duration::from_millis(u64::try_from(now_millis() - sent).unwrap_or(0));
        let plan = PollPlan::new(policy, expected.as_ref());
        let delay = plan.delay(elapsed);
        if let Some(w) = plan.window() {
            tracing::trace!(job = %job.id, ?elapsed, ?delay, start = ?w.start, end = ?w.end,
                cadence = ?w.cadence, "poll plan learned from similar jobs");
        }
        delay
    }

    /// What jobs similar to `job` took, reading the ledger when what it said is stale.
    async fn expected(&self, job: &Job) -> Option<Expected> {
        let pair = self.history.pair(&job.provider, &job.model);
        let mut pair = pair.lock().await;
        if pair.read_at.is_none_or(|at| at.elapsed() >= REFRESH) {
            // One reader per provider and model; the others wait for its answer. A ledger that
            // does not answer leaves the last one in place until the next refresh.
            match self.ledger.run_times(&job.provider, &job.model, READ).await {
                Ok(times) => {
                    pair.runs = times.iter().map(|t| (shape(&t.request), t.took)).collect();
                    pair.expected.clear();
                }
                Err(e) => tracing::debug!(error = %e, "run times not read; polling as before"),
            }
            pair.read_at = Some(Instant::now());
        }
        pair.expected(&shape(&job.request))
    }

    /// Adds a success this engine saw to what it knows, so the next job of its kind plans with
    /// it at once (the ledger holds it too, for other processes). `ran_for` is the platform's own
    /// measure: the time until kino saw the end is no measure at all for a job resumed hours
    /// later, and taught the plan to sleep for hours before polling similar jobs.
    pub(crate) async fn learn(&self, job: &Job, took: Duration) {
        let pair = self.history.pair(&job.provider, &job.model);
        let mut pair = pair.lock().await;
        // Not read yet: the first plan reads the ledger, this success included.
        if pair.read_at.is_none() {
            return;
        }
        pair.runs.push_front((shape(&job.request), took));
        pair.runs.truncate(READ as usize);
        pair.expected.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn jobs_are_alike_by_length_and_size_not_by_prompt() {
        let a = json!({"prompt": "a cat", "duration": 5, "size": "1280*720"});
        let b = json!({"prompt": "a dog", "duration": 5, "size": "1280*720", "seed": 7});
        let longer = json!({"prompt": "a cat", "duration": 10, "size": "1280*720"});
        let bigger = json!({"prompt": "a cat", "duration": 5, "size": "1920*1080"});
        assert_eq!(shape(&a), shape(&b));
        assert_ne!(shape(&a), shape(&longer));
        assert_ne!(shape(&a), shape(&bigger));
        assert!(!shape(&a).contains("cat"));
        assert_eq!(
            shape(&json!({"prompt": "x"})),
            shape(&json!({"prompt": "y"}))
        );
    }

    #[test]
    fn percentiles_come_from_the_latest_jobs_of_the_same_shape() {
        let mut pair = Pair::default();
        for i in 0..30u64 {
            pair.runs
                .push_back(("5".into(), Duration::from_secs(100 + i)));
            pair.runs.push_back(("10".into(), Duration::from_secs(300)));
        }
        pair.runs.push_back(("15".into(), Duration::from_secs(500)));
        let e = pair.expected("5").unwrap();
        assert_eq!(e.samples, SAMPLES);
        assert_eq!(e.fastest, Duration::from_secs(100));
        assert!(e.p90 < Duration::from_secs(120));
        assert_eq!(pair.expected("10").unwrap().p50, Duration::from_secs(300));
        // One job of a shape says too little.
        assert_eq!(pair.expected("15"), None);
    }
}
