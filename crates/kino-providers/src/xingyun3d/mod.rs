//! xingyun3d 魔珐星云 digital-human rendering, seed 004; shared/contracts.md §5. Every call is
//! signed (`sign.rs`); a job renders a presenter video from text segments or from a PPT.

mod sign;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use kino_core::{
    ArtifactKind, ArtifactRef, JobRequest, LocalInput, LostCreate, ModeInfo, Plan, PollOutcome,
    PollPolicy, Provider, ProviderError, ProviderInfo, Reconciled, RemoteStatus, Secret,
    SubmitError, Submitted, ValidationError,
};
use kino_http::reqwest::{self, Method};
use kino_http::{ClientError, file_part};

pub use sign::{py_json, token};

use crate::media_input::{MediaValue, classify};
use crate::response::{json_body, network, send_create};

pub const DEFAULT_BASE_URL: &str = "https://nebula-agent.xingyun3d.com";
const API: &str = "/user/v1/video_synthesis_task";
const MODEL: &str = "digital-human";
const PPTX_MIME: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
/// The platform's window for X-TIMESTAMP.
const CLOCK_WINDOW_SECS: i64 = 60;

#[derive(Clone, Debug)]
pub struct XingyunConfig {
    pub base_url: String,
    pub app_id: String,
    pub app_secret: Secret,
    pub poll_policy: PollPolicy,
    pub user_agent: String,
}

impl XingyunConfig {
    pub fn new(base_url: impl Into<String>, app_id: impl Into<String>, app_secret: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            app_id: app_id.into(),
            app_secret,
            poll_policy: PollPolicy {
                initial: Duration::from_secs(3),
                max: Duration::from_secs(30),
                factor: 1.5,
            },
            user_agent: concat!("kino/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

pub struct Xingyun3d {
    base: String,
    config: XingyunConfig,
    api: reqwest::Client,
}

/// The platform's own words for its error codes (contracts §5.7).
fn business_error(code: i64, reason: &str) -> ProviderError {
    let what = match code {
        20001 => {
            return ProviderError::Auth {
                status: 200,
                code: "20001".into(),
                message: format!(
                    "xingyun3d does not know this app id, or it cannot be used ({reason})"
                ),
            };
        }
        30002 => "the PPT file is not on the platform (parse it again)",
        30003 => "the PPT file could not be parsed",
        30004 => "the platform has no such render task",
        30005 => "the render task could not be created",
        30006 => "the render task can no longer be canceled",
        _ => "the platform refused the request",
    };
    ProviderError::Rejected {
        status: 200,
        code: code.to_string(),
        message: format!("{what}: {reason}"),
    }
}

impl Xingyun3d {
    pub fn new(config: XingyunConfig) -> Result<Self, ClientError> {
        Ok(Self {
            base: config.base_url.trim_end_matches('/').to_string(),
            api: kino_http::api_client(&config.user_agent)?,
            config,
        })
    }

    /// A signed request. `body` is JSON (None: no body, signed as `{}`).
    fn signed(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let now = chrono::Utc::now().timestamp();
        let body_json = body.map(py_json).unwrap_or_else(|| "{}".into());
        let tok = token(
            path_and_query,
            method.as_str(),
            &body_json,
            self.config.app_secret.expose(),
            now,
        );
        let req = self
            .api
            .request(method, format!("{}{path_and_query}", self.base))
            .header("X-APP-ID", &self.config.app_id)
            .header("X-TIMESTAMP", now.to_string())
            .header("X-TOKEN", tok);
        match body {
            // The exact bytes that were signed (the reference client's `requests(json=…)`).
            Some(_) => req
                .header("Content-Type", "application/json")
                .body(body_json),
            None => req,
        }
    }

    /// Reads an answer: `data` when `error_code` is 0, else the error it stands for. A refused
    /// signature whose server clock differs from ours by more than the window is a clock skew.
    async fn answer(resp: reqwest::Response) -> Result<Value, ProviderError> {
        let status = resp.status().as_u16();
        let server_time = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(httpdate_secs);
        let retry_after = kino_http::parse_retry_after(resp.headers());
        let body = json_body(resp).await?;
        let code = body.get("error_code").and_then(Value::as_i64);
        let reason = body
            .get("error_reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if (200..300).contains(&status) && code == Some(0) {
            return Ok(body.get("data").cloned().unwrap_or(Value::Null));
        }
        if matches!(status, 401 | 403) || matches!(code, Some(20002 | 20003)) {
            if let Some(server) = server_time {
                let skew = server - chrono::Utc::now().timestamp();
                if skew.abs() > CLOCK_WINDOW_SECS {
                    return Err(ProviderError::ClockSkew {
                        skew_secs: Some(skew),
                    });
                }
            }
            // The platform's own word for an expired timestamp, even without a Date to measure.
            if code == Some(20003) {
                return Err(ProviderError::ClockSkew { skew_secs: None });
            }
            return Err(ProviderError::Auth {
                status,
                code: code.map(|c| c.to_string()).unwrap_or_default(),
                message: reason,
            });
        }
        match (status, code) {
            (200..=299, Some(c)) => Err(business_error(c, &reason)),
            (429, _) => Err(ProviderError::RateLimited {
                retry_after,
                message: reason,
            }),
            (500..=599, _) => Err(ProviderError::Unavailable {
                status,
                message: reason,
            }),
            _ => Err(ProviderError::Protocol {
                message: format!("HTTP {status}: {reason}"),
            }),
        }
    }

    /// The task's preview URL (`kino preview JOB`).
    pub async fn preview_url(&self, handle: &str) -> Result<String, ProviderError> {
        let path = format!("{API}/get_render_task_preview_url?task_id={handle}");
        let resp = self
            .signed(Method::GET, &path, None)
            .send()
            .await
            .map_err(network)?;
        let data = Self::answer(resp).await?;
        data.get("preview_url")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|i| i.to_string()))
            })
            .ok_or_else(|| ProviderError::Protocol {
                message: "no preview_url in the answer".into(),
            })
    }
}

