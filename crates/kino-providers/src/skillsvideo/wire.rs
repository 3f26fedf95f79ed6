//! Reading skills.video's answers (contracts §2.3–§2.5): the generation object in either status
//! vocabulary, results under data.images/image/videos/video, errors by code, then error, then
//! message.

use std::time::Duration;

use serde_json::Value;

use kino_core::{ArtifactKind, ArtifactRef, PollOutcome, ProviderError, RemoteStatus};

pub const RECHARGE_URL: &str = "https://skills.video/dashboard";

/// Looks for the first of `keys` anywhere in `v`, depth first (the seed client's rule: a
/// top-level key wins).
fn find<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    if let Value::Object(map) = v {
        for k in keys {
            if let Some(found) = map.get(*k).filter(|x| !x.is_null() && !x.is_object()) {
                return Some(found);
            }
        }
        for val in map.values() {
            if let Some(found) = find(val, keys) {
                return Some(found);
            }
        }
    }
    None
}

pub fn generation_id(v: &Value) -> Option<String> {
    find(
        v,
        // The seed client's order (contracts §2.4): a generation id before a plain `id`.
        &[
            "generation_id",
            "generationId",
            "prediction_id",
            "predictionId",
            "task_id",
            "taskId",
            "id",
        ],
    )
    .and_then(|x| match x {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

pub fn status_word(v: &Value) -> Option<String> {
    find(
        v,
        &[
            "status",
            "state",
            "queue_state",
            "queueState",
            "prediction_status",
            "predictionStatus",
        ],
    )
    .and_then(Value::as_str)
    .map(|s| s.to_ascii_uppercase())
}

/// Terminal in either vocabulary (QueueState or the older PredictionStatus), any case.
pub fn is_terminal(word: &str) -> bool {
    matches!(
        word,
        "COMPLETED" | "SUCCEEDED" | "FAILED" | "CANCELED" | "CANCELLED"
    )
}

fn media(data: &Value, many: &str, one: &str, kind: ArtifactKind, out: &mut Vec<ArtifactRef>) {
    let mut push = |item: &Value| {
        let url = item
            .get("url")
            .and_then(Value::as_str)
            .or_else(|| item.as_str());
        if let Some(url) = url.filter(|u| !u.is_empty())
            && !out.iter().any(|a| a.url == url)
        {
            out.push(ArtifactRef {
                url: url.to_string(),
                kind,
            });
        }
    };
    for item in data
        .get(many)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push(item);
    }
    if let Some(item) = data.get(one) {
        push(item);
    }
}

pub fn outcome(v: &Value) -> Result<PollOutcome, ProviderError> {
    let word = status_word(v).ok_or_else(|| ProviderError::Protocol {
        message: "a generation without a status".into(),
    })?;
    let mut artifacts = Vec::new();
    let status = match word.as_str() {
        "IN_QUEUE" | "STARTING" | "QUEUED" | "PENDING" => RemoteStatus::Queued { position: None },
        "IN_PROGRESS" | "PROCESSING" | "RUNNING" => RemoteStatus::Running { percent: None },
        "COMPLETED" | "SUCCEEDED" => {
            let data = v.get("data").cloned().unwrap_or(Value::Null);
            media(
                &data,
                "images",
                "image",
                ArtifactKind::Image,
                &mut artifacts,
            );
            media(
                &data,
                "videos",
                "video",
                ArtifactKind::Video,
                &mut artifacts,
            );
            media(
                &data,
                "audios",
                "audio",
                ArtifactKind::Audio,
                &mut artifacts,
            );
            if artifacts.is_empty() {
                RemoteStatus::Failed {
                    code: None,
                    message: "the generation completed without a result URL".into(),
                }
            } else {
                RemoteStatus::Succeeded
            }
        }
        "FAILED" => RemoteStatus::Failed {
            code: v
                .get("code")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the generation failed")
                .to_string(),
        },
        "CANCELED" | "CANCELLED" => RemoteStatus::Canceled,
        // Not terminal, whatever it is: keep following.
        _ => RemoteStatus::Running { percent: None },
    };
    Ok(PollOutcome {
        artifacts,
        usage: v.get("usage").cloned(),
        ..PollOutcome::status(status, word)
    })
}

const CREDIT_WORDS: &[&str] = &[
    "insufficient credit",
    "not enough credit",
    "insufficient balance",
    "credit balance",
    "top up",
    "recharge",
];

/// An error answer: `code`, then `error`, then `message` (§2.5); credits first of all.
pub fn error(status: u16, body: &Value, retry_after: Option<Duration>) -> ProviderError {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let code = text("code")
        .or_else(|| text("error"))
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = text("message")
        .or_else(|| {
            body.get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| body.as_str().map(|s| s.chars().take(200).collect()))
        .unwrap_or_default();
    let lower = format!("{code} {message}").to_ascii_lowercase();
    if status == 402
        || code.contains("INSUFFICIENT_CREDITS")
        || CREDIT_WORDS.iter().any(|w| lower.contains(w))
    {
        return ProviderError::InsufficientCredits {
            message,
            recharge_url: RECHARGE_URL.into(),
        };
    }
    ProviderError::from_status(status, code, message, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_vocabularies_any_case() {
        for (word, terminal) in [
            ("IN_QUEUE", false),
            ("processing", false),
            ("Succeeded", true),
            ("completed", true),
            ("cancelled", true),
        ] {
            let v =
                json!({"id": "g", "status": word, "data": {"image": {"url": "https://x/a.png"}}});
            let o = outcome(&v).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(is_terminal(&o.raw_status), terminal, "{word}");
        }
    }

    #[test]
    fn results_from_every_documented_place() {
        let v = json!({"id":"gen_123","status":"COMPLETED","data":{"type":"image","images":[{"url":"https://c/cat.png"}],"image":{"url":"https://c/cat.png"},"videos":[{"url":"https://c/v.mp4"}]},"usage":{"total":20}});
        let o = outcome(&v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.artifacts.len(), 2);
        assert_eq!(o.usage, Some(json!({"total": 20})));
        assert_eq!(generation_id(&v).as_deref(), Some("gen_123"));
    }

    #[test]
    fn errors_by_code_then_error_then_message() {
        let credits = error(
            402,
            &json!({"error":"INSUFFICIENT_CREDITS","code":"VIDEO_GENERATION_INSUFFICIENT_CREDITS","message":"Insufficient credits for this generation."}),
            None,
        );
        assert!(matches!(credits, ProviderError::InsufficientCredits { .. }));
        let by_words = error(400, &json!({"message":"Please top up your balance"}), None);
        assert!(matches!(
            by_words,
            ProviderError::InsufficientCredits { .. }
        ));
        let invalid = error(
            422,
            &json!({"error":"INVALID_INPUT","code":"IMAGE_GENERATION_INVALID_INPUT","message":"prompt is required"}),
            None,
        );
        assert!(
            matches!(invalid, ProviderError::Rejected { ref code, .. } if code == "IMAGE_GENERATION_INVALID_INPUT")
        );
        assert!(error(503, &json!({"error":"PROVIDER_UNAVAILABLE"}), None).is_retryable());
        assert!(!error(400, &json!({"message":"bad"}), None).is_retryable());
    }
}
