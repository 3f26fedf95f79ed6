//! The engine against the embedded sandbox (DashScope), through the public `Engine` API.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use kino_core::{JobRequest, JobState, PollPolicy, Provider, Secret};
use kino_engine::{Engine, EngineConfig};
use kino_ledger::{Ledger, SqliteLedger};
use kino_providers::dashscope::{DashScope, DashScopeConfig};
use kino_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// DashScope's policy shape (growing to a cap), scaled down so that a test job of 3 s needs
/// about ten polls on it alone.
fn policy() -> PollPolicy {
    PollPolicy {
        initial: Duration::from_millis(150),
        max: Duration::from_secs(1),
        factor: 1.15,
    }
}

fn engine(sandbox: &SandboxHandle, ledger: Arc<dyn Ledger>, out: &std::path::Path) -> Arc<Engine> {
    engine_with(sandbox, ledger, out, None)
}

fn engine_with(
    sandbox: &SandboxHandle,
    ledger: Arc<dyn Ledger>,
    out: &std::path::Path,
    poll_override: Option<PollPolicy>,
) -> Arc<Engine> {
    let mut cfg = DashScopeConfig::new(sandbox.dashscope_base_url(), Secret::new("sk-engine-test"));
    cfg.poll_policy = policy();
    cfg.queries_per_second = 1000;
    let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(DashScope::new(cfg).unwrap())];
    let config = EngineConfig {
        default_out_dir: out.to_path_buf(),
        poll_override,
        ..EngineConfig::default()
    };
    let downloads = kino_http::download_client("kino-engine-test").unwrap();
    Arc::new(Engine::new(ledger, providers, downloads, config))
}

/// A sandbox whose tasks take `pending_ms` then `running_ms`, and a SQLite ledger in a
/// temporary directory (kept alive by the returned handle), which is also the output directory.
async fn sandbox_and_ledger(
    pending_ms: u64,
    running_ms: u64,
) -> (SandboxHandle, tempfile::TempDir, Arc<dyn Ledger>) {
    let config = SandboxConfig {
        pending: Duration::from_millis(pending_ms),
        running: Duration::from_millis(running_ms),
        tasks_qps: None,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start([127, 0, 0, 1].into(), 0, config)
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(
        SqliteLedger::open(&out.path().join("ledger.sqlite"))
            .await
            .unwrap(),
    );
    (sandbox, out, ledger)
}

/// Runs one job to its end; (task queries it cost, submit → success seen).
async fn run(engine: &Engine, sandbox: &SandboxHandle, prompt: &str) -> (u64, Duration) {
    let request = JobRequest {
        fields: json!({"prompt": prompt}).as_object().unwrap().clone(),
        ..JobRequest::default()
    };
    let before = sandbox.stats().queries;
    let job = engine
        .create("dashscope", None, &request, None, None)
        .await
        .unwrap();
    let outcome = engine.drive(job.id, None).await.unwrap();
    assert_eq!(outcome.job.state, JobState::Succeeded, "{prompt}");
    let job = outcome.job;
    let took = job.finished_at.unwrap() - job.submitted_at.unwrap();
    (
        sandbox.stats().queries - before,
        Duration::from_millis(took as u64),
    )
}

/// Issue 8: after a few jobs of a model, the next one of the same kind sleeps through the time
/// in which none of them finished and polls where they did. Counts, not times, are asserted:
/// the margins hold on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_polled_where_similar_jobs_finished() {
    let (sandbox, out, ledger) = sandbox_and_ledger(500, 2500).await;
    let first = engine(&sandbox, ledger.clone(), out.path());

    // No history: the policy alone (0.15 s growing ×1.15) needs about ten polls for 3 s.
    let (base_polls, base_took) = run(&first, &sandbox, "the first of its kind").await;
    assert!(base_polls >= 7, "{base_polls} polls");
    // Four more at once: five similar jobs in the ledger.
    let mut warm = tokio::task::JoinSet::new();
    for i in 0..4 {
        let (engine, sandbox) = (first.clone(), sandbox.clone());
        warm.spawn(async move { run(&engine, &sandbox, &format!("warm-up {i}")).await });
    }
    let mut slowest = base_took;
    while let Some(done) = warm.join_next().await {
        slowest = slowest.max(done.unwrap().1);
    }

    // The same engine (what it saw, kept in memory) and a fresh one on the same ledger (what
    // the ledger says) both plan from the five: two early polls, a sleep to the window, and
    // a poll or two in it.
    let fresh = engine(&sandbox, ledger.clone(), out.path());
    for (who, engine) in [("same engine", &first), ("fresh engine", &fresh)] {
        let (polls, took) = run(engine, &sandbox, &format!("learned by the {who}")).await;
        assert!(
            polls <= 6 && polls + 3 <= base_polls,
            "{who}: {polls} polls against {base_polls} without history"
        );
        // Seen no later than a policy interval (1 s) after the slowest of its kind could
        // have been, with room for a busy machine.
        assert!(
            took <= slowest + Duration::from_secs(3),
            "{who}: seen {took:?} after its create; the slowest before took {slowest:?}"
        );
    }

    // A poll override (tests, impatient users) is followed as it always was, by count.
    let overridden = engine_with(&sandbox, ledger, out.path(), Some(policy()));
    let (polls, _) = run(&overridden, &sandbox, "overridden").await;
    assert!(polls >= 7, "{polls} polls with the override");
}

