//! kino's MCP face driven by a client that is not part of kino: the official Python `mcp`
//! package (installed by .ci/run), over stdio and over streamable HTTP on `kino serve`.

use std::process::Command;

use serde_json::{Value, json};

use kino_testkit::{TestContext, run};

use super::ctx;
use super::serve::serve;

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
