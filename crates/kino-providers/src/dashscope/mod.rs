//! Alibaba DashScope Wan video synthesis (seed 001; shared/contracts.md §1).

mod body;
mod cost;
mod models;
mod plan;
mod upload;
pub(crate) mod wire;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use kino_core::{
    JobRequest, LocalInput, LostCreate, Millis, ModeInfo, Plan, PollOutcome, PollPolicy, Provider,
    ProviderError, ProviderInfo, Reconciled, Secret, SubmitError, Submitted, ValidationError,
};
use kino_http::reqwest::{self, StatusCode};
use kino_http::{ClientError, RateLimiter, parse_retry_after};

use crate::response::{json_body, network, send_create};

pub use body::{build, needs_oss_resolve};
pub use models::{Gen, Mode, ModelSpec};
pub use plan::{detect_mode, plan};

pub const DEFAULT_BASE_URL: &str = "https://dashscope.aliyuncs.com/api/v1";

/// Everything the adapter needs; the CLI fills it from the environment.
#[derive(Clone, Debug)]
pub struct DashScopeConfig {
    /// `…/api/v1`, no trailing slash needed.
    pub base_url: String,
    pub api_key: Secret,
    pub workspace: Option<String>,
    /// Task queries (poll, list, cancel) per second for this process; DashScope allows 20 per
    /// account. 0: no bound in this process (the ledger's shared pace may still apply).
    pub queries_per_second: u32,
    pub poll_policy: PollPolicy,
    pub user_agent: String,
}

impl DashScopeConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            workspace: None,
            // DashScope allows 20 per second per account; arrival jitter at exactly 20 trips
            // its window now and then (72 throttled of 1,568 in BENCHMARKS.md's first run).
            queries_per_second: 18,
            poll_policy: PollPolicy {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(15),
                factor: 1.5,
            },
            user_agent: concat!("kino/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

pub struct DashScope {
    id: &'static str,
    base: String,
    config: DashScopeConfig,
    /// Carries the API key per request; reaches only the API host.
    api: reqwest::Client,
    /// For the OSS upload host: never sees the API key.
    storage: reqwest::Client,
    queries: Option<RateLimiter>,
}

impl DashScope {
    pub fn new(config: DashScopeConfig) -> Result<Self, ClientError> {
        Ok(Self {
            id: "dashscope",
            base: config.base_url.trim_end_matches('/').to_string(),
            api: kino_http::api_client(&config.user_agent)?,
            storage: kino_http::download_client(&config.user_agent)?,
            queries: (config.queries_per_second > 0)
                .then(|| RateLimiter::per_second(config.queries_per_second)),
            config,
        })
    }

    /// The same adapter under another provider name (the embedded sandbox is `sandbox`).
    pub fn with_id(mut self, id: &'static str) -> Self {
        self.id = id;
        self
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = req.bearer_auth(self.config.api_key.expose());
        match &self.config.workspace {
            Some(ws) => req.header("X-DashScope-WorkSpace", ws),
            None => req,
        }
    }

    /// A rate-limited query (poll, list, cancel) with its error mapping.
    async fn query(&self, req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        if let Some(queries) = &self.queries {
            queries.acquire().await;
        }
        let resp = self.authed(req).send().await.map_err(network)?;
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers());
        let body = json_body(resp).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(wire::api_error(status.as_u16(), &body, retry_after))
        }
    }

    /// The list does not show requests, but a finished task shows its prompt
    /// (`output.orig_prompt`): candidates are read one by one, a task with another prompt is not
    /// this job's, and the one with this job's prompt is. Tasks not finished yet cannot be told
    /// apart: they stay candidates, and a later look settles them.
    /// Regression: two jobs killed mid-create with one worker stayed `unknown` for good, each
    /// seeing both tasks, although each task carried its own job's prompt.
    async fn tell_apart(
        &self,
        candidates: Vec<String>,
        prompt: &str,
        turns: &dyn kino_core::Turns,
    ) -> Result<Reconciled, ProviderError> {
        const MAX_READS: usize = 20;
        if candidates.len() > MAX_READS {
            return Ok(Reconciled::Ambiguous(candidates));
        }
        let (mut matched, mut open) = (Vec::new(), Vec::new());
        for id in candidates {
            turns.next().await?;
            let body = self
                .query(self.api.get(format!("{}/tasks/{id}", self.base)))
                .await?;
            match body.pointer("/output/orig_prompt").and_then(Value::as_str) {
                Some(p) if p == prompt => matched.push(id),
                Some(_) => {}
                None => open.push(id),
            }
        }
        Ok(match (matched.len(), open.len()) {
            (1, _) => Reconciled::Matched(matched.remove(0)),
            (0, 0) => Reconciled::NotFound,
            (0, 1) => Reconciled::Found(open.remove(0)),
            (0, _) => Reconciled::Ambiguous(open),
            // The same prompt sent twice: either task could be this job's.
            _ => Reconciled::Ambiguous(matched),
        })
    }

    async fn list_page(
        &self,
        model: &str,
        start: Millis,
        end: Millis,
        page: u32,
    ) -> Result<Value, ProviderError> {
        let fmt = |ms: Millis| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y%m%d%H%M%S").to_string())
                .unwrap_or_default()
        };
        let req = self.api.get(format!("{}/tasks", self.base)).query(&[
            ("page_no", page.to_string()),
            ("page_size", "100".to_string()),
            ("model_name", model.to_string()),
            ("start_time", fmt(start)),
            ("end_time", fmt(end)),
        ]);
        self.query(req).await
    }
}