/// `Date: Sat, 21 Nov 2026 10:00:00 GMT` → unix seconds.
/// What a `get_render_task` answer says: the state, and results once the render is finished.
pub(crate) fn render_outcome(data: &Value) -> Result<PollOutcome, ProviderError> {
    let state = data
        .get("synth_state")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut artifacts = Vec::new();
    for (key, kind) in [
        ("render_video_oss", ArtifactKind::Video),
        ("render_image_oss", ArtifactKind::Image),
    ] {
        if let Some(url) = data
            .get(key)
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            artifacts.push(ArtifactRef {
                url: url.to_string(),
                kind,
            });
        }
    }
    let status = match state.as_str() {
        "not_send" => RemoteStatus::Queued { position: None },
        "waiting" | "processing" => RemoteStatus::Running { percent: None },
        "finished" if artifacts.iter().any(|a| a.kind == ArtifactKind::Video) => {
            RemoteStatus::Succeeded
        }
        // Finished but the URL not filled in yet: a paid render is looked at again, not failed.
        "finished" => RemoteStatus::Running { percent: None },
        "error" => RemoteStatus::Failed {
            code: Some("error".into()),
            message: data
                .get("error_reason")
                .and_then(Value::as_str)
                .filter(|r| !r.trim().is_empty())
                .unwrap_or("the render failed")
                .to_string(),
        },
        "cancel" => RemoteStatus::Canceled,
        other => {
            return Err(ProviderError::Protocol {
                message: format!(
                    "get_render_task answered without a known synth_state (`{other}`)"
                ),
            });
        }
    };
    // Results are taken only from a finished task (the image may exist earlier as a cover).
    let artifacts = if state == "finished" {
        artifacts
    } else {
        Vec::new()
    };
    Ok(PollOutcome {
        artifacts,
        ..PollOutcome::status(status, state)
    })
}

fn httpdate_secs(d: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(d)
        .ok()
        .map(|t| t.timestamp())
}

