//! How jobs look: one JSON shape for agents, short text for people.

use serde_json::{Value, json};

use kino_core::{Artifact, Event, Job};
use kino_engine::Outcome;

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
    })
}

/// A job with its artifacts; `done` tells an agent whether anything is left to wait for.
pub fn outcome_json(o: &Outcome) -> Value {
    let mut v = job_json(&o.job);
    v["artifacts"] = Value::Array(o.artifacts.iter().map(artifact_json).collect());
    v["done"] = json!(o.is_done());
    if let Some(q) = &o.question {
        v["question"] = json!(q);
    }
    v
}

pub fn job_json(job: &Job) -> Value {
    serde_json::to_value(job).unwrap_or(Value::Null)
}

/// The row `kino list` gives per job.
pub fn job_row_json(job: &Job) -> Value {
    json!({
        "job_id": job.id,
        "provider": job.provider,
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

pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

pub fn outcome_human(o: &Outcome) -> String {
    let j = &o.job;
    let mut lines = vec![format!(
        "job {}  {}  {} {} ({})",
        j.id, j.state, j.provider, j.mode, j.model
    )];
    if let Some(h) = &j.handle {
        lines.push(format!("  platform handle: {h}"));
    }
    if let Some(p) = j.prompt() {
        lines.push(format!("  prompt: {}", ellipsis(p, 100)));
    }
    if let Some(e) = &j.error {
        lines.push(format!("  error: {e}"));
    }
    if let Some(link) = &j.web_link {
        lines.push(format!("  watch: {link}"));
    }
    if let Some(q) = &o.question {
        lines.push(format!("  question: {q}"));
        lines.push(format!("  answer with `kino reply {} \"…\"`", j.id.short()));
    }
    for a in &o.artifacts {
        match (&a.path, a.bytes) {
            (Some(p), Some(b)) => {
                lines.push(format!("  {} #{}: {p} ({b} bytes)", a.kind, a.index + 1))
            }
            _ => lines.push(format!(
                "  {} #{}: {} ({})",
                a.kind,
                a.index + 1,
                kino_core::redact_url(&a.url),
                a.state.as_str()
            )),
        }
    }
    if !o.is_done() && !j.state.is_terminal() {
        lines.push(format!(
            "  still going: `kino wait {}` follows it",
            j.id.short()
        ));
    }
    lines.join("\n")
}

pub fn event_human(e: &Event) -> String {
    format!("{:>4}  {}  {}", e.seq, time(e.at), e.kind.summary())
}

pub fn event_json(e: &Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
