//! The only place kino reads its environment (shared/design.md, "Configuration").

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kino_core::{ErrorKind, PollPolicy, Secret};
use kino_providers::libtv::LibTvConfig;
use kino_providers::xingyun3d::XingyunConfig;
use kino_providers::xyq::XyqConfig;
use serde_json::Map;

use crate::error::CommandError;
use crate::profiles::{Profile, TomlProfiles};

/// A DashScope account: key, API base (its region) and optional workspace.
#[derive(Clone, Debug)]
pub struct DashScopeAccount {
    pub key: Secret,
    pub base: String,
    pub workspace: Option<String>,
}

/// One set of accounts, one per provider at most: the environment's, or a profile's. What a
/// profile leaves out (base URLs, poll settings) is the environment's.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    pub dashscope: Option<DashScopeAccount>,
    /// skills.video's key and API base.
    pub skillsvideo: Option<(Secret, String)>,
    pub xyq: Option<XyqConfig>,
    pub libtv: Option<LibTvConfig>,
    pub xingyun3d: Option<XingyunConfig>,
}

impl Accounts {
    /// Whether there are credentials for `provider` (the sandbox needs none).
    pub fn has(&self, provider: &str) -> bool {
        let needs_account = matches!(
            provider,
            "dashscope" | "skillsvideo" | "xyq" | "libtv" | "xingyun3d"
        );
        !needs_account || self.base_url(provider).is_some()
    }

    /// The API base of `provider`'s account, when there is one.
    pub fn base_url(&self, provider: &str) -> Option<&str> {
        match provider {
            "dashscope" => self.dashscope.as_ref().map(|a| a.base.as_str()),
            "skillsvideo" => self.skillsvideo.as_ref().map(|(_, b)| b.as_str()),
            "xyq" => self.xyq.as_ref().map(|c| c.base_url.as_str()),
            "libtv" => self.libtv.as_ref().map(|c| c.base_url.as_str()),
            "xingyun3d" => self.xingyun3d.as_ref().map(|c| c.base_url.as_str()),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub home: PathBuf,
    /// KINO_LEDGER: a `postgres://` URL (a ledger shared by a fleet), or an SQLite path or
    /// `sqlite:` URL; default `KINO_HOME/ledger.sqlite`.
    pub ledger: Option<String>,
    /// KINO_<PROVIDER>_QPS: requests per second to a provider, across every process of the
    /// ledger. DashScope defaults to 18 (its limit is 20 task queries per second).
    pub paces: HashMap<String, Duration>,
    /// KINO_<PROVIDER>_CONCURRENCY: jobs in flight on a provider, across the fleet's workers.
    pub caps: Vec<(String, u32)>,
    /// KINO_LEASE_SECS: how long a dead worker's jobs wait before another takes them.
    pub lease: Option<Duration>,
    pub dashscope_key: Option<Secret>,
    pub dashscope_base: String,
    pub dashscope_workspace: Option<String>,
    /// Xiaoyunque, when XYQ_ACCESS_KEY is set.
    pub xyq: Option<XyqConfig>,
    /// LibTV, when LIBTV_ACCESS_KEY is set.
    pub libtv: Option<LibTvConfig>,
    /// skills.video's API base (its documents are public, so it is known without a key).
    pub skillsvideo_base: String,
    pub skillsvideo_key: Option<Secret>,
    /// xingyun3d, when XINGYUN3D_APP_ID and XINGYUN3D_APP_SECRET are set.
    pub xingyun3d: Option<XingyunConfig>,
    /// kino.toml `[defaults.PROVIDER]` (and the older `[xingyun3d]`): request fields used when
    /// a request leaves them out, by provider.
    pub defaults: BTreeMap<String, Map<String, serde_json::Value>>,
    /// The kino.toml each default came from, by `PROVIDER.KEY`.
    pub default_sources: BTreeMap<String, PathBuf>,
    /// kino.toml `[profiles.NAME]` as written (accounts, defaults, max_cost).
    pub profiles: BTreeMap<String, Profile>,
    /// Each profile's accounts, ready to use: what a profile leaves out is the environment's.
    pub profile_accounts: BTreeMap<String, Accounts>,
    /// The profile in use: `--profile`, else KINO_PROFILE, else kino.toml `profile`. `None`:
    /// the environment's credentials, as before profiles existed.
    pub profile: Option<String>,
    /// Where the profile in use was chosen (`--profile`, `environment`, `kino.toml (PATH)`).
    pub profile_source: Option<String>,
    /// KINO_SKILLSVIDEO_STALL_SECS: an event stream silent this long (no event, no keep-alive)
    /// is given up for polling.
    pub skillsvideo_stall: Option<Duration>,
    pub poll_override: Option<PollPolicy>,
    /// KINO_SERVE_TOKEN: the bearer token `kino serve` requires (mandatory off loopback).
    pub serve_token: Option<Secret>,
    /// KINO_FFMPEG, KINO_FFPROBE: the media tools' binaries (default: looked up on PATH).
    pub media_tools: kino_engine::media::Tools,
    pub cwd: PathBuf,
    /// The variables `.env` supplied (set there, not in the real environment): `kino config`
    /// names them as their source.
    pub dotenv_keys: Vec<String>,
    /// kino.toml `[[prices]]`: the current directory's first, then KINO_HOME's.
    pub prices: Vec<kino_core::cost::PriceRule>,
    /// kino.toml's top-level `profile`, with its file (a flag or KINO_PROFILE wins over it).
    toml_profile: Option<(String, PathBuf)>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn millis(name: &str) -> Result<Option<Duration>, CommandError> {
    match var(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| {
                CommandError::new(
                    ErrorKind::Config,
                    format!("invalid `{name}`: `{v}` is not a whole number of milliseconds"),
                )
            }),
    }
}

/// The first of `names` that is set, as a secret. A value no HTTP header can carry is refused
/// by name, never shown.
fn secret(names: &[&str]) -> Result<Option<Secret>, CommandError> {
    let Some((name, value)) = names.iter().find_map(|n| var(n).map(|v| (*n, v))) else {
        return Ok(None);
    };
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CommandError::new(
            ErrorKind::Config,
            format!(
                "{name} contains characters an API key cannot have (spaces or control characters)"
            ),
        )
        .hint("copy the key again from the console; kino never prints it"));
    }
    Ok(Some(Secret::new(value)))
}

