//! The workers of a `kino serve`: every unfinished job of the ledger is followed, whoever
//! submitted it (this service, or `kino submit` in another terminal), each by one task.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use kino_core::JobId;
use kino_engine::Engine;

/// How often the ledger is scanned for jobs other processes recorded.
const SCAN_EVERY: Duration = Duration::from_secs(1);
/// After a follow stops with an error while the job is still unfinished, the scan leaves the
/// job alone this long, doubling up to `BACKOFF_MAX`: each restart asks the platform again.
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Workers {
    engine: Arc<Engine>,
    driving: Arc<Mutex<HashSet<JobId>>>,
    /// Jobs whose last follow failed: not before when, and the next pause.
    backoff: Arc<Mutex<HashMap<JobId, (Instant, Duration)>>>,
    tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl Workers {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            driving: Arc::default(),
            backoff: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// Follows a job unless a task of this service already does.
    pub async fn follow(&self, id: JobId) {
        let fresh = self
            .driving
            .lock()
            .map(|mut d| d.insert(id))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let (engine, driving, backoff) = (
            self.engine.clone(),
            self.driving.clone(),
            self.backoff.clone(),
        );
        self.tasks.lock().await.spawn(async move {
            let result = engine.drive(id, None).await;
            if let Ok(mut b) = backoff.lock() {
                match &result {
                    Ok(_) => {
                        b.remove(&id);
                    }
                    Err(e) => {
                        let pause = b.get(&id).map_or(BACKOFF_MIN, |(_, p)| *p);
                        tracing::warn!(job = %id, "following stopped: {e}; again in {pause:?}");
                        b.insert(id, (Instant::now() + pause, (pause * 2).min(BACKOFF_MAX)));
                    }
                }
            }
            if let Ok(mut d) = driving.lock() {
                d.remove(&id);
            }
        });
    }

    fn resting(&self, id: JobId) -> bool {
        self.backoff
            .lock()
            .map(|b| b.get(&id).is_some_and(|(until, _)| Instant::now() < *until))
            .unwrap_or(false)
    }

    /// Scans the ledger for unfinished jobs until `stop` resolves, then stops every task. The
    /// jobs stay in the ledger: the next start (or `kino resume`) continues them.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Ok(jobs) = self.engine.ledger().unfinished().await {
                for job in jobs {
                    // A question waits for a reply; the reply starts it again.
                    if job.state != kino_core::JobState::NeedsInput && !self.resting(job.id) {
                        self.follow(job.id).await;
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(SCAN_EVERY) => {}
            }
            // Reap finished tasks so the set stays small.
            let mut tasks = self.tasks.lock().await;
            while tasks.try_join_next().is_some() {}
        }
        self.tasks.lock().await.abort_all();
    }
}
