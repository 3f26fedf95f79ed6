//! `POST /openapi/session`, `GET /openapi/session/{id}?afterSeq=N` and
//! `POST /openapi/session/change-project`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::envelope::{self, LibtvError};
use super::gate;
use super::sessions::{self, Session};
use crate::conversation::{self, Scenario};
use crate::faults::FaultTarget;
use crate::request::{self, JsonBody};
use crate::state::{Shared, lock};

/// `{sessionId?, message?}`. Every call is recorded (`task_id` = the session id when accepted).
pub(crate) async fn post_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    shared.bump(|s| s.libtv_session_posts += 1);
    let body = request::read_json(body).await;
    let mut record = request::record(uri.path(), &headers, &body);
    let outcome = session(&shared, &headers, &body);
    if let Ok((_, session_id)) = &outcome {
        record.task_id = Some(session_id.clone());
    }
    shared.record_request(record);
    match outcome {
        Ok((project, session_id)) => {
            envelope::ok(json!({"projectUuid": project, "sessionId": session_id}))
        }
        Err(err) => err.into_response(),
    }
}

/// Returns `(projectUuid, sessionId)`.
fn session(
    shared: &Shared,
    headers: &HeaderMap,
    body: &JsonBody,
) -> Result<(String, String), LibtvError> {
    let key = gate(shared, headers, Some(FaultTarget::LibtvSession))?;
    if !body.read_ok {
        return Err(LibtvError::bad_request(
            "request body too large or unreadable",
        ));
    }
    let empty = serde_json::Map::new();
    let obj = match &body.value {
        Some(Value::Object(obj)) => obj,
        None if body.empty => &empty,
        _ => {
            return Err(LibtvError::bad_request(
                "request body must be a JSON object",
            ));
        }
    };
    let message = match obj.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) if m.trim().is_empty() => {
            return Err(LibtvError::bad_request("message is empty"));
        }
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => return Err(LibtvError::bad_request("message must be a string")),
    };
    let session_id = request::opt_str(obj, "sessionId").map_err(LibtvError::bad_request)?;
    let config = shared.config();
    let now = Instant::now();
    let mut store = lock(&shared.libtv.store);
    let (session_id, project) = match session_id {
        Some(id) => {
            let session = store
                .sessions
                .get(id)
                .ok_or_else(|| LibtvError::not_found(format!("session not found: {id}")))?;
            (id.to_owned(), session.project.clone())
        }
        None => {
            let project = store.project_of(&key);
            let id = crate::ids::uuid_v4();
            store
                .sessions
                .insert(id.clone(), Session::new(project.clone()));
            (id, project)
        }
    };
    if let Some(message) = message {
        let results = (Scenario::parse(message) == Scenario::Results).then(|| {
            conversation::register_results(
                shared,
                &format!("libtv/{project}/{session_id}"),
                config.video_size,
            )
        });
        let replies = sessions::script(message, results.as_ref());
        if let Some(session) = store.sessions.get_mut(&session_id) {
            session.send(message, replies, config.conversation_step, now);
        }
        shared.bump(|s| s.libtv_sends += 1);
        tracing::debug!(session_id, "libtv message sent");
    }
    Ok((project, session_id))
}

/// Messages with `seq > afterSeq` (all when absent).
pub(crate) async fn get_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    shared.bump(|s| s.libtv_queries += 1);
    if let Err(err) = gate(&shared, &headers, Some(FaultTarget::LibtvQuery)) {
        return err.into_response();
    }
    let Ok(Query(params)) = query else {
        return LibtvError::bad_request("malformed query string").into_response();
    };
    let after = match params.get("afterSeq").map(|v| v.trim()) {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                return LibtvError::bad_request("afterSeq must be an integer").into_response();
            }
        },
    };
    let id = path.map(|Path(id)| id).unwrap_or_default();
    let messages = {
        let mut store = lock(&shared.libtv.store);
        store
            .sessions
            .get_mut(&id)
            .map(|s| s.messages_after(after, Instant::now()))
    };
    match messages {
        Some(messages) => envelope::ok(json!({"messages": messages})),
        None => LibtvError::not_found(format!("session not found: {id}")).into_response(),
    }
}

/// `{}` → a new project bound to the key.
pub(crate) async fn change_project(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let key = match gate(&shared, &headers, None) {
        Ok(key) => key,
        Err(err) => return err.into_response(),
    };
    let project = lock(&shared.libtv.store).change_project(&key);
    shared.bump(|s| s.libtv_project_changes += 1);
    envelope::ok(json!({"projectUuid": project}))
}
