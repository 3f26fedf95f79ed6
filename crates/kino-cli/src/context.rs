//! Builds the engine a command needs from the settings: the ledger, the configured providers,
//! and the embedded sandbox when a job runs there.

use std::collections::HashMap;
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
use crate::settings::{Accounts, Settings};

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

    /// Where the dashboard's thumbnails are kept: `thumbs/` beside an SQLite ledger, and in
    /// KINO_HOME with a PostgreSQL one, whose machines each make their own from local files.
    pub fn thumbs_dir(&self) -> std::path::PathBuf {
        let location = self.settings.ledger_location();
        let beside = (!self.settings.shared_ledger())
            .then(|| std::path::Path::new(&location).parent())
            .flatten()
            .filter(|d| !d.as_os_str().is_empty());
        beside.unwrap_or(&self.settings.home).join("thumbs")
    }

    /// The provider jobs go to when none is named.
    pub fn default_provider(&self) -> &'static str {
        if self.settings.selected_accounts().dashscope.is_some() {
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

    /// The adapters of one set of accounts (the environment's or a profile's).
    async fn adapters(&self, accounts: &Accounts) -> Result<Vec<Arc<dyn Provider>>, CommandError> {
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        if let Some(a) = &accounts.dashscope {
            let mut cfg = DashScopeConfig::new(a.base.clone(), a.key.clone());
            cfg.workspace = a.workspace.clone();
            // The process keeps the same rate as the fleet (KINO_DASHSCOPE_QPS): an account
            // with a higher quota is not held to the default, and 0 lifts both bounds.
            cfg.queries_per_second = per_second(self.settings.paces.get(DASHSCOPE));
            providers.push(Arc::new(DashScope::new(cfg).map_err(client_error)?));
        }
        if let Some(cfg) = &accounts.xyq {
            providers.push(Arc::new(Xyq::new(cfg.clone()).map_err(client_error)?));
        }
        if let Some(cfg) = &accounts.libtv {
            providers.push(Arc::new(LibTv::new(cfg.clone()).map_err(client_error)?));
        }
        if let Some((key, base)) = &accounts.skillsvideo {
            providers.push(Arc::new(self.skillsvideo_with(key.clone(), base).await?));
        }
        if let Some(cfg) = &accounts.xingyun3d {
            providers.push(Arc::new(Xingyun3d::new(cfg.clone()).map_err(client_error)?));
        }
        Ok(providers)
    }

    /// An engine with the environment's accounts, every kino.toml profile's (a job is followed
    /// with the account that made it, whichever profile is selected now) and, if `with_sandbox`,
    /// the embedded sandbox.
    pub async fn engine(&mut self, with_sandbox: bool) -> Result<Arc<Engine>, CommandError> {
        let ledger = self.ledger().await?;
        let mut providers = self.adapters(&self.settings.env_accounts()).await?;
        let mut poll_override = self.settings.poll_override;
        let mut sandbox: Option<Arc<dyn Provider>> = None;
        if with_sandbox {
            let base = self.embedded_sandbox().await?;
            let cfg = DashScopeConfig::new(base, Secret::new("sk-kino-embedded-sandbox"));
            let adapter: Arc<dyn Provider> =
                Arc::new(DashScope::new(cfg).map_err(client_error)?.with_id(SANDBOX));
            providers.push(adapter.clone());
            sandbox = Some(adapter);
            // A local emulator answers at once: poll it briskly.
            poll_override = poll_override.or(Some(PollPolicy {
                initial: Duration::from_millis(300),
                max: Duration::from_secs(1),
                factor: 1.5,
            }));
        }
        let defaults = EngineConfig::default();
        let mut profile_limits = HashMap::new();
        for (name, profile) in &self.settings.profiles {
            let budget = crate::budget::budget(
                false,
                &profile
                    .max_cost
                    .iter()
                    .map(|l| (l.clone(), format!("profile {name}")))
                    .collect::<Vec<_>>(),
            )?;
            profile_limits.insert(name.clone(), budget.caps());
        }
        let config = EngineConfig {
            profile_limits,
            default_out_dir: self.settings.cwd.clone(),
            poll_override,
            paces: self.settings.paces.clone(),
            lease: self.settings.lease.unwrap_or(defaults.lease),
            prices: kino_core::cost::PriceTable::with_rules(self.settings.prices.clone()),
            profile: self.settings.profile.clone(),
            defaults: self.settings.request_defaults(),
            media_tools: Some(self.settings.media_tools.clone()),
            thumbs_dir: Some(self.thumbs_dir()),
            ..defaults
        };
        let downloads = kino_http::download_client(concat!("kino/", env!("CARGO_PKG_VERSION")))
            .map_err(client_error)?;
        let mut engine = Engine::new(ledger, providers, downloads, config);
        for (name, accounts) in &self.settings.profile_accounts {
            let mut adapters = self.adapters(accounts).await?;
            // The sandbox needs no account: it is the same under every profile.
            adapters.extend(sandbox.clone());
            engine = engine.with_profile(name, adapters);
        }
        Ok(Arc::new(engine))
    }

    /// An engine that can follow the given providers' jobs.
    pub async fn engine_for<'a>(
        &mut self,
        providers: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<Engine>, CommandError> {
        let needs_sandbox = providers.into_iter().any(|p| p == SANDBOX);
        self.engine(needs_sandbox).await
    }

    /// xingyun3d with the account of `profile` (`None`: the environment's), when it has one.
    pub fn xingyun3d(&self, profile: Option<&str>) -> Result<Option<Xingyun3d>, CommandError> {
        match &self.settings.accounts(profile).xingyun3d {
            Some(cfg) => Ok(Some(Xingyun3d::new(cfg.clone()).map_err(client_error)?)),
            None => Ok(None),
        }
    }

    /// skills.video with its catalog and the selected account, when it has a key.
    pub async fn skillsvideo(&self) -> Result<Option<SkillsVideo>, CommandError> {
        match self.settings.selected_accounts().skillsvideo {
            Some((key, base)) => Ok(Some(self.skillsvideo_with(key, &base).await?)),
            None => Ok(None),
        }
    }

    async fn skillsvideo_with(&self, key: Secret, base: &str) -> Result<SkillsVideo, CommandError> {
        let (catalog, _) = self.skillsvideo_catalog_at(base, false).await?;
        let mut config = SkillsVideoConfig::new(base.to_string(), key);
        if let Some(stall) = self.settings.skillsvideo_stall {
            config.stall_after = stall;
        }
        SkillsVideo::new(config, catalog).map_err(client_error)
    }

    /// The skills.video API base of the selected account (its documents are public, so it is
    /// known without a key).
    fn skillsvideo_base(&self) -> String {
        self.settings
            .selected_accounts()
            .skillsvideo
            .map_or_else(|| self.settings.skillsvideo_base.clone(), |(_, b)| b)
    }

    /// Where the documents of the configured skills.video base URL are kept: one folder per
    /// base, so a sandbox's documents never stand in for the real platform's.
    fn skillsvideo_cache_dir(&self, base: &str) -> std::path::PathBuf {
        let base: String = base
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
        let dir = self.skillsvideo_cache_dir(&self.skillsvideo_base());
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
        self.skillsvideo_catalog_at(&self.skillsvideo_base(), refresh)
            .await
    }

    async fn skillsvideo_catalog_at(
        &self,
        base: &str,
        refresh: bool,
    ) -> Result<(Catalog, String), CommandError> {
        let dir = self.skillsvideo_cache_dir(base);
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
        match fetch_documents(base, agent).await {
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
                Ok((catalog, base.to_string()))
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

    /// Whether the provider can be used with the selected account (the sandbox needs none).
    pub fn has_credentials(&self, provider: &str) -> bool {
        self.settings.selected_accounts().has(provider)
    }

    /// Whether the account of `profile` (`None`: the environment's) can use the provider.
    pub fn has_account(&self, provider: &str, profile: Option<&str>) -> bool {
        self.settings.accounts(profile).has(provider)
    }

    pub fn missing_credentials(&self, provider: &str) -> CommandError {
        self.missing_account(provider, self.settings.profile.as_deref())
    }

    /// No credentials for `provider` in the account of `profile`, with what to set.
    pub fn missing_account(&self, provider: &str, profile: Option<&str>) -> CommandError {
        if let Some(name) = profile {
            let key = crate::profiles::secret_key(provider);
            let why = self
                .settings
                .profiles
                .get(name)
                .and_then(|p| p.accounts.get(provider))
                .map(|a| format!(" ({})", a.secret_source))
                .unwrap_or_default();
            return CommandError::new(
                ErrorKind::Config,
                format!("no credentials for `{provider}` in profile `{name}`{why}"),
            )
            .hint(format!(
                "add `{key}` or `{key}_env` to [profiles.{name}.{provider}] in kino.toml; `kino config` shows each profile's accounts"
            ));
        }
        let var = match provider {
            XYQ => "XYQ_ACCESS_KEY",
            LIBTV => "LIBTV_ACCESS_KEY",
            SKILLSVIDEO => "SKILLS_VIDEO_API_KEY",
            XINGYUN3D => "XINGYUN3D_APP_ID and XINGYUN3D_APP_SECRET",
            _ => "DASHSCOPE_API_KEY (or QIANWEN_API_KEY)",
        };
        CommandError::new(ErrorKind::Config, format!("no credentials for `{provider}`"))
            .hint(format!("set {var} in the environment or in .env, or choose a kino.toml profile with --profile"))
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
