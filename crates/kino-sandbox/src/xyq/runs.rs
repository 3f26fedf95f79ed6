//! Threads, runs and the scripted entry list of a run.
//!
//! A run's progress is a pure function of the time since it was created: entry `i` appears at
//! `created + (i+1)·step`; the state is 1 (Submitted) before the first entry, then the state the
//! last visible entry implies (2 Working after the acknowledgement, 7 Generating during progress
//! and results), and the terminal state once every entry is out (3, 4, 5, 6 or 9).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::conversation::{self, Lang, ResultFiles, Scenario};
use crate::ids;

pub(crate) const SUBMITTED: u8 = 1;
pub(crate) const WORKING: u8 = 2;
pub(crate) const COMPLETED: u8 = 3;
pub(crate) const FAILED: u8 = 4;
pub(crate) const CANCELED: u8 = 5;
pub(crate) const INPUT_REQUIRED: u8 = 6;
pub(crate) const GENERATING: u8 = 7;
pub(crate) const HITL_INTERRUPT: u8 = 9;

pub(crate) const TEXT: &str = "biz/x_data_prompt_text";
pub(crate) const VIDEO: &str = "biz/x_data_video";
pub(crate) const IMAGE: &str = "biz/x_data_image";

/// One run: a fixed script revealed over time.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: String,
    created: Instant,
    step: Duration,
    /// Entry bodies (`{"message":…}` / `{"artifact":…}`) and the state once each is out.
    entries: Vec<(Value, u8)>,
    terminal: u8,
    fail_reason: Option<String>,
}

fn text_item(text: &str) -> Value {
    json!({"sub_type": TEXT, "data": text})
}

fn message_entry(text: &str, tool_calls: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("message_id".into(), json!(ids::uuid_v4()));
    m.insert("role".into(), json!("assistant"));
    m.insert("content".into(), json!([text_item(text)]));
    if let Some(calls) = tool_calls {
        m.insert("client_tool_calls".into(), calls);
    }
    json!({"message": Value::Object(m)})
}

fn artifact(content: Vec<Value>) -> Value {
    json!({"artifact": {
        "artifact_id": ids::uuid_v4(),
        "role": "assistant",
        "content": content,
    }})
}

/// `data` of a `biz/x_data_*` item that is a JSON-encoded string.
fn encoded(v: &Value) -> Value {
    Value::String(v.to_string())
}

impl Run {
    /// Build the script for `message`. `results` must be given for [`Scenario::Results`].
    pub(crate) fn new(
        message: &str,
        step: Duration,
        results: Option<ResultFiles>,
        now: Instant,
    ) -> Self {
        let lang = Lang::of(message);
        let scenario = Scenario::parse(message);
        let progress = || {
            message_entry(
                lang.progress(),
                Some(json!([{"name": "generate_video", "arguments": "{}"}])),
            )
        };
        let mut entries = vec![(message_entry(lang.ack(), None), WORKING)];
        let mut fail_reason = None;
        let terminal = match (scenario, &results) {
            (Scenario::Question { hitl }, _) => {
                entries.push((message_entry(lang.question(), None), WORKING));
                if hitl { HITL_INTERRUPT } else { INPUT_REQUIRED }
            }
            (Scenario::Fail, _) => {
                entries.push((progress(), GENERATING));
                let error = json!({"error_message": "生成失败", "error_code": "11001"});
                entries.push((
                    artifact(vec![json!({"sub_type": VIDEO, "data": encoded(&error)})]),
                    GENERATING,
                ));
                fail_reason = Some(lang.failed().to_owned());
                FAILED
            }
            (Scenario::Cancel, _) => {
                entries.push((progress(), GENERATING));
                entries.push((message_entry(lang.canceled(), None), GENERATING));
                CANCELED
            }
            (Scenario::Results, Some(files)) => {
                entries.push((progress(), GENERATING));
                let image = json!({"image": {"download_url": files.image_url}});
                entries.push((
                    artifact(vec![json!({"sub_type": IMAGE, "data": image})]),
                    GENERATING,
                ));
                let video = json!({"video": {
                    "download_url": files.video_url,
                    "title": "kino_sandbox_video",
                    "vid": format!("v0{}", ids::token(16).to_ascii_lowercase()),
                    "asset_id": ids::uuid_v4().replace('-', ""),
                }});
                entries.push((
                    artifact(vec![
                        text_item(message),
                        json!({"sub_type": VIDEO, "data": encoded(&video)}),
                    ]),
                    GENERATING,
                ));
                COMPLETED
            }
            (Scenario::Results, None) => {
                fail_reason = Some(lang.failed().to_owned());
                FAILED
            }
        };
        Self {
            id: ids::uuid_v4(),
            created: now,
            step,
            entries,
            terminal,
            fail_reason,
        }
    }

    fn visible(&self, now: Instant) -> usize {
        conversation::visible(self.created, self.step, self.entries.len(), now)
    }

    pub(crate) fn state(&self, now: Instant) -> u8 {
        let n = self.visible(now);
        if n == self.entries.len() {
            self.terminal
        } else if n == 0 {
            SUBMITTED
        } else {
            self.entries[n - 1].1
        }
    }

