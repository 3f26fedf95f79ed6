//! How jobs look: one JSON shape for agents, short text for people.

use serde_json::Value;

use kino_core::Event;
use kino_core::cost::Estimate;
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
    if let Some(cost) = cost_human(o.charged.as_ref(), o.estimate.as_ref()) {
        lines.push(format!("  cost: {cost}"));
    }
    if let Some(q) = &o.question {
        lines.push(format!("  question: {q}"));
        lines.push(format!("  answer with `kino reply {} \"…\"`", j.id.short()));
    }
    for a in &o.artifacts {
        match (&a.path, a.bytes) {
            (Some(p), Some(b)) => {
                lines.push(format!("  {} #{}: {p} ({b} bytes)", a.kind, a.index + 1));
                if let Some(probe) = &a.probe {
                    lines.push(format!("    {}", probe_human(probe)));
                }
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

/// `0.70 CNY charged (estimated 0.70 CNY)`, `unknown: no price known for …`; none when the
/// ledger has neither figure.
fn cost_human(charged: Option<&Estimate>, estimate: Option<&Estimate>) -> Option<String> {
    let line = match (charged, estimate) {
        (Some(c), _) if c.cost.is_none() => format!("unknown: {}", c.basis),
        (Some(c), Some(e)) => format!("{} charged (estimated {})", c.text(), e.text()),
        (Some(c), None) => format!("{} charged", c.text()),
        (None, Some(e)) if e.cost.is_none() => format!("estimated unknown: {}", e.basis),
        (None, Some(e)) => format!("estimated {}", e.text()),
        (None, None) => return None,
    };
    Some(line)
}

/// A result's probe on one line: `5.04 s, 1280x720, h264, 24 fps, sound (aac), mp4, 812 kb/s`.
pub fn probe_human(p: &kino_core::MediaProbe) -> String {
    let mut parts = Vec::new();
    if let Some(d) = p.duration_s {
        parts.push(format!("{d:.2} s"));
    }
    if let (Some(w), Some(h)) = (p.width, p.height) {
        parts.push(format!("{w}x{h}"));
    }
    if let Some(c) = &p.video_codec {
        parts.push(c.clone());
    }
    if let Some(f) = p.fps {
        parts.push(format!("{} fps", (f * 100.0).round() / 100.0));
    }
    parts.push(match (&p.audio_codec, p.has_audio) {
        (Some(c), true) => format!("sound ({c})"),
        (None, true) => "sound".into(),
        _ => "no sound".into(),
    });
    if let Some(f) = &p.format {
        parts.push(f.clone());
    }
    if let Some(b) = p.bit_rate {
        parts.push(format!("{} kb/s", b / 1000));
    }
    parts.join(", ")
}

pub fn event_human(e: &Event) -> String {
    format!("{:>4}  {}  {}", e.seq, time(e.at), e.kind.summary())
}

pub fn event_json(e: &Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// Amounts of different units side by side (`1.40 CNY + 20 credits`), never added together;
/// `none` when there are none.
pub fn amounts_text<T: std::fmt::Display>(amounts: &[T], none: &str) -> String {
    if amounts.is_empty() {
        return none.to_string();
    }
    amounts
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}

pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kino_core::cost::{Amount, Unit};

    #[test]
    fn a_probe_reads_as_one_line() {
        let p = kino_core::MediaProbe {
            format: Some("mov,mp4,m4a,3gp,3g2,mj2".into()),
            duration_s: Some(5.041),
            bit_rate: Some(812_345),
            width: Some(1280),
            height: Some(720),
            video_codec: Some("h264".into()),
            fps: Some(30000.0 / 1001.0),
            has_audio: true,
            audio_codec: Some("aac".into()),
        };
        assert_eq!(
            probe_human(&p),
            "5.04 s, 1280x720, h264, 29.97 fps, sound (aac), mov,mp4,m4a,3gp,3g2,mj2, 812 kb/s"
        );
        let silent = kino_core::MediaProbe {
            has_audio: false,
            audio_codec: None,
            ..p
        };
        assert!(probe_human(&silent).contains("no sound"));
    }

    #[test]
    fn a_jobs_cost_reads_as_what_was_charged_then_what_was_expected() {
        let cny = |micros| Estimate::known(Amount::new(micros, Unit::cny()), "table");
        let unknown = Estimate::unknown("no price for wan2.6-t2v");
        assert_eq!(
            cost_human(Some(&cny(700_000)), Some(&cny(700_000))).as_deref(),
            Some("0.70 CNY charged (estimated 0.70 CNY)")
        );
        assert_eq!(
            cost_human(Some(&cny(1_200_000)), None).as_deref(),
            Some("1.20 CNY charged")
        );
        assert_eq!(
            cost_human(None, Some(&unknown)).as_deref(),
            Some("estimated unknown: no price for wan2.6-t2v")
        );
        assert_eq!(
            cost_human(None, Some(&cny(700_000))).as_deref(),
            Some("estimated 0.70 CNY")
        );
        assert_eq!(
            cost_human(Some(&unknown), Some(&unknown)).as_deref(),
            Some("unknown: no price for wan2.6-t2v")
        );
        assert_eq!(cost_human(None, None), None);
    }
}
