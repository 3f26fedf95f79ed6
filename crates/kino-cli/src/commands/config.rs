//! config and completions: the effective configuration without secrets, and shell completion
//! scripts. Both spend nothing and touch no ledger.

use std::time::Duration;

use clap::CommandFactory;
use comfy_table::{Table, presets::NOTHING};
use serde_json::{Map, Value, json};

use crate::args::Cli;
use crate::context::{DASHSCOPE, PROVIDERS};
use crate::error::CommandError;
use crate::printer::Printer;
use crate::settings::Settings;

/// One setting: its variable (or kino.toml key), its effective value, where that came from.
#[derive(Debug, PartialEq)]
pub(crate) struct Row {
    name: String,
    value: Value,
    source: String,
}

/// Where a variable's value came from: `.env`, the environment, or nowhere (`None`).
fn env_source(settings: &Settings, name: &str) -> Option<&'static str> {
    let set = std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    match set {
        false => None,
        true if settings.dotenv_keys.iter().any(|k| k == name) => Some(".env"),
        true => Some("environment"),
    }
}

/// The first of `names` that is set, with its source; else `None`.
fn first_set(settings: &Settings, names: &[&str]) -> Option<(String, &'static str)> {
    names
        .iter()
        .find_map(|n| env_source(settings, n).map(|s| ((*n).to_string(), s)))
}

fn secs(d: Duration) -> Value {
    json!(d.as_secs_f64())
}

/// A ledger location as kino shows it: a PostgreSQL URL's password masked, also when the
/// query string carries it (`?password=…`).
pub(crate) fn shown_ledger(location: &str) -> String {
    if !kino_ledger::PgLedger::is_url(location) {
        return location.to_string();
    }
    let masked = kino_ledger::PgLedger::masked(location);
    let Some(q) = masked.find('?') else {
        return masked;
    };
    let params: Vec<String> = masked[q + 1..]
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_string(),
        })
        .collect();
    format!("{}?{}", &masked[..q], params.join("&"))
}

