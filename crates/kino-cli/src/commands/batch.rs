//! `kino batch FILE`, `kino batch status`, `kino batch resume`: the face of
//! `kino_engine::batch`. The file is read and its rows templated here; planning, the review
//! hash and dispatching are the engine's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use kino_core::cost::{Amount, Tally};
use kino_core::{ErrorKind, JobId};
use kino_engine::Engine;
use kino_engine::batch::{
    BatchOptions, BatchPlan, BudgetStop, PlannedRow, RowUpdate, budget_stop, describe_change,
};
use kino_ledger::{BatchRecord, Ledger, RowStatus};

use crate::args::{BatchArgs, BatchCommand};
use crate::batch_file::{self, Shared};
use crate::context::{Context, LIBTV, PROVIDERS, XYQ};
use crate::error::CommandError;
use crate::render::{amounts_text, ellipsis};

/// Rows in flight per provider when `--concurrency` does not say.
const DEFAULT_CONCURRENCY: usize = 4;

pub async fn batch(ctx: &mut Context, args: BatchArgs) -> Result<(), CommandError> {
    match &args.command {
        Some(BatchCommand::Status { batch }) => status(ctx, batch.as_deref()).await,
        Some(BatchCommand::Resume { batch, timeout }) => {
            resume(ctx, batch, timeout.as_deref()).await
        }
        None => run(ctx, &args).await,
    }
}

fn options(args: &BatchArgs, limits: &[(String, String)]) -> Result<BatchOptions, CommandError> {
    let mut o = BatchOptions {
        keep_going: args.keep_going,
        concurrency: DEFAULT_CONCURRENCY,
        allow_unknown_cost: args.budget.allow_unknown_cost,
        max_cost: limits.to_vec(),
        ..BatchOptions::default()
    };
    for c in &args.concurrency {
        let bad = || {
            CommandError::usage(format!(
                "invalid `--concurrency`: `{c}` is not N or PROVIDER=N (N at least 1)"
            ))
        };
        match c.split_once('=') {
            Some((p, n)) => {
                let p = p.trim();
                if !PROVIDERS.contains(&p) {
                    return Err(CommandError::usage(format!(
                        "invalid `--concurrency`: unknown provider `{p}` (one of: {})",
                        PROVIDERS.join(", ")
                    )));
                }
                let n: usize = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
                o.per_provider.insert(p.to_string(), n);
            }
            None => o.concurrency = c.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?,
        }
    }
    Ok(o)
}

/// Where reviewed plans are kept, so a refused `--review` can say what changed.
fn plans_dir(ctx: &Context) -> std::path::PathBuf {
    ctx.settings.home.join("batch-plans")
}

