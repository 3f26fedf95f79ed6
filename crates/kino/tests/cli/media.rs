//! Issue 9, media tools: `kino media probe|concat|trim|overlay` over the ffmpeg and ffprobe
//! binaries. The tests that run ffmpeg skip (saying so) where it is not installed; under CI they
//! fail instead (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use kino_testkit::{Run, TestContext, run};

use super::{ctx, kino};

/// ffmpeg and ffprobe answer on PATH; outside CI their absence skips the test.
fn ffmpeg_present() -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install ffmpeg (see .ci/run)"
    );
    eprintln!("skipping: apt-get install ffmpeg to run this test");
    false
}

fn media(t: &TestContext, args: &[&str]) -> Run {
    let mut all = vec!["media"];
    all.extend_from_slice(args);
    all.push("--json");
    kino(t, &all)
}

fn ok(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r.json()
}

fn duration(doc: &Value) -> f64 {
    doc["duration"].as_f64().unwrap()
}

/// The names in the work directory, sorted: what a refused command must leave unchanged.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs ffmpeg quietly with `args` and asserts it succeeded; what it said on stderr.
fn ffmpeg(args: &[&str]) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A video made by a `kino run` job on the sandbox.
fn sandbox_video(t: &TestContext, n: usize) -> PathBuf {
    let prefix = format!("clip{n}");
    let r = kino(
        t,
        &[
            "run",
            "--json",
            "--prefix",
            &prefix,
            &format!("shot {n}: a red kite over the sea"),
        ],
    );
    let out = ok(&r);
    assert_eq!(out["state"], "succeeded");
    PathBuf::from(out["artifacts"][0]["path"].as_str().unwrap())
}

#[test]
fn three_sandbox_videos_concatenate_into_a_playable_file_of_their_summed_duration() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let clips: Vec<PathBuf> = (1..=3).map(|n| sandbox_video(&t, n)).collect();
    let mut sum = 0.0;
    let mut fps = 0.0;
    for c in &clips {
        let p = ok(&media(&t, &["probe", &s(c)]));
        sum += duration(&p);
        fps = p["streams"][0]["fps"].as_f64().unwrap();
    }
    assert!(sum > 0.0 && fps > 0.0);
    let out = t.work_path("joined.mp4");
    let args: Vec<String> = clips
        .iter()
        .map(|c| s(c))
        .chain(["-o".into(), s(&out)])
        .collect();
    let mut concat = vec!["concat"];
    concat.extend(args.iter().map(String::as_str));
    let written = ok(&media(&t, &concat));
    assert_eq!(written["method"], "copy");

    // Playable: ffprobe itself reads it, every frame decodes, and kino's probe agrees.
    let decoded = ffmpeg(&["-i", &s(&out), "-f", "null", "-"]);
    assert!(decoded.is_empty(), "{decoded}");
    let probed = ok(&media(&t, &["probe", &s(&out)]));
    let frame = 1.0 / fps;
    assert!(
        (duration(&probed) - sum).abs() <= frame,
        "{} vs {sum}",
        duration(&probed)
    );
    assert_eq!(probed["streams"][0]["type"], "video");
    assert_eq!(probed["streams"][0]["codec"], "h264");
    assert_eq!(
        probed["size"].as_u64(),
        Some(std::fs::metadata(&out).unwrap().len())
    );
    // No temporary file is left beside the output.
    assert!(
        listing(&t.work_path(""))
            .iter()
            .all(|n| !n.starts_with('.')),
        "{:?}",
        listing(&t.work_path(""))
    );
}

