//! kino.toml's profiles (several accounts per provider) and request defaults:
//!
//! ```toml
//! profile = "work"                      # used when neither --profile nor KINO_PROFILE names one
//! [defaults.dashscope]                  # any flat request field; the command line wins
//! resolution = "720P"
//! [profiles.work.dashscope]
//! api_key_env = "WORK_DASHSCOPE_KEY"    # or api_key = "sk-…"
//! [profiles.work.defaults.dashscope]    # over [defaults.dashscope] for this profile
//! duration = 10
//! [profiles.work]
//! max_cost = ["5 CNY", "200 credits"]
//! ```
//!
//! Parsing is kept apart from the environment: the `_env` indirections are read through the
//! `env` function the caller passes (settings.rs, the one env reader; the tests pass a map).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kino_core::{ErrorKind, Secret};
use serde_json::{Map, Value};

use crate::error::CommandError;

/// The providers a profile can hold an account of (the sandbox needs none).
pub const ACCOUNT_PROVIDERS: &[&str] = &["dashscope", "skillsvideo", "xyq", "libtv", "xingyun3d"];

/// The name of a provider's secret in a profile table (the seed scripts' word for it).
pub fn secret_key(provider: &str) -> &'static str {
    match provider {
        "xyq" | "libtv" => "access_key",
        "xingyun3d" => "app_secret",
        _ => "api_key",
    }
}

/// The keys a provider's account table accepts.
fn account_keys(provider: &str) -> &'static [&'static str] {
    match provider {
        "dashscope" => &["api_key", "api_key_env", "base_url", "workspace"],
        "skillsvideo" => &["api_key", "api_key_env", "base_url"],
        "xyq" | "libtv" => &["access_key", "access_key_env", "base_url"],
        _ => &["app_id", "app_secret", "app_secret_env", "base_url"],
    }
}

/// One account as a profile table gives it; what it leaves out comes from the environment's
/// settings (base URLs, poll settings) when the account is built.
#[derive(Clone, Debug, Default)]
pub struct AccountTable {
    /// The API key, access key or app secret; `None` when not given or its variable is unset.
    pub secret: Option<Secret>,
    /// Where the secret came from (`kino.toml (PATH)`, `environment (VAR)`), or why it is
    /// missing (`VAR is not set`). Never the value.
    pub secret_source: String,
    pub base_url: Option<String>,
    pub workspace: Option<String>,
    pub app_id: Option<String>,
    /// The file that defined the table.
    pub source: PathBuf,
}

/// A profile: one account per provider, request defaults, and spending limits.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub accounts: BTreeMap<String, AccountTable>,
    /// `[profiles.NAME.defaults.PROVIDER]`, over `[defaults.PROVIDER]`.
    pub defaults: BTreeMap<String, Map<String, Value>>,
    /// `max_cost`: limits such as "5 CNY" or "200 credits", kept as written (the budget reads
    /// them).
    pub max_cost: Vec<String>,
    /// The file that last defined something of the profile.
    pub source: PathBuf,
}

/// Everything kino.toml says about profiles and defaults, merged over the files read (the
/// later file wins: key by key for defaults, whole account tables for accounts, because a key
/// from one file and a base URL from another would mix two accounts).
#[derive(Clone, Debug, Default)]
pub struct TomlProfiles {
    /// Top-level `profile = "NAME"`, with its file.
    pub selected: Option<(String, PathBuf)>,
    pub profiles: BTreeMap<String, Profile>,
    /// `[defaults.PROVIDER]` (and the older `[xingyun3d]` table), by provider.
    pub defaults: BTreeMap<String, Map<String, Value>>,
    /// The file each default came from, by `PROVIDER.KEY`.
    pub default_sources: BTreeMap<String, PathBuf>,
}

fn config_error(message: String) -> CommandError {
    CommandError::new(ErrorKind::Config, message)
}

/// A profile name goes into the ledger and onto command lines: letters, digits, `-`, `_`, `.`.
fn check_name(name: &str, path: &Path) -> Result<(), CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(config_error(format!(
            "{}: profile name `{name}` may hold only letters, digits, `-`, `_` and `.` (at most 64)",
            path.display()
        )))
    }
}

