//! skills.video, seed 003; shared/contracts.md §2. Models and their request schemas come from
//! the platform's own OpenAPI documents; a create goes through the SSE endpoint and is followed
//! on its stream, falling back to `GET /generation/{id}` when the stream ends or stalls.

mod catalog;
mod cost;
pub(crate) mod schema;
mod stream;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use kino_core::{
    JobRequest, LocalInput, LostCreate, ModeInfo, Plan, PollOutcome, PollPolicy, Provider,
    ProviderError, ProviderInfo, Reconciled, RemoteMessage, RemoteStatus, Secret, SubmitError,
    Submitted, ValidationError,
};
use kino_http::reqwest::{self, StatusCode};
use kino_http::{ClientError, file_part, parse_retry_after};

pub use catalog::{Catalog, CatalogError, Endpoint, Kind};
pub use schema::template;
pub use wire::RECHARGE_URL;

use crate::media_input::{MediaKind, check_local};
use crate::response::{json_body, network, send_create};

pub const DEFAULT_BASE_URL: &str = "https://open.skills.video/api/v1";

/// The documents as kino ships them, for use offline and before the first fetch.
pub const SNAPSHOT_OPENAPI: &str = include_str!("snapshot/openapi.json");
pub const SNAPSHOT_DOCS: &str = include_str!("snapshot/docs.json");

/// A stream whose cell has not changed for this long is checked against `GET /generation`.
const STREAM_TRUST: Duration = Duration::from_secs(120);

/// The create's answer must name the generation within this (the API client's timeout).
const FIRST_EVENT_WITHIN: Duration = Duration::from_secs(120);

/// A local file travels in the multipart create under this prefix until then.
const LOCAL_FILE: &str = "kino-local-file:";

#[derive(Clone, Debug)]
pub struct SkillsVideoConfig {
    pub base_url: String,
    pub api_key: Secret,
    /// No event and no keep-alive for this long means the stream stalled.
    pub stall_after: Duration,
    pub poll_policy: PollPolicy,
    pub user_agent: String,
}

impl SkillsVideoConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            stall_after: Duration::from_secs(60),
            // Seed 003 polls every 3 s; a stream, while it lives, answers polls from memory.
            poll_policy: PollPolicy {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(5),
                factor: 1.5,
            },
            user_agent: concat!("kino/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

pub struct SkillsVideo {
    base: String,
    config: SkillsVideoConfig,
    catalog: Catalog,
    api: reqwest::Client,
    /// Reads event streams for minutes: no overall timeout, a read timeout per chunk instead.
    streaming: reqwest::Client,
    streams: Arc<stream::Streams>,
}

/// Fetches openapi.json and docs.json from where skills.video serves them, relative to the API
/// base (`…/api/v1`). Returns (openapi, docs).
pub async fn fetch_documents(
    base_url: &str,
    user_agent: &str,
) -> Result<(Value, Option<Value>), ProviderError> {
    let client = kino_http::api_client(user_agent).map_err(|e| ProviderError::Protocol {
        message: e.to_string(),
    })?;
    let base = base_url.trim_end_matches('/');
    let origin = url::Url::parse(base)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| ProviderError::Protocol {
            message: format!("bad base URL: {e}"),
        })?;
    let get = |u: String| {
        let client = client.clone();
        async move {
            let resp = client.get(&u).send().await.map_err(network)?;
            if !resp.status().is_success() {
                return Ok(None);
            }
            Ok::<_, ProviderError>(Some(json_body(resp).await?).filter(Value::is_object))
        }
    };
    let mut openapi = None;
    for u in [
        format!("{base}/openapi.json"),
        format!("{origin}/api/openapi.json"),
        format!("{origin}/openapi.json"),
    ] {
        if let Some(v) = get(u).await? {
            openapi = Some(v);
            break;
        }
    }
    let openapi = openapi.ok_or_else(|| ProviderError::Protocol {
        message: "no openapi.json at the base URL".into(),
    })?;
    let mut docs = None;
    for u in [
        format!("{origin}/docs.json"),
        format!("{origin}/api/docs.json"),
        format!("{base}/docs.json"),
    ] {
        if let Some(v) = get(u).await? {
            docs = Some(v);
            break;
        }
    }
    Ok((openapi, docs))
}

