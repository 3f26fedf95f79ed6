//! Generations and their state over time.
//!
//! A generation is `IN_QUEUE` for `pending`, then `IN_PROGRESS` for `running` (both captured at
//! creation), then `COMPLETED` — or `FAILED` when its prompt contains `sandbox:fail`. Credits are
//! charged at creation; a failed generation's charge is refunded once it is seen to have failed
//! ([`settle`], run by every skills.video endpoint).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::models::{Family, Model};
use crate::files::Blob;
use crate::media::VideoLayout;
use crate::state::{Shared, lock};

/// Marks a generation that ends FAILED.
pub(crate) const FAIL_TOKEN: &str = "sandbox:fail";

/// Lifecycle stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    InQueue,
    InProgress,
    Completed,
    Failed,
}

impl Status {
    /// The QueueState word, or the old PredictionStatus word when `legacy`.
    pub(crate) fn word(self, legacy: bool) -> &'static str {
        match (self, legacy) {
            (Status::InQueue, false) => "IN_QUEUE",
            (Status::InProgress, false) => "IN_PROGRESS",
            (Status::Completed, false) => "COMPLETED",
            (Status::Failed, false) => "FAILED",
            (Status::InQueue, true) => "starting",
            (Status::InProgress, true) => "processing",
            (Status::Completed, true) => "succeeded",
            (Status::Failed, true) => "failed",
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }

    /// 0 queued, 1 in progress, 2 terminal.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Status::InQueue => 0,
            Status::InProgress => 1,
            Status::Completed | Status::Failed => 2,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Generation {
    pub id: String,
    pub model: &'static Model,
    /// The normalized input.
    pub input: Map<String, Value>,
    pub cost: i64,
    pub created: Instant,
    pub pending: Duration,
    pub running: Duration,
    pub fail: bool,
    refunded: bool,
    /// `data` once COMPLETED.
    output: Value,
}

impl Generation {
    fn started(&self) -> Instant {
        self.created
            .checked_add(self.pending)
            .unwrap_or(self.created)
    }

    fn finished(&self) -> Instant {
        self.started()
            .checked_add(self.running)
            .unwrap_or_else(|| self.started())
    }

    pub(crate) fn status(&self, now: Instant) -> Status {
        if now < self.started() {
            Status::InQueue
        } else if now < self.finished() {
            Status::InProgress
        } else if self.fail {
            Status::Failed
        } else {
            Status::Completed
        }
    }

    /// When the generation reaches the stage of rank `rank`.
    pub(crate) fn reaches(&self, rank: u8) -> Instant {
        match rank {
            0 => self.created,
            1 => self.started(),
            _ => self.finished(),
        }
    }

    /// The terminal stage it will end in.
    pub(crate) fn terminal(&self) -> Status {
        if self.fail {
            Status::Failed
        } else {
            Status::Completed
        }
    }

    fn usage(&self, status: Status) -> Value {
        let total = if status == Status::Failed {
            0
        } else {
            self.cost
        };
        json!({"total": total, "subscription": total, "permanent": 0})
    }

    /// The generation object as of `status`.
    pub(crate) fn to_json_as(&self, status: Status, legacy: bool) -> Value {
        let data = if status == Status::Completed {
            self.output.clone()
        } else {
            Value::Null
        };
        let mut v = json!({
            "id": self.id,
            "status": status.word(legacy),
            "input": self.input,
            "data": data,
            "usage": self.usage(status),
        });
        if status == Status::Failed
            && let Some(obj) = v.as_object_mut()
        {
            obj.insert(
                "code".into(),
                Value::from(format!("{}_FAILED", self.model.family.prefix())),
            );
            obj.insert("message".into(), Value::from("Generation failed."));
        }
        v
    }

    pub(crate) fn to_json(&self, now: Instant, legacy: bool) -> Value {
        self.to_json_as(self.status(now), legacy)
    }

    /// `{id, status, usage, input}` for the running list.
    pub(crate) fn summary(&self, now: Instant, legacy: bool) -> Value {
        let status = self.status(now);
        json!({
            "id": self.id,
            "status": status.word(legacy),
            "usage": self.usage(status),
            "input": self.input,
        })
    }
}

/// Generations by id, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    by_id: HashMap<String, Generation>,
    order: Vec<String>,
    /// Failing generations not refunded yet.
    unrefunded: Vec<String>,
}

