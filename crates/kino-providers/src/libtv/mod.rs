//! LibTV agent-im, seed 002; shared/contracts.md §4. A job is one exchange in a session; its
//! handle is the sessionId, its cursor the highest message seq read.

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

pub const DEFAULT_BASE_URL: &str = "https://im.liblib.tv";
const MODE: &str = "agent";
const MODEL: &str = "agent-im";

const RULES: ConversationRules = ConversationRules {
    platform: "LibTV",
    mode: MODE,
    model: MODEL,
    keys: &["session_id"],
    kinds: &[MediaKind::Image, MediaKind::Video],
    max_bytes: 200 << 20,
    remote_inputs: true,
};

/// The canvas a person opens to see a LibTV project.
pub fn project_url(project_uuid: &str) -> String {
    format!("https://www.liblib.tv/canvas?projectId={project_uuid}")
}

#[derive(Clone, Debug)]
pub struct LibTvConfig {
    pub base_url: String,
    pub access_key: Secret,
    /// Seed 002: poll every 8 s.
    pub poll_every: Duration,
    pub give_up_after: Duration,
    pub max_failures: u32,
    pub user_agent: String,
}

impl LibTvConfig {
    pub fn new(base_url: impl Into<String>, access_key: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            access_key,
            poll_every: Duration::from_secs(8),
            give_up_after: Duration::from_secs(6 * 3600),
            max_failures: 5,
            user_agent: concat!("kino/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

pub struct LibTv {
    base: String,
    config: LibTvConfig,
    api: reqwest::Client,
}

impl LibTv {
    pub fn new(config: LibTvConfig) -> Result<Self, ClientError> {
        Ok(Self {
            base: config.base_url.trim_end_matches('/').to_string(),
            api: kino_http::api_client(&config.user_agent)?,
            config,
        })
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(self.config.access_key.expose())
            .header("Content-Type", "application/json")
    }

    async fn answer(resp: reqwest::Response) -> Result<Value, ProviderError> {
        let status = resp.status().as_u16();
        let body = json_body(resp).await?;
        wire::data(status, &body)
    }

    /// Binds the access key to a new project; later sessions are created in it. Returns the
    /// new projectUuid (`kino libtv switch-project`).
    pub async fn change_project(&self) -> Result<String, ProviderError> {
        let resp = self
            .authed(
                self.api
                    .post(format!("{}/openapi/session/change-project", self.base)),
            )
            .json(&json!({}))
            .send()
            .await
            .map_err(network)?;
        let data = Self::answer(resp).await?;
        data.get("projectUuid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Protocol {
                message: "change-project answered without projectUuid".into(),
            })
    }

    /// The cursor past a session's messages so far.
    async fn cursor_of(&self, session: &str) -> Result<Option<String>, ProviderError> {
        let req = self.authed(
            self.api
                .get(format!("{}/openapi/session/{session}", self.base)),
        );
        let data = Self::answer(req.send().await.map_err(network)?).await?;
        Ok(wire::page(&data, None)?.cursor)
    }

    /// Sends a message. `existing`: a session of earlier messages, whose history is not this
    /// job's and is skipped (a reply keeps its job's own cursor instead).
    async fn send(&self, body: &Value, existing: bool) -> Result<Submitted, SubmitError> {
        let start = match body.get("sessionId").and_then(Value::as_str) {
            Some(session) if existing => self
                .cursor_of(session)
                .await
                .map_err(SubmitError::NotCreated)?,
            _ => None,
        };
        let resp = send_create(
            self.authed(self.api.post(format!("{}/openapi/session", self.base)))
                .json(body),
        )
        .await?;
        let status = resp.status();
        let refused = status.is_client_error();
        let answer = Self::answer(resp).await;
        match answer {
            Ok(data) => {
                let session = data
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                match session {
                    Some(s) => Ok(Submitted {
                        handle: s.to_string(),
                        web_link: data
                            .get("projectUuid")
                            .and_then(Value::as_str)
                            .map(project_url),
                        cursor: start,
                    }),
                    None => Err(SubmitError::OutcomeUnknown(
                        "the session answer has no sessionId".into(),
                    )),
                }
            }
            Err(e) if refused => Err(SubmitError::NotCreated(e)),
            Err(e) => Err(SubmitError::OutcomeUnknown(e.to_string())),
        }
    }
}

/// The user's words exactly as written; attached files follow on lines of their own, the way
/// the LibTV skill hands uploaded files to its agent.
fn message_with(message: &str, references: &[String]) -> String {
    if references.is_empty() {
        return message.to_string();
    }
    format!("{message}\n\n{}", references.join("\n"))
}

#[async_trait]
impl Provider for LibTv {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: "libtv",
            name: "LibTV agent-im",
            modes: vec![ModeInfo {
                mode: MODE,
                default_model: MODEL.into(),
                models: vec![MODEL.into()],
                summary: "send a message; the agent creates images and videos on a project canvas; answer with `kino reply`",
            }],
            credential_env: vec!["LIBTV_ACCESS_KEY"],
        }
    }

    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError> {
        conversation::plan(&RULES, request)
    }

    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError> {
        conversation::upload_input(&RULES, path)
    }