/// Every setting kino reads, with its effective value and source. Credentials appear only as
/// "set" or "not set".
pub(crate) fn rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |name: &str, value: Value, source: Option<&str>| {
        rows.push(Row {
            name: name.to_string(),
            value,
            source: source.unwrap_or("default").to_string(),
        });
    };
    let src = |name: &str| env_source(settings, name);

    push(
        "KINO_HOME",
        json!(settings.home.display().to_string()),
        src("KINO_HOME"),
    );
    push(
        "KINO_LEDGER",
        json!(shown_ledger(&settings.ledger_location())),
        src("KINO_LEDGER"),
    );
    push(
        "KINO_LOG",
        json!(std::env::var("KINO_LOG").unwrap_or_else(|_| "warn".into())),
        src("KINO_LOG"),
    );

    // Credentials: status only.
    let credentials: [(&str, &[&str]); 7] = [
        (
            "DASHSCOPE_API_KEY",
            &["DASHSCOPE_API_KEY", "QIANWEN_API_KEY"],
        ),
        ("SKILLS_VIDEO_API_KEY", &["SKILLS_VIDEO_API_KEY"]),
        ("XYQ_ACCESS_KEY", &["XYQ_ACCESS_KEY"]),
        ("LIBTV_ACCESS_KEY", &["LIBTV_ACCESS_KEY"]),
        ("XINGYUN3D_APP_ID", &["XINGYUN3D_APP_ID"]),
        ("XINGYUN3D_APP_SECRET", &["XINGYUN3D_APP_SECRET"]),
        ("KINO_SERVE_TOKEN", &["KINO_SERVE_TOKEN"]),
    ];
    for (name, vars) in credentials {
        match first_set(settings, vars) {
            Some((var, source)) if var == name => push(name, json!("set"), Some(source)),
            Some((var, source)) => push(name, json!("set"), Some(&format!("{source} ({var})"))),
            None => push(name, json!("not set"), None),
        }
    }

    // Base URLs and the DashScope workspace.
    let bases: [(&str, &[&str], String); 5] = [
        (
            "DASHSCOPE_HTTP_BASE_URL",
            &["DASHSCOPE_HTTP_BASE_URL"],
            settings.dashscope_base.clone(),
        ),
        (
            "SKILLS_VIDEO_BASE_URL",
            &["SKILLS_VIDEO_BASE_URL"],
            settings.skillsvideo_base.clone(),
        ),
        (
            "XYQ_OPENAPI_BASE",
            &["XYQ_OPENAPI_BASE", "XYQ_BASE_URL"],
            settings.xyq.as_ref().map_or_else(
                || {
                    std::env::var("XYQ_OPENAPI_BASE")
                        .or_else(|_| std::env::var("XYQ_BASE_URL"))
                        .unwrap_or_else(|_| kino_providers::xyq::DEFAULT_BASE_URL.into())
                },
                |c| c.base_url.clone(),
            ),
        ),
        (
            "OPENAPI_IM_BASE",
            &["OPENAPI_IM_BASE", "IM_BASE_URL"],
            settings.libtv.as_ref().map_or_else(
                || {
                    std::env::var("OPENAPI_IM_BASE")
                        .or_else(|_| std::env::var("IM_BASE_URL"))
                        .unwrap_or_else(|_| kino_providers::libtv::DEFAULT_BASE_URL.into())
                },
                |c| c.base_url.clone(),
            ),
        ),
        (
            "XINGYUN3D_BASE_URL",
            &["XINGYUN3D_BASE_URL"],
            settings.xingyun3d.as_ref().map_or_else(
                || {
                    std::env::var("XINGYUN3D_BASE_URL")
                        .unwrap_or_else(|_| kino_providers::xingyun3d::DEFAULT_BASE_URL.into())
                },
                |c| c.base_url.clone(),
            ),
        ),
    ];
    for (name, vars, value) in bases {
        let value = json!(kino_core::redact_url(value.trim()));
        match first_set(settings, vars) {
            Some((var, source)) if var == name => push(name, value, Some(source)),
            Some((var, source)) => push(name, value, Some(&format!("{source} ({var})"))),
            None => push(name, value, None),
        }
    }
    push(
        "DASHSCOPE_WORKSPACE",
        settings
            .dashscope_workspace
            .as_ref()
            .map_or(Value::Null, |w| json!(w)),
        src("DASHSCOPE_WORKSPACE"),
    );

    // Paces and caps, per provider.
    for provider in PROVIDERS {
        let name = format!("KINO_{}_QPS", provider.to_ascii_uppercase());
        let value = match settings.paces.get(*provider) {
            Some(_) if *provider == DASHSCOPE && src(&name).is_none() => json!(18),
            Some(pace) => json!((1.0 / pace.as_secs_f64() * 1000.0).round() / 1000.0),
            None => json!("off"),
        };
        push(&name, value, src(&name));
    }
    for provider in PROVIDERS {
        let name = format!("KINO_{}_CONCURRENCY", provider.to_ascii_uppercase());
        let value = settings
            .caps
            .iter()
            .find(|(p, _)| p == provider)
            .map_or(json!("unlimited"), |(_, n)| json!(n));
        push(&name, value, src(&name));
    }

    // Lease and polling.
    let lease = settings
        .lease
        .unwrap_or(kino_engine::EngineConfig::default().lease);
    push("KINO_LEASE_SECS", secs(lease), src("KINO_LEASE_SECS"));
    let poll = settings.poll_override.as_ref();
    push(
        "KINO_POLL_INITIAL_MS",
        poll.map_or(json!("provider default"), |p| {
            json!(p.initial.as_millis() as u64)
        }),
        src("KINO_POLL_INITIAL_MS"),
    );
    push(
        "KINO_POLL_MAX_MS",
        poll.map_or(json!("provider default"), |p| {
            json!(p.max.as_millis() as u64)
        }),
        src("KINO_POLL_MAX_MS"),
    );
    push(
        "KINO_SKILLSVIDEO_STALL_SECS",
        settings
            .skillsvideo_stall
            .map_or(json!("provider default"), secs),
        src("KINO_SKILLSVIDEO_STALL_SECS"),
    );
    let xyq_default = kino_providers::xyq::XyqConfig::new("", kino_core::Secret::new(""));
    let xyq = settings.xyq.as_ref().unwrap_or(&xyq_default);
    push(
        "KINO_XYQ_POLL_SECS",
        secs(xyq.poll_every),
        src("KINO_XYQ_POLL_SECS"),
    );
    push(
        "KINO_XYQ_TIMEOUT_HOURS",
        json!(xyq.give_up_after.as_secs() / 3600),
        src("KINO_XYQ_TIMEOUT_HOURS"),
    );
    push(
        "KINO_XYQ_MAX_FAILURES",
        json!(xyq.max_failures),
        src("KINO_XYQ_MAX_FAILURES"),
    );
    let libtv_default = kino_providers::libtv::LibTvConfig::new("", kino_core::Secret::new(""));
    let libtv = settings.libtv.as_ref().unwrap_or(&libtv_default);
    push(
        "KINO_LIBTV_POLL_SECS",
        secs(libtv.poll_every),
        src("KINO_LIBTV_POLL_SECS"),
    );
    push(
        "KINO_LIBTV_TIMEOUT_HOURS",
        json!(libtv.give_up_after.as_secs() / 3600),
        src("KINO_LIBTV_TIMEOUT_HOURS"),
    );

    // Media tools.
    push(
        "KINO_FFMPEG",
        json!(settings.media_tools.ffmpeg.display().to_string()),
        src("KINO_FFMPEG"),
    );
    push(
        "KINO_FFPROBE",
        json!(settings.media_tools.ffprobe.display().to_string()),
        src("KINO_FFPROBE"),
    );

    // The profile in use, then kino.toml's defaults and profiles.
    push(
        "profile",
        settings
            .profile
            .as_ref()
            .map_or(json!("none (the environment's credentials)"), |p| json!(p)),
        settings.profile_source.as_deref(),
    );
    let toml_source = |path: &std::path::Path| format!("kino.toml ({})", path.display());
    for (provider, fields) in &settings.defaults {
        for (key, value) in fields {
            let source = settings
                .default_sources
                .get(&format!("{provider}.{key}"))
                .map_or_else(|| "kino.toml".to_string(), |p| toml_source(p));
            push(
                &format!("defaults.{provider}.{key}"),
                value.clone(),
                Some(&source),
            );
        }
    }
    for (name, profile) in &settings.profiles {
        let source = toml_source(&profile.source);
        let accounts = settings.accounts(Some(name));
        for (provider, table) in &profile.accounts {
            let prefix = format!("profiles.{name}.{provider}");
            let file = toml_source(&table.source);
            if provider == "xingyun3d" {
                push(
                    &format!("{prefix}.app_id"),
                    table
                        .app_id
                        .as_ref()
                        .map_or(json!("not set"), |_| json!("set")),
                    Some(&file),
                );
            }
            // Credentials: status only, with where they come from (never the value).
            let secret = crate::profiles::secret_key(provider);
            let set = if table.secret.is_some() {
                "set"
            } else {
                "not set"
            };
            push(
                &format!("{prefix}.{secret}"),
                json!(set),
                Some(&table.secret_source),
            );
            let base = accounts.base_url(provider);
            let base_source = if table.base_url.is_some() {
                file.clone()
            } else {
                "the environment's base".to_string()
            };
            push(
                &format!("{prefix}.base_url"),
                base.map_or(Value::Null, |b| json!(kino_core::redact_url(b.trim()))),
                Some(&base_source),
            );
            if provider == "dashscope" {
                let workspace = accounts
                    .dashscope
                    .as_ref()
                    .and_then(|a| a.workspace.clone());
                let source = match (&table.workspace, &workspace) {
                    (Some(_), _) => file.clone(),
                    (None, Some(_)) => "the environment's workspace".to_string(),
                    (None, None) => "default".to_string(),
                };
                push(
                    &format!("{prefix}.workspace"),
                    workspace.map_or(Value::Null, |w| json!(w)),
                    Some(&source),
                );
            }
        }
        for (provider, fields) in &profile.defaults {
            for (key, value) in fields {
                push(
                    &format!("profiles.{name}.defaults.{provider}.{key}"),
                    value.clone(),
                    Some(&source),
                );
            }
        }
        if !profile.max_cost.is_empty() {
            push(
                &format!("profiles.{name}.max_cost"),
                json!(profile.max_cost),
                Some(&source),
            );
        }
    }
    rows
}

