//! From command-line words and options to a provider and a flat request.

use serde_json::{Map, Value, json};

use kino_core::JobRequest;

use crate::args::JobArgs;
use crate::context::{Context, PROVIDERS, XINGYUN3D, XYQ, is_conversational};
use crate::error::CommandError;

/// Platforms of shared/design.md this build does not drive yet.
const LATER: &[&str] = &[];

pub struct Resolved {
    pub provider: String,
    /// The provider was chosen by kino, not named.
    pub implicit: bool,
    pub request: JobRequest,
}

pub fn resolve(ctx: &Context, args: &JobArgs) -> Result<Resolved, CommandError> {
    let (named, prompt) = match args.words.as_slice() {
        [] => (None, None),
        [one] if is_provider_word(one) => (Some(one.clone()), None),
        [one] => (None, Some(one.clone())),
        [p, prompt] => (Some(p.clone()), Some(prompt.clone())),
        _ => {
            return Err(CommandError::usage(
                "give at most a provider and a prompt; put other fields in --param",
            ));
        }
    };
    if let Some(p) = &named {
        if LATER.contains(&p.as_str()) {
            return Err(CommandError::usage(format!(
                "provider `{p}` is not supported by this version of kino yet"
            ))
            .hint("`kino providers` lists what this build drives"));
        }
        if !PROVIDERS.contains(&p.as_str()) {
            return Err(CommandError::usage(format!(
                "unknown provider `{p}` (one of: {})",
                PROVIDERS.join(", ")
            )));
        }
    }
    let mut fields = Map::new();
    if let Some(r) = &args.request {
        fields = parse_request(r)?;
    }
    for kv in &args.params {
        let (k, v) = split_kv("--param", kv)?;
        fields.insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
    }
    if let Some(p) = prompt {
        fields.insert("prompt".into(), Value::String(p));
    }
    let implicit = named.is_none();
    let provider = named.unwrap_or_else(|| ctx.default_provider().to_string());
    attach(&provider, &mut fields, &args.inputs, &args.assets)?;
    if let Some(path) = &args.script {
        for (k, v) in read_script(path)? {
            fields.entry(k).or_insert(v);
        }
    }
    presenter(&provider, args, &mut fields)?;
    Ok(Resolved {
        provider,
        implicit,
        request: JobRequest {
            mode: args.mode.clone(),
            model: args.model.clone(),
            fields,
        },
    })
}

/// `--input` and `--asset`: media fields on DashScope; attachments on the conversational
/// platforms (files to upload in `inputs`; Xiaoyunque asset ids in `asset_ids`; LibTV URLs).
pub fn attach(
    provider: &str,
    fields: &mut Map<String, Value>,
    inputs: &[String],
    assets: &[String],
) -> Result<(), CommandError> {
    if !is_conversational(provider) {
        if !assets.is_empty() {
            return Err(CommandError::usage(
                "invalid `--asset`: only xyq and libtv take uploaded assets",
            )
            .hint("on DashScope give the oss:// reference in a field: --input img_url=oss://…"));
        }
        for kv in inputs {
            let (k, v) = split_kv("--input", kv)?;
            // The same field twice makes a list (`--input image_urls=a.png --input image_urls=b.png`).
            match fields.get_mut(&k) {
                Some(Value::Array(items)) => items.push(Value::String(v)),
                Some(one)
                    if inputs
                        .iter()
                        .filter(|x| x.starts_with(&format!("{k}=")))
                        .count()
                        > 1 =>
                {
                    let first = one.take();
                    *one = Value::Array(vec![first, Value::String(v)]);
                }
                _ => {
                    fields.insert(k, Value::String(v));
                }
            }
        }
        return Ok(());
    }
    let push = |fields: &mut Map<String, Value>, key: &str, v: &str| {
        let slot = fields
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        // A single value given with --param/--request joins the list rather than being lost.
        if !slot.is_array() {
            let one = slot.take();
            *slot = Value::Array(vec![one]);
        }
        if let Value::Array(items) = slot {
            items.push(Value::String(v.to_string()));
        }
    };
    for path in inputs {
        push(fields, "inputs", path);
    }
    for id in assets {
        if provider == XYQ {
            push(fields, "asset_ids", id);
        } else {
            push(fields, "inputs", id);
        }
    }
    Ok(())
}

/// A request file in JSON or YAML (by extension; JSON is tried first otherwise).
fn read_script(path: &std::path::Path) -> Result<Map<String, Value>, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::usage(format!(
            "invalid `--script`: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let value: Value = if yaml {
        serde_yaml::from_str(&text).map_err(|e| {
            CommandError::usage(format!(
                "invalid `--script`: {} is not YAML: {e}",
                path.display()
            ))
        })?
    } else {
        serde_json::from_str(&text)
            .or_else(|_| serde_yaml::from_str(&text))
            .map_err(|e| {
                CommandError::usage(format!(
                    "invalid `--script`: {} is neither JSON nor YAML: {e}",
                    path.display()
                ))
            })?
    };
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(CommandError::usage(format!(
            "invalid `--script`: {} must hold a mapping of fields",
            path.display()
        ))),
    }
}

/// xingyun3d's own options: segments (with their pictures) and a PPT.
fn presenter(
    provider: &str,
    args: &JobArgs,
    fields: &mut Map<String, Value>,
) -> Result<(), CommandError> {
    let given = !args.segments.is_empty() || !args.segment_media.is_empty() || args.ppt.is_some();
    if provider != XINGYUN3D {
        if given {
            return Err(CommandError::usage(
                "invalid `--segment`/`--ppt`: they are for xingyun3d",
            ));
        }
        return Ok(());
    }
    if !args.segments.is_empty() {
        let mut segs: Vec<Value> = args.segments.iter().map(|t| json!({"text": t})).collect();
        for (media, owner) in args.segment_media.iter().zip(&args.media_owner) {
            if let Some(seg) = segs.get_mut(*owner) {
                seg["media_url"] = Value::String(media.clone());
            }
        }
        let slot = fields
            .entry("segment")
            .or_insert_with(|| Value::Array(Vec::new()));
        match slot {
            Value::Array(items) => items.extend(segs),
            _ => return Err(CommandError::usage("invalid `segment`: must be a list")),
        }
    } else if !args.segment_media.is_empty() {
        return Err(CommandError::usage(
            "invalid `--segment-media`: it must follow a --segment",
        ));
    }
    if let Some(ppt) = &args.ppt {
        fields.insert("ppt".into(), Value::String(ppt.display().to_string()));
    }
    // kino.toml's defaults (look_name, tts_vcn_name, …) are filled in by the engine, as for
    // every provider and every face.
    Ok(())
}

fn is_provider_word(w: &str) -> bool {
    PROVIDERS.contains(&w) || LATER.contains(&w)
}

fn split_kv(flag: &str, kv: &str) -> Result<(String, String), CommandError> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(CommandError::usage(format!(
            "invalid `{flag}`: `{kv}` is not KEY=VALUE"
        ))),
    }
}

fn parse_request(text: &str) -> Result<Map<String, Value>, CommandError> {
    let (json, origin) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| {
                CommandError::usage(format!("invalid `--request`: cannot read {path}: {e}"))
            })?,
            path.to_string(),
        ),
        None => (text.to_string(), "the argument".to_string()),
    };
    match serde_json::from_str::<Value>(&json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CommandError::usage(format!(
            "invalid `--request`: {origin} must hold a JSON object"
        ))),
        Err(e) => Err(CommandError::usage(format!(
            "invalid `--request`: {origin} is not JSON: {e}"
        ))),
    }
}
