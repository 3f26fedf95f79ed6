//! The ledger story: the same sequence of operations every backend must get right. Each story
//! takes a fresh `Ledger`; today it runs on SQLite (file and in-memory); a PostgreSQL backend
//! joins by adding one more constructor to `backends()`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;

use kino_core::{
    Artifact, ArtifactKind, DownloadState, EventKind, JobId, JobState, NewJob, now_millis,
};
use kino_ledger::{Change, JobFilter, Ledger, LedgerError, SqliteLedger, UploadRecord};

async fn backends() -> Vec<(&'static str, Arc<dyn Ledger>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = SqliteLedger::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap();
    let mem = SqliteLedger::in_memory().await.unwrap();
    vec![
        ("sqlite-file", Arc::new(file), Some(dir)),
        ("sqlite-memory", Arc::new(mem), None),
    ]
}

fn new_job(prompt: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        provider: "dashscope".into(),
        mode: "t2v".into(),
        model: "wan2.6-t2v".into(),
        request: json!({"prompt": prompt}),
        out_dir: Some("/tmp/out".into()),
        prefix: None,
    }
}

#[tokio::test]
async fn a_job_is_recorded_pending_before_anything_is_sent() {
    for (name, ledger, _keep) in backends().await {
        let job = ledger.insert_job(&new_job("a cat")).await.unwrap();
        assert_eq!(job.state, JobState::Pending, "{name}");
        assert_eq!(job.handle, None, "{name}");
        let events = ledger.events(job.id, 0).await.unwrap();
        assert_eq!(events.len(), 1, "{name}");
        assert!(
            matches!(
                events[0].kind,
                EventKind::State {
                    to: JobState::Pending,
                    ..
                }
            ),
            "{name}"
        );
        assert_eq!(ledger.unfinished().await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn the_handle_is_stored_in_the_step_that_learns_it() {
    for (name, ledger, _keep) in backends().await {
        let job = ledger.insert_job(&new_job("p")).await.unwrap();
        let sent = Change {
            wire: Some(json!({"model":"m"})),
            submitted_at: Some(now_millis()),
            count_attempt: true,
            ..Change::default()
        };
        let j = ledger
            .transition(job.id, &[JobState::Pending], JobState::Submitting, sent)
            .await
            .unwrap();
        assert_eq!((j.state, j.attempts), (JobState::Submitting, 1), "{name}");
        let learned = Change {
            handle: Some("task-1".into()),
            ..Change::default()
        };
        let j = ledger
            .transition(job.id, &[JobState::Submitting], JobState::Queued, learned)
            .await
            .unwrap();
        assert_eq!(j.handle.as_deref(), Some("task-1"), "{name}");
        let kinds: Vec<&str> = ledger
            .events(job.id, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.name())
            .collect();
        assert_eq!(kinds, ["state", "state", "submitted", "state"], "{name}");
        assert_eq!(
            ledger.handles("dashscope").await.unwrap(),
            ["task-1"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_transition_from_the_wrong_state_changes_nothing() {
    for (name, ledger, _keep) in backends().await {
        let job = ledger.insert_job(&new_job("p")).await.unwrap();
        let err = ledger
            .transition(
                job.id,
                &[JobState::Running],
                JobState::Succeeded,
                Change::default(),
            )
            .await;
        assert!(
            matches!(
                err,
                Err(LedgerError::Conflict {
                    actual: JobState::Pending,
                    ..
                })
            ),
            "{name}"
        );
        assert_eq!(
            ledger.job(job.id).await.unwrap().state,
            JobState::Pending,
            "{name}"
        );
        assert_eq!(ledger.events(job.id, 0).await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn leases_exclude_other_owners_until_expiry_or_death() {
    for (name, ledger, _keep) in backends().await {
        let job = ledger.insert_job(&new_job("p")).await.unwrap();
        let later = now_millis() + 60_000;
        assert!(
            ledger.claim(job.id, "a", later, None).await.unwrap(),
            "{name}"
        );
        assert!(
            ledger.claim(job.id, "a", later, None).await.unwrap(),
            "{name}: renewal"
        );
        assert!(
            !ledger.claim(job.id, "b", later, None).await.unwrap(),
            "{name}: held"
        );
        assert!(
            ledger.claim(job.id, "b", later, Some("a")).await.unwrap(),
            "{name}: a is dead"
        );
        ledger.release(job.id, "b").await.unwrap();
        assert!(
            ledger
                .claim(job.id, "c", now_millis() - 1, None)
                .await
                .unwrap(),
            "{name}: free"
        );
        assert!(
            ledger.claim(job.id, "d", later, None).await.unwrap(),
            "{name}: expired"
        );
    }
}

#[tokio::test]
async fn artifacts_are_added_once_and_keep_a_succeeded_job_unfinished_until_downloaded() {
    for (name, ledger, _keep) in backends().await {
        let job = ledger.insert_job(&new_job("p")).await.unwrap();
        for (from, to) in [
            (JobState::Pending, JobState::Submitting),
            (JobState::Submitting, JobState::Queued),
            (JobState::Queued, JobState::Succeeded),
        ] {
            ledger
                .transition(job.id, &[from], to, Change::default())
                .await
                .unwrap();
        }
        let a = Artifact {
            job_id: job.id,
            index: 0,
            url: "https://cdn/v.mp4?Signature=s3cr3t".into(),
            kind: ArtifactKind::Video,
            path: None,
            bytes: None,
            sha256: None,
            mime: None,
            state: DownloadState::Pending,
            error: None,
        };
        assert!(ledger.add_artifact(&a).await.unwrap(), "{name}");
        assert!(
            !ledger.add_artifact(&a).await.unwrap(),
            "{name}: second add is a no-op"
        );
        assert_eq!(ledger.unfinished().await.unwrap().len(), 1, "{name}");
        let shown = ledger.events(job.id, 0).await.unwrap();
        let artifact_event = shown.iter().find(|e| e.kind.name() == "artifact").unwrap();
        assert!(
            !format!("{:?}", artifact_event.kind).contains("s3cr3t"),
            "{name}: events carry redacted URLs"
        );
        let done = Artifact {
            path: Some("/tmp/v.mp4".into()),
            bytes: Some(5),
            sha256: Some("ab".into()),
            state: DownloadState::Done,
            ..a
        };
        ledger.update_artifact(&done).await.unwrap();
        assert_eq!(ledger.artifacts(job.id).await.unwrap()[0], done, "{name}");
        assert!(ledger.unfinished().await.unwrap().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn jobs_are_found_by_prefix_and_listed_newest_first() {
    for (name, ledger, _keep) in backends().await {
        let a = ledger.insert_job(&new_job("first")).await.unwrap();
        let b = ledger.insert_job(&new_job("second")).await.unwrap();
        assert_eq!(
            ledger.find_job(&a.id.to_string()).await.unwrap().id,
            a.id,
            "{name}"
        );
        assert_eq!(
            ledger.find_job(&b.id.short()).await.unwrap().id,
            b.id,
            "{name}"
        );
        assert!(
            matches!(ledger.find_job("zzz").await, Err(LedgerError::NotFound(_))),
            "{name}"
        );
        assert!(
            matches!(
                ledger.find_job("0").await,
                Err(LedgerError::Ambiguous { .. })
            ),
            "{name}"
        );
        let all = ledger.jobs(&JobFilter::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|j| j.id).collect::<Vec<_>>(),
            [b.id, a.id],
            "{name}"
        );
        let pending = ledger
            .jobs(&JobFilter {
                states: vec![JobState::Pending],
                limit: Some(1),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(pending.len(), 1, "{name}");
        let none = ledger
            .jobs(&JobFilter {
                provider: Some("xyq".into()),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn uploads_are_reused_only_for_the_same_file_model_and_while_alive() {
    for (name, ledger, _keep) in backends().await {
        let now = now_millis();
        let u = UploadRecord {
            provider: "dashscope".into(),
            model: "wan2.6-i2v-flash".into(),
            local_path: "/tmp/a.png".into(),
            bytes: 10,
            modified: 7,
            reference: "oss://x/a.png".into(),
            created_at: now,
            expires_at: now + 1000,
        };
        ledger.record_upload(&u).await.unwrap();
        let hit = ledger
            .find_upload("dashscope", "wan2.6-i2v-flash", "/tmp/a.png", 10, 7, now)
            .await
            .unwrap();
        assert_eq!(hit.as_ref(), Some(&u), "{name}");
        assert!(
            ledger
                .find_upload("dashscope", "wan2.7-i2v", "/tmp/a.png", 10, 7, now)
                .await
                .unwrap()
                .is_none(),
            "{name}: other model"
        );
        assert!(
            ledger
                .find_upload("dashscope", "wan2.6-i2v-flash", "/tmp/a.png", 10, 8, now)
                .await
                .unwrap()
                .is_none(),
            "{name}: changed file"
        );
        assert!(
            ledger
                .find_upload(
                    "dashscope",
                    "wan2.6-i2v-flash",
                    "/tmp/a.png",
                    10,
                    7,
                    now + 2000
                )
                .await
                .unwrap()
                .is_none(),
            "{name}: expired"
        );
    }
}

#[tokio::test]
async fn a_reopened_file_ledger_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let id = {
        let l = SqliteLedger::open(&path).await.unwrap();
        let j = l.insert_job(&new_job("durable")).await.unwrap();
        l.transition(
            j.id,
            &[JobState::Pending],
            JobState::Submitting,
            Change::default(),
        )
        .await
        .unwrap();
        j.id
    };
    let l = SqliteLedger::open(&path).await.unwrap();
    let j = l.job(id).await.unwrap();
    assert_eq!(
        (j.state, j.prompt()),
        (JobState::Submitting, Some("durable"))
    );
}

/// Regression: processes started together on a fresh ledger (`xargs -P4 kino submit`) each ran
/// the schema migration, and all but one failed with "table jobs already exists".
#[tokio::test]
async fn many_openers_of_a_fresh_ledger_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let p = path.clone();
        set.spawn(async move { SqliteLedger::open(&p).await.map(|_| ()) });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
}
