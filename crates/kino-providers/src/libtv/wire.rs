//! Reading LibTV's answers (contracts §4): `data` (or the root), messages with a numeric seq,
//! tool messages whose content is a JSON string with `task_result.images/videos`.

use serde_json::Value;

use kino_core::{ArtifactKind, ArtifactRef, ProviderError, RemoteMessage};

/// `data` of a 2xx answer (the root when there is none), or the error it stands for.
pub fn data(status: u16, body: &Value) -> Result<Value, ProviderError> {
    let message = body
        .get("message")
        .or_else(|| body.get("msg"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| body.as_str().map(|s| s.chars().take(200).collect()))
        .unwrap_or_default();
    let code = body
        .get("code")
        .map(|c| c.to_string().trim_matches('"').to_string())
        .unwrap_or_else(|| format!("HTTP{status}"));
    // A business error can come inside a 2xx: a `code` other than 0 (or 200) is one.
    let ok_code = match body.get("code") {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|c| c == 0 || c == 200),
        Some(Value::String(c)) => c == "0" || c == "200" || c.eq_ignore_ascii_case("success"),
        Some(_) => false,
    };
    match status {
        200..=299 if ok_code => Ok(body
            .get("data")
            .filter(|d| !d.is_null())
            .cloned()
            .unwrap_or_else(|| body.clone())),
        200..=299 => Err(ProviderError::Rejected {
            status,
            code,
            message,
        }),
        401 | 403 => Err(ProviderError::Auth {
            status,
            code,
            message,
        }),
        429 => Err(ProviderError::RateLimited {
            retry_after: None,
            message,
        }),
        500..=599 => Err(ProviderError::Unavailable { status, message }),
        _ => Err(ProviderError::Rejected {
            status,
            code,
            message,
        }),
    }
}

/// What one page of a session's messages says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub messages: Vec<RemoteMessage>,
    pub artifacts: Vec<ArtifactRef>,
    pub max_seq: Option<i64>,
    /// A tool reported failure.
    pub failed: Option<String>,
    /// The last message is the agent's question and nothing came after it.
    pub question: Option<String>,
    /// Any assistant or tool message at all.
    pub agent_spoke: bool,
    /// The cursor past this page: the highest seq, or `id:<id>` of the last message when the
    /// platform sends no seq.
    pub cursor: Option<String>,
}

const MEDIA_EXT: &[&str] = &["png", "jpg", "jpeg", "webp", "mp4", "mov", "webm"];

fn kind_of(url: &str) -> ArtifactKind {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    if [".mp4", ".mov", ".webm"].iter().any(|e| path.ends_with(e)) {
        ArtifactKind::Video
    } else {
        ArtifactKind::Image
    }
}

/// Media URLs written in an assistant's text, on any host (§8). A URL ends at the first
/// character a URL cannot hold unescaped (space, CJK punctuation, brackets, quotes).
fn urls_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        let tail = &rest[i..];
        if !(tail.starts_with("http://") || tail.starts_with("https://")) {
            rest = &tail[4..];
            continue;
        }
        let end = tail
            .find(|c: char| {
                !c.is_ascii_graphic() || matches!(c, '(' | ')' | '[' | ']' | '<' | '>' | '"' | '\'')
            })
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', '!', '?', ':']);
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        if MEDIA_EXT.iter().any(|e| path.ends_with(&format!(".{e}"))) {
            found.push(url.to_string());
        }
        rest = &tail[end..];
    }
    found
}

