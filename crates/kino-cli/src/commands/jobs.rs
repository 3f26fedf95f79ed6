//! run, submit, wait, resume: the commands that move jobs forward.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::time::Instant;

use kino_core::cost::Tally;
use kino_core::{ErrorKind, JobId, JobState};
use kino_engine::{Engine, Outcome};

use crate::args::{ReplyArgs, ResumeArgs, RunArgs, SubmitArgs, WaitArgs};
use crate::context::{Context, SANDBOX};
use crate::duration::parse_duration;
use crate::error::CommandError;
use crate::render::{job_row_json, outcome_human, outcome_json};
use crate::request::{Resolved, resolve};

async fn prepare(
    ctx: &mut Context,
    args: &crate::args::JobArgs,
) -> Result<(Resolved, Arc<Engine>), CommandError> {
    let mut resolved = resolve(ctx, args)?;
    if !ctx.has_credentials(&resolved.provider) {
        return Err(ctx.missing_credentials(&resolved.provider));
    }
    let engine = ctx.engine(resolved.provider == SANDBOX).await?;
    // kino.toml's defaults fill what the command line left out, so that --dry-run and the
    // cost estimate show the request as it will be sent.
    resolved.request = engine.with_defaults(
        &resolved.provider,
        ctx.settings.profile.as_deref(),
        &resolved.request,
    );
    if resolved.provider == SANDBOX && resolved.implicit && !args.dry_run {
        ctx.printer.note(
            "No DASHSCOPE_API_KEY is set: running against kino's embedded sandbox, a local emulator of DashScope. \
             Nothing is spent and the video is a sample.",
        );
    }
    Ok((resolved, engine))
}

/// `--dry-run`: the validated request and the body that would be sent.
async fn dry_run(ctx: &Context, engine: &Engine, r: &Resolved) -> Result<(), CommandError> {
    let provider = engine.provider(&r.provider)?;
    let plan = provider.prepare(&engine.resolve_chain(&r.request).await?)?;
    let placeholders: Vec<(String, String)> = plan
        .local_inputs
        .iter()
        .map(|l| (l.pointer.clone(), format!("<upload: {}>", l.path.display())))
        .collect();
    let body = provider.build(&plan, &placeholders)?;
    let uploads: Vec<Value> = plan
        .local_inputs
        .iter()
        .map(|l| json!({"field": l.pointer.trim_start_matches('/'), "path": l.path, "bytes": l.bytes, "mime": l.mime}))
        .collect();
    let estimate = engine.estimate(&r.provider, &r.request).await?;
    let profile = ctx.settings.profile.as_deref();
    let doc = json!({"provider": r.provider, "profile": profile, "mode": plan.mode, "model": plan.model, "uploads": uploads, "body": body, "estimate": estimate, "dry_run": true});
    ctx.printer.data(&doc, || {
        format!(
            "dry run: {} {} ({}) — nothing sent, nothing recorded\nexpected cost: {} ({})\n{}",
            r.provider,
            plan.mode,
            plan.model,
            estimate.text(),
            estimate.basis,
            serde_json::to_string_pretty(&body).unwrap_or_default()
        )
    });
    Ok(())
}

/// Follows jobs until done or the deadline, with a live display for a person watching.
async fn follow(
    ctx: &Context,
    engine: &Arc<Engine>,
    ids: &[JobId],
    deadline: Option<Instant>,
) -> Vec<(JobId, Result<Outcome, CommandError>)> {
    let display = (!ctx.printer.quiet)
        .then(|| crate::progress::spawn(engine.subscribe(), ctx.printer.shows_progress()));
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let (engine, id) = (engine.clone(), *id);
        set.spawn(async move {
            (
                id,
                engine.drive(id, deadline).await.map_err(CommandError::from),
            )
        });
    }
    let mut results = Vec::new();
    tokio::select! {
        _ = async { while let Some(Ok(r)) = set.join_next().await { results.push(r); } } => {}
        _ = tokio::signal::ctrl_c() => {
            set.abort_all();
            ctx.printer.note("interrupted: the jobs stay in the ledger and go on on the platform; `kino resume` follows them");
        }
    }
    if let Some(d) = display {
        d.stop().await;
    }
    // Jobs cut short by Ctrl-C are reported as they stand.
    for id in ids {
        if !results.iter().any(|(r, _)| r == id) {
            results.push((*id, engine.outcome(*id).await.map_err(CommandError::from)));
        }
    }
    results.sort_by_key(|(id, _)| *id);
    results
}