impl SkillsVideo {
    pub fn new(config: SkillsVideoConfig, catalog: Catalog) -> Result<Self, ClientError> {
        Ok(Self {
            base: config.base_url.trim_end_matches('/').to_string(),
            api: kino_http::api_client(&config.user_agent)?,
            streaming: kino_http::download_client(&config.user_agent)?,
            catalog,
            config,
            streams: Arc::default(),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The account's balance (`kino credits skillsvideo`).
    pub async fn credits(&self) -> Result<Value, ProviderError> {
        self.get_json("/credits", &[]).await
    }

    /// An authenticated GET whose answer is JSON; a non-2xx answer becomes the platform's error.
    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ProviderError> {
        let resp = self
            .api
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(self.config.api_key.expose())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(network)?;
        let status = resp.status().as_u16();
        let retry = parse_retry_after(resp.headers());
        let body = json_body(resp).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(wire::error(status, &body, retry))
        }
    }

    fn endpoint(&self, model: &str) -> Result<&Endpoint, ValidationError> {
        self.catalog.get(model).ok_or_else(|| {
            ValidationError::new("model", format!("skills.video has no model `{model}`"))
                .with_hint("`kino models skillsvideo` lists them (`--refresh` fetches the platform's current documents)")
        })
    }

    /// The create request: JSON, or multipart when a field holds a local file (arrays repeat the
    /// field, as the platform documents).
    async fn create_request(
        &self,
        url: String,
        body: &Value,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let req = self
            .streaming
            .post(url)
            .bearer_auth(self.config.api_key.expose());
        let fields = body.as_object().cloned().unwrap_or_default();
        let has_file = fields.values().any(|v| match v {
            Value::String(s) => s.starts_with(LOCAL_FILE),
            Value::Array(a) => a
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.starts_with(LOCAL_FILE))),
            _ => false,
        });
        if !has_file {
            return Ok(req.json(body));
        }
        let mut form = reqwest::multipart::Form::new();
        for (key, value) in fields {
            let items = match value {
                Value::Array(a) => a,
                other => vec![other],
            };
            for item in items {
                form = match item {
                    Value::String(s) if s.starts_with(LOCAL_FILE) => {
                        let path = std::path::PathBuf::from(&s[LOCAL_FILE.len()..]);
                        let input = check_local(
                            &key,
                            "",
                            &path,
                            &[MediaKind::Image, MediaKind::Video, MediaKind::Audio],
                            200 << 20,
                        )
                        .map_err(|e| ProviderError::LocalFile {
                            path: path.display().to_string(),
                            message: e.rule,
                        })?;
                        let part = file_part(&input.path, input.file_name(), &input.mime)
                            .await
                            .map_err(|e| ProviderError::LocalFile {
                                path: path.display().to_string(),
                                message: e.to_string(),
                            })?;
                        form.part(key.clone(), part)
                    }
                    Value::String(s) => form.text(key.clone(), s),
                    other => form.text(key.clone(), other.to_string()),
                };
            }
        }
        Ok(req.multipart(form))
    }
}

fn refused_or_unknown(status: StatusCode, err: ProviderError) -> SubmitError {
    // A refusal (4xx, 429, 503) created nothing; another 5xx may come after the generation
    // was made, so its outcome is unknown.
    if status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE {
        SubmitError::NotCreated(err)
    } else {
        SubmitError::OutcomeUnknown(err.to_string())
    }
}

#[async_trait]
impl Provider for SkillsVideo {
    fn info(&self) -> ProviderInfo {
        let mut images = Vec::new();
        let mut videos = Vec::new();
        for e in self.catalog.endpoints.values() {
            let name = e.model.clone();
            match e.kind {
                Kind::Video => videos.push(name),
                _ => images.push(name),
            }
        }
        ProviderInfo {
            id: "skillsvideo",
            name: "skills.video (image and video models)",
            modes: vec![
                ModeInfo {
                    mode: "image",
                    default_model: images.first().cloned().unwrap_or_default(),
                    models: images,
                    summary: "image models of the platform's OpenAPI document",
                },
                ModeInfo {
                    mode: "video",
                    default_model: videos.first().cloned().unwrap_or_default(),
                    models: videos,
                    summary: "video models of the platform's OpenAPI document",
                },
            ],
            credential_env: vec!["SKILLS_VIDEO_API_KEY"],
        }
    }

