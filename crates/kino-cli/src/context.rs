//! Builds the engine a command needs from the settings: the ledger, the configured providers,
//! and the embedded sandbox when a job runs there.

use std::sync::Arc;
use std::time::Duration;

use kino_core::{ErrorKind, PollPolicy, Provider, Secret};
use kino_engine::{Engine, EngineConfig};
use kino_ledger::Ledger;
use kino_providers::dashscope::{DashScope, DashScopeConfig};
use kino_providers::libtv::LibTv;
use kino_providers::skillsvideo::{
    Catalog, SNAPSHOT_DOCS, SNAPSHOT_OPENAPI, SkillsVideo, SkillsVideoConfig, fetch_documents,
};
use kino_providers::xingyun3d::Xingyun3d;
use kino_providers::xyq::Xyq;
use kino_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

use crate::error::CommandError;
use crate::printer::Printer;
use crate::settings::Settings;

pub const SANDBOX: &str = "sandbox";
pub const DASHSCOPE: &str = "dashscope";
pub const XYQ: &str = "xyq";
pub const LIBTV: &str = "libtv";
pub const SKILLSVIDEO: &str = "skillsvideo";
pub const XINGYUN3D: &str = "xingyun3d";
pub const PROVIDERS: &[&str] = &[DASHSCOPE, SKILLSVIDEO, XYQ, LIBTV, XINGYUN3D, SANDBOX];

/// The conversational platforms: a message, attachments, questions and replies.
pub fn is_conversational(provider: &str) -> bool {
    provider == XYQ || provider == LIBTV
}

pub struct Context {
    pub settings: Settings,
    pub printer: Printer,
    sandbox: Option<SandboxHandle>,
}

fn client_error(e: kino_http::ClientError) -> CommandError {
    CommandError::new(ErrorKind::Internal, e.to_string())
}

impl Context {
    pub fn new(settings: Settings, printer: Printer) -> Self {
        Self {
            settings,
            printer,
            sandbox: None,
        }
    }

