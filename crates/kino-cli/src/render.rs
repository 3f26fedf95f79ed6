//! How jobs look: one JSON shape for agents, short text for people.

use serde_json::Value;

use kino_core::Event;
use kino_engine::Outcome;

pub use kino_engine::view::{artifact_json, job_row_json, outcome_json};

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
