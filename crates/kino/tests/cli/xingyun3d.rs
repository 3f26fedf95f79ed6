//! xingyun3d through the CLI: signed requests, segment and PPT renders, cancel, clock skew.

use std::time::Duration;

use serde_json::{Value, json};

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, fast_config};

use super::{ctx, ctx_with, kino, sha256_file};

fn xy(t: &TestContext, extra: &[&str]) -> kino_testkit::Run {
    let mut args = vec!["run", "xingyun3d", "--json"];
    args.extend_from_slice(&super::XY_LOOK);
    args.extend_from_slice(extra);
    kino(t, &args)
}

fn assert_rendered(out: &Value) {
    assert_eq!(out["state"], "succeeded", "{out}");
    let artifacts: Vec<&Value> = out["artifacts"].as_array().into_iter().flatten().collect();
    assert!(artifacts.iter().any(|a| a["kind"] == "video"), "{out}");
    for a in artifacts {
        let path = std::path::Path::new(a["path"].as_str().unwrap_or_default());
        assert_eq!(a["sha256"].as_str(), Some(sha256_file(path).as_str()));
    }
}

#[test]
fn chinese_segments_with_spaces_and_punctuation_render_and_download() {
    let t = ctx();
    let first = "大家好， 欢迎来到 kino！ It's \"quoted\".";
    let second = "第二段：测试 text…\n换行。";
    let r = xy(
        &t,
        &[
            "--segment",
            first,
            "--segment-media",
            "https://e.x/a.png",
            "--segment",
            second,
            "--param",
            "sub_title=on",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_rendered(&r.json());
    let body = t.last_create_body();
    assert_eq!(
        body["segment"],
        json!([{"text": first, "media_url": "https://e.x/a.png"}, {"text": second}])
    );
    let s = t.stats();
    assert_eq!(
        (s.xy_creates, s.xy_bad_signatures),
        (1, 0),
        "every request signed right"
    );
    let id = r.json()["job_id"].as_str().unwrap_or_default().to_string();
    let p = kino(&t, &["preview", &id, "--json"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    assert!(
        p.json()["preview_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http"))
    );
}

#[test]
fn a_ppt_video_renders_and_defaults_come_from_kino_toml() {
    let t = ctx();
    std::fs::write(
        t.work_path("kino.toml"),
        "[xingyun3d]\nlook_name = \"AM054_Jap_9021_new\"\ntts_vcn_name = \"XMOV_HN_TTS__236\"\nstudio_name = \"youling_2d_v\"\nif_aigc_mark = true\n",
    )
    .unwrap_or(());
    let ppt = t.work_path("deck.pptx");
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 4096));
    std::fs::write(&ppt, bytes).unwrap_or(());
    let r = kino(
        &t,
        &[
            "run",
            "xingyun3d",
            "--json",
            "--ppt",
            ppt.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_rendered(&r.json());
    assert_eq!(r.json()["mode"], "ppt");
    assert_eq!(t.stats().xy_ppt_parses, 1);
    let body = t.last_create_body();
    assert!(body["parse_ppt_file_name"].is_string(), "{body}");
    assert_eq!(body["if_aigc_mark"], true);
}

#[test]
fn cancel_works_while_cancellable_and_says_why_afterwards() {
    let t = ctx_with(SandboxConfig {
        xy_step: Duration::from_secs(5),
        ..fast_config()
    });
    let mut args = vec!["submit", "xingyun3d", "--json", "--segment", "cancel me"];
    args.extend_from_slice(&super::XY_LOOK);
    let id = kino(&t, &args).json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let c = kino(&t, &["cancel", &id, "--json"]);
    assert_eq!(
        (c.code, c.json()["state"].clone()),
        (0, json!("canceled")),
        "{}",
        c.stderr
    );
    t.sandbox
        .set_config(|c| c.xy_step = Duration::from_millis(20));
    let done = xy(&t, &["--segment", "finish first"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let late = kino(
        &t,
        &["cancel", done.json()["job_id"].as_str().unwrap_or_default()],
    );
    assert_eq!(late.code, 2, "{}", late.stderr);
    assert!(
        late.stderr.contains("already over") || late.stderr.contains("can cancel a render only"),
        "{}",
        late.stderr
    );
}

#[test]
fn a_clock_skew_beyond_60_s_is_reported_as_such() {
    let t = ctx_with(SandboxConfig {
        xy_clock_skew: 300,
        ..fast_config()
    });
    let r = xy(&t, &["--segment", "skewed"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("clock differs") && r.stderr.contains("300"),
        "{}",
        r.stderr
    );
    assert_eq!(t.stats().xy_creates, 0);
}

#[test]
fn bad_render_requests_exit_2_before_any_request() {
    let t = ctx();
    let ppt = t.work_path("old.ppt");
    std::fs::write(&ppt, b"PK\x03\x04old").unwrap_or(());
    let fake = t.work_path("fake.pptx");
    std::fs::write(&fake, b"not a zip").unwrap_or(());
    for (extra, field) in [
        (
            vec!["--segment", "a", "--ppt", fake.to_str().unwrap_or_default()],
            "`segment`",
        ),
        (vec!["--ppt", ppt.to_str().unwrap_or_default()], "`ppt`"),
        (vec!["--ppt", fake.to_str().unwrap_or_default()], "`ppt`"),
        (vec!["--segment", "   "], "`segment[0].text`"),
        (vec![], "`segment`"),
        (
            vec!["--segment", "a", "--segment-media", "./local.png"],
            "`segment[0].media_url`",
        ),
    ] {
        let r = xy(&t, &extra);
        assert_eq!(r.code, 2, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(field), "{extra:?}: {}", r.stderr);
    }
    let r = kino(&t, &["run", "xingyun3d", "--segment", "no look"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`look_name`"), "{}", r.stderr);
    let r = kino(
        &t,
        &[
            "run",
            "xingyun3d",
            "--segment-media",
            "https://e.x/a.png",
            "--segment",
            "late",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let s = t.stats();
    assert_eq!((s.xy_create_attempts, s.xy_ppt_parses), (0, 0));
}
