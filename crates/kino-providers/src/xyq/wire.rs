//! Reading Xiaoyunque's answers (contracts §3.3–§3.6): the string `ret` envelope, runs and their
//! entries, content whose `data` is plain text, a JSON object, or a JSON object in a string.

use serde_json::Value;

use kino_core::{ArtifactKind, ArtifactRef, ProviderError, RemoteMessage};

/// `data` of a successful envelope, or the error it stands for.
pub fn data(status: u16, body: &Value) -> Result<Value, ProviderError> {
    let ret = match body.get("ret") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let errmsg = body
        .get("errmsg")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| body.as_str().map(|s| s.chars().take(200).collect()))
        .unwrap_or_default();
    if (200..300).contains(&status) && ret == "0" {
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let code = if ret.is_empty() {
        format!("HTTP{status}")
    } else {
        ret
    };
    Err(match status {
        401 | 403 => ProviderError::Auth {
            status,
            code,
            message: errmsg,
        },
        429 => ProviderError::RateLimited {
            retry_after: None,
            message: format!("{code}: {errmsg}"),
        },
        500..=599 => ProviderError::Unavailable {
            status,
            message: format!("{code}: {errmsg}"),
        },
        200..=299 if ret_is_missing(body) => ProviderError::Protocol {
            message: "an answer without `ret`".into(),
        },
        _ => ProviderError::Rejected {
            status,
            code,
            message: errmsg,
        },
    })
}

fn ret_is_missing(body: &Value) -> bool {
    body.get("ret").is_none()
}

/// One run as get_thread reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub run_id: String,
    pub state: i64,
    pub fail_reason: Option<String>,
    pub messages: Vec<RemoteMessage>,
    pub artifacts: Vec<ArtifactRef>,
    /// One past the highest `seq` seen (the next `after_seq`).
    pub next_seq: Option<i64>,
}

/// The run `run_id` (or the first) of a get_thread `data`.
pub fn run(data: &Value, run_id: Option<&str>, after_seq: i64) -> Result<Run, ProviderError> {
    let runs = data
        .get("thread")
        .and_then(|t| t.get("run_list"))
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Protocol {
            message: "get_thread returned no run_list".into(),
        })?;
    let found = match run_id {
        Some(id) => runs
            .iter()
            .find(|r| r.get("run_id").and_then(Value::as_str) == Some(id)),
        None => runs.first(),
    };
    // Right after a submit the run may not be listed yet: worth another look, not a failure.
    let r = found.ok_or_else(|| ProviderError::Unavailable {
        status: 200,
        message: "get_thread did not list the run yet".into(),
    })?;
    let mut run = Run {
        run_id: r
            .get("run_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        // No state yet reads as "submitted": keep following, never a failure.
        state: r.get("state").and_then(Value::as_i64).unwrap_or(1),
        fail_reason: ["fail_reason", "error_message", "error_msg", "errmsg"]
            .iter()
            .find_map(|k| r.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        ..Run::default()
    };
    let entries = r
        .get("entry_list")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        // An explicit seq wins; without one, entries are numbered from the cursor.
        let seq = entry
            .get("seq")
            .and_then(Value::as_i64)
            .unwrap_or(after_seq.saturating_add(i as i64));
        if seq < after_seq {
            continue;
        }
        run.next_seq = Some(run.next_seq.unwrap_or(0).max(seq.saturating_add(1)));
        // A message and an artifact read alike: role, content items, tool calls.
        let Some(body) = entry.get("message").or_else(|| entry.get("artifact")) else {
            continue;
        };
        let role = body
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("assistant");
        for item in body
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            read_content(item, role, &mut run);
        }
        for call in body
            .get("client_tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = call.get("name").and_then(Value::as_str).unwrap_or("tool");
            run.messages.push(RemoteMessage {
                role: "tool".into(),
                text: format!("calls {name}"),
            });
        }
    }
    Ok(run)
}

/// `data` may be text, an object, or an object encoded as a JSON string.
fn decode(data: &Value) -> Value {
    match data {
        Value::String(s) if s.trim_start().starts_with('{') => {
            serde_json::from_str(s).unwrap_or_else(|_| data.clone())
        }
        other => other.clone(),
    }
}

