//! Batches: many requests planned, priced and validated together, reviewed by one hash, then
//! dispatched as jobs under per-provider concurrency, a budget and stop-on-failure.
//!
//! A row becomes a job only when it is dispatched. Until then it is a line of the recorded plan
//! and nothing else: a batch stopped by a failure or a budget leaves no pending job behind that
//! a worker or `kino resume` would send later.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use kino_core::cost::{Amount, Budget, Estimate, Tally, Unit};
use kino_core::{Diagnostic, ErrorKind, JobId, JobRequest, JobState};
use kino_ledger::{BatchRecord, BatchRow, LedgerError, NewBatch, NewBatchRow, RowStatus};

use crate::{Engine, EngineError, Outcome};

/// One row as read from a batch file: a provider and a flat request, resolved by the face.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSpec {
    /// 1-based, in file order.
    pub index: u32,
    pub provider: String,
    pub request: JobRequest,
    pub out_dir: Option<PathBuf>,
    pub prefix: Option<String>,
}

/// A local file a row uploads, as the plan saw it. Size and modification time, not a digest:
/// they are what the upload cache already trusts to name a file, they cost nothing to read for
/// a 1 GB video, and any write to the file changes the time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub bytes: u64,
    pub modified_ms: i64,
}

/// A validated row: exactly what will be recorded and sent.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRow {
    pub index: u32,
    pub provider: String,
    pub profile: Option<String>,
    pub mode: String,
    pub model: String,
    /// The validated flat request (local paths absolute, `job:ID#N` as written).
    pub request: Map<String, Value>,
    pub out_dir: String,
    pub prefix: Option<String>,
    pub files: Vec<FileStamp>,
    pub estimate: Estimate,
}

impl PlannedRow {
    /// The words of the row (`prompt`, or `message` on the conversational platforms).
    pub fn prompt(&self) -> Option<&str> {
        kino_core::words(&self.request)
    }

    /// The row as the ledger keeps it (and `--dry-run` shows it).
    pub fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "provider": self.provider,
            "profile": self.profile,
            "mode": self.mode,
            "model": self.model,
            "prompt": self.prompt(),
            "request": self.request,
            "out_dir": self.out_dir,
            "prefix": self.prefix,
            "files": self.files,
            "estimate": self.estimate,
            "estimate_micros": self.estimate.cost.as_ref().map(Amount::micros),
        })
    }

    /// Reads a row back from the ledger (`kino batch resume`).
    pub fn from_json(index: u32, v: &Value) -> Result<Self, String> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &str| text(k).ok_or_else(|| format!("row {index}: no `{k}` in the plan"));
        let estimate = {
            let e = v.get("estimate").cloned().unwrap_or(Value::Null);
            let basis = e
                .get("basis")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let micros = v.get("estimate_micros").and_then(Value::as_i64);
            let unit = e.get("unit").and_then(Value::as_str).and_then(Unit::parse);
            match (micros, unit) {
                (Some(m), Some(u)) => Estimate::known(Amount::new(m, u), basis),
                _ => Estimate::unknown(basis),
            }
        };
        Ok(Self {
            index,
            provider: need("provider")?,
            profile: text("profile"),
            mode: need("mode")?,
            model: need("model")?,
            request: v
                .get("request")
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| format!("row {index}: no `request` in the plan"))?,
            out_dir: need("out_dir")?,
            prefix: text("prefix"),
            files: serde_json::from_value(v.get("files").cloned().unwrap_or(json!([])))
                .map_err(|e| format!("row {index}: {e}"))?,
            estimate,
        })
    }

    fn job_request(&self) -> JobRequest {
        JobRequest {
            mode: Some(self.mode.clone()),
            model: Some(self.model.clone()),
            fields: self.request.clone(),
        }
    }
}

/// What a batch runs with. Stored on the batch, so `kino batch resume` goes on as it started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchOptions {
    /// Dispatch every row whatever happens to the others (default: stop at the first failure).
    pub keep_going: bool,
    /// Rows in flight per provider.
    pub concurrency: usize,
    /// Per-provider bounds that replace `concurrency`.
    #[serde(default)]
    pub per_provider: BTreeMap<String, usize>,
    /// The spending limits as given (`5 CNY`), with where each was set.
    #[serde(default)]
    pub max_cost: Vec<(String, String)>,
    #[serde(default)]
    pub allow_unknown_cost: bool,
}

