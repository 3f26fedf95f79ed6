//! Issue 9, item 6: kino.toml profiles (several accounts per provider) and request defaults.
//! The sandbox accepts one key only (the `work` profile's), so a step sent with any other
//! account (the environment's FAKE_KEY, the `play` profile's) is refused: a job followed to
//! success proves it was followed with its own account.

use serde_json::Value;

use kino_sandbox::SandboxConfig;
use kino_testkit::{FAKE_KEY, Run, TestContext, fast_config};

use super::{assert_no_secret_left_behind, ctx, ctx_with, kino};

const WORK_KEY: &str = "sk-kino-work-PROFILE-SECRET-1234";
const PLAY_KEY: &str = "sk-kino-play-PROFILE-SECRET-5678";

/// A sandbox that accepts the `work` profile's key only, and a kino.toml with two profiles
/// on DashScope: `work` (key in the file, base given) and `play` (key in a variable, base
/// from the environment).
fn two_accounts() -> TestContext {
    let t = ctx_with(SandboxConfig {
        api_keys: vec![WORK_KEY.into()],
        ..fast_config()
    });
    write_toml(&t, true);
    t
}

fn write_toml(t: &TestContext, with_work: bool) {
    let mut text = String::from(
        "[profiles.play.dashscope]\napi_key_env = \"KINO_TEST_PLAY_KEY\"\n[profiles.play]\nmax_cost = \"100 CNY\"\n",
    );
    if with_work {
        text.push_str(&format!(
            "[profiles.work.dashscope]\napi_key = \"{WORK_KEY}\"\nbase_url = \"{}\"\n",
            t.sandbox.dashscope_base_url()
        ));
    }
    std::fs::write(t.work_path("kino.toml"), text).unwrap();
}

