//! `kino ledger`: the schema, and job history moved between ledgers (SQLite ⇄ PostgreSQL) as
//! JSON lines, one job per line with its events and results.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use kino_core::ErrorKind;
use kino_ledger::{JobFilter, JobRecord};

use crate::context::Context;
use crate::error::CommandError;

pub async fn migrate(ctx: &Context) -> Result<(), CommandError> {
    // Opening a ledger brings its schema up to date.
    let info = ctx.ledger().await?.describe().await?;
    ctx.printer.data(&json!(info), || {
        format!(
            "{} ledger {} is at schema version {}",
            info.backend, info.location, info.schema_version
        )
    });
    Ok(())
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> CommandError {
    CommandError::new(
        ErrorKind::Config,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

pub async fn export(ctx: &Context, out: Option<PathBuf>) -> Result<(), CommandError> {
    let ledger = ctx.ledger().await?;
    let mut jobs = ledger.jobs(&JobFilter::default()).await?;
    jobs.reverse();
    // A file is written whole or not at all: beside it, then renamed.
    let (mut sink, part): (Box<dyn Write>, Option<(PathBuf, PathBuf)>) = match &out {
        Some(path) => {
            let part = path.with_extension("part");
            let file = std::fs::File::create(&part).map_err(|e| io_error("create", &part, e))?;
            (
                Box::new(std::io::BufWriter::new(file)),
                Some((part, path.clone())),
            )
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let count = jobs.len();
    for job in jobs {
        let record = ledger.export_job(job.id).await?;
        let line = serde_json::to_string(&record)
            .map_err(|e| CommandError::new(ErrorKind::Internal, e.to_string()))?;
        writeln!(sink, "{line}")
            .map_err(|e| CommandError::new(ErrorKind::Internal, format!("cannot write: {e}")))?;
    }
    sink.flush()
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("cannot write: {e}")))?;
    drop(sink);
    if let Some((part, path)) = part {
        std::fs::rename(&part, &path).map_err(|e| io_error("write", &path, e))?;
        ctx.printer
            .note(&format!("exported {count} jobs to {}", path.display()));
    }
    Ok(())
}

pub async fn import(ctx: &Context, file: &Path) -> Result<(), CommandError> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).map_err(|e| io_error("read", file, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    // Every line is read and checked before the first is written: a bad file imports nothing.
    let mut records = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| io_error("read", file, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |why: String| {
            CommandError::new(
                ErrorKind::Usage,
                format!("invalid `{}` line {}: {why}", file.display(), n + 1),
            )
        };
        let record: JobRecord = serde_json::from_str(&line)
            .map_err(|e| invalid(format!("not a job of `kino ledger export`: {e}")))?;
        // The prefix names result files: one that climbs out of the output directory is
        // refused here, as `--prefix` is.
        if let Some(prefix) = &record.job.prefix {
            kino_engine::check_prefix(prefix).map_err(|e| invalid(e.to_string()))?;
        }
        records.push(record);
    }
    let ledger = ctx.ledger().await?;
    let (mut added, mut kept) = (0u64, 0u64);
    for record in &records {
        if ledger.import_job(record).await? {
            added += 1;
        } else {
            kept += 1;
        }
    }
    let doc = json!({"imported": added, "already_present": kept});
    ctx.printer.data(&doc, || {
        format!("imported {added} jobs ({kept} already in this ledger, left as they were)")
    });
    Ok(())
}
