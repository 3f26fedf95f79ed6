//! kino's MCP face driven by a client that is not part of kino: the official Python `mcp`
//! package (installed by .ci/run), over stdio and over streamable HTTP on `kino serve`.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, eventually, fast_config, run};

use super::serve::serve;
use super::{ctx, ctx_with};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/mcp_client.py");

/// The Python client, or None when the `mcp` package is missing on a developer machine (CI
/// installs it and must not skip).
fn python_mcp() -> Option<Command> {
    let ok = Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python `mcp` package (see .ci/run)"
        );
        eprintln!("skipping: python3 -m pip install mcp to run this test");
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(CLIENT);
    Some(cmd)
}

fn check(t: &TestContext, out: &kino_testkit::Run) {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let tools: Vec<&str> = doc["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "providers",
        "generate",
        "status",
        "wait",
        "events",
        "cancel",
        "reply",
        "list",
        "upload",
    ] {
        assert!(tools.contains(&name), "{name} missing from {tools:?}");
    }
    assert_eq!(doc["is_error"], false, "{doc}");
    assert_eq!(doc["job"]["state"], "succeeded", "{doc}");
    assert_eq!(doc["job"]["done"], true);
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn an_external_mcp_client_generates_over_stdio() {
    let t = ctx();
    let Some(mut py) = python_mcp() else { return };
    // The client starts `kino mcp` itself, with this environment (test home, sandbox, key).
    let kino = t.kino();
    for (k, v) in kino.get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    py.current_dir(t.work.path())
        .args(["stdio", env!("CARGO_BIN_EXE_kino")]);
    check(&t, &run(py));
}

#[test]
fn an_external_mcp_client_generates_over_streamable_http() {
    let t = ctx();
    let Some(mut py) = python_mcp() else { return };
    let s = serve(&t, &[]);
    let url = s.base.replace("/v1", "/mcp");
    py.args(["http", &url]);
    check(&t, &run(py));
}

/// One MCP tool call over stdio with this test's environment; the tool's text, parsed.
fn mcp_call(t: &TestContext, py: &mut Command, tool: &str, args: Value) -> Value {
    for (k, v) in t.kino().get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    py.current_dir(t.work.path()).args([
        "call",
        env!("CARGO_BIN_EXE_kino"),
        tool,
        &args.to_string(),
    ]);
    let out = py.output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Parity: the same operation through the CLI, REST and MCP gives the same result.
#[test]
fn the_cli_rest_and_mcp_answer_alike() {
    let t = ctx();
    let Some(_) = python_mcp() else { return };
    let ran = super::kino(&t, &["run", "--json", "parity"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let s = serve(&t, &[]);
    let rest = |method: &str, path: &str| -> Value {
        t.block_on(async {
            let client = kino_http::api_client("kino-test").unwrap_or_else(|e| panic!("{e}"));
            let url = format!("{}{path}", s.base);
            let req = if method == "POST" {
                client.post(url)
            } else {
                client.get(url)
            };
            req.send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .json::<Value>()
                .await
                .unwrap_or(Value::Null)
        })
    };
    // (face name, CLI args, REST (method, path), MCP (tool, arguments))
    type Row<'a> = (&'a str, Vec<&'a str>, (&'a str, String), (&'a str, Value));
    let table: Vec<Row> = vec![
        (
            "status",
            vec!["status", &id, "--json"],
            ("GET", format!("/jobs/{id}")),
            ("status", json!({"job_id": id})),
        ),
        (
            "list",
            vec!["list", "--json", "--limit", "5"],
            ("GET", "/jobs?limit=5".into()),
            ("list", json!({"limit": 5})),
        ),
        (
            "cancel a finished job",
            vec!["cancel", &id, "--json"],
            ("POST", format!("/jobs/{id}/cancel")),
            ("cancel", json!({"job_id": id})),
        ),
    ];
    for (op, cli_args, (method, path), (tool, args)) in table {
        let cli = super::kino(&t, &cli_args).json();
        let rest = rest(method, &path);
        let mut py = python_mcp().unwrap_or_else(|| unreachable!());
        let mcp = mcp_call(&t, &mut py, tool, args);
        assert_eq!(cli, rest, "{op}: CLI vs REST");
        assert_eq!(cli, mcp, "{op}: CLI vs MCP");
    }
}

/// `kino mcp` spoken to line by line, as a client that declares the tasks extension.
struct RawMcp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    next: i64,
}

impl RawMcp {
    fn start(t: &TestContext, capabilities: Value) -> Self {
        use std::process::Stdio;
        let mut cmd = t.kino();
        cmd.arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| unreachable!());
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap_or_else(|| unreachable!()));
        let mut mcp = RawMcp {
            child,
            stdin,
            stdout,
            next: 0,
        };
        let init = mcp.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": capabilities,
                   "clientInfo": {"name": "raw", "version": "0"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "kino", "{init}");
        mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, msg: Value) {
        use std::io::Write;
        writeln!(self.stdin, "{msg}").unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends a request and returns its response, skipping notifications; nothing else may
    /// appear on stdout in stdio mode.
    fn request(&mut self, method: &str, params: Value) -> Value {
        use std::io::BufRead;
        self.next += 1;
        let id = self.next;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 0, "kino mcp closed stdout");
            let msg: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC: {e}: {line}"));
            if msg["id"] == json!(id) {
                return msg;
            }
        }
    }
}