/// The exit status a finished (or not) job stands for.
fn verdict(o: &Outcome) -> Result<(), CommandError> {
    let j = &o.job;
    if o.is_done() && j.state == JobState::Succeeded {
        return Ok(());
    }
    let (kind, msg) = match j.state {
        JobState::Failed | JobState::Canceled | JobState::Expired => (
            ErrorKind::JobFailed,
            format!(
                "job {} {}: {}",
                j.id,
                j.state,
                j.error.clone().unwrap_or_default()
            ),
        ),
        JobState::NeedsInput => (
            ErrorKind::NeedsInput,
            format!("job {} needs an answer", j.id),
        ),
        JobState::Succeeded => (
            ErrorKind::Unavailable,
            format!("job {} succeeded but its results are not all on disk", j.id),
        ),
        _ => (
            ErrorKind::StillRunning,
            format!("job {} is still {} on the platform", j.id, j.state),
        ),
    };
    let hint = match kind {
        ErrorKind::NeedsInput => format!("answer with `kino reply {} \"…\"`", j.id.short()),
        ErrorKind::StillRunning => format!("`kino wait {}` goes on following it", j.id),
        ErrorKind::Unavailable => format!("`kino download {}` resumes the download", j.id),
        _ => format!("`kino events {}` shows what happened", j.id),
    };
    Err(CommandError::new(kind, msg).hint(hint))
}

pub(super) fn deadline(text: Option<&str>, field: &str) -> Result<Option<Instant>, CommandError> {
    text.map(|t| parse_duration(field, t).map(|d| Instant::now() + d))
        .transpose()
}

/// Validates and records a job. A `--dry-run` shows the request instead and records nothing
/// (`None`).
async fn record(
    ctx: &mut Context,
    args: &crate::args::JobArgs,
) -> Result<Option<(Arc<Engine>, kino_core::Job)>, CommandError> {
    let (resolved, engine) = prepare(ctx, args).await?;
    if args.dry_run {
        dry_run(ctx, &engine, &resolved).await?;
        return Ok(None);
    }
    let budget = crate::budget::for_command(&ctx.settings, &args.budget)?;
    if budget.is_limited() {
        let estimate = engine
            .estimate(&resolved.provider, &resolved.request)
            .await?;
        budget.admit("the job", &mut Tally::default(), &estimate)?;
    }
    let job = engine
        .create(
            &resolved.provider,
            ctx.settings.profile.as_deref(),
            &resolved.request,
            args.out.clone(),
            args.prefix.clone(),
        )
        .await?;
    ctx.printer.note(&format!(
        "job {} recorded: {} {} ({})",
        job.id, job.provider, job.mode, job.model
    ));
    Ok(Some((engine, job)))
}

pub async fn run(ctx: &mut Context, args: RunArgs) -> Result<(), CommandError> {
    let until = deadline(args.timeout.as_deref(), "--timeout")?;
    let Some((engine, job)) = record(ctx, &args.job).await? else {
        return Ok(());
    };
    follow_one(ctx, &engine, job.id, until).await
}

/// Answers a job's question, then follows it like `run` (or returns at once with --no-wait).
pub async fn reply(ctx: &mut Context, args: ReplyArgs) -> Result<(), CommandError> {
    let until = deadline(args.timeout.as_deref(), "--timeout")?;
    let job = ctx.ledger().await?.find_job(&args.job).await?;
    // The reply goes to the conversation of the account that started it.
    if !ctx.has_account(&job.provider, job.profile.as_deref()) {
        return Err(ctx.missing_account(&job.provider, job.profile.as_deref()));
    }
    let engine = ctx.engine_for([job.provider.as_str()]).await?;
    let job = engine
        .reply(job.id, &args.message, &args.inputs, &args.assets)
        .await?;
    ctx.printer.note(&format!("job {}: reply sent", job.id));
    if args.no_wait {
        let o = engine.outcome(job.id).await?;
        ctx.printer.data(&outcome_json(&o), || outcome_human(&o));
        return Ok(());
    }
    follow_one(ctx, &engine, job.id, until).await
}

pub(super) async fn follow_one(
    ctx: &Context,
    engine: &Arc<Engine>,
    id: JobId,
    until: Option<Instant>,
) -> Result<(), CommandError> {
    let job_id = id;
    let results = follow(ctx, engine, &[id], until).await;
    let Some((_, result)) = results.into_iter().next() else {
        return Err(CommandError::new(
            ErrorKind::Internal,
            "the job vanished from the ledger",
        ));
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            let data = engine.outcome(job_id).await.ok().map(|o| outcome_json(&o));
            return Err(match data {
                Some(d) => e.with_data(d),
                None => e,
            });
        }
    };
    match verdict(&outcome) {
        Ok(()) => {
            ctx.printer
                .data(&outcome_json(&outcome), || outcome_human(&outcome));
            Ok(())
        }
        Err(e) => Err(e.with_data(outcome_json(&outcome))),
    }
}