    pub async fn ledger(&self) -> Result<Arc<dyn Ledger>, CommandError> {
        let location = self.settings.ledger_location();
        if !self.settings.shared_ledger()
            && let Some(dir) = std::path::Path::new(&location)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                CommandError::new(
                    ErrorKind::Config,
                    format!(
                        "cannot create the ledger's directory {}: {e}",
                        dir.display()
                    ),
                )
            })?;
        }
        Ok(kino_ledger::open(&location).await?)
    }

    /// The provider jobs go to when none is named.
    pub fn default_provider(&self) -> &'static str {
        if self.settings.dashscope_key.is_some() {
            DASHSCOPE
        } else {
            SANDBOX
        }
    }

    async fn embedded_sandbox(&mut self) -> Result<String, CommandError> {
        if let Some(s) = &self.sandbox {
            return Ok(s.dashscope_base_url());
        }
        let config = SandboxConfig {
            pending: Duration::from_millis(800),
            running: Duration::from_millis(2000),
            ..SandboxConfig::default()
        };
        let handle = Sandbox::start([127, 0, 0, 1].into(), 0, config)
            .await
            .map_err(|e| {
                CommandError::new(
                    ErrorKind::Internal,
                    format!("cannot start the embedded sandbox: {e}"),
                )
            })?;
        let url = handle.dashscope_base_url();
        self.sandbox = Some(handle);
        Ok(url)
    }

    /// An engine with DashScope (when a key is set) and, if `with_sandbox`, the embedded sandbox.
    pub async fn engine(&mut self, with_sandbox: bool) -> Result<Arc<Engine>, CommandError> {
        let ledger = self.ledger().await?;
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        if let Some(key) = &self.settings.dashscope_key {
            let mut cfg = DashScopeConfig::new(self.settings.dashscope_base.clone(), key.clone());
            cfg.workspace = self.settings.dashscope_workspace.clone();
            // The process keeps the same rate as the fleet (KINO_DASHSCOPE_QPS): an account
            // with a higher quota is not held to the default, and 0 lifts both bounds.
            cfg.queries_per_second = per_second(self.settings.paces.get(DASHSCOPE));
            providers.push(Arc::new(DashScope::new(cfg).map_err(client_error)?));
        }
        if let Some(cfg) = &self.settings.xyq {
            providers.push(Arc::new(Xyq::new(cfg.clone()).map_err(client_error)?));
        }
        if let Some(cfg) = &self.settings.libtv {
            providers.push(Arc::new(LibTv::new(cfg.clone()).map_err(client_error)?));
        }
        if let Some(sv) = self.skillsvideo().await? {
            providers.push(Arc::new(sv));
        }
        if let Some(xy) = self.xingyun3d()? {
            providers.push(Arc::new(xy));
        }
        let mut poll_override = self.settings.poll_override;
        if with_sandbox {
            let base = self.embedded_sandbox().await?;
            let cfg = DashScopeConfig::new(base, Secret::new("sk-kino-embedded-sandbox"));
            providers.push(Arc::new(
                DashScope::new(cfg).map_err(client_error)?.with_id(SANDBOX),
            ));
            // A local emulator answers at once: poll it briskly.
            poll_override = poll_override.or(Some(PollPolicy {
                initial: Duration::from_millis(300),
                max: Duration::from_secs(1),
                factor: 1.5,
            }));
        }
        let defaults = EngineConfig::default();
        let config = EngineConfig {
            default_out_dir: self.settings.cwd.clone(),
            poll_override,
            paces: self.settings.paces.clone(),
            lease: self.settings.lease.unwrap_or(defaults.lease),
            prices: kino_core::cost::PriceTable::with_rules(self.settings.prices.clone()),
            ..defaults
        };
        let downloads = kino_http::download_client(concat!("kino/", env!("CARGO_PKG_VERSION")))
            .map_err(client_error)?;
        Ok(Arc::new(Engine::new(ledger, providers, downloads, config)))
    }

    /// An engine that can follow the given providers' jobs.
    pub async fn engine_for<'a>(
        &mut self,
        providers: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<Engine>, CommandError> {
        let needs_sandbox = providers.into_iter().any(|p| p == SANDBOX);
        self.engine(needs_sandbox).await
    }

    /// xingyun3d, when its app id and secret are set.
    pub fn xingyun3d(&self) -> Result<Option<Xingyun3d>, CommandError> {
        match &self.settings.xingyun3d {
            Some(cfg) => Ok(Some(Xingyun3d::new(cfg.clone()).map_err(client_error)?)),
            None => Ok(None),
        }
    }

    /// skills.video with its catalog, when a key is set.
    pub async fn skillsvideo(&self) -> Result<Option<SkillsVideo>, CommandError> {
        let Some(key) = self.settings.skillsvideo_key.clone() else {
            return Ok(None);
        };
        let (catalog, _) = self.skillsvideo_catalog(false).await?;
        let mut config = SkillsVideoConfig::new(self.settings.skillsvideo_base.clone(), key);
        if let Some(stall) = self.settings.skillsvideo_stall {
            config.stall_after = stall;
        }
        Ok(Some(
            SkillsVideo::new(config, catalog).map_err(client_error)?,
        ))
    }

    /// Where the documents of the configured skills.video base URL are kept: one folder per
    /// base, so a sandbox's documents never stand in for the real platform's.
    fn skillsvideo_cache_dir(&self) -> std::path::PathBuf {
        let base: String = self
            .settings
            .skillsvideo_base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.settings.home.join("skillsvideo").join(base)
    }

    /// The skills.video models without going to the network: KINO_HOME's copy, else the
    /// snapshot (`kino providers` spends nothing and needs no network).
    pub fn skillsvideo_catalog_offline(&self) -> Catalog {
        let dir = self.skillsvideo_cache_dir();
        let read = |p: std::path::PathBuf| {
            std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        };
        let cached = read(dir.join("openapi.json"))
            .and_then(|o| Catalog::from_documents(&o, read(dir.join("docs.json")).as_ref()).ok());
        cached.unwrap_or_else(|| {
            let openapi: serde_json::Value =
                serde_json::from_str(SNAPSHOT_OPENAPI).unwrap_or_default();
            let docs: Option<serde_json::Value> = serde_json::from_str(SNAPSHOT_DOCS).ok();
            Catalog::from_documents(&openapi, docs.as_ref()).unwrap_or_default()
        })
    }

    /// The skills.video models: from KINO_HOME's copy of the platform's documents, fetched on
    /// first use (or with `refresh`), else the snapshot shipped in the binary. Returns where it
    /// came from.
    pub async fn skillsvideo_catalog(
        &self,
        refresh: bool,
    ) -> Result<(Catalog, String), CommandError> {
        let dir = self.skillsvideo_cache_dir();
        let (openapi_path, docs_path) = (dir.join("openapi.json"), dir.join("docs.json"));
        let read = |p: &std::path::Path| {
            std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        };
        if !refresh
            && let Some(openapi) = read(&openapi_path)
            && let Ok(c) = Catalog::from_documents(&openapi, read(&docs_path).as_ref())
        {
            return Ok((c, openapi_path.display().to_string()));
        }
        let agent = concat!("kino/", env!("CARGO_PKG_VERSION"));
        match fetch_documents(&self.settings.skillsvideo_base, agent).await {
            Ok((openapi, docs)) => {
                let catalog = match Catalog::from_documents(&openapi, docs.as_ref()) {
                    Ok(c) => c,
                    Err(e) if refresh => {
                        return Err(CommandError::new(ErrorKind::Unavailable, e.to_string()));
                    }
                    Err(e) => {
                        self.printer
                            .note(&format!("{e}; using the snapshot shipped with kino"));
                        return Ok((self.skillsvideo_catalog_offline(), "snapshot".into()));
                    }
                };
                let write = |p: &std::path::Path, v: &serde_json::Value| -> std::io::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    let tmp = p.with_extension(format!("json.{}.tmp", std::process::id()));
                    std::fs::write(&tmp, v.to_string())?;
                    std::fs::rename(&tmp, p)
                };
                // A cache that cannot be written costs a fetch next time, nothing more.
                let _ = docs
                    .as_ref()
                    .map_or(Ok(()), |d| write(&docs_path, d))
                    .and_then(|()| write(&openapi_path, &openapi));
                Ok((catalog, self.settings.skillsvideo_base.clone()))
            }
            Err(e) if refresh => {
                Err(CommandError::from(e).hint("the documents come from SKILLS_VIDEO_BASE_URL"))
            }
            Err(e) => {
                self.printer.note(&format!(
                    "skills.video documents unavailable ({e}); using the snapshot shipped with kino"
                ));
                let openapi: serde_json::Value =
                    serde_json::from_str(SNAPSHOT_OPENAPI).unwrap_or_default();
                let docs: Option<serde_json::Value> = serde_json::from_str(SNAPSHOT_DOCS).ok();
                let catalog = Catalog::from_documents(&openapi, docs.as_ref())
                    .map_err(|e| CommandError::new(ErrorKind::Internal, e.to_string()))?;
                Ok((catalog, "snapshot".into()))
            }
        }
    }

    /// Whether the provider can be used: credentials set (the sandbox needs none).
    pub fn has_credentials(&self, provider: &str) -> bool {
        match provider {
            DASHSCOPE => self.settings.dashscope_key.is_some(),
            XYQ => self.settings.xyq.is_some(),
            LIBTV => self.settings.libtv.is_some(),
            SKILLSVIDEO => self.settings.skillsvideo_key.is_some(),
            XINGYUN3D => self.settings.xingyun3d.is_some(),
            _ => true,
        }
    }

    pub fn missing_credentials(&self, provider: &str) -> CommandError {
        let var = match provider {
            XYQ => "XYQ_ACCESS_KEY",
            LIBTV => "LIBTV_ACCESS_KEY",
            SKILLSVIDEO => "SKILLS_VIDEO_API_KEY",
            XINGYUN3D => "XINGYUN3D_APP_ID and XINGYUN3D_APP_SECRET",
            _ => "DASHSCOPE_API_KEY (or QIANWEN_API_KEY)",
        };
        CommandError::new(ErrorKind::Config, format!("no credentials for `{provider}`"))
            .hint(format!("set {var} in the environment or in .env"))
            .hint("or try kino offline: `kino run sandbox \"a prompt\"` (DashScope), or serve `kino sandbox` and point the base URL at it")
    }
}

/// A pace (the least time between two requests) as whole requests per second; none is 0, no
/// bound.
fn per_second(pace: Option<&Duration>) -> u32 {
    pace.map_or(0, |pace| (1.0 / pace.as_secs_f64()).round().max(1.0) as u32)
}

#[cfg(test)]
mod per_second_tests {
    use super::*;

    #[test]
    fn the_process_bound_follows_the_fleet_pace() {
        let pace = |qps: u32| Duration::from_secs(1) / qps;
        assert_eq!(per_second(Some(&pace(18))), 18);
        // Regression: a pace above 18/s (an account with a higher quota, or none at all)
        // was still held to 18 task queries per second by each process.
        assert_eq!(per_second(Some(&pace(50))), 50);
        assert_eq!(per_second(Some(&Duration::from_secs(2))), 1);
        assert_eq!(per_second(None), 0);
    }
}
