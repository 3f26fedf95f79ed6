//! Chaining: a request field may name another job's result, `job:ID#N` (N counts the job's
//! results from 1; ID is the full job id or a unique prefix). It is sent as the result's platform
//! URL while that is valid, and once it has expired (or its validity is unknown and the job is
//! old) as the local copy, which then takes the ordinary local-file upload path.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use kino_core::{Artifact, DownloadState, Job, Millis, ValidationError};
use kino_ledger::{Ledger, LedgerError};

use crate::EngineError;

/// The prefix that marks a reference to another job's result.
pub const PREFIX: &str = "job:";

/// How long a result URL that carries no `Expires=` is trusted after its job finished.
/// DashScope's carry one (24 h); this is the conservative guess for the others.
pub const UNKNOWN_URL_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One `job:ID#N` of a request and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The top-level request field it sits in.
    pub field: String,
    /// What was asked: `job:ID#N` as written.
    pub source: String,
    pub target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The result's platform URL, still valid.
    Url(String),
    /// The local copy (absolute), to be uploaded like any local input.
    File(PathBuf),
}

impl Target {
    /// The string the request carries in place of the reference.
    pub fn value(&self) -> String {
        match self {
            Target::Url(u) => u.clone(),
            Target::File(p) => p.display().to_string(),
        }
    }
}

/// Parses `job:ID#N` into the id (or prefix) and the 0-based result index. `None` when the value
/// is not a job reference at all.
pub fn parse(value: &str) -> Option<Result<(&str, i64), String>> {
    let rest = value.strip_prefix(PREFIX)?;
    let bad = || {
        format!(
            "`{value}` must be written job:ID#N (N counts the job's results from 1, e.g. job:ID#1)"
        )
    };
    let Some((id, n)) = rest.split_once('#') else {
        return Some(Err(bad()));
    };
    let id = id.trim();
    match n.trim().parse::<i64>() {
        Ok(n) if n >= 1 && !id.is_empty() => Some(Ok((id, n - 1))),
        _ => Some(Err(bad())),
    }
}

/// The `Expires=` of a signed URL (seconds since the epoch), as milliseconds.
pub fn expires_at(url: &str) -> Option<Millis> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k.eq_ignore_ascii_case("expires") {
            v.parse::<i64>().ok().map(|s| s.saturating_mul(1000))
        } else {
            None
        }
    })
}

/// Whether a result URL can still be sent: it must stay valid for `margin` beyond `now` (the
/// platform fetches inputs after the create request, sometimes after a queue).
pub fn url_usable(url: &str, finished_at: Option<Millis>, now: Millis, margin: Duration) -> bool {
    let until = match expires_at(url) {
        Some(e) => e,
        None => match finished_at {
            Some(f) => f.saturating_add(UNKNOWN_URL_LIFETIME.as_millis() as i64),
            None => return false,
        },
    };
    until > now.saturating_add(margin.as_millis() as i64)
}

/// Picks what one result is sent as, or the rule it breaks.
pub fn choose(
    job: &Job,
    artifact: &Artifact,
    now: Millis,
    margin: Duration,
) -> Result<Target, String> {
    let finished = job.finished_at.or(Some(job.updated_at));
    if url_usable(&artifact.url, finished, now, margin) {
        return Ok(Target::Url(artifact.url.clone()));
    }
    let n = artifact.index + 1;
    match (&artifact.path, artifact.state) {
        (Some(path), DownloadState::Done) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(Target::File(std::path::absolute(&path).unwrap_or(path)))
            } else {
                Err(format!(
                    "result #{n} of job {} has an expired URL and its local copy {} is gone",
                    job.id,
                    path.display()
                ))
            }
        }
        _ => Err(format!(
            "result #{n} of job {} has an expired URL and was never downloaded",
            job.id
        )),
    }
}

/// Resolves every `job:ID#N` in a request's fields (at any depth). Returns the fields with each
/// reference replaced by what it is sent as, and the links. Unknown jobs, results out of range
/// and results with neither a valid URL nor a local copy are validation errors naming the field.
pub async fn resolve(
    ledger: &dyn Ledger,
    fields: &Map<String, Value>,
    now: Millis,
    margin: Duration,
) -> Result<(Map<String, Value>, Vec<Link>), EngineError> {
    let mut out = fields.clone();
    let mut links = Vec::new();
    for (field, value) in out.iter_mut() {
        let mut found = Vec::new();
        collect(value, &mut found);
        for source in found {
            let target = resolve_one(ledger, field, &source, now, margin).await?;
            replace(value, &source, &target.value());
            links.push(Link {
                field: field.clone(),
                source,
                target,
            });
        }
    }
    Ok((out, links))
}

