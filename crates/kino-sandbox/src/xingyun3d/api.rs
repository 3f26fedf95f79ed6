//! `create_render_task`, `get_render_task`, `get_render_task_preview_url` and
//! `cancel_render_task`.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::envelope::{self, XyError};
use super::tasks::{Echo, Task, Urls};
use super::{SignContext, authenticate, take_fault};
use crate::RecordedRequest;
use crate::conversation::FAIL_TOKEN;
use crate::faults::FaultTarget;
use crate::files::Blob;
use crate::media::VideoLayout;
use crate::request::{self, JsonBody};
use crate::state::{Shared, lock};

/// The JSON object a body signs as: the parsed object, else `{}`.
fn signed_data(body: &JsonBody) -> Value {
    match &body.value {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

/// The body as an object; empty bodies count as `{}`.
fn body_object(body: &JsonBody, code: i64) -> Result<Map<String, Value>, XyError> {
    if !body.read_ok {
        return Err(XyError::business(
            code,
            "request body too large or unreadable",
        ));
    }
    match &body.value {
        Some(Value::Object(obj)) => Ok(obj.clone()),
        None if body.empty => Ok(Map::new()),
        _ => Err(XyError::business(
            code,
            "request body must be a JSON object",
        )),
    }
}

/// Headers as recorded: `Authorization` and `X-TOKEN` values redacted.
fn recorded_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    request::redacted_headers(headers)
        .into_iter()
        .map(|(name, value)| {
            if name == "x-token" {
                (name, "<redacted>".to_owned())
            } else {
                (name, value)
            }
        })
        .collect()
}

/// `POST create_render_task`. Every call is recorded (rejected ones with `task_id: None`).
pub(crate) async fn create(shared: &Shared, req: Request, ctx: &SignContext) -> Response {
    shared.bump(|s| s.xy_create_attempts += 1);
    let skew = shared.config().xy_clock_skew;
    let raw_path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let body = request::read_json(body).await;
    let mut record = RecordedRequest {
        path: raw_path,
        headers: recorded_headers(&parts.headers),
        body: body.recorded().clone(),
        task_id: None,
    };
    let outcome = create_task(shared, &parts.headers, ctx, &body);
    if let Ok(id) = &outcome {
        record.task_id = Some(id.to_string());
    }
    shared.record_request(record);
    match outcome {
        Ok(id) => envelope::ok(skew, json!({"task_id": id})),
        Err(err) => err.into_response(skew),
    }
}

fn create_error(reason: impl std::fmt::Display) -> XyError {
    XyError::business(
        envelope::CREATE_ERROR,
        format!("create video task error: {reason}"),
    )
}

/// A required non-empty string field.
fn required<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, XyError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(create_error(format!("{key} is required")))
        }
        Some(_) => Err(create_error(format!("{key} must be a string"))),
    }
}

/// An optional string field (`None` when absent or null).
fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, XyError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(create_error(format!("{key} must be a string"))),
    }
}

/// Validated `segment` items (as received, in order).
fn segments(value: &Value) -> Result<Vec<Map<String, Value>>, XyError> {
    let items = value
        .as_array()
        .ok_or_else(|| create_error("segment must be an array"))?;
    if items.is_empty() {
        return Err(create_error("segment must not be empty"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item
                .as_object()
                .ok_or_else(|| create_error(format!("segment[{i}] must be an object")))?;
            match obj.get("text") {
                Some(Value::String(t)) if !t.trim().is_empty() => {}
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    return Err(create_error(format!("segment[{i}].text is required")));
                }
                Some(_) => {
                    return Err(create_error(format!("segment[{i}].text must be a string")));
                }
            }
            match obj.get("media_url") {
                None | Some(Value::Null) | Some(Value::String(_)) => Ok(obj.clone()),
                Some(_) => Err(create_error(format!(
                    "segment[{i}].media_url must be a string"
                ))),
            }
        })
        .collect()
}

