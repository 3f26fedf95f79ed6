//! What a DashScope request is billed on: seconds of output video at a resolution tier
//! (shared/contracts.md §1.6, "per second of output video; failed tasks not billed").

use kino_core::Plan;
use kino_core::cost::{Billed, Quantity};
use serde_json::Value;

use super::models::{Mode, ModelSpec, SIZES_480, SIZES_720, SIZES_1080};

/// The platform's duration when a request gives none (contracts §1.3: "default 5").
const DEFAULT_SECONDS: f64 = 5.0;

/// The tier a `size` (W*H) or `resolution` belongs to.
fn tier(request: &serde_json::Map<String, Value>) -> Option<String> {
    if let Some(r) = request.get("resolution").and_then(Value::as_str) {
        return Some(r.to_ascii_uppercase());
    }
    let size = request.get("size").and_then(Value::as_str)?;
    [
        (SIZES_480, "480P"),
        (SIZES_720, "720P"),
        (SIZES_1080, "1080P"),
    ]
    .into_iter()
    .find(|(sizes, _)| sizes.contains(&size))
    .map(|(_, t)| t.to_string())
}

pub fn quantity(plan: &Plan) -> Quantity {
    let mut q = Quantity::job(&plan.mode, &plan.model);
    q.resolution = tier(&plan.request);
    let edit = ModelSpec::resolve(&plan.model).is_some_and(|s| s.mode == Mode::VideoEdit);
    match plan.request.get("duration").and_then(Value::as_f64) {
        Some(d) if d > 0.0 => q.seconds = Some(d),
        _ if edit => q.unknown_seconds = Some("an edit keeps the input video's length".into()),
        _ => q.seconds = Some(DEFAULT_SECONDS),
    }
    q
}

/// From `usage`: `duration` (wan2.6+), else `output_video_duration`, else `video_duration`
/// (older models), at `SR` (720 → 720P).
pub fn billed(mode: &str, model: &str, usage: &Value) -> Option<Billed> {
    let seconds = ["duration", "output_video_duration", "video_duration"]
        .iter()
        .find_map(|k| usage.get(*k).and_then(Value::as_f64).filter(|s| *s > 0.0))?;
    let resolution = match usage.get("SR") {
        Some(Value::Number(n)) => Some(format!("{n}P")),
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_digit()) => Some(format!("{s}P")),
        Some(Value::String(s)) => Some(s.to_ascii_uppercase()),
        _ => None,
    };
    Some(Billed::Quantity(Quantity {
        resolution,
        seconds: Some(seconds),
        ..Quantity::job(mode, model)
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn plan(model: &str, mode: &str, request: Value) -> Plan {
        Plan {
            mode: mode.into(),
            model: model.into(),
            request: request.as_object().cloned().unwrap_or_default(),
            local_inputs: Vec::new(),
        }
    }

    #[test]
    fn sizes_fall_in_their_resolution_tier_and_the_duration_defaults_to_five_seconds() {
        let q = quantity(&plan("wan2.6-t2v", "t2v", json!({"size": "1088*832"})));
        assert_eq!(q.resolution.as_deref(), Some("720P"));
        assert_eq!(q.seconds, Some(5.0));
        let q = quantity(&plan(
            "happyhorse-1.0-t2v",
            "t2v",
            json!({"resolution": "1080p", "duration": 12}),
        ));
        assert_eq!(
            (q.resolution.as_deref(), q.seconds),
            (Some("1080P"), Some(12.0))
        );
    }

    #[test]
    fn an_edit_without_a_duration_has_no_length_before_it_runs() {
        let q = quantity(&plan(
            "happyhorse-1.0-video-edit",
            "videoedit",
            json!({"resolution": "720P"}),
        ));
        assert_eq!(q.seconds, None);
        assert!(q.unknown_seconds.unwrap().contains("input video"));
    }

    #[test]
    fn both_usage_shapes_give_seconds_and_a_tier() {
        let new = json!({"duration": 15, "input_video_duration": 0, "output_video_duration": 15, "video_count": 1, "SR": 720});
        let old =
            json!({"video_duration": 5, "video_count": 1, "video_ratio": "standard", "SR": 1080});
        let Some(Billed::Quantity(q)) = billed("t2v", "wan2.6-t2v", &new) else {
            panic!("no quantity")
        };
        assert_eq!(
            (q.seconds, q.resolution.as_deref()),
            (Some(15.0), Some("720P"))
        );
        let Some(Billed::Quantity(q)) = billed("t2v", "wan2.1-t2v-turbo", &old) else {
            panic!("no quantity")
        };
        assert_eq!(
            (q.seconds, q.resolution.as_deref()),
            (Some(5.0), Some("1080P"))
        );
        assert_eq!(billed("t2v", "m", &json!({"video_count": 1})), None);
    }
}
