//! Reading DashScope's responses (contracts §1.4, §1.5, §1.7), tolerant of every documented
//! variant: the video URL in `output.video_url` or `output.results`, `message` or `msg`, task
//! lists under `data` or `output`.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use kino_core::{ArtifactKind, ArtifactRef, Millis, PollOutcome, ProviderError, RemoteStatus};

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The error a non-2xx answer stands for. Messages come from the platform and never carry our key.
pub fn api_error(status: u16, body: &Value, retry_after: Option<Duration>) -> ProviderError {
    let code = text(body, "code").unwrap_or("Unknown").to_string();
    let message = text(body, "message")
        .or_else(|| text(body, "msg"))
        .map(str::to_string)
        .or_else(|| body.as_str().map(str::to_string))
        .unwrap_or_default();
    ProviderError::from_status(status, code, message, retry_after)
}

/// The task id of a submit response.
pub fn task_id(body: &Value) -> Option<String> {
    body.get("output")
        .and_then(|o| text(o, "task_id"))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Every video URL a SUCCEEDED task reports, in order, without duplicates.
fn video_urls(output: &Value) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let mut push = |u: Option<&str>| {
        if let Some(u) = u.filter(|u| !u.is_empty())
            && !urls.iter().any(|x| x == u)
        {
            urls.push(u.to_string());
        }
    };
    push(text(output, "video_url"));
    match output.get("results") {
        Some(Value::Array(items)) => {
            for item in items {
                push(text(item, "url").or_else(|| text(item, "video_url")));
            }
        }
        Some(obj @ Value::Object(_)) => push(text(obj, "video_url").or_else(|| text(obj, "url"))),
        _ => {}
    }
    urls
}

pub fn poll_outcome(body: &Value) -> Result<PollOutcome, ProviderError> {
    let output = body.get("output").ok_or_else(|| ProviderError::Protocol {
        message: "task response without `output`".into(),
    })?;
    let raw = text(output, "task_status")
        .ok_or_else(|| ProviderError::Protocol {
            message: "task response without `output.task_status`".into(),
        })?
        .to_ascii_uppercase();
    let mut artifacts = Vec::new();
    let status = match raw.as_str() {
        "PENDING" => RemoteStatus::Queued { position: None },
        "RUNNING" | "SUSPENDED" => RemoteStatus::Running { percent: None },
        "SUCCEEDED" => {
            artifacts = video_urls(output)
                .into_iter()
                .map(|url| ArtifactRef {
                    url,
                    kind: ArtifactKind::Video,
                })
                .collect();
            if artifacts.is_empty() {
                RemoteStatus::Failed {
                    code: None,
                    message: "the task SUCCEEDED but reported no video URL".into(),
                }
            } else {
                RemoteStatus::Succeeded
            }
        }
        "FAILED" => RemoteStatus::Failed {
            code: text(output, "code").map(str::to_string),
            message: text(output, "message")
                .unwrap_or("the task failed")
                .to_string(),
        },
        "CANCELED" => RemoteStatus::Canceled,
        "UNKNOWN" => RemoteStatus::Expired {
            message:
                "DashScope no longer knows this task (it does not exist, or is older than 24 h)"
                    .into(),
        },
        other => {
            return Err(ProviderError::Protocol {
                message: format!("unknown task_status `{other}`"),
            });
        }
    };
    let ran_for = matches!(status, RemoteStatus::Succeeded)
        .then(|| ran_for(output))
        .flatten();
    Ok(PollOutcome {
        artifacts,
        usage: body.get("usage").cloned(),
        ran_for,
        ..PollOutcome::status(status, raw)
    })
}

/// `end_time − submit_time` of a task: both in the platform's clock and zone, so the difference
/// holds whichever zone that is. Implausible spans (negative, beyond two days) are dropped.
fn ran_for(output: &Value) -> Option<std::time::Duration> {
    let at = |key| text(output, key).and_then(|t| instants(t).first().copied());
    let span = at("end_time")? - at("submit_time")?;
    (0..=48 * 3600 * 1000)
        .contains(&span)
        .then(|| std::time::Duration::from_millis(span.unsigned_abs()))
}

/// A task of a task-list page.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedTask {
    pub task_id: String,
    pub model: Option<String>,
    /// Candidate instants of the submit time: the platform's clock is CST (UTC+8) per its docs;
    /// a naive time is read both ways rather than guessed.
    pub submitted: Vec<Millis>,
}

/// The tasks of a task-list page; `None` when the body has no list kino recognises (a shape
/// change must not read as "no such task").
pub fn listed_tasks(body: &Value) -> Option<Vec<ListedTask>> {
    let items = [
        body.get("data"),
        body.get("output").and_then(|o| o.get("data")),
        body.get("tasks"),
        body.get("output").and_then(|o| o.get("tasks")),
        body.get("data").and_then(|d| d.get("list")),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_array);
    let Some(items) = items else {
        let total = body
            .get("total")
            .or_else(|| body.get("output").and_then(|o| o.get("total")));
        return (total.and_then(Value::as_u64) == Some(0)).then(Vec::new);
    };
    Some(
        items
            .iter()
            .filter_map(|item| {
                let task_id = text(item, "task_id")
                    .or_else(|| text(item, "id"))?
                    .to_string();
                let model = text(item, "model_name")
                    .or_else(|| text(item, "model"))
                    .map(str::to_string);
                let time = ["submit_time", "gmt_create", "create_time"]
                    .iter()
                    .find_map(|k| item.get(*k));
                Some(ListedTask {
                    task_id,
                    model,
                    submitted: time.map(time_instants).unwrap_or_default(),
                })
            })
            .collect(),
    )
}

