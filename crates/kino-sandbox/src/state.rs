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
use crate::stats::Stats;
use crate::xyq::XyqState;

/// Lock a mutex, ignoring poisoning (a panicking holder cannot leave our plain data half-updated
/// in a way that matters to an emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Shared {
    pub api_addr: SocketAddr,
    pub cdn_addr: SocketAddr,
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
}

impl Shared {
    pub(crate) fn new(api_addr: SocketAddr, cdn_addr: SocketAddr, config: SandboxConfig) -> Self {
        Self {
            api_addr,
            cdn_addr,
            config: Mutex::new(config),
            stats: Mutex::new(Stats::default()),
            faults: FaultQueue::default(),
            requests: Mutex::new(Vec::new()),
            sha_cache: Mutex::new(HashMap::new()),
            dashscope: DashScopeState::default(),
            files: Mutex::default(),
            xyq: XyqState::default(),
            libtv: LibtvState::default(),
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