/// A secret no HTTP header can carry is refused by where it came from, never shown.
fn check_secret(value: &str, origin: &str) -> Result<(), CommandError> {
    if value.chars().all(|c| c.is_ascii_graphic()) {
        return Ok(());
    }
    Err(config_error(format!(
        "{origin} contains characters an API key cannot have (spaces or control characters)"
    ))
    .hint("copy the key again from the console; kino never prints it"))
}

fn string(value: &toml::Value, origin: &str) -> Result<String, CommandError> {
    value
        .as_str()
        .map(|s| s.trim().to_string())
        .ok_or_else(|| config_error(format!("{origin} must be a string")))
}

fn table<'a>(value: &'a toml::Value, origin: &str) -> Result<&'a toml::Table, CommandError> {
    value
        .as_table()
        .ok_or_else(|| config_error(format!("{origin} must be a table")))
}

fn defaults_table(
    value: &toml::Value,
    origin: &str,
    into: &mut Map<String, Value>,
    mut note: impl FnMut(&str),
) -> Result<(), CommandError> {
    for (key, v) in table(value, origin)? {
        let json =
            serde_json::to_value(v).map_err(|e| config_error(format!("{origin} {key}: {e}")))?;
        into.insert(key.clone(), json);
        note(key);
    }
    Ok(())
}

impl TomlProfiles {
    /// Reads one kino.toml's `profile`, `[defaults.*]`, `[xingyun3d]` and `[profiles.*]` over
    /// what earlier files gave.
    pub fn read(
        &mut self,
        doc: &toml::Table,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), CommandError> {
        let file = path.display();
        if let Some(v) = doc.get("profile") {
            let name = string(v, &format!("{file}: `profile`"))?;
            check_name(&name, path)?;
            self.selected = Some((name, path.to_path_buf()));
        }
        // `[xingyun3d]` is the older spelling of `[defaults.xingyun3d]`; both keep working.
        if let Some(v) = doc.get("xingyun3d") {
            self.read_defaults("xingyun3d", v, &format!("{file}: [xingyun3d]"), path)?;
        }
        if let Some(v) = doc.get("defaults") {
            for (provider, t) in table(v, &format!("{file}: [defaults]"))? {
                let origin = format!("{file}: [defaults.{provider}]");
                if !crate::context::PROVIDERS.contains(&provider.as_str()) {
                    return Err(unknown_provider(&origin, provider));
                }
                self.read_defaults(provider, t, &origin, path)?;
            }
        }
        if let Some(v) = doc.get("profiles") {
            for (name, body) in table(v, &format!("{file}: [profiles]"))? {
                check_name(name, path)?;
                self.read_profile(name, body, path, env)?;
            }
        }
        Ok(())
    }

    fn read_defaults(
        &mut self,
        provider: &str,
        value: &toml::Value,
        origin: &str,
        path: &Path,
    ) -> Result<(), CommandError> {
        let into = self.defaults.entry(provider.to_string()).or_default();
        let sources = &mut self.default_sources;
        defaults_table(value, origin, into, |key| {
            sources.insert(format!("{provider}.{key}"), path.to_path_buf());
        })
    }