/// The messages after `cursor` (a seq, or `id:<id>` when messages carry no seq).
pub fn page(data: &Value, cursor: Option<&str>) -> Result<Page, ProviderError> {
    let after_seq = cursor.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
    let mut skip_until = cursor
        .and_then(|c| c.strip_prefix("id:"))
        .map(str::to_string);
    let messages = data
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Protocol {
            message: "the session answer has no `messages`".into(),
        })?;
    let mut page = Page::default();
    let mut user_urls: Vec<String> = Vec::new();
    let mut last_role = String::new();
    let mut last_text = String::new();
    for m in messages {
        let seq = ["seq", "sequence", "messageSeq"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_i64));
        let id = m.get("id").and_then(Value::as_str).map(str::to_string);
        if let Some(last) = &skip_until {
            // Without seq, everything up to the last message read is skipped.
            if id.as_deref() == Some(last.as_str()) {
                skip_until = None;
            }
            continue;
        }
        if seq.is_some_and(|s| s <= after_seq) {
            continue;
        }
        if seq.is_none()
            && let Some(id) = &id
        {
            page.cursor = Some(format!("id:{id}"));
        }
        if let Some(s) = seq {
            page.max_seq = Some(page.max_seq.unwrap_or(s).max(s));
        }
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("assistant")
            .to_string();
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if role != "user" {
            page.agent_spoke = true;
        }
        let mut shown = content.clone();
        if role == "tool" {
            let parsed: Value = serde_json::from_str(&content).unwrap_or(Value::Null);
            let results = parsed.get("task_result");
            for (key, kind) in [
                ("images", ArtifactKind::Image),
                ("videos", ArtifactKind::Video),
            ] {
                for item in results
                    .and_then(|r| r.get(key))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let url = item
                        .get("previewPath")
                        .or_else(|| item.get("url"))
                        .and_then(Value::as_str);
                    if let Some(url) = url.filter(|u| !page.artifacts.iter().any(|a| &a.url == u)) {
                        page.artifacts.push(ArtifactRef {
                            url: url.to_string(),
                            kind,
                        });
                    }
                }
            }
            let status = ["status", "state", "task_status"]
                .iter()
                .find_map(|k| parsed.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            if matches!(
                status.to_ascii_lowercase().as_str(),
                "failed" | "fail" | "error"
            ) {
                page.failed = Some(
                    parsed
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("the tool reported failure")
                        .to_string(),
                );
            }
            if let Some(p) = parsed.get("progress").and_then(Value::as_f64) {
                shown = format!("{status} {p:.0}%").trim().to_string();
            } else if !status.is_empty() && results.is_none() {
                shown = status.to_string();
            } else if results.is_some() {
                shown = "results ready".into();
            }
        } else if role == "user" {
            // The user's own attachments echoed back are inputs, not results.
            user_urls.extend(urls_in(&content));
        } else if role == "assistant" {
            for url in urls_in(&content) {
                if !page.artifacts.iter().any(|a| a.url == url) && !user_urls.contains(&url) {
                    page.artifacts.push(ArtifactRef {
                        kind: kind_of(&url),
                        url,
                    });
                }
            }
        }
        page.messages.push(RemoteMessage {
            role: role.clone(),
            text: shown,
        });
        last_role = role;
        last_text = content;
    }
    // A question mark inside a link (`…/canvas?projectId=…`) asks nothing.
    let words = strip_urls(&last_text);
    if last_role == "assistant"
        && (words.contains('?') || words.contains('？'))
        && page.artifacts.is_empty()
    {
        page.question = Some(last_text);
    }
    if let Some(max) = page.max_seq {
        page.cursor = Some(max.to_string());
    }
    Ok(page)
}

fn strip_urls(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.contains("http://") && !w.contains("https://"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_prefer_preview_path_and_assistant_urls_count() {
        let tool = json!({"status":"succeeded","task_result":{"images":[{"previewPath":"https://p/i.png","url":"https://u/i.png"}],"videos":[{"url":"https://u/v.mp4"}]}}).to_string();
        let data = json!({"messages":[
            {"id":"1","role":"user","content":"生一个动漫视频","seq":1},
            {"id":"2","role":"tool","content": tool,"seq":2},
            {"id":"3","role":"assistant","content":"好了：https://any.host/x.webm。","seq":3}]});
        let p = page(&data, None).unwrap_or_default();
        let urls: Vec<&str> = p.artifacts.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://p/i.png",
                "https://u/v.mp4",
                "https://any.host/x.webm"
            ]
        );
        assert_eq!(p.max_seq, Some(3));
        assert!(p.question.is_none());
    }

    #[test]
    fn a_trailing_question_and_the_cursor() {
        let data = json!({"messages":[
            {"role":"user","content":"x","seq":4},
            {"role":"assistant","content":"Which style do you prefer?","seq":5}]});
        let p = page(&data, Some("4")).unwrap_or_default();
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.question.as_deref(), Some("Which style do you prefer?"));
        let failed = json!({"messages":[{"role":"tool","content":"{\"status\":\"failed\",\"message\":\"boom\"}","sequence":9}]});
        assert_eq!(
            page(&failed, None).unwrap_or_default().failed.as_deref(),
            Some("boom")
        );
        assert!(page(&json!({}), None).is_err());
    }

    #[test]
    fn links_are_not_questions_echoed_inputs_are_not_results_and_ids_stand_in_for_seq() {
        let data = json!({"messages":[
            {"id":"a","role":"user","content":"make it\n\nhttps://res/claw/p/in.png"},
            {"id":"b","role":"assistant","content":"I used https://res/claw/p/in.png, see https://www.liblib.tv/canvas?projectId=x"}]});
        let p = page(&data, None).unwrap_or_default();
        assert!(p.question.is_none(), "{p:?}");
        assert!(p.artifacts.is_empty(), "{p:?}");
        assert_eq!(p.cursor.as_deref(), Some("id:b"));
        let again = page(&data, Some("id:b")).unwrap_or_default();
        assert!(again.messages.is_empty());
        assert!(data_error_in_2xx());
    }

    fn data_error_in_2xx() -> bool {
        matches!(
            data(200, &json!({"code":40001,"message":"余额不足","data":null})),
            Err(ProviderError::Rejected { .. })
        ) && data(200, &json!({"code":0,"data":{"x":1}})).is_ok()
    }
}
