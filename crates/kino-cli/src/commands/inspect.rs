//! status, events, list: read the ledger; never touch the network.

use std::time::Duration;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

use kino_core::{DownloadState, JobState};
use kino_engine::Outcome;
use kino_ledger::JobFilter;

use crate::args::{EventsArgs, ListArgs};
use crate::context::Context;
use crate::error::CommandError;
use crate::render::{
    ellipsis, event_human, event_json, job_row_json, outcome_human, outcome_json, time,
};

async fn outcome(ctx: &Context, job: &str) -> Result<Outcome, CommandError> {
    let ledger = ctx.ledger().await?;
    let job = ledger.find_job(job).await?;
    Ok(Outcome::load(ledger.as_ref(), job.id).await?)
}

pub async fn status(ctx: &Context, job: &str) -> Result<(), CommandError> {
    let o = outcome(ctx, job).await?;
    ctx.printer.data(&outcome_json(&o), || outcome_human(&o));
    Ok(())
}

pub async fn events(ctx: &Context, args: EventsArgs) -> Result<(), CommandError> {
    let ledger = ctx.ledger().await?;
    let job = ledger.find_job(&args.job).await?;
    let mut since = args.since;
    loop {
        for e in ledger.events(job.id, since).await? {
            since = e.seq;
            ctx.printer.line(&event_json(&e), || event_human(&e));
        }
        if !args.follow {
            return Ok(());
        }
        let o = Outcome::load(ledger.as_ref(), job.id).await?;
        let downloads_left = o
            .artifacts
            .iter()
            .any(|a| a.state == DownloadState::Pending);
        // A question ends the stream too: nothing happens until `kino reply`.
        if (o.job.state.is_terminal() && !downloads_left) || o.job.state == JobState::NeedsInput {
            // One last read: the final events may have landed with the state.
            for e in ledger.events(job.id, since).await? {
                ctx.printer.line(&event_json(&e), || event_human(&e));
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn list(ctx: &Context, args: ListArgs) -> Result<(), CommandError> {
    let states = args
        .states
        .iter()
        .map(|s| {
            s.parse::<JobState>()
                .map_err(|e| CommandError::usage(format!("invalid `--state`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = JobFilter {
        states,
        provider: args.provider.clone(),
        limit: args.limit,
    };
    let jobs = ctx.ledger().await?.jobs(&filter).await?;
    let rows: Vec<Value> = jobs.iter().map(job_row_json).collect();
    ctx.printer.data(&Value::Array(rows), || {
        if jobs.is_empty() {
            return "no jobs yet: `kino run \"a prompt\"` makes one".into();
        }
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY);
        table.set_header([
            "job", "state", "provider", "mode", "model", "created", "prompt",
        ]);
        for j in &jobs {
            table.add_row([
                j.id.short(),
                j.state.to_string(),
                j.provider.clone(),
                j.mode.clone(),
                j.model.clone(),
                time(j.created_at),
                ellipsis(j.prompt().unwrap_or(""), 40),
            ]);
        }
        table.to_string()
    });
    Ok(())
}