fn read_content(item: &Value, role: &str, run: &mut Run) {
    let sub_type = item
        .get("sub_type")
        .or_else(|| item.get("subtype"))
        .or_else(|| item.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let data = decode(item.get("data").unwrap_or(&Value::Null));
    if let Some(err) = data.get("error_message").and_then(Value::as_str) {
        let code = data.get("error_code").and_then(Value::as_str).unwrap_or("");
        run.messages.push(RemoteMessage {
            role: role.into(),
            text: format!("error {code}: {err}"),
        });
        return;
    }
    let media = |key: &str| {
        data.get(key)
            .and_then(|m| m.get("download_url").or_else(|| m.get("url")))
            .or_else(|| data.get("download_url"))
            .or_else(|| data.get("url"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (kind, url) = if sub_type.contains("video") {
        (ArtifactKind::Video, media("video"))
    } else if sub_type.contains("image") {
        (ArtifactKind::Image, media("image"))
    } else if sub_type.contains("audio") {
        (ArtifactKind::Audio, media("audio"))
    } else {
        let text = match &data {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| other.to_string()),
        };
        if !text.trim().is_empty() {
            run.messages.push(RemoteMessage {
                role: role.into(),
                text,
            });
        }
        return;
    };
    if let Some(url) = url
        && !run.artifacts.iter().any(|a| a.url == url)
    {
        run.artifacts.push(ArtifactRef { url, kind });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_official_fixture_reads() {
        let data = json!({"thread":{"thread_id":"thread_123","run_list":[{"run_id":"run_456","state":3,"entry_list":[
          {"artifact":{"artifact_id":"a1","role":"assistant","content":[
             {"sub_type":"biz/x_data_prompt_text","data":"做个小猫视频"},
             {"sub_type":"biz/x_data_video","data":"{\"video\":{\"download_url\":\"https://x/video.mp4\",\"title\":\"cat_video\",\"vid\":\"cat_vid\"}}"}]}}]}]}});
        let r = run(&data, Some("run_456"), 0).unwrap_or_default();
        assert_eq!(r.state, 3);
        assert_eq!(r.messages[0].text, "做个小猫视频");
        assert_eq!(
            r.artifacts,
            [ArtifactRef {
                url: "https://x/video.mp4".into(),
                kind: ArtifactKind::Video
            }]
        );
        assert_eq!(r.next_seq, Some(1));
    }

    #[test]
    fn object_data_failures_and_cursors() {
        let data = json!({"thread":{"run_list":[{"run_id":"r","state":4,"fail_reason":"no","entry_list":[
            {"seq":0,"message":{"role":"assistant","content":[{"sub_type":"biz/x_data_prompt_text","data":"old"}]}},
            {"seq":1,"artifact":{"content":[{"sub_type":"biz/x_data_image","data":{"image":{"download_url":"https://x/i.png"}}}]}},
            {"seq":2,"artifact":{"content":[{"sub_type":"biz/x_data_video","data":"{\"error_message\":\"生成失败\",\"error_code\":\"11001\"}"}]}}]}]}});
        let r = run(&data, None, 1).unwrap_or_default();
        assert_eq!(r.fail_reason.as_deref(), Some("no"));
        assert_eq!(r.artifacts.len(), 1);
        assert_eq!(r.messages.len(), 1, "seq 0 is before the cursor");
        assert!(r.messages[0].text.contains("11001"));
        assert_eq!(r.next_seq, Some(3));
    }

    #[test]
    fn envelopes() {
        assert!(data(200, &json!({"ret":"0","data":{"a":1}})).is_ok());
        assert!(data(200, &json!({"ret":0,"data":{}})).is_ok());
        let e = data(200, &json!({"ret":"16008","errmsg":"提交Run任务失败"})).err();
        assert!(matches!(e, Some(ProviderError::Rejected { ref code, .. }) if code == "16008"));
        assert!(matches!(
            data(401, &json!({"ret":"401"})).err(),
            Some(ProviderError::Auth { .. })
        ));
        assert!(
            data(503, &json!({"ret":"503","errmsg":"busy"}))
                .err()
                .is_some_and(|e| e.is_retryable())
        );
    }
}
