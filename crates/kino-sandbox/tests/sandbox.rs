//! Drives a real sandbox over HTTP with reqwest.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use kino_sandbox::{Fault, FaultTarget, Sandbox, SandboxConfig, SandboxHandle};
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
