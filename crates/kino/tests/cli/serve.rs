//! `kino serve`: the REST API and its workers, driven over HTTP like any client would.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, eventually, fast_config, spawn};

use super::{ctx, ctx_with, kino, sha256_file};

/// A running `kino serve` on an ephemeral port.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(t: &TestContext, extra_env: &[(&str, &str)]) -> Served {
    let mut cmd = t.kino();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--json"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = spawn(cmd);
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let doc: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("no address from kino serve ({e}): {line:?}"));
    let base = doc["api"].as_str().unwrap_or_default().to_string();
    Served { child, base }
}

fn client() -> kino_http::reqwest::Client {
    kino_http::api_client("kino-test").unwrap_or_else(|e| panic!("{e}"))
}

fn get(t: &TestContext, url: &str) -> (u16, Value) {
    t.block_on(async {
        let r = client()
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    })
}

pub(crate) fn post(t: &TestContext, url: &str, body: Value) -> (u16, Value) {
    t.block_on(async {
        let r = client()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    })
}

pub(crate) fn wait_done(t: &TestContext, base: &str, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (_, job) = get(t, &format!("{base}/jobs/{id}"));
        if job["done"] == true || start.elapsed() > Duration::from_secs(40) {
            return job;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_submitted_over_rest_runs_to_a_downloadable_video_with_its_events() {
    let t = ctx();
    let s = serve(&t, &[]);
    let (status, job) = post(
        &t,
        &format!("{}/jobs", s.base),
        json!({"provider": "dashscope", "prompt": "a cat over REST"}),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap_or_default().to_string();
    let done = wait_done(&t, &s.base, &id);
    assert_eq!(done["state"], "succeeded", "{done}");
    let (headers, bytes) = t.block_on(async {
        let r = client()
            .get(format!("{}/jobs/{id}/artifacts/0", s.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (r.headers().clone(), r.bytes().await.unwrap_or_default())
    });
    // A result is never interpreted as a page of the dashboard's origin.
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["content-type"], "video/mp4");
    let (status, _) = get(&t, &format!("{}/jobs/{id}/artifacts/7", s.base));
    assert_eq!(status, 404);
    let path = done["artifacts"][0]["path"].as_str().unwrap_or_default();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(path).unwrap_or_default().as_slice()
    );
    assert_eq!(
        done["artifacts"][0]["sha256"].as_str(),
        Some(sha256_file(std::path::Path::new(path)).as_str())
    );
    let sse = t.block_on(async {
        let r = client()
            .get(format!("{}/jobs/{id}/events", s.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        r.text().await.unwrap_or_default()
    });
    assert!(
        sse.contains("event: submitted")
            && sse.contains("event: downloaded")
            && sse.contains("event: end"),
        "{sse}"
    );
    let (status, bad) = post(
        &t,
        &format!("{}/jobs", s.base),
        json!({"provider": "dashscope", "prompt": "p", "request": {"duration": 99}}),
    );
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`duration`"),
        "{bad}"
    );
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn a_cli_submit_is_followed_by_a_running_serve() {
    let t = ctx();
    let s = serve(&t, &[]);
    let receipt = kino(&t, &["submit", "--json", "from another terminal"]);
    assert_eq!(receipt.code, 0, "{}", receipt.stderr);
    let id = receipt.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let done = wait_done(&t, &s.base, &id);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["artifacts"][0]["state"], "done");
}

#[test]
fn kill_9_of_serve_mid_job_then_a_new_serve_finishes_it_with_one_create() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(1),
        running: Duration::from_secs(2),
        ..fast_config()
    });
    let mut first = serve(&t, &[]);
    let (status, job) = post(
        &t,
        &format!("{}/jobs", first.base),
        json!({"provider": "dashscope", "prompt": "survive a crash"}),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap_or_default().to_string();
    assert!(eventually(Duration::from_secs(20), || t.stats().queries >= 1));
    let _ = first.child.kill();
    let _ = first.child.wait();
    let second = serve(&t, &[]);
    let done = wait_done(&t, &second.base, &id);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn a_non_loopback_bind_needs_a_token_and_the_token_is_checked() {
    let t = ctx();
    let r = kino(&t, &["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("KINO_SERVE_TOKEN"), "{}", r.stderr);
    let s = serve(&t, &[("KINO_SERVE_TOKEN", "tok-123")]);
    let (status, _) = get(&t, &format!("{}/jobs", s.base));
    assert_eq!(status, 401);
    let (status, _) = t.block_on(async {
        let r = client()
            .get(format!("{}/jobs", s.base))
            .bearer_auth("tok-123")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (r.status().as_u16(), ())
    });
    assert_eq!(status, 200);
    // The dashboard passes the token in the query where it cannot send a header, encoded.
    let s2 = serve(&t, &[("KINO_SERVE_TOKEN", "a+b/c=")]);
    let (status, _) = get(&t, &format!("{}/jobs?token=a%2Bb%2Fc%3D", s2.base));
    assert_eq!(status, 200);
    let (status, _) = get(&t, &format!("{}/jobs?token=a%2Bb%2Fc", s2.base));
    assert_eq!(status, 401);
}

/// Regression (review of issue 6): without a token, any web page could make the browser POST
/// to 127.0.0.1 and cancel or create jobs; DNS rebinding could read the answers too.
#[test]
fn a_page_of_another_site_cannot_drive_a_tokenless_serve() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(30),
        running: Duration::from_secs(30),
        ..fast_config()
    });
    let s = serve(&t, &[]);
    let (status, job) = post(
        &t,
        &format!("{}/jobs", s.base),
        json!({"provider": "dashscope", "prompt": "mine"}),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap_or_default().to_string();
    let send = |headers: &[(&str, &str)]| -> u16 {
        t.block_on(async {
            let mut req = client().post(format!("{}/jobs/{id}/cancel", s.base));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .status()
                .as_u16()
        })
    };
    assert_eq!(send(&[("origin", "https://evil.example")]), 403);
    assert_eq!(send(&[("origin", "null")]), 403);
    assert_eq!(send(&[("host", "rebound.evil.example")]), 403);
    let (_, still) = get(&t, &format!("{}/jobs/{id}", s.base));
    assert_ne!(still["state"], "canceled", "{still}");
    assert_eq!(t.stats().cancels, 0);
    // The dashboard's own requests carry its own origin.
    let own = s.base.trim_end_matches("/v1").to_string();
    let own_host = own.trim_start_matches("http://").to_string();
    assert_eq!(send(&[("origin", &own), ("host", &own_host)]), 200);
}

/// Regression (review of issue 6): an open dashboard holds `/v1/stream`, which never ends; a
/// graceful stop waited for it forever and only kill -9 stopped the service.
#[test]
fn sigterm_stops_serve_even_with_a_dashboard_stream_open() {
    use std::io::{Read, Write};
    let t = ctx();
    let mut s = serve(&t, &[]);
    let addr = s
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{e}"));
    write!(sock, "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = [0u8; 64];
    let n = sock.read(&mut first).unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let pid = s.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.success());
    let stopped = eventually(Duration::from_secs(20), || {
        matches!(s.child.try_wait(), Ok(Some(_)))
    });
    assert!(stopped, "kino serve still running after SIGTERM");
    drop(sock);
}

/// Regression: an upload cut short used to leave a partial file under uploads/, where a job
/// could pick it up as if it were whole.
#[test]
fn a_cut_upload_leaves_no_file_and_a_whole_one_is_kept_byte_for_byte() {
    use std::io::{Read, Write};
    let t = ctx();
    let s = serve(&t, &[]);
    let uploads = t.home.path().join("uploads");

    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let url = format!("{}/uploads?name=clip.mp4", s.base);
    let (status, doc) = t.block_on(async {
        let r = client()
            .post(&url)
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    });
    assert_eq!(status, 200, "{doc}");
    let kept = std::path::PathBuf::from(doc["path"].as_str().unwrap_or_default());
    assert!(kept.starts_with(&uploads), "{kept:?}");
    assert!(kept.to_string_lossy().ends_with("-clip.mp4"), "{kept:?}");
    assert_eq!(std::fs::read(&kept).unwrap_or_default(), body);

    // Promise 1 MB, send 10 bytes, hang up.
    let addr = s.base.trim_start_matches("http://").trim_end_matches("/v1");
    let mut sock = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    write!(
        sock,
        "POST /v1/uploads?name=cut.mp4 HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000000\r\n\r\n0123456789"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    let _ = sock.read_to_string(&mut answer);
    let only_the_whole_one = || {
        std::fs::read_dir(&uploads)
            .map(|d| d.filter_map(Result::ok).count() == 1)
            .unwrap_or(false)
    };
    assert!(
        eventually(Duration::from_secs(5), only_the_whole_one),
        "{:?}",
        std::fs::read_dir(&uploads).map(|d| d
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect::<Vec<_>>())
    );
}

/// Regression (review of issue 6): a job whose follow failed while it stayed unfinished was
/// restarted by the next one-second scan, forever; each restart asks the platform again.
#[test]
fn a_job_that_cannot_be_followed_is_retried_with_backoff_not_every_scan() {
    use std::io::Read;
    let t = ctx_with(SandboxConfig {
        conversation_step: Duration::from_secs(60),
        ..fast_config()
    });
    let r = kino(&t, &["submit", "xyq", "a slow film", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The platform now refuses the key: following that job fails every time it is tried.
    t.sandbox.inject(kino_sandbox::Fault {
        target: kino_sandbox::FaultTarget::XyqQuery,
        status: 401,
        times: 1000,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let mut cmd = t.kino();
    cmd.env("KINO_LOG", "warn")
        .args(["serve", "--bind", "127.0.0.1:0", "--json"]);
    let mut child = spawn(cmd);
    std::thread::sleep(Duration::from_millis(4_500));
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let tries = stderr.matches("following stopped").count();
    assert_eq!(tries, 1, "{stderr}");
}
