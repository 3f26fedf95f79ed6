use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use crate::{JobId, JobState, Millis};

/// What a user asks for, before a provider has validated it: the flat request of the seed scripts
/// (prompt, size, img_url, …), plus an optional explicit mode and model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobRequest {
    pub mode: Option<String>,
    pub model: Option<String>,
    pub fields: Map<String, Value>,
}

impl JobRequest {
    /// The request of the service faces (REST, MCP): other fields as given, and the prompt, when
    /// there is one, in `prompt`, where it wins over a `prompt` inside `fields`.
    pub fn from_parts(
        mode: Option<String>,
        model: Option<String>,
        mut fields: Map<String, Value>,
        prompt: Option<String>,
    ) -> Self {
        if let Some(p) = prompt {
            fields.insert("prompt".into(), Value::String(p));
        }
        Self {
            mode,
            model,
            fields,
        }
    }
}

/// Request fields to use when a request leaves them out: kino.toml `[defaults.PROVIDER]`, and
/// a profile's `[profiles.NAME.defaults.PROVIDER]` over them. What the request gives always wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestDefaults {
    /// By provider.
    pub common: HashMap<String, Map<String, Value>>,
    /// By profile, then provider.
    pub profiles: HashMap<String, HashMap<String, Map<String, Value>>>,
}

impl RequestDefaults {
    /// The request with the defaults of `provider` (under `profile`) filled in where it has no
    /// value. `mode` and `model` fill the request's own slots, every other key a field.
    pub fn apply(&self, provider: &str, profile: Option<&str>, request: &JobRequest) -> JobRequest {
        let mut out = request.clone();
        let layers = [
            profile
                .and_then(|p| self.profiles.get(p))
                .and_then(|m| m.get(provider)),
            self.common.get(provider),
        ];
        for layer in layers.into_iter().flatten() {
            for (key, value) in layer {
                match key.as_str() {
                    "mode" | "model" => {
                        let slot = if key == "mode" {
                            &mut out.mode
                        } else {
                            &mut out.model
                        };
                        if slot.is_none()
                            && let Some(v) = value.as_str()
                        {
                            *slot = Some(v.to_string());
                        }
                    }
                    _ => {
                        out.fields
                            .entry(key.clone())
                            .or_insert_with(|| value.clone());
                    }
                }
            }
        }
        out
    }
}

/// A job about to be recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub provider: String,
    pub mode: String,
    pub model: String,
    /// The validated flat request (local paths made absolute).
    pub request: Value,
    pub out_dir: Option<String>,
    pub prefix: Option<String>,
    /// The process that records the job and means to send it holds it from the first moment,
    /// so a worker woken by the insert does not take it from under it: owner and until (ms).
    pub lease: Option<(String, Millis)>,
    /// The kino.toml profile whose account sends it; `None` is the environment's account. Every
    /// later step uses the same account, because a task id belongs to the account that made it.
    pub profile: Option<String>,
}

/// A job as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    #[serde(rename = "job_id")]
    pub id: JobId,
    pub provider: String,
    pub mode: String,
    pub model: String,
    pub state: JobState,
    /// The platform's handle (DashScope task_id; Xiaoyunque thread and run; LibTV session) once known.
    pub handle: Option<String>,
    /// Where a person can watch the job on the platform.
    pub web_link: Option<String>,
    /// How far the conversation has been read (conversational platforms).
    pub cursor: Option<String>,
    pub request: Value,
    /// The exact body sent (or about to be), once built.
    pub wire: Option<Value>,
    pub out_dir: Option<String>,
    pub prefix: Option<String>,
    pub error: Option<String>,
    pub usage: Option<Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub submitted_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// How many times a create request was sent (0 or 1 unless the platform refused outright).
    pub attempts: i64,
    pub next_poll_at: Option<Millis>,
    #[serde(skip)]
    pub lease_owner: Option<String>,
    #[serde(skip)]
    pub lease_until: Option<Millis>,
    /// The kino.toml profile whose account the job belongs to (`None`: the environment's).
    /// `default` keeps exports written before profiles readable.
    #[serde(default)]
    pub profile: Option<String>,
}

/// The user's words in a request: the prompt, or a conversational platform's message.
pub fn words(request: &Map<String, Value>) -> Option<&str> {
    ["prompt", "message"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_str))
}

impl Job {
    /// The user's words (for listings): the prompt, or a conversational platform's message.
    pub fn prompt(&self) -> Option<&str> {
        self.request.as_object().and_then(words)
    }

    pub fn fields(&self) -> Map<String, Value> {
        self.request.as_object().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod defaults_tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_request_wins_then_the_profile_then_the_common_defaults() {
        let mut d = RequestDefaults::default();
        d.common.insert(
            "dashscope".into(),
            map(json!({"model": "wan2.6-t2v", "duration": 5, "size": "1280*720"})),
        );
        let mut work = HashMap::new();
        work.insert("dashscope".into(), map(json!({"duration": 10})));
        d.profiles.insert("work".into(), work);
        let asked = JobRequest {
            mode: None,
            model: None,
            fields: map(json!({"prompt": "p", "size": "1920*1080"})),
        };
        let out = d.apply("dashscope", Some("work"), &asked);
        assert_eq!(out.model.as_deref(), Some("wan2.6-t2v"));
        assert_eq!(out.fields["duration"], 10);
        assert_eq!(out.fields["size"], "1920*1080");
        // Without the profile its defaults do not apply, and another provider gets nothing.
        assert_eq!(d.apply("dashscope", None, &asked).fields["duration"], 5);
        assert_eq!(d.apply("xyq", Some("work"), &asked), asked);
        let explicit = JobRequest {
            model: Some("wan2.7-t2v".into()),
            ..asked
        };
        assert_eq!(
            d.apply("dashscope", None, &explicit).model.as_deref(),
            Some("wan2.7-t2v")
        );
    }
}
