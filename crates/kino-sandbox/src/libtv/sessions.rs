//! Sessions and their message log.
//!
//! Messages get their `seq` (1, 2, … per session) when they come out. The user's message comes
//! out at once; the agent's scripted replies are queued one `step` apart after whatever the agent
//! still had queued (a session's turns are answered in order), and come out when due. Queued
//! messages are released lazily, on each access.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::conversation::{self, Lang, ResultFiles, Scenario};
use crate::ids;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
    Tool,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub id: String,
    pub role: Role,
    pub content: String,
    pub seq: u64,
}

impl Message {
    pub(crate) fn to_json(&self) -> Value {
        json!({"id": self.id, "role": self.role.as_str(), "content": self.content, "seq": self.seq})
    }
}

#[derive(Debug)]
struct Queued {
    due: Instant,
    role: Role,
    content: String,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub project: String,
    messages: Vec<Message>,
    queue: VecDeque<Queued>,
}

/// The agent's replies to one user message: (role, content) in order.
pub(crate) fn script(message: &str, results: Option<&ResultFiles>) -> Vec<(Role, String)> {
    let lang = Lang::of(message);
    let tool = |v: Value| (Role::Tool, v.to_string());
    let say = |s: &str| (Role::Assistant, s.to_owned());
    let running = || tool(json!({"status": "running", "progress": 40}));
    match (Scenario::parse(message), results) {
        (Scenario::Question { .. }, _) => vec![say(lang.ack()), say(lang.question())],
        (Scenario::Cancel, _) => vec![
            say(lang.ack()),
            running(),
            tool(json!({"status": "canceled"})),
            say(lang.canceled()),
        ],
        (Scenario::Results, Some(files)) => vec![
            say(lang.ack()),
            running(),
            tool(json!({
                "status": "succeeded",
                "progress": 100,
                "task_result": {
                    "images": [{"previewPath": files.image_preview_url, "url": files.image_url}],
                    "videos": [{"previewPath": files.video_preview_url, "url": files.video_url}],
                },
            })),
            say(lang.done()),
        ],
        (Scenario::Fail | Scenario::Results, _) => vec![
            say(lang.ack()),
            running(),
            tool(json!({"status": "failed", "message": lang.failed()})),
            say(lang.failed()),
        ],
    }
}

impl Session {
    pub(crate) fn new(project: String) -> Self {
        Self {
            project,
            messages: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    fn append(&mut self, role: Role, content: String) {
        let seq = self.messages.last().map_or(1, |m| m.seq + 1);
        self.messages.push(Message {
            id: format!("msg-{}", ids::uuid_v4()),
            role,
            content,
            seq,
        });
    }

    /// Release queued messages that are due.
    pub(crate) fn release(&mut self, now: Instant) {
        while self.queue.front().is_some_and(|q| q.due <= now) {
            if let Some(q) = self.queue.pop_front() {
                self.append(q.role, q.content);
            }
        }
    }

    /// Append the user's message and queue the agent's replies, one `step` apart.
    pub(crate) fn send(
        &mut self,
        message: &str,
        replies: Vec<(Role, String)>,
        step: Duration,
        now: Instant,
    ) {
        self.release(now);
        self.append(Role::User, message.to_owned());
        let start = self.queue.back().map_or(now, |q| q.due.max(now));
        for (i, (role, content)) in replies.into_iter().enumerate() {
            self.queue.push_back(Queued {
                due: conversation::due(start, step, i),
                role,
                content,
            });
        }
    }

    /// Messages with `seq > after` (after releasing due ones).
    pub(crate) fn messages_after(&mut self, after: i64, now: Instant) -> Vec<Value> {
        self.release(now);
        self.messages
            .iter()
            .filter(|m| i128::from(m.seq) > i128::from(after))
            .map(Message::to_json)
            .collect()
    }
}

/// Sessions by id and each key's current project.
#[derive(Debug, Default)]
pub(crate) struct SessionStore {
    pub sessions: HashMap<String, Session>,
    projects: HashMap<String, String>,
}

/// A new 32-hex project uuid.
fn new_project() -> String {
    ids::uuid_v4().replace('-', "")
}

impl SessionStore {
    /// The key's current project, created on first use.
    pub(crate) fn project_of(&mut self, key: &str) -> String {
        self.projects
            .entry(key.to_owned())
            .or_insert_with(new_project)
            .clone()
    }

    /// Bind the key to a new project.
    pub(crate) fn change_project(&mut self, key: &str) -> String {
        let project = new_project();
        self.projects.insert(key.to_owned(), project.clone());
        project
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

    #[test]
    fn replies_come_out_over_time_with_increasing_seq() {
        let t0 = Instant::now();
        let step = Duration::from_millis(100);
        let mut s = Session::new("p".into());
        s.send("a cat", script("a cat", Some(&files())), step, t0);
        let first = s.messages_after(0, t0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["role"], "user");
        assert_eq!(first[0]["seq"], 1);
        let all = s.messages_after(0, t0 + Duration::from_millis(400));
        assert_eq!(all.len(), 5);
        let seqs: Vec<u64> = all.iter().filter_map(|m| m["seq"].as_u64()).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let result: Value =
            serde_json::from_str(all[3]["content"].as_str().expect("string")).expect("json");
        assert_eq!(result["status"], "succeeded");
        assert_eq!(
            result["task_result"]["videos"][0]["previewPath"],
            "http://cdn/vp.mp4"
        );
        assert_eq!(s.messages_after(4, t0 + Duration::from_secs(1)).len(), 1);
        assert_eq!(s.messages_after(-5, t0).len(), 5);
    }

    #[test]
    fn a_second_turn_queues_after_the_first() {
        let t0 = Instant::now();
        let step = Duration::from_millis(100);
        let mut s = Session::new("p".into());
        s.send(
            "q sandbox:question",
            script("q sandbox:question", None),
            step,
            t0,
        );
        // Reply before the question is out: the user message comes out now; the new replies
        // follow the first turn's.
        let t1 = t0 + Duration::from_millis(50);
        s.send("anime", script("anime", Some(&files())), step, t1);
        let now = s.messages_after(0, t1);
        assert_eq!(now.len(), 2);
        let later = s.messages_after(0, t0 + Duration::from_secs(5));
        let roles: Vec<&str> = later.iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(
            roles,
            [
                "user",
                "user",
                "assistant",
                "assistant",
                "assistant",
                "tool",
                "tool",
                "assistant"
            ]
        );
        let seqs: Vec<u64> = later.iter().filter_map(|m| m["seq"].as_u64()).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn failure_has_no_task_result() {
        let replies = script("sandbox:fail", None);
        let tool = replies
            .iter()
            .rfind(|(r, _)| *r == Role::Tool)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&tool).expect("json");
        assert_eq!(v["status"], "failed");
        assert!(v.get("task_result").is_none());
    }

    #[test]
    fn projects_per_key() {
        let mut store = SessionStore::default();
        let a = store.project_of("k");
        assert_eq!(a.len(), 32);
        assert_eq!(store.project_of("k"), a);
        let b = store.change_project("k");
        assert_ne!(a, b);
        assert_eq!(store.project_of("k"), b);
        assert_ne!(store.project_of("other"), b);
    }
}
