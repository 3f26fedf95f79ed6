//! The ledger story: the same sequence of operations every backend must get right. Each story
//! takes a fresh `Ledger` on SQLite (file and in-memory) and on PostgreSQL (a fresh database on
//! the server `scripts/with-postgres` starts; required under CI, skipped elsewhere without one).
//! Stories about several processes take two handles on one store (`shared_backends`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;

use kino_core::{
    Artifact, ArtifactKind, DownloadState, EventKind, JobId, JobState, MediaProbe, NewJob,
    now_millis,
};
use kino_ledger::{
    Change, Claim, JobFilter, Ledger, LedgerError, PgLedger, SqliteLedger, UploadRecord,
};

async fn backends() -> Vec<(&'static str, Arc<dyn Ledger>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = SqliteLedger::open(&dir.path().join("ledger.sqlite"))
        .await
        .unwrap();
    let mem = SqliteLedger::in_memory().await.unwrap();
    let mut all: Vec<(&'static str, Arc<dyn Ledger>, Option<tempfile::TempDir>)> = vec![
        ("sqlite-file", Arc::new(file), Some(dir)),
        ("sqlite-memory", Arc::new(mem), None),
    ];
    if let Some(url) = kino_testkit::fresh_postgres().await {
        all.push((
            "postgres",
            Arc::new(PgLedger::connect(&url).await.unwrap()),
            None,
        ));
    }
    all
}

type Pair = (
    &'static str,
    Arc<dyn Ledger>,
    Arc<dyn Ledger>,
    Option<tempfile::TempDir>,
);

/// Two handles on one store, as two processes (or two machines) have.
async fn shared_backends() -> Vec<Pair> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let a = SqliteLedger::open(&path).await.unwrap();
    let b = SqliteLedger::open(&path).await.unwrap();
    let mut all: Vec<Pair> = vec![("sqlite-file", Arc::new(a), Arc::new(b), Some(dir))];
    if let Some(url) = kino_testkit::fresh_postgres().await {
        let a = PgLedger::connect(&url).await.unwrap();
        let b = PgLedger::connect(&url).await.unwrap();
        all.push(("postgres", Arc::new(a), Arc::new(b), None));
    }
    all
}

