//! `kino-sandbox`: a faithful local emulator of the AI video platform APIs kino drives.
//!
//! It emulates Alibaba DashScope Wan video synthesis (`shared/contracts.md` §1), the
//! conversational platforms Xiaoyunque (§3, `/api/biz/v1/skill/*`) and LibTV (§4, `/openapi/*`),
//! and xingyun3d digital-human synthesis (§5, `/user/v1/video_synthesis_task/*`, X-TOKEN signed),
//! all on the same API host. It is served by `kino sandbox`, embedded in-process by `kino run`
//! when no credentials are set, and used as the peer by the test suites.
//!
//! It also emulates the skills.video open platform (§2) on a listener of its own, so its paths
//! sit at the root exactly as on the real host (`/api/v1/generation/…`, `/api/openapi.json`,
//! `/docs.json`, …); see [`SandboxHandle::skillsvideo_base_url`].
//!
//! Besides that one, a sandbox listens on two ports: the **API host** (`/api/v1/…`, `/api/biz/v1/skill/…`,
//! `/openapi/…`, plus the `/_sandbox/…` admin endpoints) and a separate **CDN/OSS host** (upload
//! endpoint `POST /`, DashScope result files `/results/<task_id>.mp4`, Xiaoyunque/LibTV result
//! files `/files/…`, LibTV uploads `/claw/<projectUuid>/…`, sample inputs
//! `/samples/sample.{png,mp4}`). Being a different origin,
//! the CDN host lets tests prove credentials never reach it ([`Stats::auth_on_cdn`]).
//!
//! URLs the sandbox hands out (result files, `upload_host`, [`SandboxHandle::dashscope_base_url`])
//! use the bound address, with an unspecified host (`0.0.0.0` / `::`) replaced by loopback.
//! All times it reports are UTC.
//!
//! The library never prints and never reads environment variables; it logs through `tracing`.

mod admin;
mod cdn;
mod config;
mod conversation;
mod dashscope;
mod faults;
mod files;
mod ids;
mod keys;
mod libtv;
pub mod media;
mod request;
mod skillsvideo;
mod state;
mod stats;
mod upload;
mod xingyun3d;
mod xyq;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::SandboxConfig;
pub use faults::{Fault, FaultKind, FaultTarget};
pub use stats::Stats;

use state::{Shared, lock};