fn number(name: &str) -> Result<Option<u64>, CommandError> {
    match var(name) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            CommandError::new(
                ErrorKind::Config,
                format!("invalid `{name}`: `{v}` is not a whole number"),
            )
        }),
    }
}

/// KINO_<PROVIDER>_QPS for every provider: the least time between two requests.
fn paces() -> Result<HashMap<String, Duration>, CommandError> {
    let mut paces = HashMap::new();
    paces.insert(
        crate::context::DASHSCOPE.to_string(),
        Duration::from_secs(1) / 18,
    );
    for provider in crate::context::PROVIDERS {
        let name = format!("KINO_{}_QPS", provider.to_ascii_uppercase());
        let Some(v) = var(&name) else { continue };
        match v.parse::<f64>() {
            // 0 turns the pace off; a pace needs a positive, finite rate whose interval a
            // Duration holds. Regression: `1e-300` panicked in `Duration::from_secs_f64`.
            Ok(0.0) => {
                paces.remove(*provider);
            }
            Ok(qps) if qps.is_finite() && qps > 0.0 => {
                let Ok(pace) = Duration::try_from_secs_f64(1.0 / qps) else {
                    return Err(CommandError::new(
                        ErrorKind::Config,
                        format!("invalid `{name}`: `{v}` requests per second is too slow a pace"),
                    )
                    .hint(format!("`{name}=0` turns the shared pace off")));
                };
                paces.insert(provider.to_string(), pace);
            }
            _ => {
                return Err(CommandError::new(
                    ErrorKind::Config,
                    format!(
                        "invalid `{name}`: `{v}` is not a positive number of requests per second"
                    ),
                )
                .hint(format!("`{name}=0` turns the shared pace off")));
            }
        }
    }
    Ok(paces)
}

/// KINO_<PROVIDER>_CONCURRENCY for every provider.
fn caps() -> Result<Vec<(String, u32)>, CommandError> {
    let mut caps = Vec::new();
    for provider in crate::context::PROVIDERS {
        let name = format!("KINO_{}_CONCURRENCY", provider.to_ascii_uppercase());
        if let Some(n) = number(&name)? {
            if n == 0 {
                return Err(CommandError::new(
                    ErrorKind::Config,
                    format!("invalid `{name}`: must be at least 1"),
                ));
            }
            caps.push((provider.to_string(), u32::try_from(n).unwrap_or(u32::MAX)));
        }
    }
    Ok(caps)
}

