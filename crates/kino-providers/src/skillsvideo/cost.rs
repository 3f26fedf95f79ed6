//! What a skills.video request is billed on: the platform charges credits per generation and
//! says how many in `usage.total` (shared/contracts.md §2: `{"total", "subscription",
//! "permanent"}`); it publishes no table, so estimates come from the user's prices or from
//! what earlier generations of the model were charged.

use kino_core::Plan;
use kino_core::cost::{Amount, Billed, Quantity, Unit};
use serde_json::Value;

/// `8`, `8.0` or `"8s"`.
fn seconds(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('s').trim().parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0.0)
}

pub fn quantity(plan: &Plan) -> Quantity {
    let r = &plan.request;
    let mut q = Quantity::job(&plan.mode, &plan.model);
    q.resolution = r
        .get("resolution")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    q.seconds = r.get("duration").and_then(seconds);
    q.count = ["n", "num_images", "num_outputs"]
        .iter()
        .find_map(|k| r.get(*k).and_then(Value::as_u64))
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    q
}

pub fn billed(usage: &Value) -> Option<Billed> {
    // A negative total is no charge kino can believe (and would lower a batch's running total).
    let total = usage.get("total")?.as_f64().filter(|t| *t >= 0.0)?;
    Amount::from_f64(total, Unit::credits()).map(Billed::Charged)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_gives_duration_resolution_and_count() {
        let plan = Plan {
            mode: "video".into(),
            model: "google/veo-3.1".into(),
            request: json!({"duration": "8s", "resolution": "1080p", "n": 2})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            local_inputs: Vec::new(),
        };
        let q = quantity(&plan);
        assert_eq!(q.seconds, Some(8.0));
        assert_eq!(q.resolution.as_deref(), Some("1080P"));
        assert_eq!(q.count, 2);
    }

    #[test]
    fn usage_total_is_what_was_charged() {
        let Some(Billed::Charged(a)) =
            billed(&json!({"total": 20, "subscription": 20, "permanent": 0}))
        else {
            panic!("no charge")
        };
        assert_eq!(a.to_string(), "20 credits");
        assert_eq!(billed(&json!({"subscription": 3})), None);
        // Regression: a negative total was taken as a charge and could lower a running total.
        assert_eq!(billed(&json!({"total": -5})), None);
    }
}