fn claim(owner: &str, limit: u32) -> Claim {
    let now = now_millis();
    Claim {
        owner: owner.into(),
        now,
        until: now + 60_000,
        limit,
        ..Claim::default()
    }
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
        lease: None,
        profile: None,
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

/// A probe as the engine stores it after a download.
fn probe() -> MediaProbe {
    MediaProbe {
        format: Some("mov,mp4,m4a,3gp,3g2,mj2".into()),
        duration_s: Some(5.041),
        bit_rate: Some(812_345),
        width: Some(1280),
        height: Some(720),
        video_codec: Some("h264".into()),
        fps: Some(29.97),
        has_audio: true,
        audio_codec: Some("aac".into()),
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
            probe: None,
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
            probe: Some(probe()),
            ..a
        };
        ledger.update_artifact(&done).await.unwrap();
        assert_eq!(ledger.artifacts(job.id).await.unwrap()[0], done, "{name}");
        assert!(ledger.unfinished().await.unwrap().is_empty(), "{name}");
        // Fetched again where ffprobe is missing: the old file's figures do not stay behind.
        let unprobed = Artifact {
            probe: None,
            ..done
        };
        ledger.update_artifact(&unprobed).await.unwrap();
        assert_eq!(
            ledger.artifacts(job.id).await.unwrap()[0].probe,
            None,
            "{name}"
        );
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

#[tokio::test]
async fn two_workers_claiming_at_once_never_take_the_same_job() {
    for (name, a, b, _keep) in shared_backends().await {
        for i in 0..60 {
            a.insert_job(&new_job(&format!("job {i}"))).await.unwrap();
        }
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        loop {
            let (ca, cb) = (claim("a", 7), claim("b", 7));
            let (x, y) = tokio::join!(a.claim_due(&ca), b.claim_due(&cb));
            let (x, y) = (x.unwrap(), y.unwrap());
            if x.is_empty() && y.is_empty() {
                break;
            }
            assert!(
                x.iter().all(|j| j.lease_owner.as_deref() == Some("a")),
                "{name}"
            );
            got_a.extend(x.into_iter().map(|j| j.id));
            got_b.extend(y.into_iter().map(|j| j.id));
        }
        let mut all: Vec<_> = got_a.iter().chain(&got_b).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 60, "{name}: every job claimed once");
        assert_eq!(
            got_a.len() + got_b.len(),
            60,
            "{name}: no job claimed twice"
        );
        assert!(
            !got_a.is_empty() && !got_b.is_empty(),
            "{name}: both workers got work"
        );
        let leased = a.job(got_b[0]).await.unwrap();
        assert_eq!(leased.lease_owner.as_deref(), Some("b"), "{name}");
    }
}

#[tokio::test]
async fn a_dead_workers_jobs_are_claimed_when_its_lease_runs_out_or_at_once_if_known_dead() {
    for (name, ledger, _keep) in backends().await {
        let j = ledger.insert_job(&new_job("orphan")).await.unwrap();
        let now = now_millis();
        assert!(
            ledger
                .claim(j.id, "host-b:1:x", now + 400, None)
                .await
                .unwrap()
        );
        assert!(
            ledger.claim_due(&claim("w", 10)).await.unwrap().is_empty(),
            "{name}: held"
        );
        assert_eq!(
            ledger.lease_holders(now).await.unwrap(),
            vec!["host-b:1:x".to_string()],
            "{name}"
        );
        let due = ledger.next_due("w", now).await.unwrap().unwrap();
        assert_eq!(due, now + 400, "{name}: due when the lease runs out");
        let mut known_dead = claim("w", 10);
        known_dead.breakable = vec!["host-b:1:x".into()];
        assert_eq!(
            ledger.claim_due(&known_dead).await.unwrap().len(),
            1,
            "{name}"
        );
        ledger.release(j.id, "w").await.unwrap();

        assert!(
            ledger
                .claim(j.id, "host-b:1:x", now_millis() + 300, None)
                .await
                .unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        let got = ledger.claim_due(&claim("w", 10)).await.unwrap();
        assert_eq!(got.len(), 1, "{name}: expired lease taken");
        assert_eq!(got[0].state, JobState::Pending, "{name}");
    }
}

#[tokio::test]
async fn claims_skip_answers_awaited_and_polls_not_yet_due() {
    for (name, ledger, _keep) in backends().await {
        let asks = ledger.insert_job(&new_job("asks")).await.unwrap();
        for (from, to) in [
            (JobState::Pending, JobState::Submitting),
            (JobState::Submitting, JobState::Running),
            (JobState::Running, JobState::NeedsInput),
        ] {
            ledger
                .transition(asks.id, &[from], to, Change::default())
                .await
                .unwrap();
        }
        let later = ledger.insert_job(&new_job("later")).await.unwrap();
        let at = now_millis() + 60_000;
        ledger.set_next_poll(later.id, Some(at)).await.unwrap();
        let done = ledger.insert_job(&new_job("done")).await.unwrap();
        ledger
            .transition(
                done.id,
                &[JobState::Pending],
                JobState::Canceled,
                Change::default(),
            )
            .await
            .unwrap();
        assert!(
            ledger.claim_due(&claim("w", 10)).await.unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(
            ledger.next_due("w", now_millis()).await.unwrap(),
            Some(at),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_provider_cap_counts_jobs_in_flight_across_the_fleet() {
    for (name, a, b, _keep) in shared_backends().await {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                a.insert_job(&new_job(&format!("capped {i}")))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let mut other = new_job("uncapped");
        other.provider = "xyq".into();
        a.insert_job(&other).await.unwrap();
        // One job already on the platform.
        a.transition(
            ids[0],
            &[JobState::Pending],
            JobState::Submitting,
            Change::default(),
        )
        .await
        .unwrap();
        let capped = |owner: &str| {
            let mut c = claim(owner, 10);
            c.caps = vec![("dashscope".into(), 3)];
            c
        };
        let first = a.claim_due(&capped("a")).await.unwrap();
        let second = b.claim_due(&capped("b")).await.unwrap();
        let dashscope_pending = |jobs: &[kino_core::Job]| {
            jobs.iter()
                .filter(|j| j.provider == "dashscope" && j.state == JobState::Pending)
                .count()
        };
        // The submitting one was claimable too (its lease was free), but it is no new room.
        assert_eq!(
            dashscope_pending(&first) + dashscope_pending(&second),
            2,
            "{name}: 1 + 2 = cap"
        );
        assert!(
            first.iter().chain(&second).any(|j| j.provider == "xyq"),
            "{name}: others flow"
        );
    }
}

#[tokio::test]
async fn one_pace_spaces_every_handles_turns() {
    for (name, a, b, _keep) in shared_backends().await {
        let step = std::time::Duration::from_millis(100);
        let mut waits = Vec::new();
        for i in 0..6 {
            let l = if i % 2 == 0 { &a } else { &b };
            waits.push(l.take_turn("dashscope", step).await.unwrap());
        }
        // Taken back to back: each turn is about one step after the one before.
        for (i, w) in waits.iter().enumerate().skip(1) {
            let expected = step * i as u32;
            assert!(
                *w + std::time::Duration::from_millis(60) >= expected && *w <= expected,
                "{name}: turn {i} waits {w:?}, expected about {expected:?}"
            );
        }
        assert!(
            a.take_turn("libtv", step).await.unwrap() < step,
            "{name}: keys are apart"
        );
    }
}

#[tokio::test]
async fn a_new_job_on_one_handle_wakes_a_worker_on_another() {
    for (name, a, b, _keep) in shared_backends().await {
        let mut wake = b.wakeups().await.unwrap();
        assert!(wake.crosses_processes(), "{name}");
        a.insert_job(&new_job("wake up")).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: not woken"));
    }
}

#[tokio::test]
async fn concurrent_writers_of_one_jobs_events_number_them_without_gaps() {
    for (name, a, b, _keep) in shared_backends().await {
        let j = a.insert_job(&new_job("busy")).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..40 {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            set.spawn(async move {
                l.append_event(
                    j.id,
                    &EventKind::Warning {
                        message: format!("w{i}"),
                    },
                )
                .await
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        let seqs: Vec<i64> = a
            .events(j.id, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=41).collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test]
async fn history_moves_between_sqlite_and_postgres_unchanged() {
    let mut all = backends().await;
    let (from_name, from, _k) = all.remove(0);
    // Under a profile, so that every backend's import binds it (PostgreSQL's too).
    let j = from
        .insert_job(&NewJob {
            profile: Some("work".into()),
            ..new_job("moved")
        })
        .await
        .unwrap();
    from.transition(
        j.id,
        &[JobState::Pending],
        JobState::Submitting,
        Change {
            wire: Some(json!({"input": {"prompt": "moved"}})),
            ..Change::default()
        },
    )
    .await
    .unwrap();
    from.transition(
        j.id,
        &[JobState::Submitting],
        JobState::Succeeded,
        Change {
            handle: Some("task-9".into()),
            ..Change::default()
        },
    )
    .await
    .unwrap();
    from.add_artifact(&Artifact {
        job_id: j.id,
        index: 0,
        url: "https://cdn.example/v.mp4?sig=abc".into(),
        kind: ArtifactKind::Video,
        path: None,
        bytes: None,
        sha256: None,
        mime: None,
        state: DownloadState::Pending,
        error: None,
        probe: None,
    })
    .await
    .unwrap();
    // A downloaded and probed result travels with its probe.
    let probed = Artifact {
        job_id: j.id,
        index: 1,
        url: "https://cdn.example/w.mp4".into(),
        kind: ArtifactKind::Video,
        path: Some("/tmp/w.mp4".into()),
        bytes: Some(9),
        sha256: Some("cd".into()),
        mime: Some("video/mp4".into()),
        state: DownloadState::Done,
        error: None,
        probe: Some(probe()),
    };
    from.add_artifact(&probed).await.unwrap();
    from.update_artifact(&probed).await.unwrap();
    // Its cost figures travel too, to the millionth.
    use kino_core::cost::{Amount, Estimate};
    let charged = Estimate::known(Amount::parse("0.123456 CNY").unwrap(), "reported usage");
    from.set_cost(
        j.id,
        kino_ledger::CostFigure::Estimate,
        &Estimate::unknown("no price known"),
    )
    .await
    .unwrap();
    from.set_cost(j.id, kino_ledger::CostFigure::Charged, &charged)
        .await
        .unwrap();
    let record = from.export_job(j.id).await.unwrap();
    assert_eq!(record.artifacts[1].probe, Some(probe()), "{from_name}");
    let cost = record.cost.clone().unwrap();
    assert_eq!(
        (
            cost.charged_micros,
            cost.estimate_micros,
            cost.estimate_basis.as_deref()
        ),
        (Some(123_456), None, Some("no price known")),
        "{from_name}"
    );
    // Regression: the cost row's own time was replaced by the job's on import, which reorders
    // the charges a learned estimate reads. It travels with the figures now.
    assert!(cost.updated_at.is_some(), "{from_name}");
    // Through text, as `kino ledger export | kino ledger import` carries it.
    let text = serde_json::to_string(&record).unwrap();
    let record: kino_ledger::JobRecord = serde_json::from_str(&text).unwrap();
    for (name, to, _keep) in all {
        assert!(
            to.import_job(&record).await.unwrap(),
            "{from_name} → {name}"
        );
        assert!(
            !to.import_job(&record).await.unwrap(),
            "{name}: a second import is a no-op"
        );
        assert_eq!(to.export_job(j.id).await.unwrap(), record, "{name}");
        assert_eq!(
            to.job(j.id).await.unwrap().profile.as_deref(),
            Some("work"),
            "{name}"
        );
        let artifacts = to.artifacts(j.id).await.unwrap();
        assert_eq!(
            artifacts[0].url, "https://cdn.example/v.mp4?sig=abc",
            "{name}"
        );
        assert_eq!(artifacts[1], probed, "{name}");
        assert_eq!(
            to.unfinished().await.unwrap().len(),
            1,
            "{name}: the download is still due"
        );
        // Numbering continues after the imported events.
        let e = to
            .append_event(
                j.id,
                &EventKind::Warning {
                    message: "after".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(e.seq, record.events.len() as i64 + 1, "{name}");
    }
}

#[tokio::test]
async fn describe_names_the_backend_and_its_schema() {
    for (name, ledger, _keep) in backends().await {
        let info = ledger.describe().await.unwrap();
        assert!(info.schema_version >= 1, "{name}");
        assert_eq!(
            info.backend,
            if name == "postgres" {
                "postgres"
            } else {
                "sqlite"
            }
        );
        assert!(!info.location.contains("password"), "{name}");
    }
}

#[tokio::test]
async fn a_job_recorded_under_a_lease_is_not_claimed_by_a_woken_worker() {
    for (name, ledger, _keep) in backends().await {
        let mut held = new_job("mine");
        held.lease = Some(("recorder".into(), now_millis() + 60_000));
        let j = ledger.insert_job(&held).await.unwrap();
        assert_eq!(j.lease_owner.as_deref(), Some("recorder"), "{name}");
        assert!(
            ledger
                .claim_due(&claim("worker", 10))
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        ledger.release(j.id, "recorder").await.unwrap();
        assert_eq!(
            ledger.claim_due(&claim("worker", 10)).await.unwrap().len(),
            1,
            "{name}"
        );
    }
}

/// Takes a job through a create sent `ago_ms` ago to `end` (seen now; the platform says it ran
/// all that time).
async fn finish(ledger: &dyn Ledger, job: NewJob, ago_ms: i64, end: JobState) -> JobId {
    finish_seen_late(ledger, job, ago_ms, Some(ago_ms), end).await
}

/// As [`finish`], with the platform's own run time `ran_ms` (none: it did not say).
async fn finish_seen_late(
    ledger: &dyn Ledger,
    job: NewJob,
    ago_ms: i64,
    ran_ms: Option<i64>,
    end: JobState,
) -> JobId {
    let id = ledger.insert_job(&job).await.unwrap().id;
    let sent = Change {
        wire: Some(json!({"model": job.model})),
        submitted_at: Some(now_millis() - ago_ms),
        count_attempt: true,
        ..Change::default()
    };
    ledger
        .transition(id, &[JobState::Pending], JobState::Submitting, sent)
        .await
        .unwrap();
    let handle = Change {
        handle: Some(format!("task-{id}")),
        ..Change::default()
    };
    ledger
        .transition(id, &[JobState::Submitting], JobState::Running, handle)
        .await
        .unwrap();
    if end != JobState::Running {
        let ended = Change {
            ran_ms,
            ..Change::default()
        };
        ledger
            .transition(id, &[JobState::Running], end, ended)
            .await
            .unwrap();
    }
    id
}

#[tokio::test]
async fn run_times_are_the_latest_successes_of_one_provider_and_model() {
    for (name, ledger, _keep) in backends().await {
        let ledger = ledger.as_ref();
        let mut five = new_job("five seconds");
        five.request = json!({"prompt": "five seconds", "duration": 5});
        finish(ledger, five, 90_000, JobState::Succeeded).await;
        let mut ten = new_job("ten seconds");
        ten.request = json!({"prompt": "ten seconds", "duration": 10});
        finish(ledger, ten, 150_000, JobState::Succeeded).await;
        // None of these says how long a success of this model takes.
        finish(ledger, new_job("failed"), 30_000, JobState::Failed).await;
        finish(ledger, new_job("running"), 20_000, JobState::Running).await;
        ledger.insert_job(&new_job("never sent")).await.unwrap();
        let mut other_model = new_job("other model");
        other_model.model = "wan2.2-t2v-plus".into();
        finish(ledger, other_model, 40_000, JobState::Succeeded).await;
        let mut other_provider = new_job("other provider");
        other_provider.provider = "sandbox".into();
        finish(ledger, other_provider, 50_000, JobState::Succeeded).await;

        // Regression: a job seen ten hours after its create (resumed the next morning) was
        // learned as taking ten hours, and the poll plan then slept that long before polling
        // similar jobs. Its platform run time counts; a success without one is not learned.
        let mut late = new_job("seen late");
        late.request = json!({"prompt": "seen late", "duration": 5});
        finish_seen_late(ledger, late, 36_000_000, Some(95_000), JobState::Succeeded).await;
        let mut unsaid = new_job("no run time");
        unsaid.request = json!({"prompt": "no run time", "duration": 5});
        finish_seen_late(ledger, unsaid, 36_000_000, None, JobState::Succeeded).await;
        let learned = ledger
            .run_times("dashscope", "wan2.6-t2v", 20)
            .await
            .unwrap();
        let late: Vec<u64> = learned.iter().map(|t| t.took.as_secs()).collect();
        assert_eq!(late.len(), 3, "{name}: {late:?}");
        assert_eq!(late[0], 95, "{name}: the platform's run time: {late:?}");
        let times = learned[1..].to_vec();
        let took: Vec<u64> = times.iter().map(|t| t.took.as_secs()).collect();
        // Newest success first; each the platform's own run time.
        assert_eq!(took.len(), 2, "{name}: {took:?}");
        assert_eq!(took, [150, 90], "{name}");
        assert_eq!(times[0].request["duration"], 10, "{name}");
        assert_eq!(times[1].request["duration"], 5, "{name}");
        let newest = ledger
            .run_times("dashscope", "wan2.6-t2v", 1)
            .await
            .unwrap();
        assert_eq!(newest, learned[..1], "{name}");
        assert!(
            ledger
                .run_times("dashscope", "no-such-model", 20)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_jobs_estimate_and_charge_are_kept_beside_it_and_listed_from_a_date() {
    use kino_core::cost::{Amount, Estimate};
    use kino_ledger::CostFigure;
    for (name, ledger, _keep) in backends().await {
        let old = ledger.insert_job(&new_job("old")).await.unwrap();
        let since = now_millis() + 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let priced = ledger.insert_job(&new_job("priced")).await.unwrap();
        let unknown = ledger.insert_job(&new_job("unknown")).await.unwrap();
        let bare = ledger.insert_job(&new_job("bare")).await.unwrap();
        let est = Estimate::known(Amount::parse("0.70 CNY").unwrap(), "5 s × 0.14 CNY/s");
        ledger
            .set_cost(old.id, CostFigure::Estimate, &est)
            .await
            .unwrap();
        ledger
            .set_cost(priced.id, CostFigure::Estimate, &est)
            .await
            .unwrap();
        // Written twice: the later figure wins, the estimate stays.
        let charged = Estimate::known(Amount::parse("20 credits").unwrap(), "charged");
        ledger
            .set_cost(priced.id, CostFigure::Charged, &Estimate::unknown("first"))
            .await
            .unwrap();
        ledger
            .set_cost(priced.id, CostFigure::Charged, &charged)
            .await
            .unwrap();
        ledger
            .set_cost(
                unknown.id,
                CostFigure::Estimate,
                &Estimate::unknown("no price known"),
            )
            .await
            .unwrap();
        let rows = ledger.costs(since).await.unwrap();
        let ids: Vec<JobId> = rows.iter().map(|r| r.job_id).collect();
        assert_eq!(
            ids,
            [priced.id, unknown.id, bare.id],
            "{name}: oldest first, from `since`"
        );
        assert_eq!(rows[0].estimate.as_ref(), Some(&est), "{name}");
        assert_eq!(rows[0].charged.as_ref(), Some(&charged), "{name}");
        assert_eq!(rows[0].state, JobState::Pending, "{name}");
        let u = rows[1].estimate.as_ref().unwrap();
        assert_eq!(
            (u.cost.as_ref(), u.basis.as_str()),
            (None, "no price known"),
            "{name}"
        );
        assert_eq!(rows[1].charged, None, "{name}");
        assert_eq!(
            (rows[2].estimate.as_ref(), rows[2].charged.as_ref()),
            (None, None),
            "{name}"
        );
        // What an estimate learns from: this model's charges, newest first, within the window.
        let charges = ledger
            .recent_charges("dashscope", "wan2.6-t2v", since, 5)
            .await
            .unwrap();
        assert_eq!(charges, std::slice::from_ref(&charged), "{name}");
        let none = ledger
            .recent_charges("dashscope", "another-model", 0, 5)
            .await
            .unwrap();
        assert!(none.is_empty(), "{name}");
        let later = ledger
            .recent_charges("dashscope", "wan2.6-t2v", now_millis() + 60_000, 5)
            .await
            .unwrap();
        assert!(later.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_job_keeps_the_profile_it_was_recorded_under_through_every_step_and_an_export() {
    let mut all = backends().await;
    for (name, ledger, _keep) in &all {
        let work = ledger
            .insert_job(&NewJob {
                profile: Some("work".into()),
                ..new_job("billed to work")
            })
            .await
            .unwrap();
        let env = ledger
            .insert_job(&new_job("billed to the environment"))
            .await
            .unwrap();
        assert_eq!(work.profile.as_deref(), Some("work"), "{name}");
        assert_eq!(env.profile, None, "{name}");
        let sent = Change {
            handle: Some("task-w".into()),
            ..Change::default()
        };
        let moved = ledger
            .transition(work.id, &[JobState::Pending], JobState::Queued, sent)
            .await
            .unwrap();
        assert_eq!(moved.profile.as_deref(), Some("work"), "{name}");
        // Every way of reading a job gives the profile back: by id, by prefix, listed,
        // unfinished and claimed by a worker.
        assert_eq!(
            ledger.job(work.id).await.unwrap().profile.as_deref(),
            Some("work"),
            "{name}"
        );
        let found = ledger.find_job(&work.id.short()).await.unwrap();
        assert_eq!(found.profile.as_deref(), Some("work"), "{name}");
        let listed = ledger.jobs(&JobFilter::default()).await.unwrap();
        let profiles: Vec<Option<&str>> = listed.iter().map(|j| j.profile.as_deref()).collect();
        assert_eq!(profiles, [None, Some("work")], "{name}: newest first");
        let unfinished = ledger.unfinished().await.unwrap();
        assert!(
            unfinished
                .iter()
                .any(|j| j.id == work.id && j.profile.as_deref() == Some("work")),
            "{name}"
        );
        let claimed = ledger.claim_due(&claim("w1", 16)).await.unwrap();
        assert!(
            claimed
                .iter()
                .any(|j| j.id == work.id && j.profile.as_deref() == Some("work")),
            "{name}: {claimed:?}"
        );
    }
    // An export carries the profile to another ledger.
    let (from_name, from, _k) = all.remove(0);
    let listed = from.jobs(&JobFilter::default()).await.unwrap();
    let work = listed.iter().find(|j| j.profile.is_some()).unwrap();
    let record = from.export_job(work.id).await.unwrap();
    let text = serde_json::to_string(&record).unwrap();
    assert!(text.contains("\"profile\":\"work\""), "{from_name}: {text}");
    let record: kino_ledger::JobRecord = serde_json::from_str(&text).unwrap();
    let fresh = SqliteLedger::in_memory().await.unwrap();
    assert!(fresh.import_job(&record).await.unwrap());
    assert_eq!(
        fresh.job(work.id).await.unwrap().profile.as_deref(),
        Some("work")
    );
}

/// Batches (issue 9, item 1): the whole plan is written before anything is sent, rows name
/// their job only once dispatched, and a batch is found by a prefix of its id.
#[tokio::test]
async fn a_batch_is_recorded_whole_and_its_rows_move_one_by_one() {
    use kino_ledger::{NewBatch, NewBatchRow, RowStatus};
    for (name, ledger, _keep) in backends().await {
        let id = JobId::new();
        let batch = NewBatch {
            id,
            file: "shots.jsonl".into(),
            hash: "ab".repeat(32),
            options: json!({"keep_going": false, "concurrency": 4}),
            rows: (1..=3)
                .map(|i| NewBatchRow {
                    index: i,
                    provider: "dashscope".into(),
                    model: "wan2.6-t2v".into(),
                    plan: json!({"request": {"prompt": format!("shot {i}")}}),
                })
                .collect(),
        };
        ledger.insert_batch(&batch).await.unwrap();
        let b = ledger.find_batch(&id.to_string()[..13]).await.unwrap();
        assert_eq!(
            (b.file.as_str(), b.rows.len()),
            ("shots.jsonl", 3),
            "{name}"
        );
        assert!(
            b.rows
                .iter()
                .all(|r| r.status == RowStatus::Waiting && r.job_id.is_none()),
            "{name}"
        );
        assert_eq!(b.rows[1].plan["request"]["prompt"], "shot 2", "{name}");
        assert_eq!(b.options["concurrency"], 4, "{name}");
        let job = JobId::new();
        assert!(
            ledger.dispatch_batch_row(id, 1, job).await.unwrap(),
            "{name}"
        );
        // A row is dispatched once: a second process going on with the batch leaves it.
        assert!(
            !ledger
                .dispatch_batch_row(id, 1, JobId::new())
                .await
                .unwrap(),
            "{name}"
        );
        // A later status keeps the job the row became.
        ledger
            .set_batch_row(id, 1, RowStatus::Succeeded, None, None)
            .await
            .unwrap();
        ledger
            .set_batch_row(id, 2, RowStatus::Skipped, None, Some("row 1 failed"))
            .await
            .unwrap();
        // Regression: a process stopping on a failure marked rows skipped from its own old
        // list, over a row another process had meanwhile sent (and paid for). A row moves only
        // from the status it moves from: skipped from waiting, an outcome from dispatched.
        assert!(
            !ledger
                .set_batch_row(id, 1, RowStatus::Skipped, None, Some("late"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !ledger
                .set_batch_row(id, 2, RowStatus::Failed, None, Some("late"))
                .await
                .unwrap(),
            "{name}"
        );
        let b = ledger.find_batch(&id.to_string()).await.unwrap();
        // Its last hex digits name it too.
        let digits = id.to_string().replace('-', "");
        assert_eq!(
            ledger
                .find_batch(&digits[digits.len() - 8..])
                .await
                .unwrap()
                .id,
            id,
            "{name}"
        );
        assert_eq!(
            (b.rows[0].status, b.rows[0].job_id),
            (RowStatus::Succeeded, Some(job)),
            "{name}"
        );
        assert_eq!(b.rows[1].reason.as_deref(), Some("row 1 failed"), "{name}");
        let counts = b.counts();
        assert!(
            counts.contains(&(RowStatus::Waiting, 1)),
            "{name}: {counts:?}"
        );
        assert!(matches!(
            ledger
                .set_batch_row(id, 9, RowStatus::Failed, None, None)
                .await,
            Err(LedgerError::NotFound(_))
        ));
        // Newest first; an unknown prefix is not found.
        let other = NewBatch {
            id: JobId::new(),
            rows: Vec::new(),
            ..batch.clone()
        };
        ledger.insert_batch(&other).await.unwrap();
        let list = ledger.batches(10).await.unwrap();
        assert_eq!(
            list.iter().map(|b| b.id).collect::<Vec<_>>(),
            [other.id, id],
            "{name}"
        );
        assert!(matches!(
            ledger.find_batch("ffffffff").await,
            Err(LedgerError::NotFound(_))
        ));
        assert!(matches!(
            ledger.find_batch("not-hex!").await,
            Err(LedgerError::NotFound(_))
        ));
    }
}