/// One create request as received: a DashScope submit, a Xiaoyunque `submit_run`, a LibTV
/// `POST /openapi/session`, a skills.video create (SSE or not) or a xingyun3d
/// `create_render_task`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordedRequest {
    /// Request path (no query string), as received (xingyun3d: duplicate slashes kept).
    pub path: String,
    /// Lowercase header names; the `Authorization` (and xingyun3d `X-TOKEN`) value is replaced by
    /// `"<redacted>"`.
    pub headers: Vec<(String, String)>,
    /// The JSON body (a JSON string holding the raw text when it was not JSON; `null` when empty
    /// or unreadable). A skills.video `multipart/form-data` body is shown as an object of its
    /// fields: text values as strings, file parts as `"<file:NAME:BYTES>"`, repeated fields as
    /// arrays.
    pub body: serde_json::Value,
    /// The created task (DashScope task id, Xiaoyunque run id, LibTV session id, skills.video
    /// generation id, xingyun3d task id in decimal), or `None` when the request was rejected.
    pub task_id: Option<String>,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Namespace for starting sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds three listeners on `host` (port 0 = any): the API host on `api_port`, and the CDN/OSS
    /// host and the skills.video host on ephemeral ports. Serves until every handle is dropped or
    /// [`SandboxHandle::shutdown`] is called. Must be called within a Tokio runtime.
    pub async fn start(
        host: IpAddr,
        api_port: u16,
        config: SandboxConfig,
    ) -> std::io::Result<SandboxHandle> {
        let api_listener = TcpListener::bind((host, api_port)).await?;
        let cdn_listener = TcpListener::bind((host, 0)).await?;
        let sv_listener = TcpListener::bind((host, 0)).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let addrs = state::Addrs {
            api: api_listener.local_addr()?,
            cdn: cdn_listener.local_addr()?,
            sv: sv_listener.local_addr()?,
        };
        let shared = Arc::new(Shared::new(addrs, stop_rx.clone(), config));
        let api_app = dashscope::api_routes()
            .merge(xyq::routes())
            .merge(libtv::routes())
            .merge(xingyun3d::routes())
            .merge(admin::routes())
            // No body limit: a `//user/v1/…` xingyun3d upload is dispatched from here.
            .fallback(api_not_found.layer(DefaultBodyLimit::disable()))
            .with_state(shared.clone());
        let cdn_app = cdn::router(shared.clone());
        let sv_app = skillsvideo::router(shared.clone());

        let serve = |listener: TcpListener, app: axum::Router, name: &'static str| {
            let mut rx = stop_rx.clone();
            let app = app.layer(axum::middleware::from_fn(faults::transport));
            tokio::spawn(async move {
                let stop = async move {
                    // Resolves on an explicit shutdown or when the last handle is dropped.
                    let _ = rx.wait_for(|stopped| *stopped).await;
                };
                if let Err(error) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::warn!(%error, listener = name, "sandbox listener stopped");
                }
            })
        };
        let tasks = vec![
            serve(api_listener, api_app, "api"),
            serve(cdn_listener, cdn_app, "cdn"),
            serve(sv_listener, sv_app, "skillsvideo"),
        ];
        tracing::debug!(
            api = %shared.api_addr,
            cdn = %shared.cdn_addr,
            skillsvideo = %shared.sv_addr,
            "sandbox started"
        );
        Ok(SandboxHandle {
            inner: Arc::new(HandleInner {
                shared,
                stop: stop_tx,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

struct HandleInner {
    shared: Arc<Shared>,
    /// Dropping it (with the last handle) stops the listeners.
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Handle to a running sandbox. Cheap to clone; the sandbox stops when the last clone is dropped.
#[derive(Clone)]
pub struct SandboxHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("api_addr", &self.api_addr())
            .field("cdn_addr", &self.cdn_addr())
            .field("skillsvideo_addr", &self.skillsvideo_addr())
            .finish()
    }
}

impl SandboxHandle {
    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Bound address of the API host.
    pub fn api_addr(&self) -> SocketAddr {
        self.shared().api_addr
    }

    /// Bound address of the CDN/OSS host.
    pub fn cdn_addr(&self) -> SocketAddr {
        self.shared().cdn_addr
    }

    /// e.g. `http://127.0.0.1:PORT/api/v1` — what `DASHSCOPE_HTTP_BASE_URL` is set to.
    pub fn dashscope_base_url(&self) -> String {
        format!("http://{}/api/v1", advertised(self.api_addr()))
    }

    /// `http://<api_addr>` — the Xiaoyunque base URL (clients append `/api/biz/v1/skill/…`).
    pub fn xyq_base_url(&self) -> String {
        format!("http://{}", advertised(self.api_addr()))
    }

    /// `http://<api_addr>` — the LibTV base URL (clients append `/openapi/…`).
    pub fn libtv_base_url(&self) -> String {
        format!("http://{}", advertised(self.api_addr()))
    }

    /// `http://<api_addr>` — the xingyun3d base URL (clients append
    /// `/user/v1/video_synthesis_task/…`).
    pub fn xingyun3d_base_url(&self) -> String {
        format!("http://{}", advertised(self.api_addr()))
    }

    /// Bound address of the skills.video host.
    pub fn skillsvideo_addr(&self) -> SocketAddr {
        self.shared().sv_addr
    }

    /// e.g. `http://127.0.0.1:PORT/api/v1` — the skills.video base URL (`SKILLS_VIDEO_BASE_URL`);
    /// clients append `/generation/…`, `/credits`, ….
    pub fn skillsvideo_base_url(&self) -> String {
        format!("http://{}/api/v1", advertised(self.skillsvideo_addr()))
    }

    /// Snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// Faults queued and not yet used up (a test proves its faults were met by finding none).
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.shared().faults.pending()
    }

    /// Queue a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared().faults.push(fault);
    }

    /// Every create request received, in order — rejected ones included (with `task_id: None`):
    /// DashScope submits, Xiaoyunque `submit_run`, LibTV `POST /openapi/session`, skills.video
    /// create calls and xingyun3d `create_render_task` calls, so its length equals
    /// `create_attempts + xyq_submits + libtv_session_posts + sv_create_attempts +
    /// xy_create_attempts` of [`Self::stats`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared().requests()
    }

    /// Change timing etc. at run time. Per-task values (`pending`, `running`, `video_size`) are
    /// captured when a task is created.
    pub fn set_config(&self, f: impl FnOnce(&mut SandboxConfig)) {
        self.shared().update_config(f);
    }

    /// Current configuration.
    pub fn config(&self) -> SandboxConfig {
        self.shared().config()
    }

    /// The lowercase hex SHA-256 of the exact bytes a result download of `task_id` serves, or
    /// `None` for unknown, failed or canceled tasks. (A task that has not finished yet gets the
    /// hash of the video it will serve.) Hashes are cached per video size.
    pub fn result_sha256(&self, task_id: &str) -> Option<String> {
        dashscope::result_sha256(self.shared(), task_id)
    }

    /// The prompt a DashScope task was created with.
    pub fn task_prompt(&self, task_id: &str) -> Option<String> {
        dashscope::task_prompt(self.shared(), task_id)
    }

    /// Forget a DashScope task now, as the platform does 24 h after its creation: its queries
    /// answer `UNKNOWN` from then on. False when no such task was known.
    pub fn forget_task(&self, task_id: &str) -> bool {
        dashscope::forget_task(self.shared(), task_id)
    }

    /// The lowercase hex SHA-256 of exactly the bytes `url` serves, for result URLs handed out
    /// by Xiaoyunque, LibTV, skills.video and xingyun3d (`render_video_oss`, `render_image_oss`,
    /// `preview_url`; and LibTV upload URLs, skills.video multipart file inputs); `None` for
    /// anything else. Only the URL's
    /// path is looked at.
    pub fn artifact_sha256(&self, url: &str) -> Option<String> {
        let shared = self.shared();
        let blob = lock(&shared.files).get(files::url_path(url)).cloned()?;
        Some(files::blob_sha256(&blob, |layout| {
            shared.video_sha256(layout)
        }))
    }

    /// Stop the listeners (open skills.video streams end): in-flight requests get up to 5 s to finish, then are aborted.
    pub async fn shutdown(self) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for mut task in tasks {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

/// JSON 404 for unknown API-host paths, in the envelope of the platform the path belongs to.
/// xingyun3d paths with duplicate slashes (`//user/v1/…`) are dispatched to xingyun3d.
async fn api_not_found(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> axum::response::Response {
    let path = req.uri().path();
    if xingyun3d::owns(path) {
        xingyun3d::dispatch(shared, req).await
    } else if path.starts_with(xyq::PREFIX) {
        xyq::not_found()
    } else if path.starts_with("/openapi/") {
        libtv::not_found()
    } else {
        dashscope::api_not_found().await
    }
}

/// The address to put in URLs: unspecified hosts become loopback.
pub(crate) fn advertised(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}