/// A result fetched again used to keep the probe of the file it replaced when nothing probed
/// the new one (an engine without media tools): figures of a file that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_downloaded_again_does_not_keep_the_old_files_probe() {
    let (sandbox, out, ledger) = sandbox_and_ledger(50, 100).await;
    let engine = engine(&sandbox, ledger.clone(), out.path());
    run(&engine, &sandbox, "a heron fetched twice").await;
    let job = ledger.jobs(&Default::default()).await.unwrap().remove(0);
    // The first file's figures, as a machine with ffprobe recorded them.
    let mut a = ledger.artifacts(job.id).await.unwrap().remove(0);
    a.probe = Some(kino_core::MediaProbe {
        duration_s: Some(2.0),
        ..Default::default()
    });
    ledger.update_artifact(&a).await.unwrap();
    std::fs::remove_file(a.path.as_deref().unwrap()).unwrap();

    let again = engine.download(job.id, None, None).await.unwrap();
    assert!(std::path::Path::new(again[0].path.as_deref().unwrap()).is_file());
    assert_eq!(again[0].probe, None);
    assert_eq!(ledger.artifacts(job.id).await.unwrap()[0].probe, None);
}

/// Counts the turns a reconcile takes.
#[derive(Default)]
struct CountedTurns(std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl kino_core::Turns for CountedTurns {
    async fn next(&self) -> Result<(), kino_core::ProviderError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A reconcile used to take one turn of the fleet's pace and then send two list pages and a
/// query per candidate task on it; with three workers sharing a PostgreSQL pace, the fleet
/// test drew 429s from the sandbox. Every request it sends now takes its own turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_takes_a_turn_for_every_request_it_sends() {
    let (sandbox, out, ledger) = sandbox_and_ledger(50, 100).await;
    let engine = engine(&sandbox, ledger.clone(), out.path());
    for prompt in ["a heron", "a crane", "a stork"] {
        run(&engine, &sandbox, prompt).await;
    }
    let jobs = ledger.jobs(&Default::default()).await.unwrap();
    let crane = jobs.iter().find(|j| j.prompt() == Some("a crane")).unwrap();
    let provider = DashScope::new(DashScopeConfig::new(
        sandbox.dashscope_base_url(),
        Secret::new("sk-engine-test"),
    ))
    .unwrap();
    let turns = CountedTurns::default();
    let before = sandbox.stats();
    let found = provider
        .reconcile(&kino_core::LostCreate {
            model: &crane.model,
            sent_at: crane.submitted_at.unwrap(),
            exclude: &[],
            previous: None,
            wire: crane.wire.as_ref(),
            turns: &turns,
        })
        .await
        .unwrap();
    assert_eq!(
        found,
        kino_core::Reconciled::Matched(crane.handle.clone().unwrap())
    );
    let after = sandbox.stats();
    let sent = (after.lists - before.lists) + (after.queries - before.queries);
    assert!(sent >= 4, "two list pages and the three tasks: {sent}");
    assert_eq!(turns.0.into_inner(), sent);
}
