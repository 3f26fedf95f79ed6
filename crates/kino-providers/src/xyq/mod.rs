//! Xiaoyunque 小云雀 (Pippit NestAgent), seed 000; shared/contracts.md §3. A job is one run in a
//! thread; its handle is `thread_id/run_id`, its cursor the run's next `after_seq`.

pub(crate) mod wire;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use kino_core::{
    FollowLimits, JobRequest, LocalInput, LostCreate, ModeInfo, Plan, PollOutcome, PollPolicy,
    Provider, ProviderError, ProviderInfo, Reconciled, RemoteStatus, Secret, SubmitError,
    Submitted, ValidationError,
};
use kino_http::reqwest;
use kino_http::{ClientError, file_part};

use crate::conversation::{self, ConversationRules};
use crate::media_input::MediaKind;
use crate::response::{json_body, network, send_create};

pub const DEFAULT_BASE_URL: &str = "https://xyq.jianying.com";
const MODE: &str = "agent";
const MODEL: &str = "nest-agent";

const RULES: ConversationRules = ConversationRules {
    platform: "Xiaoyunque",
    mode: MODE,
    model: MODEL,
    keys: &["thread_id", "asset_ids", "general_agent_settings"],
    kinds: &[MediaKind::Image, MediaKind::Video],
    max_bytes: 200 << 20,
    remote_inputs: false,
};

#[derive(Clone, Debug)]
pub struct XyqConfig {
    pub base_url: String,
    pub access_key: Secret,
    /// Seed 000: poll every 10 s.
    pub poll_every: Duration,
    /// Seed 000: give up after 48 h.
    pub give_up_after: Duration,
    /// Seed 000: stop after 3 consecutive failed queries.
    pub max_failures: u32,
    pub user_agent: String,
}

