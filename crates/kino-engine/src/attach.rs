//! `kino attach`: adopting a job another tool submitted (a seed script's task_id, a
//! Xiaoyunque thread and run, …). The job is recorded as already submitted, with the platform's
//! handle and no create request of kino's, and is then followed like any other job.

use std::path::PathBuf;

use serde_json::json;

use kino_core::{
    Event, EventKind, Job, JobId, JobState, ProviderError, RemoteStatus, ValidationError,
    now_millis,
};
use kino_ledger::{JobFilter, JobRecord};

use crate::engine::{check_out_dir, check_prefix};
use crate::{Engine, EngineError};

/// The mode of an attached job: the platform's status answer does not say which mode made it.
pub const ATTACHED_MODE: &str = "attached";
/// The model of an attached job whose platform does not report it in its status answer.
pub const UNKNOWN_MODEL: &str = "unknown";

/// Checks a handle's shape for a provider, before anything is sent. A handle goes into a URL
/// path or query, so only URL-safe characters are accepted; a Xiaoyunque handle is
/// `THREAD_ID/RUN_ID`, the form kino itself records and shows.
pub fn check_handle(provider: &str, handle: &str) -> Result<(), ValidationError> {
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    if handle.trim().is_empty() {
        return Err(ValidationError::new("handle", "must not be empty"));
    }
    if handle.len() > 256 {
        return Err(ValidationError::new(
            "handle",
            "must be at most 256 characters",
        ));
    }
    if provider == "xyq" {
        let ok = handle
            .split_once('/')
            .is_some_and(|(thread, run)| plain(thread) && plain(run));
        if !ok {
            return Err(ValidationError::new(
                "handle",
                format!(
                    "`{handle}` is not THREAD_ID/RUN_ID: a Xiaoyunque job is named by its thread_id and run_id joined by `/`, each of letters, digits, `-`, `_`, `.` or `~`"
                ),
            )
            .with_hint("e.g. `kino attach xyq 7f3c…/run-42`; the seed script prints both ids"));
        }
        return Ok(());
    }
    if !plain(handle) {
        return Err(ValidationError::new(
            "handle",
            format!(
                "`{handle}` is not a {provider} task id: only letters, digits, `-`, `_`, `.` and `~` occur in one"
            ),
        ));
    }
    Ok(())
}