impl Drop for RawMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_client_that_declares_tasks_gets_generate_as_a_task() {
    let t = ctx();
    let mut mcp = RawMcp::start(
        &t,
        json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}),
    );
    let created = mcp.request(
        "tools/call",
        json!({"name": "generate", "arguments": {"provider": "dashscope", "prompt": "a lighthouse"}}),
    );
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working");
    let id = task["taskId"].as_str().unwrap_or_default().to_string();

    let mut last = Value::Null;
    let finished = eventually(Duration::from_secs(60), || {
        last = mcp.request("tasks/get", json!({"taskId": id}));
        last["result"]["status"] != "working"
    });
    assert!(finished, "still working: {last}");
    let got = &last["result"];
    assert_eq!(got["status"], "completed", "{last}");
    assert_eq!(got["taskId"], json!(id));
    let text = got["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let outcome: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(outcome["job_id"], json!(id));
    assert_eq!(outcome["state"], "succeeded");
    assert_eq!(outcome["done"], true);
    assert_eq!(t.stats().creates, 1);

    // The task is the job: the CLI sees it under the same id.
    let out = run({
        let mut c = t.kino();
        c.args(["status", &id, "--json"]);
        c
    });
    assert_eq!(out.code, 0, "{}", out.stderr);

    let unknown = mcp.request("tasks/get", json!({"taskId": "not-a-job"}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[test]
fn a_task_is_cancelled_through_tasks_cancel() {
    // Slow enough that the job is still pending when the cancel arrives.
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(30),
        running: Duration::from_secs(30),
        ..fast_config()
    });
    let mut mcp = RawMcp::start(
        &t,
        json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}),
    );
    let created = mcp.request(
        "tools/call",
        json!({"name": "generate", "arguments": {"provider": "dashscope", "prompt": "a slow cat"}}),
    );
    let id = created["result"]["taskId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "{created}");
    // Once the platform holds the task, the cancel goes to the platform.
    let mut got = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), || {
            got = mcp.request("tasks/get", json!({"taskId": id}));
            got["result"]["statusMessage"] == "queued"
        }),
        "{got}"
    );
    let ack = mcp.request("tasks/cancel", json!({"taskId": id}));
    assert!(ack.get("error").is_none(), "{ack}");
    assert_eq!(t.stats().cancels, 1);
    let got = mcp.request("tasks/get", json!({"taskId": id}));
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
}

#[test]
fn a_client_without_tasks_gets_a_plain_result() {
    let t = ctx();
    let mut mcp = RawMcp::start(&t, json!({}));
    let r = mcp.request(
        "tools/call",
        json!({"name": "generate", "arguments": {"provider": "dashscope", "prompt": "a cat", "wait_seconds": 50}}),
    );
    assert_ne!(r["result"]["resultType"], "task", "{r}");
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let outcome: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(outcome["state"], "succeeded", "{outcome}");
    assert_eq!(t.stats().creates, 1);
    let refused = mcp.request("tasks/get", json!({"taskId": outcome["job_id"]}));
    assert!(refused.get("error").is_some(), "{refused}");
}