fn text_field(
    fields: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<(), ValidationError> {
    match fields.get(key) {
        None if required => Err(ValidationError::new(key, "is required")
            .with_hint("give it with --param, or as a default in kino.toml [xingyun3d]")),
        None => Ok(()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(_) => Err(ValidationError::new(key, "must be a non-empty string")),
    }
}

#[async_trait]
impl Provider for Xingyun3d {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: "xingyun3d",
            name: "xingyun3d 魔珐星云 (digital-human presenter videos)",
            modes: vec![
                ModeInfo {
                    mode: "segments",
                    default_model: MODEL.into(),
                    models: vec![MODEL.into()],
                    summary: "a presenter speaks text segments, each with an optional picture",
                },
                ModeInfo {
                    mode: "ppt",
                    default_model: MODEL.into(),
                    models: vec![MODEL.into()],
                    summary: "a presenter walks through a PowerPoint (.pptx)",
                },
            ],
            credential_env: vec!["XINGYUN3D_APP_ID", "XINGYUN3D_APP_SECRET"],
        }
    }

    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError> {
        const KEYS: &[&str] = &[
            "look_name",
            "tts_vcn_name",
            "studio_name",
            "video_name",
            "sub_title",
            "if_aigc_mark",
            "segment",
            "parse_ppt_file_name",
            "ppt",
        ];
        let mut fields: Map<String, Value> = request.fields.clone();
        fields.retain(|k, v| !v.is_null() && k != "model" && k != "mode");
        // A positional prompt is one segment.
        if let Some(p) = fields.remove("prompt") {
            let seg = fields.entry("segment").or_insert_with(|| json!([]));
            if let Value::Array(items) = seg {
                items.insert(0, json!({"text": p}));
            }
        }
        if let Some(k) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ValidationError::new(
                k.as_str(),
                format!(
                    "is not a field of xingyun3d render tasks (accepted: {})",
                    KEYS.join(", ")
                ),
            ));
        }
        for k in ["look_name", "tts_vcn_name", "studio_name"] {
            text_field(&fields, k, true)?;
        }
        text_field(&fields, "video_name", false)?;
        match fields.get("sub_title") {
            None => {}
            Some(Value::String(s)) if s == "on" || s == "off" => {}
            Some(v) => {
                return Err(ValidationError::new(
                    "sub_title",
                    format!("must be `on` or `off` (got {v})"),
                ));
            }
        }
        if let Some(v) = fields.get("if_aigc_mark").cloned() {
            let b = match v {
                Value::Bool(b) => b,
                Value::String(s) if s == "true" || s == "false" => s == "true",
                other => {
                    return Err(ValidationError::new(
                        "if_aigc_mark",
                        format!("must be true or false (got {other})"),
                    ));
                }
            };
            fields.insert("if_aigc_mark".into(), json!(b));
        }
        let has_segments = fields.contains_key("segment");
        if fields.contains_key("ppt") && fields.contains_key("parse_ppt_file_name") {
            return Err(ValidationError::new(
                "ppt",
                "give a PPT file or an already parsed parse_ppt_file_name, not both",
            ));
        }
        if fields.contains_key("parse_ppt_file_name") {
            text_field(&fields, "parse_ppt_file_name", true)?;
        }
        let has_ppt = fields.contains_key("ppt") || fields.contains_key("parse_ppt_file_name");
        let mut locals = Vec::new();
        let mode = match (has_segments, has_ppt) {
            (true, true) => {
                return Err(ValidationError::new(
                    "segment",
                    "give either segments or a PPT, not both",
                ));
            }
            (false, false) => {
                return Err(ValidationError::new(
                    "segment",
                    "a render needs text segments (--segment) or a PPT (--ppt FILE)",
                ));
            }
            (true, false) => {
                let Some(Value::Array(items)) = fields.get("segment") else {
                    return Err(ValidationError::new(
                        "segment",
                        "must be a list of {\"text\": …, \"media_url\"?: …}",
                    ));
                };
                if items.is_empty() {
                    return Err(ValidationError::new(
                        "segment",
                        "needs at least one segment",
                    ));
                }
                for (i, item) in items.iter().enumerate() {
                    let text = item.get("text").and_then(Value::as_str);
                    if text.is_none_or(|t| t.trim().is_empty()) {
                        return Err(ValidationError::new(
                            format!("segment[{i}].text"),
                            "must be non-empty text",
                        ));
                    }
                    if let Some(m) = item.get("media_url") {
                        match m.as_str().map(classify) {
                            Some(MediaValue::Remote(u))
                                if u.starts_with("http://") || u.starts_with("https://") => {}
                            _ => {
                                return Err(ValidationError::new(
                                    format!("segment[{i}].media_url"),
                                    "must be an http(s) URL (xingyun3d fetches segment media itself)",
                                ));
                            }
                        }
                    }
                    if let Some(k) = item
                        .as_object()
                        .and_then(|o| o.keys().find(|k| *k != "text" && *k != "media_url"))
                    {
                        return Err(ValidationError::new(
                            format!("segment[{i}].{k}"),
                            "is not a segment field (text, media_url)",
                        ));
                    }
                }
                "segments"
            }
            (false, true) => {
                if let Some(ppt) = fields.get("ppt") {
                    let Some(MediaValue::Local(path)) = ppt.as_str().map(classify) else {
                        return Err(ValidationError::new("ppt", "must be a local .pptx file"));
                    };
                    if !path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("pptx"))
                    {
                        return Err(ValidationError::new(
                            "ppt",
                            format!(
                                "{} is not a .pptx file (only .pptx is accepted)",
                                path.display()
                            ),
                        ));
                    }
                    let meta = std::fs::metadata(&path).map_err(|e| {
                        ValidationError::new(
                            "ppt",
                            format!("{} cannot be read: {e}", path.display()),
                        )
                    })?;
                    let mut magic = [0u8; 4];
                    let read = std::fs::File::open(&path)
                        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
                    if read.is_err() || &magic != b"PK\x03\x04" {
                        return Err(ValidationError::new(
                            "ppt",
                            format!(
                                "{} is not a PowerPoint file (a .pptx is a ZIP archive)",
                                path.display()
                            ),
                        ));
                    }
                    let absolute = std::path::absolute(&path).unwrap_or(path);
                    locals.push(LocalInput {
                        pointer: "/ppt".into(),
                        path: absolute,
                        bytes: meta.len(),
                        mime: PPTX_MIME.into(),
                    });
                }
                "ppt"
            }
        };
        Ok(Plan {
            mode: mode.into(),
            model: MODEL.into(),
            request: fields,
            local_inputs: locals,
        })
    }

    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError> {
        let req = JobRequest {
            mode: None,
            model: None,
            fields: json!({"look_name": "-", "tts_vcn_name": "-", "studio_name": "-", "ppt": path.display().to_string()})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let plan = self.prepare(&req)?;
        plan.local_inputs
            .into_iter()
            .next()
            .ok_or_else(|| ValidationError::new("file", "xingyun3d uploads only PPT files (.pptx)"))
    }

    /// parse_ppt_file: the PPT goes up as multipart (the file is not signed: data `{}`).
    async fn upload(&self, _model: &str, input: &LocalInput) -> Result<String, ProviderError> {
        let part = file_part(&input.path, input.file_name(), &input.mime)
            .await
            .map_err(|e| ProviderError::LocalFile {
                path: input.path.display().to_string(),
                message: e.to_string(),
            })?;
        let form = reqwest::multipart::Form::new().part("ppt_file", part);
        let resp = self
            .signed(Method::POST, &format!("{API}/parse_ppt_file"), None)
            .multipart(form)
            .send()
            .await
            .map_err(network)?;
        let data = Self::answer(resp).await?;
        data.get("parse_ppt_file_name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Protocol {
                message: "parse_ppt_file answered without parse_ppt_file_name".into(),
            })
    }

    fn build(
        &self,
        plan: &Plan,
        references: &[(String, String)],
    ) -> Result<Value, ValidationError> {
        let mut fields = plan.with_references(references)?;
        if let Some(name) = fields.remove("ppt") {
            fields.insert("parse_ppt_file_name".into(), name);
        }
        Ok(Value::Object(fields))
    }

    async fn submit(&self, _plan: &Plan, body: &Value) -> Result<Submitted, SubmitError> {
        let resp = send_create(self.signed(
            Method::POST,
            &format!("{API}/create_render_task"),
            Some(body),
        ))
        .await?;
        let status = resp.status();
        match Self::answer(resp).await {
            Ok(data) => {
                let id = data
                    .get("task_id")
                    .filter(|v| !v.is_null())
                    .or_else(|| data.get("id"));
                match id.and_then(|v| {
                    v.as_i64()
                        .map(|i| i.to_string())
                        .or_else(|| v.as_str().map(str::to_string))
                }) {
                    Some(id) => Ok(Submitted::handle(id)),
                    None => Err(SubmitError::OutcomeUnknown(
                        "create_render_task answered without task_id".into(),
                    )),
                }
            }
            // Business errors (HTTP 200) and signature refusals created nothing; a 5xx may have.
            // An answer that could not be read, or made no sense, proves nothing.
            Err(e @ (ProviderError::Protocol { .. } | ProviderError::Network { .. })) => {
                Err(SubmitError::OutcomeUnknown(e.to_string()))
            }
            Err(e) if status.is_success() || status.is_client_error() => {
                Err(SubmitError::NotCreated(e))
            }
            Err(e) => Err(SubmitError::OutcomeUnknown(e.to_string())),
        }
    }

    async fn poll(
        &self,
        handle: &str,
        _cursor: Option<&str>,
    ) -> Result<PollOutcome, ProviderError> {
        let path = format!("{API}/get_render_task?task_id={handle}");
        let resp = self
            .signed(Method::GET, &path, None)
            .send()
            .await
            .map_err(network)?;
        let data = Self::answer(resp).await?;
        render_outcome(&data)
    }

    async fn cancel(&self, handle: &str) -> Result<(), ProviderError> {
        let task: Value = handle
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(handle));
        let resp = self
            .signed(
                Method::POST,
                &format!("{API}/cancel_render_task"),
                Some(&json!({"task_id": task})),
            )
            .send()
            .await
            .map_err(network)?;
        match Self::answer(resp).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Rejected { code, message, .. }) if code == "30006" => {
                Err(ProviderError::NotCancelable {
                    message: format!(
                        "xingyun3d can cancel a render only before it finishes: {message}"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn reconcile(&self, _lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError> {
        Ok(Reconciled::Inconclusive(
            "xingyun3d cannot list render tasks; look in its console".into(),
        ))
    }

    fn poll_policy(&self) -> PollPolicy {
        self.config.poll_policy
    }
}
