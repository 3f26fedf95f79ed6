//! Render tasks and their state machine: `not_send → waiting → processing → finished` (or
//! `error` for a `sandbox:fail` segment), one `step` per state, computed from the creation
//! instant on each read; `cancel` freezes a task that has not ended yet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::envelope;

/// `data.error_reason` of a failed task (the seed's wording).
pub(crate) const FAIL_REASON: &str = "合成任务失败，请重新发起或联系客服处理";

/// `synth_state` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SynthState {
    NotSend,
    Waiting,
    Processing,
    Finished,
    Error,
    Cancel,
}

impl SynthState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SynthState::NotSend => "not_send",
            SynthState::Waiting => "waiting",
            SynthState::Processing => "processing",
            SynthState::Finished => "finished",
            SynthState::Error => "error",
            SynthState::Cancel => "cancel",
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            SynthState::Finished | SynthState::Error | SynthState::Cancel
        )
    }
}

/// What `create_render_task` echoes back.
#[derive(Clone, Debug)]
pub(crate) struct Echo {
    pub video_name: String,
    pub look_name: String,
    pub tts_vcn_name: String,
    pub studio_name: String,
    pub sub_title: Value,
    /// Items as received plus `media_id`.
    pub segment: Vec<Value>,
}

/// CDN URLs of a task.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    pub video: String,
    pub image: String,
    pub preview: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: i64,
    name: String,
    created: Instant,
    /// Creation time on the (skewed) sandbox clock.
    created_wall: DateTime<Utc>,
    step: Duration,
    fail: bool,
    /// Time since creation at which the task was canceled.
    canceled_after: Option<Duration>,
    echo: Echo,
    pub urls: Urls,
}

/// How many steps have passed (0..=3) after `elapsed`.
fn phase(step: Duration, elapsed: Duration) -> u32 {
    if step.is_zero() {
        return 3;
    }
    let k = elapsed.as_nanos() / step.as_nanos();
    u32::try_from(k.min(3)).unwrap_or(3)
}

impl Task {
    pub(crate) fn new(
        id: i64,
        now: Instant,
        now_wall: DateTime<Utc>,
        step: Duration,
        fail: bool,
        echo: Echo,
        urls: Urls,
    ) -> Self {
        Self {
            id,
            name: crate::ids::uuid_v4().replace('-', ""),
            created: now,
            created_wall: now_wall,
            step,
            fail,
            canceled_after: None,
            echo,
            urls,
        }
    }

    fn offset_time(&self, offset: Duration) -> DateTime<Utc> {
        chrono::TimeDelta::from_std(offset)
            .ok()
            .and_then(|d| self.created_wall.checked_add_signed(d))
            .unwrap_or(self.created_wall)
    }

    fn steps(&self, k: u32) -> Duration {
        self.step.checked_mul(k).unwrap_or(Duration::MAX)
    }

    /// The state at `now` and the time since creation at which it was entered.
    pub(crate) fn state(&self, now: Instant) -> (SynthState, Duration) {
        if let Some(at) = self.canceled_after {
            return (SynthState::Cancel, at);
        }
        let k = phase(self.step, now.saturating_duration_since(self.created));
        let state = match k {
            0 => SynthState::NotSend,
            1 => SynthState::Waiting,
            2 => SynthState::Processing,
            _ if self.fail => SynthState::Error,
            _ => SynthState::Finished,
        };
        (state, self.steps(k))
    }

    /// Cancel at `now`; `Err(state)` when the task has already ended.
    pub(crate) fn cancel(&mut self, now: Instant) -> Result<(), SynthState> {
        let (state, _) = self.state(now);
        if state.is_terminal() {
            return Err(state);
        }
        self.canceled_after = Some(now.saturating_duration_since(self.created));
        Ok(())
    }