    fn quantity(&self, plan: &Plan) -> kino_core::cost::Quantity {
        cost::quantity(plan)
    }

    fn billed(&self, _mode: &str, _model: &str, usage: &Value) -> Option<kino_core::cost::Billed> {
        cost::billed(usage)
    }

    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError> {
        let model = request
            .model
            .clone()
            .or_else(|| {
                request
                    .fields
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                ValidationError::new(
                    "model",
                    "skills.video needs a model, named as in its path (e.g. google/veo-3.1)",
                )
                .with_hint("`kino models skillsvideo` lists them")
            })?;
        let endpoint = self.endpoint(&model)?;
        let plan = schema::plan(endpoint, request)?;
        if let Some(mode) = request.mode.as_deref().filter(|m| *m != plan.mode) {
            return Err(ValidationError::new(
                "mode",
                format!("{model} makes {}s, not `{mode}`", plan.mode),
            ));
        }
        Ok(plan)
    }

    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError> {
        check_local(
            "file",
            "",
            path,
            &[MediaKind::Image, MediaKind::Video, MediaKind::Audio],
            200 << 20,
        )
    }

    /// skills.video has no upload endpoint: files travel inside the multipart create. The
    /// "reference" names the file for that request.
    async fn upload(&self, _model: &str, input: &LocalInput) -> Result<String, ProviderError> {
        Ok(format!("{LOCAL_FILE}{}", input.path.display()))
    }

    fn build(
        &self,
        plan: &Plan,
        references: &[(String, String)],
    ) -> Result<Value, ValidationError> {
        Ok(Value::Object(plan.with_references(references)?))
    }