fn kino_env(t: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = t.kino();
    cmd.env("KINO_TEST_PLAY_KEY", PLAY_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    kino_testkit::run(cmd)
}

fn no_secret_in(r: &Run) {
    for s in [WORK_KEY, PLAY_KEY, FAKE_KEY] {
        assert!(!r.stdout.contains(s), "a secret on stdout: {}", r.stdout);
        assert!(!r.stderr.contains(s), "a secret on stderr: {}", r.stderr);
    }
}

#[test]
fn a_job_submitted_under_a_profile_is_followed_with_that_profiles_account() {
    let t = two_accounts();
    let mut runs = Vec::new();
    // The environment's key and the `play` profile's are refused by this sandbox.
    let r = kino_env(&t, &[], &["submit", "--json", "dashscope", "env account"]);
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    runs.push(r);
    let r = kino_env(
        &t,
        &[],
        &[
            "submit",
            "--profile",
            "play",
            // The profile's max_cost applies; this model has no price in the table.
            "--allow-unknown-cost",
            "--json",
            "dashscope",
            "play account",
        ],
    );
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.json()["profile"], "play");
    runs.push(r);

    // Chosen by KINO_PROFILE, the `work` account creates the task.
    let r = kino_env(
        &t,
        &[("KINO_PROFILE", "work")],
        &["submit", "--json", "dashscope", "work account"],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let receipt = r.json();
    assert_eq!(receipt["profile"], "work");
    let id = receipt["job_id"].as_str().unwrap().to_string();
    runs.push(r);
    let r = kino_env(&t, &[], &["status", &id, "--json"]);
    assert_eq!(r.json()["profile"], "work", "{}", r.stdout);
    runs.push(r);

    // Resumed without any profile selected: the job's own account polls it (the
    // environment's key would be refused with 401), and its result is downloaded.
    let r = kino_env(&t, &[], &["resume", "--json"]);
    runs.push(r);
    let r = runs.last().unwrap();
    let done = r.json();
    let work = done
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["job_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(work["state"], "succeeded", "{}\n{}", r.stdout, r.stderr);
    assert_eq!(work["profile"], "work");
    assert_eq!(work["done"], true);
    assert!(std::path::Path::new(work["artifacts"][0]["path"].as_str().unwrap()).exists());
    let listed = kino_env(&t, &[], &["list", "--json"]);
    let profiles: Vec<Value> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["profile"].clone())
        .collect();
    assert!(profiles.contains(&Value::from("work")), "{}", listed.stdout);
    runs.push(listed);

    // `kino config` lists both accounts, set, with their sources, and no value.
    let r = kino_env(&t, &[], &["config", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let work_key = &doc["profiles.work.dashscope.api_key"];
    assert_eq!(work_key["value"], "set", "{doc}");
    assert!(
        work_key["source"]
            .as_str()
            .unwrap()
            .starts_with("kino.toml")
    );
    let play_key = &doc["profiles.play.dashscope.api_key"];
    assert_eq!(play_key["value"], "set");
    assert_eq!(play_key["source"], "environment (KINO_TEST_PLAY_KEY)");
    assert_eq!(
        doc["profiles.play.dashscope.base_url"]["value"],
        t.sandbox.dashscope_base_url().as_str(),
        "a profile without a base uses the environment's"
    );
    assert_eq!(
        doc["profiles.play.max_cost"]["value"],
        serde_json::json!(["100 CNY"])
    );
    runs.push(r);

    // `kino providers` shows each profile's credential status, never a key.
    let r = kino_env(&t, &[], &["providers", "--json"]);
    let providers = r.json();
    let by_id = |id: &str| {
        providers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("dashscope")["profiles"]["work"], "set", "{providers}");
    assert_eq!(by_id("dashscope")["profiles"]["play"], "set");
    assert_eq!(by_id("xyq")["profiles"]["work"], "not set");
    runs.push(r);

    for r in &runs {
        no_secret_in(r);
    }
    // The key lives in kino.toml itself; nothing else may hold it (ledger, outputs, requests).
    std::fs::remove_file(t.work_path("kino.toml")).unwrap();
    assert_no_secret_left_behind(&t, &[WORK_KEY, PLAY_KEY]);
}

#[test]
fn a_job_whose_profile_is_gone_is_left_as_it_is_until_the_profile_returns() {
    let t = two_accounts();
    let r = kino_env(
        &t,
        &[],
        &[
            "submit",
            "--profile",
            "work",
            "--json",
            "dashscope",
            "kept for later",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let creates = t.stats().create_attempts;

    write_toml(&t, false);
    let r = kino_env(&t, &[], &["wait", &id, "--timeout", "20s", "--json"]);
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("profile `work`"), "{}", r.stderr);
    let status = kino_env(&t, &[], &["status", &id, "--json"]).json();
    assert_eq!(status["state"], "queued", "not failed, not lost: {status}");
    // Nothing was sent with another account meanwhile.
    let refused = kino_env(&t, &[], &["cancel", &id]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert_eq!(
        kino_env(&t, &[], &["status", &id, "--json"]).json()["state"],
        "queued"
    );

    write_toml(&t, true);
    let r = kino_env(&t, &[], &["wait", &id, "--timeout", "60s", "--json"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.json()["state"], "succeeded");
    assert_eq!(t.stats().create_attempts, creates, "never sent again");
}

#[test]
fn defaults_fill_what_the_command_line_leaves_out_and_a_profile_overrides_them() {
    let t = ctx();
    std::fs::write(
        t.work_path("kino.toml"),
        format!(
            "[defaults.dashscope]\nmodel = \"wan2.6-t2v\"\nduration = 5\nsize = \"1280*720\"\n\
             [profiles.work.dashscope]\napi_key = \"{WORK_KEY}\"\n\
             [profiles.work.defaults.dashscope]\nduration = 10\n"
        ),
    )
    .unwrap();
    let dry = |extra: &[&str]| {
        let mut args = vec!["run", "--dry-run", "--json"];
        args.extend_from_slice(extra);
        args.push("a kite");
        let r = kino(&t, &args);
        assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        no_secret_in(&r);
        r.json()
    };
    let plain = dry(&[]);
    assert_eq!(plain["profile"], Value::Null);
    assert_eq!(plain["model"], "wan2.6-t2v");
    assert_eq!(plain["body"]["parameters"]["duration"], 5, "{plain}");
    assert_eq!(plain["body"]["parameters"]["size"], "1280*720");
    let work = dry(&["--profile", "work"]);
    assert_eq!(work["profile"], "work");
    assert_eq!(work["body"]["parameters"]["duration"], 10, "{work}");
    assert_eq!(work["body"]["parameters"]["size"], "1280*720");
    // What the command line gives always wins, over the profile's and the common defaults.
    let explicit = dry(&[
        "--profile",
        "work",
        "--param",
        "duration=5",
        "--param",
        "size=1920*1080",
    ]);
    assert_eq!(explicit["body"]["parameters"]["duration"], 5, "{explicit}");
    assert_eq!(explicit["body"]["parameters"]["size"], "1920*1080");
    assert_eq!(t.stats().create_attempts, 0);
    let r = kino(&t, &["config", "--json"]);
    let doc = r.json();
    assert_eq!(doc["defaults.dashscope.duration"]["value"], 5);
    assert_eq!(
        doc["profiles.work.defaults.dashscope.duration"]["value"],
        10
    );
}

#[test]
fn an_unknown_profile_or_key_is_a_configuration_error_naming_it() {
    let t = two_accounts();
    for r in [
        kino_env(&t, &[], &["--profile", "nope", "list"]),
        kino_env(&t, &[("KINO_PROFILE", "nope")], &["list"]),
    ] {
        assert_eq!(r.code, 3, "{}", r.stderr);
        for part in ["`nope`", "play", "work"] {
            assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
        }
    }
    std::fs::write(
        t.work_path("kino.toml"),
        format!("[profiles.work.dashscope]\napi_kye = \"{WORK_KEY}\"\n"),
    )
    .unwrap();
    let r = kino_env(&t, &[], &["list"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    for part in ["kino.toml", "[profiles.work.dashscope]", "`api_kye`"] {
        assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
    }
    no_secret_in(&r);
}

#[test]
fn the_service_creates_under_its_profile_with_the_defaults_and_follows_with_that_account() {
    use super::serve::{post, serve, wait_done};
    let t = ctx_with(SandboxConfig {
        api_keys: vec![WORK_KEY.into()],
        ..fast_config()
    });
    std::fs::write(
        t.work_path("kino.toml"),
        format!(
            "[defaults.dashscope]\nduration = 5\nsize = \"1280*720\"\n\
             [profiles.work.dashscope]\napi_key = \"{WORK_KEY}\"\n\
             [profiles.work.defaults.dashscope]\nduration = 10\n"
        ),
    )
    .unwrap();
    // The service runs under `work`; the environment's key is refused by this sandbox.
    let served = serve(&t, &[("KINO_PROFILE", "work")]);
    let (status, job) = post(
        &t,
        &format!("{}/jobs", served.base),
        serde_json::json!({"provider": "dashscope", "prompt": "from the service"}),
    );
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["profile"], "work", "{job}");
    assert_eq!(
        job["request"]["duration"], 10,
        "the profile's default: {job}"
    );
    assert_eq!(
        job["request"]["size"], "1280*720",
        "the common default: {job}"
    );
    let done = wait_done(&t, &served.base, job["job_id"].as_str().unwrap());
    assert_eq!(done["state"], "succeeded", "{done}");
    // What the request gives wins over both.
    let (status, job) = post(
        &t,
        &format!("{}/jobs", served.base),
        serde_json::json!({"provider": "dashscope", "prompt": "explicit", "request": {"duration": 5}}),
    );
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["request"]["duration"], 5, "{job}");
    let done = wait_done(&t, &served.base, job["job_id"].as_str().unwrap());
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(t.last_create_body()["parameters"]["duration"], 5);
    // A service started under a profile keeps to it: a call cannot step into another
    // profile's account (and out of this one's max_cost).
    let creates = t.stats().creates;
    for route in ["jobs", "estimate", "attach"] {
        let (status, refused) = post(
            &t,
            &format!("{}/{route}", served.base),
            serde_json::json!({"provider": "dashscope", "prompt": "elsewhere", "handle": "t-1", "profile": "play"}),
        );
        assert_eq!(status, 400, "{route}: {refused}");
        assert!(
            refused.to_string().contains("runs under profile `work`"),
            "{route}: {refused}"
        );
    }
    assert_eq!(t.stats().creates, creates);
}