async fn run(ctx: &mut Context, args: &BatchArgs) -> Result<(), CommandError> {
    let Some(path) = args.file.clone() else {
        return Err(CommandError::usage(
            "give a batch FILE (or `kino batch status`)",
        ));
    };
    let until = super::jobs::deadline(args.timeout.as_deref(), "--timeout")?;
    if let Some(r) = &args.review
        && (r.trim().len() < 8 || !r.trim().chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(CommandError::usage(format!(
            "invalid `--review`: `{r}` is not the plan's hash (at least its first 8 hex digits)"
        )));
    }
    let limits = crate::budget::limits(&ctx.settings, &args.budget);
    let options = options(args, &limits)?;
    let budget = crate::budget::budget(args.budget.allow_unknown_cost, &limits)?;
    let file = batch_file::read(&path).map_err(|e| CommandError::usage(e.to_string()))?;
    let mut vars = Map::new();
    for kv in &args.vars {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                vars.insert(k.trim().to_string(), Value::String(v.to_string()));
            }
            _ => {
                return Err(CommandError::usage(format!(
                    "invalid `--var`: `{kv}` is not NAME=VALUE"
                )));
            }
        }
    }
    let shared = Shared {
        template: args.template.clone(),
        vars,
        out: args.out.clone(),
        providers: PROVIDERS.iter().map(|p| p.to_string()).collect(),
        conversational: vec![XYQ.into(), LIBTV.into()],
    };
    // Every problem of every row is gathered before anything is decided: one run of the
    // command tells the whole story.
    let mut problems: Vec<(u32, ErrorKind, String, Vec<String>)> = Vec::new();
    let mut specs = Vec::new();
    let line_of: HashMap<u32, usize> = file.rows.iter().map(|r| (r.index, r.line)).collect();
    for row in &file.rows {
        match batch_file::to_spec(row, &file, &shared) {
            Ok(spec) if !ctx.has_credentials(&spec.provider) => {
                let e = ctx.missing_credentials(&spec.provider);
                problems.push((row.index, e.kind, e.message, e.hints));
            }
            Ok(spec) => specs.push(spec),
            Err(p) => problems.push((p.index, ErrorKind::Usage, p.message, Vec::new())),
        }
    }
    let providers: BTreeSet<String> = specs.iter().map(|s| s.provider.clone()).collect();
    let engine = ctx.engine_for(providers.iter().map(String::as_str)).await?;
    let profile = ctx.settings.profile.clone();
    let plan = match engine
        .plan_batch(&specs, profile.as_deref(), &options, &budget)
        .await
    {
        Ok(plan) if problems.is_empty() => plan,
        Ok(_) => return Err(invalid(problems, &line_of, file.rows.len())),
        Err(errors) => {
            problems.extend(
                errors
                    .into_iter()
                    .map(|e| (e.index, e.kind, e.message, e.hints)),
            );
            return Err(invalid(problems, &line_of, file.rows.len()));
        }
    };
    let shown = path.display().to_string();
    if args.dry_run {
        return dry_run(ctx, &shown, &plan, &options);
    }
    if let Some(given) = &args.review
        && !plan.matches(given)
    {
        let before = std::fs::read(plans_dir(ctx).join(format!("{}.json", &given.trim()[..8])))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|d| {
                d["hash"]
                    .as_str()
                    .is_some_and(|h| h.starts_with(given.trim()))
            });
        let what = before
            .and_then(|d| d["rows"].as_array().cloned())
            .map(|rows| format!(" ({})", describe_change(&rows, &plan)))
            .unwrap_or_default();
        return Err(CommandError::usage(format!(
            "the plan changed since it was reviewed{what}; nothing was recorded or sent"
        ))
        .hint(format!(
            "review it again: `kino batch {shown} --dry-run` (its hash is now {})",
            plan.short_hash()
        )));
    }
    let record = engine.record_batch(&shown, &plan, &options).await?;
    ctx.printer.note(&format!(
        "batch {} recorded: {} rows, plan {}{}",
        record.id,
        record.rows.len(),
        plan.short_hash(),
        if args.review.is_some() {
            " (as reviewed)"
        } else {
            ""
        }
    ));
    follow(ctx, &engine, &record, &options, plan.stop.as_ref(), until).await
}