    fn read_profile(
        &mut self,
        name: &str,
        body: &toml::Value,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), CommandError> {
        let file = path.display();
        let origin = format!("{file}: [profiles.{name}]");
        let body = table(body, &origin)?;
        let profile = self.profiles.entry(name.to_string()).or_default();
        profile.source = path.to_path_buf();
        for (key, value) in body {
            match key.as_str() {
                "max_cost" => {
                    let origin = format!("{origin} max_cost");
                    profile.max_cost = match value {
                        toml::Value::String(s) => vec![s.trim().to_string()],
                        toml::Value::Array(items) => items
                            .iter()
                            .map(|i| string(i, &format!("each of {origin}")))
                            .collect::<Result<_, _>>()?,
                        _ => {
                            return Err(config_error(format!(
                                "{origin} must be a string (\"5 CNY\") or a list of them"
                            )));
                        }
                    };
                }
                "defaults" => {
                    for (provider, t) in table(value, &format!("{origin}.defaults"))? {
                        let origin = format!("{file}: [profiles.{name}.defaults.{provider}]");
                        if !crate::context::PROVIDERS.contains(&provider.as_str()) {
                            return Err(unknown_provider(&origin, provider));
                        }
                        let into = profile.defaults.entry(provider.clone()).or_default();
                        defaults_table(t, &origin, into, |_| {})?;
                    }
                }
                provider if ACCOUNT_PROVIDERS.contains(&provider) => {
                    let origin = format!("{file}: [profiles.{name}.{provider}]");
                    let account = account(provider, table(value, &origin)?, &origin, path, env)?;
                    profile.accounts.insert(provider.to_string(), account);
                }
                other => {
                    return Err(config_error(format!(
                        "{origin}: unknown key `{other}` (expected {}, defaults or max_cost)",
                        ACCOUNT_PROVIDERS.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

fn unknown_provider(origin: &str, provider: &str) -> CommandError {
    config_error(format!(
        "{origin}: unknown provider `{provider}` (one of: {})",
        crate::context::PROVIDERS.join(", ")
    ))
}

/// One `[profiles.NAME.PROVIDER]` table. Unknown keys are refused: a misspelt `api_kye` would
/// otherwise leave the account without a key, or worse, on another account.
fn account(
    provider: &str,
    t: &toml::Table,
    origin: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AccountTable, CommandError> {
    let allowed = account_keys(provider);
    for key in t.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(config_error(format!(
                "{origin}: unknown key `{key}` (expected one of: {})",
                allowed.join(", ")
            )));
        }
    }
    let get = |key: &str| {
        t.get(key)
            .map(|v| string(v, &format!("{origin} {key}")))
            .transpose()
    };
    let secret_name = secret_key(provider);
    let indirect_name = format!("{secret_name}_env");
    let mut account = AccountTable {
        source: path.to_path_buf(),
        base_url: get("base_url")?.filter(|s| !s.is_empty()),
        workspace: get("workspace")?.filter(|s| !s.is_empty()),
        app_id: get("app_id")?.filter(|s| !s.is_empty()),
        ..AccountTable::default()
    };
    match (get(secret_name)?, get(&indirect_name)?) {
        (Some(_), Some(_)) => {
            return Err(config_error(format!(
                "{origin}: give `{secret_name}` or `{indirect_name}`, not both"
            )));
        }
        (Some(value), None) => {
            check_secret(&value, &format!("{origin} {secret_name}"))?;
            if !value.is_empty() {
                account.secret = Some(Secret::new(value));
            }
            account.secret_source = format!("kino.toml ({})", path.display());
        }
        (None, Some(var)) => match env(&var) {
            Some(value) => {
                check_secret(&value, &var)?;
                account.secret = Some(Secret::new(value));
                account.secret_source = format!("environment ({var})");
            }
            // An unset variable leaves the account without its secret: using it says so, and
            // a profile that is only kept for its old jobs does not stop every command.
            None => account.secret_source = format!("{var} is not set"),
        },
        (None, None) => account.secret_source = format!("no `{secret_name}` in {origin}"),
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn read(text: &str, env: &[(&str, &str)]) -> Result<TomlProfiles, CommandError> {
        let vars: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut p = TomlProfiles::default();
        p.read(
            &text.parse::<toml::Table>().unwrap(),
            Path::new("/cfg/kino.toml"),
            &|k| vars.get(k).cloned(),
        )?;
        Ok(p)
    }

    #[test]
    fn profiles_hold_an_account_per_provider_defaults_and_limits() {
        let p = read(
            r#"
profile = "work"
[xingyun3d]
look_name = "AM054"
[defaults.dashscope]
model = "wan2.6-t2v"
duration = 5
[profiles.work]
max_cost = ["5 CNY", "200 credits"]
[profiles.work.dashscope]
api_key = "sk-work-secret"
base_url = "https://dashscope-intl.aliyuncs.com/api/v1"
workspace = "ws-1"
[profiles.work.defaults.dashscope]
duration = 10
[profiles.play]
max_cost = "1 CNY"
[profiles.play.xyq]
access_key_env = "PLAY_XYQ"
[profiles.play.xingyun3d]
app_id = "app"
app_secret_env = "UNSET_VAR"
"#,
            &[("PLAY_XYQ", "xyq-play-secret")],
        )
        .unwrap();
        assert_eq!(p.selected.as_ref().unwrap().0, "work");
        assert_eq!(p.defaults["xingyun3d"]["look_name"], "AM054");
        assert_eq!(p.defaults["dashscope"]["duration"], 5);
        assert_eq!(
            p.default_sources["dashscope.model"],
            PathBuf::from("/cfg/kino.toml")
        );
        let work = &p.profiles["work"];
        assert_eq!(work.max_cost, ["5 CNY", "200 credits"]);
        let ds = &work.accounts["dashscope"];
        assert_eq!(ds.secret.as_ref().unwrap().expose(), "sk-work-secret");
        assert_eq!(ds.secret_source, "kino.toml (/cfg/kino.toml)");
        assert_eq!(ds.workspace.as_deref(), Some("ws-1"));
        assert_eq!(work.defaults["dashscope"]["duration"], json!(10));
        let play = &p.profiles["play"];
        assert_eq!(play.max_cost, ["1 CNY"]);
        let xyq = &play.accounts["xyq"];
        assert_eq!(xyq.secret.as_ref().unwrap().expose(), "xyq-play-secret");
        assert_eq!(xyq.secret_source, "environment (PLAY_XYQ)");
        let xy = &play.accounts["xingyun3d"];
        assert!(xy.secret.is_none());
        assert_eq!(xy.secret_source, "UNSET_VAR is not set");
        assert_eq!(xy.app_id.as_deref(), Some("app"));
    }

    #[test]
    fn an_unknown_key_is_a_configuration_error_naming_file_table_and_key() {
        let e = read("[profiles.work.dashscope]\napi_kye = \"sk-x\"\n", &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        for part in ["/cfg/kino.toml", "[profiles.work.dashscope]", "`api_kye`"] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        assert!(!e.message.contains("sk-x"), "{}", e.message);
        let e = read("[profiles.work]\ncolour = 1\n", &[]).unwrap_err();
        assert!(e.message.contains("`colour`"), "{}", e.message);
        let e = read("[profiles.work.runway]\napi_key = \"k\"\n", &[]).unwrap_err();
        assert!(e.message.contains("`runway`"), "{}", e.message);
        let e = read("[defaults.runway]\nmodel = \"m\"\n", &[]).unwrap_err();
        assert!(e.message.contains("runway"), "{}", e.message);
        // The xingyun3d secret is app_secret, not api_key.
        let e = read("[profiles.w.xingyun3d]\napi_key = \"k\"\n", &[]).unwrap_err();
        assert!(e.message.contains("`api_key`"), "{}", e.message);
    }

    #[test]
    fn a_secret_and_its_variable_together_or_a_bad_limit_or_name_are_refused() {
        let e = read(
            "[profiles.w.libtv]\naccess_key = \"a\"\naccess_key_env = \"B\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("not both"), "{}", e.message);
        let e = read("[profiles.w]\nmax_cost = 5\n", &[]).unwrap_err();
        assert!(e.message.contains("max_cost"), "{}", e.message);
        let e = read("[profiles.\"a b\"]\nmax_cost = \"1 CNY\"\n", &[]).unwrap_err();
        assert!(e.message.contains("`a b`"), "{}", e.message);
        // A key with a space is refused without being shown.
        let e = read("[profiles.w.dashscope]\napi_key = \"sk-a b-SECRET\"\n", &[]).unwrap_err();
        assert!(!e.message.contains("SECRET"), "{}", e.message);
    }

    #[test]
    fn a_later_file_replaces_whole_accounts_and_single_defaults() {
        let mut p = read(
            "[defaults.dashscope]\nmodel = \"a\"\nduration = 5\n[profiles.w.dashscope]\napi_key = \"k1\"\nworkspace = \"ws\"\n",
            &[],
        )
        .unwrap();
        let second: toml::Table =
            "[defaults.dashscope]\nmodel = \"b\"\n[profiles.w.dashscope]\napi_key = \"k2\"\n"
                .parse()
                .unwrap();
        p.read(&second, Path::new("/here/kino.toml"), &|_| None)
            .unwrap();
        assert_eq!(p.defaults["dashscope"]["model"], "b");
        assert_eq!(p.defaults["dashscope"]["duration"], 5);
        let ds = &p.profiles["w"].accounts["dashscope"];
        assert_eq!(ds.secret.as_ref().unwrap().expose(), "k2");
        assert_eq!(ds.workspace, None, "the account table is replaced whole");
        assert_eq!(ds.source, PathBuf::from("/here/kino.toml"));
    }
}
