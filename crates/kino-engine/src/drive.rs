//! Following a job to its end, one recorded step at a time.

use std::time::Duration;

use tokio::time::Instant;

use kino_core::{
    DownloadState, EventKind, JobId, JobState, PollPolicy, ProviderError, Reconciled, RemoteStatus,
    now_millis,
};
use kino_ledger::{Change, PollRecord};

use crate::{Engine, EngineError, Outcome, Owner};

/// How often a job followed by another process is re-read from the ledger.
const OBSERVE_EVERY: Duration = Duration::from_millis(500);

/// A platform refusal of a poll or a task-list query is not the user's bad input (exit 2):
/// the job was accepted, so it is the platform that is not answering as it should (exit 7).
fn after_submit(e: EngineError) -> EngineError {
    match e {
        EngineError::Provider(ProviderError::Rejected {
            status,
            code,
            message,
        }) => EngineError::Provider(ProviderError::Protocol {
            message: format!(
                "the platform refused a query about an accepted job (HTTP {status} {code}): {message}"
            ),
        }),
        other => other,
    }
}

impl Engine {
    /// Takes the job as far as it goes — submit, reconcile, poll, download — until it is done or
    /// `deadline` passes. Returns where it stands; a deadline is not an error.
    pub async fn drive(
        &self,
        id: JobId,
        deadline: Option<Instant>,
    ) -> Result<Outcome, EngineError> {
        let result = self.drive_inner(id, deadline).await;
        let _ = self.ledger.release(id, self.owner.as_str()).await;
        result
    }

    /// [`Engine::drive`] for a worker: when following stops with an error while the job is
    /// still unfinished, the job rests `pause` (its next claim is not due before) and only then
    /// is the lease given back, so no worker retries it at once.
    pub async fn drive_resting_on_error(
        &self,
        id: JobId,
        pause: Duration,
    ) -> Result<Outcome, EngineError> {
        let result = self.drive_inner(id, None).await;
        if result.is_err() {
            let at = now_millis() + pause.as_millis() as i64;
            let _ = self.ledger.set_next_poll(id, Some(at)).await;
        }
        let _ = self.ledger.release(id, self.owner.as_str()).await;
        result
    }

    /// Follows every unfinished job of the ledger at once.
    pub async fn resume_all(
        self: &std::sync::Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Vec<(JobId, Result<Outcome, EngineError>)>, EngineError> {
        let jobs = self.ledger.unfinished().await?;
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            let engine = self.clone();
            set.spawn(async move { (job.id, engine.drive(job.id, deadline).await) });
        }
        let mut results = Vec::new();
        while let Some(done) = set.join_next().await {
            if let Ok(r) = done {
                results.push(r);
            }
        }
        results.sort_by_key(|(id, _)| *id);
        Ok(results)
    }

    async fn claim(
        &self,
        id: JobId,
        holder: Option<&str>,
        hold_for: Duration,
    ) -> Result<bool, EngineError> {
        let breakable = holder.filter(|h| Owner::is_dead(h));
        let until = now_millis() + (hold_for + self.config.lease).as_millis() as i64;
        Ok(self
            .ledger
            .claim(id, self.owner.as_str(), until, breakable)
            .await?)
    }

    fn max_failures(&self, provider: &str) -> u32 {
        self.provider(provider)
            .ok()
            .and_then(|p| p.follow_limits().max_failures)
            .unwrap_or(self.config.max_poll_failures)
    }

    /// Whether `failures` in a row, the first at `since`, make the platform unavailable: as many
    /// as the provider tolerates, over at least [`EngineConfig::min_outage`]. Regression: five
    /// quick refusals in a row (a 5xx burst and two dropped connections, 1 s apart) ended a
    /// `kino run` on LibTV with exit 7 although the platform answered again a second later
    /// (`faults::dropped_slow_and_failing_answers_to_queries_and_downloads_are_asked_again`).
    fn outage_lasted(&self, provider: &str, failures: u32, since: Instant) -> bool {
        failures >= self.max_failures(provider) && since.elapsed() >= self.config.min_outage
    }