#[async_trait]
impl Provider for DashScope {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: self.id,
            name: "Alibaba DashScope — Wan video",
            modes: Mode::ALL
                .into_iter()
                .map(|m| ModeInfo {
                    mode: m.as_str(),
                    default_model: m.default_model().to_string(),
                    models: models::models_of(m)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    summary: m.summary(),
                })
                .collect(),
            credential_env: vec!["DASHSCOPE_API_KEY", "QIANWEN_API_KEY"],
        }
    }

    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError> {
        plan(request)
    }

    fn quantity(&self, plan: &Plan) -> kino_core::cost::Quantity {
        cost::quantity(plan)
    }

    fn billed(&self, mode: &str, model: &str, usage: &Value) -> Option<kino_core::cost::Billed> {
        cost::billed(mode, model, usage)
    }

    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError> {
        // getPolicy tells the model's own limit at upload time; 1 GB is the service's.
        crate::media_input::check_local(
            "file",
            "",
            path,
            &[
                crate::MediaKind::Image,
                crate::MediaKind::Video,
                crate::MediaKind::Audio,
            ],
            1 << 30,
        )
    }

    async fn upload(&self, model: &str, input: &LocalInput) -> Result<String, ProviderError> {
        upload::upload(self, model, input).await
    }

    fn build(
        &self,
        plan: &Plan,
        references: &[(String, String)],
    ) -> Result<Value, ValidationError> {
        build(plan, references)
    }

    async fn submit(&self, plan: &Plan, body: &Value) -> Result<Submitted, SubmitError> {
        let mode = Mode::parse(&plan.mode).unwrap_or(Mode::T2v);
        let url = format!(
            "{}/services/aigc/{}/video-synthesis",
            self.base,
            mode.endpoint_task()
        );
        let mut req = self
            .authed(self.api.post(url))
            .header("X-DashScope-Async", "enable")
            .header("Accept", "application/json")
            .json(body);
        if needs_oss_resolve(body) {
            req = req.header("X-DashScope-OssResourceResolve", "enable");
        }
        let resp = send_create(req).await?;
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers());
        // Decide by status first: only a clear refusal means nothing was created, whatever
        // happens to the body afterwards.
        let refused = status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE;
        let body = match json_body(resp).await {
            Ok(b) => b,
            Err(e) if refused => {
                return Err(SubmitError::NotCreated(wire::api_error(
                    status.as_u16(),
                    &Value::String(e.to_string()),
                    retry_after,
                )));
            }
            Err(e) => return Err(SubmitError::OutcomeUnknown(e.to_string())),
        };
        if status.is_success() {
            return wire::task_id(&body).map(Submitted::handle).ok_or_else(|| {
                SubmitError::OutcomeUnknown(format!(
                    "HTTP {} without output.task_id",
                    status.as_u16()
                ))
            });
        }
        let err = wire::api_error(status.as_u16(), &body, retry_after);
        // 4xx, 429 and 503 are refusals before any work; a 500/502/504 (or another 5xx) may
        // come from behind a gateway after the task was created, so its outcome is unknown.
        if refused {
            Err(SubmitError::NotCreated(err))
        } else {
            Err(SubmitError::OutcomeUnknown(err.to_string()))
        }
    }

    async fn poll(
        &self,
        handle: &str,
        _cursor: Option<&str>,
    ) -> Result<PollOutcome, ProviderError> {
        let body = self
            .query(self.api.get(format!("{}/tasks/{handle}", self.base)))
            .await?;
        wire::poll_outcome(&body)
    }

    async fn cancel(&self, handle: &str) -> Result<(), ProviderError> {
        let req = self
            .api
            .post(format!("{}/tasks/{handle}/cancel", self.base));
        match self.query(req).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Rejected { code, message, .. })
                if code == "UnsupportedOperation" =>
            {
                Err(ProviderError::NotCancelable {
                    message: format!(
                        "DashScope cancels a task only while it is PENDING; this one is past that ({message}). \
                         It will run to the end and is billed if it succeeds."
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn reconcile(&self, lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError> {
        let (model, sent_at, exclude) = (lost.model, lost.sent_at, lost.exclude);
        const PAGES: u32 = 5;
        const CST: Millis = 8 * 3600 * 1000;
        let (lo, hi) = (sent_at - 2 * 60 * 1000, sent_at + 10 * 60 * 1000);
        let mut candidates: Vec<String> = Vec::new();
        // The list filter's clock is documented as CST but observed as UTC elsewhere: ask for
        // the window read both ways rather than widen it to a whole day.
        for shift in [0, CST] {
            for page in 1..=PAGES {
                lost.turns.next().await?;
                let body = self.list_page(model, lo + shift, hi + shift, page).await?;
                let tasks = wire::listed_tasks(&body).ok_or_else(|| ProviderError::Protocol {
                    message: "the task list answer has no list of tasks kino recognises".into(),
                })?;
                let full = tasks.len() >= 100;
                for t in tasks {
                    let model_ok = t.model.as_deref().is_none_or(|m| m == model);
                    let time_ok =
                        t.submitted.is_empty() || t.submitted.iter().any(|s| (lo..=hi).contains(s));
                    if model_ok
                        && time_ok
                        && !exclude.contains(&t.task_id)
                        && !candidates.contains(&t.task_id)
                    {
                        candidates.push(t.task_id);
                    }
                }
                if !full {
                    break;
                }
                if page == PAGES {
                    return Ok(Reconciled::Inconclusive(format!(
                        "more than {} tasks of {model} around the submit time",
                        PAGES * 100
                    )));
                }
            }
        }
        let prompt = lost
            .wire
            .and_then(|w| w.pointer("/input/prompt"))
            .and_then(Value::as_str);
        if let Some(prompt) = prompt
            && !candidates.is_empty()
        {
            return self.tell_apart(candidates, prompt, lost.turns).await;
        }
        Ok(match candidates.len() {
            0 => Reconciled::NotFound,
            1 => Reconciled::Found(candidates.remove(0)),
            _ => Reconciled::Ambiguous(candidates),
        })
    }

    fn poll_policy(&self) -> PollPolicy {
        self.config.poll_policy
    }

    /// A task's time depends on its model, duration and size, which the plan matches on.
    fn learns_run_times(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod request_shape_tests;
