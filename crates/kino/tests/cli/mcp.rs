//! kino's MCP face driven by a client that is not part of kino: the official Python `mcp`
//! package (installed by .ci/run), over stdio and over streamable HTTP on `kino serve`.

use std::process::Command;

use serde_json::Value;

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
