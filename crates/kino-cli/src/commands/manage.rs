//! cancel, download, upload.

use serde_json::{Value, json};

use crate::args::{DownloadArgs, UploadArgs};
use crate::context::{Context, PROVIDERS, SANDBOX};
use crate::error::CommandError;
use crate::render::{artifact_json, outcome_json};

pub async fn cancel(ctx: &mut Context, job: &str) -> Result<(), CommandError> {
    let job = ctx.ledger().await?.find_job(job).await?;
    let engine = ctx.engine_for([job.provider.as_str()]).await?;
    let job = engine.cancel(job.id).await?;
    let o = engine.outcome(job.id).await?;
    ctx.printer
        .data(&outcome_json(&o), || format!("job {} canceled", job.id));
    Ok(())
}

pub async fn download(ctx: &mut Context, args: DownloadArgs) -> Result<(), CommandError> {
    let job = ctx.ledger().await?.find_job(&args.job).await?;
    let engine = ctx.engine_for([job.provider.as_str()]).await?;
    let out = args.out.map(|o| std::path::absolute(&o).unwrap_or(o));
    let artifacts = engine.download(job.id, out, args.prefix).await?;
    let docs: Vec<Value> = artifacts.iter().map(artifact_json).collect();
    ctx.printer.data(&Value::Array(docs), || {
        artifacts
            .iter()
            .map(|a| {
                format!(
                    "{} #{}: {}",
                    a.kind,
                    a.index + 1,
                    a.path.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn upload(ctx: &mut Context, args: UploadArgs) -> Result<(), CommandError> {
    if !PROVIDERS.contains(&args.provider.as_str()) {
        return Err(CommandError::usage(format!(
            "unknown provider `{}` (one of: {})",
            args.provider,
            PROVIDERS.join(", ")
        )));
    }
    if !ctx.has_credentials(&args.provider) {
        return Err(ctx.missing_credentials(&args.provider));
    }
    let engine = ctx.engine(args.provider == SANDBOX).await?;
    let reference = engine
        .upload_file(
            &args.provider,
            ctx.settings.profile.as_deref(),
            &args.model,
            &args.file,
        )
        .await?;
    let doc = json!({"provider": args.provider, "model": args.model, "file": args.file, "reference": reference});
    ctx.printer.data(&doc, || reference.clone());
    Ok(())
}

/// `kino libtv switch-project`: later LibTV sessions go to a new project.
pub async fn libtv_switch_project(ctx: &Context) -> Result<(), CommandError> {
    let Some(cfg) = ctx.settings.selected_accounts().libtv else {
        return Err(ctx.missing_credentials(crate::context::LIBTV));
    };
    let libtv = kino_providers::libtv::LibTv::new(cfg)
        .map_err(|e| CommandError::new(kino_core::ErrorKind::Internal, e.to_string()))?;
    let project = libtv.change_project().await?;
    let url = kino_providers::libtv::project_url(&project);
    let doc = json!({"projectUuid": project, "projectUrl": url});
    ctx.printer.data(&doc, || {
        format!("LibTV now creates in project {project}\n  {url}")
    });
    Ok(())
}

/// `kino preview JOB`: a xingyun3d render's preview URL.
pub async fn preview(ctx: &mut Context, job: &str) -> Result<(), CommandError> {
    let job = ctx.ledger().await?.find_job(job).await?;
    if job.provider != crate::context::XINGYUN3D {
        return Err(CommandError::usage(format!(
            "`kino preview` is for xingyun3d jobs; job {} is on {}",
            job.id, job.provider
        )));
    }
    let Some(handle) = job.handle.clone() else {
        return Err(CommandError::usage(format!(
            "job {} has no platform task yet (it is {})",
            job.id, job.state
        )));
    };
    // The task belongs to the account that made it.
    let Some(xy) = ctx.xingyun3d(job.profile.as_deref())? else {
        return Err(ctx.missing_account(crate::context::XINGYUN3D, job.profile.as_deref()));
    };
    let url = xy.preview_url(&handle).await?;
    ctx.printer
        .data(&json!({"job_id": job.id, "preview_url": url}), || {
            url.clone()
        });
    Ok(())
}
