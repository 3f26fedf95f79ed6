use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use kino_core::cost::Estimate;
use kino_core::{
    Artifact, DownloadState, Event, EventKind, Job, JobId, JobRequest, JobState, NewJob, Plan,
    Provider, SubmitError, Submitted, ValidationError, now_millis,
};
use kino_ledger::{Change, Ledger, UploadRecord};

use crate::{EngineConfig, EngineError, Owner};

/// The longest pause between refused create attempts.
const MAX_SUBMIT_PAUSE: Duration = Duration::from_secs(30);

/// Uploaded references outlive a job by this much at most (DashScope keeps them 48 h).
const UPLOAD_TTL_MS: i64 = 47 * 3600 * 1000;

/// Where a job stands after the engine has done what it could.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub job: Job,
    pub artifacts: Vec<Artifact>,
    /// The question a `needs_input` job waits on.
    pub question: Option<String>,
    /// What it was expected to cost, and what it cost by its platform's report.
    pub estimate: Option<Estimate>,
    pub charged: Option<Estimate>,
}

impl Outcome {
    /// Reads a job's outcome from the ledger (no network).
    pub async fn load(ledger: &dyn Ledger, id: JobId) -> Result<Self, kino_ledger::LedgerError> {
        let job = ledger.job(id).await?;
        let artifacts = ledger.artifacts(id).await?;
        let question = if job.state == JobState::NeedsInput {
            ledger
                .events(id, 0)
                .await?
                .into_iter()
                .rev()
                .find_map(|e| match e.kind {
                    EventKind::State {
                        to: JobState::NeedsInput,
                        reason,
                        ..
                    } => reason,
                    _ => None,
                })
        } else {
            None
        };
        let cost = ledger.job_cost(id).await?.unwrap_or_default();
        Ok(Self {
            job,
            artifacts,
            question,
            estimate: cost.estimate(),
            charged: cost.charged(),
        })
    }

    /// Nothing will change until someone acts: done, or waiting for the user's answer.
    pub fn is_resting(&self) -> bool {
        self.is_done() || self.job.state == JobState::NeedsInput
    }

    /// Nothing left to do: terminal, and every artifact of a success on disk.
    pub fn is_done(&self) -> bool {
        self.job.state.is_terminal()
            && (self.job.state != JobState::Succeeded
                || self
                    .artifacts
                    .iter()
                    .all(|a| a.state == DownloadState::Done))
    }
}

/// A request as [`Engine::check`] leaves it: ready to record.
pub(crate) struct Checked {
    pub provider: Arc<dyn Provider>,
    pub plan: Plan,
    /// The request as the ledger keeps it: local paths absolute, `job:ID#N` as asked.
    pub stored: Map<String, Value>,
    pub out: PathBuf,
}

pub struct Engine {
    pub(crate) ledger: Arc<dyn Ledger>,
    /// The environment's account of each provider (jobs recorded without a profile).
    providers: HashMap<String, Arc<dyn Provider>>,
    /// Each kino.toml profile's accounts, by profile then provider. A job is followed with the
    /// account that created it, because a task id belongs to that account alone.
    /// Ordered, so "the first profile's" adapter is the same on every call.
    profiles: std::collections::BTreeMap<String, HashMap<String, Arc<dyn Provider>>>,
    pub(crate) downloads: kino_http::reqwest::Client,
    pub(crate) config: EngineConfig,
    pub(crate) owner: Owner,
    events: broadcast::Sender<Event>,
    published: Mutex<HashMap<JobId, i64>>,
    /// Jobs whose create (or reply) request this engine has in flight.
    sending: Mutex<std::collections::HashSet<JobId>>,
    /// How long recent jobs took, for the poll plan.
    pub(crate) history: crate::history::History,
    /// Thumbnails made at once: each is an ffmpeg process, and a dashboard opening on a long
    /// job list asks for all of them together.
    pub(crate) thumbnailing: tokio::sync::Semaphore,
}

/// Marks a job's request as in flight in this engine for as long as it lives.
struct Sending<'a>(&'a Engine, JobId);

