//! Issue 8, crash consistency: `kino run` is killed with SIGKILL at a random moment (while it
//! records the job, sends the create, reads skills.video's stream, polls, downloads, renames or
//! writes the ledger), then `kino resume` finishes what is left. Whatever the moment:
//! - no job is lost: a platform never made a task kino has no record of;
//! - nothing is paid twice: at most one create per job;
//! - no file under a final name is partial or corrupt: every result file is byte-identical to
//!   what the platform serves, and no `.part` is left behind a finished job;
//! - the job ends succeeded, or where the platform cannot be asked (contracts §3–5, and
//!   skills.video once a generation has left its running list) `unknown`, saying so, or failed
//!   as "never made … nothing was charged" where DashScope's task list proves it.
//!
//! `KINO_CRASH_RUNS` (default 15, three per provider) and `KINO_CRASH_SEED` choose the runs; the
//! moments hit are printed (`--no-capture`). BENCHMARKS.md records a long run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, fast_config, spawn};
use serde_json::Value;

use super::faults::{assert_complete, cases};
use super::{ctx_with, kino, sha256_file};

/// splitmix64: a seeded, dependency-free source of kill moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The only job of the ledger, with its results (`kino status`), if one was recorded.
fn the_job(t: &TestContext) -> Option<Value> {
    let jobs = kino(t, &["list", "--json"]).json();
    let jobs = jobs.as_array().cloned().unwrap_or_default();
    assert!(jobs.len() <= 1, "{jobs:?}");
    let id = jobs.first()?["job_id"].as_str()?.to_string();
    Some(kino(t, &["status", &id, "--json"]).json())
}

/// Where the killed process had got to, read from the ledger it left.
fn moment_of(t: &TestContext) -> String {
    let Some(job) = the_job(t) else {
        return "before the job was recorded".into();
    };
    let state = job["state"].as_str().unwrap_or("?");
    let artifacts: Vec<&Value> = job["artifacts"].as_array().into_iter().flatten().collect();
    let parts = TestContext::files_under(t.work.path())
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".part"));
    match state {
        "succeeded" if artifacts.iter().all(|a| a["state"] == "done") => "after the end".into(),
        "succeeded" | "running" if parts => "downloading".into(),
        "succeeded" => "finished, before downloading".into(),
        other => other.to_string(),
    }
}

/// Every file kino left in the work directory: a `.part`, or a whole result.
fn assert_no_partial_file_under_a_final_name(p: &str, t: &TestContext, job: Option<&Value>) {
    let recorded: Vec<String> = job
        .and_then(|j| j["artifacts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a["sha256"].as_str().map(str::to_string))
        .collect();
    for file in TestContext::files_under(t.work.path()) {
        if file.to_string_lossy().ends_with(".part") {
            continue;
        }
        let sha = sha256_file(&file);
        assert!(
            recorded.contains(&sha),
            "{p}: {} is not a whole result ({sha}; recorded {recorded:?})",
            file.display()
        );
    }
}

/// The bytes of every result are the platform's own.
fn assert_platform_bytes(p: &str, t: &TestContext, job: &Value) {
    let handle = job["handle"].as_str().unwrap_or_default();
    for a in job["artifacts"].as_array().into_iter().flatten() {
        let url = a["url"].as_str().unwrap_or_default();
        let truth = t
            .sandbox
            .artifact_sha256(url)
            .or_else(|| t.sandbox.result_sha256(handle));
        assert_eq!(a["sha256"].as_str(), truth.as_deref(), "{p}: {a}");
        let path = Path::new(a["path"].as_str().unwrap_or_default());
        assert_eq!(Some(sha256_file(path)), truth, "{p}: {a}");
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_never_loses_a_job_pays_twice_or_leaves_a_partial_file() {
    let runs = env_u64("KINO_CRASH_RUNS", 15);
    let seed = env_u64("KINO_CRASH_SEED", 0x6b69_6e6f);
    let mut moments = Moments(seed);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    let started = Instant::now();
    for run in 0..runs {
        let all = cases();
        let case = &all[(run % all.len() as u64) as usize];
        let p = case.provider;
        // Every phase lasts long enough to be hit: a slow create answer (DashScope), a few
        // polls, and a 2 MiB result that takes about half a second to download.
        let t = ctx_with(SandboxConfig {
            submit_delay: Duration::from_millis(300),
            pending: Duration::from_millis(300),
            running: Duration::from_millis(500),
            video_size: Some(2 * 1024 * 1024),
            download_rate: Some(4 * 1024 * 1024),
            ..fast_config()
        });
        let after = Duration::from_millis(moments.next() % 1600);
        let mut cmd = t.kino();
        cmd.args(case.args(&["--timeout", "60s"]));
        let mut child = spawn(cmd);
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL; it may have finished already
        let _ = child.wait();
        let moment = moment_of(&t);
        *seen.entry(format!("{p}: {moment}")).or_default() += 1;
        let what = format!("run {run} ({p}, killed after {after:?}, {moment}, seed {seed})");

        let r = kino(&t, &["resume", "--json", "--timeout", "60s"]);
        let job = the_job(&t);
        let s = t.stats();
        let creates = (case.creates)(&s);
        let Some(job) = job.as_ref() else {
            // Killed before the job was recorded: then nothing may have been sent.
            assert_eq!(creates, 0, "{what}: a task kino has no record of: {s:?}");
            assert_no_partial_file_under_a_final_name(p, &t, None);
            *outcomes
                .entry("never recorded, nothing sent".into())
                .or_default() += 1;
            continue;
        };
        assert!(creates <= 1, "{what}: paid twice: {s:?}");
        let state = job["state"].as_str().unwrap_or_default().to_string();
        match state.as_str() {
            "succeeded" => {
                assert_eq!(r.code, 0, "{what}: {}", r.stderr);
                assert_eq!(creates, 1, "{what}");
                assert_complete(p, job);
                assert_platform_bytes(p, &t, job);
                let parts: Vec<_> = TestContext::files_under(t.work.path())
                    .into_iter()
                    .filter(|f| f.to_string_lossy().ends_with(".part"))
                    .collect();
                assert!(parts.is_empty(), "{what}: {parts:?}");
            }
            "unknown" => {
                // Only where the platform cannot be asked, and only for a kill mid-create.
                assert!(
                    !case.proves_absence,
                    "{what}: DashScope's list always settles a lost create: {job}"
                );
                assert!(
                    r.stderr.contains("will not submit again"),
                    "{what}: {}",
                    r.stderr
                );
            }
            "failed" => {
                let error = job["error"].as_str().unwrap_or_default();
                assert!(
                    case.proves_absence && error.contains("nothing was charged"),
                    "{what}: {job}"
                );
                assert_eq!(creates, 0, "{what}");
            }
            other => panic!("{what}: resume left the job {other}: {job}"),
        }
        assert_no_partial_file_under_a_final_name(p, &t, Some(job));
        *outcomes.entry(state).or_default() += 1;
    }
    eprintln!(
        "{runs} kills (seed {seed}) in {:.0?}; moments hit: {seen:#?}; outcomes: {outcomes:?}",
        started.elapsed()
    );
}