async fn resolve_one(
    ledger: &dyn Ledger,
    field: &str,
    source: &str,
    now: Millis,
    margin: Duration,
) -> Result<Target, EngineError> {
    let Some(parsed) = parse(source) else {
        return Err(
            ValidationError::new(field, format!("`{source}` is not a job reference")).into(),
        );
    };
    let (id, index) = parsed.map_err(|rule| ValidationError::new(field, rule))?;
    let job = match ledger.find_job(id).await {
        Ok(j) => j,
        Err(e @ (LedgerError::NotFound(_) | LedgerError::Ambiguous { .. })) => {
            return Err(ValidationError::new(field, format!("`{source}`: {e}"))
                .with_hint("`kino list` shows the jobs and their ids")
                .into());
        }
        Err(e) => return Err(e.into()),
    };
    let artifacts = ledger.artifacts(job.id).await?;
    let Some(artifact) = artifacts.iter().find(|a| a.index == index) else {
        return Err(ValidationError::new(
            field,
            format!(
                "`{source}`: job {} has {} result(s); #{} is out of range",
                job.id,
                artifacts.len(),
                index + 1
            ),
        )
        .into());
    };
    choose(&job, artifact, now, margin).map_err(|rule| {
        ValidationError::new(field, format!("`{source}`: {rule}"))
            .with_hint(format!(
                "`kino download {}` fetches it again while it can",
                job.id
            ))
            .into()
    })
}

fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.starts_with(PREFIX) && !out.contains(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// Replaces every string equal to `from` (at any depth) with `to`.
pub fn replace(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| replace(v, from, to)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        assert_eq!(parse("https://x/a.mp4"), None);
        assert_eq!(parse("job:abc#1"), Some(Ok(("abc", 0))));
        assert_eq!(parse("job:abc#3"), Some(Ok(("abc", 2))));
        assert!(matches!(parse("job:abc#0"), Some(Err(_))));
        assert!(matches!(parse("job:abc"), Some(Err(_))));
        assert!(matches!(parse("job:#1"), Some(Err(_))));
        assert!(matches!(parse("job:abc#x"), Some(Err(_))));
    }

    #[test]
    fn reads_expires() {
        assert_eq!(
            expires_at("http://h/r/a.mp4?Expires=1700000000&OSSAccessKeyId=x&Signature=y"),
            Some(1_700_000_000_000)
        );
        assert_eq!(expires_at("http://h/r/a.mp4?x=1"), None);
        assert_eq!(expires_at("http://h/r/a.mp4"), None);
    }

    #[test]
    fn a_url_is_usable_only_with_margin_left() {
        let margin = Duration::from_secs(3600);
        let now = 1_700_000_000_000;
        let url = |secs: i64| format!("http://h/a.mp4?Expires={secs}");
        // 2 h left: usable; 30 min left: not; past: not.
        assert!(url_usable(&url(now / 1000 + 7200), None, now, margin));
        assert!(!url_usable(&url(now / 1000 + 1800), None, now, margin));
        assert!(!url_usable(&url(now / 1000 - 10), None, now, margin));
        // No Expires: trusted for UNKNOWN_URL_LIFETIME after the job finished, never unknown age.
        assert!(url_usable(
            "http://h/a.mp4",
            Some(now - 3_600_000),
            now,
            margin
        ));
        assert!(!url_usable(
            "http://h/a.mp4",
            Some(now - 86_400_000),
            now,
            margin
        ));
        assert!(!url_usable("http://h/a.mp4", None, now, margin));
    }

    #[test]
    fn replaces_at_any_depth() {
        let mut v =
            serde_json::json!({"a": "job:x#1", "b": ["job:x#1", "k"], "c": {"d": "job:x#1"}});
        let mut found = Vec::new();
        collect(&v, &mut found);
        assert_eq!(found, ["job:x#1"]);
        replace(&mut v, "job:x#1", "u");
        assert_eq!(
            v,
            serde_json::json!({"a": "u", "b": ["u", "k"], "c": {"d": "u"}})
        );
    }
}
