//! `kino cost`: what jobs cost, by day, provider and model.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::json;

use kino_core::cost::Amount;
use kino_core::now_millis;
use kino_engine::{CostGroup, CostKey, summarize};

use crate::args::{CostArgs, CostBy};
use crate::context::Context;
use crate::duration::parse_duration;
use crate::error::CommandError;

/// `--since`: a duration back from now, or a UTC date.
fn since(text: &str) -> Result<i64, CommandError> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0));
    }
    let back = parse_duration("--since", text)
        .map_err(|e| e.hint("or give a date, such as 2026-11-01"))?;
    Ok(now_millis() - i64::try_from(back.as_millis()).unwrap_or(i64::MAX))
}

fn amounts(v: &[Amount]) -> String {
    crate::render::amounts_text(v, "-")
}

pub async fn cost(ctx: &Context, args: CostArgs) -> Result<(), CommandError> {
    let from = since(&args.since)?;
    let keys: Vec<CostKey> = args
        .by
        .iter()
        .filter_map(|b| match b {
            CostBy::Day => Some(CostKey::Day),
            CostBy::Provider => Some(CostKey::Provider),
            CostBy::Model => Some(CostKey::Model),
            CostBy::None => None,
        })
        .collect();
    let rows = ctx.ledger().await?.costs(from).await?;
    let groups = summarize(&rows, &keys);
    let total = summarize(&rows, &[]).pop().unwrap_or_default();
    let doc = json!({
        "since": chrono::DateTime::from_timestamp_millis(from).map(|t| t.to_rfc3339()),
        "groups": groups,
        "total": total,
    });
    ctx.printer.data(&doc, || human(&groups, &total, &keys));
    Ok(())
}

fn human(groups: &[CostGroup], total: &CostGroup, keys: &[CostKey]) -> String {
    if total.jobs == 0 {
        return "no jobs in that period".into();
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    let mut header: Vec<&str> = Vec::new();
    for (k, name) in [
        (CostKey::Day, "day (UTC)"),
        (CostKey::Provider, "provider"),
        (CostKey::Model, "model"),
    ] {
        if keys.contains(&k) {
            header.push(name);
        }
    }
    header.extend([
        "jobs",
        "succeeded",
        "charged",
        "estimated",
        "in flight",
        "unknown",
    ]);
    table.set_header(header);
    let row = |g: &CostGroup, label: Option<&str>| {
        let mut cells: Vec<String> = Vec::new();
        for (k, v) in [
            (CostKey::Day, &g.day),
            (CostKey::Provider, &g.provider),
            (CostKey::Model, &g.model),
        ] {
            if keys.contains(&k) {
                cells.push(match label {
                    Some(l) if cells.is_empty() => l.to_string(),
                    Some(_) => String::new(),
                    None => v.clone().unwrap_or_default(),
                });
            }
        }
        cells.extend([
            g.jobs.to_string(),
            g.succeeded.to_string(),
            amounts(&g.charged),
            amounts(&g.estimated),
            amounts(&g.in_flight),
            g.unknown.to_string(),
        ]);
        cells
    };
    for g in groups {
        table.add_row(row(g, None));
    }
    if groups.len() > 1 || keys.is_empty() {
        table.add_row(row(total, Some("total")));
    }
    let mut out = table.to_string();
    if total.unknown > 0 {
        out.push_str(&format!(
            "\n{} job(s) of unknown cost are in no sum: add their prices under [[prices]] in kino.toml",
            total.unknown
        ));
    }
    out
}