/// Issue 9, cost for agents: an `estimate` tool, and `generate` refusing what would pass its
/// `max_cost` with nothing sent.
#[test]
fn an_agent_gets_an_estimate_and_a_limit_that_sends_nothing() {
    let t = ctx();
    let mut mcp = RawMcp::start(&t, json!({}));
    let request = json!({"provider": "dashscope", "prompt": "a cat", "model": "happyhorse-1.0-t2v",
        "request": {"resolution": "720P", "duration": 5}});
    let r = mcp.request(
        "tools/call",
        json!({"name": "estimate", "arguments": request}),
    );
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {r}"));
    assert_eq!(doc["estimate"]["cost"], "0.70 CNY", "{doc}");
    let mut over = request.clone();
    over["max_cost"] = json!(["0.5 CNY"]);
    let r = mcp.request("tools/call", json!({"name": "generate", "arguments": over}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("over the limit of 0.50 CNY"), "{text}");
    let mut bad = request.clone();
    bad["max_cost"] = json!(["5"]);
    let r = mcp.request("tools/call", json!({"name": "generate", "arguments": bad}));
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid `max_cost`"),
        "{r}"
    );
    assert_eq!(t.stats().create_attempts, 0);
}

/// Issue 9, adopting work for agents: the `attach` tool records and follows a task a seed
/// script submitted, downloads its result and pays for nothing; a second attach names the job.
#[test]
fn an_agent_attaches_a_task_submitted_elsewhere_without_paying_again() {
    use super::attach::{other_home, paid, submitted_elsewhere};
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(&t, &other, &["submit", "dashscope", "a kite", "--json"]);
    let before = paid(&t);
    let mut mcp = RawMcp::start(&t, json!({}));
    let args = json!({"provider": "dashscope", "handle": handle, "wait_seconds": 30});
    let r = mcp.request("tools/call", json!({"name": "attach", "arguments": args}));
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let job: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {r}"));
    assert_eq!(
        (&job["state"], &job["done"]),
        (&json!("succeeded"), &json!(true)),
        "{job}"
    );
    let path = std::path::Path::new(job["artifacts"][0]["path"].as_str().unwrap_or_default());
    assert_eq!(
        Some(super::sha256_file(path)),
        t.sandbox.result_sha256(&handle)
    );
    let r = mcp.request("tools/call", json!({"name": "attach", "arguments": args}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let id = job["job_id"].as_str().unwrap_or_default();
    assert!(r.to_string().contains(id), "{r}");
    assert_eq!(paid(&t), before, "attaching sends no create");
}

/// Issue 9, profiles for agents: a `generate` call names the kino.toml profile whose account
/// and defaults to use; without one, the service's account is used (here refused by the
/// sandbox, which accepts only the profile's key); an unknown profile is a configuration error
/// and sends nothing.
#[test]
fn an_agent_names_the_profile_a_job_runs_under() {
    const WORK_KEY: &str = "sk-kino-mcp-work-PROFILE-9876";
    let t = ctx_with(SandboxConfig {
        api_keys: vec![WORK_KEY.into()],
        ..fast_config()
    });
    std::fs::write(
        t.work_path("kino.toml"),
        format!(
            "[profiles.work.dashscope]\napi_key = \"{WORK_KEY}\"\n\
             [profiles.work.defaults.dashscope]\nduration = 10\n"
        ),
    )
    .unwrap();
    let mut mcp = RawMcp::start(&t, json!({}));
    let mut call = |args: Value| {
        let r = mcp.request("tools/call", json!({"name": "generate", "arguments": args}));
        let text = r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (r["result"]["isError"] == true, text)
    };
    let (failed, text) = call(json!({"provider": "dashscope", "prompt": "a kite",
        "profile": "work", "wait_seconds": 30}));
    assert!(!failed, "{text}");
    let job: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        (&job["state"], &job["profile"], &job["request"]["duration"]),
        (&json!("succeeded"), &json!("work"), &json!(10)),
        "{job}"
    );
    let (failed, text) =
        call(json!({"provider": "dashscope", "prompt": "a kite", "profile": "nope"}));
    assert!(failed && text.contains("nope"), "{text}");
    assert!(!text.contains(WORK_KEY), "{text}");
    assert_eq!(t.stats().creates, 1);
}

/// Issue 8, secrets in long-lived sessions: `kino serve` (REST jobs on every platform, events,
/// dashboard), `kino mcp` over stdio (a generate) and `kino worker` (a queued job), all with
/// trace logs, show no credential in their output, logs or files, and send none to a platform
/// body or to the CDN host.
#[test]
fn no_credential_leaks_from_serve_mcp_or_worker_sessions() {
    use std::io::Read;

    use super::serve::{post, wait_done};

    let t = ctx();
    let Some(mut py) = python_mcp() else { return };
    let xy_secret = format!("secret-{}", kino_testkit::XY_APP_ID);
    // Part of `FAKE_KEY`, so that a key cut short in a message is caught too.
    let secrets = ["9f8e7d6c5b4a", xy_secret.as_str()];
    let trace = [("KINO_LOG", "trace")];
    let mut outputs: Vec<(String, String)> = Vec::new();
    // Pipes are read while the process runs: a trace log left unread fills the pipe and
    // blocks the process.
    let capture = |child: &mut std::process::Child| {
        let pipes: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        pipes
            .into_iter()
            .map(|mut pipe| {
                std::thread::spawn(move || {
                    let mut text = String::new();
                    let _ = pipe.read_to_string(&mut text);
                    text
                })
            })
            .collect::<Vec<_>>()
    };
    let finish =
        |mut child: std::process::Child, readers: Vec<std::thread::JoinHandle<String>>| -> String {
            // SIGKILL: whatever the process wrote so far is all there is to scan.
            let _ = child.kill();
            let _ = child.wait();
            readers
                .into_iter()
                .map(|r| r.join().unwrap_or_default())
                .collect()
        };

    // serve: a job on every platform over REST, its events, the dashboard page.
    let mut s = serve(&t, &trace);
    let serve_logs = capture(&mut s.child);
    let mut xy = json!({"provider": "xingyun3d", "request": {"segment": [{"text": "hello"}]}});
    for pair in super::XY_LOOK.chunks(2) {
        if let Some((k, v)) = pair[1].split_once('=') {
            xy["request"][k] = json!(v);
        }
    }
    for body in [
        json!({"provider": "dashscope", "prompt": "a cat"}),
        json!({"provider": "skillsvideo", "model": "google/veo-3.1", "prompt": "a dog"}),
        json!({"provider": "xyq", "prompt": "a film"}),
        json!({"provider": "libtv", "prompt": "a film"}),
        xy,
    ] {
        let (status, job) = post(&t, &format!("{}/jobs", s.base), body.clone());
        assert_eq!(status, 201, "{body}: {job}");
        let id = job["job_id"].as_str().unwrap_or_default().to_string();
        let done = wait_done(&t, &s.base, &id);
        assert_eq!(done["state"], "succeeded", "{body}: {done}");
        let events = t.block_on(async {
            let client = kino_http::api_client("kino-test").unwrap_or_else(|e| panic!("{e}"));
            let url = format!("{}/jobs/{id}/events", s.base);
            let text = match client.get(url).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            let page = s.base.trim_end_matches("/v1").to_string();
            let page = match client.get(page).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            format!("{text}{page}")
        });
        outputs.push((format!("serve: {body} (events, page)"), events));
    }
    let child = std::mem::replace(
        &mut s.child,
        std::process::Command::new("true")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    outputs.push(("serve (stdout, stderr)".into(), finish(child, serve_logs)));

    // mcp over stdio: the client starts `kino mcp` with trace logs; its stderr is passed on.
    for (k, v) in t.kino().get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    py.env("KINO_LOG", "trace")
        .current_dir(t.work.path())
        .args([
            "call",
            env!("CARGO_BIN_EXE_kino"),
            "generate",
            &json!({"provider": "dashscope", "prompt": "over mcp"}).to_string(),
        ]);
    let out = run(py);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("succeeded"), "{}", out.stdout);
    outputs.push((
        "mcp generate".into(),
        format!("{}{}", out.stdout, out.stderr),
    ));

    // worker: a queued job taken and finished by `kino worker`.
    let queued = super::kino(&t, &["submit", "--queue", "--json", "for the worker"]);
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    let id = queued.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut cmd = t.kino();
    cmd.env("KINO_LOG", "trace").arg("worker");
    let mut worker = kino_testkit::spawn(cmd);
    let worker_logs = capture(&mut worker);
    assert!(
        eventually(Duration::from_secs(30), || {
            super::kino(&t, &["status", &id, "--json"]).json()["state"] == "succeeded"
        }),
        "the worker finished the job"
    );
    outputs.push(("worker".into(), finish(worker, worker_logs)));

    for (what, o) in &outputs {
        assert!(!o.is_empty(), "{what}: nothing captured");
        if !what.starts_with("serve: ") {
            assert!(o.contains("TRACE"), "{what}: trace logs were on: {o}");
        }
        for s in secrets {
            assert!(!o.contains(s), "{what} showed a secret: {o}");
        }
    }
    super::assert_no_secret_left_behind(&t, &secrets);
}
