//! Local file → `oss://` reference through getPolicy and the OSS form POST (contracts §1.8).

use std::time::Duration;

use serde_json::Value;

use kino_core::{LocalInput, ProviderError};
use kino_http::reqwest::multipart::Form;
use kino_http::{Backoff, file_part, parse_retry_after};

use super::DashScope;
use crate::response::{json_body, network};

fn field(data: &Value, key: &str) -> Result<String, ProviderError> {
    match data.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        _ => Err(ProviderError::Protocol {
            message: format!("upload policy without `{key}`"),
        }),
    }
}

pub(super) async fn upload(
    ds: &DashScope,
    model: &str,
    input: &LocalInput,
) -> Result<String, ProviderError> {
    let name = input.file_name();
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10), 4);
    let mut last = String::new();
    for attempt in 0..backoff.attempts {
        // A fresh policy each attempt: one that expired during a slow, cut upload is useless.
        let data = policy(ds, model).await?;
        let limit_mb = data
            .get("max_file_size_mb")
            .and_then(Value::as_u64)
            .unwrap_or(1024);
        if input.bytes > limit_mb * 1024 * 1024 {
            return Err(ProviderError::LocalFile {
                path: input.path.display().to_string(),
                message: format!(
                    "{} bytes exceeds the platform's upload limit of {limit_mb} MB for {model}",
                    input.bytes
                ),
            });
        }
        let host = field(&data, "upload_host")?;
        let key = format!(
            "{}/{name}",
            field(&data, "upload_dir")?.trim_end_matches('/')
        );
        let file = file_part(&input.path, name.clone(), &input.mime)
            .await
            .map_err(|e| ProviderError::LocalFile {
                path: input.path.display().to_string(),
                message: e.to_string(),
            })?;
        // The OSS form wants `file` last: fields after it are ignored by OSS.
        let form = Form::new()
            .text("OSSAccessKeyId", field(&data, "oss_access_key_id")?)
            .text("Signature", field(&data, "signature")?)
            .text("policy", field(&data, "policy")?)
            .text("key", key.clone())
            .text("x-oss-object-acl", field(&data, "x_oss_object_acl")?)
            .text(
                "x-oss-forbid-overwrite",
                field(&data, "x_oss_forbid_overwrite")?,
            )
            .text("success_action_status", "200")
            .text("x-oss-content-type", input.mime.clone())
            .part("file", file);
        let retry_after = match ds.storage.post(&host).multipart(form).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = parse_retry_after(resp.headers());
                let body = json_body(resp).await.unwrap_or(Value::Null);
                let text = body
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| body.to_string());
                match status {
                    200..=299 => return Ok(format!("oss://{key}")),
                    429 | 500..=599 => {
                        last = format!("HTTP {status}");
                        retry_after
                    }
                    403 if text.contains("Policy expired") => {
                        last = "the upload policy expired".into();
                        None
                    }
                    // The storage host's refusals are about the upload, never the API key.
                    _ => {
                        return Err(ProviderError::Rejected {
                            status,
                            code: "StorageRejected".into(),
                            message: oss_message(&text),
                        });
                    }
                }
            }
            Err(e) => {
                last = network(e).to_string();
                None
            }
        };
        tokio::time::sleep(backoff.delay(attempt, retry_after)).await;
    }
    Err(ProviderError::Unavailable {
        status: 0,
        message: format!("upload to the storage host failed: {last}"),
    })
}

async fn policy(ds: &DashScope, model: &str) -> Result<Value, ProviderError> {
    let req = ds
        .api
        .get(format!("{}/uploads", ds.base))
        .query(&[("action", "getPolicy"), ("model", model)]);
    let body = ds.query(req).await?;
    body.get("data")
        .or_else(|| body.get("output"))
        .cloned()
        .ok_or_else(|| ProviderError::Protocol {
            message: "upload policy response without `data`".into(),
        })
}

/// OSS answers in XML: pull out `<Code>` and `<Message>`.
fn oss_message(xml: &str) -> String {
    let pick = |tag: &str| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&close)? + start;
        Some(xml[start..end].to_string())
    };
    match (pick("Code"), pick("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => xml.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oss_xml_errors_are_readable() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>";
        assert_eq!(
            oss_message(xml),
            "AccessDenied: Invalid according to Policy: Policy expired."
        );
    }
}