/// Validate and create the task; returns its id.
fn create_task(
    shared: &Shared,
    headers: &HeaderMap,
    ctx: &SignContext,
    body: &JsonBody,
) -> Result<i64, XyError> {
    take_fault(shared, Some(FaultTarget::XyCreate))?;
    authenticate(shared, headers, ctx, &signed_data(body))?;
    let obj = body_object(body, envelope::CREATE_ERROR)?;
    let look_name = required(&obj, "look_name")?;
    let tts_vcn_name = required(&obj, "tts_vcn_name")?;
    let studio_name = required(&obj, "studio_name")?;
    let video_name = optional(&obj, "video_name")?;
    let sub_title = optional(&obj, "sub_title")?;
    match obj.get("if_aigc_mark") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(_) => return Err(create_error("if_aigc_mark must be a boolean")),
    }
    let segment = obj.get("segment").filter(|v| !v.is_null());
    let ppt_name = obj.get("parse_ppt_file_name").filter(|v| !v.is_null());
    let config = shared.config();
    let now = Instant::now();
    let now_wall = envelope::now(config.xy_clock_skew);
    let mut store = lock(&shared.xingyun3d.store);
    let (items, fail) = match (segment, ppt_name) {
        (Some(_), Some(_)) => {
            return Err(create_error(
                "segment and parse_ppt_file_name are mutually exclusive",
            ));
        }
        (None, None) => {
            return Err(create_error(
                "one of segment or parse_ppt_file_name is required",
            ));
        }
        (Some(segment), None) => {
            let items = segments(segment)?;
            let fail = items.iter().any(|item| {
                item.get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.to_ascii_lowercase().contains(FAIL_TOKEN))
            });
            (items, fail)
        }
        (None, Some(name)) => {
            let name = name
                .as_str()
                .ok_or_else(|| create_error("parse_ppt_file_name must be a string"))?;
            let ppt = store.ppts.get(name).ok_or_else(|| {
                XyError::business(
                    envelope::PPT_NOT_FOUND,
                    format!("ppt file does not exist: {name}"),
                )
            })?;
            let fail = ppt.filename.to_ascii_lowercase().contains(FAIL_TOKEN);
            let page = format!(
                "http://{}/samples/sample.png",
                crate::advertised(shared.cdn_addr)
            );
            let mut item = Map::new();
            item.insert(
                "text".into(),
                Value::String(format!(
                    "（{}，{} 字节）第 1 页讲稿。",
                    ppt.filename, ppt.size
                )),
            );
            item.insert("media_url".into(), Value::String(page));
            (vec![item], fail)
        }
    };
    let id = store.next_id();
    let segment: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            item.insert("media_id".into(), Value::from(store.next_media_id()));
            Value::Object(item)
        })
        .collect();
    let echo = Echo {
        video_name: video_name.map_or_else(|| envelope::video_name(now_wall), str::to_owned),
        look_name: look_name.to_owned(),
        tts_vcn_name: tts_vcn_name.to_owned(),
        studio_name: studio_name.to_owned(),
        sub_title: sub_title.map_or(Value::Null, |s| Value::String(s.to_owned())),
        segment,
    };
    let urls = register_files(shared, id, config.video_size);
    let task = Task::new(id, now, now_wall, config.xy_step, fail, echo, urls);
    store.tasks.insert(id, task);
    drop(store);
    shared.bump(|s| s.xy_creates += 1);
    tracing::debug!(task_id = id, "xingyun3d task created");
    Ok(id)
}

/// Register the task's result video, cover image and preview image on the CDN host.
fn register_files(shared: &Shared, id: i64, video_size: Option<u64>) -> Urls {
    let cdn = crate::advertised(shared.cdn_addr);
    let token = crate::ids::uuid_v4().replace('-', "");
    let dir = format!("/files/xingyun3d/{id}");
    let video = format!("{dir}/{token}.mp4");
    let image = format!("{dir}/{token}.png");
    let preview = format!("{dir}/{token}_preview.png");
    {
        let mut files = lock(&shared.files);
        files.insert(video.clone(), Blob::Video(VideoLayout::new(video_size)));
        files.insert(image.clone(), Blob::png());
        files.insert(preview.clone(), Blob::png());
    }
    Urls {
        video: format!("http://{cdn}{video}"),
        image: format!("http://{cdn}{image}"),
        preview: format!("http://{cdn}{preview}"),
    }
}

fn not_found(id: Option<i64>) -> XyError {
    let reason = match id {
        Some(id) => format!("video task not found: {id}"),
        None => "video task not found: task_id is missing or not an integer".to_owned(),
    };
    XyError::business(envelope::TASK_NOT_FOUND, reason)
}

/// A task id given as an integer or a decimal string.
fn task_id_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `GET get_render_task?task_id=N` (`preview == false`) or
/// `GET get_render_task_preview_url?task_id=N`.
pub(crate) async fn get(
    shared: &Shared,
    req: Request,
    ctx: &SignContext,
    preview: bool,
) -> Response {
    let skew = shared.config().xy_clock_skew;
    if !preview {
        shared.bump(|s| s.xy_gets += 1);
    }
    let (parts, body) = req.into_parts();
    let body = request::read_json(body).await;
    let outcome = (|| {
        take_fault(shared, (!preview).then_some(FaultTarget::XyGet))?;
        authenticate(shared, &parts.headers, ctx, &signed_data(&body))?;
        let id = ctx
            .query_task_id
            .or_else(|| task_id_of(body.value.as_ref().and_then(|v| v.get("task_id"))));
        let store = lock(&shared.xingyun3d.store);
        let task = id
            .and_then(|id| store.tasks.get(&id))
            .ok_or_else(|| not_found(id))?;
        Ok::<_, XyError>(if preview {
            json!({"preview_url": task.urls.preview})
        } else {
            task.to_json(Instant::now())
        })
    })();
    match outcome {
        Ok(data) => envelope::ok(skew, data),
        Err(err) => err.into_response(skew),
    }
}

/// `POST cancel_render_task {"task_id": N}`.
pub(crate) async fn cancel(shared: &Shared, req: Request, ctx: &SignContext) -> Response {
    let skew = shared.config().xy_clock_skew;
    shared.bump(|s| s.xy_cancels += 1);
    let (parts, body) = req.into_parts();
    let body = request::read_json(body).await;
    let outcome = (|| {
        take_fault(shared, Some(FaultTarget::XyCancel))?;
        authenticate(shared, &parts.headers, ctx, &signed_data(&body))?;
        let obj = body_object(&body, envelope::CANCEL_ERROR)?;
        let id = task_id_of(obj.get("task_id"));
        let mut store = lock(&shared.xingyun3d.store);
        let task = id
            .and_then(|id| store.tasks.get_mut(&id))
            .ok_or_else(|| not_found(id))?;
        task.cancel(Instant::now()).map_err(|state| {
            XyError::business(
                envelope::CANCEL_ERROR,
                format!("cancel video task error: task is {}", state.as_str()),
            )
        })
    })();
    match outcome {
        Ok(()) => envelope::ok_empty(skew),
        Err(err) => err.into_response(skew),
    }
}