#[test]
fn probe_reports_the_container_and_streams() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let mp4 = t.sample_mp4();
    let p = ok(&media(&t, &["probe", &s(&mp4)]));
    assert_eq!(p["duration"], 2.0);
    assert_eq!(
        p["size"].as_u64(),
        Some(std::fs::metadata(&mp4).unwrap().len())
    );
    assert!(p["format"].as_str().unwrap().contains("mp4"));
    let v = &p["streams"][0];
    assert_eq!(
        (
            &v["type"],
            &v["codec"],
            &v["width"],
            &v["height"],
            &v["fps"]
        ),
        (
            &Value::from("video"),
            &Value::from("h264"),
            &Value::from(320),
            &Value::from(180),
            &Value::from(12.0)
        )
    );
    // Not a media file: a usage error naming it, with ffprobe's own words.
    let junk = t.work_path("junk.mp4");
    std::fs::write(&junk, b"not a video").unwrap();
    let r = media(&t, &["probe", &s(&junk)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid `FILE`"), "{}", r.stderr);
    assert!(r.stderr.contains("Invalid data"), "{}", r.stderr);
}

#[test]
fn clips_that_differ_are_joined_by_encoding_again() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let mp4 = t.sample_mp4();
    // A clip of another size, with sound.
    let other = t.work_path("other.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=24:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-shortest",
        &s(&other),
    ]);
    let out = t.work_path("mixed.mp4");
    let w = ok(&media(
        &t,
        &["concat", &s(&mp4), &s(&other), "-o", &s(&out)],
    ));
    assert_eq!(w["method"], "reencode");
    let v = w["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "video")
        .unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert!(
        w["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["type"] == "audio")
    );
    assert!((duration(&w) - 3.0).abs() <= 0.1, "{w}");
}

#[test]
fn trim_cuts_the_asked_span() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let mp4 = t.sample_mp4();
    let a = t.work_path("a.mp4");
    let w = ok(&media(
        &t,
        &[
            "trim",
            &s(&mp4),
            "--start",
            "0.5",
            "--end",
            "00:01.5",
            "-o",
            &s(&a),
        ],
    ));
    assert!((duration(&w) - 1.0).abs() <= 1.0 / 12.0, "{w}");
    let b = t.work_path("b.mp4");
    let w = ok(&media(
        &t,
        &["trim", &s(&mp4), "--duration", "1.25", "-o", &s(&b)],
    ));
    assert!((duration(&w) - 1.25).abs() <= 1.0 / 12.0, "{w}");
    // A start past the end is refused before ffmpeg runs.
    let c = t.work_path("c.mp4");
    let r = media(&t, &["trim", &s(&mp4), "--start", "5", "-o", &s(&c)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid `--start`"), "{}", r.stderr);
    assert!(!c.exists());
}

#[test]
fn overlay_lays_a_track_over_the_video_for_its_whole_length() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let mp4 = t.sample_mp4();
    let tone = t.work_path("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=5",
        &s(&tone),
    ]);
    let with_sound = t.work_path("with_sound.mp4");
    let w = ok(&media(
        &t,
        &["overlay", &s(&mp4), &s(&tone), "-o", &s(&with_sound)],
    ));
    // The sample has no sound of its own: nothing to mix, the track is laid on.
    assert_eq!(w["method"], "replace");
    let kinds: Vec<&Value> = w["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["type"])
        .collect();
    assert_eq!(kinds, ["video", "audio"]);
    assert!((duration(&w) - 2.0).abs() <= 0.1, "{w}");
    // A video with sound: mixed by default, replaced on request.
    let mixed = t.work_path("mixed.mp4");
    let m = ok(&media(
        &t,
        &["overlay", &s(&with_sound), &s(&tone), "-o", &s(&mixed)],
    ));
    assert_eq!(m["method"], "mix");
    let replaced = t.work_path("replaced.mp4");
    let r = ok(&media(
        &t,
        &[
            "overlay",
            &s(&with_sound),
            &s(&tone),
            "-o",
            &s(&replaced),
            "--replace",
        ],
    ));
    assert_eq!(r["method"], "replace");
    // A video as the track is refused, naming the field.
    let bad = media(
        &t,
        &[
            "overlay",
            &s(&mp4),
            &s(&mp4),
            "-o",
            &s(&t.work_path("x.mp4")),
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("invalid `AUDIO`"), "{}", bad.stderr);
}

#[test]
fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    // These are refused before ffmpeg is looked for: they run everywhere.
    let t = ctx();
    let mp4 = t.sample_mp4();
    let existing = t.work_path("existing.mp4");
    std::fs::write(&existing, b"keep me").unwrap();
    let missing = t.work_path("missing.mp4");
    let new = t.work_path("new.mp4");
    let before = listing(&t.work_path(""));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["concat".into(), s(&mp4), s(&missing), "-o".into(), s(&new)],
            "invalid `CLIP[2]`: ",
        ),
        (
            vec![
                "trim".into(),
                s(&mp4),
                "--start".into(),
                "soon".into(),
                "-o".into(),
                s(&new),
            ],
            "invalid `--start`: `soon` is not a time",
        ),
        (
            vec![
                "trim".into(),
                s(&mp4),
                "--start".into(),
                "2".into(),
                "--end".into(),
                "1".into(),
                "-o".into(),
                s(&new),
            ],
            "invalid `--end`: 1.000 must be after --start",
        ),
        (
            vec!["concat".into(), s(&mp4), s(&mp4), "-o".into(), s(&existing)],
            "pass --force to replace it",
        ),
        (
            vec![
                "concat".into(),
                s(&mp4),
                s(&mp4),
                "-o".into(),
                s(&mp4),
                "--force".into(),
            ],
            "is one of the inputs",
        ),
        (
            vec![
                "trim".into(),
                s(&mp4),
                "--start".into(),
                "1".into(),
                "-o".into(),
                s(&t.work_path("noext")),
            ],
            "needs an extension",
        ),
        (vec!["probe".into(), s(&missing)], "invalid `FILE`: "),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = media(&t, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["error"]["kind"], "usage");
        assert_eq!(listing(&t.work_path("")), before, "{args:?}");
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
}