impl<'a> Sending<'a> {
    fn new(engine: &'a Engine, id: JobId) -> Self {
        if let Ok(mut s) = engine.sending.lock() {
            s.insert(id);
        }
        Self(engine, id)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.sending.lock() {
            s.remove(&self.1);
        }
    }
}

impl Engine {
    pub fn new(
        ledger: Arc<dyn Ledger>,
        providers: Vec<Arc<dyn Provider>>,
        downloads: kino_http::reqwest::Client,
        config: EngineConfig,
    ) -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            ledger,
            providers: providers
                .into_iter()
                .map(|p| (p.info().id.to_string(), p))
                .collect(),
            profiles: Default::default(),
            downloads,
            config,
            owner: Owner::current(),
            events,
            published: Mutex::new(HashMap::new()),
            sending: Mutex::default(),
            history: Default::default(),
            thumbnailing: tokio::sync::Semaphore::new(2),
        }
    }

    /// Adds a kino.toml profile's accounts: jobs recorded under `name` are sent and followed with
    /// these adapters, and only with these.
    pub fn with_profile(mut self, name: &str, providers: Vec<Arc<dyn Provider>>) -> Self {
        let accounts = providers
            .into_iter()
            .map(|p| (p.info().id.to_string(), p))
            .collect();
        self.profiles.insert(name.to_string(), accounts);
        self
    }

    /// The profile new jobs are recorded under when a face names none (`--profile`,
    /// `KINO_PROFILE`, kino.toml `profile`); `None` is the environment's account.
    pub fn default_profile(&self) -> Option<&str> {
        self.config.profile.as_deref()
    }

    /// The profile a service call runs under: the one it names, else the service's. A service
    /// started under a profile keeps to it, so a call cannot step out of that profile's account
    /// and `max_cost` into another's.
    pub fn call_profile<'a>(
        &'a self,
        asked: Option<&'a str>,
    ) -> Result<Option<&'a str>, EngineError> {
        match (asked, self.default_profile()) {
            (Some(asked), Some(own)) if asked != own => Err(ValidationError::new(
                "profile",
                format!("this service runs under profile `{own}`; a call cannot use `{asked}`"),
            )
            .with_hint(format!(
                "start a service of its own for it: `kino serve --profile {asked}`"
            ))
            .into()),
            (asked, own) => Ok(asked.or(own)),
        }
    }

    /// The request with kino.toml's defaults for `provider` (and `profile`) filled in where it
    /// gives nothing; what it gives always wins.
    pub fn with_defaults(
        &self,
        provider: &str,
        profile: Option<&str>,
        request: &JobRequest,
    ) -> JobRequest {
        self.config.defaults.apply(provider, profile, request)
    }

    /// The adapter of `provider` holding the account of `profile` (`None`: the environment's).
    /// Everything tied to a job (submit, poll, reconcile, cancel, reply) goes through here.
    pub fn account(
        &self,
        provider: &str,
        profile: Option<&str>,
    ) -> Result<&Arc<dyn Provider>, EngineError> {
        let Some(name) = profile else {
            return self
                .providers
                .get(provider)
                .ok_or_else(|| EngineError::UnknownProvider(provider.to_string()));
        };
        let accounts = self.profiles.get(name);
        accounts
            .and_then(|a| a.get(provider))
            .ok_or_else(|| EngineError::NoAccount {
                provider: provider.to_string(),
                profile: name.to_string(),
                configured: accounts.is_some(),
            })
    }

    /// The account a recorded job belongs to.
    pub(crate) fn account_of(&self, job: &Job) -> Result<&Arc<dyn Provider>, EngineError> {
        self.account(&job.provider, job.profile.as_deref())
    }

    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Who this engine's leases name.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Whether this engine has the job's create or reply request in flight.
    pub(crate) fn is_sending(&self, id: JobId) -> bool {
        self.sending
            .lock()
            .map(|s| s.contains(&id))
            .unwrap_or(false)
    }

    /// Waits for the provider's next request turn when the ledger paces it: one turn per
    /// interval across every process sharing the ledger, so a fleet keeps a platform's rate
    /// limit as one client would. The lease on `holding` is stretched over the wait first: a
    /// backlog of turns must not let the lease run out and another worker take the job.
    pub(crate) async fn pace(
        &self,
        provider: &str,
        holding: Option<JobId>,
    ) -> Result<(), EngineError> {
        let Some(interval) = self.config.paces.get(provider) else {
            return Ok(());
        };
        let wait = self.ledger.take_turn(provider, *interval).await?;
        if let Some(id) = holding
            && wait > Duration::from_millis(200)
        {
            let until = now_millis() + (wait + self.config.lease).as_millis() as i64;
            if !self
                .ledger
                .claim(id, self.owner.as_str(), until, None)
                .await?
            {
                let state = self.ledger.job(id).await?.state;
                return Err(EngineError::WrongState {
                    id,
                    state,
                    message: "another process holds it".into(),
                });
            }
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Every event the engine records, as it records it.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A model's request schema, when its provider publishes one (skills.video).
    pub fn request_schema(&self, provider: &str, model: &str) -> Option<Value> {
        self.provider(provider)
            .ok()
            .and_then(|p| p.request_schema(model))
    }

    /// Every adapter of every account: the environment's first, then each profile's.
    fn adapters(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers
            .values()
            .chain(self.profiles.values().flat_map(|a| a.values()))
    }

    /// The providers this engine can follow jobs of (with some account).
    pub fn provider_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.adapters().map(|p| p.info().id.to_string()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// What each configured provider offers.
    pub fn providers_info(&self) -> Vec<kino_core::ProviderInfo> {
        let mut infos: Vec<_> = self.adapters().map(|p| p.info()).collect();
        infos.sort_by_key(|i| i.id);
        infos.dedup_by_key(|i| i.id);
        infos
    }

    /// An adapter of the provider, for what does not depend on the account (validation, prices,
    /// poll schedules, schemas): the environment's, else the first profile's that has one.
    /// Steps of a recorded job use [`Engine::account`] instead.
    pub fn provider(&self, id: &str) -> Result<&Arc<dyn Provider>, EngineError> {
        if let Some(p) = self.providers.get(id) {
            return Ok(p);
        }
        self.profiles
            .values()
            .find_map(|a| a.get(id))
            .ok_or_else(|| EngineError::UnknownProvider(id.to_string()))
    }

    /// Broadcasts the job's events the subscribers have not seen yet.
    pub(crate) async fn publish(&self, id: JobId) {
        let since = self
            .published
            .lock()
            .map(|m| m.get(&id).copied().unwrap_or(0))
            .unwrap_or(0);
        let Ok(events) = self.ledger.events(id, since).await else {
            return;
        };
        if let Some(last) = events.last()
            && let Ok(mut m) = self.published.lock()
        {
            m.insert(id, last.seq);
        }
        for e in events {
            let _ = self.events.send(e);
        }
    }

    pub(crate) async fn note(&self, id: JobId, kind: EventKind) -> Result<(), EngineError> {
        self.ledger.append_event(id, &kind).await?;
        self.publish(id).await;
        Ok(())
    }

    pub(crate) async fn move_to(
        &self,
        id: JobId,
        from: &[JobState],
        to: JobState,
        change: Change,
    ) -> Result<Job, EngineError> {
        let job = self.ledger.transition(id, from, to, change).await?;
        self.publish(id).await;
        Ok(job)
    }

    /// The request with its references to other jobs' results (`job:ID#N`) replaced by what they
    /// would be sent as now (`--dry-run`). Sends and records nothing.
    pub async fn resolve_chain(&self, request: &JobRequest) -> Result<JobRequest, EngineError> {
        let (fields, _) = crate::chain::resolve(
            self.ledger.as_ref(),
            &request.fields,
            now_millis(),
            self.config.chain_url_margin,
        )
        .await?;
        Ok(JobRequest {
            fields,
            ..request.clone()
        })
    }

    /// Validates a request and records it as a `pending` job. Nothing is uploaded or sent; an
    /// invalid request leaves no trace.
    /// The job is recorded under `profile` (`None`: the environment's account), whose account
    /// sends and follows it, and whose kino.toml defaults fill what the request leaves out.
    pub async fn create(
        &self,
        provider: &str,
        profile: Option<&str>,
        request: &JobRequest,
        out_dir: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Job, EngineError> {
        self.create_as(JobId::new(), provider, profile, request, out_dir, prefix)
            .await
    }

    /// [`Engine::create`] with the job's id chosen by the caller. A batch writes the id to its
    /// row before the job exists, so a crash between the two leaves a row that names a job the
    /// ledger does not have (safe to create) rather than a job no row names (sent twice).
    pub async fn create_as(
        &self,
        id: JobId,
        provider: &str,
        profile: Option<&str>,
        request: &JobRequest,
        out_dir: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Job, EngineError> {
        let checked = self
            .check(provider, profile, request, out_dir, prefix.as_deref())
            .await?;
        let plan = &checked.plan;
        let job = NewJob {
            id,
            provider: provider.to_string(),
            mode: plan.mode.clone(),
            model: plan.model.clone(),
            request: Value::Object(checked.stored.clone()),
            out_dir: Some(checked.out.display().to_string()),
            prefix,
            // Ours until we send it or let it go (`Engine::hand_over`).
            lease: Some((
                self.owner.to_string(),
                now_millis() + self.config.lease.as_millis() as i64,
            )),
            profile: profile.map(str::to_string),
        };
        let job = self.ledger.insert_job(&job).await?;
        let estimate = self.price(provider, checked.provider.as_ref(), plan).await;
        self.record_estimate(&job, &estimate).await;
        self.publish(job.id).await;
        Ok(job)
    }

    /// A request checked as [`Engine::create`] records it, with nothing recorded: kino.toml's
    /// defaults filled in, chained inputs resolved, the provider's validation passed, the
    /// prefix and output directory checked.
    pub(crate) async fn check(
        &self,
        provider: &str,
        profile: Option<&str>,
        request: &JobRequest,
        out_dir: Option<PathBuf>,
        prefix: Option<&str>,
    ) -> Result<Checked, EngineError> {
        let p = self.account(provider, profile)?.clone();
        let request = &self.with_defaults(provider, profile, request);
        let (fields, links) = crate::chain::resolve(
            self.ledger.as_ref(),
            &request.fields,
            now_millis(),
            self.config.chain_url_margin,
        )
        .await?;
        let resolved = JobRequest {
            fields,
            ..request.clone()
        };
        let plan = p.prepare(&resolved)?;
        if let Some(prefix) = prefix {
            check_prefix(prefix)?;
        }
        let out = out_dir.unwrap_or_else(|| self.config.default_out_dir.clone());
        let out = std::path::absolute(&out).unwrap_or(out);
        check_out_dir(&out)?;
        let mut stored = plan.request.clone();
        for local in &plan.local_inputs {
            // Store absolute paths so `kino resume` from another directory finds the files.
            if let Some(slot) = pointer_mut(&mut stored, &local.pointer) {
                *slot = Value::String(local.path.display().to_string());
            }
        }
        // The request records what was asked (`job:ID#N`); the submit resolves it again and
        // records what it was sent as.
        let mut stored = Value::Object(stored);
        for link in &links {
            crate::chain::replace(&mut stored, &link.target.value(), &link.source);
        }
        Ok(Checked {
            provider: p,
            plan,
            stored: match stored {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            out,
        })
    }

    /// The plan of a recorded job, validated again (its local files must still be there), with
    /// its references to other jobs' results resolved as of now.
    pub(crate) async fn plan_of(
        &self,
        job: &Job,
    ) -> Result<(Arc<dyn Provider>, Plan, Vec<crate::chain::Link>), EngineError> {
        let p = self.account_of(job)?.clone();
        let (fields, links) = crate::chain::resolve(
            self.ledger.as_ref(),
            &job.fields(),
            now_millis(),
            self.config.chain_url_margin,
        )
        .await?;
        let request = JobRequest {
            mode: Some(job.mode.clone()),
            model: Some(job.model.clone()),
            fields,
        };
        let plan = p.prepare(&request)?;
        Ok((p, plan, links))
    }

    /// Uploads (or reuses) the job's local inputs, records the exact body, marks the job
    /// `submitting` and only then sends the create request; the handle is recorded in the same
    /// step that learns it. Refusals that certainly created nothing (429, 503, no connection)
    /// are retried a few times; a lost answer is never resent (the job goes to `unknown`).
    pub(crate) async fn submit(&self, job: &Job) -> Result<Job, EngineError> {
        let (provider, plan, links) = match self.plan_of(job).await {
            Ok(p) => p,
            // Valid when recorded, invalid now (a local file was moved): nothing was spent.
            Err(e @ EngineError::Validation(_)) => return self.fail_unsent(job, e).await,
            Err(e) => return Err(e),
        };
        for link in links {
            let (url, file) = match link.target {
                crate::chain::Target::Url(u) => (Some(kino_core::redact_url(&u)), None),
                crate::chain::Target::File(p) => (None, Some(p.display().to_string())),
            };
            self.note(
                job.id,
                EventKind::Chained {
                    field: link.field,
                    source: link.source,
                    url,
                    file,
                },
            )
            .await?;
        }
        let mut references = Vec::new();
        for local in &plan.local_inputs {
            match self
                .upload_once(job, provider.as_ref(), &plan.model, local)
                .await
            {
                Ok(reference) => references.push((local.pointer.clone(), reference)),
                Err(EngineError::Provider(e)) if !e.is_retryable() => {
                    return self.fail_unsent(job, e.into()).await;
                }
                Err(e) => return Err(e),
            }
        }
        let body = match provider.build(&plan, &references) {
            Ok(b) => b,
            Err(e) => return self.fail_unsent(job, e.into()).await,
        };
        let mut attempt = 0;
        loop {
            self.pace(&job.provider, Some(job.id)).await?;
            let sent_at = now_millis();
            let change = Change {
                wire: Some(body.clone()),
                submitted_at: Some(sent_at),
                count_attempt: true,
                ..Change::default()
            };
            // The lease must outlast the request: nobody may take the job for lost while its
            // answer can still arrive.
            let until = now_millis()
                + (crate::config::SUBMIT_WINDOW + self.config.lease).as_millis() as i64;
            if !self
                .ledger
                .claim(job.id, self.owner.as_str(), until, None)
                .await?
            {
                return Err(EngineError::WrongState {
                    id: job.id,
                    state: job.state,
                    message: "another process holds it".into(),
                });
            }
            let _sending = Sending::new(self, job.id);
            self.move_to(job.id, &[JobState::Pending], JobState::Submitting, change)
                .await?;
            match provider.submit(&plan, &body).await {
                Ok(submitted) => return self.record_handle(job.id, submitted, false).await,
                Err(SubmitError::OutcomeUnknown(why)) => {
                    let change = Change {
                        reason: Some(format!("create request outcome unknown: {why}")),
                        ..Change::default()
                    };
                    return self
                        .move_to(job.id, &[JobState::Submitting], JobState::Unknown, change)
                        .await;
                }
                Err(SubmitError::NotCreated(e))
                    if e.is_retryable() && attempt + 1 < self.config.submit_attempts =>
                {
                    let change = Change {
                        reason: Some(format!("the platform refused, nothing was created: {e}")),
                        ..Change::default()
                    };
                    self.move_to(job.id, &[JobState::Submitting], JobState::Pending, change)
                        .await?;
                    // A receipt is due soon: pauses are capped at 30 s, and the attempts are few.
                    let wait =
                        kino_http::Backoff::new(Duration::from_secs(1), Duration::from_secs(20), 1)
                            .delay(attempt, e.retry_after())
                            .min(MAX_SUBMIT_PAUSE);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(SubmitError::NotCreated(e)) => {
                    if e.is_retryable() {
                        // Nothing was created; the job stays pending for `kino resume`.
                        let change = Change {
                            reason: Some(format!("the platform refused, nothing was created: {e}")),
                            ..Change::default()
                        };
                        self.move_to(job.id, &[JobState::Submitting], JobState::Pending, change)
                            .await?;
                    } else {
                        let change = Change {
                            error: Some(e.to_string()),
                            ..Change::default()
                        };
                        self.move_to(job.id, &[JobState::Submitting], JobState::Failed, change)
                            .await?;
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Records the handle a create request returned. The handle is the one thing a crash or a
    /// busy ledger must not lose: the write is retried, a job another process has meanwhile moved
    /// to `unknown` adopts it, and if even that fails it is kept in an event.
    pub(crate) async fn record_handle(
        &self,
        id: JobId,
        submitted: Submitted,
        reset_cursor: bool,
    ) -> Result<Job, EngineError> {
        let Submitted {
            handle,
            web_link,
            cursor,
        } = submitted;
        let mut last = None;
        // One expected state at a time, so the event names the state the job really left.
        let mut from = JobState::Submitting;
        for attempt in 0..5u64 {
            let change = Change {
                handle: Some(handle.clone()),
                web_link: web_link.clone(),
                reset_cursor: reset_cursor && cursor.is_none(),
                cursor: cursor.clone(),
                ..Change::default()
            };
            match self.move_to(id, &[from], JobState::Queued, change).await {
                Ok(job) => return Ok(job),
                Err(EngineError::Ledger(kino_ledger::LedgerError::Conflict {
                    actual: JobState::Unknown,
                    ..
                })) if from == JobState::Submitting => {
                    from = JobState::Unknown;
                }
                Err(e @ EngineError::Ledger(kino_ledger::LedgerError::Conflict { .. })) => {
                    last = Some(e);
                    break;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
            }
        }
        let message = format!(
            "the platform created task {handle} for this job, but the ledger could not record it as the job's handle"
        );
        let _ = self
            .note(
                id,
                EventKind::Warning {
                    message: message.clone(),
                },
            )
            .await;
        tracing::error!(job = %id, "{message}");
        Err(last.unwrap_or(EngineError::WrongState {
            id,
            state: JobState::Unknown,
            message,
        }))
    }

    /// Gives a job this engine recorded to the workers (`kino submit --queue`): the lease it was
    /// born with is released, which wakes them.
    pub async fn hand_over(&self, id: JobId) -> Result<(), EngineError> {
        Ok(self.ledger.release(id, self.owner.as_str()).await?)
    }

    /// Submits a recorded `pending` job now and returns at once with its receipt (`kino submit`).
    pub async fn submit_now(&self, id: JobId) -> Result<Job, EngineError> {
        let until = now_millis() + self.config.lease.as_millis() as i64;
        if !self
            .ledger
            .claim(id, self.owner.as_str(), until, None)
            .await?
        {
            let job = self.ledger.job(id).await?;
            return Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "another process is submitting it".into(),
            });
        }
        let job = self.ledger.job(id).await?;
        let result = match job.state {
            JobState::Pending => self.submit(&job).await,
            _ => Ok(job),
        };
        let _ = self.ledger.release(id, self.owner.as_str()).await;
        result
    }

    /// Fails a job that was never sent, and returns the reason as the error.
    async fn fail_unsent(&self, job: &Job, e: EngineError) -> Result<Job, EngineError> {
        let change = Change {
            error: Some(format!("{e} (nothing was sent)")),
            ..Change::default()
        };
        self.move_to(job.id, &[JobState::Pending], JobState::Failed, change)
            .await?;
        Err(e)
    }

    async fn upload_once(
        &self,
        job: &Job,
        provider: &dyn Provider,
        model: &str,
        local: &kino_core::LocalInput,
    ) -> Result<String, EngineError> {
        let path = local.path.display().to_string();
        let modified = std::fs::metadata(&local.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let now = now_millis();
        // An uploaded reference belongs to the account that uploaded it: another profile's
        // job uploads its own copy.
        let scope = match &job.profile {
            Some(p) => format!("{}@{p}", job.provider),
            None => job.provider.clone(),
        };
        if let Some(done) = self
            .ledger
            .find_upload(&scope, model, &path, local.bytes, modified, now)
            .await?
        {
            return Ok(done.reference);
        }
        let reference = provider.upload(model, local).await?;
        self.ledger
            .record_upload(&UploadRecord {
                provider: scope,
                model: model.to_string(),
                local_path: path.clone(),
                bytes: local.bytes,
                modified,
                reference: reference.clone(),
                created_at: now,
                expires_at: now + UPLOAD_TTL_MS,
            })
            .await?;
        self.note(
            job.id,
            EventKind::Uploaded {
                file: path,
                reference: reference.clone(),
                bytes: local.bytes,
            },
        )
        .await?;
        Ok(reference)
    }

    /// Uploads a file on its own (`kino upload`) with the account of `profile`: the reference
    /// to use as an input (of a job of the same account).
    pub async fn upload_file(
        &self,
        provider: &str,
        profile: Option<&str>,
        model: &str,
        path: &std::path::Path,
    ) -> Result<String, EngineError> {
        let p = self.account(provider, profile)?;
        let input = p.upload_input(path)?;
        Ok(p.upload(model, &input).await?)
    }

    /// Answers the question a conversational job waits on, on the same conversation. A reply
    /// is a billable request like a submit, and is recorded the same way: the job is
    /// `submitting` before it leaves, its new handle is recorded with its answer, and a lost
    /// answer makes it `unknown` (reconciled, never resent).
    pub async fn reply(
        &self,
        id: JobId,
        message: &str,
        inputs: &[String],
        assets: &[String],
    ) -> Result<Job, EngineError> {
        if message.trim().is_empty() {
            return Err(ValidationError::new("message", "must not be empty").into());
        }
        let job = self.ledger.job(id).await?;
        if job.state != JobState::NeedsInput {
            return Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "only a job waiting for an answer (needs_input) takes a reply".into(),
            });
        }
        let provider = self.account_of(&job)?.clone();
        let mut fields = serde_json::Map::new();
        fields.insert("message".into(), Value::String(message.to_string()));
        fields.insert("inputs".into(), Value::from(inputs.to_vec()));
        // An attached job's mode and model are not the platform's words: the platform's own
        // defaults stand for them.
        let request = JobRequest {
            mode: (job.mode != crate::ATTACHED_MODE).then(|| job.mode.clone()),
            model: (job.model != crate::UNKNOWN_MODEL).then(|| job.model.clone()),
            fields,
        };
        let plan = provider.prepare(&request)?;
        let until =
            now_millis() + (crate::config::SUBMIT_WINDOW + self.config.lease).as_millis() as i64;
        if !self
            .ledger
            .claim(id, self.owner.as_str(), until, None)
            .await?
        {
            return Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "another process holds it".into(),
            });
        }
        let result = self
            .reply_claimed(&job, provider.as_ref(), &plan, message, assets)
            .await;
        let _ = self.ledger.release(id, self.owner.as_str()).await;
        result
    }

    async fn reply_claimed(
        &self,
        job: &Job,
        provider: &dyn Provider,
        plan: &Plan,
        message: &str,
        assets: &[String],
    ) -> Result<Job, EngineError> {
        let mut uploaded = Vec::new();
        for local in &plan.local_inputs {
            let reference = self.upload_once(job, provider, &plan.model, local).await?;
            uploaded.push((local.pointer.clone(), reference));
        }
        // Every attachment: assets as given, uploaded files by their reference, URLs as they are.
        let mut references = assets.to_vec();
        let fields = plan.with_references(&uploaded)?;
        references.extend(
            fields
                .get("inputs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string)),
        );
        let question = Outcome::load(self.ledger.as_ref(), job.id).await?.question;
        let previous = job.handle.clone().unwrap_or_default();
        let change = Change {
            wire: Some(serde_json::json!({"reply": message, "references": references})),
            submitted_at: Some(now_millis()),
            count_attempt: true,
            reason: Some(format!("reply sent: {message}")),
            ..Change::default()
        };
        self.pace(&job.provider, Some(job.id)).await?;
        let _sending = Sending::new(self, job.id);
        self.move_to(
            job.id,
            &[JobState::NeedsInput],
            JobState::Submitting,
            change,
        )
        .await?;
        match provider.reply(&previous, message, &references).await {
            Ok(submitted) => {
                let new_handle = submitted.handle != previous;
                self.record_handle(job.id, submitted, new_handle).await
            }
            Err(SubmitError::OutcomeUnknown(why)) => {
                let change = Change {
                    reason: Some(format!("reply outcome unknown: {why}")),
                    ..Change::default()
                };
                self.move_to(job.id, &[JobState::Submitting], JobState::Unknown, change)
                    .await
            }
            Err(SubmitError::NotCreated(e)) => {
                let refusal = EventKind::Error {
                    message: format!("the reply was refused: {e}"),
                    retryable: e.is_retryable(),
                };
                self.note(job.id, refusal).await?;
                // The question still stands, in the agent's words.
                let change = Change {
                    reason: question,
                    ..Change::default()
                };
                self.move_to(
                    job.id,
                    &[JobState::Submitting],
                    JobState::NeedsInput,
                    change,
                )
                .await?;
                Err(e.into())
            }
        }
    }

    /// Cancels a job: locally if nothing was sent, on the platform if it still can.
    pub async fn cancel(&self, id: JobId) -> Result<Job, EngineError> {
        let job = self.ledger.job(id).await?;
        match job.state {
            JobState::Pending => {
                let change = Change { reason: Some("canceled before anything was sent".into()), ..Change::default() };
                self.move_to(id, &[JobState::Pending], JobState::Canceled, change).await
            }
            // The platform's run has ended on a question: nothing runs there to stop.
            JobState::NeedsInput => {
                let change = Change {
                    reason: Some("the question was left unanswered".into()),
                    ..Change::default()
                };
                self.move_to(id, &[JobState::NeedsInput], JobState::Canceled, change)
                    .await
            }
            JobState::Queued | JobState::Running => {
                let handle = job.handle.clone().unwrap_or_default();
                self.pace(&job.provider, None).await?;
                self.account_of(&job)?.cancel(&handle).await?;
                let change = Change { reason: Some("canceled on the platform".into()), ..Change::default() };
                self.move_to(id, &[job.state], JobState::Canceled, change).await
            }
            JobState::Unknown => {
                let change = Change {
                    reason: Some(
                        "abandoned by the user while its create outcome was unknown; a task the platform may have made is not followed"
                            .into(),
                    ),
                    ..Change::default()
                };
                self.move_to(id, &[JobState::Unknown], JobState::Canceled, change)
                    .await
            }
            JobState::Submitting => Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "its create request's outcome is not known yet; `kino resume` reconciles it first".into(),
            }),
            s => Err(EngineError::WrongState { id, state: s, message: "it is already over".into() }),
        }
    }

    pub async fn outcome(&self, id: JobId) -> Result<Outcome, EngineError> {
        Ok(Outcome::load(self.ledger.as_ref(), id).await?)
    }
}

/// A result file name stem: one plain name, so results land in the output directory and
/// nowhere else.
pub fn check_prefix(prefix: &str) -> Result<(), ValidationError> {
    let bad = |rule: &str| Err(ValidationError::new("prefix", rule));
    if prefix.trim().is_empty() {
        return bad("must not be empty");
    }
    if prefix.chars().count() > 120 {
        return bad("must be at most 120 characters");
    }
    if prefix.contains(['/', '\\', '\0']) || prefix == "." || prefix == ".." {
        return bad("must be a plain file name, without a directory (use --out for the directory)");
    }
    Ok(())
}

/// The output directory exists (or can be made) and is a directory, before anything is paid.
pub fn check_out_dir(out: &std::path::Path) -> Result<(), ValidationError> {
    if out.exists() && !out.is_dir() {
        return Err(ValidationError::new(
            "out",
            format!("{} is not a directory", out.display()),
        ));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| ValidationError::new("out", format!("cannot create {}: {e}", out.display())))
}

fn pointer_mut<'a>(
    map: &'a mut serde_json::Map<String, Value>,
    pointer: &str,
) -> Option<&'a mut Value> {
    let mut parts = pointer.trim_start_matches('/').splitn(2, '/');
    let first = parts.next()?;
    let slot = map.get_mut(first)?;
    match parts.next() {
        Some(rest) => slot.pointer_mut(&format!("/{rest}")),
        None => Some(slot),
    }
}
