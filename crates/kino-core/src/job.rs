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
}

impl Job {
    /// The prompt, when the request has one (for listings).
    /// The user's words: the prompt, or a conversational platform's message.
    pub fn prompt(&self) -> Option<&str> {
        self.request
            .get("prompt")
            .or_else(|| self.request.get("message"))
            .and_then(Value::as_str)
    }

    pub fn fields(&self) -> Map<String, Value> {
        self.request.as_object().cloned().unwrap_or_default()
    }
}