#[test]
fn missing_ffmpeg_is_a_configuration_error_with_the_fix() {
    let t = ctx();
    let mp4 = t.sample_mp4();
    let out = t.work_path("out.mp4");
    let before = listing(&t.work_path(""));
    let nowhere = t.work_path("no-such-dir");
    // Named by the overrides, or not on PATH at all.
    let mut by_env = t.kino();
    by_env
        .env("KINO_FFMPEG", nowhere.join("ffmpeg"))
        .env("KINO_FFPROBE", nowhere.join("ffprobe"));
    let mut by_path = t.kino();
    by_path
        .env_remove("KINO_FFMPEG")
        .env_remove("KINO_FFPROBE")
        .env("PATH", &nowhere);
    for mut cmd in [by_env, by_path] {
        cmd.args([
            "media",
            "concat",
            &s(&mp4),
            &s(&mp4),
            "-o",
            &s(&out),
            "--json",
        ]);
        let r = run(cmd);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains("ffmpeg not found"), "{}", r.stderr);
        assert!(r.stderr.contains("apt-get install ffmpeg"), "{}", r.stderr);
        assert!(r.stderr.contains("KINO_FFMPEG"), "{}", r.stderr);
        assert_eq!(r.json()["error"]["kind"], "config");
        assert_eq!(listing(&t.work_path("")), before);
    }
    let mut probe = t.kino();
    probe
        .env("KINO_FFPROBE", nowhere.join("ffprobe"))
        .args(["media", "probe", &s(&mp4)]);
    let r = run(probe);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("ffprobe not found"), "{}", r.stderr);

    // doctor says which is missing, and still succeeds.
    let mut doctor = t.kino();
    doctor
        .env("KINO_FFMPEG", nowhere.join("ffmpeg"))
        .args(["doctor", "--json"]);
    let d = run(doctor);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let checks = d.json();
    let ffmpeg = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "ffmpeg")
        .unwrap();
    assert_eq!(ffmpeg["ok"], false);
    assert!(
        ffmpeg["detail"]
            .as_str()
            .unwrap()
            .contains("apt-get install ffmpeg")
    );
}

#[test]
fn doctor_reports_ffmpeg_and_ffprobe_found() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let d = kino(&t, &["doctor", "--json"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let checks = d.json();
    for tool in ["ffmpeg", "ffprobe"] {
        let c = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == tool)
            .unwrap_or_else(|| panic!("no {tool} check: {checks}"));
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["detail"].as_str().unwrap().contains("version"), "{c}");
    }
}

