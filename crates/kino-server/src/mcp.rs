//! The MCP face (`kino mcp` over stdio, `/mcp` on `kino serve`): the engine's operations as
//! tools. Waits are bounded: a tool returns `done: false` rather than outlive its client.
//!
//! A client that declares the tasks extension (SEP-2663) gets `generate` as a task instead: the
//! job's id is the task id, `tasks/get` reads the ledger, `tasks/cancel` cancels the job. The
//! ledger already keeps every job, so no task store of our own is needed and a task outlives
//! the server process that created it.

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskParams, GetTaskResult, Implementation, JsonObject, ServerCapabilities,
    ServerConfig, Task, TaskPayload, TaskStatus,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use kino_core::cost::{Amount, Tally};
use kino_core::{Diagnostic, Job, JobId, JobRequest, JobState, Millis};
use kino_engine::{Engine, EngineError, Outcome};
use kino_ledger::JobFilter;

use crate::Workers;
use crate::api::outcome_json;
use kino_engine::view::error_json;

/// The longest a tool call waits; well under common client timeouts (60 s).
const MAX_WAIT: u64 = 50;
/// How often a task's client is asked to poll `tasks/get`.
const TASK_POLL_MS: u64 = 5_000;

#[derive(Clone)]
pub struct KinoMcp {
    engine: Arc<Engine>,
    workers: Workers,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GenerateArgs {
    /// dashscope, skillsvideo, xyq, libtv, xingyun3d or sandbox.
    pub provider: String,
    /// The user's words (sent unmodified to xyq and libtv).
    pub prompt: Option<String>,
    pub mode: Option<String>,
    pub model: Option<String>,
    /// Other request fields, as the provider defines them.
    pub request: Option<Map<String, Value>>,
    /// Seconds to wait for the result (0–50, default 30).
    pub wait_seconds: Option<u64>,
    /// Refuse the job, sending nothing, if its expected cost would pass any of these limits
    /// ("5 CNY", "200 credits"); see the `estimate` tool.
    pub max_cost: Option<Vec<String>>,
    /// Under max_cost, let a job of unknown cost go ahead.
    pub allow_unknown_cost: Option<bool>,
    /// A kino.toml profile whose account, defaults and max_cost to use (default: the
    /// service's).
    pub profile: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EstimateArgs {
    /// dashscope, skillsvideo, xyq, libtv, xingyun3d or sandbox.
    pub provider: String,
    pub prompt: Option<String>,
    pub mode: Option<String>,
    pub model: Option<String>,
    /// Other request fields, as the provider defines them.
    pub request: Option<Map<String, Value>>,
    /// A kino.toml profile whose defaults to apply (default: the service's).
    pub profile: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AttachArgs {
    /// dashscope, skillsvideo, xyq, libtv or xingyun3d.
    pub provider: String,
    /// The platform's id of the job: a DashScope task_id, a skills.video generation id,
    /// THREAD_ID/RUN_ID for xyq, a LibTV sessionId, a xingyun3d task_id.
    pub handle: String,
    /// Seconds to wait for the result (0–50, default 30).
    pub wait_seconds: Option<u64>,
    /// A kino.toml profile whose account to ask (default: the service's).
    pub profile: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct JobArgs {
    pub job_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitArgs {
    pub job_id: String,
    /// Seconds to wait (0–50, default 30).
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EventsArgs {
    pub job_id: String,
    /// Only events after this sequence number.
    pub since: Option<i64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReplyArgs {
    pub job_id: String,
    /// The answer, sent exactly as written.
    pub message: String,
    /// Files (paths) or URLs to attach.
    pub inputs: Option<Vec<String>>,
    /// Assets already on the platform (ids), to attach.
    pub assets: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListArgs {
    pub state: Option<String>,
    pub provider: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SchemaArgs {
    pub provider: String,
    /// A model id (e.g. google/veo-3.1 on skillsvideo).
    pub model: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UploadArgs {
    pub provider: String,
    /// A local file path.
    pub file: String,
    /// The model the file is for (DashScope binds uploads to a model).
    pub model: Option<String>,
    /// The kino.toml profile whose account the job that uses it runs under (default: the
    /// service's): an upload belongs to the account that made it.
    pub profile: Option<String>,
}

/// Bad input, in the same shape as every other error.
fn usage(message: String) -> String {
    error_json(kino_core::ErrorKind::Usage, &message, &[]).to_string()
}

fn failure(e: impl Diagnostic) -> String {
    error_json(e.kind(), &e.to_string(), &e.hints()).to_string()
}

impl KinoMcp {
    pub fn new(engine: Arc<Engine>, workers: Workers) -> Self {
        Self {
            engine,
            workers,
            tool_router: Self::tool_router(),
        }
    }

    async fn find(&self, id: &str) -> Result<JobId, String> {
        match id.parse::<JobId>() {
            Ok(id) => Ok(id),
            Err(_) => self
                .engine
                .ledger()
                .find_job(id)
                .await
                .map(|j| j.id)
                .map_err(failure),
        }
    }

    /// Waits up to `seconds` for the job to be done (or to ask a question); the outcome either way.
    async fn bounded_wait(&self, id: JobId, seconds: Option<u64>) -> Result<String, String> {
        let limit = Duration::from_secs(seconds.unwrap_or(30).min(MAX_WAIT));
        let start = tokio::time::Instant::now();
        loop {
            let o: Outcome = self.engine.outcome(id).await.map_err(failure)?;
            if o.is_resting() || start.elapsed() >= limit {
                return Ok(outcome_json(&o).to_string());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The job as a task: working until it rests. A job that asks a question completes the
    /// call with the question, as `generate` does without tasks; the answer goes through
    /// `reply`, which continues the same job.
    async fn task(&self, id: JobId) -> Result<DetailedTask, ErrorData> {
        let o = self.engine.outcome(id).await.map_err(task_error)?;
        let payload = match o.job.state {
            JobState::Canceled => TaskPayload::Cancelled,
            JobState::NeedsInput => completed(&o),
            _ if o.is_done() => completed(&o),
            _ => TaskPayload::Working,
        };
        Ok(DetailedTask::new(task_of(&o.job), payload))
    }
}

/// The call's result, as `generate` would have returned it; a failed or expired job marks it
/// `isError` (the task itself ran: `failed` is for protocol errors).
fn completed(o: &Outcome) -> TaskPayload {
    let content = vec![ContentBlock::text(outcome_json(o).to_string())];
    let result = match o.job.state {
        JobState::Failed | JobState::Expired => CallToolResult::error(content),
        _ => CallToolResult::success(content),
    };
    match serde_json::to_value(result) {
        Ok(Value::Object(result)) => TaskPayload::Completed { result },
        _ => TaskPayload::Failed {
            error: JsonObject::from_iter([("message".to_string(), json!("unserialisable result"))]),
        },
    }
}

/// The task header of a job. `ttlMs` is null: the ledger keeps jobs until the user removes them.
fn task_of(job: &Job) -> Task {
    Task::new(
        job.id.to_string(),
        TaskStatus::Working,
        rfc3339(job.created_at),
        rfc3339(job.updated_at),
    )
    .with_status_message(job.state.to_string())
    .with_poll_interval_ms(TASK_POLL_MS)
}

fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn task_error(e: impl Diagnostic) -> ErrorData {
    let data = json!({"kind": e.kind(), "hints": e.hints(), "exit_code": e.kind().exit_code()});
    match e.kind().exit_code() {
        2 => ErrorData::invalid_params(e.to_string(), Some(data)),
        _ => ErrorData::internal_error(e.to_string(), Some(data)),
    }
}

#[tool_router]
impl KinoMcp {
    #[tool(description = "List providers, their modes and models.")]
    async fn providers(&self) -> String {
        json!(self.engine.providers_info()).to_string()
    }

    #[tool(
        description = "Create an image/video job and wait up to wait_seconds. Returns the job; done=false means call wait later. Never resubmit a job that is still running."
    )]
    async fn generate(
        &self,
        Parameters(a): Parameters<GenerateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        let request =
            JobRequest::from_parts(a.mode, a.model, a.request.unwrap_or_default(), a.prompt);
        // The profile (the call's, else the service's) limits every job; the call may add
        // its own limits.
        let profile = self
            .engine
            .call_profile(a.profile.as_deref())
            .map_err(failure)?;
        let mut budget = self
            .engine
            .profile_budget(profile, a.allow_unknown_cost.unwrap_or(false));
        for text in a.max_cost.unwrap_or_default() {
            let amount =
                Amount::parse(&text).map_err(|e| usage(format!("invalid `max_cost`: {e}")))?;
            budget.cap(amount, "max_cost");
        }
        if budget.is_limited() {
            let with_defaults = self.engine.with_defaults(&a.provider, profile, &request);
            self.engine
                .admit(&a.provider, &with_defaults, &budget, &mut Tally::default())
                .await
                .map_err(failure)?;
        }
        let job = self
            .engine
            // The call's profile, else the service's (`kino mcp --profile NAME`), as for REST.
            .create(&a.provider, profile, &request, None, None)
            .await
            .map_err(failure)?;
        self.workers.follow(job.id).await;
        let as_task = ctx
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if as_task {
            return Ok(CreateTaskResult::new(task_of(&job)).into());
        }
        let outcome = self.bounded_wait(job.id, a.wait_seconds).await?;
        Ok(CallToolResult::success(vec![ContentBlock::text(outcome)]).into())
    }

    #[tool(
        description = "What a job would cost, before anything is sent: {cost, amount, unit, basis}; cost \"unknown\" (amount null) when kino has no price for it. Validates the request as generate would."
    )]
    async fn estimate(&self, Parameters(a): Parameters<EstimateArgs>) -> Result<String, String> {
        let request =
            JobRequest::from_parts(a.mode, a.model, a.request.unwrap_or_default(), a.prompt);
        let profile = self
            .engine
            .call_profile(a.profile.as_deref())
            .map_err(failure)?;
        let request = self.engine.with_defaults(&a.provider, profile, &request);
        let estimate = self
            .engine
            .estimate(&a.provider, &request)
            .await
            .map_err(failure)?;
        Ok(json!({"provider": a.provider, "estimate": estimate}).to_string())
    }

    #[tool(
        description = "Adopt a job another tool (a seed script) submitted: record it, follow it and download its results. Sends no create request, so it costs nothing more. Returns the job as generate does."
    )]
    async fn attach(&self, Parameters(a): Parameters<AttachArgs>) -> Result<String, String> {
        let profile = self
            .engine
            .call_profile(a.profile.as_deref())
            .map_err(failure)?;
        let job = self
            .engine
            .attach(&a.provider, profile, &a.handle, None, None)
            .await
            .map_err(failure)?;
        self.workers.follow(job.id).await;
        self.bounded_wait(job.id, a.wait_seconds).await
    }

    #[tool(description = "A job's state, artifacts (local paths) and question, without waiting.")]
    async fn status(&self, Parameters(a): Parameters<JobArgs>) -> Result<String, String> {
        let id = self.find(&a.job_id).await?;
        self.workers.follow(id).await;
        self.bounded_wait(id, Some(0)).await
    }

    #[tool(
        description = "Wait up to wait_seconds for a job; returns done=false if it is still running."
    )]
    async fn wait(&self, Parameters(a): Parameters<WaitArgs>) -> Result<String, String> {
        let id = self.find(&a.job_id).await?;
        self.workers.follow(id).await;
        self.bounded_wait(id, a.wait_seconds).await
    }

    #[tool(description = "A job's events after sequence number `since`.")]
    async fn events(&self, Parameters(a): Parameters<EventsArgs>) -> Result<String, String> {
        let id = self.find(&a.job_id).await?;
        let events = self
            .engine
            .ledger()
            .events(id, a.since.unwrap_or(0))
            .await
            .map_err(failure)?;
        Ok(json!(events).to_string())
    }

    #[tool(description = "Cancel a job.")]
    async fn cancel(&self, Parameters(a): Parameters<JobArgs>) -> Result<String, String> {
        let id = self.find(&a.job_id).await?;
        self.engine.cancel(id).await.map_err(failure)?;
        self.bounded_wait(id, Some(0)).await
    }

    #[tool(
        description = "Answer the question of a needs_input job (xyq, libtv); the job continues."
    )]
    async fn reply(&self, Parameters(a): Parameters<ReplyArgs>) -> Result<String, String> {
        let id = self.find(&a.job_id).await?;
        self.engine
            .reply(
                id,
                &a.message,
                &a.inputs.unwrap_or_default(),
                &a.assets.unwrap_or_default(),
            )
            .await
            .map_err(failure)?;
        self.workers.follow(id).await;
        self.bounded_wait(id, Some(0)).await
    }

    #[tool(description = "List jobs, newest first.")]
    async fn list(&self, Parameters(a): Parameters<ListArgs>) -> Result<String, String> {
        let states = match a.state {
            Some(s) => vec![s.parse::<JobState>().map_err(|e| usage(e.to_string()))?],
            None => Vec::new(),
        };
        let filter = JobFilter {
            states,
            provider: a.provider,
            limit: a.limit.or(Some(50)),
        };
        let jobs = self.engine.ledger().jobs(&filter).await.map_err(failure)?;
        let rows: Vec<Value> = jobs.iter().map(crate::api::job_row_json).collect();
        Ok(Value::Array(rows).to_string())
    }

    #[tool(
        description = "A provider's modes and models; with a model, its request schema when the provider publishes one."
    )]
    async fn model_schema(&self, Parameters(a): Parameters<SchemaArgs>) -> Result<String, String> {
        let info = self
            .engine
            .providers_info()
            .into_iter()
            .find(|p| p.id == a.provider)
            .ok_or_else(|| usage(format!("no provider `{}` is configured", a.provider)))?;
        let schema = match (
            &a.model,
            self.engine
                .request_schema(&a.provider, a.model.as_deref().unwrap_or_default()),
        ) {
            (Some(_), Some(s)) => s,
            _ => Value::Null,
        };
        Ok(json!({"provider": info, "model": a.model, "schema": schema}).to_string())
    }

    #[tool(description = "Upload a local file; returns the reference to use as an input.")]
    async fn upload(&self, Parameters(a): Parameters<UploadArgs>) -> Result<String, String> {
        let model = a.model.unwrap_or_else(|| "wan2.6-i2v-flash".into());
        let profile = self
            .engine
            .call_profile(a.profile.as_deref())
            .map_err(failure)?;
        let reference = self
            .engine
            .upload_file(&a.provider, profile, &model, std::path::Path::new(&a.file))
            .await
            .map_err(|e: EngineError| failure(e))?;
        Ok(json!({"reference": reference}).to_string())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for KinoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("kino", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "kino creates images and videos on DashScope, skills.video, Xiaoyunque, LibTV and \
             xingyun3d. Waits are bounded: when a result says done=false, call wait again; \
             never generate the same thing twice.",
        )
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let id = self.task_id(&request.task_id).await?;
        self.workers.follow(id).await;
        Ok(GetTaskResult::new(self.task(id).await?))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = self.task_id(&request.task_id).await?;
        self.engine.cancel(id).await.map_err(task_error).map(drop)
    }
}

impl KinoMcp {
    /// Task ids are job ids; anything else is not a task of ours.
    async fn task_id(&self, task_id: &str) -> Result<JobId, ErrorData> {
        let id: JobId = task_id.parse().map_err(|_| {
            ErrorData::invalid_params(
                format!("no task `{task_id}`: task ids are kino job ids"),
                None,
            )
        })?;
        self.engine.ledger().job(id).await.map_err(task_error)?;
        Ok(id)
    }
}