fn human_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn show(settings: &Settings, printer: &Printer) -> Result<(), CommandError> {
    let rows = rows(settings);
    let mut doc = Map::new();
    for r in &rows {
        doc.insert(
            r.name.clone(),
            json!({"value": r.value, "source": r.source}),
        );
    }
    printer.data(&Value::Object(doc), || table(&rows));
    Ok(())
}

/// The human rendering: one aligned row per setting.
fn table(rows: &[Row]) -> String {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(["SETTING", "VALUE", "SOURCE"]);
    for r in rows {
        table.add_row([r.name.clone(), human_value(&r.value), r.source.clone()]);
    }
    table.to_string()
}

/// The completion script for `shell`, on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<(), CommandError> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "kino", &mut std::io::stdout());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_postgres_password_is_never_shown() {
        assert_eq!(
            shown_ledger("postgres://u:hunter2@localhost/db"),
            "postgres://u:***@localhost/db"
        );
        assert_eq!(
            shown_ledger("postgresql://u@h/db?sslmode=require&password=hunter2"),
            "postgresql://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(shown_ledger("/tmp/ledger.sqlite"), "/tmp/ledger.sqlite");
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let rows = [
            Row {
                name: "KINO_HOME".into(),
                value: json!("/h"),
                source: "environment".into(),
            },
            Row {
                name: "DASHSCOPE_API_KEY".into(),
                value: json!("set"),
                source: ".env".into(),
            },
            Row {
                name: "KINO_LEASE_SECS".into(),
                value: json!(45.0),
                source: "default".into(),
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 4, "{text}");
        let column = |needle: &str| lines.iter().find_map(|l| l.find(needle)).unwrap();
        assert_eq!(column("VALUE"), column("/h"));
        assert_eq!(column("VALUE"), column("set"));
        assert_eq!(column("SOURCE"), column("environment"));
        assert_eq!(column("SOURCE"), column("default"));
        assert!(text.contains("45.0"));
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "kino",
            &mut out,
        );
        let script = String::from_utf8(out).unwrap();
        for sub in ["resume", "attach", "media", "config", "completions"] {
            assert!(script.contains(sub), "{sub} missing");
        }
    }
}