    /// The run as get_thread shows it: entries with `seq >= after_seq`; no `entry_list` key while
    /// the run has no entries; `fail_reason` once failed.
    pub(crate) fn to_json(&self, thread_id: &str, after_seq: u64, now: Instant) -> Value {
        let n = self.visible(now);
        let state = self.state(now);
        let mut run = Map::new();
        run.insert("run_id".into(), json!(self.id));
        run.insert("thread_id".into(), json!(thread_id));
        run.insert("state".into(), json!(state));
        if n > 0 {
            let list: Vec<Value> = self.entries[..n]
                .iter()
                .enumerate()
                .filter(|(seq, _)| *seq as u64 >= after_seq)
                .map(|(seq, (body, _))| {
                    let mut entry = Map::new();
                    entry.insert("seq".into(), json!(seq));
                    if let Value::Object(fields) = body {
                        entry.extend(fields.clone());
                    }
                    Value::Object(entry)
                })
                .collect();
            run.insert("entry_list".into(), Value::Array(list));
        }
        if state == FAILED
            && let Some(reason) = &self.fail_reason
        {
            run.insert("fail_reason".into(), json!(reason));
        }
        Value::Object(run)
    }
}

/// One conversation thread; runs oldest first.
#[derive(Debug, Default)]
pub(crate) struct Thread {
    pub runs: Vec<Run>,
}

#[derive(Debug, Default)]
pub(crate) struct ThreadStore {
    threads: HashMap<String, Thread>,
}

impl ThreadStore {
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.threads.contains_key(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Thread> {
        self.threads.get(id)
    }

    /// Append `run` to thread `id`, creating the thread if absent.
    pub(crate) fn push_run(&mut self, id: &str, run: Run) {
        self.threads
            .entry(id.to_owned())
            .or_default()
            .runs
            .push(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> ResultFiles {
        ResultFiles {
            image_url: "http://cdn/i.png".into(),
            video_url: "http://cdn/v.mp4".into(),
            image_preview_url: "http://cdn/ip.png".into(),
            video_preview_url: "http://cdn/vp.mp4".into(),
        }
    }

    const S: Duration = Duration::from_millis(100);

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn results_run_progresses_and_delivers() {
        let t0 = Instant::now();
        let run = Run::new("a cat", S, Some(files()), t0);
        let states: Vec<u8> = [0, 100, 200, 300, 400, 5000]
            .iter()
            .map(|ms| run.state(t0 + at(*ms)))
            .collect();
        assert_eq!(states, [1, 2, 7, 7, 3, 3]);
        let early = run.to_json("t", 0, t0);
        assert!(early.get("entry_list").is_none());
        assert_eq!(early["state"], 1);
        let done = run.to_json("t", 0, t0 + at(400));
        let list = done["entry_list"].as_array().expect("entries");
        assert_eq!(list.len(), 4);
        assert_eq!(list[0]["seq"], 0);
        assert!(list[0]["message"]["content"][0]["data"].is_string());
        assert!(list[1]["message"]["client_tool_calls"].is_array());
        assert_eq!(list[2]["artifact"]["content"][0]["sub_type"], IMAGE);
        assert_eq!(
            list[2]["artifact"]["content"][0]["data"]["image"]["download_url"],
            "http://cdn/i.png"
        );
        let video = &list[3]["artifact"]["content"][1];
        assert_eq!(video["sub_type"], VIDEO);
        let decoded: Value =
            serde_json::from_str(video["data"].as_str().expect("string data")).expect("json");
        assert_eq!(decoded["video"]["download_url"], "http://cdn/v.mp4");
        // after_seq filters (seq >= after_seq).
        let tail = run.to_json("t", 3, t0 + at(400));
        assert_eq!(tail["entry_list"].as_array().map(Vec::len), Some(1));
        assert_eq!(tail["entry_list"][0]["seq"], 3);
        assert!(done.get("fail_reason").is_none());
    }

    #[test]
    fn terminal_states_per_scenario() {
        let t0 = Instant::now();
        let late = t0 + Duration::from_secs(5);
        let q = Run::new("sandbox:question cat", S, None, t0);
        assert_eq!(q.state(late), INPUT_REQUIRED);
        let last = q.to_json("t", 0, late);
        let text = last["entry_list"][1]["message"]["content"][0]["data"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(text.contains('?'));
        assert_eq!(
            Run::new("sandbox:hitl", S, None, t0).state(late),
            HITL_INTERRUPT
        );
        assert_eq!(
            Run::new("sandbox:cancel", S, None, t0).state(late),
            CANCELED
        );
        let f = Run::new("sandbox:fail", S, None, t0);
        assert_eq!(f.state(late), FAILED);
        let json = f.to_json("t", 0, late);
        assert!(json["fail_reason"].is_string());
        assert_eq!(
            json["entry_list"][2]["artifact"]["content"][0]["data"],
            r#"{"error_message":"生成失败","error_code":"11001"}"#
        );
        assert!(f.to_json("t", 0, t0 + at(150)).get("fail_reason").is_none());
    }
}
