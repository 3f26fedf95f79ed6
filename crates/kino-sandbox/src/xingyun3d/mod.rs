//! xingyun3d 魔珐星云 digital-human video synthesis (contracts §5) on the API host under
//! `/user/v1/video_synthesis_task/`: `create_render_task`, `get_render_task`,
//! `cancel_render_task`, `get_render_task_preview_url` and `parse_ppt_file`.
//!
//! Every call is authenticated by `X-APP-ID` / `X-TIMESTAMP` / `X-TOKEN` (see [`sign`]):
//! unknown app → HTTP 200 `error_code` 20001; missing, malformed or off-by-more-than-60 s
//! timestamp → HTTP 401 `error_code` 20003; wrong token → HTTP 401 `error_code` 20002 (these two
//! codes are inferred; the seed documents neither). Duplicate slashes in the path are collapsed
//! before routing and signing, so `//user/v1/…` works as on the real host.
//!
//! Result files (the sample MP4 padded to `video_size`, the sample PNG) are served by the CDN
//! host under `/files/xingyun3d/<task_id>/`.

mod api;
mod envelope;
mod ppt;
pub(crate) mod sign;
mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};

use crate::config::SandboxConfig;
use crate::faults::FaultTarget;
use crate::state::Shared;
use envelope::{XyError, iso_secs};

/// Path prefix of every xingyun3d endpoint.
pub(crate) const PREFIX: &str = "/user/v1/video_synthesis_task/";

/// Allowed distance between `X-TIMESTAMP` and the sandbox clock.
const TIMESTAMP_WINDOW_SECS: u64 = 60;

/// xingyun3d-specific state.
#[derive(Debug, Default)]
pub(crate) struct XingyunState {
    store: Mutex<tasks::TaskStore>,
}

/// Routes on the API host (paths with duplicate slashes reach [`dispatch`] through the API
/// host's fallback, see [`owns`]).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route(
        &format!("{PREFIX}{{*endpoint}}"),
        any(handle).layer(DefaultBodyLimit::disable()),
    )
}

/// Whether a (raw) path belongs to xingyun3d once duplicate slashes are collapsed.
pub(crate) fn owns(path: &str) -> bool {
    sign::collapse_slashes(path).starts_with(PREFIX)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    dispatch(shared, req).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Create,
    Get,
    Cancel,
    Preview,
    ParsePpt,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path.strip_prefix(PREFIX)? {
            "create_render_task" => Endpoint::Create,
            "get_render_task" => Endpoint::Get,
            "cancel_render_task" => Endpoint::Cancel,
            "get_render_task_preview_url" => Endpoint::Preview,
            "parse_ppt_file" => Endpoint::ParsePpt,
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Get | Endpoint::Preview => Method::GET,
            Endpoint::Create | Endpoint::Cancel | Endpoint::ParsePpt => Method::POST,
        }
    }
}

/// Route one request (any path [`owns`] accepts).
pub(crate) async fn dispatch(shared: Arc<Shared>, req: Request) -> Response {
    let skew = shared.config().xy_clock_skew;
    let path = sign::collapse_slashes(req.uri().path());
    let Some(endpoint) = Endpoint::from_path(&path) else {
        return XyError::http(StatusCode::NOT_FOUND, "not found").into_response(skew);
    };
    if req.method() != endpoint.method() {
        let mut resp = XyError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed; use {}", endpoint.method()),
        )
        .into_response(skew);
        if let Ok(v) = HeaderValue::from_str(endpoint.method().as_str()) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return resp;
    }
    let ctx = SignContext::new(&req, path);
    match endpoint {
        Endpoint::Create => api::create(&shared, req, &ctx).await,
        Endpoint::Get => api::get(&shared, req, &ctx, false).await,
        Endpoint::Preview => api::get(&shared, req, &ctx, true).await,
        Endpoint::Cancel => api::cancel(&shared, req, &ctx).await,
        Endpoint::ParsePpt => ppt::parse(&shared, req, &ctx).await,
    }
}

