//! models, schema, credits: what a provider offers and what the account has.

use serde_json::{Value, json};

use kino_core::ErrorKind;
use kino_providers::skillsvideo::{Kind, schema_document};

use crate::args::ModelsArgs;
use crate::context::{Context, SKILLSVIDEO};
use crate::error::CommandError;

fn only_skillsvideo(provider: &str, what: &str) -> Result<(), CommandError> {
    if provider == SKILLSVIDEO {
        Ok(())
    } else {
        Err(CommandError::usage(format!("`kino {what}` is for skillsvideo, whose models come from its OpenAPI documents (got `{provider}`)"))
            .hint("`kino providers` lists every provider's modes and models"))
    }
}

pub async fn models(ctx: &Context, args: ModelsArgs) -> Result<(), CommandError> {
    only_skillsvideo(&args.provider, "models")?;
    let (catalog, source) = ctx.skillsvideo_catalog(args.refresh).await?;
    let rows: Vec<Value> = catalog
        .endpoints
        .values()
        .map(|e| {
            let required = e.schema.get("required").cloned().unwrap_or_else(|| json!([]));
            json!({"model": e.model, "kind": e.kind, "sse": e.sse, "multipart": e.multipart, "required": required, "summary": e.summary})
        })
        .collect();
    ctx.printer.data(
        &json!({"provider": SKILLSVIDEO, "source": source, "models": rows}),
        || {
            let mut out = vec![format!(
                "skills.video models ({} from {source})",
                catalog.endpoints.len()
            )];
            for e in catalog.endpoints.values() {
                let kind = match e.kind {
                    Kind::Image => "image",
                    Kind::Video => "video",
                    Kind::Other => "other",
                };
                out.push(format!(
                    "  {kind:<6} {}{}",
                    e.model,
                    if e.sse { "" } else { "  (no SSE)" }
                ));
            }
            out.join("\n")
        },
    );
    Ok(())
}

pub async fn schema(ctx: &Context, provider: &str, model: &str) -> Result<(), CommandError> {
    only_skillsvideo(provider, "schema")?;
    let (catalog, _) = ctx.skillsvideo_catalog(false).await?;
    let endpoint = catalog.get(model).ok_or_else(|| {
        CommandError::usage(format!(
            "invalid `model`: skills.video has no model `{model}`"
        ))
        .hint("`kino models skillsvideo` lists them")
    })?;
    let doc = schema_document(endpoint);
    ctx.printer.data(&doc, || {
        format!(
            "{} ({:?})\nschema:\n{}\ntemplate (--request):\n{}",
            endpoint.model,
            endpoint.kind,
            serde_json::to_string_pretty(&doc["schema"]).unwrap_or_default(),
            serde_json::to_string_pretty(&doc["template"]).unwrap_or_default()
        )
    });
    Ok(())
}

pub async fn credits(ctx: &Context, provider: &str) -> Result<(), CommandError> {
    only_skillsvideo(provider, "credits")?;
    let Some(sv) = ctx.skillsvideo().await? else {
        return Err(ctx.missing_credentials(SKILLSVIDEO));
    };
    let balance = sv.credits().await?;
    ctx.printer.data(&balance, || match balance.get("total") {
        Some(t) => format!(
            "skills.video credits: {t} (subscription {}, permanent {})",
            balance["subscription"], balance["permanent"]
        ),
        None => balance.to_string(),
    });
    let _ = ErrorKind::Usage;
    Ok(())
}