impl Store {
    pub(crate) fn get(&self, id: &str) -> Option<&Generation> {
        self.by_id.get(id)
    }

    fn insert(&mut self, generation: Generation) {
        if generation.fail {
            self.unrefunded.push(generation.id.clone());
        }
        self.order.push(generation.id.clone());
        self.by_id.insert(generation.id.clone(), generation);
    }

    /// Non-terminal generations, newest first, at most `limit`.
    pub(crate) fn running(&self, now: Instant, limit: usize) -> Vec<&Generation> {
        self.order
            .iter()
            .rev()
            .filter_map(|id| self.by_id.get(id))
            .filter(|g| !g.status(now).is_terminal())
            .take(limit)
            .collect()
    }

    /// Mark failed generations refunded; returns the credits to give back.
    fn take_refunds(&mut self, now: Instant) -> i64 {
        let mut refund = 0i64;
        let by_id = &mut self.by_id;
        self.unrefunded.retain(|id| match by_id.get_mut(id) {
            Some(g) if g.status(now) == Status::Failed => {
                if !g.refunded {
                    g.refunded = true;
                    refund = refund.saturating_add(g.cost);
                }
                false
            }
            Some(_) => true,
            None => false,
        });
        refund
    }
}

/// Refund the generations that have failed by now.
pub(crate) fn settle(shared: &Shared, now: Instant) {
    let refund = lock(&shared.sv.store).take_refunds(now);
    if refund != 0 {
        shared.update_config(|c| c.sv_credits = c.sv_credits.saturating_add(refund));
    }
}