fn invalid(
    mut problems: Vec<(u32, ErrorKind, String, Vec<String>)>,
    lines: &HashMap<u32, usize>,
    total: usize,
) -> CommandError {
    problems.sort_by_key(|p| p.0);
    let only_credentials = problems.iter().all(|p| p.1 == ErrorKind::Config);
    let place = |i: u32| match lines.get(&i) {
        Some(l) if *l > 0 => format!("row {i} (line {l})"),
        _ => format!("row {i}"),
    };
    let lines_text: Vec<String> = problems
        .iter()
        .map(|(i, _, m, _)| format!("  {}: {m}", place(*i)))
        .collect();
    let data = json!({
        "errors": problems.iter().map(|(i, k, m, h)| json!({"row": i, "kind": k, "message": m, "hints": h})).collect::<Vec<_>>(),
        "rows": total,
    });
    let mut hints: Vec<String> = problems
        .iter()
        .flat_map(|p| p.3.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    hints.truncate(4);
    let mut e = CommandError::new(
        if only_credentials {
            ErrorKind::Config
        } else {
            ErrorKind::Usage
        },
        format!(
            "{} of {total} rows cannot run; nothing was recorded or sent:\n{}",
            problems.len(),
            lines_text.join("\n")
        ),
    );
    for h in hints {
        e = e.hint(h);
    }
    e.with_data(data)
}

fn plan_json(file: &str, plan: &BatchPlan, options: &BatchOptions) -> Value {
    let (totals, unknown) = plan.totals();
    json!({
        "dry_run": true,
        "file": file,
        "hash": plan.hash,
        "review": plan.short_hash(),
        "rows": plan.rows.iter().map(PlannedRow::to_json).collect::<Vec<_>>(),
        "totals": {"estimated": totals.iter().map(Amount::to_string).collect::<Vec<_>>(), "unknown": unknown, "rows": plan.runnable().count()},
        "budget_stop": plan.stop.as_ref().map(|s| json!({"row": s.index, "message": s.message, "hints": s.hints})),
        "options": options,
    })
}

fn dry_run(
    ctx: &Context,
    file: &str,
    plan: &BatchPlan,
    options: &BatchOptions,
) -> Result<(), CommandError> {
    let doc = plan_json(file, plan, options);
    // Kept so that a `--review` refused later can say what changed; a plan that cannot be
    // kept costs only that detail.
    // Kept only to say what changed if a `--review` of it is refused: a failure to keep it
    // costs the dry run nothing. Written whole and renamed, so a reader never sees half of it.
    let dir = plans_dir(ctx);
    let kept = dir.join(format!("{}.json", &plan.hash[..8]));
    let part = dir.join(format!(".{}.{}.part", &plan.hash, std::process::id()));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&part, doc.to_string()))
        .and_then(|()| std::fs::rename(&part, &kept));
    if saved.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    ctx.printer.data(&doc, || {
        let mut out = vec![format!(
            "{:>4}  {:<12} {:<24} {:>12}  prompt",
            "row", "provider", "model", "estimate"
        )];
        for r in &plan.rows {
            out.push(format!(
                "{:>4}  {:<12} {:<24} {:>12}  {}",
                r.index,
                r.provider,
                r.model,
                r.estimate.text(),
                ellipsis(&r.prompt().unwrap_or("").replace('\n', " "), 60)
            ));
        }
        let (totals, unknown) = plan.totals();
        out.push(format!(
            "expected: {}{}",
            amounts_text(&totals, "nothing known"),
            if unknown > 0 {
                format!(", and {unknown} row(s) of unknown cost")
            } else {
                String::new()
            }
        ));
        if let Some(s) = &plan.stop {
            out.push(format!(
                "the budget stops the batch at row {}: {}",
                s.index, s.message
            ));
        }
        out.push(format!("review hash: {}", plan.short_hash()));
        out.join("\n")
    });
    ctx.printer.note(&format!(
        "run exactly this plan: kino batch {file} --review {}",
        plan.short_hash()
    ));
    Ok(())
}

