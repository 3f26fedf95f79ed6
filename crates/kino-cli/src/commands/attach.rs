//! attach: adopt a job another tool submitted, then follow it like `run`.

use kino_core::ValidationError;

use super::jobs::{deadline, follow_one};
use crate::args::AttachArgs;
use crate::context::{Context, PROVIDERS};
use crate::error::CommandError;
use crate::render::{outcome_human, outcome_json};

pub async fn attach(ctx: &mut Context, args: AttachArgs) -> Result<(), CommandError> {
    // Bad input is refused before anything is looked up or sent.
    let until = deadline(args.timeout.as_deref(), "--timeout")?;
    let provider = args.provider.as_str();
    if !PROVIDERS.contains(&provider) {
        return Err(ValidationError::new(
            "provider",
            format!(
                "unknown provider `{provider}` (expected one of: {})",
                PROVIDERS.join(", ")
            ),
        )
        .into());
    }
    kino_engine::check_handle(provider, &args.handle)?;
    if let Some(prefix) = &args.prefix {
        kino_engine::check_prefix(prefix)?;
    }
    if !ctx.has_credentials(provider) {
        return Err(ctx.missing_credentials(provider));
    }
    let engine = ctx.engine_for([provider]).await?;
    let out = args.out.map(|o| std::path::absolute(&o).unwrap_or(o));
    let job = engine
        .attach(
            provider,
            ctx.settings.profile.as_deref(),
            &args.handle,
            out,
            args.prefix,
        )
        .await?;
    ctx.printer.note(&format!(
        "job {} attached to {} task {} (no create request sent)",
        job.id, job.provider, args.handle
    ));
    if args.no_wait {
        let o = engine.outcome(job.id).await?;
        ctx.printer.data(&outcome_json(&o), || outcome_human(&o));
        return Ok(());
    }
    follow_one(ctx, &engine, job.id, until).await
}