/// What a request is signed over, besides its data.
#[derive(Debug)]
pub(crate) struct SignContext {
    /// Collapsed path, no query.
    path: String,
    /// Collapsed path plus `?query` as received (when there is one).
    path_query: String,
    method: String,
    /// `task_id` of the query string, when it is an integer.
    query_task_id: Option<i64>,
}

impl SignContext {
    fn new(req: &Request, path: String) -> Self {
        let path_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let query_task_id = Query::<HashMap<String, String>>::try_from_uri(req.uri())
            .ok()
            .and_then(|Query(q)| q.get("task_id").and_then(|v| v.trim().parse().ok()));
        Self {
            path,
            path_query,
            method: req.method().as_str().to_owned(),
            query_task_id,
        }
    }
}

/// The secret of `app_id`, when the app exists.
fn secret_of(config: &SandboxConfig, app_id: &str) -> Option<String> {
    if config.xy_apps.is_empty() {
        return (!app_id.is_empty()).then(|| format!("secret-{app_id}"));
    }
    config
        .xy_apps
        .iter()
        .find(|(id, _)| id == app_id)
        .map(|(_, secret)| secret.clone())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Injected fault for `target` (when given).
fn take_fault(shared: &Shared, target: Option<FaultTarget>) -> Result<(), XyError> {
    match target.and_then(|t| shared.faults.take(t)) {
        Some(fault) => {
            if fault.status == 429 {
                shared.bump(|s| s.throttled += 1);
            }
            Err(XyError::from_fault(&fault))
        }
        None => Ok(()),
    }
}

/// Check `X-APP-ID`, `X-TIMESTAMP` and `X-TOKEN` against `data` (the parsed JSON body or `{}`).
/// GETs with an integer `task_id` query parameter are also accepted when signed per the other
/// readings of contracts §5.2 rule 8.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    ctx: &SignContext,
    data: &Value,
) -> Result<(), XyError> {
    let config = shared.config();
    let app_id = header_str(headers, "x-app-id").unwrap_or_default();
    let Some(secret) = secret_of(&config, app_id) else {
        return Err(XyError::business(
            envelope::APP_NOT_FOUND,
            "app does not exist",
        ));
    };
    let server = envelope::now(config.xy_clock_skew);
    let raw_ts = header_str(headers, "x-timestamp").unwrap_or_default();
    let ts = (!raw_ts.is_empty() && raw_ts.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw_ts.parse::<i64>().ok())
        .flatten();
    let expired = |shown: String| {
        shared.bump(|s| s.xy_bad_signatures += 1);
        XyError::unauthorized(
            envelope::TIMESTAMP_EXPIRED,
            format!(
                "timestamp expired: server time {}, request time {shown}",
                iso_secs(server)
            ),
        )
    };
    let Some(ts) = ts else {
        let shown = if raw_ts.is_empty() {
            "missing".to_owned()
        } else {
            format!("{raw_ts:?}")
        };
        return Err(expired(shown));
    };
    if ts.abs_diff(server.timestamp()) > TIMESTAMP_WINDOW_SECS {
        let shown = chrono::DateTime::from_timestamp(ts, 0)
            .map(iso_secs)
            .unwrap_or_else(|| raw_ts.to_owned());
        return Err(expired(shown));
    }
    let given = header_str(headers, "x-token").unwrap_or_default();
    let mut candidates: Vec<(&str, Value)> = vec![(&ctx.path_query, data.clone())];
    if ctx.method == "GET"
        && let Some(id) = ctx.query_task_id
    {
        candidates.push((&ctx.path, json!({"task_id": id})));
        candidates.push((&ctx.path_query, json!({"task_id": id})));
    }
    let valid = !given.is_empty()
        && candidates
            .iter()
            .any(|(path, data)| sign::token(path, &ctx.method, data, &secret, raw_ts) == given);
    if valid {
        Ok(())
    } else {
        shared.bump(|s| s.xy_bad_signatures += 1);
        Err(XyError::unauthorized(
            envelope::SIGNATURE_INVALID,
            "signature invalid",
        ))
    }
}
