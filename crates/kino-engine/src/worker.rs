//! A worker: claims due jobs from the ledger under leases and follows each to its end. Any
//! number of workers — in `kino serve`, in `kino worker`, on one machine or many sharing a
//! PostgreSQL ledger — divide the work: a claim is one transaction no other claim interleaves
//! with, a dead worker's leases run out (or are broken at once when it is known dead on this
//! host) and its jobs continue elsewhere from their stored handle and cursor. Workers sleep until
//! the ledger wakes them (NOTIFY, or wake sockets beside an SQLite ledger) or a lease or poll
//! falls due; they never scan on a short timer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use kino_core::{JobId, now_millis};
use kino_ledger::Claim;

use crate::{Engine, Owner};

/// After a follow stops with an error while the job is still unfinished, the job rests this
/// long (doubling up to `BACKOFF_MAX`): each restart asks the platform again.
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The longest a worker sleeps without being woken: a safety net for a lost wake-up (a
/// PostgreSQL listener reconnecting), not the way work is found.
const IDLE_MAX: Duration = Duration::from_secs(30);
/// When work is due but none can be claimed (every job of a capped provider waits for room),
/// the worker looks again this often unless a finishing job wakes it first.
const BLOCKED_RECHECK: Duration = Duration::from_secs(2);
/// Without a wake-up channel across processes, jobs other processes record are found this fast.
const NO_CHANNEL_RECHECK: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs this worker follows at once.
    pub concurrency: usize,
    /// Jobs taken per claim, so that workers woken together share a burst of new jobs.
    pub batch: u32,
    /// Fleet-wide caps on jobs in flight per provider.
    pub caps: Vec<(String, u32)>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            batch: 16,
            caps: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct Workers {
    engine: Arc<Engine>,
    config: WorkerConfig,
    driving: Arc<Mutex<HashSet<JobId>>>,
    /// The pause a job's next failure earns.
    backoff: Arc<Mutex<HashMap<JobId, Duration>>>,
    finished: Arc<Notify>,
    tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl Workers {
    pub fn new(engine: Arc<Engine>, config: WorkerConfig) -> Self {
        Self {
            engine,
            config,
            driving: Arc::default(),
            backoff: Arc::default(),
            finished: Arc::default(),
            tasks: Arc::default(),
        }
    }

    fn driving(&self) -> usize {
        self.driving.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Follows a job unless a task of this worker already does (a job this process just
    /// created, or answered).
    pub async fn follow(&self, id: JobId) {
        let fresh = self
            .driving
            .lock()
            .map(|mut d| d.insert(id))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let (engine, driving, backoff, finished) = (
            self.engine.clone(),
            self.driving.clone(),
            self.backoff.clone(),
            self.finished.clone(),
        );
        self.tasks.lock().await.spawn(async move {
            let pause = backoff
                .lock()
                .ok()
                .and_then(|b| b.get(&id).copied())
                .unwrap_or(BACKOFF_MIN);
            let result = engine.drive_resting_on_error(id, pause).await;
            if let Ok(mut b) = backoff.lock() {
                match &result {
                    Ok(_) => {
                        b.remove(&id);
                    }
                    Err(e) => {
                        tracing::warn!(job = %id, "following stopped: {e}; again in {pause:?}");
                        b.insert(id, (pause * 2).min(BACKOFF_MAX));
                    }
                }
            }
            if let Ok(mut d) = driving.lock() {
                d.remove(&id);
            }
            finished.notify_one();
        });
    }

    /// Claims and follows due jobs until `stop` resolves, then stops every task and gives their
    /// leases back: the jobs stay in the ledger for the next worker (or `kino resume`).
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let ledger = self.engine.ledger().clone();
        let owner = self.engine.owner().as_str().to_string();
        let mut wake = match ledger.wakeups().await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("no wake-ups from the ledger ({e}); looking for work every second");
                None
            }
        };
        let crosses = wake.as_ref().is_some_and(|w| w.crosses_processes());
        loop {
            let free = self.config.concurrency.saturating_sub(self.driving());
            let mut more = false;
            if free > 0 {
                match self.claim(&owner, free).await {
                    Ok((jobs, limit)) => {
                        more = jobs.len() as u32 == limit;
                        for id in jobs {
                            self.follow(id).await;
                        }
                    }
                    Err(e) => tracing::warn!("cannot claim work: {e}"),
                }
            }
            // Reap finished tasks so the set stays small.
            {
                let mut tasks = self.tasks.lock().await;
                while tasks.try_join_next().is_some() {}
            }
            if more {
                tokio::task::yield_now().await;
                continue;
            }
            let pause = self.pause(&owner, free > 0, crosses).await;
            tokio::select! {
                _ = &mut stop => break,
                _ = async { match wake.as_mut() { Some(w) => w.next().await, None => std::future::pending().await } } => {}
                _ = self.finished.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        self.tasks.lock().await.abort_all();
        let held: Vec<JobId> = self
            .driving
            .lock()
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        for id in held {
            let _ = ledger.release(id, &owner).await;
        }
    }

    async fn claim(
        &self,
        owner: &str,
        free: usize,
    ) -> Result<(Vec<JobId>, u32), kino_ledger::LedgerError> {
        let ledger = self.engine.ledger();
        let now = now_millis();
        let breakable = ledger
            .lease_holders(now)
            .await?
            .into_iter()
            .filter(|h| Owner::is_dead(h))
            .collect();
        let limit = u32::try_from(free)
            .unwrap_or(u32::MAX)
            .min(self.config.batch);
        let claim = Claim {
            owner: owner.to_string(),
            now,
            until: now + self.engine.config.lease.as_millis() as i64,
            limit,
            breakable,
            caps: self.config.caps.clone(),
            providers: self.engine.provider_ids(),
        };
        let jobs = ledger.claim_due(&claim).await?;
        Ok((jobs.into_iter().map(|j| j.id).collect(), limit))
    }

    /// How long to sleep when nothing more can be claimed now.
    async fn pause(&self, owner: &str, has_room: bool, crosses: bool) -> Duration {
        let ceiling = if crosses {
            IDLE_MAX
        } else {
            NO_CHANNEL_RECHECK
        };
        if !has_room {
            // Full: a finishing task wakes the loop.
            return ceiling;
        }
        let now = now_millis();
        match self.engine.ledger().next_due(owner, now).await {
            Ok(Some(at)) if at > now => Duration::from_millis((at - now) as u64).min(ceiling),
            // Due now, yet not claimed: held back by a provider's cap.
            Ok(Some(_)) => BLOCKED_RECHECK.min(ceiling),
            Ok(None) => ceiling,
            Err(_) => NO_CHANNEL_RECHECK,
        }
    }
}
