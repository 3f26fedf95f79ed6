//! Issue 9, item 6: `kino config` shows the effective configuration without secrets, and
//! `kino completions SHELL` writes a shell completion script.

use serde_json::Value;

use kino_testkit::{FAKE_KEY, Run, XY_APP_ID, run};

use super::ctx;

fn config(cmd: std::process::Command) -> (Run, Value) {
    let mut cmd = cmd;
    cmd.args(["config", "--json"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let doc = r.json();
    (r, doc)
}

fn setting<'a>(doc: &'a Value, name: &str) -> (&'a Value, &'a str) {
    let s = &doc[name];
    assert!(s.is_object(), "{name} missing from {doc}");
    (&s["value"], s["source"].as_str().unwrap())
}

#[test]
fn config_shows_credentials_as_set_and_never_the_secret() {
    let t = ctx();
    let xy_secret = format!("secret-{XY_APP_ID}");
    for log in [None, Some("trace")] {
        let mut cmd = t.kino();
        if let Some(level) = log {
            cmd.env("KINO_LOG", level);
        }
        let (r, doc) = config(cmd);
        for name in [
            "DASHSCOPE_API_KEY",
            "SKILLS_VIDEO_API_KEY",
            "XYQ_ACCESS_KEY",
            "LIBTV_ACCESS_KEY",
            "XINGYUN3D_APP_ID",
            "XINGYUN3D_APP_SECRET",
        ] {
            let (value, source) = setting(&doc, name);
            assert_eq!(value, "set", "{name}");
            assert_eq!(source, "environment", "{name}");
        }
        assert_eq!(setting(&doc, "KINO_SERVE_TOKEN").0, "not set");
        for secret in [FAKE_KEY, xy_secret.as_str()] {
            assert!(!r.stdout.contains(secret), "secret on stdout");
            assert!(!r.stderr.contains(secret), "secret on stderr");
        }
    }
}

#[test]
fn config_names_the_source_of_each_value() {
    let t = ctx();
    let mut cmd = t.kino();
    cmd.env("KINO_DASHSCOPE_QPS", "7")
        .env_remove("KINO_LEASE_SECS")
        .env_remove("KINO_XYQ_CONCURRENCY");
    // `.env` in the working directory supplies what the environment does not.
    std::fs::write(t.work.path().join(".env"), "KINO_LIBTV_CONCURRENCY=4\n").unwrap();
    std::fs::write(
        t.work.path().join("kino.toml"),
        "[xingyun3d]\nlook_name = \"AM054\"\n",
    )
    .unwrap();
    let (_, doc) = config(cmd);
    let (value, source) = setting(&doc, "KINO_DASHSCOPE_QPS");
    assert_eq!((value.as_f64(), source), (Some(7.0), "environment"));
    let (value, source) = setting(&doc, "KINO_LEASE_SECS");
    assert_eq!((value.as_f64(), source), (Some(45.0), "default"));
    let (value, source) = setting(&doc, "KINO_XYQ_CONCURRENCY");
    assert_eq!((value.as_str(), source), (Some("unlimited"), "default"));
    let (value, source) = setting(&doc, "KINO_LIBTV_CONCURRENCY");
    assert_eq!((value.as_u64(), source), (Some(4), ".env"));
    let (value, source) = setting(&doc, "KINO_POLL_INITIAL_MS");
    assert_eq!((value.as_u64(), source), (Some(100), "environment"));
    let (value, source) = setting(&doc, "defaults.xingyun3d.look_name");
    assert_eq!(value, "AM054");
    assert!(source.starts_with("kino.toml"), "{source}");
    let (value, source) = setting(&doc, "KINO_HOME");
    assert_eq!(value, t.home.path().display().to_string().as_str());
    assert_eq!(source, "environment");
}

#[test]
fn config_masks_a_postgres_password() {
    let t = ctx();
    let mut cmd = t.kino();
    cmd.env("KINO_LEDGER", "postgres://u:hunter2@localhost/db")
        .env("KINO_LOG", "trace");
    let (r, doc) = config(cmd);
    assert!(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"));
    let (value, source) = setting(&doc, "KINO_LEDGER");
    assert_eq!(value, "postgres://u:***@localhost/db");
    assert_eq!(source, "environment");
}

#[test]
fn config_refuses_a_bad_setting_with_exit_3() {
    let t = ctx();
    let mut cmd = t.kino();
    cmd.env("KINO_DASHSCOPE_QPS", "fast")
        .args(["config", "--json"]);
    let r = run(cmd);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("KINO_DASHSCOPE_QPS"), "{}", r.stderr);
    assert!(!r.stdout.contains(FAKE_KEY));
}

#[test]
fn completions_write_a_script_naming_the_subcommands() {
    let t = ctx();
    let mut cmd = t.kino();
    // A bad setting does not keep the script from the shell.
    cmd.env("KINO_DASHSCOPE_QPS", "fast")
        .args(["completions", "bash"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for sub in ["resume", "attach", "media", "config"] {
        assert!(r.stdout.contains(sub), "{sub} missing from the script");
    }
    assert!(r.stdout.contains("complete -F"), "not a bash script");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let mut cmd = t.kino();
        cmd.args(["completions", shell]);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("attach"), "{shell}");
    }
    let mut cmd = t.kino();
    cmd.args(["completions", "nosuch"]);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
}