pub async fn submit(ctx: &mut Context, args: SubmitArgs) -> Result<(), CommandError> {
    let Some((engine, job)) = record(ctx, &args.job).await? else {
        return Ok(());
    };
    if job.provider == SANDBOX {
        ctx.printer.note("the embedded sandbox lives only as long as this command; use `kino run`, or serve `kino sandbox` and point DASHSCOPE_HTTP_BASE_URL at it");
    }
    let queue = args.queue || (ctx.settings.shared_ledger() && !args.here);
    if queue {
        // Recorded is enough: letting it go wakes the workers, one of which sends it.
        engine.hand_over(job.id).await?;
        let receipt = job_row_json(&job);
        ctx.printer.data(&receipt, || {
            format!(
                "job {}  queued for the workers (pending)\nfollow it with `kino wait {}`",
                job.id,
                job.id.short()
            )
        });
        return Ok(());
    }
    let submitted = engine.submit_now(job.id).await;
    let job = engine.ledger().job(job.id).await?;
    let receipt = job_row_json(&job);
    if let Err(e) = submitted {
        return Err(CommandError::from(e).with_data(receipt));
    }
    if job.state == JobState::Unknown {
        return Err(CommandError::new(
            ErrorKind::Unavailable,
            format!("job {}: the create request's answer was lost", job.id),
        )
        .hint(format!(
            "kino never resends it blindly; `kino wait {}` reconciles it through the task list",
            job.id
        ))
        .with_data(receipt));
    }
    ctx.printer.data(&receipt, || {
        format!(
            "job {}  {}  platform handle {}\nfollow it with `kino wait {}`",
            job.id,
            job.state,
            job.handle.clone().unwrap_or_default(),
            job.id.short()
        )
    });
    Ok(())
}

async fn find_all(ctx: &Context, refs: &[String]) -> Result<Vec<kino_core::Job>, CommandError> {
    let ledger = ctx.ledger().await?;
    let mut jobs: Vec<kino_core::Job> = Vec::new();
    for r in refs {
        let job = ledger.find_job(r).await?;
        // The same job named twice (a full and a short id) is followed once.
        if !jobs.iter().any(|j| j.id == job.id) {
            jobs.push(job);
        }
    }
    Ok(jobs)
}

/// Prints the outcomes and turns them into one exit status: an error first, then failure,
/// then "still running".
fn finish(
    ctx: &Context,
    results: Vec<(JobId, Result<Outcome, CommandError>)>,
    single: bool,
) -> Result<(), CommandError> {
    let mut docs = Vec::new();
    let mut human = Vec::new();
    let mut worst: Option<CommandError> = None;
    let rank = |k: ErrorKind| match k {
        ErrorKind::StillRunning => 1,
        ErrorKind::JobFailed => 2,
        _ => 3,
    };
    for (id, r) in results {
        let verdict_err = match &r {
            Ok(o) => {
                docs.push(outcome_json(o));
                human.push(outcome_human(o));
                verdict(o).err()
            }
            Err(e) => {
                docs.push(json!({"job_id": id, "error": e.message, "done": false}));
                human.push(format!("job {id}: error: {}", e.message));
                Some(CommandError {
                    kind: e.kind,
                    message: e.message.clone(),
                    hints: e.hints.clone(),
                    data: None,
                })
            }
        };
        if let Some(e) = verdict_err
            && worst.as_ref().is_none_or(|w| rank(e.kind) > rank(w.kind))
        {
            worst = Some(e);
        }
    }
    let doc = if single && docs.len() == 1 {
        docs.remove(0)
    } else {
        Value::Array(docs)
    };
    match worst {
        None => {
            ctx.printer.data(&doc, || human.join("\n"));
            Ok(())
        }
        Some(e) => {
            if !ctx.printer.json {
                ctx.printer.data(&Value::Null, || human.join("\n"));
            }
            Err(e.with_data(doc))
        }
    }
}

pub async fn wait(ctx: &mut Context, args: WaitArgs) -> Result<(), CommandError> {
    let until = deadline(Some(&args.timeout), "--timeout")?;
    let jobs = find_all(ctx, &args.jobs).await?;
    let engine = ctx
        .engine_for(jobs.iter().map(|j| j.provider.as_str()))
        .await?;
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let results = follow(ctx, &engine, &ids, until).await;
    finish(ctx, results, ids.len() == 1)
}

pub async fn resume(ctx: &mut Context, args: ResumeArgs) -> Result<(), CommandError> {
    let until = deadline(args.timeout.as_deref(), "--timeout")?;
    let unfinished = ctx.ledger().await?.unfinished().await?;
    if unfinished.is_empty() {
        ctx.printer.data(&json!([]), || {
            "nothing to resume: every job is finished".into()
        });
        return Ok(());
    }
    ctx.printer
        .note(&format!("resuming {} unfinished job(s)", unfinished.len()));
    let engine = ctx
        .engine_for(unfinished.iter().map(|j| j.provider.as_str()))
        .await?;
    let ids: Vec<JobId> = unfinished.iter().map(|j| j.id).collect();
    let results = follow(ctx, &engine, &ids, until).await;
    finish(ctx, results, false)
}
