//! The documents: `openapi.json` (3.0, or 3.1 with `sv_openapi_31`; `/generation/…` paths under
//! the full `…/api/v1` server, or `/v1/generation/…` under `/api` with `sv_v1_paths`) and the
//! Mintlify `docs.json` navigation. Both are generated from the model table.

use serde_json::{Map, Value, json};

use super::models::{Family, Field, Kind, MODELS, Model};

/// Which document variant to emit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Variant {
    pub v1_paths: bool,
    pub openapi_31: bool,
    pub legacy_status: bool,
}

impl Variant {
    fn prefix(self) -> &'static str {
        if self.v1_paths { "/v1" } else { "" }
    }

    /// `{"type": t}` plus nullability in this version's spelling.
    fn typed(self, t: &str, nullable: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if nullable && self.openapi_31 {
            m.insert("type".into(), json!([t, "null"]));
        } else {
            m.insert("type".into(), json!(t));
            if nullable {
                m.insert("nullable".into(), json!(true));
            }
        }
        m
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn property(v: Variant, field: &Field) -> Value {
    let base = match field.kind {
        Kind::Text { .. } | Kind::Uri | Kind::Choice(_) => "string",
        Kind::UriList { .. } => "array",
        Kind::IntChoice(_) | Kind::Int { .. } => "integer",
        Kind::Bool => "boolean",
    };
    let mut m = v.typed(base, field.nullable);
    m.insert("description".into(), json!(field.description));
    match field.kind {
        Kind::Text { max_len } => {
            if let Some(max) = max_len {
                m.insert("maxLength".into(), json!(max));
            }
        }
        Kind::Uri => {
            m.insert("format".into(), json!("uri"));
        }
        Kind::UriList { max_items } => {
            m.insert("items".into(), json!({"type": "string", "format": "uri"}));
            m.insert("maxItems".into(), json!(max_items));
        }
        Kind::Choice(options) => {
            if field.any_of_const {
                let alts: Vec<Value> = options.iter().map(|o| json!({"const": o})).collect();
                m.insert("anyOf".into(), Value::Array(alts));
            } else {
                m.insert("enum".into(), json!(options));
            }
        }
        Kind::IntChoice(options) => {
            m.insert("enum".into(), json!(options));
        }
        Kind::Int { min, max } => {
            if let Some(min) = min {
                m.insert("minimum".into(), json!(min));
            }
            if let Some(max) = max {
                m.insert("maximum".into(), json!(max));
            }
        }
        Kind::Bool => {}
    }
    if let Some(default) = field.default {
        m.insert("default".into(), default.to_json());
    }
    Value::Object(m)
}

fn request_schema(v: Variant, model: &Model) -> Value {
    let properties: Map<String, Value> = model
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), property(v, f)))
        .collect();
    let required: Vec<&str> = model
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({
        "type": "object",
        "title": format!("{} input", model.title),
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema_ref("ErrorResponse")}},
    })
}

/// `200` (`ok`) first, then the error statuses.
fn responses(ok: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("200".into(), ok);
    for (code, d) in [
        ("400", "Invalid input or unsupported model"),
        ("401", "Missing or invalid API key"),
        ("402", "Insufficient credits"),
        ("404", "Not found"),
        ("422", "Validation error"),
        ("429", "Rate limited"),
        ("500", "Internal error"),
    ] {
        m.insert(code.to_owned(), error_response(d));
    }
    m
}

fn tag(family: Family) -> &'static str {
    match family {
        Family::Image => "Images",
        Family::Video => "Videos",
    }
}

fn operation_id(model: &Model, sse: bool) -> String {
    let words: String = format!("{} {}", model.provider, model.model)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    if sse {
        format!("create{words}Sse")
    } else {
        format!("create{words}")
    }
}

