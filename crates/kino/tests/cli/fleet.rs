//! Issue 7: `kino worker` processes sharing one ledger divide the work, never pay twice, keep a
//! platform's rate limit and a provider's concurrency cap as a fleet, and survive `kill -9`.
//! PostgreSQL runs under CI (scripts/with-postgres); the SQLite stories run everywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, fast_config};

use super::{ctx_with, sha256_file};

const PROVIDERS: [&str; 5] = ["dashscope", "skillsvideo", "xyq", "libtv", "xingyun3d"];

/// Platforms on which a task whose create answer was lost cannot always be found (contracts:
/// Xiaoyunque cannot list threads, LibTV sessions, xingyun3d render tasks; skills.video lists
/// only generations still running, and the sandbox's finish in under a second). A worker killed
/// while such a create is in flight leaves that job `unknown`: resending could pay twice, so
/// kino never does, and says where a person can look. DashScope's task list always settles it.
const UNLISTABLE: [&str; 4] = ["xyq", "libtv", "xingyun3d", "skillsvideo"];

/// The cap the fleet keeps on xingyun3d jobs in flight.
const XY_CAP: usize = 6;
/// The platform's DashScope limit (the sandbox answers 429 beyond it) and the pace the fleet
/// keeps: kino's default.
const PLATFORM_QPS: u32 = 20;
const PACE_QPS: &str = "18";

struct Fleet {
    t: TestContext,
    env: Vec<(&'static str, String)>,
    out: PathBuf,
}

impl Fleet {
    fn new(ledger: Option<String>) -> Self {
        Self::with_config(ledger, fast_config())
    }

    fn with_config(ledger: Option<String>, config: SandboxConfig) -> Self {
        let t = ctx_with(SandboxConfig {
            tasks_qps: Some(PLATFORM_QPS),
            ..config
        });
        let out = t.work_path("results");
        let mut env = vec![
            ("KINO_DASHSCOPE_QPS", PACE_QPS.to_string()),
            ("KINO_XINGYUN3D_CONCURRENCY", XY_CAP.to_string()),
            ("KINO_POLL_INITIAL_MS", "250".into()),
            ("KINO_POLL_MAX_MS", "1000".into()),
            ("KINO_LEASE_SECS", "5".into()),
            ("KINO_LOG", "warn".into()),
            // No ffprobe: probing every one of the fleet's ~800 results costs about 80 s of CPU
            // on a 2-core runner, and a machine that busy holds paced requests back until they
            // leave (or are read by the sandbox) in a burst, which drew 429s here. This test is
            // about the fleet; probing has its own (tests/cli/media.rs).
            ("KINO_FFPROBE", "/nonexistent/ffprobe".into()),
            ("KINO_FFMPEG", "/nonexistent/ffmpeg".into()),
        ];
        if let Some(url) = ledger {
            env.push(("KINO_LEDGER", url));
        }
        Self { t, env, out }
    }

