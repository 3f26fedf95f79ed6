//! State shared by every listener of one sandbox.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::RecordedRequest;
use crate::config::SandboxConfig;
use crate::dashscope::DashScopeState;
use crate::faults::FaultQueue;
use crate::files::FileStore;
use crate::libtv::LibtvState;
use crate::media::VideoLayout;
use crate::skillsvideo::SvState;
use crate::stats::Stats;
use crate::xingyun3d::XingyunState;
use crate::xyq::XyqState;

/// Lock a mutex, ignoring poisoning (a panicking holder cannot leave our plain data half-updated
/// in a way that matters to an emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bound addresses of the listeners.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Addrs {
    pub api: SocketAddr,
    pub cdn: SocketAddr,
    pub sv: SocketAddr,
}

pub(crate) struct Shared {
    pub api_addr: SocketAddr,
    pub cdn_addr: SocketAddr,
    /// The skills.video listener.
    pub sv_addr: SocketAddr,
    /// Turns `true` (or closes) when the sandbox stops; long-lived streams end on it.
    pub stop: tokio::sync::watch::Receiver<bool>,
    config: Mutex<SandboxConfig>,
    stats: Mutex<Stats>,
    pub faults: FaultQueue,
    requests: Mutex<Vec<RecordedRequest>>,
    sha_cache: Mutex<HashMap<u64, String>>,
    pub dashscope: DashScopeState,
    /// Xiaoyunque / LibTV result and upload files served by the CDN host.
    pub files: Mutex<FileStore>,
    pub xyq: XyqState,
    pub libtv: LibtvState,
    pub sv: SvState,
    pub xingyun3d: XingyunState,
}

impl Shared {
    pub(crate) fn new(
        addrs: Addrs,
        stop: tokio::sync::watch::Receiver<bool>,
        config: SandboxConfig,
    ) -> Self {
        Self {
            api_addr: addrs.api,
            cdn_addr: addrs.cdn,
            sv_addr: addrs.sv,
            stop,
            config: Mutex::new(config),
            stats: Mutex::new(Stats::default()),
            faults: FaultQueue::default(),
            requests: Mutex::new(Vec::new()),
            sha_cache: Mutex::new(HashMap::new()),
            dashscope: DashScopeState::default(),
            files: Mutex::default(),
            xyq: XyqState::default(),
            libtv: LibtvState::default(),
            sv: SvState::default(),
            xingyun3d: XingyunState::default(),
        }
    }

    /// Snapshot of the current configuration.
    pub(crate) fn config(&self) -> SandboxConfig {
        lock(&self.config).clone()
    }

    pub(crate) fn update_config<R>(&self, f: impl FnOnce(&mut SandboxConfig) -> R) -> R {
        f(&mut lock(&self.config))
    }

    pub(crate) fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub(crate) fn bump(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut lock(&self.stats));
    }

    pub(crate) fn record_request(&self, req: RecordedRequest) {
        lock(&self.requests).push(req);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// SHA-256 of a result video of this layout, cached per size.
    pub(crate) fn video_sha256(&self, layout: VideoLayout) -> String {
        if let Some(hit) = lock(&self.sha_cache).get(&layout.len()) {
            return hit.clone();
        }
        let hash = layout.sha256_hex();
        lock(&self.sha_cache).insert(layout.len(), hash.clone());
        hash
    }
}