fn create_operation(model: &Model, sse: bool) -> Value {
    let mut content = Map::new();
    content.insert(
        "application/json".into(),
        json!({"schema": schema_ref(model.schema)}),
    );
    if model.family == Family::Image {
        content.insert(
            "multipart/form-data".into(),
            json!({"schema": schema_ref(model.schema)}),
        );
    }
    let ok = if sse {
        json!({
            "description": "Server-sent events: one `data:` line (the Generation JSON) per status change; the stream ends after the terminal state.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        })
    } else {
        json!({
            "description": "Generation created",
            "content": {"application/json": {"schema": schema_ref("Generation")}},
        })
    };
    let responses = responses(ok);
    let summary = if sse {
        format!("{} (SSE)", model.title)
    } else {
        model.title.to_owned()
    };
    json!({
        "operationId": operation_id(model, sse),
        "summary": summary,
        "tags": [tag(model.family)],
        "security": [{"bearerAuth": []}],
        "requestBody": {"required": true, "content": content},
        "responses": responses,
    })
}

fn components(v: Variant) -> Value {
    let mut schemas = Map::new();
    for model in MODELS {
        schemas.insert(model.schema.to_owned(), request_schema(v, model));
    }
    schemas.insert(
        "QueueState".into(),
        json!({"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELED"]}),
    );
    schemas.insert(
        "PredictionStatus".into(),
        json!({"type": "string", "enum": ["starting", "processing", "succeeded", "failed", "canceled"]}),
    );
    schemas.insert(
        "Usage".into(),
        json!({
            "type": "object",
            "required": ["total", "subscription", "permanent"],
            "properties": {
                "total": {"type": "integer"},
                "subscription": {"type": "integer"},
                "permanent": {"type": "integer"},
            },
        }),
    );
    let status = if v.legacy_status {
        "PredictionStatus"
    } else {
        "QueueState"
    };
    let mut data = v.typed("object", true);
    data.insert(
        "description".into(),
        json!("Model-specific output; null until the generation completes."),
    );
    data.insert("additionalProperties".into(), json!(true));
    schemas.insert(
        "Generation".into(),
        json!({
            "type": "object",
            "required": ["id", "status", "usage"],
            "properties": {
                "id": {"type": "string", "example": "gen_123"},
                "status": schema_ref(status),
                "input": {"type": "object", "additionalProperties": true},
                "data": data,
                "usage": schema_ref("Usage"),
                "code": {"type": "string", "description": "Machine-readable error code when FAILED."},
                "message": {"type": "string", "description": "Error message when FAILED."},
            },
        }),
    );
    schemas.insert("Credits".into(), schema_ref("Usage"));
    schemas.insert(
        "ErrorResponse".into(),
        json!({
            "type": "object",
            "required": ["message"],
            "properties": {
                "error": {"type": "string", "description": "Legacy error name."},
                "code": {"type": "string", "description": "Canonical machine-readable code."},
                "message": {"type": "string"},
            },
        }),
    );
    json!({
        "schemas": schemas,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
    })
}

/// The OpenAPI document. `base_url` is the full `http://host:port/api/v1`.
pub(crate) fn openapi(v: Variant, base_url: &str) -> Value {
    let p = v.prefix();
    let mut paths = Map::new();
    for model in MODELS {
        paths.insert(
            format!("{p}/generation/{}", model.slug()),
            json!({"post": create_operation(model, false)}),
        );
        paths.insert(
            format!("{p}/generation/sse/{}", model.slug()),
            json!({"post": create_operation(model, true)}),
        );
    }
    let get_responses = responses(
        json!({"description": "The generation", "content": {"application/json": {"schema": schema_ref("Generation")}}}),
    );
    paths.insert(
        format!("{p}/generation/{{id}}"),
        json!({"get": {
            "operationId": "getGeneration",
            "summary": "Get generation result",
            "security": [{"bearerAuth": []}],
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": get_responses,
        }}),
    );
    let credit_responses = responses(
        json!({"description": "Credit balance", "content": {"application/json": {"schema": schema_ref("Credits")}}}),
    );
    paths.insert(
        format!("{p}/credits"),
        json!({"get": {
            "operationId": "getCredits",
            "summary": "Credit balance",
            "security": [{"bearerAuth": []}],
            "responses": credit_responses,
        }}),
    );
    let running_responses = responses(
        json!({"description": "Running generations", "content": {"application/json": {"schema": {"type": "array", "items": schema_ref("Generation")}}}}),
    );
    paths.insert(
        format!("{p}/generations/running"),
        json!({"get": {
            "operationId": "listRunningGenerations",
            "summary": "List running generations",
            "security": [{"bearerAuth": []}],
            "parameters": [
                {"name": "workspace", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": false,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
            ],
            "responses": running_responses,
        }}),
    );
    let server = if v.v1_paths { "/api" } else { base_url };
    json!({
        "openapi": if v.openapi_31 { "3.1.0" } else { "3.0.3" },
        "info": {
            "title": "skills.video Open Platform API (kino sandbox)",
            "version": "1.0.0",
        },
        "servers": [{"url": server}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": components(v),
    })
}

/// The Mintlify `docs.json` navigation.
pub(crate) fn docs(v: Variant) -> Value {
    let p = v.prefix();
    let pages = |family: Family| -> Vec<String> {
        MODELS
            .iter()
            .filter(|m| m.family == family)
            .map(|m| format!("POST {p}/generation/{}", m.slug()))
            .collect()
    };
    json!({
        "$schema": "https://mintlify.com/docs.json",
        "theme": "mint",
        "name": "skills.video (kino sandbox)",
        "navigation": {
            "tabs": [
                {"tab": "Guides", "groups": [
                    {"group": "Get started", "pages": ["introduction", "quickstart", "sse", "http-status"]},
                ]},
                {"tab": "API", "openapi": "/api/openapi.json", "groups": [
                    {"group": "Images", "pages": pages(Family::Image)},
                    {"group": "Videos", "pages": pages(Family::Video)},
                    {"group": "Account", "pages": [
                        format!("GET {p}/generation/{{id}}"),
                        format!("GET {p}/generations/running"),
                        format!("GET {p}/credits"),
                    ]},
                ]},
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(v1_paths: bool, openapi_31: bool) -> Variant {
        Variant {
            v1_paths,
            openapi_31,
            legacy_status: false,
        }
    }

    /// Every `$ref` in `v` resolves inside `doc`.
    fn refs_resolve(doc: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    let ptr = r.strip_prefix('#').expect("local ref");
                    assert!(doc.pointer(ptr).is_some(), "dangling {r}");
                }
                m.values().for_each(|x| refs_resolve(doc, x));
            }
            Value::Array(a) => a.iter().for_each(|x| refs_resolve(doc, x)),
            _ => {}
        }
    }

    #[test]
    fn openapi_30_layout() {
        let doc = openapi(variant(false, false), "http://h:1/api/v1");
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(doc["servers"][0]["url"], "http://h:1/api/v1");
        refs_resolve(&doc, &doc);
        let op = &doc["paths"]["/generation/google/veo-3.1"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Veo31Request"
        );
        assert!(doc["paths"]["/generation/sse/kling-ai/v3/image"]["post"].is_object());
        assert!(doc["paths"]["/generation/{id}"]["get"].is_object());
        let veo = &doc["components"]["schemas"]["Veo31Request"];
        assert_eq!(veo["additionalProperties"], false);
        assert_eq!(veo["required"], json!(["prompt"]));
        assert_eq!(veo["properties"]["duration"]["enum"], json!([4, 6, 8]));
        assert_eq!(veo["properties"]["negative_prompt"]["nullable"], true);
        let gpt = &doc["components"]["schemas"]["GptImage15Request"];
        assert_eq!(gpt["properties"]["quality"]["anyOf"][0]["const"], "low");
        assert_eq!(
            doc["components"]["schemas"]["QueueState"]["enum"][0],
            "IN_QUEUE"
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn openapi_31_with_v1_paths() {
        let doc = openapi(variant(true, true), "http://h:1/api/v1");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/api");
        refs_resolve(&doc, &doc);
        assert!(doc["paths"]["/v1/generation/google/nano-banana-pro"]["post"].is_object());
        assert!(
            doc["paths"]
                .get("/generation/google/nano-banana-pro")
                .is_none()
        );
        let veo = &doc["components"]["schemas"]["Veo31Request"];
        assert_eq!(
            veo["properties"]["negative_prompt"]["type"],
            json!(["string", "null"])
        );
        assert!(
            veo["properties"]["negative_prompt"]
                .get("nullable")
                .is_none()
        );
    }

    #[test]
    fn docs_groups() {
        let d = docs(variant(false, false));
        let groups = &d["navigation"]["tabs"][1]["groups"];
        assert_eq!(groups[0]["group"], "Images");
        assert_eq!(
            groups[0]["pages"][0],
            "POST /generation/google/nano-banana-pro"
        );
        assert_eq!(groups[1]["group"], "Videos");
    }
}
