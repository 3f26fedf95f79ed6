//! The routes: `/v1/jobs` and friends (shared/design.md, "Faces beyond the CLI").

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use kino_core::cost::{Amount, Budget, Tally};
use kino_core::{DownloadState, JobId, JobRequest, JobState};
use kino_engine::Engine;
use kino_ledger::JobFilter;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::error::ApiError;
use crate::{KinoMcp, Workers};

/// Requests carry JSON only (files travel as paths or URLs): 1 MiB is plenty.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
struct App {
    engine: Arc<Engine>,
    workers: Workers,
    token: Option<String>,
    /// Where files sent from the dashboard are kept until a job uses them.
    uploads: std::path::PathBuf,
}

/// Files a browser sends may be videos: the uploads route alone takes large bodies.
const UPLOAD_LIMIT: usize = 200 * 1024 * 1024;

const DASHBOARD: &str = include_str!("../assets/dashboard.html");

/// The API, with the workers that follow the jobs it creates. `token`: when set, every request
/// must carry `Authorization: Bearer <token>`.
pub fn router(
    engine: Arc<Engine>,
    workers: Workers,
    token: Option<String>,
    uploads: std::path::PathBuf,
) -> Router {
    // MCP over streamable HTTP on /mcp, behind the same token as the REST API.
    let mcp = {
        let (engine, workers) = (engine.clone(), workers.clone());
        StreamableHttpService::new(
            move || Ok(KinoMcp::new(engine.clone(), workers.clone())),
            Arc::new(LocalSessionManager::default()),
            // With a token, the token authenticates and clients may name this host however
            // they reach it; without one, `auth` and rmcp both insist on a loopback Host.
            if token.is_some() {
                StreamableHttpServerConfig::default().disable_allowed_hosts()
            } else {
                StreamableHttpServerConfig::default()
            },
        )
    };
    let app = App {
        engine,
        workers,
        token,
        uploads,
    };
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/", get(|| async { axum::response::Html(DASHBOARD) }))
        .route("/v1/stream", get(stream))
        .route(
            "/v1/uploads",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/v1/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/v1/providers", get(providers))
        .route("/v1/jobs", post(create).get(list))
        .route("/v1/attach", post(attach))
        .route("/v1/estimate", post(estimate))
        .route("/v1/jobs/{id}", get(status))
        .route("/v1/jobs/{id}/events", get(events))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route("/v1/jobs/{id}/reply", post(reply))
        .route("/v1/jobs/{id}/artifacts/{index}", get(artifact))
        .route("/v1/jobs/{id}/artifacts/{index}/thumbnail", get(thumbnail))
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

async fn auth(State(app): State<App>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/" {
        return next.run(req).await;
    }
    if let Err(e) = same_origin(&req, app.token.is_none()) {
        return e.into_response();
    }
    if let Some(token) = &app.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            // EventSource and <video src> cannot send headers: the dashboard uses ?token=.
            .or_else(|| {
                req.uri().query().and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("token="))
                        .map(percent_decode)
                })
            });
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

/// Refuses what a browser sends on behalf of another site: a cross-site `Origin`, and, without
/// a token, a `Host` that is not loopback (DNS rebinding turns a foreign name into 127.0.0.1).
fn same_origin(req: &Request, loopback_only: bool) -> Result<(), ApiError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if loopback_only && !is_loopback_host(host) {
        return Err(ApiError::foreign(format!(
            "Host `{host}` is not this machine; without KINO_SERVE_TOKEN only 127.0.0.1, ::1 and localhost are served"
        )));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or_default();
        if authority != host {
            return Err(ApiError::foreign(format!(
                "requests from `{origin}` are refused: only the dashboard's own pages may call the API"
            )));
        }
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `?token=` arrives URL-encoded; base64 tokens hold `+`, `/` and `=`. A bare `+` stays a
/// `+`: tokens have no spaces, and curl users paste them unencoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Token comparison whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn find(app: &App, id: &str) -> Result<JobId, ApiError> {
    match id.parse::<JobId>() {
        Ok(id) => Ok(id),
        Err(_) => Ok(app.engine.ledger().find_job(id).await?.id),
    }
}

pub(crate) use kino_engine::view::{job_row_json, outcome_json};

async fn providers(State(app): State<App>) -> Json<Value> {
    Json(json!(app.engine.providers_info()))
}

#[derive(Deserialize)]
struct CreateBody {
    provider: String,
    mode: Option<String>,
    model: Option<String>,
    prompt: Option<String>,
    #[serde(default)]
    request: Map<String, Value>,
    out_dir: Option<std::path::PathBuf>,
    prefix: Option<String>,
    /// A kino.toml profile; by default the one the service was started with.
    profile: Option<String>,
    /// Limits the expected cost must keep ("5 CNY", "200 credits"), beside the profile's own.
    #[serde(default)]
    max_cost: Vec<String>,
    /// Under a limit, let a job of unknown cost go ahead.
    #[serde(default)]
    allow_unknown_cost: bool,
}