/// The keys of the `.env` file at `path` that the real environment does not set: the ones
/// loading it will supply.
fn dotenv_only_keys(path: &Path) -> Vec<String> {
    let Ok(iter) = dotenvy::from_path_iter(path) else {
        return Vec::new();
    };
    iter.filter_map(Result::ok)
        .map(|(k, _)| k)
        .filter(|k| std::env::var_os(k).is_none())
        .collect()
}

fn default_home() -> PathBuf {
    if let Some(x) = var("XDG_DATA_HOME") {
        return Path::new(&x).join("kino");
    }
    match var("HOME") {
        Some(h) => Path::new(&h).join(".local").join("share").join("kino"),
        None => PathBuf::from(".kino"),
    }
}

impl Settings {
    /// The settings with the profile `--profile` names (`flag`), else KINO_PROFILE's, else
    /// kino.toml's `profile`.
    pub fn load(flag: Option<&str>) -> Result<Self, CommandError> {
        let mut settings = Self::from_env()?;
        let (name, source) = match (flag, var("KINO_PROFILE")) {
            (Some(f), _) => (Some(f.trim().to_string()), Some("--profile".to_string())),
            (None, Some(v)) => (Some(v), Some("environment (KINO_PROFILE)".to_string())),
            (None, None) => match &settings.toml_profile {
                Some((n, path)) => (
                    Some(n.clone()),
                    Some(format!("kino.toml ({})", path.display())),
                ),
                None => (None, None),
            },
        };
        if let Some(name) = &name
            && !settings.profiles.contains_key(name)
        {
            let known: Vec<&str> = settings.profiles.keys().map(String::as_str).collect();
            let from = source.clone().unwrap_or_default();
            return Err(CommandError::new(
                ErrorKind::Config,
                format!(
                    "unknown profile `{name}` (from {from}); {}",
                    if known.is_empty() {
                        "kino.toml defines none".to_string()
                    } else {
                        format!("kino.toml defines: {}", known.join(", "))
                    }
                ),
            )
            .hint("a profile is a [profiles.NAME.PROVIDER] table in KINO_HOME/kino.toml or ./kino.toml; `kino config` lists them"));
        }
        settings.profile = name;
        settings.profile_source = source;
        Ok(settings)
    }