impl Engine {
    /// Records a job another tool submitted as this ledger's own, already `queued` with its
    /// handle, and returns it; [`Engine::drive`] then follows and downloads it like any other.
    /// Nothing billable is sent: one status query checks the platform knows the handle first,
    /// and a handle the ledger already follows is refused (never two jobs on one task).
    /// The handle must belong to the account of `profile` (`None`: the environment's), which
    /// follows the job from then on.
    pub async fn attach(
        &self,
        provider: &str,
        profile: Option<&str>,
        handle: &str,
        out_dir: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Job, EngineError> {
        let p = self.account(provider, profile)?.clone();
        check_handle(provider, handle)?;
        if let Some(prefix) = &prefix {
            check_prefix(prefix)?;
        }
        let out = out_dir.unwrap_or_else(|| self.config.default_out_dir.clone());
        let out = std::path::absolute(&out).unwrap_or(out);
        check_out_dir(&out)?;
        if let Some(existing) = self.follower_of(provider, handle, None).await? {
            return Err(already_followed(provider, handle, existing).into());
        }

        self.pace(provider, None).await?;
        let unknown = |why: String| {
            ValidationError::new(
                "handle",
                format!("{provider} does not know `{handle}`: {why}"),
            )
            .with_hint("check the id the other tool printed (and that the credentials are of the account that made it)")
        };
        match p.poll(handle, None).await {
            Ok(o) => {
                if let RemoteStatus::Expired { message } = o.status {
                    return Err(unknown(message).into());
                }
            }
            Err(ProviderError::Rejected { message, .. }) => return Err(unknown(message).into()),
            Err(e) => return Err(e.into()),
        }

        let now = now_millis();
        let id = JobId::new();
        let reason = format!(
            "attached: {provider} task {handle} was submitted by another tool; kino follows it and sent no create request"
        );
        let job = Job {
            id,
            provider: provider.to_string(),
            mode: ATTACHED_MODE.into(),
            model: UNKNOWN_MODEL.into(),
            state: JobState::Queued,
            handle: Some(handle.to_string()),
            web_link: None,
            cursor: None,
            request: json!({ "attached": handle }),
            wire: None,
            out_dir: Some(out.display().to_string()),
            prefix,
            error: None,
            usage: None,
            created_at: now,
            updated_at: now,
            submitted_at: Some(now),
            finished_at: None,
            attempts: 0,
            next_poll_at: None,
            lease_owner: None,
            lease_until: None,
            profile: profile.map(str::to_string),
        };
        let event = |seq, kind| Event {
            job_id: id,
            seq,
            at: now,
            kind,
        };
        let record = JobRecord {
            job,
            cost: None,
            events: vec![
                event(
                    1,
                    EventKind::Submitted {
                        handle: handle.to_string(),
                        web_link: None,
                        attached: true,
                    },
                ),
                event(
                    2,
                    EventKind::State {
                        from: None,
                        to: JobState::Queued,
                        reason: Some(reason),
                    },
                ),
            ],
            artifacts: Vec::new(),
        };
        // One transaction: the job appears already submitted, or not at all.
        self.ledger.import_job(&record).await?;
        // Two attaches of one handle at the same moment both pass the check above; the job with
        // the smaller (older) id wins, and the other is taken back at once.
        if let Some(first) = self.follower_of(provider, handle, Some(id)).await?
            && first < id
        {
            let change = kino_ledger::Change {
                reason: Some(format!(
                    "attached twice at once: job {first} follows this task"
                )),
                ..Default::default()
            };
            self.move_to(id, &[JobState::Queued], JobState::Canceled, change)
                .await?;
            return Err(already_followed(provider, handle, first).into());
        }
        self.publish(id).await;
        Ok(self.ledger.job(id).await?)
    }

    /// The job of this ledger (other than `except`) that follows a provider's handle.
    async fn follower_of(
        &self,
        provider: &str,
        handle: &str,
        except: Option<JobId>,
    ) -> Result<Option<JobId>, EngineError> {
        let handles = self.ledger.handles(provider).await?;
        if !handles.iter().any(|h| h == handle) {
            return Ok(None);
        }
        let filter = JobFilter {
            provider: Some(provider.to_string()),
            ..Default::default()
        };
        Ok(self
            .ledger
            .jobs(&filter)
            .await?
            .into_iter()
            .filter(|j| j.handle.as_deref() == Some(handle) && Some(j.id) != except)
            .map(|j| j.id)
            .min())
    }
}

fn already_followed(provider: &str, handle: &str, existing: JobId) -> ValidationError {
    ValidationError::new(
        "handle",
        format!("{provider} task `{handle}` is already followed by job {existing}"),
    )
    .with_hint(format!(
        "`kino wait {}` follows it; nothing new was recorded",
        existing.short()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_checked_per_provider() {
        assert!(check_handle("dashscope", "0385dc79-5ff8-4d82-bcb6-a2d8ea8b1ae1").is_ok());
        assert!(check_handle("xingyun3d", "12345").is_ok());
        assert!(check_handle("xyq", "thread-1/run_2").is_ok());
        for (provider, bad) in [
            ("dashscope", ""),
            ("dashscope", "  "),
            ("dashscope", "a/b"),
            ("libtv", "id?x=1"),
            ("skillsvideo", "a b"),
            ("xyq", "thread-only"),
            ("xyq", "/run"),
            ("xyq", "t/"),
            ("xyq", "t/r/x"),
        ] {
            let e = check_handle(provider, bad).err();
            assert_eq!(
                e.map(|e| e.field),
                Some("handle".to_string()),
                "{provider} {bad:?}"
            );
        }
        let long = "a".repeat(257);
        assert!(check_handle("dashscope", &long).is_err());
    }
}
