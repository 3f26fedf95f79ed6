//! The dashboard in a real headless Chromium (Debian's chromium + chromedriver, installed by
//! .ci/run), driven over the WebDriver protocol: submit a sandbox job from the page, watch it
//! finish, see its thumbnail, click it and see its video element load.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use kino_testkit::TestContext;

use super::ctx;
use super::serve::serve;

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(t: &TestContext, method: &str, url: String, body: Option<Value>) -> Value {
    t.block_on(async {
        let client = kino_http::api_client("kino-test").unwrap_or_else(|e| panic!("{e}"));
        let req = match method {
            "GET" => client.get(url),
            "DELETE" => client.delete(url),
            _ => client.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        match req.send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9515)
}

fn start_browser(t: &TestContext) -> Option<Driver> {
    let present = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .all(|p| std::path::Path::new(p).exists());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium and chromium-driver (see .ci/run)"
        );
        eprintln!("skipping: apt-get install chromium chromium-driver to run this test");
        return None;
    }
    let port = free_port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromedriver: {e}"));
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while call(t, "GET", format!("{base}/status"), None)["value"]["ready"] != true {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = t.work_path("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", format!("--user-data-dir={}", profile.display())]
    }}}});
    let session = call(t, "POST", format!("{base}/session"), Some(caps))["value"]["sessionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!session.is_empty(), "no WebDriver session");
    Some(Driver {
        child,
        base,
        session,
    })
}

impl Driver {
    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn script(&self, t: &TestContext, js: &str) -> Value {
        call(
            t,
            "POST",
            self.url("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )["value"]
            .clone()
    }

    fn element(&self, t: &TestContext, css: &str) -> String {
        let found = call(
            t,
            "POST",
            self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn until(&self, t: &TestContext, what: &str, js: &str, limit: Duration) {
        let start = Instant::now();
        while self.script(t, js) != Value::Bool(true) {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; page: {}",
                self.script(t, "return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_sandbox_job_submitted_from_the_dashboard_finishes_shows_its_thumbnail_and_its_video_loads() {
    let t = ctx();
    let Some(d) = start_browser(&t) else { return };
    let s = serve(&t, &[]);
    let page = s.base.trim_end_matches("/v1").to_string() + "/";
    call(&t, "POST", d.url("/url"), Some(json!({"url": page})));
    d.until(
        &t,
        "the providers",
        "return document.querySelectorAll('#provider option').length > 0",
        Duration::from_secs(20),
    );
    d.script(
        &t,
        "document.getElementById('provider').value = 'dashscope'; return true",
    );
    let prompt = d.element(&t, "#prompt");
    call(
        &t,
        "POST",
        d.url(&format!("/element/{prompt}/value")),
        Some(json!({"text": "a lighthouse from the browser"})),
    );
    let go = d.element(&t, "#go");
    call(&t, "POST", d.url(&format!("/element/{go}/click")), None);
    d.until(
        &t,
        "the job to succeed",
        "return !!document.querySelector('td.state.succeeded')",
        Duration::from_secs(40),
    );
    // The finished video shows its thumbnail, a JPEG the browser decoded, as wide as kino
    // makes them (the sandbox's videos are 320 px wide); a click turns it into the player.
    d.until(
        &t,
        "the thumbnail",
        "const i = document.querySelector('img.thumb'); return !!i && i.complete && i.naturalWidth === 320 && i.naturalHeight > 0",
        Duration::from_secs(20),
    );
    assert_eq!(
        d.script(
            &t,
            "return document.querySelectorAll('video.preview').length"
        ),
        json!(0),
        "the player waits for a click"
    );
    let thumb = d.element(&t, "img.thumb");
    call(&t, "POST", d.url(&format!("/element/{thumb}/click")), None);
    d.until(
        &t,
        "the video to load",
        "const v = document.querySelector('video.preview'); return !!v && v.error === null && v.readyState >= 1",
        Duration::from_secs(20),
    );
    d.until(
        &t,
        "the event log",
        "return document.getElementById('log').textContent.includes('downloaded')",
        Duration::from_secs(10),
    );
    assert_eq!(t.stats().creates, 1);
    call(&t, "DELETE", d.url(""), None);
}