    /// Expires a job older than its provider follows jobs for (Xiaoyunque: 48 h).
    async fn give_up_if_too_old(&self, job: &kino_core::Job) -> Result<bool, EngineError> {
        // The limit is the platform's, not the account's: a job whose profile this machine
        // lacks still expires here, rather than failing on every pass.
        let limit = self.provider(&job.provider)?.follow_limits().give_up_after;
        let since = job.submitted_at.unwrap_or(job.created_at);
        match limit {
            Some(l)
                if now_millis().saturating_sub(since)
                    > i64::try_from(l.as_millis()).unwrap_or(i64::MAX) =>
            {
                let change = Change {
                    error: Some(format!(
                        "gave up after following it for {} h",
                        l.as_secs() / 3600
                    )),
                    ..Change::default()
                };
                self.move_to(job.id, &[job.state], JobState::Expired, change)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(crate) fn policy(&self, provider: &str) -> PollPolicy {
        self.config
            .poll_override
            .or_else(|| self.provider(provider).ok().map(|p| p.poll_policy()))
            .unwrap_or(PollPolicy {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(15),
                factor: 1.5,
            })
    }

    async fn drive_inner(
        &self,
        id: JobId,
        deadline: Option<Instant>,
    ) -> Result<Outcome, EngineError> {
        let mut polls: u32 = 0;
        let mut failures: u32 = 0;
        // When the current run of failures began: a foreground command gives up only on an
        // outage that lasts, not on a burst of quick refusals.
        let mut failing_since: Option<Instant> = None;
        let mut reconciles: u32 = 0;
        let mut next = Instant::now();
        loop {
            let outcome = self.outcome(id).await?;
            if outcome.is_done() {
                return Ok(outcome);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(outcome);
            }
            let job = outcome.job;
            let wait = next.saturating_duration_since(Instant::now());
            // Read before writing: a job another live process follows is only watched, so
            // watchers cost the ledger no write transactions.
            let held_elsewhere = job.lease_owner.as_deref().is_some_and(|o| {
                o != self.owner.as_str()
                    && job.lease_until.unwrap_or(0) > now_millis()
                    && !Owner::is_dead(o)
            });
            if held_elsewhere || !self.claim(id, job.lease_owner.as_deref(), wait).await? {
                // Another live process follows this job: watch the ledger instead.
                self.publish(id).await;
                sleep_until(Instant::now() + OBSERVE_EVERY, deadline).await;
                continue;
            }
            match job.state {
                JobState::Pending => {
                    let sent = self.submit(&job).await?;
                    next = Instant::now() + self.poll_delay(&sent, 0).await;
                }
                JobState::Submitting => {
                    // Our own request still in flight: its answer is coming.
                    if self.is_sending(id) {
                        sleep_until(Instant::now() + OBSERVE_EVERY, deadline).await;
                        continue;
                    }
                    // The sender's lease is ours now (a worker's claim takes only free, expired
                    // or dead leases). Its answer is lost if the sender is dead, or overdue: a
                    // live sender on another host whose lease ran out may still be waiting.
                    // Regression: a worker's claim had already put its own name on the lease,
                    // and the job was taken for this process's own request and watched forever.
                    let sender = job.lease_owner.as_deref();
                    let claimed_by_us = sender == Some(self.owner.as_str());
                    let sender_dead = sender.is_none_or(Owner::is_dead);
                    let sent = job.submitted_at.unwrap_or(job.created_at);
                    let overdue =
                        now_millis() - sent > crate::config::SUBMIT_WINDOW.as_millis() as i64;
                    if !(claimed_by_us || sender_dead || overdue) {
                        sleep_until(Instant::now() + OBSERVE_EVERY, deadline).await;
                        continue;
                    }
                    let change = Change {
                        reason: Some("the process that sent the create request stopped before recording its answer".into()),
                        ..Change::default()
                    };
                    self.move_to(id, &[JobState::Submitting], JobState::Unknown, change)
                        .await?;
                }
                JobState::Unknown => {
                    if !sleep_until(next, deadline).await {
                        continue;
                    }
                    reconciles += 1;
                    let found = self.reconcile(&job, reconciles).await;
                    match found {
                        Ok(()) => {
                            // The platform answered: an earlier run of failures is over.
                            failures = 0;
                            failing_since = None;
                            next = Instant::now() + self.config.reconcile_interval;
                        }
                        Err(e @ EngineError::Ambiguous { .. }) => return Err(e),
                        Err(EngineError::Provider(e)) if e.is_retryable() => {
                            failures += 1;
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if self.outage_lasted(&job.provider, failures, since) {
                                return Err(e.into());
                            }
                            let pause = self.policy(&job.provider).delay(failures);
                            next = Instant::now() + pause.max(e.retry_after().unwrap_or_default());
                        }
                        Err(e) => return Err(after_submit(e)),
                    }
                }
                // The platform waits for the user: nothing to do until `kino reply`.
                JobState::NeedsInput => {
                    // Results that came before the question are fetched before resting.
                    if outcome
                        .artifacts
                        .iter()
                        .any(|a| a.state != DownloadState::Done)
                    {
                        self.download_pending(id, None, None).await?;
                    }
                    return self.outcome(id).await;
                }
                JobState::Queued | JobState::Running => {
                    if !sleep_until(next, deadline).await {
                        continue;
                    }
                    if self.give_up_if_too_old(&job).await? {
                        continue;
                    }
                    let policy = self.policy(&job.provider);
                    match self.poll_once(&job).await {
                        Ok(()) => {
                            failures = 0;
                            failing_since = None;
                            polls += 1;
                            next = Instant::now() + self.poll_delay(&job, polls).await;
                            // Results that appear while the job still runs are fetched now:
                            // their URLs may expire before the job ends.
                            let pending = self.ledger.artifacts(id).await?;
                            if pending.iter().any(|a| a.state == DownloadState::Pending) {
                                self.claim(id, None, crate::config::DOWNLOAD_LEASE).await?;
                                self.download_pending(id, None, None).await?;
                            }
                        }
                        Err(EngineError::Provider(e)) if e.is_retryable() => {
                            failures += 1;
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if failures == 1 || failures.is_multiple_of(5) {
                                self.note(
                                    id,
                                    EventKind::Error {
                                        message: e.to_string(),
                                        retryable: true,
                                    },
                                )
                                .await?;
                            }
                            if self.outage_lasted(&job.provider, failures, since) {
                                return Err(e.into());
                            }
                            // A failed poll waits on the poll schedule itself (never hammering,
                            // never stalling a 48-hour job), or longer if the platform says so.
                            let pause = policy
                                .delay(failures)
                                .max(e.retry_after().unwrap_or_default());
                            next = Instant::now() + pause;
                        }
                        Err(e) => return Err(after_submit(e)),
                    }
                }
                JobState::Succeeded => {
                    self.claim(id, None, crate::config::DOWNLOAD_LEASE).await?;
                    self.download_pending(id, None, None).await?;
                }
                JobState::Failed | JobState::Canceled | JobState::Expired => {
                    return self.outcome(id).await;
                }
            }
        }
    }

    async fn poll_once(&self, job: &kino_core::Job) -> Result<(), EngineError> {
        let handle = job.handle.clone().unwrap_or_default();
        self.pace(&job.provider, Some(job.id)).await?;
        let outcome = self
            .account_of(job)?
            .poll(&handle, job.cursor.as_deref())
            .await?;
        let messages: Vec<EventKind> = outcome
            .messages
            .iter()
            .map(|m| EventKind::Message {
                role: Some(m.role.clone()),
                text: kino_core::redact_urls_in(&m.text),
            })
            .collect();
        let mut progress = None;
        let move_to = |to: JobState, change: Change| Some((job.state, to, change));
        let transition = match outcome.status {
            RemoteStatus::Queued { position } => {
                progress = position.map(|p| format!("queue position {p}"));
                None
            }
            RemoteStatus::Running { percent } => {
                if percent.is_some() {
                    progress = percent.map(|p| format!("{p:.0}%"));
                }
                (job.state != JobState::Running)
                    .then(Change::default)
                    .and_then(|c| move_to(JobState::Running, c))
            }
            RemoteStatus::NeedsInput { question } => {
                let question = if question.trim().is_empty() {
                    // The question may have come in an earlier poll, or in this one.
                    match outcome
                        .messages
                        .iter()
                        .rev()
                        .find(|m| m.role == "assistant")
                    {
                        Some(m) => m.text.clone(),
                        None => self.last_assistant_words(job.id).await?,
                    }
                } else {
                    question
                };
                move_to(
                    JobState::NeedsInput,
                    Change {
                        reason: Some(question),
                        ..Change::default()
                    },
                )
            }
            RemoteStatus::Succeeded => move_to(
                JobState::Succeeded,
                Change {
                    usage: outcome.usage.clone(),
                    ran_ms: outcome
                        .ran_for
                        .and_then(|d| i64::try_from(d.as_millis()).ok()),
                    ..Change::default()
                },
            ),
            RemoteStatus::Failed { code, message } => {
                let error = match code {
                    Some(c) => format!("{c}: {message}"),
                    None => message,
                };
                move_to(
                    JobState::Failed,
                    Change {
                        error: Some(error),
                        ..Change::default()
                    },
                )
            }
            RemoteStatus::Canceled => move_to(
                JobState::Canceled,
                Change {
                    reason: Some("canceled on the platform".into()),
                    ..Change::default()
                },
            ),
            RemoteStatus::Expired { message } => move_to(
                JobState::Expired,
                Change {
                    error: Some(message),
                    ..Change::default()
                },
            ),
        };
        let record = PollRecord {
            messages,
            cursor: outcome.cursor.clone(),
            artifacts: outcome.artifacts.clone(),
            transition,
        };
        let succeeded = matches!(record.transition, Some((_, JobState::Succeeded, _)));
        let changed = !record.messages.is_empty()
            || record.cursor.is_some()
            || !record.artifacts.is_empty()
            || record.transition.is_some();
        if changed {
            // Results, messages, the cursor past them and the state they imply land together.
            self.ledger.record_poll(job.id, record).await?;
            self.publish(job.id).await;
        }
        if succeeded {
            self.record_charge(job, outcome.usage.as_ref()).await;
        }
        if succeeded && let Some(ran_for) = outcome.ran_for {
            self.learn(job, ran_for).await;
        }
        if let Some(status) = progress {
            self.note(
                job.id,
                EventKind::Progress {
                    percent: None,
                    status: Some(status),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The question the job last rested on, in the agent's words.
    async fn last_question(&self, id: JobId) -> Result<Option<String>, EngineError> {
        let events = self.ledger.events(id, 0).await?;
        Ok(events.into_iter().rev().find_map(|e| match e.kind {
            EventKind::State {
                to: JobState::NeedsInput,
                reason,
                ..
            } => reason,
            _ => None,
        }))
    }

    /// The agent's latest words, when a platform signals a question without repeating it.
    async fn last_assistant_words(&self, id: JobId) -> Result<String, EngineError> {
        let events = self.ledger.events(id, 0).await?;
        Ok(events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::Message {
                    role: Some(r),
                    text,
                } if r == "assistant" => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "the agent waits for your answer".into()))
    }

    /// Finds the task a lost create made, through the platform's task list. Never resubmits:
    /// only when the list shows no such task, time after time, is the job declared never created.
    async fn reconcile(&self, job: &kino_core::Job, attempt: u32) -> Result<(), EngineError> {
        let provider = self.account_of(job)?.clone();
        let mut taken = self.ledger.handles(&job.provider).await?;
        // Every handle this job ever had (earlier runs of its conversation) is not the new one.
        for e in self.ledger.events(job.id, 0).await? {
            if let EventKind::Submitted { handle, .. } = e.kind
                && !taken.contains(&handle)
            {
                taken.push(handle);
            }
        }
        let sent_at = job.submitted_at.unwrap_or(job.created_at);
        let turns = JobTurns {
            engine: self,
            job,
            stopped: std::sync::Mutex::new(None),
        };
        let lost = kino_core::LostCreate {
            model: &job.model,
            sent_at,
            exclude: &taken,
            previous: job.handle.as_deref(),
            wire: job.wire.as_ref(),
            turns: &turns,
        };
        let found = provider.reconcile(&lost).await;
        // A turn that could not be taken stopped the search: its reason is kino's, not the
        // platform's.
        if let Some(e) = turns.stopped() {
            return Err(e);
        }
        let found = found?;
        let found = match found {
            // Another of our own jobs of the same model is also waiting for its handle near that
            // time: a lone task could be either's, so kino does not pick.
            Reconciled::Found(handle)
                if job.handle.is_none() && self.rivals(job, false).await? > 0 =>
            {
                Reconciled::Ambiguous(vec![handle])
            }
            // Matched on the request itself: only a rival that sent the same request is one.
            // Regression: a worker killed with several skills.video creates in flight left
            // each of them ambiguous, although each generation carried its own prompt.
            Reconciled::Matched(handle)
                if job.handle.is_none() && self.rivals(job, true).await? > 0 =>
            {
                Reconciled::Ambiguous(vec![handle])
            }
            other => other,
        };
        match found {
            Reconciled::Found(handle) | Reconciled::Matched(handle) => {
                let change = Change {
                    // A reply found as a new run reads that run from its start.
                    reset_cursor: job.handle.as_deref().is_some_and(|h| h != handle),
                    handle: Some(handle),
                    reason: Some("found in the platform's task list".into()),
                    ..Change::default()
                };
                self.move_to(job.id, &[JobState::Unknown], JobState::Queued, change)
                    .await?;
                Ok(())
            }
            // A lost reply that made no run: the question still stands.
            Reconciled::NotFound
                if attempt >= self.config.reconcile_attempts && job.handle.is_some() =>
            {
                let warning = EventKind::Warning {
                    message: "the reply never reached the platform (no new run); reply again"
                        .into(),
                };
                self.note(job.id, warning).await?;
                // The question still stands, in the agent's words.
                let change = Change {
                    reason: self.last_question(job.id).await?,
                    ..Change::default()
                };
                self.move_to(job.id, &[JobState::Unknown], JobState::NeedsInput, change)
                    .await?;
                Ok(())
            }
            Reconciled::NotFound if attempt >= self.config.reconcile_attempts => {
                let change = Change {
                    error: Some("the create request never made a task (the platform's task list has none): nothing was charged; submit it again".into()),
                    ..Change::default()
                };
                self.move_to(job.id, &[JobState::Unknown], JobState::Failed, change)
                    .await?;
                Ok(())
            }
            Reconciled::NotFound => {
                self.note(
                    job.id,
                    EventKind::Warning {
                        message: format!(
                            "no matching task in the platform's list yet (look {attempt})"
                        ),
                    },
                )
                .await?;
                Ok(())
            }
            Reconciled::Ambiguous(list) => {
                let text = list.join(", ");
                self.note(
                    job.id,
                    EventKind::Warning {
                        message: format!("cannot tell which task is this job's: {text}"),
                    },
                )
                .await?;
                Err(EngineError::Ambiguous {
                    id: job.id,
                    candidates: list.len(),
                    list: text,
                })
            }
            Reconciled::Inconclusive(why) => {
                self.note(
                    job.id,
                    EventKind::Warning {
                        message: format!("reconciliation inconclusive: {why}"),
                    },
                )
                .await?;
                Err(EngineError::Ambiguous {
                    id: job.id,
                    candidates: 0,
                    list: why,
                })
            }
        }
    }

    /// Other jobs of this provider and model whose create outcome is also unresolved and whose
    /// requests left within the reconciliation window (and, with `same_request`, sent this
    /// job's very request).
    async fn rivals(&self, job: &kino_core::Job, same_request: bool) -> Result<usize, EngineError> {
        let filter = kino_ledger::JobFilter {
            states: vec![JobState::Submitting, JobState::Unknown],
            provider: Some(job.provider.clone()),
            limit: None,
        };
        let sent = job.submitted_at.unwrap_or(job.created_at);
        Ok(self
            .ledger
            .jobs(&filter)
            .await?
            .iter()
            .filter(|j| j.id != job.id && j.model == job.model)
            .filter(|j| !same_request || j.wire == job.wire)
            .filter(|j| (j.submitted_at.unwrap_or(j.created_at) - sent).abs() < 12 * 60 * 1000)
            .count())
    }
}

/// Sleeps until `at`, or until the deadline if that comes first; false when the deadline cut it.
async fn sleep_until(at: Instant, deadline: Option<Instant>) -> bool {
    match deadline {
        Some(d) if d < at => {
            tokio::time::sleep_until(d).await;
            false
        }
        _ => {
            tokio::time::sleep_until(at).await;
            true
        }
    }
}

/// The ledger's request turns of a job's platform, taken by a reconcile before each request.
struct JobTurns<'a> {
    engine: &'a Engine,
    job: &'a kino_core::Job,
    stopped: std::sync::Mutex<Option<EngineError>>,
}

impl JobTurns<'_> {
    fn stopped(&self) -> Option<EngineError> {
        self.stopped.lock().ok().and_then(|mut s| s.take())
    }
}

#[async_trait::async_trait]
impl kino_core::Turns for JobTurns<'_> {
    async fn next(&self) -> Result<(), kino_core::ProviderError> {
        match self
            .engine
            .pace(&self.job.provider, Some(self.job.id))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = format!("stopped before its next request: {e}");
                if let Ok(mut s) = self.stopped.lock() {
                    *s = Some(e);
                }
                Err(kino_core::ProviderError::Network { message })
            }
        }
    }
}