#[test]
fn a_failing_ffmpeg_shows_its_last_words_and_leaves_no_half_file() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let mp4 = t.sample_mp4();
    // An ffmpeg that writes half a file to its output, complains and fails.
    let fake = t.work_path("fake-ffmpeg");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         if [ \"$1\" = -version ]; then echo 'ffmpeg version fake'; exit 0; fi\n\
         for last in \"$@\"; do :; done\n\
         printf 'half' > \"$last\"\n\
         i=0; while [ $i -lt 30 ]; do echo \"noise $i\" >&2; i=$((i+1)); done\n\
         echo 'Conversion failed: disk on fire' >&2\n\
         exit 1\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let before = listing(&t.work_path(""));
    let out = t.work_path("out.mp4");
    let mut cmd = t.kino();
    cmd.env("KINO_FFMPEG", &fake).args([
        "media",
        "concat",
        &s(&mp4),
        &s(&mp4),
        "-o",
        &s(&out),
        "--json",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ffmpeg failed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Conversion failed: disk on fire"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("noise 29"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("noise 3\n"),
        "only the last lines: {}",
        r.stderr
    );
    assert!(!out.exists());
    assert_eq!(listing(&t.work_path("")), before);
}

// --- issue 9, item 3: probe data and thumbnails for downloaded results ---------------------

/// The thumbnail a job's result has in the kino home (beside the SQLite ledger).
fn thumb_of(t: &TestContext, job: &str, index: u64) -> PathBuf {
    t.home
        .path()
        .join("thumbs")
        .join(format!("{job}-{index}.jpg"))
}

/// `ffprobe`'s reading of a picture: (codec, width, height).
fn picture(file: &Path) -> (String, u64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &doc["streams"][0];
    (
        v["codec_name"].as_str().unwrap_or_default().to_string(),
        v["width"].as_u64().unwrap_or(0),
        v["height"].as_u64().unwrap_or(0),
    )
}

#[test]
fn a_downloaded_video_keeps_what_ffprobe_reads_of_it() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let r = kino(&t, &["run", "--json", "a heron in the reeds"]);
    let out = ok(&r);
    let id = out["job_id"].as_str().unwrap().to_string();
    let a = &out["artifacts"][0];
    let file = PathBuf::from(a["path"].as_str().unwrap());
    let stored = &a["probe"];
    assert!(stored.is_object(), "no probe: {out}");

    // The same figures `kino media probe` reads of the file.
    let probed = ok(&media(&t, &["probe", &s(&file)]));
    let d = stored["duration_s"].as_f64().unwrap();
    assert!(d > 0.0);
    assert!((d - duration(&probed)).abs() < 1e-6, "{d} vs {probed}");
    let v = &probed["streams"][0];
    assert_eq!(stored["width"], v["width"]);
    assert_eq!(stored["height"], v["height"]);
    assert_eq!(stored["video_codec"], v["codec"]);
    assert_eq!(stored["fps"], v["fps"]);
    assert_eq!(stored["format"], probed["format"]);
    assert_eq!(stored["bit_rate"], probed["bit_rate"]);
    let sound = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["type"] == "audio");
    assert_eq!(stored["has_audio"], sound);

    // `kino status` reads it back from the ledger.
    let status = ok(&kino(&t, &["status", &id, "--json"]));
    assert_eq!(&status["artifacts"][0]["probe"], stored);

    // No thumbnail yet: it is made when the dashboard first asks for it (the serve test), and
    // nothing but the video went to the output directory.
    assert!(!thumb_of(&t, &id, 0).exists());
    let names = listing(&t.work_path(""));
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".jpg") && !n.starts_with('.')),
        "{names:?}"
    );
}

#[test]
fn a_run_without_ffprobe_or_ffmpeg_succeeds_without_a_probe_or_thumbnail() {
    let t = ctx();
    let nowhere = t.work_path("no-such-dir");
    let mut cmd = t.kino();
    cmd.env("KINO_FFPROBE", nowhere.join("ffprobe"))
        .env("KINO_FFMPEG", nowhere.join("ffmpeg"))
        .args(["run", "--json", "a heron without tools"]);
    let r = run(cmd);
    let out = ok(&r);
    assert_eq!(out["state"], "succeeded");
    let a = &out["artifacts"][0];
    assert_eq!(a["state"], "done");
    assert!(Path::new(a["path"].as_str().unwrap()).is_file());
    assert_eq!(a["probe"], Value::Null, "{out}");
    // Nothing about the tools is printed to the user: the run did what was asked.
    assert!(!r.stderr.contains("ffprobe"), "{}", r.stderr);
    let id = out["job_id"].as_str().unwrap();
    assert!(!thumb_of(&t, id, 0).exists());
    let status = ok(&kino(&t, &["status", id, "--json"]));
    assert_eq!(status["artifacts"][0]["probe"], Value::Null);
}

/// GET with an optional bearer token: status, content type, body.
fn fetch(t: &TestContext, url: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    t.block_on(async {
        let client = kino_http::api_client("kino-test").unwrap();
        let mut req = client.get(url);
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ctype, r.bytes().await.unwrap().to_vec())
    })
}

