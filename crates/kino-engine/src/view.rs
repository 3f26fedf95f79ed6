//! The one JSON shape of a job, shared by every face (CLI `--json`, REST, MCP), so the same
//! question gets the same answer whichever way it is asked.

use serde_json::{Value, json};

use kino_core::{Artifact, ErrorKind, Job};

use crate::Outcome;

/// An error as every face reports it: what went wrong, what to do, and the CLI's exit code.
pub fn error_json(kind: ErrorKind, message: &str, hints: &[String]) -> Value {
    json!({"error": {"kind": kind, "message": message, "hints": hints, "exit_code": kind.exit_code()}})
}

pub fn artifact_json(a: &Artifact) -> Value {
    json!({
        "index": a.index,
        "kind": a.kind,
        "url": kino_core::redact_url(&a.url),
        "path": a.path,
        "bytes": a.bytes,
        "sha256": a.sha256,
        "mime": a.mime,
        "state": a.state,
        "error": a.error,
        "probe": a.probe,
    })
}

/// A job with its artifacts; `done` tells whether anything is left to wait for, `question` what
/// a needs_input job asks, `estimate` and `charged` what it was expected to cost and what it
/// cost (null when kino has no figure).
pub fn outcome_json(o: &Outcome) -> Value {
    let mut v = serde_json::to_value(&o.job).unwrap_or(Value::Null);
    v["artifacts"] = Value::Array(o.artifacts.iter().map(artifact_json).collect());
    v["done"] = json!(o.is_done());
    v["estimate"] = json!(o.estimate);
    v["charged"] = json!(o.charged);
    if let Some(q) = &o.question {
        v["question"] = json!(q);
    }
    v
}

/// The row a job listing gives.
pub fn job_row_json(job: &Job) -> Value {
    json!({
        "job_id": job.id,
        "provider": job.provider,
        "profile": job.profile,
        "mode": job.mode,
        "model": job.model,
        "state": job.state,
        "handle": job.handle,
        "web_link": job.web_link,
        "prompt": job.prompt(),
        "created_at": job.created_at,
        "error": job.error,
    })
}