    async fn submit(&self, plan: &Plan, body: &Value) -> Result<Submitted, SubmitError> {
        let endpoint = self.endpoint(&plan.model).map_err(|e| {
            SubmitError::NotCreated(ProviderError::Rejected {
                status: 0,
                code: "UNSUPPORTED_MODEL".into(),
                message: e.rule,
            })
        })?;
        let path = if endpoint.sse {
            "generation/sse"
        } else {
            "generation"
        };
        let req = self
            .create_request(format!("{}/{path}/{}", self.base, plan.model), body)
            .await
            .map_err(SubmitError::NotCreated)?
            .header(
                "Accept",
                if endpoint.sse {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        let resp = send_create(req).await?;
        let status = resp.status();
        if !status.is_success() {
            let retry = parse_retry_after(resp.headers());
            let body = json_body(resp).await.unwrap_or(Value::Null);
            return Err(refused_or_unknown(
                status,
                wire::error(status.as_u16(), &body, retry),
            ));
        }
        let is_stream = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_stream {
            let body = json_body(resp)
                .await
                .map_err(|e| SubmitError::OutcomeUnknown(e.to_string()))?;
            return wire::generation_id(&body)
                .map(Submitted::handle)
                .ok_or_else(|| {
                    SubmitError::OutcomeUnknown("the create answer has no generation id".into())
                });
        }
        let mut reader = stream::Reader::new(resp, self.config.stall_after);
        // The create's own outcome is known once an event names the generation; keep-alives
        // alone do not make the wait endless.
        let first = tokio::time::timeout(FIRST_EVENT_WITHIN, async {
            loop {
                match reader.next().await {
                    stream::Next::Event(v) => {
                        if let Some(id) = wire::generation_id(&v) {
                            return Ok((id, v));
                        }
                    }
                    stream::Next::Gone(why) => return Err(why),
                }
            }
        })
        .await;
        match first {
            Ok(Ok((id, v))) => {
                stream::follow(&self.streams, id.clone(), v, reader);
                Ok(Submitted::handle(id))
            }
            Ok(Err(why)) => Err(SubmitError::OutcomeUnknown(format!(
                "{why}, before naming the generation"
            ))),
            Err(_) => Err(SubmitError::OutcomeUnknown(format!(
                "no event named the generation within {} s",
                FIRST_EVENT_WITHIN.as_secs()
            ))),
        }
    }

    async fn poll(
        &self,
        handle: &str,
        _cursor: Option<&str>,
    ) -> Result<PollOutcome, ProviderError> {
        let mut notes = Vec::new();
        if let Some(live) = self.streams.get(handle) {
            let (latest, updated, lost) = match live.lock() {
                Ok(l) => (l.latest.clone(), l.updated, l.lost.clone()),
                Err(_) => (None, None, Some("the stream reader failed".into())),
            };
            let fresh = updated.is_some_and(|t| t.elapsed() < STREAM_TRUST);
            let outcome = latest.as_ref().map(wire::outcome).transpose()?;
            let terminal = outcome
                .as_ref()
                .is_some_and(|o| wire::is_terminal(&o.raw_status));
            let complete = outcome
                .as_ref()
                .is_some_and(|o| !matches!(o.status, RemoteStatus::Failed { code: None, .. }));
            match (outcome, lost) {
                // A final state with its results: the stream said everything.
                (Some(o), _) if terminal && complete => {
                    self.streams.forget(handle);
                    return Ok(o);
                }
                // A final state without a result URL: ask the platform itself before believing it.
                (Some(_), _) if terminal => self.streams.forget(handle),
                (Some(o), None) if fresh => return Ok(o),
                // A live stream that has said nothing new for long: check it against the platform.
                (Some(_), None) => {}
                (_, Some(why)) => {
                    self.streams.forget(handle);
                    notes.push(RemoteMessage {
                        role: "kino".into(),
                        text: format!("{why}; following by polling"),
                    });
                }
                (None, None) => {}
            }
        }
        let body = self.get_json(&format!("/generation/{handle}"), &[]).await?;
        let mut outcome = wire::outcome(&body)?;
        outcome.messages = notes;
        Ok(outcome)
    }

    async fn cancel(&self, _handle: &str) -> Result<(), ProviderError> {
        Err(ProviderError::NotCancelable {
            message: "skills.video has no cancel endpoint; the generation runs to its end".into(),
        })
    }

    async fn reconcile(&self, lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError> {
        // Only running generations can be listed: one whose input is this job's body is it.
        // Absence proves nothing (it may have finished already), so it never reads as "not made".
        lost.turns.next().await?;
        let body = self
            .get_json("/generations/running", &[("limit", "100")])
            .await?;
        let items = body
            .as_array()
            .cloned()
            .or_else(|| body.get("data").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        let same = |input: &Value| match (lost.wire, input) {
            (Some(Value::Object(sent)), Value::Object(got)) => sent
                .iter()
                .filter(|(_, v)| !v.as_str().is_some_and(|s| s.starts_with(LOCAL_FILE)))
                .all(|(k, v)| got.get(k) == Some(v)),
            _ => false,
        };
        let found: Vec<String> = items
            .iter()
            .filter(|g| g.get("input").is_some_and(same))
            .filter_map(wire::generation_id)
            .filter(|id| !lost.exclude.contains(id))
            .collect();
        Ok(match found.len() {
            1 => Reconciled::Matched(found[0].clone()),
            0 => Reconciled::Inconclusive("no running generation has this job's input; it may have finished already — check the dashboard".into()),
            _ => Reconciled::Ambiguous(found),
        })
    }

    fn poll_policy(&self) -> PollPolicy {
        self.config.poll_policy
    }

    fn request_schema(&self, model: &str) -> Option<Value> {
        self.catalog.get(model).map(schema_document)
    }
}

/// A request template for `kino schema`.
pub fn schema_document(endpoint: &Endpoint) -> Value {
    json!({"model": endpoint.model, "kind": endpoint.kind, "sse": endpoint.sse, "multipart": endpoint.multipart, "schema": endpoint.schema, "template": template(endpoint)})
}
