//! Task store and state machine.
//!
//! A task's status is a pure function of the time elapsed since it was created:
//! `PENDING` for `pending`, then `RUNNING` for `running`, then `SUCCEEDED` (or `FAILED` when the
//! prompt contains `sandbox:fail`). Cancelling a `PENDING` task freezes it at `CANCELED`.
//! Timings and the result size are captured at creation, so run-time config changes only affect
//! new tasks. Tasks older than 24 h are forgotten (queries answer `UNKNOWN`, like the real one).
//!
//! All wall-clock times are UTC (the real service uses China Standard Time without an offset;
//! clients cannot tell the difference beyond the 8-hour shift).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::rules;

/// Task data retention (contract §1.6).
pub(crate) const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The substring that makes a task fail.
pub(crate) const FAIL_MARKER: &str = "sandbox:fail";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Canceled => "CANCELED",
        }
    }
}

/// One submitted task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    pub model: String,
    pub accepted: rules::Accepted,
    pub fail: bool,
    pub created: Instant,
    pub submit_time: DateTime<Utc>,
    pub pending: Duration,
    pub running: Duration,
    pub video_size: Option<u64>,
    /// How long the result URL stays valid after the task ends (`Expires=`).
    pub url_validity: Duration,
    pub canceled_at: Option<DateTime<Utc>>,
    /// Random signature baked into the result URL.
    pub signature: String,
}

impl Task {
    pub(crate) fn status_at(&self, now: Instant) -> Status {
        if self.canceled_at.is_some() {
            return Status::Canceled;
        }
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.pending {
            Status::Pending
        } else if elapsed < self.pending + self.running {
            Status::Running
        } else if self.fail {
            Status::Failed
        } else {
            Status::Succeeded
        }
    }