impl BatchOptions {
    pub fn limit_for(&self, provider: &str) -> usize {
        self.per_provider
            .get(provider)
            .copied()
            .unwrap_or(self.concurrency)
            .max(1)
    }
}

/// Why a row cannot be run, found before anything is recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct RowError {
    pub index: u32,
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
}

impl RowError {
    pub fn new(index: u32, e: &(impl Diagnostic + std::fmt::Display)) -> Self {
        Self {
            index,
            kind: e.kind(),
            message: e.to_string(),
            hints: e.hints(),
        }
    }
}

/// Where the budget stops a batch: the first row it refuses, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetStop {
    pub index: u32,
    pub message: String,
    pub hints: Vec<String>,
}

/// Every row validated and priced, the review hash, and where a budget would stop it.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchPlan {
    pub rows: Vec<PlannedRow>,
    /// SHA-256 (hex) of everything that decides what is sent and paid.
    pub hash: String,
    pub stop: Option<BudgetStop>,
}

impl BatchPlan {
    /// Expected totals per unit over the rows that would run, and how many of them have no
    /// known cost.
    pub fn totals(&self) -> (Vec<Amount>, usize) {
        let mut tally = Tally::default();
        let mut unknown = 0;
        for r in self.runnable() {
            match &r.estimate.cost {
                Some(c) => tally.add(c),
                None => unknown += 1,
            }
        }
        (tally.amounts(), unknown)
    }

    /// The rows before the budget's stop.
    pub fn runnable(&self) -> impl Iterator<Item = &PlannedRow> {
        let stop = self.stop.as_ref().map(|s| s.index);
        self.rows
            .iter()
            .filter(move |r| stop.is_none_or(|s| r.index < s))
    }

    /// The first 16 hex digits: what people see and type.
    pub fn short_hash(&self) -> &str {
        &self.hash[..16.min(self.hash.len())]
    }

    /// Whether `given` (a prefix of at least 8 hex digits) names this plan's hash.
    pub fn matches(&self, given: &str) -> bool {
        let g = given.trim().to_ascii_lowercase();
        g.len() >= 8 && self.hash.starts_with(&g)
    }
}

/// The first row `budget` refuses when the rows are admitted in order against one tally for
/// the whole batch (rows already sent count as well: their estimates are spent).
pub fn budget_stop(rows: &[PlannedRow], budget: &Budget) -> Option<BudgetStop> {
    let mut tally = Tally::default();
    for r in rows {
        if let Err(e) = budget.admit(&format!("row {}", r.index), &mut tally, &r.estimate) {
            return Some(BudgetStop {
                index: r.index,
                message: e.to_string(),
                hints: e.hints(),
            });
        }
    }
    None
}

/// Sorts every object's keys, so the hash does not depend on the order a file gave them in.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The review hash: each row's provider, profile, mode, model, validated request, local files
/// (path, size, time), out dir and prefix, and the options that change spending (limits,
/// unknown costs, keep-going). Estimates count only under a limit, where they decide which
/// rows run; otherwise a price line edited between review and run would void a review of a plan
/// that sends exactly the same. Concurrency changes neither what is sent nor what is paid.
pub fn plan_hash(rows: &[PlannedRow], options: &BatchOptions) -> String {
    let limited = !options.max_cost.is_empty();
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "index": r.index,
                "provider": r.provider,
                "profile": r.profile,
                "mode": r.mode,
                "model": r.model,
                "request": r.request,
                "files": r.files,
                "out_dir": r.out_dir,
                "prefix": r.prefix,
                "estimate": limited.then(|| (r.estimate.cost.as_ref().map(Amount::micros), r.estimate.cost.as_ref().map(|c| c.unit().to_string()))),
            })
        })
        .collect();
    let mut limits: Vec<&String> = options.max_cost.iter().map(|(a, _)| a).collect();
    limits.sort();
    let doc = json!({
        "kino_batch": 1,
        "rows": rows,
        "max_cost": limits,
        "allow_unknown_cost": options.allow_unknown_cost,
        "keep_going": options.keep_going,
    });
    hex::encode(Sha256::digest(canonical(&doc).to_string().as_bytes()))
}

/// What differs between a reviewed plan and the plan of now, in a few words (for the refusal).
pub fn describe_change(before: &[Value], now: &BatchPlan) -> String {
    if before.len() != now.rows.len() {
        return format!("it had {} rows and has {}", before.len(), now.rows.len());
    }
    let changed: Vec<String> = before
        .iter()
        .zip(&now.rows)
        .filter(|(b, n)| canonical(b) != canonical(&n.to_json()))
        .map(|(_, n)| n.index.to_string())
        .collect();
    if changed.is_empty() {
        "the options that change spending differ".into()
    } else {
        format!("rows {} changed", changed.join(", "))
    }
}