#[test]
fn serve_gives_a_video_results_thumbnail_as_a_jpeg_and_makes_a_missing_one_again() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let token = "thumb-token";
    let srv = super::serve::serve(&t, &[("KINO_SERVE_TOKEN", token)]);
    let created = t.block_on(async {
        kino_http::api_client("kino-test")
            .unwrap()
            .post(format!("{}/jobs", srv.base))
            .bearer_auth(token)
            .json(&serde_json::json!({"provider": "dashscope", "prompt": "a heron over REST"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    let id = created["job_id"].as_str().unwrap().to_string();
    let start = std::time::Instant::now();
    let job = loop {
        let (_, _, body) = fetch(&t, &format!("{}/jobs/{id}", srv.base), Some(token));
        let job: Value = serde_json::from_slice(&body).unwrap();
        if job["done"] == true {
            break job;
        }
        assert!(start.elapsed().as_secs() < 40, "{job}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(job["state"], "succeeded", "{job}");
    // The REST artifact carries the probe as `kino status` does.
    assert!(job["artifacts"][0]["probe"]["duration_s"].as_f64().unwrap() > 0.0);
    let url = format!("{}/jobs/{id}/artifacts/0/thumbnail", srv.base);
    let check = |bytes: &[u8]| {
        assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
        let saved = t.work_path("got.jpg");
        std::fs::write(&saved, bytes).unwrap();
        let (codec, w, h) = picture(&saved);
        assert_eq!(codec, "mjpeg");
        let width = job["artifacts"][0]["probe"]["width"].as_u64().unwrap();
        assert_eq!(w, width.min(320));
        assert!(h > 0);
    };
    // Made at the first request, into the kino home, with no temporary file left.
    let thumb = thumb_of(&t, &id, 0);
    assert!(!thumb.exists());
    let (status, ctype, bytes) = fetch(&t, &url, Some(token));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(ctype, "image/jpeg");
    check(&bytes);
    assert_eq!(
        listing(thumb.parent().unwrap()),
        vec![format!("{id}-0.jpg")],
        "no temporary file left"
    );

    // The same rules as every route: no token, no picture.
    let (status, _, _) = fetch(&t, &url, None);
    assert_eq!(status, 401);

    // Another machine of a shared ledger has the file but no thumbnail: made on demand.
    std::fs::remove_file(&thumb).unwrap();
    let (status, ctype, bytes) = fetch(&t, &url, Some(token));
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
    check(&bytes);
    assert!(thumb.is_file());

    // No such result, or no file to make one from: 404 with the JSON error.
    for missing in [
        format!("{}/jobs/{id}/artifacts/7/thumbnail", srv.base),
        url.clone(),
    ] {
        if missing == url {
            std::fs::remove_file(&thumb).unwrap();
            std::fs::remove_file(job["artifacts"][0]["path"].as_str().unwrap()).unwrap();
        }
        let (status, ctype, body) = fetch(&t, &missing, Some(token));
        assert_eq!(status, 404, "{missing}");
        assert!(ctype.starts_with("application/json"), "{ctype}");
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no thumbnail"),
            "{doc}"
        );
    }
}

/// The thumbnail route used to hand ffmpeg whatever path the ledger named, and a ledger may be
/// shared or imported: a record pointing at a file outside its job's output directory made the
/// service decode that file. Such a result now has no thumbnail, and ffmpeg never reads it.
#[test]
fn a_thumbnail_is_made_only_from_a_file_inside_the_jobs_output_directory() {
    if !ffmpeg_present() {
        return;
    }
    let t = ctx();
    let ran = ok(&kino(&t, &["run", "--json", "a heron to copy"]));
    let video = PathBuf::from(ran["artifacts"][0]["path"].as_str().unwrap());
    let private = t.home.path().join("private");
    std::fs::create_dir_all(&private).unwrap();
    let secret = private.join("secret.mp4");
    std::fs::copy(&video, &secret).unwrap();

    let export = run({
        let mut cmd = t.kino();
        cmd.args(["ledger", "export"]);
        cmd
    });
    let mut record: Value = serde_json::from_str(export.stdout.lines().next().unwrap()).unwrap();
    let id = "01a1fe00-0000-7000-8000-0000000000aa";
    record["job"]["job_id"] = json!(id);
    record["job"]["handle"] = json!("hostile-handle");
    record["events"] = json!([]);
    for a in record["artifacts"].as_array_mut().unwrap() {
        a["job_id"] = json!(id);
        a["path"] = json!(s(&secret));
    }
    let file = t.work_path("hostile.jsonl");
    std::fs::write(&file, format!("{record}\n")).unwrap();
    let imported = run({
        let mut cmd = t.kino();
        cmd.args(["ledger", "import", &s(&file)]);
        cmd
    });
    assert_eq!(imported.code, 0, "{}", imported.stderr);

    let srv = super::serve::serve(&t, &[]);
    let (status, _, _) = fetch(
        &t,
        &format!("{}/jobs/{id}/artifacts/0/thumbnail", srv.base),
        None,
    );
    assert_eq!(status, 404);
    assert!(!thumb_of(&t, id, 0).exists());
    // The job's own result still gets one.
    let own = ran["job_id"].as_str().unwrap();
    let (status, ctype, _) = fetch(
        &t,
        &format!("{}/jobs/{own}/artifacts/0/thumbnail", srv.base),
        None,
    );
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
}
