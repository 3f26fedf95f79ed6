//! Drives a real sandbox over HTTP with reqwest.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use kino_sandbox::{Fault, FaultKind, FaultTarget, Sandbox, SandboxConfig, SandboxHandle};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY: &str = "sk-test-key";
const T2V: &str = "/services/aigc/video-generation/video-synthesis";
const I2V: &str = "/services/aigc/image2video/video-synthesis";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("reqwest client")
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, config)
        .await
        .expect("sandbox starts")
}

fn fast() -> SandboxConfig {
    SandboxConfig {
        pending: Duration::from_millis(100),
        running: Duration::from_millis(150),
        tasks_qps: None,
        ..SandboxConfig::default()
    }
}

struct Api {
    sb: SandboxHandle,
    http: reqwest::Client,
}

impl Api {
    async fn new(config: SandboxConfig) -> Self {
        Self {
            sb: start(config).await,
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.dashscope_base_url())
    }

    async fn submit(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .header("X-DashScope-Async", "enable")
            .json(&body)
            .send()
            .await
            .expect("submit");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("get");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn cancel(&self, id: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/tasks/{id}/cancel")))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("cancel");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn t2v(&self, model: &str, prompt: &str) -> String {
        let (status, body) = self
            .submit(T2V, json!({"model": model, "input": {"prompt": prompt}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["output"]["task_id"]
            .as_str()
            .expect("task_id")
            .to_owned()
    }

    async fn wait_terminal(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(&format!("/tasks/{id}")).await;
            assert_eq!(status, StatusCode::OK);
            let st = body["output"]["task_status"].as_str().unwrap_or_default();
            if ["SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"].contains(&st) {
                return body;
            }
            assert!(Instant::now() < deadline, "task {id} never finished");
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

#[tokio::test]
async fn submit_without_async_header_is_403() {
    let api = Api::new(fast()).await;
    let resp = api
        .http
        .post(api.url(T2V))
        .bearer_auth(KEY)
        .json(&json!({"model":"wan2.6-t2v","input":{"prompt":"cat"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "AccessDenied");
    assert_eq!(
        body["message"],
        "current user api does not support synchronous calls"
    );
    assert!(body["request_id"].is_string());
    let stats = api.sb.stats();
    assert_eq!(
        (
            stats.creates,
            stats.create_attempts,
            stats.async_header_missing
        ),
        (0, 1, 1)
    );
    let reqs = api.sb.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].task_id, None);
    assert_eq!(reqs[0].header("authorization"), Some("<redacted>"));
}

#[tokio::test]
async fn bad_or_missing_key_is_401() {
    let api = Api::new(fast()).await;
    let send = |key: Option<&'static str>| {
        let mut req = api
            .http
            .post(api.url(T2V))
            .header("X-DashScope-Async", "enable")
            .json(&json!({"model":"wan2.6-t2v","input":{"prompt":"cat"}}));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        async move {
            let resp = req.send().await.expect("send");
            (resp.status(), resp.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = send(Some("sk-invalid-123")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "InvalidApiKey");
    assert_eq!(body["message"], "Invalid API-key provided.");
    let (status, body) = send(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "No API-key provided.");

    api.sb.set_config(|c| c.api_keys = vec!["sk-only".into()]);
    let (status, _) = send(Some(KEY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(Some("sk-only")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.get("/tasks/whatever").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("InvalidApiKey"))
    );
    assert_eq!(api.sb.stats().creates, 1);
}

#[tokio::test]
async fn t2v_happy_path_and_range_resume() {
    let api = Api::new(SandboxConfig {
        video_size: Some(300_000),
        ..fast()
    })
    .await;
    let (status, body) = api
        .submit(
            "/services/aigc/video-generation/video-synthesis/",
            json!({"model":"wan2.6-t2v","input":{"prompt":"a cat","extend_prompt":true,"function":"video-synthesis"},"parameters":{"size":"1280*720","duration":10}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["task_status"], "PENDING");
    let id = body["output"]["task_id"]
        .as_str()
        .expect("task_id")
        .to_owned();

    let (_, first) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(first["output"]["task_status"], "PENDING");
    let done = api.wait_terminal(&id).await;
    assert_eq!(done["output"]["task_status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["orig_prompt"], "a cat");
    for key in ["submit_time", "scheduled_time", "end_time"] {
        assert_eq!(
            done["output"][key].as_str().map(str::len),
            Some(23),
            "{key}"
        );
    }
    assert_eq!(done["usage"]["duration"], 10);
    assert_eq!(done["usage"]["SR"], 720);
    let url = done["output"]["video_url"]
        .as_str()
        .expect("video_url")
        .to_owned();
    assert!(url.starts_with(&format!(
        "http://{}/results/{id}.mp4?Expires=",
        api.sb.cdn_addr()
    )));

    // First part, then resume with an open-ended range.
    let part1 = api
        .http
        .get(&url)
        .header("Range", "bytes=0-99999")
        .send()
        .await
        .expect("range 1");
    assert_eq!(part1.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part1.headers()["content-range"].to_str().ok(),
        Some("bytes 0-99999/300000")
    );
    let mut bytes = part1.bytes().await.expect("body 1").to_vec();
    assert_eq!(bytes.len(), 100_000);
    let part2 = api
        .http
        .get(&url)
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .expect("range 2");
    assert_eq!(part2.status(), StatusCode::PARTIAL_CONTENT);
    bytes.extend_from_slice(&part2.bytes().await.expect("body 2"));
    assert_eq!(bytes.len(), 300_000);
    assert_eq!(
        &bytes[..kino_sandbox::media::SAMPLE_MP4.len()],
        kino_sandbox::media::SAMPLE_MP4
    );
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(api.sb.result_sha256(&id), Some(sha.clone()));

    let full = api.http.get(&url).send().await.expect("full");
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert!(full.headers().contains_key("etag"));
    assert_eq!(full.content_length(), Some(300_000));
    assert_eq!(
        hex::encode(Sha256::digest(full.bytes().await.expect("full body"))),
        sha
    );

    let beyond = api
        .http
        .get(&url)
        .header("Range", "bytes=300000-")
        .send()
        .await
        .expect("416");
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let stats = api.sb.stats();
    assert_eq!(
        (stats.creates, stats.downloads, stats.range_downloads),
        (1, 4, 3)
    );
    assert_eq!(stats.auth_on_cdn, 0);
    let reqs = api.sb.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].task_id.as_deref(), Some(id.as_str()));
    assert_eq!(reqs[0].header("x-dashscope-async"), Some("enable"));
    assert_eq!(reqs[0].body["model"], "wan2.6-t2v");

    // Unknown ids are 200 UNKNOWN; their results 404.
    let (status, body) = api.get("/tasks/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["output"]["task_status"], "UNKNOWN");
    let missing = api
        .http
        .get(format!("http://{}/results/nope.mp4", api.sb.cdn_addr()))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wan27_results_url_and_failures() {
    let api = Api::new(fast()).await;
    let id = api.t2v("wan2.7-t2v", "a dog").await;
    let done = api.wait_terminal(&id).await;
    assert!(done["output"].get("video_url").is_none());
    let url = done["output"]["results"][0]["url"]
        .as_str()
        .expect("results url");
    let resp = api.http.get(url).send().await.expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.expect("body").len(), 6105);
    assert_eq!(done["usage"]["SR"], 1080);

    let failing = api.t2v("wan2.6-t2v", "please sandbox:fail now").await;
    let failed = api.wait_terminal(&failing).await;
    assert_eq!(failed["output"]["task_status"], "FAILED");
    assert_eq!(failed["output"]["code"], "DataInspectionFailed");
    assert!(failed.get("usage").is_none());
    assert_eq!(api.sb.result_sha256(&failing), None);

    let (status, body) = api
        .submit(T2V, json!({"model":"wan9-t2v","input":{"prompt":"x"}}))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Model not exist."))
    );
    let (status, body) = api
        .submit(
            T2V,
            json!({"model":"wan2.7-t2v","input":{"prompt":"x"},"parameters":{"size":"1280*720"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "InvalidParameter");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("size")
    );
}

#[tokio::test]
async fn kf2v_only_on_image2video() {
    let api = Api::new(fast()).await;
    let body = json!({"model":"wan2.2-kf2v-flash","input":{"prompt":"cat","first_frame_url":"https://e.x/1.png","last_frame_url":"https://e.x/2.png"},"parameters":{"resolution":"720P","duration":5}});
    let (status, resp) = api.submit(T2V, body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["code"], "InvalidParameter");
    assert_eq!(resp["message"], "url error, please check url!");
    let (status, resp) = api.submit(I2V, body).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = api
        .submit(I2V, json!({"model":"wan2.6-t2v","input":{"prompt":"cat"}}))
        .await;
    assert_eq!(
        (status, resp["message"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("url error, please check url!")
        )
    );
    let stats = api.sb.stats();
    assert_eq!((stats.creates, stats.create_attempts), (1, 3));
}

fn upload_form(data: &Value, key: &str, file: Vec<u8>, file_last: bool) -> Form {
    let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let file_part = || {
        Part::bytes(file.clone())
            .file_name("cat.png")
            .mime_str("image/png")
            .expect("mime")
    };
    let mut form = Form::new();
    if !file_last {
        form = form.part("file", file_part());
    }
    form = form
        .text("OSSAccessKeyId", s("oss_access_key_id"))
        .text("Signature", s("signature"))
        .text("policy", s("policy"))
        .text("key", key.to_owned())
        .text("x-oss-object-acl", s("x_oss_object_acl"))
        .text("x-oss-forbid-overwrite", s("x_oss_forbid_overwrite"))
        .text("success_action_status", "200");
    if file_last {
        form = form.part("file", file_part());
    }
    form
}

#[tokio::test]
async fn upload_then_submit_with_oss_url() {
    let api = Api::new(fast()).await;
    let model = "wan2.6-i2v-flash";
    let (status, policy) = api
        .get(&format!("/uploads?action=getPolicy&model={model}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let data = &policy["data"];
    for key in [
        "policy",
        "signature",
        "upload_dir",
        "upload_host",
        "oss_access_key_id",
    ] {
        assert!(data[key].is_string(), "{key}");
    }
    assert_eq!(data["expire_in_seconds"], 300);
    assert_eq!(data["max_file_size_mb"], 100);
    assert_eq!(data["x_oss_forbid_overwrite"], "true");
    let host = data["upload_host"]
        .as_str()
        .expect("upload_host")
        .to_owned();
    assert_eq!(host, format!("http://{}", api.sb.cdn_addr()));
    let dir = data["upload_dir"].as_str().expect("upload_dir").to_owned();
    assert!(dir.starts_with("dashscope-instant/"));
    let key = format!("{dir}/cat.png");
    let png = kino_sandbox::media::SAMPLE_PNG.to_vec();

    // `file` must be the last field.
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(data, &key, png.clone(), false))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("xml").contains("<Error>"));

    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(data, &key, png.clone(), true))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.bytes().await.expect("empty").is_empty());

    // Same policy, same key again: forbid-overwrite.
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(data, &key, png.clone(), true))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(
        resp.text()
            .await
            .expect("xml")
            .contains("FileAlreadyExists")
    );
    // The policy may be reused for another key.
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(
            data,
            &format!("{dir}/dog.png"),
            png.clone(),
            true,
        ))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::OK);
    // A key outside upload_dir is refused.
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(
            data,
            "dashscope-instant/elsewhere/x.png",
            png.clone(),
            true,
        ))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let oss = format!("oss://{key}");
    let body = json!({"model": model, "input": {"prompt": "cat", "img_url": oss}, "parameters": {"resolution": "720P"}});
    let send = |model_body: Value, resolve: bool| {
        let mut req = api
            .http
            .post(api.url(T2V))
            .bearer_auth(KEY)
            .header("X-DashScope-Async", "enable")
            .json(&model_body);
        if resolve {
            req = req.header("X-DashScope-OssResourceResolve", "enable");
        }
        async move {
            let resp = req.send().await.expect("submit");
            (resp.status(), resp.json::<Value>().await.expect("json"))
        }
    };
    let (status, resp) = send(body.clone(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["code"], "invalid_parameter_error");
    let (status, resp) = send(body.clone(), true).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    // Uploaded for another model → data inspection failure.
    let mut other = body.clone();
    other["model"] = json!("wan2.6-i2v");
    let (status, resp) = send(other, true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["code"], "InvalidParameter.DataInspection");

    let stats = api.sb.stats();
    assert_eq!((stats.policies, stats.uploads, stats.creates), (1, 2, 1));
    assert_eq!(stats.auth_on_cdn, 0);

    // Expired policy.
    api.sb.set_config(|c| c.policy_ttl = Duration::ZERO);
    let (_, policy) = api
        .get(&format!("/uploads?action=getPolicy&model={model}"))
        .await;
    let data = &policy["data"];
    let key = format!(
        "{}/late.png",
        data["upload_dir"].as_str().unwrap_or_default()
    );
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(data, &key, png.clone(), true))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.expect("xml").contains("Policy expired."));

    // Too large (limit 1 MB).
    api.sb.set_config(|c| {
        c.policy_ttl = Duration::from_secs(60);
        c.max_file_size_mb = 1;
    });
    let (_, policy) = api
        .get(&format!("/uploads?action=getPolicy&model={model}"))
        .await;
    let data = &policy["data"];
    let key = format!(
        "{}/big.bin",
        data["upload_dir"].as_str().unwrap_or_default()
    );
    let resp = api
        .http
        .post(&host)
        .multipart(upload_form(data, &key, vec![7u8; 1024 * 1024 + 1], true))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("xml").contains("EntityTooLarge"));

    // Unknown model for getPolicy.
    let (status, _) = api.get("/uploads?action=getPolicy&model=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn injected_faults() {
    let api = Api::new(fast()).await;
    let id = api.t2v("wan2.6-t2v", "cat").await;
    api.sb.inject(Fault {
        target: FaultTarget::Query,
        status: 429,
        times: 1,
        retry_after_secs: Some(7),
        kind: Default::default(),
    });
    let resp = api
        .http
        .get(api.url(&format!("/tasks/{id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("query");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "Throttling.RateQuota");
    let (status, _) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    // An injected submit fault creates nothing; admin endpoint works too.
    let resp = api
        .http
        .post(format!("http://{}/_sandbox/faults", api.sb.api_addr()))
        .json(&json!({"target":"submit","status":503,"times":1}))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, body) = api
        .submit(T2V, json!({"model":"wan2.6-t2v","input":{"prompt":"x"}}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["message"],
        "Service temporarily unavailable, possibly overloaded or not ready."
    );
    let stats: Value = api
        .http
        .get(format!("http://{}/_sandbox/stats", api.sb.api_addr()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["creates"], 1);
    assert_eq!(stats["create_attempts"], 2);
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["queries"], 2);
}

#[tokio::test]
async fn transport_faults_drop_delay_or_cut_answers() {
    let api = Api::new(fast()).await;
    let create = || {
        api.http
            .post(api.url(T2V))
            .bearer_auth(KEY)
            .header("X-DashScope-Async", "enable")
            .json(&json!({"model":"wan2.6-t2v","input":{"prompt":"x"}}))
            .send()
    };
    // A reset before acting: no answer, no task.
    api.sb
        .inject(Fault::transport(FaultTarget::Submit, FaultKind::Reset));
    assert!(create().await.is_err(), "the connection closes unanswered");
    assert_eq!(api.sb.stats().creates, 0);
    // A reset after acting: no answer, but the task exists.
    api.sb
        .inject(Fault::transport(FaultTarget::Submit, FaultKind::ResetAfter));
    assert!(create().await.is_err(), "the connection closes unanswered");
    assert_eq!(api.sb.stats().creates, 1);
    // A slow answer still comes, whole.
    api.sb.inject(Fault::transport(
        FaultTarget::Query,
        FaultKind::Slow { ms: 300 },
    ));
    let id = api.t2v("wan2.6-t2v", "cat").await;
    let started = Instant::now();
    let (status, body) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["output"]["task_id"], id.as_str());
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A truncated download announces the whole length and sends half of it.
    let url = loop {
        let (_, body) = api.get(&format!("/tasks/{id}")).await;
        if let Some(url) = body["output"]["video_url"].as_str() {
            break url.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let whole = download(&api.http, &url).await;
    api.sb
        .inject(Fault::transport(FaultTarget::Download, FaultKind::Truncate));
    let resp = api.http.get(&url).send().await.expect("head arrives");
    assert_eq!(resp.content_length(), Some(whole.len() as u64));
    let mut got = 0usize;
    let mut stream = resp;
    let cut = loop {
        match stream.chunk().await {
            Ok(Some(chunk)) => got += chunk.len(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(cut, "the body ends in an error, not a clean end");
    assert_eq!(got, whole.len() / 2);
    // The fault was used up: the next download is whole.
    assert_eq!(download(&api.http, &url).await, whole);
}

#[tokio::test]
async fn tasks_qps_limit() {
    let api = Api::new(SandboxConfig {
        tasks_qps: Some(3),
        ..fast()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = api
            .http
            .get(api.url("/tasks/x"))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("query");
        statuses.push((resp.status(), resp.headers().get("retry-after").cloned()));
    }
    assert!(statuses[..3].iter().all(|(s, _)| *s == StatusCode::OK));
    assert_eq!(statuses[3].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        statuses[3].1.as_ref().map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(api.sb.stats().throttled, 1);
}

#[tokio::test]
async fn cancel_rules() {
    let api = Api::new(SandboxConfig {
        pending: Duration::from_secs(30),
        ..fast()
    })
    .await;
    let id = api.t2v("wan2.6-t2v", "cat").await;
    let (status, body) = api.cancel(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["request_id"].is_string());
    let (_, body) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(body["output"]["task_status"], "CANCELED");
    let (status, body) = api.cancel(&id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnsupportedOperation"))
    );
    let (status, body) = api.cancel("no-such-task").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnsupportedOperation"))
    );

    api.sb.set_config(|c| {
        c.pending = Duration::ZERO;
        c.running = Duration::from_secs(30);
    });
    let running = api.t2v("wan2.6-t2v", "cat").await;
    let (status, _) = api.cancel(&running).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = api.get(&format!("/tasks/{running}")).await;
    assert_eq!(body["output"]["task_status"], "RUNNING");
    assert!(api.sb.result_sha256(&id).is_none());
    assert_eq!(api.sb.stats().cancels, 4);
}

#[tokio::test]
async fn list_filters_by_model_newest_first() {
    let api = Api::new(fast()).await;
    let a = api.t2v("wan2.6-t2v", "one").await;
    let b = api.t2v("wan2.7-t2v", "two").await;
    let c = api.t2v("wan2.6-t2v", "three").await;
    let (status, body) = api
        .get("/tasks?page_no=1&page_size=10&model_name=wan2.6-t2v")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 2);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert_eq!(ids, [c.as_str(), a.as_str()]);
    assert_eq!(body["data"][0]["model_name"], "wan2.6-t2v");
    assert_eq!(body["data"][0]["task_status"], "PENDING");

    let (_, body) = api.get("/tasks?page_no=2&page_size=2").await;
    assert_eq!(body["total"], 3);
    assert_eq!(body["data"][0]["task_id"].as_str(), Some(a.as_str()));
    assert_eq!(
        (body["page_no"].as_u64(), body["page_size"].as_u64()),
        (Some(2), Some(2))
    );

    let (_, body) = api
        .get("/tasks?status=PENDING&start_time=20000101000000&end_time=29991231235959")
        .await;
    assert_eq!(body["total"], 3);
    let (_, body) = api.get("/tasks?end_time=20000101000000").await;
    assert_eq!(body["total"], 0);
    let (status, _) = api.get("/tasks?start_time=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    api.wait_terminal(&b).await;
    let (_, body) = api.get("/tasks?status=SUCCEEDED").await;
    assert!(body["data"].as_array().is_some_and(|d| !d.is_empty()));
    assert!(body["data"][0]["end_time"].is_string());
    assert_eq!(api.sb.stats().lists, 6);
}

#[tokio::test]
async fn download_rate_throttles() {
    let api = Api::new(SandboxConfig {
        pending: Duration::ZERO,
        running: Duration::ZERO,
        video_size: Some(200_000),
        download_rate: Some(400_000),
        ..fast()
    })
    .await;
    let id = api.t2v("wan2.2-t2v-plus", "cat").await;
    let done = api.wait_terminal(&id).await;
    assert_eq!(
        done["usage"],
        json!({"video_duration":5,"video_count":1,"SR":720})
    );
    let url = done["output"]["video_url"].as_str().expect("video_url");
    let started = Instant::now();
    let bytes = api
        .http
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body");
    assert_eq!(bytes.len(), 200_000);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn samples_and_shutdown() {
    let sb = start(fast()).await;
    let http = client();
    let png = http
        .get(format!("http://{}/samples/sample.png", sb.cdn_addr()))
        .send()
        .await
        .expect("png");
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    let resp = http
        .post(format!("http://{}/_sandbox/config", sb.api_addr()))
        .json(&json!({"pending_ms": 1, "video_size": 10_000}))
        .send()
        .await
        .expect("config");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.config().video_size, Some(10_000));
    // Authorization sent to the CDN is counted.
    let _ = http
        .get(format!("http://{}/samples/sample.mp4", sb.cdn_addr()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("mp4");
    assert_eq!(sb.stats().auth_on_cdn, 1);
    let addr = sb.api_addr();
    sb.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A 200 MB upload is streamed (not buffered) by the sandbox. Slow-ish; run with `--ignored`.
#[tokio::test]
#[ignore]
async fn large_upload_streams() {
    let api = Api::new(SandboxConfig {
        max_file_size_mb: 300,
        ..fast()
    })
    .await;
    let (_, policy) = api
        .get("/uploads?action=getPolicy&model=wan2.6-i2v-flash")
        .await;
    let data = &policy["data"];
    let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let key = format!("{}/big.bin", s("upload_dir"));
    let before = peak_rss_kb();
    const TOTAL: u64 = 200 * 1024 * 1024;
    let chunks = futures_util::stream::iter(
        (0..TOTAL / (1 << 20)).map(|_| Ok::<_, std::io::Error>(vec![42u8; 1 << 20])),
    );
    let part =
        Part::stream_with_length(reqwest::Body::wrap_stream(chunks), TOTAL).file_name("big.bin");
    let form = Form::new()
        .text("OSSAccessKeyId", s("oss_access_key_id"))
        .text("Signature", s("signature"))
        .text("policy", s("policy"))
        .text("key", key)
        .text("success_action_status", "200")
        .part("file", part);
    let resp = api
        .http
        .post(s("upload_host"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(api.sb.stats().uploads, 1);
    let after = peak_rss_kb();
    if let (Some(before), Some(after)) = (before, after) {
        assert!(
            after - before < 64 * 1024,
            "peak RSS grew {} KiB",
            after - before
        );
    }
}

#[tokio::test]
async fn hostile_inputs_get_clean_errors() {
    let api = Api::new(fast()).await;
    let post_raw = |path: String, ct: &'static str, body: &'static [u8]| {
        let req = api
            .http
            .post(path)
            .bearer_auth(KEY)
            .header("X-DashScope-Async", "enable")
            .header("Content-Type", ct)
            .body(body);
        async move { req.send().await.expect("send").status() }
    };
    assert_eq!(
        post_raw(api.url(T2V), "application/json", b"{not json").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_raw(api.url(T2V), "application/json", b"[1,2]").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_raw(
            api.url(T2V),
            "application/json",
            br#"{"model":"wan2.6-t2v","input":"x"}"#
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_raw(
            api.url(T2V),
            "application/json",
            br#"{"model":"wan2.7-i2v","input":{"media":[1,{"type":7}]}}"#
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let cdn = format!("http://{}/", api.sb.cdn_addr());
    assert_eq!(
        post_raw(cdn.clone(), "text/plain", b"hello").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_raw(
            cdn,
            "multipart/form-data; boundary=X",
            b"--X\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--X--\r\n"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = api
        .get("/tasks?page_no=18446744073709551615&page_size=100")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/tasks?page_no=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api.get("/nope").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    let resp = api
        .http
        .get(format!(
            "http://{}/results/{}",
            api.sb.cdn_addr(),
            "%FF%FE.mp4"
        ))
        .header("Range", "bytes=-99999999999999999999")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.sb.stats().create_attempts, 4);
}

// ------------------------------------------------------------------ conversational platforms

const XYQ: &str = "/api/biz/v1/skill";

fn conv_fast() -> SandboxConfig {
    SandboxConfig {
        conversation_step: Duration::from_millis(20),
        tasks_qps: None,
        ..SandboxConfig::default()
    }
}

fn file_part(name: &str, mime: &str, bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime")
}

async fn download(http: &reqwest::Client, url: &str) -> Vec<u8> {
    let resp = http.get(url).send().await.expect("download");
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    resp.bytes().await.expect("body").to_vec()
}

fn sha_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Xiaoyunque client.
struct Xyq {
    sb: SandboxHandle,
    http: reqwest::Client,
}

impl Xyq {
    async fn new(config: SandboxConfig) -> Self {
        Self {
            sb: start(config).await,
            http: client(),
        }
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}{XYQ}/{endpoint}", self.sb.xyq_base_url())
    }

    async fn post_as(&self, key: Option<&str>, endpoint: &str, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(endpoint)).json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("xyq post");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn post(&self, endpoint: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(Some(KEY), endpoint, body).await
    }

    async fn upload(&self, part: Part) -> (StatusCode, Value) {
        let form = Form::new().text("accessKey", KEY).part("file", part);
        let resp = self
            .http
            .post(self.url("upload_file"))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    /// submit_run → (thread_id, run_id).
    async fn submit(&self, body: Value) -> (String, String) {
        let (status, resp) = self.post("submit_run", body).await;
        assert_eq!(
            (status, resp["ret"].as_str()),
            (StatusCode::OK, Some("0")),
            "{resp}"
        );
        let run = &resp["data"]["run"];
        let s = |k: &str| run[k].as_str().expect("id").to_owned();
        (s("thread_id"), s("run_id"))
    }

    /// Poll one run with an incremental `after_seq` until a terminal state; returns the final
    /// state, every entry received (each exactly once, in seq order) and the states seen.
    async fn poll(&self, thread: &str, run: &str) -> (u64, Vec<Value>, Vec<u64>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut entries: Vec<Value> = Vec::new();
        let mut states = Vec::new();
        loop {
            let (status, body) = self
                .post(
                    "get_thread",
                    json!({"thread_id": thread, "run_id": run, "after_seq": entries.len()}),
                )
                .await;
            assert_eq!(
                (status, body["ret"].as_str()),
                (StatusCode::OK, Some("0")),
                "{body}"
            );
            let r = &body["data"]["thread"]["run_list"][0];
            assert_eq!(r["run_id"], run);
            let state = r["state"].as_u64().expect("state");
            if states.last() != Some(&state) {
                states.push(state);
            }
            if let Some(list) = r["entry_list"].as_array() {
                for e in list {
                    assert_eq!(e["seq"].as_u64(), Some(entries.len() as u64), "{e}");
                    entries.push(e.clone());
                }
            } else {
                assert!(entries.is_empty(), "entry_list vanished");
            }
            if [3, 4, 5, 6, 9].contains(&state) {
                return (state, entries, states);
            }
            assert!(Instant::now() < deadline, "run {run} never finished");
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
    }
}

/// `(image_url, video_url)` from xyq entries; `data` may be an object or a JSON string.
fn xyq_results(entries: &[Value]) -> (Vec<String>, Vec<String>) {
    let (mut images, mut videos) = (Vec::new(), Vec::new());
    for e in entries {
        let Some(content) = e["artifact"]["content"].as_array() else {
            continue;
        };
        for item in content {
            assert!(item.get("type").is_none(), "no `type` key: {item}");
            let data = match &item["data"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                other => other.clone(),
            };
            match item["sub_type"].as_str() {
                Some("biz/x_data_image") => {
                    assert!(item["data"].is_object());
                    images.extend(data["image"]["download_url"].as_str().map(str::to_owned));
                }
                Some("biz/x_data_video") => {
                    assert!(item["data"].is_string());
                    videos.extend(data["video"]["download_url"].as_str().map(str::to_owned));
                }
                _ => {}
            }
        }
    }
    (images, videos)
}

fn last_text(entries: &[Value]) -> String {
    entries
        .iter()
        .rev()
        .find_map(|e| e["message"]["content"][0]["data"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn xyq_happy_path() {
    let x = Xyq::new(SandboxConfig {
        video_size: Some(50_000),
        ..conv_fast()
    })
    .await;
    let png = kino_sandbox::media::SAMPLE_PNG.to_vec();
    let mp4 = kino_sandbox::media::SAMPLE_MP4.to_vec();
    let mut assets = Vec::new();
    for part in [
        file_part("cat.png", "image/png", png),
        file_part("clip.mp4", "video/mp4", mp4),
    ] {
        let (status, body) = x.upload(part).await;
        assert_eq!(
            (status, body["ret"].as_str()),
            (StatusCode::OK, Some("0")),
            "{body}"
        );
        assert!(body["data"].get("asset_id").is_none());
        assets.push(
            body["data"]["pippit_asset_id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let (thread, run) = x
        .submit(json!({
            "message": "做个小猫视频",
            "asset_ids": assets,
            "general_agent_settings": {"video_model": "Seedance_2.5", "ratio": 3},
        }))
        .await;
    let (state, entries, states) = x.poll(&thread, &run).await;
    assert_eq!(state, 3);
    assert!(states.windows(2).all(|w| w[0] != 3), "{states:?}");
    assert!(states.contains(&7) || states.len() <= 2, "{states:?}");
    assert!(
        entries
            .iter()
            .any(|e| e["message"]["client_tool_calls"][0]["name"] == "generate_video")
    );
    assert_eq!(entries[0]["message"]["role"], "assistant");
    assert_eq!(
        entries[0]["message"]["content"][0]["sub_type"],
        "biz/x_data_prompt_text"
    );
    let (images, videos) = xyq_results(&entries);
    assert_eq!((images.len(), videos.len()), (1, 1));
    let image = download(&x.http, &images[0]).await;
    assert_eq!(image, kino_sandbox::media::SAMPLE_PNG);
    assert_eq!(x.sb.artifact_sha256(&images[0]), Some(sha_hex(&image)));
    let video = download(&x.http, &videos[0]).await;
    assert_eq!(video.len(), 50_000);
    assert_eq!(x.sb.artifact_sha256(&videos[0]), Some(sha_hex(&video)));
    // Range resume on result files.
    let resp = x
        .http
        .get(&videos[0])
        .header("Range", "bytes=40000-")
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.expect("body")[..], &video[40_000..]);
    assert_eq!(x.sb.artifact_sha256("http://nowhere/files/x.mp4"), None);

    // Whole thread, and after_seq past the end.
    let (_, body) = x.post("get_thread", json!({"thread_id": thread})).await;
    assert_eq!(body["data"]["thread"]["thread_id"], thread.as_str());
    assert_eq!(
        body["data"]["thread"]["run_list"][0]["run_id"],
        run.as_str()
    );
    let (_, body) = x
        .post("get_thread", json!({"thread_id": thread, "after_seq": 99}))
        .await;
    assert_eq!(
        body["data"]["thread"]["run_list"][0]["entry_list"],
        json!([])
    );

    let stats = x.sb.stats();
    assert_eq!(
        (
            stats.xyq_runs,
            stats.xyq_submits,
            stats.xyq_uploads,
            stats.auth_on_cdn
        ),
        (1, 1, 2, 0)
    );
    assert!(stats.xyq_queries >= 3);
    let reqs = x.sb.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, format!("{XYQ}/submit_run"));
    assert_eq!(reqs[0].task_id.as_deref(), Some(run.as_str()));
    assert_eq!(reqs[0].header("authorization"), Some("<redacted>"));
    assert_eq!(reqs[0].body["message"], "做个小猫视频");
}

#[tokio::test]
async fn xyq_question_rounds_then_results() {
    let x = Xyq::new(conv_fast()).await;
    let (thread, q1) = x
        .submit(json!({"message": "make a cat video sandbox:question"}))
        .await;
    let (state, entries, _) = x.poll(&thread, &q1).await;
    assert_eq!(state, 6);
    assert!(last_text(&entries).contains('?'), "{entries:?}");
    assert_eq!(xyq_results(&entries), (vec![], vec![]));

    let (same, q2) = x
        .submit(json!({"message": "sandbox:hitl hmm", "thread_id": thread}))
        .await;
    assert_eq!(same, thread);
    assert_ne!(q2, q1);
    assert_eq!(x.poll(&thread, &q2).await.0, 9);

    let (_, run) = x
        .submit(json!({"message": "anime please", "thread_id": thread}))
        .await;
    let (state, entries, _) = x.poll(&thread, &run).await;
    assert_eq!(state, 3);
    let (images, videos) = xyq_results(&entries);
    assert_eq!((images.len(), videos.len()), (1, 1));

    let (_, body) = x.post("get_thread", json!({"thread_id": thread})).await;
    let ids: Vec<&str> = body["data"]["thread"]["run_list"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(ids, [run.as_str(), q2.as_str(), q1.as_str()]);
    assert_eq!(x.sb.stats().xyq_runs, 3);
}

#[tokio::test]
async fn xyq_fail_and_cancel() {
    let x = Xyq::new(conv_fast()).await;
    let (thread, run) = x.submit(json!({"message": "cat sandbox:fail"})).await;
    let (state, entries, _) = x.poll(&thread, &run).await;
    assert_eq!(state, 4);
    let (_, body) = x
        .post("get_thread", json!({"thread_id": thread, "run_id": run}))
        .await;
    assert!(
        body["data"]["thread"]["run_list"][0]["fail_reason"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let error = entries
        .iter()
        .find_map(|e| e["artifact"]["content"][0]["data"].as_str())
        .expect("error artifact");
    let error: Value = serde_json::from_str(error).expect("json string");
    assert_eq!(
        error,
        json!({"error_message": "生成失败", "error_code": "11001"})
    );

    let (thread, run) = x.submit(json!({"message": "cat sandbox:cancel"})).await;
    let (state, entries, _) = x.poll(&thread, &run).await;
    assert_eq!(state, 5);
    assert_eq!(xyq_results(&entries), (vec![], vec![]));

    // A run with no entries yet: state 1 and no entry_list key.
    x.sb.set_config(|c| c.conversation_step = Duration::from_secs(60));
    let (thread, run) = x.submit(json!({"message": "cat"})).await;
    let (_, body) = x
        .post(
            "get_thread",
            json!({"thread_id": thread, "run_id": run, "after_seq": 0}),
        )
        .await;
    let r = &body["data"]["thread"]["run_list"][0];
    assert_eq!(r["state"], 1);
    assert!(r.get("entry_list").is_none(), "{r}");
}

#[tokio::test]
async fn xyq_errors_uploads_and_faults() {
    let x = Xyq::new(SandboxConfig {
        api_keys: vec![KEY.into()],
        xyq_max_upload_mb: 1,
        ..conv_fast()
    })
    .await;
    // Auth.
    for key in [None, Some("sk-wrong")] {
        let (status, body) = x.post_as(key, "submit_run", json!({"message": "x"})).await;
        assert_eq!(
            (status, body["ret"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("401"))
        );
        assert!(body["log_id"].is_string());
    }
    // Empty message, unknown thread, unknown asset, unknown thread on get_thread.
    let (status, body) = x.post("submit_run", json!({"message": "  "})).await;
    assert_eq!(
        (status, body["ret"].as_str()),
        (StatusCode::OK, Some("1001"))
    );
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap_or_default()
            .contains("message")
    );
    let (_, body) = x
        .post("submit_run", json!({"message": "x", "thread_id": "nope"}))
        .await;
    assert_eq!(body["ret"], "16008");
    let (_, body) = x
        .post("submit_run", json!({"message": "x", "asset_ids": ["nope"]}))
        .await;
    assert_eq!(body["ret"], "1002");
    let (_, body) = x.post("get_thread", json!({"thread_id": "nope"})).await;
    assert_ne!(body["ret"], "0");
    let (_, body) = x.post("get_thread", json!({})).await;
    assert_eq!(body["ret"], "1001");
    let resp = x
        .http
        .get(x.url("get_thread"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let stats = x.sb.stats();
    assert_eq!((stats.xyq_runs, stats.xyq_submits), (0, 5));
    assert_eq!(x.sb.requests().len(), 5);
    assert!(x.sb.requests().iter().all(|r| r.task_id.is_none()));

    // Uploads: bad type, too large, sniffed type without a declared one, legacy id.
    let (_, body) = x
        .upload(file_part("a.txt", "text/plain", b"hello".to_vec()))
        .await;
    assert_eq!(body["ret"], "1003");
    let (_, body) = x.upload(file_part("a.png", "image/png", Vec::new())).await;
    assert_eq!(body["ret"], "1001");
    let big = vec![0u8; 1024 * 1024 + 1];
    let (_, body) = x.upload(file_part("big.mp4", "video/mp4", big)).await;
    assert_eq!(body["ret"], "1004");
    let (_, body) = x
        .upload(file_part("a.mp3", "audio/mpeg", b"ID3\x04abc".to_vec()))
        .await;
    assert_eq!(body["ret"], "0", "{body}");
    let sniffed = Part::bytes(kino_sandbox::media::SAMPLE_PNG.to_vec()).file_name("blob");
    let (_, body) = x.upload(sniffed).await;
    assert_eq!(body["ret"], "0", "{body}");
    let resp = x
        .http
        .post(format!("http://{}/_sandbox/config", x.sb.api_addr()))
        .json(&json!({"xyq_legacy_asset_id": true, "conversation_step_ms": 5}))
        .send()
        .await
        .expect("config");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(x.sb.config().conversation_step, Duration::from_millis(5));
    let (_, body) = x
        .upload(file_part("a.wav", "audio/wav", b"RIFF".to_vec()))
        .await;
    assert!(body["data"]["asset_id"].is_string(), "{body}");
    assert!(body["data"].get("pippit_asset_id").is_none());
    assert_eq!(x.sb.stats().xyq_uploads, 3);

    // Faults: own envelope + status + Retry-After; a submit fault creates nothing.
    x.sb.inject(Fault {
        target: FaultTarget::XyqSubmit,
        status: 503,
        times: 1,
        retry_after_secs: Some(3),
        kind: Default::default(),
    });
    let resp = x
        .http
        .post(x.url("submit_run"))
        .bearer_auth(KEY)
        .json(&json!({"message": "cat"}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "3");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["ret"], "503");
    assert!(body["errmsg"].is_string() && body["log_id"].is_string());
    assert_eq!(x.sb.stats().xyq_runs, 0);
    let (thread, run) = x.submit(json!({"message": "cat"})).await;
    x.sb.inject(Fault {
        target: FaultTarget::XyqQuery,
        status: 429,
        times: 1,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let (status, body) = x
        .post("get_thread", json!({"thread_id": thread, "run_id": run}))
        .await;
    assert_eq!(
        (status, body["ret"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("429"))
    );
    x.sb.inject(Fault {
        target: FaultTarget::XyqUpload,
        status: 500,
        times: 1,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let (status, body) = x.upload(file_part("a.png", "image/png", vec![1, 2])).await;
    assert_eq!(
        (status, body["ret"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("500"))
    );
    let stats = x.sb.stats();
    assert_eq!(
        (stats.xyq_runs, stats.xyq_submits, stats.throttled),
        (1, 7, 1)
    );
    assert_eq!(x.poll(&thread, &run).await.0, 3);
}

/// A LibTV client.
struct Libtv {
    sb: SandboxHandle,
    http: reqwest::Client,
}

impl Libtv {
    async fn new(config: SandboxConfig) -> Self {
        Self {
            sb: start(config).await,
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.libtv_base_url())
    }

    async fn post_as(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("libtv post");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(KEY, path, body).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .header("Content-Type", "application/json")
            .send()
            .await
            .expect("libtv get");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn upload(&self, path: &str, part: Part) -> (StatusCode, Value) {
        let form = Form::new().text("accessKey", KEY).part("file", part);
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    /// Send `message` (to a new session when `session` is None) → (projectUuid, sessionId).
    async fn send(&self, session: Option<&str>, message: &str) -> (String, String) {
        let mut body = json!({"message": message});
        if let Some(id) = session {
            body["sessionId"] = json!(id);
        }
        let (status, resp) = self.post("/openapi/session", body).await;
        assert_eq!(
            (status, resp["code"].as_i64()),
            (StatusCode::OK, Some(0)),
            "{resp}"
        );
        let d = &resp["data"];
        let s = |k: &str| d[k].as_str().expect("field").to_owned();
        (s("projectUuid"), s("sessionId"))
    }

    /// Poll with `afterSeq` = max seq seen until `done` holds for a new message; returns the new
    /// messages seen, in order (each once).
    async fn poll_until(
        &self,
        session: &str,
        after: &mut u64,
        done: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let path = if *after > 0 {
                format!("/openapi/session/{session}?afterSeq={after}")
            } else {
                format!("/openapi/session/{session}")
            };
            let (status, body) = self.get(&path).await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (StatusCode::OK, Some(0)),
                "{body}"
            );
            for m in body["data"]["messages"].as_array().expect("messages") {
                let seq = m["seq"].as_u64().expect("seq");
                assert_eq!(seq, *after + 1, "{m}");
                *after = seq;
                seen.push(m.clone());
                if done(m) {
                    return seen;
                }
            }
            assert!(Instant::now() < deadline, "session {session} stalled");
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
    }
}

fn tool_json(m: &Value) -> Option<Value> {
    (m["role"] == "tool")
        .then(|| serde_json::from_str(m["content"].as_str()?).ok())
        .flatten()
}

#[tokio::test]
async fn libtv_happy_path_and_uploads() {
    let l = Libtv::new(SandboxConfig {
        video_size: Some(30_000),
        ..conv_fast()
    })
    .await;
    // Both upload paths; the CDN serves exactly what was uploaded.
    let png = kino_sandbox::media::SAMPLE_PNG.to_vec();
    let mp4 = kino_sandbox::media::SAMPLE_MP4.to_vec();
    let mut project = String::new();
    for (path, part, bytes) in [
        (
            "/openapi/upload",
            file_part("a.png", "image/png", png.clone()),
            png,
        ),
        (
            "/openapi/file/upload",
            file_part("b.mp4", "video/mp4", mp4.clone()),
            mp4,
        ),
    ] {
        let (status, body) = l.upload(path, part).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::OK, Some(0)),
            "{body}"
        );
        let url = body["data"]["url"].as_str().expect("url");
        let prefix = format!("http://{}/claw/", l.sb.cdn_addr());
        assert!(url.starts_with(&prefix), "{url}");
        project = url[prefix.len()..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(download(&l.http, url).await, bytes);
        assert_eq!(l.sb.artifact_sha256(url), Some(sha_hex(&bytes)));
    }

    let (proj, session) = l.send(None, "生一个动漫视频").await;
    assert_eq!(proj, project);
    assert_eq!(proj.len(), 32);
    assert!(proj.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(session.len(), 36);
    let mut after = 0;
    let msgs = l
        .poll_until(&session, &mut after, |m| {
            tool_json(m).is_some_and(|t| t["status"] == "succeeded")
        })
        .await;
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[0]["content"], "生一个动漫视频");
    assert_eq!(msgs[1]["role"], "assistant");
    assert!(msgs[1]["id"].is_string());
    assert!(
        msgs.iter()
            .any(|m| tool_json(m).is_some_and(|t| t["status"] == "running"))
    );
    let result = tool_json(msgs.last().expect("last")).expect("tool json");
    let tr = &result["task_result"];
    for (kind, len) in [("images", png_len()), ("videos", 30_000)] {
        let items = tr[kind].as_array().expect(kind);
        assert_eq!(items.len(), 1);
        let preview = items[0]["previewPath"].as_str().expect("previewPath");
        let url = items[0]["url"].as_str().expect("url");
        assert_ne!(preview, url);
        let a = download(&l.http, preview).await;
        let b = download(&l.http, url).await;
        assert_eq!(a, b);
        assert_eq!(a.len(), len);
        assert_eq!(l.sb.artifact_sha256(preview), Some(sha_hex(&a)));
        assert_eq!(l.sb.artifact_sha256(url), Some(sha_hex(&a)));
    }
    // The closing assistant message, and nothing after it.
    let rest = l
        .poll_until(&session, &mut after, |m| m["role"] == "assistant")
        .await;
    assert_eq!(rest.len(), 1);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let (_, body) = l
        .get(&format!("/openapi/session/{session}?afterSeq={after}"))
        .await;
    assert_eq!(body["data"]["messages"], json!([]));
    let (_, body) = l
        .get(&format!("/openapi/session/{session}?afterSeq=2"))
        .await;
    assert_eq!(body["data"]["messages"][0]["seq"], 3);

    let stats = l.sb.stats();
    assert_eq!(
        (
            stats.libtv_sends,
            stats.libtv_session_posts,
            stats.libtv_uploads,
            stats.auth_on_cdn
        ),
        (1, 1, 2, 0)
    );
    assert!(stats.libtv_queries >= 3);
    let reqs = l.sb.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/openapi/session");
    assert_eq!(reqs[0].task_id.as_deref(), Some(session.as_str()));
    assert_eq!(reqs[0].header("Authorization"), Some("<redacted>"));
}

fn png_len() -> usize {
    kino_sandbox::media::SAMPLE_PNG.len()
}

#[tokio::test]
async fn libtv_question_reply_and_failure() {
    let l = Libtv::new(conv_fast()).await;
    let (_, session) = l.send(None, "a cat sandbox:question").await;
    let mut after = 0;
    let msgs = l
        .poll_until(&session, &mut after, |m| {
            m["role"] == "assistant" && m["content"].as_str().is_some_and(|c| c.contains('?'))
        })
        .await;
    assert!(msgs.iter().all(|m| tool_json(m).is_none()));
    // Another question round, then a reply that yields results.
    l.send(Some(&session), "hmm sandbox:question").await;
    l.poll_until(&session, &mut after, |m| {
        m["role"] == "assistant" && m["content"].as_str().is_some_and(|c| c.contains('?'))
    })
    .await;
    let (_, same) = l.send(Some(&session), "anime").await;
    assert_eq!(same, session);
    let msgs = l
        .poll_until(&session, &mut after, |m| {
            tool_json(m).is_some_and(|t| t["status"] == "succeeded")
        })
        .await;
    assert_eq!(msgs[0]["content"], "anime");
    assert_eq!(l.sb.stats().libtv_sends, 3);

    // Failure: a failed tool message without task_result and an assistant message saying so.
    let (_, session) = l.send(None, "cat sandbox:fail").await;
    let mut after = 0;
    let msgs = l
        .poll_until(&session, &mut after, |m| {
            m["role"] == "assistant" && m["content"].as_str().is_some_and(|c| c.contains("failed"))
        })
        .await;
    let failed = msgs
        .iter()
        .filter_map(tool_json)
        .find(|t| t["status"] == "failed")
        .expect("failed tool message");
    assert!(failed.get("task_result").is_none());
}

#[tokio::test]
async fn libtv_errors_projects_and_faults() {
    let l = Libtv::new(conv_fast()).await;
    let (status, body) = l
        .post_as(
            "sk-invalid-key",
            "/openapi/session",
            json!({"message": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"code": 401, "message": "unauthorized", "data": null})
    );
    let (status, body) = l.post("/openapi/session", json!({"message": " "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"code": 400, "message": "message is empty", "data": null})
    );
    let (status, body) = l
        .post(
            "/openapi/session",
            json!({"sessionId": "nope", "message": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    let (status, _) = l.get("/openapi/session/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = l.get("/openapi/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A session without a message: created, bound to the key's project, no messages.
    let (status, body) = l.post("/openapi/session", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let p1 = body["data"]["projectUuid"]
        .as_str()
        .expect("project")
        .to_owned();
    let s1 = body["data"]["sessionId"]
        .as_str()
        .expect("session")
        .to_owned();
    let (_, body) = l.get(&format!("/openapi/session/{s1}")).await;
    assert_eq!(body["data"]["messages"], json!([]));
    let (status, _) = l.get(&format!("/openapi/session/{s1}?afterSeq=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // change-project rebinds new sessions; old sessions keep theirs.
    let (status, body) = l.post("/openapi/session/change-project", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let p2 = body["data"]["projectUuid"]
        .as_str()
        .expect("project")
        .to_owned();
    assert_ne!(p1, p2);
    assert_eq!(l.send(None, "cat").await.0, p2);
    assert_eq!(l.send(Some(&s1), "cat").await.0, p1);
    let (_, body) = l
        .upload(
            "/openapi/upload",
            file_part("a.png", "image/png", vec![0x89, b'P']),
        )
        .await;
    assert!(
        body["data"]["url"]
            .as_str()
            .is_some_and(|u| u.contains(&p2))
    );
    assert_eq!(l.sb.stats().libtv_project_changes, 1);

    // Upload type and size checks on both paths.
    l.sb.set_config(|c| c.libtv_max_upload_mb = 1);
    for path in ["/openapi/upload", "/openapi/file/upload"] {
        let (status, _) = l
            .upload(path, file_part("a.txt", "text/plain", b"hi".to_vec()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = l
            .upload(path, file_part("a.mp3", "audio/mpeg", b"ID3".to_vec()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let big = vec![7u8; 1024 * 1024 + 1];
        let (status, body) = l.upload(path, file_part("big.mp4", "video/mp4", big)).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(400))
        );
    }

    // Faults.
    let posts_before = l.sb.stats().libtv_session_posts;
    l.sb.inject(Fault {
        target: FaultTarget::LibtvSession,
        status: 503,
        times: 1,
        retry_after_secs: Some(2),
        kind: Default::default(),
    });
    let resp = l
        .http
        .post(l.url("/openapi/session"))
        .bearer_auth(KEY)
        .json(&json!({"message": "cat"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        (body["code"].as_i64(), body["data"].is_null()),
        (Some(503), true)
    );
    let stats = l.sb.stats();
    assert_eq!(stats.libtv_session_posts, posts_before + 1);
    assert_eq!(stats.libtv_sends, 2);
    assert!(l.sb.requests().last().is_some_and(|r| r.task_id.is_none()));
    for (target, path) in [
        (FaultTarget::LibtvQuery, None),
        (FaultTarget::LibtvUpload, Some("/openapi/file/upload")),
    ] {
        l.sb.inject(Fault {
            target,
            status: 429,
            times: 1,
            retry_after_secs: None,
            kind: Default::default(),
        });
        let (status, body) = match path {
            None => l.get(&format!("/openapi/session/{s1}")).await,
            Some(p) => l.upload(p, file_part("a.png", "image/png", vec![1])).await,
        };
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::TOO_MANY_REQUESTS, Some(429))
        );
    }
    assert_eq!(l.sb.stats().throttled, 2);
}

#[tokio::test]
async fn conversational_hostile_inputs() {
    let x = Xyq::new(conv_fast()).await;
    let post_raw = |url: String, ct: &'static str, body: &'static [u8]| {
        let req = x
            .http
            .post(url)
            .bearer_auth(KEY)
            .header("Content-Type", ct)
            .body(body);
        async move {
            let resp = req.send().await.expect("send");
            (resp.status(), resp.text().await.unwrap_or_default())
        }
    };
    let base = x.sb.api_addr();
    for (path, ct, body) in [
        (
            "/api/biz/v1/skill/submit_run",
            "application/json",
            &b"{not json"[..],
        ),
        ("/api/biz/v1/skill/submit_run", "application/json", b"[1]"),
        (
            "/api/biz/v1/skill/submit_run",
            "application/json",
            br#"{"message":7}"#,
        ),
        (
            "/api/biz/v1/skill/submit_run",
            "application/json",
            br#"{"message":"x","asset_ids":[1]}"#,
        ),
        (
            "/api/biz/v1/skill/get_thread",
            "application/json",
            br#"{"thread_id":5,"after_seq":"x"}"#,
        ),
        ("/api/biz/v1/skill/upload_file", "text/plain", b"hello"),
        (
            "/api/biz/v1/skill/upload_file",
            "multipart/form-data; boundary=X",
            b"--X\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
        ),
        ("/api/biz/v1/skill/nope", "application/json", b"{}"),
    ] {
        let (status, text) = post_raw(format!("http://{base}{path}"), ct, body).await;
        let v: Value = serde_json::from_str(&text).expect("json envelope");
        assert!(v["ret"].is_string(), "{path}: {text}");
        assert_ne!(v["ret"], "0", "{path}: {text}");
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{status}"
        );
    }
    for (path, ct, body) in [
        ("/openapi/session", "application/json", &b"{oops"[..]),
        (
            "/openapi/session",
            "application/json",
            br#"{"message":["x"]}"#,
        ),
        (
            "/openapi/session",
            "application/json",
            br#"{"sessionId":{}}"#,
        ),
        ("/openapi/upload", "text/plain", b"x"),
        (
            "/openapi/file/upload",
            "multipart/form-data; boundary=Y",
            b"--Y\r\n",
        ),
    ] {
        let (status, text) = post_raw(format!("http://{base}{path}"), ct, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json envelope");
        assert_eq!(v["code"], 400);
    }
    let resp = x
        .http
        .get(format!("http://{}/files/%FF/../x.mp4", x.sb.cdn_addr()))
        .header("Range", "bytes=-99999999999999999999")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The DashScope API keeps its own 404 shape.
    let resp = x
        .http
        .get(format!("http://{base}/nope"))
        .send()
        .await
        .expect("send");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["code"], "NotFound");
}

// ------------------------------------------------------------------ skills.video

fn sv_fast() -> SandboxConfig {
    SandboxConfig {
        pending: Duration::from_millis(100),
        running: Duration::from_millis(200),
        sv_keepalive: Duration::from_millis(30),
        tasks_qps: None,
        ..SandboxConfig::default()
    }
}

/// One SSE event: joined `data:` lines.
#[derive(Debug)]
struct SseRead {
    raw: String,
    events: Vec<Value>,
    pings: usize,
    /// The body broke off (connection aborted) instead of ending cleanly.
    broken: bool,
}

fn parse_sse(raw: &str) -> (Vec<Value>, usize) {
    let text = raw.replace("\r\n", "\n");
    let mut events = Vec::new();
    let mut pings = 0;
    for block in text.split("\n\n") {
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if line.starts_with(':') {
                pings += 1;
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        if !data.is_empty() {
            events.push(serde_json::from_str(&data.join("\n")).expect("event json"));
        }
    }
    (events, pings)
}

/// A skills.video client.
struct Sv {
    sb: SandboxHandle,
    http: reqwest::Client,
}

impl Sv {
    async fn new(config: SandboxConfig) -> Self {
        Self {
            sb: start(config).await,
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.skillsvideo_base_url())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("get");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn open_sse(&self, model: &str, body: Value) -> reqwest::Response {
        let resp = self
            .http
            .post(self.url(&format!("/generation/sse/{model}")))
            .bearer_auth(KEY)
            .header("Accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .expect("sse post");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        resp
    }

    /// Read a stream to its end (or break).
    async fn sse(&self, model: &str, body: Value) -> SseRead {
        let mut resp = self.open_sse(model, body).await;
        let mut raw = Vec::new();
        let broken = loop {
            match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
                Ok(Ok(Some(chunk))) => raw.extend_from_slice(&chunk),
                Ok(Ok(None)) => break false,
                Ok(Err(_)) => break true,
                Err(_) => panic!("stream neither ended nor broke"),
            }
        };
        let raw = String::from_utf8(raw).expect("utf-8 stream");
        let (events, pings) = parse_sse(&raw);
        SseRead {
            raw,
            events,
            pings,
            broken,
        }
    }

    async fn wait_terminal(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(&format!("/generation/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let st = body["status"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if ["COMPLETED", "SUCCEEDED", "FAILED", "CANCELED"].contains(&st.as_str()) {
                return body;
            }
            assert!(Instant::now() < deadline, "generation {id} never finished");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn credits(&self) -> i64 {
        let (status, body) = self.get("/credits").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["subscription"], body["total"]);
        body["total"].as_i64().expect("total")
    }
}

fn statuses(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every `$ref` in `v` resolves inside `doc`.
fn assert_refs_resolve(doc: &Value, v: &Value) -> usize {
    match v {
        Value::Object(m) => {
            let mut n = 0;
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let ptr = r.strip_prefix('#').expect("local ref");
                assert!(doc.pointer(ptr).is_some(), "dangling {r}");
                n += 1;
            }
            n + m
                .values()
                .map(|x| assert_refs_resolve(doc, x))
                .sum::<usize>()
        }
        Value::Array(a) => a.iter().map(|x| assert_refs_resolve(doc, x)).sum(),
        _ => 0,
    }
}

#[tokio::test]
async fn sv_documents_both_versions_and_path_spellings() {
    let sv = Sv::new(sv_fast()).await;
    let root = format!("http://{}", sv.sb.skillsvideo_addr());
    let fetch = |path: &'static str| {
        let req = sv.http.get(format!("{root}{path}"));
        async move {
            let resp = req.send().await.expect("doc");
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            resp.json::<Value>().await.expect("json doc")
        }
    };
    let doc = fetch("/api/openapi.json").await;
    assert_eq!(doc, fetch("/openapi.json").await);
    assert_eq!(doc, fetch("/api/v1/openapi.json").await);
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["servers"][0]["url"], sv.sb.skillsvideo_base_url());
    assert!(assert_refs_resolve(&doc, &doc) > 10);
    let op = &doc["paths"]["/generation/google/nano-banana-pro"]["post"];
    let content = &op["requestBody"]["content"];
    assert_eq!(
        content["application/json"]["schema"]["$ref"],
        "#/components/schemas/NanoBananaProRequest"
    );
    assert_eq!(
        content["multipart/form-data"]["schema"]["$ref"],
        content["application/json"]["schema"]["$ref"]
    );
    for path in [
        "/generation/sse/google/nano-banana-pro",
        "/generation/kling-ai/v3/image",
        "/generation/sse/kling-ai/v3/image",
        "/generation/sse/google/veo-3.1",
        "/generation/wan/wan-v2.6",
        "/generation/openai/gpt-image-1.5",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    for path in ["/generation/{id}", "/credits", "/generations/running"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    let veo = &schemas["Veo31Request"];
    assert_eq!(veo["additionalProperties"], false);
    assert_eq!(veo["properties"]["duration"]["enum"], json!([4, 6, 8]));
    assert_eq!(veo["properties"]["duration"]["default"], 8);
    assert_eq!(veo["properties"]["first_frame_url"]["format"], "uri");
    assert_eq!(veo["properties"]["negative_prompt"]["nullable"], true);
    assert_eq!(
        schemas["NanoBananaProRequest"]["properties"]["image_urls"]["maxItems"],
        14
    );
    assert_eq!(
        schemas["GptImage15Request"]["properties"]["quality"]["anyOf"][2]["const"],
        "high"
    );
    assert_eq!(schemas["QueueState"]["enum"][1], "IN_PROGRESS");
    assert_eq!(schemas["PredictionStatus"]["enum"][2], "succeeded");
    assert!(schemas["Generation"].is_object() && schemas["ErrorResponse"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer"})
    );
    let docs = fetch("/docs.json").await;
    assert_eq!(docs, fetch("/api/docs.json").await);
    let groups = docs["navigation"]["tabs"][1]["groups"]
        .as_array()
        .expect("groups");
    let images = groups
        .iter()
        .find(|g| g["group"] == "Images")
        .expect("Images group");
    assert!(
        images["pages"]
            .as_array()
            .expect("pages")
            .contains(&json!("POST /generation/google/nano-banana-pro"))
    );
    assert!(groups.iter().any(|g| g["group"] == "Videos"));

    // 3.1 with the `/api` + `/v1/generation/…` spelling, switched on through the admin endpoint.
    let resp = sv
        .http
        .post(format!("{}/_sandbox/config", sv.sb.xyq_base_url()))
        .json(&json!({"sv_v1_paths": true, "sv_openapi_31": true}))
        .send()
        .await
        .expect("config");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let doc = fetch("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/api");
    assert!(assert_refs_resolve(&doc, &doc) > 10);
    assert!(doc["paths"].get("/generation/google/veo-3.1").is_none());
    let veo = &doc["components"]["schemas"]["Veo31Request"];
    assert_eq!(
        veo["properties"]["negative_prompt"]["type"],
        json!(["string", "null"])
    );
    let docs = fetch("/docs.json").await;
    assert_eq!(
        docs["navigation"]["tabs"][1]["groups"][1]["pages"][0],
        "POST /v1/generation/google/veo-3.1"
    );
    // Both spellings resolve to the same real routes.
    let server = doc["servers"][0]["url"].as_str().expect("server");
    for path in doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter(|p| p.contains("/generation/") && !p.contains('{') && !p.contains("/sse/"))
    {
        let resp = sv
            .http
            .post(format!("{root}{server}{path}"))
            .bearer_auth(KEY)
            .json(&json!({"prompt": "a cat"}))
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(sv.sb.stats().sv_creates, 5);
}

#[tokio::test]
async fn sv_image_over_sse_with_keepalives() {
    let sv = Sv::new(sv_fast()).await;
    let before = sv.credits().await;
    let read = sv
        .sse(
            "google/nano-banana-pro",
            json!({"prompt": "a cat", "n": 2, "aspect_ratio": "16:9", "resolution": "2K"}),
        )
        .await;
    assert!(!read.broken);
    assert!(!read.raw.contains('\r'));
    assert!(read.raw.starts_with("data: {\"id\":\"gen_"), "{}", read.raw);
    assert!(read.raw.ends_with("\n\n"));
    assert!(read.raw.contains(": ping\n\n"));
    assert!(read.pings >= 3, "{} pings", read.pings);
    assert_eq!(
        statuses(&read.events),
        ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    );
    let done = &read.events[2];
    let id = done["id"].as_str().expect("id");
    assert!(read.events.iter().all(|e| e["id"] == id));
    assert_eq!(read.events[0]["data"], Value::Null);
    assert_eq!(read.events[0]["input"]["prompt"], "a cat");
    assert_eq!(read.events[0]["input"]["n"], 2);
    assert_eq!(
        done["usage"],
        json!({"total": 40, "subscription": 40, "permanent": 0})
    );
    let data = &done["data"];
    assert_eq!(data["type"], "image");
    assert_eq!(data["n"], 2);
    assert_eq!(data["actual_prompt"], "a cat");
    assert_eq!(data["images"].as_array().map(Vec::len), Some(2));
    assert_eq!(data["image"], data["images"][0]);
    assert_eq!(data["image"]["content_type"], "image/png");
    assert_eq!(
        (
            data["image"]["width"].as_u64(),
            data["image"]["height"].as_u64()
        ),
        (Some(2048), Some(1152))
    );
    let url = data["images"][1]["url"].as_str().expect("url");
    let bytes = download(&sv.http, url).await;
    assert_eq!(&bytes[1..4], b"PNG");
    assert_eq!(sv.sb.artifact_sha256(url), Some(sha_hex(&bytes)));
    // The same generation is pollable.
    let (status, polled) = sv.get(&format!("/generation/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&polled, done);
    assert_eq!(sv.credits().await, before - 40);
    let stats = sv.sb.stats();
    assert_eq!(
        (stats.sv_creates, stats.sv_create_attempts, stats.sv_streams),
        (1, 1, 1)
    );
    assert_eq!(stats.auth_on_cdn, 0);
    let recorded = sv.sb.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].path,
        "/api/v1/generation/sse/google/nano-banana-pro"
    );
    assert_eq!(recorded[0].task_id.as_deref(), Some(id));
    assert_eq!(recorded[0].header("authorization"), Some("<redacted>"));
    assert_eq!(recorded[0].body["n"], 2);
}

#[tokio::test]
async fn sv_video_polling_and_range_download() {
    let sv = Sv::new(SandboxConfig {
        video_size: Some(200_000),
        ..sv_fast()
    })
    .await;
    let (status, created) = sv
        .post(
            "/generation/google/veo-3.1",
            json!({"prompt": "a dog", "duration": 6, "resolution": "720p"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "IN_QUEUE");
    assert_eq!(created["data"], Value::Null);
    assert_eq!(created["input"]["duration"], 6);
    assert_eq!(created["input"]["generate_audio"], true);
    assert_eq!(created["input"]["resolution"], "720p");
    assert_eq!(created["usage"]["total"], 100);
    let id = created["id"].as_str().expect("id");
    assert!(id.starts_with("gen_"));
    let (_, running) = sv.get("/generations/running?limit=10&workspace=w").await;
    assert_eq!(running[0]["id"], id);
    assert!(running[0]["usage"].is_object() && running[0]["input"].is_object());
    let done = sv.wait_terminal(id).await;
    assert_eq!(done["status"], "COMPLETED");
    let video = &done["data"]["video"];
    assert_eq!(done["data"]["type"], "video");
    assert_eq!(done["data"]["videos"][0], *video);
    assert_eq!(video["content_type"], "video/mp4");
    assert_eq!(video["duration"], 6);
    let url = video["url"].as_str().expect("url");
    let bytes = download(&sv.http, url).await;
    assert_eq!(bytes.len(), 200_000);
    assert_eq!(&bytes[4..8], b"ftyp");
    assert_eq!(sv.sb.artifact_sha256(url), Some(sha_hex(&bytes)));
    let resp = sv
        .http
        .get(url)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.expect("body"), bytes[100_000..]);
    let (_, running) = sv.get("/generations/running").await;
    assert_eq!(running, json!([]));
    let stats = sv.sb.stats();
    assert!(stats.sv_polls >= 2);
    assert_eq!((stats.sv_creates, stats.sv_streams), (1, 0));
}

#[tokio::test]
async fn sv_crlf_split_data_model() {
    let sv = Sv::new(sv_fast()).await;
    let read = sv
        .sse(
            "kling-ai/v3/image",
            json!({"prompt": "a fox, at dawn", "n": 1}),
        )
        .await;
    assert!(!read.broken);
    assert!(read.raw.contains(": ping\r\n\r\n"));
    assert!(
        !read.raw.replace("\r\n", "").contains('\n'),
        "bare LF in {:?}",
        read.raw
    );
    for block in read
        .raw
        .split("\r\n\r\n")
        .filter(|b| b.starts_with("data:"))
    {
        assert_eq!(block.matches("data: ").count(), 2, "{block:?}");
    }
    assert_eq!(
        statuses(&read.events),
        ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    );
    assert_eq!(read.events[2]["data"]["actual_prompt"], "a fox, at dawn");
}

#[tokio::test]
async fn sv_dropped_and_stalled_streams_still_complete() {
    let sv = Sv::new(SandboxConfig {
        sv_drop_stream_after: Some(1),
        ..sv_fast()
    })
    .await;
    let read = sv
        .sse("google/nano-banana-pro", json!({"prompt": "drop me"}))
        .await;
    assert!(read.broken, "{:?}", read.raw);
    assert_eq!(statuses(&read.events), ["IN_QUEUE"]);
    let id = read.events[0]["id"].as_str().expect("id");
    assert_eq!(sv.wait_terminal(id).await["status"], "COMPLETED");

    sv.sb.set_config(|c| {
        c.sv_drop_stream_after = None;
        c.sv_stall_after = Some(2);
        c.sv_keepalive = Duration::from_millis(10);
    });
    let mut resp = sv
        .open_sse("wan/wan-v2.6", json!({"prompt": "stall me"}))
        .await;
    let mut raw = Vec::new();
    let started = Instant::now();
    // Both events arrive, then silence: no terminal event, no keep-alives, no end.
    loop {
        match tokio::time::timeout(Duration::from_millis(600), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => raw.extend_from_slice(&chunk),
            Ok(other) => panic!("stream ended: {other:?}"),
            Err(_) => break,
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let raw = String::from_utf8(raw).expect("utf-8");
    let (events, _) = parse_sse(&raw);
    assert_eq!(statuses(&events), ["IN_QUEUE", "IN_PROGRESS"]);
    let after_progress = raw.split("IN_PROGRESS").nth(1).unwrap_or_default();
    assert!(!after_progress.contains(": ping"), "{raw:?}");
    drop(resp);
    let id = events[0]["id"].as_str().expect("id");
    let done = sv.wait_terminal(id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["data"]["video"]["duration"], 5);
    assert_eq!(sv.sb.stats().sv_streams, 2);
    // Shutdown is not held up by streams.
    let t = Instant::now();
    sv.sb.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn sv_legacy_status_words() {
    let sv = Sv::new(SandboxConfig {
        sv_legacy_status: true,
        ..sv_fast()
    })
    .await;
    let read = sv
        .sse(
            "openai/gpt-image-1.5",
            json!({"prompt": "a hat", "quality": "high"}),
        )
        .await;
    assert_eq!(
        statuses(&read.events),
        ["starting", "processing", "succeeded"]
    );
    let id = read.events[0]["id"].as_str().expect("id");
    let (_, polled) = sv.get(&format!("/generation/{id}")).await;
    assert_eq!(polled["status"], "succeeded");
    assert_eq!(polled["data"]["image"]["width"], 1024);
    let (_, created) = sv
        .post(
            "/generation/wan/wan-v2.6",
            json!({"prompt": "x sandbox:fail"}),
        )
        .await;
    assert_eq!(created["status"], "starting");
    let failed = sv.wait_terminal(created["id"].as_str().expect("id")).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["code"], "VIDEO_GENERATION_FAILED");
}

#[tokio::test]
async fn sv_credits_402_and_refund_on_failure() {
    let sv = Sv::new(SandboxConfig {
        sv_credits: 250,
        ..sv_fast()
    })
    .await;
    assert_eq!(sv.credits().await, 250);
    let read = sv
        .sse("google/veo-3.1", json!({"prompt": "boom sandbox:fail"}))
        .await;
    assert_eq!(
        statuses(&read.events),
        ["IN_QUEUE", "IN_PROGRESS", "FAILED"]
    );
    assert_eq!(read.events[1]["usage"]["total"], 100);
    let failed = &read.events[2];
    assert_eq!(failed["code"], "VIDEO_GENERATION_FAILED");
    assert!(failed["message"].is_string());
    assert_eq!(failed["data"], Value::Null);
    assert_eq!(failed["usage"]["total"], 0);
    assert_eq!(sv.credits().await, 250, "refunded");

    let (status, _) = sv
        .post("/generation/google/veo-3.1", json!({"prompt": "ok"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sv.credits().await, 150);
    let (status, _) = sv
        .post(
            "/generation/kling-ai/v3/image",
            json!({"prompt": "ok", "n": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sv.credits().await, 70);
    let creates = sv.sb.stats().sv_creates;
    let (status, body) = sv
        .post("/generation/google/veo-3.1", json!({"prompt": "too dear"}))
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        body,
        json!({
            "error": "INSUFFICIENT_CREDITS",
            "code": "VIDEO_GENERATION_INSUFFICIENT_CREDITS",
            "message": "Insufficient credits for this generation."
        })
    );
    let resp = sv
        .http
        .post(sv.url("/generation/sse/google/nano-banana-pro"))
        .bearer_auth(KEY)
        .json(&json!({"prompt": "x", "n": 4}))
        .send()
        .await
        .expect("sse");
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "IMAGE_GENERATION_INSUFFICIENT_CREDITS");
    let stats = sv.sb.stats();
    assert_eq!(stats.sv_creates, creates);
    assert_eq!(stats.sv_streams, 1);
    assert_eq!(
        sv.sb.requests().last().and_then(|r| r.task_id.clone()),
        None
    );
    assert_eq!(sv.credits().await, 70);
    assert_eq!(sv.sb.config().sv_credits, 70);
}

#[tokio::test]
async fn sv_validation_routes_and_auth() {
    let sv = Sv::new(sv_fast()).await;
    let nano = "/generation/google/nano-banana-pro";
    for (path, body, field) in [
        (nano, json!({"prompt": "x", "style": "anime"}), "style"),
        (nano, json!({"prompt": "x", "n": 5}), "n"),
        (nano, json!({"prompt": "x", "n": "2"}), "n"),
        (
            nano,
            json!({"prompt": "x", "aspect_ratio": "2:1"}),
            "aspect_ratio",
        ),
        (
            nano,
            json!({"prompt": "x", "image_urls": "https://a/b.png"}),
            "image_urls",
        ),
        (
            nano,
            json!({"prompt": "x", "image_urls": ["not a url"]}),
            "image_urls[0]",
        ),
        (nano, json!({"aspect_ratio": "1:1"}), "prompt"),
        (nano, json!({"prompt": 7}), "prompt"),
        (
            "/generation/google/veo-3.1",
            json!({"prompt": "x", "duration": 5}),
            "duration",
        ),
        (
            "/generation/google/veo-3.1",
            json!({"prompt": "x", "generate_audio": "yes"}),
            "generate_audio",
        ),
        (
            "/generation/google/veo-3.1",
            json!({"prompt": "x", "mode": "magic"}),
            "mode",
        ),
        (
            "/generation/wan/wan-v2.6",
            json!({"prompt": "x", "image_url": 3}),
            "image_url",
        ),
        (
            "/generation/openai/gpt-image-1.5",
            json!({"prompt": "x", "quality": "ultra"}),
            "quality",
        ),
    ] {
        let (status, v) = sv.post(path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {v}"
        );
        assert_eq!(v["error"], "INVALID_INPUT");
        let family = if path.contains("veo") || path.contains("wan") {
            "VIDEO_GENERATION_INVALID_INPUT"
        } else {
            "IMAGE_GENERATION_INVALID_INPUT"
        };
        assert_eq!(v["code"], family);
        let message = v["message"].as_str().expect("message");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    // Nullable field accepts null.
    let (status, v) = sv
        .post(
            "/generation/google/veo-3.1",
            json!({"prompt": "x", "negative_prompt": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = sv
        .post("/generation/nobody/model", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["code"], "NOT_FOUND");
    let (status, v) = sv
        .post("/generation/google/nano-banana-9", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], "IMAGE_GENERATION_UNSUPPORTED_MODEL");
    let (status, v) = sv
        .post("/generation/sse/kling-ai/v4/image", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], "IMAGE_GENERATION_UNSUPPORTED_MODEL");
    for raw in [&b"{nope"[..], b"[1]", b""] {
        let resp = sv
            .http
            .post(sv.url(nano))
            .bearer_auth(KEY)
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["code"], "IMAGE_GENERATION_INVALID_INPUT");
    }
    // Auth.
    for key in [None, Some("sk-invalid-1")] {
        let mut req = sv.http.post(sv.url(nano)).json(&json!({"prompt": "x"}));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(
            (v["error"].as_str(), v["code"].as_str()),
            (Some("UNAUTHORIZED"), Some("UNAUTHORIZED"))
        );
        assert!(v["message"].is_string());
    }
    for path in ["/credits", "/generation/gen_x", "/generations/running"] {
        let resp = sv.http.get(sv.url(path)).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, v) = sv.get("/generation/gen_unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["code"], "NOT_FOUND");
    let (status, _) = sv.get("/generations/running?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, v) = sv.get("/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "NOT_FOUND");
    let stats = sv.sb.stats();
    assert_eq!(stats.sv_creates, 1);
    assert_eq!(stats.sv_create_attempts as usize, sv.sb.requests().len());
    assert_eq!(stats.sv_create_attempts, 13 + 1 + 3 + 3 + 2);
}

#[tokio::test]
async fn sv_multipart_files_for_image_urls() {
    let sv = Sv::new(sv_fast()).await;
    let png =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample.png")).expect("png");
    let mut other = png.clone();
    other.extend_from_slice(b"trailing bytes make it different");
    let form = Form::new()
        .text("prompt", "merge these")
        .part("image_urls", file_part("a.png", "image/png", png.clone()))
        .part("image_urls", file_part("b.png", "image/png", other.clone()))
        .text("image_urls", "https://example.com/c.png")
        .text("n", "2")
        .text("resolution", "4K");
    let resp = sv
        .http
        .post(sv.url("/generation/google/nano-banana-pro"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .expect("multipart");
    assert_eq!(resp.status(), StatusCode::OK);
    let created: Value = resp.json().await.expect("json");
    let urls = created["input"]["image_urls"]
        .as_array()
        .expect("urls")
        .clone();
    assert_eq!(urls.len(), 3);
    assert_eq!(urls[2], "https://example.com/c.png");
    assert_eq!(created["input"]["n"], 2);
    assert_eq!(created["usage"]["total"], 40);
    let cdn = format!("http://{}/", sv.sb.cdn_addr());
    let first = urls[0].as_str().expect("url");
    let second = urls[1].as_str().expect("url");
    assert!(first.starts_with(&cdn) && second.starts_with(&cdn));
    assert_eq!(download(&sv.http, first).await, png);
    assert_eq!(download(&sv.http, second).await, other);
    assert_eq!(sv.sb.artifact_sha256(second), Some(sha_hex(&other)));
    let recorded = sv.sb.requests();
    assert_eq!(
        recorded[0].body,
        json!({
            "prompt": "merge these",
            "image_urls": [
                format!("<file:a.png:{}>", png.len()),
                format!("<file:b.png:{}>", other.len()),
                "https://example.com/c.png"
            ],
            "n": "2",
            "resolution": "4K"
        })
    );
    assert_eq!(recorded[0].task_id.as_deref(), created["id"].as_str());
    let done = sv.wait_terminal(created["id"].as_str().expect("id")).await;
    assert_eq!(done["data"]["images"][0]["width"], 4096);

    // A file where the schema wants text, and a non-media file.
    for form in [
        Form::new().part("prompt", file_part("p.png", "image/png", png.clone())),
        Form::new().text("prompt", "x").part(
            "image_urls",
            file_part("notes.txt", "text/plain", b"hello".to_vec()),
        ),
    ] {
        let resp = sv
            .http
            .post(sv.url("/generation/google/nano-banana-pro"))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .expect("multipart");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["code"], "IMAGE_GENERATION_INVALID_INPUT");
    }
    let resp = sv
        .http
        .post(sv.url("/generation/google/nano-banana-pro"))
        .bearer_auth(KEY)
        .header("Content-Type", "multipart/form-data; boundary=Z")
        .body("--Z\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nabc")
        .send()
        .await
        .expect("broken multipart");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sv.sb.stats().sv_creates, 1);
}

#[tokio::test]
async fn sv_injected_faults() {
    let sv = Sv::new(sv_fast()).await;
    let fault = |target, status, retry_after_secs| Fault {
        target,
        status,
        times: 1,
        retry_after_secs,
        kind: Default::default(),
    };
    sv.sb.inject(fault(FaultTarget::SvCreate, 429, Some(3)));
    let resp = sv
        .http
        .post(sv.url("/generation/sse/google/veo-3.1"))
        .bearer_auth(KEY)
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"], "RATE_LIMITED");
    assert_eq!(v["code"], "VIDEO_GENERATION_RATE_LIMITED");
    let stats = sv.sb.stats();
    assert_eq!(
        (stats.sv_creates, stats.sv_create_attempts, stats.sv_streams),
        (0, 1, 0)
    );
    assert_eq!(stats.throttled, 1);
    assert_eq!(sv.credits().await, 100_000);

    let (status, created) = sv
        .post("/generation/google/nano-banana-pro", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = created["id"].as_str().expect("id");
    sv.sb.inject(fault(FaultTarget::SvPoll, 503, None));
    let (status, v) = sv.get(&format!("/generation/{id}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["code"], "IMAGE_GENERATION_PROVIDER_UNAVAILABLE");
    let (status, _) = sv.get(&format!("/generation/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    sv.sb.inject(fault(FaultTarget::SvCredits, 500, None));
    let (status, v) = sv.get("/credits").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"], "FAILED");
    assert_eq!(sv.credits().await, 100_000 - 20);
    let stats = sv.sb.stats();
    assert_eq!((stats.sv_polls, stats.sv_credit_queries), (2, 3));
    // Faults are also injectable through the admin endpoint.
    let resp = sv
        .http
        .post(format!("{}/_sandbox/faults", sv.sb.xyq_base_url()))
        .json(&json!({"target": "sv_create", "status": 500, "times": 1}))
        .send()
        .await
        .expect("fault");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, v) = sv
        .post("/generation/wan/wan-v2.6", json!({"prompt": "x"}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["code"], "VIDEO_GENERATION_FAILED");
    assert_eq!(sv.sb.stats().sv_creates, 1);
}

// ------------------------------------------------------------------ xingyun3d

const XY: &str = "/user/v1/video_synthesis_task";
const XY_APP: &str = "app-test";

fn xy_fast() -> SandboxConfig {
    SandboxConfig {
        xy_step: Duration::from_millis(50),
        tasks_qps: None,
        ..SandboxConfig::default()
    }
}

/// Client-side Python `json.dumps(data, sort_keys=True)` (ensure_ascii) with spaces removed —
/// written compactly, since every space is deleted anyway.
fn xy_sort_json(v: &Value, out: &mut String) {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' ' => {}
                '!'..='~' => out.push(c),
                _ => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out.push('"');
    }
    match v {
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                xy_sort_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                xy_sort_json(&map[k], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn xy_token(path: &str, method: &str, data: &Value, secret: &str, ts: i64) -> String {
    use md5::{Digest as _, Md5};
    let mut json = String::new();
    xy_sort_json(data, &mut json);
    let sign = format!(
        "{}{}{json}{secret}{ts}",
        path.to_lowercase(),
        method.to_lowercase()
    );
    hex_lower(&Md5::digest(sign.as_bytes()))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

struct XyResp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// A xingyun3d client.
struct Xy {
    sb: SandboxHandle,
    http: reqwest::Client,
    app: String,
    secret: String,
}

impl Xy {
    async fn new(config: SandboxConfig) -> Self {
        Self {
            sb: start(config).await,
            http: client(),
            app: XY_APP.to_owned(),
            secret: format!("secret-{XY_APP}"),
        }
    }

    /// Send `req` signed over (`signed_path`, `method`, `data`) at `ts`.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        signed_path: &str,
        method: &str,
        data: &Value,
        ts: i64,
    ) -> XyResp {
        let token = xy_token(signed_path, method, data, &self.secret, ts);
        let resp = req
            .header("X-APP-ID", &self.app)
            .header("X-TIMESTAMP", ts.to_string())
            .header("X-TOKEN", token)
            .send()
            .await
            .expect("xingyun3d request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("json body: {text}"));
        XyResp {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, endpoint: &str, body: Value) -> XyResp {
        let path = format!("{XY}/{endpoint}");
        let req = self
            .http
            .post(format!("{}{path}", self.sb.xingyun3d_base_url()))
            .json(&body);
        self.send(req, &path, "POST", &body, unix_now()).await
    }

    /// GET `endpoint?task_id=N` signed the recommended way: (path+query, `{}`).
    async fn get(&self, endpoint: &str, task_id: i64) -> XyResp {
        let path = format!("{XY}/{endpoint}?task_id={task_id}");
        let req = self
            .http
            .get(format!("{}{path}", self.sb.xingyun3d_base_url()));
        self.send(req, &path, "GET", &json!({}), unix_now()).await
    }

    async fn create(&self, body: Value) -> i64 {
        let r = self.post("create_render_task", body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["error_code"], 0, "{}", r.body);
        r.body["data"]["task_id"].as_i64().expect("int task_id")
    }

    async fn task(&self, id: i64) -> Value {
        let r = self.get("get_render_task", id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["error_code"], 0, "{}", r.body);
        r.body["data"].clone()
    }

    /// Poll until terminal; returns the final data and every state seen.
    async fn wait_terminal(&self, id: i64) -> (Value, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let data = self.task(id).await;
            let state = data["synth_state"].as_str().expect("state").to_owned();
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if ["finished", "error", "cancel"].contains(&state.as_str()) {
                return (data, seen);
            }
            assert!(Instant::now() < deadline, "task {id} never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn upload_ppt(&self, name: &str, bytes: Vec<u8>) -> XyResp {
        let path = format!("{XY}/parse_ppt_file");
        let form = Form::new().part(
            "ppt_file",
            file_part(
                name,
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                bytes,
            ),
        );
        let req = self
            .http
            .post(format!("{}{path}", self.sb.xingyun3d_base_url()))
            .multipart(form);
        self.send(req, &path, "POST", &json!({}), unix_now()).await
    }
}

fn xy_create_body(segment: Value) -> Value {
    json!({
        "video_name": "kino test",
        "look_name": "AM054_Jap_9021_new",
        "tts_vcn_name": "XMOV_HN_TTS__236",
        "studio_name": "youling_2d_v",
        "sub_title": "on",
        "segment": segment,
    })
}

fn is_china_iso_micros(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 32
            && s.ends_with("+08:00")
            && s.as_bytes()[19] == b'.'
            && s.as_bytes()[10] == b'T'
    })
}

#[tokio::test]
async fn xy_segments_to_finished_video() {
    let xy = Xy::new(SandboxConfig {
        video_size: Some(300_000),
        xy_step: Duration::from_millis(100),
        ..xy_fast()
    })
    .await;
    let texts = [
        "大家好， 欢迎来到 kino！ 这是 \"引号\"、\\反斜杠 和 emoji 😀。",
        "第二段：测试 sandbox\t制表符 / slash  两个空格。",
    ];
    let body = xy_create_body(json!([
        {"text": texts[0], "media_url": "https://e.x/a.png"},
        {"text": texts[1]},
    ]));
    let id = xy.create(body.clone()).await;
    let first = xy.task(id).await;
    assert!(
        ["not_send", "waiting", "processing"]
            .contains(&first["synth_state"].as_str().unwrap_or_default()),
        "{first}"
    );
    assert!(first["render_video_oss"].is_null() && first["render_image_oss"].is_null());
    let (data, seen) = xy.wait_terminal(id).await;
    let order = ["not_send", "waiting", "processing", "finished"];
    let idx: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).expect("known state"))
        .collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("finished"));

    assert_eq!(data["id"], id);
    assert_eq!(data["task_id"], id);
    assert_eq!(data["output_resolution"], "540P");
    assert_eq!(data["look_name"], "AM054_Jap_9021_new");
    assert_eq!(data["tts_vcn_name"], "XMOV_HN_TTS__236");
    assert_eq!(data["studio_name"], "youling_2d_v");
    assert_eq!(data["video_name"], "kino test");
    assert_eq!(data["sub_title"], "on");
    assert_eq!(data["error_reason"], "");
    for key in [
        "create_time",
        "update_time",
        "synth_start_time",
        "synth_finish_time",
    ] {
        assert!(is_china_iso_micros(&data[key]), "{key}: {}", data[key]);
    }
    let segs = data["segment"].as_array().expect("segments");
    assert_eq!(segs.len(), 2);
    for (seg, text) in segs.iter().zip(texts) {
        assert_eq!(
            seg["text"].as_str(),
            Some(text),
            "text echoed byte for byte"
        );
        assert!(seg["media_id"].is_i64());
    }
    assert_eq!(segs[0]["media_url"], "https://e.x/a.png");

    let video_url = data["render_video_oss"].as_str().expect("video url");
    let video = download(&xy.http, video_url).await;
    assert_eq!(video.len(), 300_000);
    assert_eq!(
        xy.sb.artifact_sha256(video_url).as_deref(),
        Some(sha_hex(&video).as_str())
    );
    assert_eq!(&video[4..8], b"ftyp");
    let image_url = data["render_image_oss"].as_str().expect("image url");
    let image = download(&xy.http, image_url).await;
    assert_eq!(&image[..4], b"\x89PNG");
    assert_eq!(
        xy.sb.artifact_sha256(image_url).as_deref(),
        Some(sha_hex(&image).as_str())
    );
    let r = xy.get("get_render_task_preview_url", id).await;
    assert_eq!(r.body["error_code"], 0, "{}", r.body);
    let preview = r.body["data"]["preview_url"].as_str().expect("preview url");
    assert_eq!(download(&xy.http, preview).await, image);
    let r = xy.get("get_render_task_preview_url", 999_999).await;
    assert_eq!(r.body["error_code"], 30004);

    // Failure token.
    let failing = xy
        .create(xy_create_body(json!([{"text": "会失败 sandbox:fail"}])))
        .await;
    assert!(failing > id);
    let (data, _) = xy.wait_terminal(failing).await;
    assert_eq!(data["synth_state"], "error");
    assert_eq!(
        data["error_reason"],
        "合成任务失败，请重新发起或联系客服处理"
    );
    assert!(data["render_video_oss"].is_null());

    let stats = xy.sb.stats();
    assert_eq!((stats.xy_creates, stats.xy_create_attempts), (2, 2));
    assert!(stats.xy_gets >= 4);
    assert_eq!(stats.xy_bad_signatures, 0);
    assert_eq!(stats.auth_on_cdn, 0);
    let reqs = xy.sb.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, format!("{XY}/create_render_task"));
    assert_eq!(reqs[0].header("x-token"), Some("<redacted>"));
    assert_eq!(reqs[0].header("x-app-id"), Some(XY_APP));
    assert_eq!(reqs[0].body, body);
    assert_eq!(reqs[0].task_id, Some(id.to_string()));
}

#[tokio::test]
async fn xy_ppt_parse_and_create() {
    let xy = Xy::new(xy_fast()).await;
    let mut pptx = b"PK\x03\x04".to_vec();
    pptx.extend((0..300_000u32).map(|i| (i % 251) as u8));
    let r = xy.upload_ppt("PPT模板.pptx", pptx.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["error_code"], 0, "{}", r.body);
    let name = r.body["data"]["parse_ppt_file_name"]
        .as_str()
        .expect("name")
        .to_owned();
    assert!(name.ends_with(".pptx"), "{name}");

    let mut body = xy_create_body(Value::Null);
    body.as_object_mut().expect("obj").remove("segment");
    body["parse_ppt_file_name"] = json!(name);
    let id = xy.create(body.clone()).await;
    let (data, _) = xy.wait_terminal(id).await;
    assert_eq!(data["synth_state"], "finished");
    assert!(data["segment"][0]["media_id"].is_i64());
    assert!(data["render_video_oss"].is_string());

    // Not a pptx: wrong name, or right name without the zip magic.
    for (file, bytes) in [
        ("slides.ppt", pptx.clone()),
        ("slides.pdf", b"%PDF-1.4".to_vec()),
        ("slides.pptx", b"not a zip at all".to_vec()),
        ("tiny.pptx", b"PK".to_vec()),
    ] {
        let r = xy.upload_ppt(file, bytes).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["error_code"], 30003, "{file}: {}", r.body);
    }
    // Unknown PPT name.
    body["parse_ppt_file_name"] = json!("ppt_unknown.pptx");
    let r = xy.post("create_render_task", body.clone()).await;
    assert_eq!(r.body["error_code"], 30002, "{}", r.body);
    // Both, neither, missing required fields, bad segments.
    body["parse_ppt_file_name"] = json!(name);
    body["segment"] = json!([{"text": "x"}]);
    let r = xy.post("create_render_task", body.clone()).await;
    assert_eq!(r.body["error_code"], 30005, "{}", r.body);
    let mut neither = xy_create_body(Value::Null);
    neither.as_object_mut().expect("obj").remove("segment");
    let r = xy.post("create_render_task", neither).await;
    assert_eq!(r.body["error_code"], 30005, "{}", r.body);
    for field in ["look_name", "tts_vcn_name", "studio_name"] {
        let mut b = xy_create_body(json!([{"text": "x"}]));
        b.as_object_mut().expect("obj").remove(field);
        let r = xy.post("create_render_task", b).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["error_code"], 30005, "{}", r.body);
        assert!(
            r.body["error_reason"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{}",
            r.body
        );
    }
    for segment in [
        json!([]),
        json!([{"text": ""}]),
        json!([{"media_url": "x"}]),
        json!("x"),
    ] {
        let r = xy
            .post("create_render_task", xy_create_body(segment.clone()))
            .await;
        assert_eq!(r.body["error_code"], 30005, "{segment}: {}", r.body);
    }
    let stats = xy.sb.stats();
    assert_eq!(stats.xy_ppt_parses, 1);
    assert_eq!(stats.xy_creates, 1);
    assert_eq!(stats.xy_create_attempts, 11);
    assert_eq!(xy.sb.requests().len(), 11);
}

#[tokio::test]
async fn xy_cancel_rules() {
    // Long enough steps that the immediate cancel lands before the end even on a busy machine.
    let xy = Xy::new(SandboxConfig {
        xy_step: Duration::from_millis(200),
        ..xy_fast()
    })
    .await;
    let id = xy.create(xy_create_body(json!([{"text": "取消我"}]))).await;
    let r = xy.post("cancel_render_task", json!({"task_id": id})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"error_code": 0, "error_reason": ""}));
    let (data, _) = xy.wait_terminal(id).await;
    assert_eq!(data["synth_state"], "cancel");
    assert!(data["render_video_oss"].is_null());
    let r = xy.post("cancel_render_task", json!({"task_id": id})).await;
    assert_eq!(r.body["error_code"], 30006);
    assert_eq!(
        r.body["error_reason"],
        "cancel video task error: task is cancel"
    );

    let done = xy.create(xy_create_body(json!([{"text": "完成"}]))).await;
    let (data, _) = xy.wait_terminal(done).await;
    assert_eq!(data["synth_state"], "finished");
    let r = xy
        .post("cancel_render_task", json!({"task_id": done}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["error_code"], 30006);
    assert_eq!(
        r.body["error_reason"],
        "cancel video task error: task is finished"
    );

    let r = xy
        .post("cancel_render_task", json!({"task_id": 424242}))
        .await;
    assert_eq!(r.body["error_code"], 30004);
    let r = xy.get("get_render_task", 424242).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["error_code"], 30004);
    assert_eq!(xy.sb.stats().xy_cancels, 4);
}

#[tokio::test]
async fn xy_auth_errors_and_clock_skew() {
    let mut xy = Xy::new(xy_fast()).await;
    let id = xy.create(xy_create_body(json!([{"text": "a b"}]))).await;
    // Bad token: wrong secret, and a body different from the signed one.
    let path = format!("{XY}/get_render_task?task_id={id}");
    let url = format!("{}{path}", xy.sb.xingyun3d_base_url());
    xy.secret = "wrong".into();
    let r = xy.get("get_render_task", id).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!({"error_code": 20002, "error_reason": "signature invalid"})
    );
    xy.secret = format!("secret-{XY_APP}");
    let signed = json!({"look_name": "x"});
    let req = xy
        .http
        .post(format!(
            "{}{XY}/create_render_task",
            xy.sb.xingyun3d_base_url()
        ))
        .json(&xy_create_body(json!([{"text": "x"}])));
    let r = xy
        .send(
            req,
            &format!("{XY}/create_render_task"),
            "POST",
            &signed,
            unix_now(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error_code"], 20002);
    // Missing timestamp.
    let resp = xy
        .http
        .get(&url)
        .header("X-APP-ID", XY_APP)
        .header("X-TOKEN", "0".repeat(32))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error_code"], 20003);
    // Stale timestamp (client clock 2 min behind).
    let req = xy.http.get(&url);
    let r = xy
        .send(req, &path, "GET", &json!({}), unix_now() - 120)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error_code"], 20003);
    assert!(
        r.body["error_reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("timestamp expired: server time "),
        "{}",
        r.body
    );
    // Unknown app: HTTP 200, error_code 20001.
    xy.sb
        .set_config(|c| c.xy_apps = vec![("known".into(), "k-secret".into())]);
    let r = xy.get("get_render_task", id).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["error_code"], 20001);
    xy.app = "known".into();
    xy.secret = "k-secret".into();
    let data = xy.task(id).await;
    assert_eq!(data["task_id"], id);
    assert_eq!(xy.sb.stats().xy_bad_signatures, 4);

    // Skewed sandbox clock: the Date header shows it and a client can re-sync from it.
    xy.sb.set_config(|c| c.xy_clock_skew = 3600);
    let r = xy.get("get_render_task", id).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error_code"], 20003);
    let date = r
        .headers
        .get("date")
        .and_then(|v| v.to_str().ok())
        .expect("Date header");
    let server = chrono::DateTime::parse_from_rfc2822(date)
        .expect("RFC 1123 date")
        .timestamp();
    assert!((server - unix_now() - 3600).abs() <= 5, "{date}");
    let req = xy.http.get(&url);
    let r = xy.send(req, &path, "GET", &json!({}), server).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["id"], id);
    let created = r.body["data"]["create_time"].as_str().expect("time");
    assert!(created.ends_with("+08:00"));
}

#[tokio::test]
async fn xy_get_signature_variants_and_double_slash() {
    let xy = Xy::new(xy_fast()).await;
    let id = xy.create(xy_create_body(json!([{"text": "变体"}]))).await;
    let base = xy.sb.xingyun3d_base_url();
    for endpoint in ["get_render_task", "get_render_task_preview_url"] {
        let path = format!("{XY}/{endpoint}");
        let path_q = format!("{path}?task_id={id}");
        let url = format!("{base}{path_q}");
        let with_id = json!({"task_id": id});
        for (signed_path, data, ok) in [
            (&path_q, json!({}), true),
            (&path, with_id.clone(), true),
            (&path_q, with_id.clone(), true),
            (&path, json!({}), false),
        ] {
            let r = xy
                .send(xy.http.get(&url), signed_path, "GET", &data, unix_now())
                .await;
            if ok {
                assert_eq!(r.status, StatusCode::OK, "{signed_path} {data}: {}", r.body);
                assert_eq!(r.body["error_code"], 0);
            } else {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{signed_path} {data}");
            }
        }
    }
    // Double slash (the seed's `f'{host}/{api_path}'`), signed over the single-slash path.
    let path = format!("{XY}/get_render_task?task_id={id}");
    let r = xy
        .send(
            xy.http.get(format!("{base}/{path}")),
            &path,
            "GET",
            &json!({}),
            unix_now(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["task_id"], id);
    let body = xy_create_body(json!([{"text": "双斜杠"}]));
    let path = format!("{XY}/create_render_task");
    let r = xy
        .send(
            xy.http.post(format!("{base}/{path}")).json(&body),
            &path,
            "POST",
            &body,
            unix_now(),
        )
        .await;
    assert_eq!(r.body["error_code"], 0, "{}", r.body);
    let mut pptx = b"PK\x03\x04".to_vec();
    pptx.resize(3 * 1024 * 1024, 7);
    let path = format!("{XY}/parse_ppt_file");
    let form = Form::new().part(
        "ppt_file",
        file_part("big.pptx", "application/octet-stream", pptx),
    );
    let r = xy
        .send(
            xy.http.post(format!("{base}//{path}")).multipart(form),
            &path,
            "POST",
            &json!({}),
            unix_now(),
        )
        .await;
    assert_eq!(r.body["error_code"], 0, "{}", r.body);
    // Recorded as received.
    assert_eq!(
        xy.sb.requests()[1].path,
        format!("/{XY}/create_render_task")
    );
    // Unknown endpoint and wrong method, in the envelope, with a Date header.
    let r = xy
        .send(
            xy.http.get(format!("{base}{XY}/nope")),
            &format!("{XY}/nope"),
            "GET",
            &json!({}),
            unix_now(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error_code"], 404);
    assert!(r.headers.contains_key("date"));
    let r = xy
        .send(
            xy.http.get(format!("{base}{XY}/create_render_task")),
            &format!("{XY}/create_render_task"),
            "GET",
            &json!({}),
            unix_now(),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(xy.sb.stats().xy_bad_signatures, 2);
}

#[tokio::test]
async fn xy_injected_faults() {
    let xy = Xy::new(xy_fast()).await;
    let fault = |target, status, retry_after_secs| Fault {
        target,
        status,
        times: 1,
        retry_after_secs,
        kind: Default::default(),
    };
    xy.sb.inject(fault(FaultTarget::XyCreate, 503, Some(2)));
    let body = xy_create_body(json!([{"text": "x"}]));
    let r = xy.post("create_render_task", body.clone()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["error_code"], 503);
    assert!(r.body["error_reason"].is_string());
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let stats = xy.sb.stats();
    assert_eq!((stats.xy_creates, stats.xy_create_attempts), (0, 1));
    assert_eq!(xy.sb.requests()[0].task_id, None);
    let id = xy.create(body).await;

    xy.sb.inject(fault(FaultTarget::XyGet, 429, None));
    let r = xy.get("get_render_task", id).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error_code"], 429);
    assert_eq!(xy.task(id).await["task_id"], id);

    xy.sb.inject(fault(FaultTarget::XyCancel, 500, None));
    let r = xy.post("cancel_render_task", json!({"task_id": id})).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body["error_code"], 500);

    xy.sb.inject(fault(FaultTarget::XyParsePpt, 502, None));
    let r = xy.upload_ppt("a.pptx", b"PK\x03\x04xx".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.body["error_code"], 502);
    let r = xy.upload_ppt("a.pptx", b"PK\x03\x04xx".to_vec()).await;
    assert_eq!(r.body["error_code"], 0);

    let stats = xy.sb.stats();
    assert_eq!(
        (
            stats.xy_creates,
            stats.xy_gets,
            stats.xy_cancels,
            stats.xy_ppt_parses,
            stats.throttled
        ),
        (1, 2, 1, 1, 1)
    );
}
