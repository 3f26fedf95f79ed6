//! providers and doctor: what kino can do here; both spend nothing.

use std::time::Duration;

use serde_json::{Value, json};

use kino_core::{ErrorKind, Secret};
use kino_providers::dashscope::{DashScope, DashScopeConfig};
use kino_providers::libtv::{LibTv, LibTvConfig};
use kino_providers::skillsvideo::{SkillsVideo, SkillsVideoConfig};
use kino_providers::xingyun3d::{Xingyun3d, XingyunConfig};
use kino_providers::xyq::{Xyq, XyqConfig};

use crate::context::{Context, SANDBOX};
use crate::error::CommandError;

fn credential(set: bool) -> &'static str {
    if set { "set" } else { "not set" }
}

fn provider_infos(ctx: &Context) -> Result<Vec<kino_core::ProviderInfo>, CommandError> {
    use kino_core::Provider;
    // The adapters describe themselves without network and without a real key.
    let internal =
        |e: kino_http::ClientError| CommandError::new(ErrorKind::Internal, e.to_string());
    let blank = || Secret::new("");
    let dashscope =
        DashScope::new(DashScopeConfig::new("http://127.0.0.1", blank())).map_err(internal)?;
    let xyq = Xyq::new(XyqConfig::new("http://127.0.0.1", blank())).map_err(internal)?;
    let libtv = LibTv::new(LibTvConfig::new("http://127.0.0.1", blank())).map_err(internal)?;
    let mut sandbox = dashscope.info();
    sandbox.id = SANDBOX;
    sandbox.name = "kino's embedded emulator of DashScope (offline, free)";
    sandbox.credential_env = Vec::new();
    let skillsvideo = SkillsVideo::new(
        SkillsVideoConfig::new("http://127.0.0.1", blank()),
        ctx.skillsvideo_catalog_offline(),
    )
    .map_err(internal)?;
    let xingyun3d =
        Xingyun3d::new(XingyunConfig::new("http://127.0.0.1", "", blank())).map_err(internal)?;
    Ok(vec![
        dashscope.info(),
        skillsvideo.info(),
        xyq.info(),
        libtv.info(),
        xingyun3d.info(),
        sandbox,
    ])
}

/// Whether each kino.toml profile has an account of `provider` (the sandbox needs none).
fn profile_credentials(ctx: &Context, provider: &str) -> Value {
    let map: serde_json::Map<String, Value> = ctx
        .settings
        .profiles
        .keys()
        .map(|name| {
            let set = ctx.has_account(provider, Some(name));
            (name.clone(), json!(credential(set)))
        })
        .collect();
    Value::Object(map)
}

pub fn providers(ctx: &Context) -> Result<(), CommandError> {
    let infos = provider_infos(ctx)?;
    let docs: Vec<Value> = infos
        .iter()
        .map(|i| {
            let set = ctx.has_credentials(i.id);
            json!({"id": i.id, "name": i.name, "credentials": credential(set), "credential_env": i.credential_env, "profiles": profile_credentials(ctx, i.id), "modes": i.modes})
        })
        .collect();
    ctx.printer.data(&Value::Array(docs), || {
        let mut out = Vec::new();
        for i in &infos {
            let creds = if i.credential_env.is_empty() {
                "no credentials needed".to_string()
            } else {
                let mut text = format!(
                    "{}: {}",
                    i.credential_env.join(" or "),
                    credential(ctx.has_account(i.id, None))
                );
                // Each kino.toml profile's account, the selected one marked.
                for name in ctx.settings.profiles.keys() {
                    let mark = if ctx.settings.profile.as_deref() == Some(name.as_str()) {
                        "*"
                    } else {
                        ""
                    };
                    let set = credential(ctx.has_account(i.id, Some(name)));
                    text.push_str(&format!("; profile {name}{mark}: {set}"));
                }
                text
            };
            out.push(format!("{} — {} ({creds})", i.id, i.name));
            for m in &i.modes {
                out.push(format!(
                    "  {:<10} default {:<20} {}",
                    m.mode, m.default_model, m.summary
                ));
            }
        }
        out.join("\n")
    });
    Ok(())
}

