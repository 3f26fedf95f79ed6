//! The models skills.video offers, read from its own documents (contracts §2.6): openapi.json
//! (3.0 or 3.1; `/generation/…` or `/v1/generation/…` paths; request schemas inline or behind
//! `$ref`) and docs.json (the Images and Videos navigation groups).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// What a model makes, from docs.json (or guessed from the schema when docs.json is silent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Image,
    Video,
    Other,
}

/// One model's create endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Endpoint {
    /// As in its path: `google/veo-3.1`, `kling-ai/v3/image`.
    pub model: String,
    pub kind: Kind,
    /// The request schema with every `$ref` inlined.
    pub schema: Value,
    /// The operation also takes multipart/form-data (file fields as files).
    pub multipart: bool,
    /// An SSE twin exists (`/generation/sse/…`).
    pub sse: bool,
    pub summary: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Catalog {
    pub endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("the skills.video OpenAPI document is unusable: {0}")]
pub struct CatalogError(pub String);

/// `/v1/generation/google/veo-3.1` or `/generation/sse/google/veo-3.1` → (model, is_sse).
fn model_of(path: &str) -> Option<(String, bool)> {
    let rest = path
        .strip_prefix("/v1")
        .unwrap_or(path)
        .strip_prefix("/generation/")?;
    if rest.contains('{') || rest.is_empty() {
        return None;
    }
    match rest.strip_prefix("sse/") {
        Some(m) => Some((m.trim_end_matches('/').to_string(), true)),
        None => Some((rest.trim_end_matches('/').to_string(), false)),
    }
}

/// How much one request schema may grow to once its `$ref`s are inlined, counted as values plus
/// the bytes of their keys and strings. A whole operation of the shipped snapshot costs about
/// 3,500; a hostile document whose references fan out (`A` holding four `$ref`s to `A`, cut
/// only by the depth guard) would otherwise expand to billions of values from 341 bytes.
const MAX_INLINED: usize = 256 << 10;

/// The same for all of a document's request schemas together: thousands of operations each
/// just under [`MAX_INLINED`] would otherwise hold gigabytes. The shipped snapshot costs about a
/// tenth of it.
const MAX_DOCUMENT_INLINED: usize = 4 << 20;

/// Inlines `#/components/…` references (a depth guard stops cycles). Each value taken out of
/// `budget` costs one, and its key and string bytes; when the budget runs out the rest is left
/// out and `budget` is zero, which the caller refuses.
fn inline_refs(v: &Value, root: &Value, depth: usize, budget: &mut usize) -> Value {
    let cost = 1 + v.as_str().map_or(0, str::len);
    if *budget < cost {
        *budget = 0;
        return Value::Null;
    }
    *budget -= cost;
    if depth > 32 {
        return Value::Object(Map::new());
    }
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(pointer) = r.strip_prefix('#')
                && let Some(target) = root.pointer(pointer)
            {
                let mut resolved = inline_refs(target, root, depth + 1, budget);
                // Siblings of $ref (3.1 allows them: description, default…) are kept.
                if let Value::Object(out) = &mut resolved {
                    inline_entries(
                        map.iter().filter(|(k, _)| k.as_str() != "$ref"),
                        out,
                        root,
                        depth,
                        budget,
                    );
                }
                return resolved;
            }
            let mut out = Map::new();
            inline_entries(map.iter(), &mut out, root, depth, budget);
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if *budget == 0 {
                    break;
                }
                out.push(inline_refs(item, root, depth + 1, budget));
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

/// The entries of an object of `inline_refs`, each key paid for out of `budget`.
fn inline_entries<'a>(
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    out: &mut Map<String, Value>,
    root: &Value,
    depth: usize,
    budget: &mut usize,
) {
    for (k, val) in entries {
        if *budget <= k.len() {
            *budget = 0;
            return;
        }
        *budget -= k.len();
        out.insert(k.clone(), inline_refs(val, root, depth + 1, budget));
    }
}

/// Pages like `"POST /generation/google/nano-banana-pro"` under the Images and Videos groups.
fn kinds_from_docs(docs: &Value, out: &mut BTreeMap<String, Kind>, group: Option<Kind>) {
    match docs {
        Value::Object(map) => {
            let here = match map.get("group").and_then(Value::as_str) {
                Some("Images") => Some(Kind::Image),
                Some("Videos") => Some(Kind::Video),
                Some(_) => None,
                None => group,
            };
            for v in map.values() {
                kinds_from_docs(v, out, here);
            }
        }
        Value::Array(items) => {
            for item in items {
                if let (Some(kind), Value::String(page)) = (group, item)
                    && let Some((method, path)) = page.split_once(char::is_whitespace)
                    && method.eq_ignore_ascii_case("POST")
                    && let Some((model, false)) = model_of(path.trim())
                {
                    out.insert(model, kind);
                    continue;
                }
                kinds_from_docs(item, out, group);
            }
        }
        _ => {}
    }
}