    fn at_offset(&self, d: Duration) -> DateTime<Utc> {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| self.submit_time.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub(crate) fn end_time(&self, status: Status) -> Option<DateTime<Utc>> {
        match status {
            Status::Canceled => self.canceled_at,
            Status::Succeeded | Status::Failed => Some(self.at_offset(self.pending + self.running)),
            _ => None,
        }
    }

    /// The result file URL on the CDN host.
    pub(crate) fn video_url(&self, cdn: SocketAddr) -> String {
        let expires = self
            .end_time(Status::Succeeded)
            .unwrap_or(self.submit_time)
            .timestamp()
            + i64::try_from(self.url_validity.as_secs()).unwrap_or(i64::MAX / 2);
        format!(
            "http://{cdn}/results/{}.mp4?Expires={expires}&OSSAccessKeyId=sandbox&Signature={}",
            self.id, self.signature
        )
    }

    fn usage(&self) -> Value {
        let a = &self.accepted;
        if rules::legacy_usage(&self.model) {
            json!({"video_duration": a.duration, "video_count": 1, "SR": a.sr})
        } else {
            json!({
                "duration": a.duration,
                "input_video_duration": 0,
                "output_video_duration": a.duration,
                "video_count": 1,
                "SR": a.sr,
                "ratio": a.ratio,
            })
        }
    }

    /// The body of `GET /tasks/{id}` (without `request_id`): `{"output":…, "usage"?:…}`.
    pub(crate) fn query_body(&self, now: Instant, cdn: SocketAddr) -> Value {
        let status = self.status_at(now);
        let mut output = serde_json::Map::new();
        output.insert("task_id".into(), json!(self.id));
        output.insert("task_status".into(), json!(status.as_str()));
        output.insert("submit_time".into(), json!(format_time(self.submit_time)));
        if matches!(status, Status::Running | Status::Succeeded | Status::Failed) {
            output.insert(
                "scheduled_time".into(),
                json!(format_time(self.at_offset(self.pending))),
            );
        }
        if let Some(end) = self.end_time(status) {
            output.insert("end_time".into(), json!(format_time(end)));
        }
        let mut body = serde_json::Map::new();
        match status {
            Status::Succeeded => {
                output.insert(
                    "orig_prompt".into(),
                    json!(self.accepted.prompt.clone().unwrap_or_default()),
                );
                let url = self.video_url(cdn);
                if rules::url_in_results(&self.model) {
                    output.insert("results".into(), json!([{ "url": url }]));
                } else {
                    output.insert("video_url".into(), json!(url));
                }
                body.insert("output".into(), Value::Object(output));
                body.insert("usage".into(), self.usage());
            }
            Status::Failed => {
                output.insert("code".into(), json!("DataInspectionFailed"));
                output.insert(
                    "message".into(),
                    json!("Output data may contain inappropriate content."),
                );
                body.insert("output".into(), Value::Object(output));
            }
            _ => {
                body.insert("output".into(), Value::Object(output));
            }
        }
        Value::Object(body)
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm`.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// Outcome of a cancel request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CancelOutcome {
    Canceled,
    NotPending(Status),
    Unknown,
}

/// All tasks, in creation order.
#[derive(Debug, Default)]
pub(crate) struct TaskStore {
    tasks: HashMap<String, Task>,
    order: Vec<String>,
}

impl TaskStore {
    pub(crate) fn insert(&mut self, task: Task) {
        self.prune(Instant::now());
        self.order.push(task.id.clone());
        self.tasks.insert(task.id.clone(), task);
    }

    /// Drop tasks past the retention period.
    fn prune(&mut self, now: Instant) {
        let expired = |t: &Task| now.saturating_duration_since(t.created) > RETENTION;
        if self
            .order
            .first()
            .and_then(|id| self.tasks.get(id))
            .is_some_and(expired)
        {
            let tasks = &mut self.tasks;
            self.order.retain(|id| match tasks.get(id) {
                Some(t) if expired(t) => {
                    tasks.remove(id);
                    false
                }
                Some(_) => true,
                None => false,
            });
        }
    }

    /// Forget a task as the retention period would: queries answer `UNKNOWN` from now on.
    pub(crate) fn forget(&mut self, id: &str) -> bool {
        self.order.retain(|o| o != id);
        self.tasks.remove(id).is_some()
    }

    /// A live (not expired) task.
    pub(crate) fn get(&self, id: &str, now: Instant) -> Option<&Task> {
        self.tasks
            .get(id)
            .filter(|t| now.saturating_duration_since(t.created) <= RETENTION)
    }

    pub(crate) fn cancel(&mut self, id: &str, now: Instant) -> CancelOutcome {
        let Some(task) = self
            .tasks
            .get_mut(id)
            .filter(|t| now.saturating_duration_since(t.created) <= RETENTION)
        else {
            return CancelOutcome::Unknown;
        };
        match task.status_at(now) {
            Status::Pending => {
                task.canceled_at = Some(Utc::now());
                CancelOutcome::Canceled
            }
            other => CancelOutcome::NotPending(other),
        }
    }

    /// Live tasks, newest first.
    pub(crate) fn newest_first(&self, now: Instant) -> impl Iterator<Item = &Task> {
        self.order
            .iter()
            .rev()
            .filter_map(move |id| self.get(id, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, model: &str, prompt: &str, pending_ms: u64, running_ms: u64) -> Task {
        Task {
            id: id.into(),
            model: model.into(),
            accepted: rules::Accepted {
                prompt: Some(prompt.into()),
                duration: 5,
                sr: 720,
                ratio: "16:9".into(),
            },
            fail: prompt.contains(FAIL_MARKER),
            created: Instant::now(),
            submit_time: Utc::now(),
            pending: Duration::from_millis(pending_ms),
            running: Duration::from_millis(running_ms),
            video_size: None,
            url_validity: Duration::from_secs(24 * 3600),
            canceled_at: None,
            signature: "sig".into(),
        }
    }

    fn cdn() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[test]
    fn status_follows_elapsed_time() {
        let t = task("a", "wan2.6-t2v", "cat", 100, 200);
        let at = |ms| t.created + Duration::from_millis(ms);
        assert_eq!(t.status_at(at(0)), Status::Pending);
        assert_eq!(t.status_at(at(99)), Status::Pending);
        assert_eq!(t.status_at(at(100)), Status::Running);
        assert_eq!(t.status_at(at(299)), Status::Running);
        assert_eq!(t.status_at(at(300)), Status::Succeeded);
        let f = task("b", "wan2.6-t2v", "x sandbox:fail y", 0, 0);
        assert_eq!(f.status_at(f.created), Status::Failed);
    }

    #[test]
    fn query_body_shapes() {
        let t = task("a", "wan2.6-t2v", "cat", 100, 200);
        let pending = t.query_body(t.created, cdn());
        assert_eq!(pending["output"]["task_status"], "PENDING");
        assert!(pending["output"].get("scheduled_time").is_none());
        assert_eq!(
            pending["output"]["submit_time"].as_str().map(str::len),
            Some(23)
        );

        let running = t.query_body(t.created + Duration::from_millis(150), cdn());
        assert!(running["output"]["scheduled_time"].is_string());
        assert!(running["output"].get("end_time").is_none());

        let done = t.query_body(t.created + Duration::from_millis(300), cdn());
        assert_eq!(done["output"]["orig_prompt"], "cat");
        let url = done["output"]["video_url"].as_str().expect("video_url");
        assert!(url.starts_with("http://127.0.0.1:9/results/a.mp4?Expires="));
        assert_eq!(done["usage"]["output_video_duration"], 5);
        assert_eq!(done["usage"]["ratio"], "16:9");

        let old = task("o", "wan2.2-t2v-plus", "cat", 0, 0);
        let body = old.query_body(old.created, cdn());
        assert_eq!(
            body["usage"],
            json!({"video_duration":5,"video_count":1,"SR":720})
        );

        let new = task("n", "wan2.7-t2v", "cat", 0, 0);
        let body = new.query_body(new.created, cdn());
        assert!(body["output"].get("video_url").is_none());
        assert!(body["output"]["results"][0]["url"].is_string());

        let f = task("f", "wan2.6-t2v", "sandbox:fail", 0, 0);
        let body = f.query_body(f.created, cdn());
        assert_eq!(body["output"]["code"], "DataInspectionFailed");
        assert!(body.get("usage").is_none());
        assert!(body["output"].get("video_url").is_none());
        assert!(body["output"]["end_time"].is_string());
    }

    #[test]
    fn cancel_only_while_pending() {
        let mut store = TaskStore::default();
        store.insert(task("p", "wan2.6-t2v", "cat", 60_000, 0));
        store.insert(task("r", "wan2.6-t2v", "cat", 0, 60_000));
        let now = Instant::now();
        assert_eq!(store.cancel("p", now), CancelOutcome::Canceled);
        assert_eq!(
            store.cancel("p", now),
            CancelOutcome::NotPending(Status::Canceled)
        );
        assert_eq!(
            store.cancel("r", now),
            CancelOutcome::NotPending(Status::Running)
        );
        assert_eq!(store.cancel("zz", now), CancelOutcome::Unknown);
        let later = now + Duration::from_secs(120);
        assert_eq!(
            store.get("p", later).map(|t| t.status_at(later)),
            Some(Status::Canceled)
        );
        let ids: Vec<_> = store.newest_first(now).map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["r", "p"]);
        assert!(
            store
                .get("p", now + RETENTION + Duration::from_secs(1))
                .is_none()
        );
    }
}