    fn kino(&self) -> Command {
        let mut cmd = self.t.kino();
        cmd.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self
            .kino()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Records `per_provider` jobs of each provider for the workers, eight submitters at once.
    fn submit(&self, per_provider: usize) -> Vec<String> {
        let out = self.out.display().to_string();
        let mut commands = Vec::new();
        for i in 0..per_provider {
            for p in PROVIDERS {
                let text = format!("fleet job {i} on {p}");
                let mut args: Vec<String> = ["submit", "--queue", "--json", "--out", &out, p]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                match p {
                    "skillsvideo" => args.extend(["--model".into(), "google/veo-3.1".into(), text]),
                    "xingyun3d" => {
                        args.extend(["--segment".into(), text]);
                        args.extend(super::XY_LOOK.iter().map(|s| s.to_string()));
                    }
                    _ => args.push(text),
                }
                commands.push(args);
            }
        }
        let ids = std::sync::Mutex::new(Vec::new());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(args) = commands.get(i) else { break };
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        let receipt = self.json(&args);
                        assert_eq!(receipt["state"], "pending", "{receipt}");
                        let id = receipt["job_id"].as_str().unwrap_or_default().to_string();
                        ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
                    }
                });
            }
        });
        ids.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn worker(&self, n: usize) -> Child {
        let log = std::fs::File::create(self.t.work_path(&format!("worker-{n}.log")))
            .unwrap_or_else(|e| panic!("{e}"));
        self.kino()
            .args(["worker", "--concurrency", "64"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn worker_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.t.work_path(&format!("worker-{n}.log"))).unwrap_or_default()
    }

    fn export(&self) -> Vec<Value> {
        let out = self
            .kino()
            .args(["ledger", "export"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn done(&self) -> usize {
        let list = self.json(&["list", "--json", "--state", "succeeded"]);
        list.as_array().map_or(0, Vec::len)
    }

    /// Jobs that reached where they rest: succeeded with every result on disk, or `unknown` on
    /// a platform that cannot list its tasks (see `UNLISTABLE`).
    fn settled(&self) -> usize {
        self.export()
            .iter()
            .filter(|r| {
                let job = &r["job"];
                let on_disk = r["artifacts"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|a| a["state"] == "done"));
                (job["state"] == "succeeded" && on_disk)
                    || never_made(job)
                    || (job["state"] == "unknown"
                        && UNLISTABLE.contains(&job["provider"].as_str().unwrap_or_default()))
            })
            .count()
    }
}

/// A job whose create died with its worker before it left: the task list proved it was never
/// made, so it failed with nothing charged.
fn never_made(job: &Value) -> bool {
    job["state"] == "failed"
        && job["error"]
            .as_str()
            .is_some_and(|e| e.contains("never made a task"))
}

/// The most jobs of `provider` that were ever in flight at once, from the ledger's events: from
/// the moment a job went `submitting` to the moment it ended.
fn peak_in_flight(records: &[Value], provider: &str) -> usize {
    let mut edges = Vec::new();
    for r in records.iter().filter(|r| r["job"]["provider"] == provider) {
        let events = r["events"].as_array().into_iter().flatten();
        let mut start = None;
        let mut end = None;
        for e in events {
            let to = e["to"].as_str().unwrap_or_default();
            let at = e["at"].as_i64().unwrap_or_default();
            match to {
                "submitting" if start.is_none() => start = Some(at),
                "succeeded" | "failed" | "canceled" | "expired" | "needs_input" => end = Some(at),
                _ => {}
            }
        }
        if let (Some(s), Some(e)) = (start, end) {
            edges.push((s, 1i64));
            edges.push((e, -1i64));
        }
    }
    // At equal times an end comes first: a slot freed and taken in the same millisecond.
    edges.sort();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

/// Every job succeeded once, with every result on disk (or, on a platform that cannot list its
/// tasks, rests `unknown` because its create was in flight when its worker was killed); the
/// sandbox saw one create per job, no 429 and no more DashScope queries in a second than its
/// limit; xingyun3d's cap held.
fn assert_fleet_kept_its_promises(f: &Fleet, ids: &[String], per_provider: u64) {
    let records = f.export();
    assert_eq!(records.len(), ids.len());
    let mut lost_in_flight = 0;
    for r in &records {
        let job = &r["job"];
        assert_eq!(job["attempts"], 1, "one create request: {job}");
        if never_made(job) {
            lost_in_flight += 1;
            continue;
        }
        if job["state"] == "unknown" {
            let provider = job["provider"].as_str().unwrap_or_default();
            assert!(UNLISTABLE.contains(&provider), "{r}");
            let events = r["events"].to_string();
            assert!(events.contains("reconciliation inconclusive"), "{events}");
            lost_in_flight += 1;
            continue;
        }
        assert_eq!(job["state"], "succeeded", "{job}");
        let artifacts = r["artifacts"].as_array().cloned().unwrap_or_default();
        assert!(!artifacts.is_empty(), "{r}");
        for a in artifacts {
            assert_eq!(a["state"], "done", "{a}");
            let path = Path::new(a["path"].as_str().unwrap_or_default());
            assert!(path.starts_with(&f.out), "{}", path.display());
            assert_eq!(a["sha256"].as_str(), Some(sha256_file(path).as_str()));
        }
    }
    let s = f.t.stats();
    // Never twice: every succeeded job was created once, and a job left `unknown` at most once
    // (its create may have died before it left the killed worker).
    let count = |provider: &str, state: &str| {
        records
            .iter()
            .filter(|r| r["job"]["provider"] == provider && r["job"]["state"] == state)
            .count() as u64
    };
    for (provider, creates) in [
        ("dashscope", s.creates),
        ("skillsvideo", s.sv_creates),
        ("xyq", s.xyq_runs),
        ("libtv", s.libtv_sends),
        ("xingyun3d", s.xy_creates),
    ] {
        let (done, unknown) = (count(provider, "succeeded"), count(provider, "unknown"));
        let unsent = records
            .iter()
            .filter(|r| r["job"]["provider"] == provider && never_made(&r["job"]))
            .count() as u64;
        assert_eq!(done + unknown + unsent, per_provider, "{provider}");
        assert!(
            done <= creates && creates <= done + unknown,
            "{provider}: {creates} creates for {done} succeeded and {unknown} unknown jobs"
        );
    }
    assert_eq!(
        count("dashscope", "unknown"),
        0,
        "DashScope's task list settles every job"
    );
    assert_eq!(s.throttled, 0, "{s:?}");
    assert!(
        s.peak_tasks_per_second <= u64::from(PLATFORM_QPS),
        "{} DashScope queries in one second",
        s.peak_tasks_per_second
    );
    // Reported, not asserted: how many creates the kill caught in flight.
    eprintln!("jobs whose create was in flight on the killed worker: {lost_in_flight}");
    let peak = peak_in_flight(&records, "xingyun3d");
    assert!(
        peak <= XY_CAP && peak > 0,
        "{peak} xingyun3d jobs in flight at once"
    );
}

fn wait_for(f: &Fleet, total: usize, limit: Duration, workers: &[usize]) {
    let start = Instant::now();
    loop {
        let done = f.settled();
        if done == total {
            return;
        }
        if start.elapsed() > limit {
            let logs: Vec<String> = workers.iter().map(|n| f.worker_log(*n)).collect();
            let stuck: Vec<Value> = f
                .export()
                .into_iter()
                .filter(|r| {
                    r["job"]["state"] != "succeeded"
                        || r["artifacts"]
                            .as_array()
                            .is_none_or(|a| a.iter().any(|a| a["state"] != "done"))
                })
                .collect();
            panic!(
                "{done} of {total} jobs done after {limit:?}; worker logs: {logs:#?}; unfinished: {stuck:#?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The fleet story: `workers` workers, `per_provider` jobs of each of the five providers, and
/// worker 0 killed with SIGKILL once two fifths of the jobs are done.
fn fleet_story(ledger: Option<String>, workers: usize, per_provider: usize) {
    let f = Fleet::new(ledger);
    let ids = f.submit(per_provider);
    let total = ids.len();
    let mut children = Reaper((0..workers).map(|n| f.worker(n)).collect());
    let children = &mut children.0;
    let start = Instant::now();
    while f.done() < total * 2 / 5 {
        assert!(start.elapsed() < Duration::from_secs(180), "no progress");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Mid-run, with jobs under its lease: gone without a word.
    let _ = children[0].kill();
    let _ = children[0].wait();
    wait_for(
        &f,
        total,
        Duration::from_secs(240),
        &(1..workers).collect::<Vec<_>>(),
    );
    assert_fleet_kept_its_promises(&f, &ids, per_provider as u64);
}

#[test]
fn a_fleet_of_three_workers_on_postgres_completes_500_jobs_exactly_once_through_a_kill() {
    let Some(url) = ledger_db() else { return };
    fleet_story(Some(url), 3, 100);
}

#[test]
fn two_workers_on_one_sqlite_ledger_divide_jobs_and_survive_a_kill() {
    fleet_story(None, 2, 8);
}

#[test]
fn kino_ledger_export_then_import_moves_history_from_sqlite_to_postgres() {
    let Some(url) = ledger_db() else { return };
    let f = Fleet::new(None);
    let r =
        f.t.kino()
            .args(["run", "--json", "a lighthouse", "--out"])
            .arg(&f.out)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let file = f.t.work_path("history.jsonl");
    let exported = f
        .kino()
        .args(["ledger", "export", "--out"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(exported.status.success());
    let migrate = f
        .kino()
        .env("KINO_LEDGER", &url)
        .args(["ledger", "migrate", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let info: Value = serde_json::from_slice(&migrate.stdout).unwrap_or_default();
    assert_eq!(info["backend"], "postgres", "{info}");
    assert!(!info["location"].as_str().unwrap_or_default().is_empty());
    for expected in [1, 0] {
        let imported = f
            .kino()
            .env("KINO_LEDGER", &url)
            .args(["ledger", "import", "--json"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let doc: Value = serde_json::from_slice(&imported.stdout).unwrap_or_default();
        assert_eq!(doc["imported"], expected, "{doc}");
    }
    let here = f.json(&["list", "--json"]);
    let there: Value = serde_json::from_slice(
        &f.kino()
            .env("KINO_LEDGER", &url)
            .args(["list", "--json"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout,
    )
    .unwrap_or_default();
    assert_eq!(here, there, "the same history on both ledgers");
}

#[test]
fn on_a_shared_ledger_submit_hands_the_job_to_the_fleet_unless_told_here() {
    let Some(url) = ledger_db() else { return };
    let f = Fleet::new(Some(url));
    let queued = f.json(&["submit", "--json", "for the fleet"]);
    assert_eq!(queued["state"], "pending", "{queued}");
    assert_eq!(f.t.stats().creates, 0, "nothing sent by the submitter");
    let here = f.json(&["submit", "--here", "--json", "from here"]);
    assert_eq!(here["state"], "queued", "{here}");
    assert_eq!(f.t.stats().creates, 1);
    let worker = Reaper(vec![f.worker(0)]);
    let done = kino_testkit::eventually(Duration::from_secs(60), || f.settled() == 2);
    drop(worker);
    assert!(done, "{}", f.worker_log(0));
    assert_eq!(f.t.stats().creates, 2);
}

#[test]
fn a_bad_pace_or_cap_is_refused_naming_the_variable_before_anything_is_recorded() {
    let f = Fleet::new(None);
    for (var, value) in [
        ("KINO_DASHSCOPE_QPS", "fast"),
        ("KINO_DASHSCOPE_QPS", "-3"),
        // Regression: a pace too slow for a Duration panicked instead.
        ("KINO_DASHSCOPE_QPS", "1e-300"),
        ("KINO_XYQ_CONCURRENCY", "0"),
    ] {
        let r = f
            .kino()
            .env(var, value)
            .args(["submit", "--json", "never sent"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(3), "{var}={value}: {stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
    assert_eq!(f.json(&["list", "--json"]), serde_json::json!([]));
    assert_eq!(f.t.stats().create_attempts, 0);
}

#[test]
fn the_password_of_a_postgres_ledger_never_shows() {
    let f = Fleet::new(None);
    let secret = "hunter2-pg-SECRET";
    // Nothing listens on port 1: every command fails to open the ledger.
    let url = format!("postgres://kino:{secret}@127.0.0.1:1/kino");
    for args in [
        vec!["list", "--json"],
        vec!["doctor", "--json"],
        vec!["ledger", "migrate"],
        vec!["worker"],
        vec!["submit", "--json", "a kite"],
    ] {
        let r = f
            .kino()
            .env("KINO_LEDGER", &url)
            .env("KINO_LOG", "trace")
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(!all.contains(secret), "{args:?}: {all}");
        assert!(
            all.contains("kino:***@127.0.0.1:1"),
            "{args:?} names the ledger: {all}"
        );
    }
}

/// An imported job's prefix names its result files, so an export file is input like `--prefix`:
/// one that climbs out of the output directory is refused (exit 2) and nothing is imported.
#[test]
fn an_imported_prefix_cannot_write_outside_the_output_directory() {
    let f = Fleet::new(None);
    let r = f
        .kino()
        .args(["submit", "--queue", "--json", "a kite"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status.success());
    let mut records = f.export();
    records[0]["job"]["prefix"] = Value::String("../../escaped".into());
    records[0]["job"]["job_id"] = Value::String("01a1fe00-0000-7000-8000-000000000001".into());
    let file = f.t.work_path("hostile.jsonl");
    std::fs::write(&file, format!("{}\n", records[0])).unwrap_or_else(|e| panic!("{e}"));
    let r = f
        .kino()
        .args(["ledger", "import"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("prefix") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert_eq!(f.export().len(), 1, "nothing imported");
}

#[test]
fn a_bad_import_file_imports_nothing_and_exits_2() {
    let f = Fleet::new(None);
    let file = f.t.work_path("bad.jsonl");
    std::fs::write(&file, "{\"job\": 1}\n").unwrap_or_else(|e| panic!("{e}"));
    let r = f
        .kino()
        .args(["ledger", "import"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("line 1"), "{stderr}");
    assert_eq!(f.json(&["list", "--json"]), serde_json::json!([]));
}

/// Regression: a worker's claim puts its own name on the lease of a job a killed `kino run`
/// left `submitting`; the worker then took the lost request for its own and watched the job
/// forever instead of reconciling it.
#[test]
fn a_worker_reconciles_a_job_whose_sender_was_killed_mid_submit() {
    let f = Fleet::with_config(
        None,
        SandboxConfig {
            submit_delay: Duration::from_secs(2),
            ..fast_config()
        },
    );
    let mut run = f.kino();
    run.args(["run", "--json", "a paid video"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(kino_testkit::eventually(Duration::from_secs(30), || f
        .t
        .stats()
        .creates
        == 1));
    let _ = child.kill();
    let _ = child.wait();
    let worker = Reaper(vec![f.worker(0)]);
    let done = kino_testkit::eventually(Duration::from_secs(60), || f.done() == 1);
    drop(worker);
    assert!(done, "{}", f.worker_log(0));
    let records = f.export();
    let events = records[0]["events"].to_string();
    assert!(
        events.contains("found in the platform's task list"),
        "{events}"
    );
    assert_eq!(f.t.stats().creates, 1);
}

/// Kills the workers however the test ends: a failed assertion must not leave them running.
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Regression: two DashScope jobs whose creates were in flight in one killed process each saw
/// both tasks in the task list and stayed `unknown` for good; a finished task shows its prompt,
/// which tells them apart.
#[test]
fn two_creates_lost_together_are_told_apart_by_their_prompts() {
    let f = Fleet::with_config(
        None,
        SandboxConfig {
            submit_delay: Duration::from_secs(2),
            ..fast_config()
        },
    );
    let mut runs = Vec::new();
    for prompt in ["a red kite", "a blue boat"] {
        let mut run = f.kino();
        run.args(["run", "--json", prompt])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        runs.push(run.spawn().unwrap_or_else(|e| panic!("{e}")));
    }
    let runs = Reaper(runs);
    assert!(kino_testkit::eventually(Duration::from_secs(30), || f
        .t
        .stats()
        .creates
        == 2));
    drop(runs);
    let worker = Reaper(vec![f.worker(0)]);
    let done = kino_testkit::eventually(Duration::from_secs(60), || f.settled() == 2);
    drop(worker);
    assert!(done, "{:#?}", f.export());
    for r in f.export() {
        let job = &r["job"];
        assert_eq!(job["state"], "succeeded", "{r}");
        let sent =
            f.t.sandbox
                .task_prompt(job["handle"].as_str().unwrap_or_default());
        assert_eq!(sent.as_deref(), job["request"]["prompt"].as_str(), "{r}");
    }
    assert_eq!(f.t.stats().creates, 2);
}

fn ledger_db() -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(kino_testkit::fresh_postgres())
}