pub async fn doctor(ctx: &Context) -> Result<(), CommandError> {
    let mut checks = Vec::new();
    // The selected account (kino.toml profile, else the environment's): what a run would use.
    let accounts = ctx.settings.selected_accounts();
    let whose = ctx
        .settings
        .profile
        .as_deref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default();
    let mut probes = tokio::task::JoinSet::new();
    for info in provider_infos(ctx)?
        .into_iter()
        .filter(|i| !i.credential_env.is_empty())
    {
        let id = info.id;
        let vars = info.credential_env.join(" / ");
        let base = accounts.base_url(id).map(|b| b.trim().to_string());
        let detail = match &base {
            Some(_) => format!("{vars} set{whose}"),
            None => format!("{vars} not set{whose}: needed only to use {id}"),
        };
        checks.push(
            json!({"check": format!("{id} credentials"), "ok": base.is_some(), "detail": detail}),
        );
        // Only a platform with credentials is asked: the others are not in use.
        if let Some(base) = base {
            probes.spawn(async move {
                let reach = reachable(&base).await;
                // Shown as `kino config` shows it: a base URL may carry a token in its query.
                let shown = kino_core::redact_url(&base);
                let detail = match &reach {
                    Ok(s) => format!("{shown} answered HTTP {s}"),
                    Err(e) => format!("{shown}: {e}"),
                };
                json!({"check": format!("{id} reachable"), "ok": reach.is_ok(), "detail": detail})
            });
        }
    }
    let mut reached: Vec<Value> = probes.join_all().await;
    reached.sort_by(|a, b| a["check"].as_str().cmp(&b["check"].as_str()));
    checks.extend(reached);
    let tools = &ctx.settings.media_tools;
    let (ffmpeg, ffprobe) = tools.versions();
    for (name, bin, found) in [
        ("ffmpeg", &tools.ffmpeg, ffmpeg),
        ("ffprobe", &tools.ffprobe, ffprobe),
    ] {
        let detail = match &found {
            Ok(version) => format!("{} found: {version}", bin.display()),
            Err(e) => format!(
                "{e} (optional, for `kino media`: apt-get install ffmpeg, or KINO_FFMPEG / KINO_FFPROBE)"
            ),
        };
        checks.push(json!({"check": name, "ok": found.is_ok(), "detail": detail}));
    }
    let ledger = match ctx.ledger().await {
        Ok(l) => match (
            l.describe().await,
            l.jobs(&kino_ledger::JobFilter::default()).await,
        ) {
            (Ok(info), Ok(jobs)) => {
                json!({"check": "ledger", "ok": true, "detail": format!("{} {} (schema {}, {} jobs)", info.backend, info.location, info.schema_version, jobs.len())})
            }
            (Err(e), _) | (_, Err(e)) => {
                json!({"check": "ledger", "ok": false, "detail": e.to_string()})
            }
        },
        Err(e) => json!({"check": "ledger", "ok": false, "detail": e.message}),
    };
    checks.push(ledger);
    let doc = Value::Array(checks.clone());
    ctx.printer.data(&doc, || {
        checks
            .iter()
            .map(|c| {
                let mark = if c["ok"].as_bool() == Some(true) {
                    "ok  "
                } else {
                    "FAIL"
                };
                format!(
                    "{mark} {:<22} {}",
                    c["check"].as_str().unwrap_or(""),
                    c["detail"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// An unauthenticated GET of the base URL: any HTTP answer proves the host is reachable.
async fn reachable(base: &str) -> Result<u16, String> {
    let client = kino_http::api_client("kino-doctor").map_err(|e| e.to_string())?;
    let fut = client.get(base).send();
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(Ok(resp)) => Ok(resp.status().as_u16()),
        Ok(Err(e)) => Err(kino_http::describe_error(e)),
        Err(_) => Err("no answer within 5 s".into()),
    }
}