    fn from_env() -> Result<Self, CommandError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        // `.env` in the current directory, as the seed scripts read it; real variables win.
        let dotenv_keys = dotenv_only_keys(&cwd.join(".env"));
        let _ = dotenvy::from_path(cwd.join(".env"));
        let dashscope_key = secret(&["DASHSCOPE_API_KEY", "QIANWEN_API_KEY"])?;
        let xyq = match secret(&["XYQ_ACCESS_KEY"])? {
            None => None,
            Some(key) => {
                let base = var("XYQ_OPENAPI_BASE")
                    .or_else(|| var("XYQ_BASE_URL"))
                    .unwrap_or_else(|| kino_providers::xyq::DEFAULT_BASE_URL.into());
                let mut c = XyqConfig::new(base, key);
                if let Some(s) = number("KINO_XYQ_POLL_SECS")? {
                    c.poll_every = Duration::from_secs(s.max(1));
                }
                if let Some(h) = number("KINO_XYQ_TIMEOUT_HOURS")? {
                    c.give_up_after =
                        Duration::from_secs(h.clamp(1, 24 * 365).saturating_mul(3600));
                }
                if let Some(n) = number("KINO_XYQ_MAX_FAILURES")? {
                    c.max_failures = n.clamp(1, 1000) as u32;
                }
                Some(c)
            }
        };
        let libtv = match secret(&["LIBTV_ACCESS_KEY"])? {
            None => None,
            Some(key) => {
                let base = var("OPENAPI_IM_BASE")
                    .or_else(|| var("IM_BASE_URL"))
                    .unwrap_or_else(|| kino_providers::libtv::DEFAULT_BASE_URL.into());
                let mut c = LibTvConfig::new(base, key);
                if let Some(s) = number("KINO_LIBTV_POLL_SECS")? {
                    c.poll_every = Duration::from_secs(s.max(1));
                }
                if let Some(h) = number("KINO_LIBTV_TIMEOUT_HOURS")? {
                    c.give_up_after =
                        Duration::from_secs(h.clamp(1, 24 * 365).saturating_mul(3600));
                }
                Some(c)
            }
        };
        let skillsvideo_key = secret(&["SKILLS_VIDEO_API_KEY"])?;
        let xingyun3d = match (var("XINGYUN3D_APP_ID"), secret(&["XINGYUN3D_APP_SECRET"])?) {
            (Some(app), Some(secret)) => {
                let base = var("XINGYUN3D_BASE_URL")
                    .unwrap_or_else(|| kino_providers::xingyun3d::DEFAULT_BASE_URL.into());
                Some(XingyunConfig::new(base, app, secret))
            }
            _ => None,
        };
        let skillsvideo_base = var("SKILLS_VIDEO_BASE_URL")
            .unwrap_or_else(|| kino_providers::skillsvideo::DEFAULT_BASE_URL.into());
        let initial = millis("KINO_POLL_INITIAL_MS")?;
        let max = millis("KINO_POLL_MAX_MS")?;
        let poll_override = match (initial, max) {
            (None, None) => None,
            (i, m) => {
                let initial = i.unwrap_or(Duration::from_secs(2));
                Some(PollPolicy {
                    initial,
                    max: m
                        .unwrap_or(initial.max(Duration::from_secs(15)))
                        .max(initial),
                    factor: 1.5,
                })
            }
        };
        let mut settings = Self {
            home: var("KINO_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(default_home),
            ledger: var("KINO_LEDGER"),
            paces: paces()?,
            caps: caps()?,
            lease: number("KINO_LEASE_SECS")?.map(|s| Duration::from_secs(s.clamp(2, 3600))),
            dashscope_key,
            dashscope_base: var("DASHSCOPE_HTTP_BASE_URL")
                .unwrap_or_else(|| kino_providers::dashscope::DEFAULT_BASE_URL.to_string()),
            dashscope_workspace: var("DASHSCOPE_WORKSPACE"),
            xyq,
            libtv,
            skillsvideo_base,
            skillsvideo_key,
            xingyun3d,
            defaults: BTreeMap::new(),
            default_sources: BTreeMap::new(),
            profiles: BTreeMap::new(),
            profile_accounts: BTreeMap::new(),
            profile: None,
            profile_source: None,
            toml_profile: None,
            serve_token: secret(&["KINO_SERVE_TOKEN"])?,
            skillsvideo_stall: number("KINO_SKILLSVIDEO_STALL_SECS")?
                .map(|s| Duration::from_secs(s.clamp(1, 3600))),
            poll_override,
            media_tools: kino_engine::media::Tools {
                ffmpeg: var("KINO_FFMPEG").map_or_else(|| "ffmpeg".into(), PathBuf::from),
                ffprobe: var("KINO_FFPROBE").map_or_else(|| "ffprobe".into(), PathBuf::from),
            },
            cwd,
            dotenv_keys,
            prices: Vec::new(),
        };
        settings.load_toml()?;
        Ok(settings)
    }

    /// Defaults from kino.toml: KINO_HOME's, then the current directory's (which wins).
    fn load_toml(&mut self) -> Result<(), CommandError> {
        let mut profiles = TomlProfiles::default();
        for path in [self.home.join("kino.toml"), self.cwd.join("kino.toml")] {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let doc: toml::Table = text.parse().map_err(|e| {
                CommandError::new(
                    ErrorKind::Config,
                    format!("{} is not valid TOML: {e}", path.display()),
                )
            })?;
            if let Some(prices) = doc.get("prices") {
                // The directory's file is read last and wins, so its lines go first.
                let mut rules = crate::prices::parse(prices, &path)?;
                rules.append(&mut self.prices);
                self.prices = rules;
            }
            profiles.read(&doc, &path, &var)?;
        }
        self.profile_accounts = profiles
            .profiles
            .iter()
            .map(|(name, p)| (name.clone(), self.accounts_of(p)))
            .collect();
        self.defaults = profiles.defaults;
        self.default_sources = profiles.default_sources;
        self.profiles = profiles.profiles;
        self.toml_profile = profiles.selected;
        Ok(())
    }

    /// The environment's accounts (what kino used before profiles, and still does without one).
    pub fn env_accounts(&self) -> Accounts {
        Accounts {
            dashscope: self.dashscope_key.clone().map(|key| DashScopeAccount {
                key,
                base: self.dashscope_base.clone(),
                workspace: self.dashscope_workspace.clone(),
            }),
            skillsvideo: self
                .skillsvideo_key
                .clone()
                .map(|k| (k, self.skillsvideo_base.clone())),
            xyq: self.xyq.clone(),
            libtv: self.libtv.clone(),
            xingyun3d: self.xingyun3d.clone(),
        }
    }