/// A listed time as text (see [`instants`]) or as epoch seconds or milliseconds.
fn time_instants(v: &Value) -> Vec<Millis> {
    match v {
        Value::String(s) => instants(s),
        Value::Number(n) => match n.as_i64() {
            Some(t) if t > 100_000_000_000 => vec![t],
            Some(t) => vec![t * 1000],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `YYYY-MM-DD HH:MM:SS[.mmm]` (or RFC 3339) as UTC and as CST.
fn instants(s: &str) -> Vec<Millis> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return vec![t.timestamp_millis()];
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S"));
    match naive {
        Ok(n) => {
            let utc = Utc.from_utc_datetime(&n).timestamp_millis();
            vec![utc, utc - 8 * 3600 * 1000]
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_success_says_how_long_it_ran_by_the_platform_clock() {
        let body = json!({"output":{"task_id":"t","task_status":"SUCCEEDED",
            "submit_time":"2025-09-25 11:07:28.590","scheduled_time":"2025-09-25 11:07:35.349",
            "end_time":"2025-09-25 11:17:11.650","video_url":"https://a/v.mp4"}});
        let out = poll_outcome(&body).ok();
        assert_eq!(
            out.and_then(|o| o.ran_for),
            Some(std::time::Duration::from_millis(583_060))
        );
        // No end, a running task, or an end before the start: nothing is learned.
        for output in [
            json!({"task_id":"t","task_status":"SUCCEEDED","submit_time":"2025-09-25 11:07:28.590","video_url":"https://a/v.mp4"}),
            json!({"task_id":"t","task_status":"RUNNING","submit_time":"2025-09-25 11:07:28.590","end_time":"2025-09-25 11:17:11.650"}),
            json!({"task_id":"t","task_status":"SUCCEEDED","submit_time":"2025-09-25 11:17:28.590","end_time":"2025-09-25 11:07:11.650","video_url":"https://a/v.mp4"}),
        ] {
            let out = poll_outcome(&json!({ "output": output })).ok();
            assert_eq!(out.and_then(|o| o.ran_for), None, "{output}");
        }
    }

    #[test]
    fn video_url_in_either_place() {
        let a = json!({"output":{"task_id":"t","task_status":"SUCCEEDED","video_url":"https://a/v.mp4?Expires=1"}});
        let b = json!({"output":{"task_id":"t","task_status":"SUCCEEDED","results":[{"url":"https://b/v.mp4"}]}});
        let c = json!({"output":{"task_id":"t","task_status":"SUCCEEDED","results":{"video_url":"https://c/v.mp4"}}});
        for (body, want) in [
            (a, "https://a/v.mp4?Expires=1"),
            (b, "https://b/v.mp4"),
            (c, "https://c/v.mp4"),
        ] {
            let out = poll_outcome(&body).ok();
            assert_eq!(
                out.as_ref().map(|o| o.status.clone()),
                Some(RemoteStatus::Succeeded)
            );
            assert_eq!(
                out.map(|o| o.artifacts[0].url.clone()).as_deref(),
                Some(want)
            );
        }
    }

    #[test]
    fn unknown_is_expired_and_failed_carries_code() {
        let u = poll_outcome(&json!({"output":{"task_id":"x","task_status":"UNKNOWN"}})).ok();
        assert!(matches!(
            u.map(|o| o.status),
            Some(RemoteStatus::Expired { .. })
        ));
        let f = poll_outcome(
            &json!({"output":{"task_status":"FAILED","code":"DataInspectionFailed","message":"m"}}),
        )
        .ok();
        assert_eq!(
            f.map(|o| o.status),
            Some(RemoteStatus::Failed {
                code: Some("DataInspectionFailed".into()),
                message: "m".into()
            })
        );
    }

    #[test]
    fn errors_map_to_kinds() {
        let e = api_error(
            401,
            &json!({"code":"InvalidApiKey","message":"Invalid API-key provided."}),
            None,
        );
        assert!(matches!(e, ProviderError::Auth { status: 401, .. }));
        let e = api_error(
            400,
            &json!({"code":"InvalidParameter","msg":"Model not exist."}),
            None,
        );
        assert_eq!(
            e.to_string(),
            "the platform rejected the request (HTTP 400 InvalidParameter): Model not exist."
        );
        assert!(api_error(503, &Value::Null, None).is_retryable());
    }

    #[test]
    fn task_lists_in_several_shapes() {
        let a = json!({"data":[{"task_id":"1","model_name":"wan2.6-t2v","submit_time":"2026-01-01 00:00:00.000"}]});
        let b = json!({"output":{"data":[{"task_id":"2","model":"m"}]}});
        assert_eq!(listed_tasks(&a).map(|t| t[0].submitted.len()), Some(2));
        assert_eq!(
            listed_tasks(&b).map(|t| t[0].task_id.clone()).as_deref(),
            Some("2")
        );
        let c = json!({"data":[{"task_id":"3","gmt_create":1_700_000_000}]});
        assert_eq!(
            listed_tasks(&c).map(|t| t[0].submitted.clone()),
            Some(vec![1_700_000_000_000])
        );
        assert_eq!(listed_tasks(&json!({"total":0})), Some(Vec::new()));
        assert_eq!(
            listed_tasks(&json!({"request_id":"x"})),
            None,
            "an unknown shape is not an empty list"
        );
    }
}