/// The profile's limits and the body's `max_cost`: a body's bad amount is a 400 naming it.
fn budget_of(app: &App, body: &CreateBody, profile: Option<&str>) -> Result<Budget, ApiError> {
    let mut budget = app.engine.profile_budget(profile, body.allow_unknown_cost);
    for text in &body.max_cost {
        let amount = Amount::parse(text)
            .map_err(|e| ApiError::bad_request(format!("invalid `max_cost`: {e}")))?;
        budget.cap(amount, "max_cost");
    }
    Ok(budget)
}

/// What a job would cost, validated as `POST /v1/jobs` would; nothing recorded or sent.
async fn estimate(
    State(app): State<App>,
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let profile = app.engine.call_profile(body.profile.as_deref())?;
    let request = JobRequest::from_parts(
        body.mode.clone(),
        body.model.clone(),
        body.request.clone(),
        body.prompt.clone(),
    );
    let request = app.engine.with_defaults(&body.provider, profile, &request);
    let estimate = app.engine.estimate(&body.provider, &request).await?;
    Ok(Json(
        json!({"provider": body.provider, "estimate": estimate}),
    ))
}

async fn create(
    State(app): State<App>,
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let profile = app.engine.call_profile(body.profile.as_deref())?;
    let budget = budget_of(&app, &body, profile)?;
    let request = JobRequest::from_parts(body.mode, body.model, body.request, body.prompt);
    if budget.is_limited() {
        let with_defaults = app.engine.with_defaults(&body.provider, profile, &request);
        app.engine
            .admit(
                &body.provider,
                &with_defaults,
                &budget,
                &mut Tally::default(),
            )
            .await?;
    }
    let job = app
        .engine
        .create(&body.provider, profile, &request, body.out_dir, body.prefix)
        .await?;
    app.workers.follow(job.id).await;
    let o = app.engine.outcome(job.id).await?;
    Ok((StatusCode::CREATED, Json(outcome_json(&o))))
}

#[derive(Deserialize)]
struct AttachBody {
    provider: String,
    handle: String,
    out_dir: Option<std::path::PathBuf>,
    prefix: Option<String>,
    /// The kino.toml profile whose account made the task; by default the service's.
    profile: Option<String>,
}

/// Adopts a job another tool submitted (`kino attach`); the workers follow it.
async fn attach(
    State(app): State<App>,
    body: Result<Json<AttachBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let profile = app.engine.call_profile(body.profile.as_deref())?;
    let job = app
        .engine
        .attach(
            &body.provider,
            profile,
            &body.handle,
            body.out_dir,
            body.prefix,
        )
        .await?;
    app.workers.follow(job.id).await;
    let o = app.engine.outcome(job.id).await?;
    Ok((StatusCode::CREATED, Json(outcome_json(&o))))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    provider: Option<String>,
    limit: Option<u32>,
}

async fn list(State(app): State<App>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let states = match q.state {
        Some(s) => vec![
            s.parse::<JobState>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ],
        None => Vec::new(),
    };
    let jobs = app
        .engine
        .ledger()
        .jobs(&JobFilter {
            states,
            provider: q.provider,
            limit: q.limit,
        })
        .await?;
    let rows: Vec<Value> = jobs.iter().map(job_row_json).collect();
    Ok(Json(Value::Array(rows)))
}

async fn status(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = find(&app, &id).await?;
    Ok(Json(outcome_json(&app.engine.outcome(id).await?)))
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    since: i64,
}