    /// A profile's accounts: its own secrets and bases; the environment's base URLs and poll
    /// settings where it gives none (a profile is another account, usually on the same region).
    fn accounts_of(&self, p: &Profile) -> Accounts {
        let table = |provider: &str| {
            p.accounts
                .get(provider)
                .and_then(|a| a.secret.clone().map(|s| (a, s)))
        };
        let env_or = |name: &str, fallback: &str| var(name).unwrap_or_else(|| fallback.into());
        let xyq = table("xyq").map(|(a, key)| {
            let mut c = self.xyq.clone().unwrap_or_else(|| {
                let mut c = XyqConfig::new(String::new(), key.clone());
                c.base_url = var("XYQ_OPENAPI_BASE")
                    .or_else(|| var("XYQ_BASE_URL"))
                    .unwrap_or_else(|| kino_providers::xyq::DEFAULT_BASE_URL.into());
                c
            });
            c.access_key = key;
            if let Some(b) = &a.base_url {
                c.base_url = b.clone();
            }
            c
        });
        let libtv = table("libtv").map(|(a, key)| {
            let mut c = self.libtv.clone().unwrap_or_else(|| {
                let mut c = LibTvConfig::new(String::new(), key.clone());
                c.base_url = var("OPENAPI_IM_BASE")
                    .or_else(|| var("IM_BASE_URL"))
                    .unwrap_or_else(|| kino_providers::libtv::DEFAULT_BASE_URL.into());
                c
            });
            c.access_key = key;
            if let Some(b) = &a.base_url {
                c.base_url = b.clone();
            }
            c
        });
        let xingyun3d = table("xingyun3d").and_then(|(a, secret)| {
            let app = a.app_id.clone()?;
            let base = a.base_url.clone().unwrap_or_else(|| {
                env_or(
                    "XINGYUN3D_BASE_URL",
                    kino_providers::xingyun3d::DEFAULT_BASE_URL,
                )
            });
            Some(XingyunConfig::new(base, app, secret))
        });
        Accounts {
            dashscope: table("dashscope").map(|(a, key)| DashScopeAccount {
                key,
                base: a
                    .base_url
                    .clone()
                    .unwrap_or_else(|| self.dashscope_base.clone()),
                workspace: a
                    .workspace
                    .clone()
                    .or_else(|| self.dashscope_workspace.clone()),
            }),
            skillsvideo: table("skillsvideo").map(|(a, key)| {
                (
                    key,
                    a.base_url
                        .clone()
                        .unwrap_or_else(|| self.skillsvideo_base.clone()),
                )
            }),
            xyq,
            libtv,
            xingyun3d,
        }
    }

    /// The accounts of `profile` (`None`: the environment's).
    pub fn accounts(&self, profile: Option<&str>) -> Accounts {
        match profile {
            None => self.env_accounts(),
            Some(p) => self.profile_accounts.get(p).cloned().unwrap_or_default(),
        }
    }

    /// The accounts new jobs use: the selected profile's, else the environment's.
    pub fn selected_accounts(&self) -> Accounts {
        self.accounts(self.profile.as_deref())
    }

    /// The selected profile's `max_cost`, as written ("5 CNY", "200 credits").
    pub fn profile_max_cost(&self) -> &[String] {
        self.profile
            .as_deref()
            .and_then(|p| self.profiles.get(p))
            .map_or(&[], |p| p.max_cost.as_slice())
    }

    /// kino.toml's request defaults, for the engine.
    pub fn request_defaults(&self) -> kino_core::RequestDefaults {
        let to_map = |m: &BTreeMap<String, Map<String, serde_json::Value>>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>()
        };
        kino_core::RequestDefaults {
            common: to_map(&self.defaults),
            profiles: self
                .profiles
                .iter()
                .map(|(name, p)| (name.clone(), to_map(&p.defaults)))
                .collect(),
        }
    }

    /// Where the ledger is: a PostgreSQL URL, or the SQLite file.
    pub fn ledger_location(&self) -> String {
        match &self.ledger {
            None => self.home.join("ledger.sqlite").display().to_string(),
            Some(url) if kino_ledger::PgLedger::is_url(url) => url.clone(),
            Some(url) => url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url)
                .to_string(),
        }
    }

    /// True when the ledger is shared by a fleet (PostgreSQL): `kino submit` hands jobs to it.
    pub fn shared_ledger(&self) -> bool {
        self.ledger
            .as_deref()
            .is_some_and(kino_ledger::PgLedger::is_url)
    }
}
