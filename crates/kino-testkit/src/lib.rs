//! What every CLI test starts from: a private KINO_HOME and working directory, an in-process
//! sandbox with fast timings, and a `kino` command wired to both with a known fake key.
#![allow(clippy::unwrap_used)] // test support: a failed set-up should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kino_sandbox::{Sandbox, SandboxConfig, SandboxHandle, Stats};

/// The fake key every test run uses; tests assert it never leaks.
pub const FAKE_KEY: &str = "sk-kino-test-9f8e7d6c5b4a-SECRET";

/// The xingyun3d app id of the tests; the sandbox's secret for it is `secret-<id>`.
pub const XY_APP_ID: &str = "kino-test-app";

/// A fresh, empty PostgreSQL database on the server `scripts/with-postgres` started (its URL in
/// KINO_TEST_POSTGRES). `None` without one, which is allowed only outside CI: under CI a missing
/// server fails the test rather than skipping it.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("KINO_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the tests under scripts/with-postgres (KINO_TEST_POSTGRES is not set)"
        );
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let name = format!(
        "kino_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

static NEXT_DB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub struct TestContext {
    bin: PathBuf,
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub sandbox: SandboxHandle,
    runtime: tokio::runtime::Runtime,
}

/// Timings that keep a whole job under a couple of seconds.
pub fn fast_config() -> SandboxConfig {
    SandboxConfig {
        pending: Duration::from_millis(200),
        running: Duration::from_millis(400),
        conversation_step: Duration::from_millis(60),
        sv_keepalive: Duration::from_millis(200),
        xy_step: Duration::from_millis(100),
        ..SandboxConfig::default()
    }
}

impl TestContext {
    pub fn new(bin: &str) -> Self {
        Self::with_config(bin, fast_config())
    }

    pub fn with_config(bin: &str, config: SandboxConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start([127, 0, 0, 1].into(), 0, config))
            .unwrap();
        Self {
            bin: PathBuf::from(bin),
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            sandbox,
            runtime,
        }
    }

    /// `kino` with the test home, the sandbox as DashScope and the fake key.
    pub fn kino(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("DASHSCOPE_API_KEY", FAKE_KEY)
            .env("DASHSCOPE_HTTP_BASE_URL", self.sandbox.dashscope_base_url())
            .env("XYQ_ACCESS_KEY", FAKE_KEY)
            .env("XYQ_OPENAPI_BASE", self.sandbox.xyq_base_url())
            .env("LIBTV_ACCESS_KEY", FAKE_KEY)
            .env("OPENAPI_IM_BASE", self.sandbox.libtv_base_url())
            .env("SKILLS_VIDEO_API_KEY", FAKE_KEY)
            .env("SKILLS_VIDEO_BASE_URL", self.sandbox.skillsvideo_base_url())
            .env("XINGYUN3D_APP_ID", XY_APP_ID)
            .env("XINGYUN3D_APP_SECRET", format!("secret-{XY_APP_ID}"))
            .env("XINGYUN3D_BASE_URL", self.sandbox.xingyun3d_base_url());
        cmd
    }

    /// `kino` with no credentials at all.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        for var in [
            "DASHSCOPE_API_KEY",
            "QIANWEN_API_KEY",
            "DASHSCOPE_HTTP_BASE_URL",
            "KINO_LEDGER",
            "KINO_LOG",
            "XDG_DATA_HOME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("KINO_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env("KINO_POLL_INITIAL_MS", "100")
            .env("KINO_POLL_MAX_MS", "300")
            .current_dir(self.work.path())
            .stdin(Stdio::null());
        cmd
    }

    /// The body of the newest request that created a task on any platform of the sandbox.
    pub fn last_create_body(&self) -> serde_json::Value {
        self.sandbox
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.task_id.is_some())
            .map(|r| r.body)
            .unwrap_or_default()
    }

    pub fn stats(&self) -> Stats {
        self.sandbox.stats()
    }

    pub fn work_path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Writes the sandbox's sample PNG / MP4 into the work directory.
    pub fn sample_png(&self) -> PathBuf {
        let p = self.work_path("input.png");
        std::fs::write(&p, kino_sandbox::media::SAMPLE_PNG).unwrap();
        p
    }

    pub fn sample_mp4(&self) -> PathBuf {
        let p = self.work_path("input.mp4");
        std::fs::write(&p, kino_sandbox::media::SAMPLE_MP4).unwrap();
        p
    }

    /// Public sample URLs on the sandbox's CDN host.
    pub fn sample_url(&self, file: &str) -> String {
        format!("http://{}/samples/{file}", self.sandbox.cdn_addr())
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Every file below a directory (the ledger's, the outputs).
    pub fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    out.push(p)
                }
            }
        }
        out
    }
}

/// What a finished `kino` run said.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a command to completion.
pub fn run(mut cmd: Command) -> Run {
    cmd.output().unwrap().into()
}

/// Starts a command in the background (for kill -9 tests).
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `cond` until it holds or `limit` passes; true when it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