    async fn upload(&self, _model: &str, input: &LocalInput) -> Result<String, ProviderError> {
        let name = input.file_name();
        // The script's path first; the README names another, which some deployments serve.
        for path in ["/openapi/upload", "/openapi/file/upload"] {
            let part = file_part(&input.path, name.clone(), &input.mime)
                .await
                .map_err(|e| ProviderError::LocalFile {
                    path: input.path.display().to_string(),
                    message: e.to_string(),
                })?;
            let form = reqwest::multipart::Form::new()
                .text("accessKey", self.config.access_key.expose().to_string())
                .part("file", part);
            let resp = self
                .api
                .post(format!("{}{path}", self.base))
                .bearer_auth(self.config.access_key.expose())
                .multipart(form)
                .send()
                .await
                .map_err(network)?;
            if resp.status().as_u16() == 404 && path == "/openapi/upload" {
                continue;
            }
            let data = Self::answer(resp).await?;
            return data
                .get("url")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ProviderError::Protocol {
                    message: "upload answered without url".into(),
                });
        }
        Err(ProviderError::Protocol {
            message: "no upload endpoint answered".into(),
        })
    }

    fn build(
        &self,
        plan: &Plan,
        references: &[(String, String)],
    ) -> Result<Value, ValidationError> {
        let conversation::Resolved {
            message,
            rest,
            attachments: inputs,
        } = conversation::resolved(plan, references)?;
        let mut body = json!({"message": message_with(&message, &inputs)});
        if let Some(s) = rest.get("session_id") {
            body["sessionId"] = s.clone();
        }
        Ok(body)
    }

    async fn submit(&self, _plan: &Plan, body: &Value) -> Result<Submitted, SubmitError> {
        self.send(body, true).await
    }

    async fn reply(
        &self,
        handle: &str,
        message: &str,
        references: &[String],
    ) -> Result<Submitted, SubmitError> {
        self.send(
            &json!({"sessionId": handle, "message": message_with(message, references)}),
            false,
        )
        .await
    }

    async fn poll(&self, handle: &str, cursor: Option<&str>) -> Result<PollOutcome, ProviderError> {
        let after = cursor.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
        let mut req = self.authed(
            self.api
                .get(format!("{}/openapi/session/{handle}", self.base)),
        );
        if after > 0 {
            req = req.query(&[("afterSeq", after)]);
        }
        let data = Self::answer(req.send().await.map_err(network)?).await?;
        let page = wire::page(&data, cursor)?;
        let (status, raw) = if let Some(why) = page.failed.clone() {
            (
                RemoteStatus::Failed {
                    code: None,
                    message: why,
                },
                "failed",
            )
        } else if !page.artifacts.is_empty() {
            // LibTV has no status field: results appearing is what completion looks like.
            (RemoteStatus::Succeeded, "results")
        } else if let Some(q) = page.question.clone() {
            (RemoteStatus::NeedsInput { question: q }, "question")
        } else if page.agent_spoke {
            (RemoteStatus::Running { percent: None }, "working")
        } else {
            (RemoteStatus::Queued { position: None }, "waiting")
        };
        Ok(PollOutcome {
            artifacts: page.artifacts,
            messages: page.messages,
            cursor: page.cursor.clone(),
            ..PollOutcome::status(status, raw)
        })
    }

    async fn cancel(&self, _handle: &str) -> Result<(), ProviderError> {
        Err(ProviderError::NotCancelable {
            message: "LibTV has no cancel API; stop it on the project canvas (the job's web link)"
                .into(),
        })
    }

    async fn reconcile(&self, _lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError> {
        Ok(Reconciled::Inconclusive(
            "LibTV cannot list sessions; look at the project canvas".into(),
        ))
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