/// The job's events as SSE: what the ledger has after `since`, then new ones as they are
/// recorded (by this service or any other process), until the job is done or asks a question.
async fn events(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let id = find(&app, &id).await?;
    app.engine.ledger().job(id).await?;
    let engine = app.engine.clone();
    let stream = futures_util::stream::unfold((q.since, false), move |(since, finished)| {
        let engine = engine.clone();
        async move {
            if finished {
                return None;
            }
            loop {
                // Whether the job was resting is read *before* the events, so an event recorded
                // between the two reads is still sent before `end`.
                let resting = engine
                    .outcome(id)
                    .await
                    .map(|o| o.is_resting())
                    .unwrap_or(true);
                let ledger = engine.ledger();
                let events = ledger.events(id, since).await.unwrap_or_default();
                if let Some(first) = events.first() {
                    let data = serde_json::to_string(first).unwrap_or_default();
                    let next = first.seq;
                    return Some((
                        Ok(SseEvent::default()
                            .id(next.to_string())
                            .event(first.kind.name())
                            .data(data)),
                        (next, false),
                    ));
                }
                if resting {
                    return Some((
                        Ok(SseEvent::default().event("end").data("{}")),
                        (since, true),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn cancel(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = find(&app, &id).await?;
    app.engine.cancel(id).await?;
    Ok(Json(outcome_json(&app.engine.outcome(id).await?)))
}

#[derive(Deserialize)]
struct ReplyBody {
    message: String,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    assets: Vec<String>,
}

async fn reply(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Result<Json<ReplyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let id = find(&app, &id).await?;
    app.engine
        .reply(id, &body.message, &body.inputs, &body.assets)
        .await?;
    app.workers.follow(id).await;
    Ok(Json(outcome_json(&app.engine.outcome(id).await?)))
}

/// A downloaded result, streamed from disk.
async fn artifact(
    State(app): State<App>,
    Path((id, index)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let id = find(&app, &id).await?;
    let artifacts = app.engine.ledger().artifacts(id).await?;
    let a = artifacts
        .into_iter()
        .find(|a| a.index == index)
        .ok_or_else(|| ApiError::not_found(format!("job {id} has no artifact {index}")))?;
    let (DownloadState::Done, Some(path)) = (a.state, a.path.clone()) else {
        return Err(ApiError::not_found(format!(
            "artifact {index} of job {id} is not on disk yet"
        )));
    };
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        ApiError::internal(format!("artifact {index} of job {id} cannot be read: {e}"))
    })?;
    let (mime, disposition) = artifact_type(a.mime.as_deref());
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition.into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".into()),
        ],
        body,
    )
        .into_response())
}

/// A downloaded video's or image's thumbnail (a small JPEG kept beside the ledger, made again
/// from the local file when this machine has none).
async fn thumbnail(
    State(app): State<App>,
    Path((id, index)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let id = find(&app, &id).await?;
    let Some(path) = app.engine.thumbnail(id, index).await? else {
        return Err(ApiError::not_found(format!(
            "artifact {index} of job {id} has no thumbnail"
        )));
    };
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::internal(format!(
            "the thumbnail of artifact {index} of job {id} cannot be read: {e}"
        ))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "sandbox"),
            // Made again when the result is downloaded again: a browser may keep it a while.
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        bytes,
    )
        .into_response())
}

/// The content type comes from the platform's download host. Only media is shown inline: a
/// result served as HTML or SVG would otherwise run script on the dashboard's origin.
fn artifact_type(mime: Option<&str>) -> (String, &'static str) {
    match mime {
        Some(m)
            if ["image/", "video/", "audio/"]
                .iter()
                .any(|p| m.starts_with(p))
                && !m.starts_with("image/svg") =>
        {
            (m.to_string(), "inline")
        }
        _ => ("application/octet-stream".into(), "attachment"),
    }
}

/// The jobs table, live: the newest jobs whenever any of them changes.
async fn stream(State(app): State<App>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let engine = app.engine.clone();
    let stream = futures_util::stream::unfold(String::new(), move |last| {
        let engine = engine.clone();
        async move {
            loop {
                let filter = JobFilter {
                    limit: Some(50),
                    ..JobFilter::default()
                };
                let jobs = engine.ledger().jobs(&filter).await.unwrap_or_default();
                let key: String = jobs
                    .iter()
                    .map(|j| format!("{}:{};", j.id, j.updated_at))
                    .collect();
                if key != last {
                    let rows: Vec<Value> = jobs
                        .iter()
                        .map(|j| json!({"job_id": j.id, "state": j.state}))
                        .collect();
                    let event = SseEvent::default()
                        .event("jobs")
                        .data(Value::Array(rows).to_string());
                    return Some((Ok(event), key));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

/// A file from the dashboard's form, streamed to disk; the path goes into a job's request.
async fn upload(
    State(app): State<App>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let name: String = q
        .name
        .unwrap_or_else(|| "upload.bin".into())
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.').to_string();
    let io = |e: std::io::Error| ApiError::bad_request(format!("cannot store the upload: {e}"));
    tokio::fs::create_dir_all(&app.uploads).await.map_err(io)?;
    let path = app.uploads.join(format!("{}-{name}", JobId::new().short()));
    // Written beside its final name and renamed when whole, so a cut or oversized upload
    // leaves nothing a job could pick up.
    let part = path.with_extension("part");
    let written = async {
        let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut body = body.into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("the upload was cut: {e}")))?;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&part, &path).await.map_err(io)
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    Ok(Json(json!({"path": path})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for h in [
            "127.0.0.1:8787",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8787",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "evil.example:8787",
            "10.0.0.1:80",
            "[fe80::1]:1",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn tokens_are_percent_decoded_and_compared_whole() {
        assert_eq!(percent_decode("a%2Bb%2Fc%3D"), "a+b/c=");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert!(constant_time_eq(b"tok", b"tok"));
        assert!(!constant_time_eq(b"tok", b"to"));
        assert!(!constant_time_eq(b"tok", b"tak"));
    }

    #[test]
    fn only_media_is_shown_inline() {
        assert_eq!(
            artifact_type(Some("video/mp4")),
            ("video/mp4".into(), "inline")
        );
        assert_eq!(
            artifact_type(Some("image/png")),
            ("image/png".into(), "inline")
        );
        for m in [
            Some("text/html"),
            Some("image/svg+xml"),
            Some("application/xhtml+xml"),
            None,
        ] {
            assert_eq!(
                artifact_type(m),
                ("application/octet-stream".into(), "attachment"),
                "{m:?}"
            );
        }
    }
}