impl XyqConfig {
    pub fn new(base_url: impl Into<String>, access_key: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            access_key,
            poll_every: Duration::from_secs(10),
            give_up_after: Duration::from_secs(48 * 3600),
            max_failures: 3,
            user_agent: concat!("kino/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

pub struct Xyq {
    base: String,
    config: XyqConfig,
    api: reqwest::Client,
}

fn split(handle: &str) -> Result<(&str, &str), ProviderError> {
    handle
        .split_once('/')
        .ok_or_else(|| ProviderError::Protocol {
            message: format!("`{handle}` is not a thread_id/run_id handle"),
        })
}

impl Xyq {
    pub fn new(config: XyqConfig) -> Result<Self, ClientError> {
        Ok(Self {
            base: config.base_url.trim_end_matches('/').to_string(),
            api: kino_http::api_client(&config.user_agent)?,
            config,
        })
    }

    fn url(&self, call: &str) -> String {
        format!("{}/api/biz/v1/skill/{call}", self.base)
    }

    /// A JSON POST whose answer is an envelope; the error of a non-"0" `ret` otherwise.
    async fn call(&self, call: &str, body: &Value) -> Result<Value, ProviderError> {
        let resp = self
            .api
            .post(self.url(call))
            .bearer_auth(self.config.access_key.expose())
            .header("Accept", "application/json")
            .json(body)
            .send()
            .await
            .map_err(network)?;
        let status = resp.status().as_u16();
        let body = json_body(resp).await?;
        wire::data(status, &body)
    }

    async fn get_thread(
        &self,
        thread_id: &str,
        run_id: Option<&str>,
        after_seq: i64,
    ) -> Result<Value, ProviderError> {
        let mut body = json!({"thread_id": thread_id, "after_seq": after_seq});
        if let Some(r) = run_id {
            body["run_id"] = json!(r);
        }
        // Seed 000: a failed query is retried once before it counts as a failure.
        match self.call("get_thread", &body).await {
            Err(e) if e.is_retryable() => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.call("get_thread", &body).await
            }
            other => other,
        }
    }

    async fn submit_run(&self, body: &Value) -> Result<Submitted, SubmitError> {
        let resp = send_create(
            self.api
                .post(self.url("submit_run"))
                .bearer_auth(self.config.access_key.expose())
                .header("Accept", "application/json")
                .json(body),
        )
        .await?;
        let status = resp.status();
        // A 5xx may come after the run was made ("submission uncertain, never auto-retry").
        let refused = status.is_client_error() || status.is_success();
        let body = match json_body(resp).await {
            Ok(b) => b,
            Err(e) if status.is_client_error() => return Err(SubmitError::NotCreated(e)),
            Err(e) => return Err(SubmitError::OutcomeUnknown(e.to_string())),
        };
        match wire::data(status.as_u16(), &body) {
            Ok(data) => {
                let run = data.get("run").unwrap_or(&Value::Null);
                let field = |k: &str| run.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
                match (field("thread_id"), field("run_id")) {
                    (Some(t), Some(r)) => Ok(Submitted {
                        handle: format!("{t}/{r}"),
                        web_link: data
                            .get("web_thread_link")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        cursor: None,
                    }),
                    _ => Err(SubmitError::OutcomeUnknown(
                        "submit_run answered without run.thread_id and run.run_id".into(),
                    )),
                }
            }
            // An unreadable 2xx (no `ret`: a proxy's page, an empty body) proves nothing.
            Err(e @ ProviderError::Protocol { .. }) => {
                Err(SubmitError::OutcomeUnknown(e.to_string()))
            }
            Err(e) if refused => Err(SubmitError::NotCreated(e)),
            Err(e) => Err(SubmitError::OutcomeUnknown(e.to_string())),
        }
    }
}

fn status_of(run: &wire::Run, question: Option<String>) -> (RemoteStatus, String) {
    let raw = format!("state {}", run.state);
    let status = match run.state {
        1 => RemoteStatus::Queued { position: None },
        2 | 7 | 8 => RemoteStatus::Running { percent: None },
        3 => RemoteStatus::Succeeded,
        4 => RemoteStatus::Failed {
            code: Some("state 4".into()),
            message: run
                .fail_reason
                .clone()
                .unwrap_or_else(|| "the run failed".into()),
        },
        5 => RemoteStatus::Canceled,
        6 | 9 => RemoteStatus::NeedsInput {
            question: question.unwrap_or_default(),
        },
        other => RemoteStatus::Failed {
            code: Some(format!("state {other}")),
            message: "the run is in a state kino does not know; it is not resubmitted".into(),
        },
    };
    (status, raw)
}

#[async_trait]
impl Provider for Xyq {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: "xyq",
            name: "Xiaoyunque 小云雀 (Pippit agent)",
            modes: vec![ModeInfo {
                mode: MODE,
                default_model: MODEL.into(),
                models: vec![MODEL.into()],
                summary: "send a message; the agent plans and creates images and videos; answer its questions with `kino reply`",
            }],
            credential_env: vec!["XYQ_ACCESS_KEY"],
        }
    }

    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError> {
        let plan = conversation::plan(&RULES, request)?;
        if let Some(ids) = plan.request.get("asset_ids")
            && !ids
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())))
        {
            return Err(ValidationError::new(
                "asset_ids",
                "must be a list of asset ids",
            ));
        }
        Ok(plan)
    }

    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError> {
        conversation::upload_input(&RULES, path)
    }

    async fn upload(&self, _model: &str, input: &LocalInput) -> Result<String, ProviderError> {
        let name = input.file_name();
        let part = file_part(&input.path, name, &input.mime)
            .await
            .map_err(|e| ProviderError::LocalFile {
                path: input.path.display().to_string(),
                message: e.to_string(),
            })?;
        // The seed script repeats the key as `accessKey`; it goes to the same API host.
        let form = reqwest::multipart::Form::new()
            .text("accessKey", self.config.access_key.expose().to_string())
            .part("file", part);
        let resp = self
            .api
            .post(self.url("upload_file"))
            .bearer_auth(self.config.access_key.expose())
            .multipart(form)
            .send()
            .await
            .map_err(network)?;
        let status = resp.status().as_u16();
        let body = json_body(resp).await?;
        let data = wire::data(status, &body)?;
        // Renamed from `asset_id` on 2026-04-15; older servers still answer the old name.
        data.get("pippit_asset_id")
            .or_else(|| data.get("asset_id"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Protocol {
                message: "upload_file answered without pippit_asset_id".into(),
            })
    }

    fn build(
        &self,
        plan: &Plan,
        references: &[(String, String)],
    ) -> Result<Value, ValidationError> {
        let conversation::Resolved {
            message,
            mut rest,
            attachments: uploaded,
        } = conversation::resolved(plan, references)?;
        let mut body = json!({"message": message});
        let mut assets: Vec<Value> = rest
            .remove("asset_ids")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        assets.extend(uploaded.into_iter().map(Value::String));
        if !assets.is_empty() {
            body["asset_ids"] = Value::Array(assets);
        }
        for (k, v) in rest {
            body[k] = v;
        }
        Ok(body)
    }

    async fn submit(&self, _plan: &Plan, body: &Value) -> Result<Submitted, SubmitError> {
        self.submit_run(body).await
    }

    async fn reply(
        &self,
        handle: &str,
        message: &str,
        references: &[String],
    ) -> Result<Submitted, SubmitError> {
        let (thread, _) = split(handle).map_err(SubmitError::NotCreated)?;
        let mut body = json!({"message": message, "thread_id": thread});
        if !references.is_empty() {
            body["asset_ids"] = json!(references);
        }
        self.submit_run(&body).await
    }

    async fn poll(&self, handle: &str, cursor: Option<&str>) -> Result<PollOutcome, ProviderError> {
        let (thread, run_id) = split(handle)?;
        let after_seq = cursor.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
        let data = self.get_thread(thread, Some(run_id), after_seq).await?;
        let run = wire::run(&data, Some(run_id), after_seq)?;
        let question = run
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "assistant")
            .map(|m| m.text.clone());
        let (status, raw) = status_of(&run, question);
        Ok(PollOutcome {
            artifacts: run.artifacts,
            messages: run.messages,
            cursor: run.next_seq.map(|n| n.to_string()),
            ..PollOutcome::status(status, raw)
        })
    }

    async fn cancel(&self, _handle: &str) -> Result<(), ProviderError> {
        Err(ProviderError::NotCancelable {
            message:
                "Xiaoyunque has no cancel API; stop the run in its web app (the job's web link)"
                    .into(),
        })
    }

    async fn reconcile(&self, lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError> {
        // A lost reply can be found: it made the thread's newest run. A lost first message
        // cannot: there is no way to list one's threads.
        let Some(previous) = lost.previous else {
            return Ok(Reconciled::Inconclusive(
                "Xiaoyunque cannot list threads; look for the run in its web app".into(),
            ));
        };
        let (thread, old_run) = split(previous)?;
        lost.turns.next().await?;
        let data = self.get_thread(thread, None, 0).await?;
        let runs = data
            .get("thread")
            .and_then(|t| t.get("run_list"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let fresh: Vec<String> = runs
            .iter()
            .filter_map(|r| r.get("run_id").and_then(Value::as_str))
            .filter(|r| *r != old_run)
            .map(|r| format!("{thread}/{r}"))
            .filter(|h| !lost.exclude.contains(h))
            .collect();
        Ok(match fresh.len() {
            0 => Reconciled::NotFound,
            1 => Reconciled::Found(fresh[0].clone()),
            _ => Reconciled::Ambiguous(fresh),
        })
    }

    fn poll_policy(&self) -> PollPolicy {
        PollPolicy {
            initial: self.config.poll_every,
            max: self.config.poll_every,
            factor: 1.0,
        }
    }

    fn follow_limits(&self) -> FollowLimits {
        FollowLimits {
            give_up_after: Some(self.config.give_up_after),
            max_failures: Some(self.config.max_failures),
        }
    }
}