fn guess_kind(model: &str, schema: &Value) -> Kind {
    let props = schema.get("properties").and_then(Value::as_object);
    let has = |k: &str| props.is_some_and(|p| p.contains_key(k));
    if has("duration") || has("generate_audio") || model.contains("video") || model.contains("veo")
    {
        Kind::Video
    } else if model.contains("image") || has("image_urls") {
        Kind::Image
    } else {
        Kind::Other
    }
}

impl Catalog {
    pub fn from_documents(openapi: &Value, docs: Option<&Value>) -> Result<Self, CatalogError> {
        let paths = openapi
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| CatalogError("no `paths`".into()))?;
        let mut kinds = BTreeMap::new();
        if let Some(d) = docs {
            kinds_from_docs(d, &mut kinds, None);
        }
        let mut endpoints: BTreeMap<String, Endpoint> = BTreeMap::new();
        let mut sse_twins = Vec::new();
        let mut document_left = MAX_DOCUMENT_INLINED;
        for (path, item) in paths {
            let Some((model, is_sse)) = model_of(path) else {
                continue;
            };
            let Some(op) = item.get("post") else { continue };
            if is_sse {
                sse_twins.push(model);
                continue;
            }
            let content = op.get("requestBody").and_then(|b| b.get("content"));
            let json_schema = content
                .and_then(|c| c.get("application/json"))
                .and_then(|c| c.get("schema"));
            let multipart = content.and_then(|c| c.get("multipart/form-data")).is_some();
            let Some(schema) = json_schema.or_else(|| {
                content
                    .and_then(|c| c.get("multipart/form-data"))
                    .and_then(|c| c.get("schema"))
            }) else {
                continue;
            };
            let allowed = MAX_INLINED.min(document_left);
            let mut budget = allowed;
            let schema = inline_refs(schema, openapi, 0, &mut budget);
            if budget == 0 {
                let what = if allowed < MAX_INLINED {
                    "the document's request schemas grow beyond their budget".to_string()
                } else {
                    format!(
                        "the request schema of `{model}` grows beyond {} KiB",
                        MAX_INLINED >> 10
                    )
                };
                return Err(CatalogError(format!(
                    "{what} once their `$ref`s are inlined"
                )));
            }
            document_left -= allowed - budget;
            let kind = kinds
                .get(&model)
                .copied()
                .unwrap_or_else(|| guess_kind(&model, &schema));
            let summary = op
                .get("summary")
                .and_then(Value::as_str)
                .map(str::to_string);
            endpoints.insert(
                model.clone(),
                Endpoint {
                    model,
                    kind,
                    schema,
                    multipart,
                    sse: false,
                    summary,
                },
            );
        }
        for model in sse_twins {
            if let Some(e) = endpoints.get_mut(&model) {
                e.sse = true;
            }
        }
        if endpoints.is_empty() {
            return Err(CatalogError(
                "no POST /generation/{provider}/{model} operations".into(),
            ));
        }
        Ok(Self { endpoints })
    }

    pub fn get(&self, model: &str) -> Option<&Endpoint> {
        self.endpoints.get(model.trim_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_path_spellings_refs_and_docs_groups() {
        let openapi = json!({
            "openapi": "3.1.0",
            "servers": [{"url": "/api"}],
            "paths": {
                "/v1/generation/kling-ai/v3/image": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Kling"}}}}}},
                "/v1/generation/sse/kling-ai/v3/image": {"post": {}},
                "/generation/google/veo-3.1": {"post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"duration": {"type": "integer"}}}}}}}},
                "/v1/generation/{id}": {"get": {}}
            },
            "components": {"schemas": {"Kling": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"$ref": "#/components/schemas/Prompt"}}}, "Prompt": {"type": "string"}}}
        });
        let docs = json!({"navigation": [{"group": "Images", "pages": ["POST /generation/kling-ai/v3/image"]}]});
        let c = Catalog::from_documents(&openapi, Some(&docs)).unwrap_or_default();
        let k = c.get("kling-ai/v3/image").cloned();
        assert_eq!(
            k.as_ref().map(|e| (e.kind, e.sse)),
            Some((Kind::Image, true))
        );
        assert_eq!(
            k.map(|e| e.schema["properties"]["prompt"]["type"].clone()),
            Some(json!("string"))
        );
        assert_eq!(c.get("google/veo-3.1").map(|e| e.kind), Some(Kind::Video));
        assert_eq!(c.endpoints.len(), 2);
    }

    #[test]
    fn the_shipped_snapshot_is_a_usable_catalog() {
        let openapi: Value =
            serde_json::from_str(super::super::SNAPSHOT_OPENAPI).unwrap_or_default();
        let docs: Option<Value> = serde_json::from_str(super::super::SNAPSHOT_DOCS).ok();
        let c = Catalog::from_documents(&openapi, docs.as_ref()).unwrap_or_default();
        assert!(c.endpoints.len() >= 5, "{:?}", c.endpoints.keys());
        assert_eq!(
            c.get("google/veo-3.1").map(|e| (e.kind, e.sse)),
            Some((Kind::Video, true))
        );
        assert_eq!(
            c.get("kling-ai/v3/image").map(|e| e.kind),
            Some(Kind::Image)
        );
    }

    /// Found with the `openapi` fuzz target (issue 8), which timed out on it: a 341-byte
    /// document whose schema `A` holds four `$ref`s to itself expanded to 4^16 values (minutes
    /// of CPU, gigabytes) before the depth guard stopped it, hanging every command that loads
    /// the skills.video catalog. Now the inlining is bounded and the document refused, so kino
    /// falls back to its snapshot. The input is in the fuzz corpus
    /// (`fuzz/corpus/openapi/regression-fanning-ref-cycle.json`).
    #[test]
    fn a_fanning_ref_cycle_is_refused_not_expanded() {
        let a: Map<String, Value> = ["a", "b", "c", "d"]
            .iter()
            .map(|k| (k.to_string(), json!({"$ref": "#/components/schemas/A"})))
            .collect();
        let openapi = json!({"paths": {"/generation/a/b": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
            "components": {"schemas": {"A": a}}});
        let started = std::time::Instant::now();
        let got = Catalog::from_documents(&openapi, None);
        assert!(
            got.as_ref()
                .is_err_and(|e| e.0.contains("`a/b`") && e.0.contains("$ref")),
            "{got:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // The same budget in strings: one 64 KiB string referenced five times.
        let long = "x".repeat(64 << 10);
        let openapi = json!({"paths": {"/generation/a/b": {"post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                "p1": {"$ref": "#/components/schemas/S"}, "p2": {"$ref": "#/components/schemas/S"},
                "p3": {"$ref": "#/components/schemas/S"}, "p4": {"$ref": "#/components/schemas/S"},
                "p5": {"$ref": "#/components/schemas/S"}}}}}}}}},
            "components": {"schemas": {"S": {"type": "string", "description": long}}}});
        assert!(Catalog::from_documents(&openapi, None).is_err());
    }

    #[test]
    fn the_shipped_snapshot_fits_the_inlining_budget() {
        let openapi: Value =
            serde_json::from_str(include_str!("snapshot/openapi.json")).unwrap_or_default();
        let paths = openapi["paths"].as_object().map_or(0, Map::len);
        assert!(paths > 0);
        let mut total = 0;
        for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
            let mut budget = MAX_INLINED;
            let _ = inline_refs(item, &openapi, 0, &mut budget);
            assert!(MAX_INLINED - budget < MAX_INLINED / 16, "{path}");
            total += MAX_INLINED - budget;
        }
        assert!(total < MAX_DOCUMENT_INLINED / 4, "{total}");
        assert!(Catalog::from_documents(&openapi, None).is_ok());
    }

    #[test]
    fn many_operations_each_within_budget_are_refused_together() {
        // Review finding: the budget was per schema, so a document of many operations, each
        // just within it, could still hold gigabytes.
        let long = "x".repeat(200 << 10);
        let paths: Map<String, Value> = (0..40)
            .map(|i| {
                let schema = json!({"type": "object", "properties": {"p": {"$ref": "#/components/schemas/S"}}});
                (
                    format!("/generation/vendor/m{i}"),
                    json!({"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}),
                )
            })
            .collect();
        let openapi = json!({"paths": paths,
            "components": {"schemas": {"S": {"type": "string", "description": long}}}});
        let got = Catalog::from_documents(&openapi, None);
        assert!(
            got.as_ref().is_err_and(|e| e.0.contains("document")),
            "{got:?}"
        );
    }

    #[test]
    fn a_ref_cycle_terminates() {
        let openapi = json!({"paths": {"/generation/a/b": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
            "components": {"schemas": {"A": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/A"}}}}}});
        assert!(Catalog::from_documents(&openapi, None).is_ok());
        assert!(Catalog::from_documents(&json!({"paths": {}}), None).is_err());
    }
}