/// Nominal pixel size of an image output.
fn image_size(input: &Map<String, Value>) -> (u64, u64) {
    if let Some((w, h)) = input
        .get("size")
        .and_then(Value::as_str)
        .and_then(|s| s.split_once('x'))
        && let (Ok(w), Ok(h)) = (w.parse::<u64>(), h.parse::<u64>())
    {
        return (w, h);
    }
    let base: u64 = match input.get("resolution").and_then(Value::as_str) {
        Some("2K") => 2048,
        Some("4K") => 4096,
        _ => 1024,
    };
    let (aw, ah) = input
        .get("aspect_ratio")
        .and_then(Value::as_str)
        .and_then(|s| s.split_once(':'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| *a > 0 && *b > 0)
        .unwrap_or((1, 1));
    if aw >= ah {
        (base, base * ah / aw)
    } else {
        (base * aw / ah, base)
    }
}

fn int_input(input: &Map<String, Value>, key: &str, default: i64) -> i64 {
    input.get(key).and_then(Value::as_i64).unwrap_or(default)
}

/// Register the result files on the CDN host and build the COMPLETED `data`.
fn register_output(
    shared: &Shared,
    id: &str,
    model: &Model,
    input: &Map<String, Value>,
    video_size: Option<u64>,
) -> Value {
    let cdn = crate::advertised(shared.cdn_addr);
    let n = usize::try_from(int_input(input, "n", 1).clamp(1, 4)).unwrap_or(1);
    let prompt = input.get("prompt").cloned().unwrap_or(Value::Null);
    let mut files = lock(&shared.files);
    match model.family {
        Family::Image => {
            let (width, height) = image_size(input);
            let images: Vec<Value> = (1..=n)
                .map(|i| {
                    let file_name = format!("{id}-{i}.png");
                    let path = format!("/files/sv/{id}/{file_name}");
                    files.insert(path.clone(), Blob::png());
                    json!({
                        "url": format!("http://{cdn}{path}"),
                        "file_name": file_name,
                        "content_type": "image/png",
                        "width": width,
                        "height": height,
                    })
                })
                .collect();
            let first = images.first().cloned().unwrap_or(Value::Null);
            json!({"type": "image", "n": n, "actual_prompt": prompt, "images": images, "image": first})
        }
        Family::Video => {
            let duration = int_input(input, "duration", 5);
            let videos: Vec<Value> = (1..=n)
                .map(|i| {
                    let file_name = format!("{id}-{i}.mp4");
                    let path = format!("/files/sv/{id}/{file_name}");
                    files.insert(path.clone(), Blob::Video(VideoLayout::new(video_size)));
                    json!({
                        "url": format!("http://{cdn}{path}"),
                        "file_name": file_name,
                        "content_type": "video/mp4",
                        "duration": duration,
                    })
                })
                .collect();
            let first = videos.first().cloned().unwrap_or(Value::Null);
            json!({"type": "video", "n": n, "actual_prompt": prompt, "videos": videos, "video": first})
        }
    }
}

/// What a new generation needs; `cost` has been charged by the caller.
pub(crate) struct NewGeneration {
    pub model: &'static Model,
    pub input: Map<String, Value>,
    pub cost: i64,
}

/// Create a generation (timing and `video_size` from the current config); returns its id.
pub(crate) fn create(shared: &Shared, new: NewGeneration, now: Instant) -> String {
    let config = shared.config();
    let id = format!("gen_{}", crate::ids::uuid_v4());
    let fail = new
        .input
        .get("prompt")
        .and_then(Value::as_str)
        .is_some_and(|p| p.to_ascii_lowercase().contains(FAIL_TOKEN));
    let output = if fail {
        Value::Null
    } else {
        register_output(shared, &id, new.model, &new.input, config.video_size)
    };
    let generation = Generation {
        id: id.clone(),
        model: new.model,
        input: new.input,
        cost: new.cost,
        created: now,
        pending: config.pending,
        running: config.running,
        fail,
        refunded: false,
        output,
    };
    lock(&shared.sv.store).insert(generation);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skillsvideo::models::resolve;

    fn gen_at(t0: Instant, fail: bool) -> Generation {
        Generation {
            id: "gen_1".into(),
            model: resolve("google/veo-3.1").expect("veo").0,
            input: Map::new(),
            cost: 100,
            created: t0,
            pending: Duration::from_millis(100),
            running: Duration::from_millis(200),
            fail,
            refunded: false,
            output: json!({"type": "video"}),
        }
    }

    #[test]
    fn status_over_time_and_words() {
        let t0 = Instant::now();
        let g = gen_at(t0, false);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(g.status(at(0)), Status::InQueue);
        assert_eq!(g.status(at(100)), Status::InProgress);
        assert_eq!(g.status(at(300)), Status::Completed);
        assert_eq!(g.to_json(at(50), false)["data"], Value::Null);
        assert_eq!(g.to_json(at(300), false)["data"]["type"], "video");
        assert_eq!(g.to_json(at(300), true)["status"], "succeeded");
        assert_eq!(g.to_json(at(150), true)["status"], "processing");
        assert_eq!(g.reaches(2), at(300));
    }

    #[test]
    fn failures_zero_usage_and_refund_once() {
        let t0 = Instant::now();
        let mut store = Store::default();
        store.insert(gen_at(t0, true));
        let failed = store
            .get("gen_1")
            .expect("gen")
            .to_json(t0 + Duration::from_secs(1), false);
        assert_eq!(failed["status"], "FAILED");
        assert_eq!(failed["code"], "VIDEO_GENERATION_FAILED");
        assert_eq!(failed["usage"]["total"], 0);
        assert_eq!(store.take_refunds(t0), 0);
        assert_eq!(store.running(t0, 50).len(), 1);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(store.take_refunds(later), 100);
        assert_eq!(store.take_refunds(later), 0);
        assert!(store.running(later, 50).is_empty());
    }

    #[test]
    fn nominal_image_sizes() {
        let m = |v: Value| v.as_object().cloned().expect("object");
        assert_eq!(image_size(&m(json!({}))), (1024, 1024));
        assert_eq!(
            image_size(&m(json!({"resolution": "2K", "aspect_ratio": "16:9"}))),
            (2048, 1152)
        );
        assert_eq!(image_size(&m(json!({"aspect_ratio": "3:4"}))), (768, 1024));
        assert_eq!(image_size(&m(json!({"size": "1536x1024"}))), (1536, 1024));
    }
}
