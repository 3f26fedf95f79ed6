//! `POST /api/v1/generation/[sse/]{provider}/{model...}`: fault, key, route, body, validation,
//! credits, then the generation — answered as JSON or as an SSE stream. Every call is recorded
//! (`task_id` = the generation id when one was created).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{GENERIC_FAMILY, SvError};
use super::form::{self, BodyError, Payload, RETAIN_BUDGET};
use super::generations::{self, NewGeneration};
use super::models::{self, Model, RouteError};
use super::{GENERATION_PREFIX, gate, sse};
use crate::RecordedRequest;
use crate::faults::FaultTarget;
use crate::files::Blob;
use crate::request;
use crate::state::{Shared, lock};

pub(crate) async fn post_generation(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.bump(|s| s.sv_create_attempts += 1);
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let route = models::resolve(path.strip_prefix(GENERATION_PREFIX).unwrap_or_default());
    let (recorded, payload) = form::read(req, shared.cdn_addr).await;
    let outcome = create(&shared, &headers, route, payload);
    shared.record_request(RecordedRequest {
        path,
        headers: request::redacted_headers(&headers),
        body: recorded,
        task_id: outcome.as_ref().ok().map(|(id, _, _)| id.clone()),
    });
    let (id, model, sse) = match outcome {
        Ok(created) => created,
        Err(err) => return err.into_response(),
    };
    let delay = shared.config().submit_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if sse {
        return sse::respond(shared, id, model.split_frames);
    }
    let legacy = shared.config().sv_legacy_status;
    let body = lock(&shared.sv.store)
        .get(&id)
        .map(|g| g.to_json_as(generations::Status::InQueue, legacy));
    match body {
        Some(body) => Json(body).into_response(),
        None => SvError::not_found(format!("Generation not found: {id}")).into_response(),
    }
}

/// Returns `(generation id, model, sse)`.
fn create(
    shared: &Shared,
    headers: &HeaderMap,
    route: Result<(&'static Model, bool), RouteError>,
    payload: Payload,
) -> Result<(String, &'static Model, bool), SvError> {
    let family = match &route {
        Ok((m, _)) => m.family.prefix(),
        Err(RouteError::UnsupportedModel { family, .. }) => family.prefix(),
        Err(RouteError::UnknownProvider(_)) => GENERIC_FAMILY,
    };
    gate(shared, headers, FaultTarget::SvCreate, family)?;
    let (model, sse) = match route {
        Ok(found) => found,
        Err(RouteError::UnknownProvider(provider)) => {
            return Err(SvError::not_found(format!(
                "Unknown provider `{provider}`."
            )));
        }
        Err(RouteError::UnsupportedModel { slug, family }) => {
            return Err(SvError::family(
                StatusCode::BAD_REQUEST,
                family.prefix(),
                "UNSUPPORTED_MODEL",
                format!("Unsupported model `{slug}`."),
            ));
        }
    };
    let bad = |m: String| SvError::invalid_input(StatusCode::BAD_REQUEST, family, m);
    let invalid = |m: String| SvError::invalid_input(StatusCode::UNPROCESSABLE_ENTITY, family, m);
    let (input, files) = match payload {
        Payload::Json(body) => {
            if !body.read_ok {
                return Err(bad("Request body too large or unreadable.".into()));
            }
            match &body.value {
                Some(Value::Object(obj)) => {
                    (models::validate(model, obj).map_err(invalid)?, Vec::new())
                }
                _ => return Err(bad("Request body must be a JSON object.".into())),
            }
        }
        Payload::Form(Err(BodyError::Malformed(m))) => return Err(bad(m)),
        Payload::Form(Err(BodyError::Field(m))) => return Err(invalid(m)),
        Payload::Form(Ok(form)) => (
            models::validate_form(model, &form.fields).map_err(invalid)?,
            form.files,
        ),
    };
    let n = input.get("n").and_then(Value::as_i64).unwrap_or(1);
    let cost = model.family.cost(n);
    let now = Instant::now();
    generations::settle(shared, now);
    let charged = shared.update_config(|c| {
        if cost > c.sv_credits {
            false
        } else {
            c.sv_credits -= cost;
            true
        }
    });
    if !charged {
        return Err(SvError::family(
            StatusCode::PAYMENT_REQUIRED,
            family,
            "INSUFFICIENT_CREDITS",
            "Insufficient credits for this generation.",
        ));
    }
    store_files(shared, files);
    let id = generations::create(shared, NewGeneration { model, input, cost }, now);
    shared.bump(|s| s.sv_creates += 1);
    tracing::debug!(
        id,
        model = model.slug(),
        sse,
        "skills.video generation created"
    );
    Ok((id, model, sse))
}

/// Serve multipart file inputs from the CDN host (within the memory budget; beyond it, samples).
fn store_files(shared: &Shared, files: Vec<(String, Blob)>) {
    let mut store = lock(&shared.files);
    for (path, blob) in files {
        let blob = match blob {
            Blob::Bytes { data, content_type }
                if store.retained_bytes().saturating_add(data.len() as u64) > RETAIN_BUDGET =>
            {
                if content_type.starts_with("video/") {
                    Blob::Video(crate::media::VideoLayout::new(None))
                } else {
                    Blob::png()
                }
            }
            other => other,
        };
        store.insert(path, blob);
    }
}