    /// `data` of `get_render_task`.
    pub(crate) fn to_json(&self, now: Instant) -> Value {
        let (state, entered) = self.state(now);
        // Steps reached: for a canceled task, those reached before the cancel.
        let reached = match self.canceled_after {
            Some(at) => phase(self.step, at),
            None => phase(self.step, now.saturating_duration_since(self.created)),
        };
        let time = |offset: Duration| envelope::iso(self.offset_time(offset));
        let start = (reached >= 1).then(|| time(self.steps(1)));
        let finish = (state == SynthState::Finished).then(|| time(self.steps(3)));
        let finished = state == SynthState::Finished;
        json!({
            "id": self.id,
            "task_id": self.id,
            "error_reason": if state == SynthState::Error { FAIL_REASON } else { "" },
            "create_time": time(Duration::ZERO),
            "update_time": time(entered),
            "enable": true,
            "name": self.name,
            "video_name": self.echo.video_name,
            "output_resolution": "540P",
            "look_name": self.echo.look_name,
            "tts_vcn_name": self.echo.tts_vcn_name,
            "studio_name": self.echo.studio_name,
            "sub_title": self.echo.sub_title,
            "synth_start_time": start,
            "synth_finish_time": finish,
            "synth_state": state.as_str(),
            "segment": self.echo.segment,
            "render_image_oss": finished.then(|| self.urls.image.clone()),
            "render_video_oss": finished.then(|| self.urls.video.clone()),
        })
    }
}

/// A parsed PPT, remembered for `create_render_task`.
#[derive(Clone, Debug)]
pub(crate) struct PptFile {
    /// The uploaded file's name.
    pub filename: String,
    pub size: u64,
}

/// Tasks by id, id counters and parsed PPTs.
#[derive(Debug)]
pub(crate) struct TaskStore {
    pub tasks: HashMap<i64, Task>,
    next_id: i64,
    next_media_id: i64,
    pub ppts: HashMap<String, PptFile>,
}

impl Default for TaskStore {
    fn default() -> Self {
        Self {
            tasks: HashMap::new(),
            next_id: 10_001,
            next_media_id: 123_338,
            ppts: HashMap::new(),
        }
    }
}

impl TaskStore {
    pub(crate) fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    pub(crate) fn next_media_id(&mut self) -> i64 {
        let id = self.next_media_id;
        self.next_media_id = self.next_media_id.saturating_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(fail: bool) -> (Task, Instant) {
        let t0 = Instant::now();
        let echo = Echo {
            video_name: "v".into(),
            look_name: "l".into(),
            tts_vcn_name: "t".into(),
            studio_name: "s".into(),
            sub_title: Value::Null,
            segment: vec![json!({"text": "你好， 世界", "media_id": 1})],
        };
        let urls = Urls {
            video: "http://cdn/v.mp4".into(),
            image: "http://cdn/i.png".into(),
            preview: "http://cdn/p.png".into(),
        };
        let t = Task::new(
            7,
            t0,
            Utc::now(),
            Duration::from_millis(100),
            fail,
            echo,
            urls,
        );
        (t, t0)
    }

    #[test]
    fn states_advance_one_step_each() {
        let (t, t0) = task(false);
        let at = |ms| t0 + Duration::from_millis(ms);
        let st = |ms| t.state(at(ms)).0;
        assert_eq!(st(0), SynthState::NotSend);
        assert_eq!(st(100), SynthState::Waiting);
        assert_eq!(st(250), SynthState::Processing);
        assert_eq!(st(300), SynthState::Finished);
        let v = t.to_json(at(50));
        assert!(v["render_video_oss"].is_null() && v["synth_start_time"].is_null());
        let v = t.to_json(at(1000));
        assert_eq!(v["synth_state"], "finished");
        assert_eq!(v["render_video_oss"], "http://cdn/v.mp4");
        assert_eq!(v["id"], 7);
        assert_eq!(v["task_id"], 7);
        assert_eq!(v["segment"][0]["text"], "你好， 世界");
        assert!(v["synth_finish_time"].is_string());
        assert_ne!(v["create_time"], v["update_time"]);
        let (failed, t0) = task(true);
        let v = failed.to_json(t0 + Duration::from_secs(1));
        assert_eq!(v["synth_state"], "error");
        assert_eq!(v["error_reason"], FAIL_REASON);
        assert!(v["render_video_oss"].is_null());
    }

    #[test]
    fn cancel_only_before_the_end() {
        let (mut t, t0) = task(false);
        assert_eq!(t.cancel(t0 + Duration::from_millis(150)), Ok(()));
        assert_eq!(t.state(t0 + Duration::from_secs(5)).0, SynthState::Cancel);
        assert_eq!(
            t.cancel(t0 + Duration::from_secs(5)),
            Err(SynthState::Cancel)
        );
        let v = t.to_json(t0 + Duration::from_secs(5));
        assert!(v["synth_start_time"].is_string());
        assert!(v["render_image_oss"].is_null());
        let (mut t, t0) = task(false);
        assert_eq!(
            t.cancel(t0 + Duration::from_secs(1)),
            Err(SynthState::Finished)
        );
    }
}