/// A row's progress, for the face to show.
#[derive(Clone, Debug, PartialEq)]
pub enum RowUpdate {
    Dispatched {
        index: u32,
        job: JobId,
    },
    Finished {
        index: u32,
        status: RowStatus,
        job: JobId,
        reason: Option<String>,
    },
    Skipped {
        index: u32,
        reason: String,
    },
    /// Its job (a conversation) waits for the user's answer; the row stays dispatched.
    Asks {
        index: u32,
        job: JobId,
        question: String,
    },
}

/// How a batch run ended, beyond what the ledger's rows say.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// The row whose failure stopped the dispatching (without --keep-going).
    pub stopped_by: Option<u32>,
    /// The deadline passed with rows still in flight or waiting.
    pub timed_out: bool,
    /// Rows whose following ended in an error (their jobs stay followable).
    pub errors: Vec<(u32, EngineError)>,
    /// Rows whose job asks the user a question: row, job and question. They are neither
    /// failed nor done; once answered (`kino reply`), going on with the batch finishes them.
    pub questions: Vec<(u32, JobId, String)>,
}

impl Engine {
    /// Validates and prices every row as `create` would, without recording or sending
    /// anything, and admits them in order against `budget` (one tally for the whole batch).
    /// Every invalid row is reported, not just the first.
    pub async fn plan_batch(
        &self,
        specs: &[RowSpec],
        profile: Option<&str>,
        options: &BatchOptions,
        budget: &Budget,
    ) -> Result<BatchPlan, Vec<RowError>> {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for spec in specs {
            match self.plan_row(spec, profile).await {
                Ok(r) => rows.push(r),
                Err(e) => errors.push(RowError::new(spec.index, &e)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let stop = budget_stop(&rows, budget);
        let hash = plan_hash(&rows, options);
        Ok(BatchPlan { rows, hash, stop })
    }

    async fn plan_row(
        &self,
        spec: &RowSpec,
        profile: Option<&str>,
    ) -> Result<PlannedRow, EngineError> {
        let checked = self
            .check(
                &spec.provider,
                profile,
                &spec.request,
                spec.out_dir.clone(),
                spec.prefix.as_deref(),
            )
            .await?;
        let files = checked
            .plan
            .local_inputs
            .iter()
            .map(|local| {
                let path = std::path::absolute(&local.path).unwrap_or(local.path.clone());
                let modified_ms = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as i64);
                FileStamp {
                    path: path.display().to_string(),
                    bytes: local.bytes,
                    modified_ms,
                }
            })
            .collect();
        let estimate = self
            .price(&spec.provider, checked.provider.as_ref(), &checked.plan)
            .await;
        Ok(PlannedRow {
            index: spec.index,
            provider: spec.provider.clone(),
            profile: profile.map(str::to_string),
            mode: checked.plan.mode,
            model: checked.plan.model,
            request: checked.stored,
            out_dir: checked.out.display().to_string(),
            prefix: spec.prefix.clone(),
            files,
            estimate,
        })
    }

    /// Records a planned batch and all its rows (`waiting`) before anything is sent.
    pub async fn record_batch(
        &self,
        file: &str,
        plan: &BatchPlan,
        options: &BatchOptions,
    ) -> Result<BatchRecord, EngineError> {
        let id = JobId::new();
        let batch = NewBatch {
            id,
            file: file.to_string(),
            hash: plan.hash.clone(),
            options: serde_json::to_value(options).unwrap_or(Value::Null),
            rows: plan
                .rows
                .iter()
                .map(|r| NewBatchRow {
                    index: r.index,
                    provider: r.provider.clone(),
                    model: r.model.clone(),
                    plan: r.to_json(),
                })
                .collect(),
        };
        self.ledger.insert_batch(&batch).await?;
        Ok(self.ledger.find_batch(&id.to_string()).await?)
    }

    /// Runs a recorded batch to its end (or `deadline`): rows already dispatched are followed,
    /// waiting rows are dispatched in file order within each provider under its concurrency
    /// bound, rows from `stop` on (the budget's refusal) are skipped, and after a failure no
    /// row is dispatched unless `keep_going`. Rows in flight are always followed to their end:
    /// they are paid for. Called again on the same batch (`kino batch resume`), it goes on
    /// where the ledger says the batch stands; no row is ever sent twice.
    pub async fn run_batch(
        self: &Arc<Self>,
        batch: &BatchRecord,
        options: &BatchOptions,
        stop: Option<&BudgetStop>,
        deadline: Option<Instant>,
        on_update: &(dyn Fn(RowUpdate) + Send + Sync),
    ) -> Result<BatchReport, EngineError> {
        let mut report = BatchReport::default();
        let mut queues: BTreeMap<String, VecDeque<(BatchRow, PlannedRow)>> = BTreeMap::new();
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        let mut set = tokio::task::JoinSet::new();
        // Rows a failure had already stopped before an interruption stay stopped.
        // A platform that stopped answering (a following that ended in an error).
        let mut halted = false;
        let mut failed =
            !options.keep_going && batch.rows.iter().any(|r| r.status == RowStatus::Failed);
        for row in &batch.rows {
            let planned = PlannedRow::from_json(row.index, &row.plan).map_err(|m| {
                EngineError::Ledger(LedgerError::Corrupt {
                    column: "batch_rows.plan",
                    message: m,
                })
            })?;
            match row.status {
                RowStatus::Waiting => {
                    if let Some(s) = stop.filter(|s| row.index >= s.index) {
                        let reason = format!("would pass the budget: {}", s.message);
                        self.skip(batch.id, row.index, &reason, on_update).await?;
                        continue;
                    }
                    queues
                        .entry(row.provider.clone())
                        .or_default()
                        .push_back((row.clone(), planned));
                }
                RowStatus::Dispatched => {
                    let Some(job) = row.job_id else {
                        // A row is dispatched with its job id, so this one was written by hand:
                        // nothing was sent, and it waits again (dispatching takes only waiting
                        // rows).
                        self.ledger
                            .set_batch_row(batch.id, row.index, RowStatus::Waiting, None, None)
                            .await?;
                        queues
                            .entry(row.provider.clone())
                            .or_default()
                            .push_front((row.clone(), planned));
                        continue;
                    };
                    // The job may not exist if the process died between writing the row and
                    // recording it: then nothing was sent, and it is recorded now.
                    if let Err(e) = self.ensure_job(job, &planned).await {
                        self.fail_row(batch.id, row.index, job, &e, on_update)
                            .await?;
                        failed = true;
                        continue;
                    }
                    *in_flight.entry(row.provider.clone()).or_default() += 1;
                    let engine = self.clone();
                    let (index, provider) = (row.index, row.provider.clone());
                    set.spawn(
                        async move { (index, provider, job, engine.drive(job, deadline).await) },
                    );
                }
                _ => {}
            }
        }
        loop {
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if (options.keep_going || !failed) && !halted && !expired {
                for (provider, queue) in queues.iter_mut() {
                    let limit = options.limit_for(provider);
                    while (options.keep_going || !failed)
                        && !halted
                        && in_flight.get(provider).copied().unwrap_or(0) < limit
                    {
                        let Some((row, planned)) = queue.pop_front() else {
                            break;
                        };
                        let job = JobId::new();
                        // The row names its job before the job exists (see create_as), and
                        // only if it is still waiting: another process going on with the same
                        // batch may have sent it.
                        if !self
                            .ledger
                            .dispatch_batch_row(batch.id, row.index, job)
                            .await?
                        {
                            continue;
                        }
                        if let Err(e) = self.ensure_job(job, &planned).await {
                            self.fail_row(batch.id, row.index, job, &e, on_update)
                                .await?;
                            failed = true;
                            report.stopped_by.get_or_insert(row.index);
                            continue;
                        }
                        on_update(RowUpdate::Dispatched {
                            index: row.index,
                            job,
                        });
                        *in_flight.entry(provider.clone()).or_default() += 1;
                        let engine = self.clone();
                        let (index, p) = (row.index, provider.clone());
                        set.spawn(
                            async move { (index, p, job, engine.drive(job, deadline).await) },
                        );
                    }
                }
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let Ok((index, provider, job, result)) = joined else {
                continue;
            };
            if let Some(n) = in_flight.get_mut(&provider) {
                *n = n.saturating_sub(1);
            }
            match result {
                // A question is not a failure: the other rows go on, and this one stays
                // dispatched until the answer lets its job finish.
                Ok(outcome) if outcome.job.state == JobState::NeedsInput => {
                    let question = outcome.question.clone().unwrap_or_default();
                    on_update(RowUpdate::Asks {
                        index,
                        job,
                        question: question.clone(),
                    });
                    report.questions.push((index, job, question));
                }
                Ok(outcome) => {
                    let (status, reason) = row_status(&outcome);
                    match status {
                        Some(s) => {
                            // False when another process going on with the batch got there
                            // first; it reports the row.
                            let moved = self
                                .ledger
                                .set_batch_row(batch.id, index, s, None, reason.as_deref())
                                .await?;
                            if !moved {
                                continue;
                            }
                            if s == RowStatus::Failed {
                                failed = true;
                                report.stopped_by.get_or_insert(index);
                            }
                            on_update(RowUpdate::Finished {
                                index,
                                status: s,
                                job,
                                reason,
                            });
                        }
                        // Still running at the deadline: the row stays dispatched.
                        None => report.timed_out = true,
                    }
                }
                Err(e) => {
                    // The job stays followable, and no more rows are sent while its platform
                    // does not answer. The waiting rows stay waiting, not skipped: nothing
                    // failed, and `kino batch resume` sends them later.
                    halted = true;
                    report.errors.push((index, e));
                }
            }
        }
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if expired && queues.values().any(|q| !q.is_empty()) {
            report.timed_out = true;
        } else if failed && !options.keep_going {
            let by = report
                .stopped_by
                .or_else(|| {
                    batch
                        .rows
                        .iter()
                        .find(|r| r.status == RowStatus::Failed)
                        .map(|r| r.index)
                })
                .map_or_else(|| "an earlier row".to_string(), |i| format!("row {i}"));
            for (_, queue) in queues.iter_mut() {
                for (row, _) in queue.drain(..) {
                    let reason =
                        format!("{by} failed, so no more rows were sent (--keep-going sends them)");
                    self.skip(batch.id, row.index, &reason, on_update).await?;
                }
            }
        }
        if !options.keep_going && report.stopped_by.is_none() && failed {
            report.stopped_by = batch
                .rows
                .iter()
                .find(|r| r.status == RowStatus::Failed)
                .map(|r| r.index);
        }
        Ok(report)
    }

    /// Records the row's job under the id its row names, unless it already exists.
    async fn ensure_job(&self, job: JobId, planned: &PlannedRow) -> Result<(), EngineError> {
        match self.ledger.job(job).await {
            Ok(_) => Ok(()),
            Err(LedgerError::NotFound(_)) => {
                let made = self
                    .create_as(
                        job,
                        &planned.provider,
                        planned.profile.as_deref(),
                        &planned.job_request(),
                        Some(PathBuf::from(&planned.out_dir)),
                        planned.prefix.clone(),
                    )
                    .await;
                match made {
                    Ok(_) => Ok(()),
                    // Two processes going on with the batch both found no job and both recorded
                    // it: the other one's stands, and this one follows it.
                    Err(_) if self.ledger.job(job).await.is_ok() => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn skip(
        &self,
        batch: JobId,
        index: u32,
        reason: &str,
        on_update: &(dyn Fn(RowUpdate) + Send + Sync),
    ) -> Result<(), EngineError> {
        // Only a row still waiting is skipped: another process may have sent it meanwhile,
        // and a sent row is paid for and followed, never marked skipped.
        if !self
            .ledger
            .set_batch_row(batch, index, RowStatus::Skipped, None, Some(reason))
            .await?
        {
            return Ok(());
        }
        on_update(RowUpdate::Skipped {
            index,
            reason: reason.to_string(),
        });
        Ok(())
    }

    async fn fail_row(
        &self,
        batch: JobId,
        index: u32,
        job: JobId,
        e: &EngineError,
        on_update: &(dyn Fn(RowUpdate) + Send + Sync),
    ) -> Result<(), EngineError> {
        let reason = format!("not recorded: {e}");
        if !self
            .ledger
            .set_batch_row(batch, index, RowStatus::Failed, None, Some(&reason))
            .await?
        {
            return Ok(());
        }
        on_update(RowUpdate::Finished {
            index,
            status: RowStatus::Failed,
            job,
            reason: Some(reason),
        });
        Ok(())
    }
}

/// The row status a job's outcome stands for; `None` while it is still going or waits on a
/// question.
fn row_status(o: &Outcome) -> (Option<RowStatus>, Option<String>) {
    let j = &o.job;
    match j.state {
        JobState::Succeeded if o.is_done() => (Some(RowStatus::Succeeded), None),
        JobState::Succeeded => (
            Some(RowStatus::Failed),
            Some("succeeded, but not every result could be downloaded".into()),
        ),
        JobState::Failed | JobState::Canceled | JobState::Expired => (
            Some(RowStatus::Failed),
            Some(format!(
                "{}: {}",
                j.state,
                j.error.clone().unwrap_or_default()
            )),
        ),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(index: u32, prompt: &str) -> PlannedRow {
        PlannedRow {
            index,
            provider: "dashscope".into(),
            profile: None,
            mode: "t2v".into(),
            model: "happyhorse-1.0-t2v".into(),
            request: json!({"prompt": prompt, "resolution": "720P"})
                .as_object()
                .cloned()
                .unwrap(),
            out_dir: "/tmp/out".into(),
            prefix: None,
            files: vec![],
            estimate: Estimate::known(Amount::parse("0.70 CNY").unwrap(), "5 s"),
        }
    }

    #[test]
    fn the_hash_ignores_key_order_and_concurrency_but_not_what_is_sent() {
        let opts = BatchOptions {
            concurrency: 4,
            ..BatchOptions::default()
        };
        let a = plan_hash(&[row(1, "a fox")], &opts);
        let mut reordered = row(1, "a fox");
        reordered.request = json!({"resolution": "720P", "prompt": "a fox"})
            .as_object()
            .cloned()
            .unwrap();
        let more = BatchOptions {
            concurrency: 9,
            ..opts.clone()
        };
        assert_eq!(a, plan_hash(&[reordered], &more));
        assert_ne!(a, plan_hash(&[row(1, "a fax")], &opts));
        let keep = BatchOptions {
            keep_going: true,
            ..opts.clone()
        };
        assert_ne!(a, plan_hash(&[row(1, "a fox")], &keep));
        let mut touched = row(1, "a fox");
        touched.files.push(FileStamp {
            path: "/x.png".into(),
            bytes: 1,
            modified_ms: 2,
        });
        assert_ne!(a, plan_hash(&[touched], &opts));
        // Estimates count under a limit only.
        let mut dearer = row(1, "a fox");
        dearer.estimate = Estimate::known(Amount::parse("1 CNY").unwrap(), "x");
        assert_eq!(a, plan_hash(std::slice::from_ref(&dearer), &opts));
        let limited = BatchOptions {
            max_cost: vec![("2 CNY".into(), "--max-cost".into())],
            ..opts.clone()
        };
        assert_ne!(
            plan_hash(&[row(1, "a fox")], &limited),
            plan_hash(&[dearer], &limited)
        );
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_review_names_the_plan_by_a_prefix_of_eight_or_more() {
        let plan = BatchPlan {
            rows: vec![],
            hash: "0123456789abcdef0123".into(),
            stop: None,
        };
        assert!(plan.matches("01234567"));
        assert!(plan.matches("0123456789ABCDEF"));
        assert!(!plan.matches("0123456"));
        assert!(!plan.matches("12345678"));
        assert_eq!(plan.short_hash(), "0123456789abcdef");
    }

    #[test]
    fn a_row_reads_back_as_it_was_planned() {
        let r = row(3, "a fox");
        assert_eq!(PlannedRow::from_json(3, &r.to_json()).unwrap(), r);
        let mut unknown = row(4, "x");
        unknown.estimate = Estimate::unknown("no price");
        assert_eq!(
            PlannedRow::from_json(4, &unknown.to_json()).unwrap(),
            unknown
        );
    }

    #[test]
    fn a_change_is_described_by_rows() {
        let plan = BatchPlan {
            rows: vec![row(1, "a"), row(2, "b")],
            hash: String::new(),
            stop: None,
        };
        let before = vec![row(1, "a").to_json(), row(2, "c").to_json()];
        assert_eq!(describe_change(&before, &plan), "rows 2 changed");
        assert_eq!(
            describe_change(&before[..1], &plan),
            "it had 1 rows and has 2"
        );
    }

    #[test]
    fn concurrency_per_provider_replaces_the_default_and_is_at_least_one() {
        let o = BatchOptions {
            concurrency: 4,
            per_provider: [("dashscope".to_string(), 1), ("xyq".to_string(), 0)].into(),
            ..BatchOptions::default()
        };
        assert_eq!(o.limit_for("dashscope"), 1);
        assert_eq!(o.limit_for("libtv"), 4);
        assert_eq!(o.limit_for("xyq"), 1);
    }
}