/// Runs (or goes on with) a recorded batch, then reports every row and exits by how it ended.
async fn follow(
    ctx: &Context,
    engine: &Arc<Engine>,
    record: &BatchRecord,
    options: &BatchOptions,
    stop: Option<&BudgetStop>,
    until: Option<Instant>,
) -> Result<(), CommandError> {
    let printer = ctx.printer;
    let on_update = move |u: RowUpdate| match u {
        RowUpdate::Dispatched { index, job } => {
            printer.note(&format!("row {index}: job {job} sent"))
        }
        RowUpdate::Finished {
            index,
            status,
            job,
            reason,
        } => printer.note(&format!(
            "row {index}: {status} (job {}){}",
            job.short(),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        )),
        RowUpdate::Skipped { index, reason } => {
            printer.note(&format!("row {index}: skipped: {reason}"))
        }
        RowUpdate::Asks {
            index,
            job,
            question,
        } => printer.note(&format!(
            "row {index}: job {} asks: {question}",
            job.short()
        )),
    };
    let display = (!ctx.printer.quiet)
        .then(|| crate::progress::spawn(engine.subscribe(), ctx.printer.shows_progress()));
    let outcome = tokio::select! {
        r = engine.run_batch(record, options, stop, until, &on_update) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Some(d) = display {
        d.stop().await;
    }
    let ledger = engine.ledger().clone();
    let now = ledger.find_batch(&record.id.to_string()).await?;
    let doc = batch_json(ledger.as_ref(), &now).await?;
    let resume_hint = format!("`kino batch resume {}` goes on with it", record.id);
    let Some(result) = outcome else {
        return Err(CommandError::new(
            ErrorKind::StillRunning,
            format!(
                "batch {} interrupted: its sent jobs go on on the platforms",
                record.id
            ),
        )
        .hint(resume_hint)
        .with_data(doc));
    };
    let report = result?;
    if let Some((index, e)) = report.errors.into_iter().next() {
        return Err(CommandError::from(e)
            .hint(format!(
                "row {index}'s job stays in the ledger; {resume_hint}"
            ))
            .with_data(doc));
    }
    if let Some(row) = now.rows.iter().find(|r| r.status == RowStatus::Failed) {
        return Err(CommandError::new(
            ErrorKind::JobFailed,
            format!(
                "batch {}: row {} failed: {}",
                now.id,
                row.index,
                row.reason.clone().unwrap_or_default()
            ),
        )
        .hint(format!("`kino batch status {}` shows every row", now.id))
        .with_data(doc));
    }
    if let Some((index, job, question)) = report.questions.first() {
        let more = match report.questions.len() {
            1 => String::new(),
            n => format!(" (and {} more rows ask)", n - 1),
        };
        return Err(CommandError::new(
            ErrorKind::NeedsInput,
            format!("batch {}: row {index}'s job asks: {question}{more}", now.id),
        )
        .hint(format!(
            "`kino reply {} \"…\"` answers it; then {resume_hint}",
            job.short()
        ))
        .with_data(doc));
    }
    if report.timed_out || now.rows.iter().any(|r| !r.status.is_final()) {
        return Err(CommandError::new(
            ErrorKind::StillRunning,
            format!("batch {}: rows are still running or waiting", now.id),
        )
        .hint(resume_hint)
        .with_data(doc));
    }
    if let Some(s) = stop {
        let mut e = CommandError::new(ErrorKind::Usage, s.message.clone()).with_data(doc);
        for h in &s.hints {
            e = e.hint(h.clone());
        }
        return Err(e);
    }
    ctx.printer.data(&doc, || human_rows(&doc));
    Ok(())
}

/// Every row of a batch as it stands: its job's state, files, estimate and charge.
async fn batch_json(ledger: &dyn Ledger, b: &BatchRecord) -> Result<Value, CommandError> {
    let charged: HashMap<JobId, Option<kino_core::cost::Estimate>> = ledger
        .costs(b.created_at - 60_000)
        .await?
        .into_iter()
        .map(|c| (c.job_id, c.charged))
        .collect();
    let mut rows = Vec::new();
    let (mut estimated, mut spent, mut unknown) = (Tally::default(), Tally::default(), 0);
    for r in &b.rows {
        let estimate = r.plan.get("estimate").cloned().unwrap_or(Value::Null);
        let planned = PlannedRow::from_json(r.index, &r.plan).ok();
        match planned.as_ref().and_then(|p| p.estimate.cost.clone()) {
            Some(c) if r.status != RowStatus::Skipped => estimated.add(&c),
            None if r.status != RowStatus::Skipped => unknown += 1,
            _ => {}
        }
        let (mut state, mut files, mut charge) = (Value::Null, Vec::new(), Value::Null);
        if let Some(id) = r.job_id
            && let Ok(job) = ledger.job(id).await
        {
            state = json!(job.state);
            for a in ledger.artifacts(id).await? {
                files.push(
                    json!({"path": a.path, "state": a.state, "bytes": a.bytes, "sha256": a.sha256}),
                );
            }
            if let Some(Some(c)) = charged.get(&id) {
                if let Some(amount) = &c.cost {
                    spent.add(amount);
                }
                charge = json!(c);
            }
        }
        rows.push(json!({
            "index": r.index,
            "provider": r.provider,
            "model": r.model,
            "prompt": planned.as_ref().and_then(|p| p.prompt().map(str::to_string)),
            "status": r.status,
            "reason": r.reason,
            "job_id": r.job_id,
            "state": state,
            "files": files,
            "estimate": estimate,
            "charged": charge,
        }));
    }
    let counts: BTreeMap<&str, usize> = b
        .counts()
        .into_iter()
        .map(|(s, n)| (s.as_str(), n))
        .collect();
    Ok(json!({
        "batch_id": b.id,
        "file": b.file,
        "hash": b.hash,
        "created_at": b.created_at,
        "counts": counts,
        "rows": rows,
        "totals": {
            "estimated": estimated.amounts().iter().map(Amount::to_string).collect::<Vec<_>>(),
            "unknown": unknown,
            "charged": spent.amounts().iter().map(Amount::to_string).collect::<Vec<_>>(),
        },
    }))
}

/// `["1.40 CNY", "20 credits"]` as `1.40 CNY + 20 credits`; none as `nothing`.
fn amounts(list: &Value) -> String {
    let parts: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    amounts_text(&parts, "nothing")
}

fn human_rows(doc: &Value) -> String {
    let mut out = vec![format!(
        "batch {}  {}  plan {}",
        doc["batch_id"].as_str().unwrap_or_default(),
        doc["file"].as_str().unwrap_or_default(),
        {
            let hash = doc["hash"].as_str().unwrap_or_default();
            hash.get(..16).unwrap_or(hash)
        }
    )];
    for r in doc["rows"].as_array().into_iter().flatten() {
        let files: Vec<&str> = r["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["path"].as_str())
            .collect();
        out.push(format!(
            "{:>4}  {:<11} {:<22} {:<10} {:<36} {:<10} {:>10}  {}",
            r["index"],
            r["provider"].as_str().unwrap_or_default(),
            r["model"].as_str().unwrap_or_default(),
            r["status"].as_str().unwrap_or_default(),
            r["job_id"].as_str().unwrap_or("-"),
            r["state"].as_str().unwrap_or("-"),
            r["estimate"]["cost"].as_str().unwrap_or("-"),
            if files.is_empty() {
                r["reason"].as_str().unwrap_or_default().to_string()
            } else {
                files.join(", ")
            }
        ));
    }
    let t = &doc["totals"];
    out.push(format!(
        "expected {} ({} unknown), charged {}",
        amounts(&t["estimated"]),
        t["unknown"],
        amounts(&t["charged"])
    ));
    out.join("\n")
}

async fn status(ctx: &Context, batch: Option<&str>) -> Result<(), CommandError> {
    let ledger = ctx.ledger().await?;
    if let Some(id) = batch {
        let b = ledger.find_batch(id).await?;
        let doc = batch_json(ledger.as_ref(), &b).await?;
        ctx.printer.data(&doc, || human_rows(&doc));
        return Ok(());
    }
    let mut docs = Vec::new();
    for b in ledger.batches(20).await? {
        let mut d = batch_json(ledger.as_ref(), &b).await?;
        if let Some(m) = d.as_object_mut() {
            m.remove("rows");
        }
        docs.push(d);
    }
    let doc = Value::Array(docs);
    ctx.printer.data(&doc, || {
        if doc.as_array().is_none_or(Vec::is_empty) {
            return "no batches yet".into();
        }
        doc.as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                let counts: Vec<String> = b["counts"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n.as_u64() != Some(0))
                    .map(|(s, n)| format!("{n} {s}"))
                    .collect();
                let created = chrono::DateTime::from_timestamp_millis(
                    b["created_at"].as_i64().unwrap_or_default(),
                )
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
                format!(
                    "{}  {}  {}  {}  expected {}",
                    b["batch_id"].as_str().unwrap_or_default(),
                    created,
                    b["file"].as_str().unwrap_or_default(),
                    counts.join(", "),
                    amounts(&b["totals"]["estimated"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

async fn resume(ctx: &mut Context, batch: &str, timeout: Option<&str>) -> Result<(), CommandError> {
    let until = super::jobs::deadline(timeout, "--timeout")?;
    let record = ctx.ledger().await?.find_batch(batch).await?;
    let options: BatchOptions = serde_json::from_value(record.options.clone()).map_err(|e| {
        CommandError::new(
            ErrorKind::Internal,
            format!("batch {}: its options cannot be read: {e}", record.id),
        )
    })?;
    // The limits the batch started with, as written and checked then.
    let budget = crate::budget::budget(options.allow_unknown_cost, &options.max_cost)?;
    let planned: Vec<PlannedRow> = record
        .rows
        .iter()
        .map(|r| PlannedRow::from_json(r.index, &r.plan))
        .collect::<Result<_, _>>()
        .map_err(|e| CommandError::new(ErrorKind::Internal, e))?;
    // The same stop as when it started: one tally, rows already sent counted.
    let stop = budget_stop(&planned, &budget);
    let engine = ctx
        .engine_for(record.rows.iter().map(|r| r.provider.as_str()))
        .await?;
    ctx.printer.note(&format!(
        "resuming batch {}: {}",
        record.id,
        record
            .counts()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    follow(ctx, &engine, &record, &options, stop.as_ref(), until).await
}
