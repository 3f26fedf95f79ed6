//! The model table (one entry per `{provider}/{model}` route) and the server-side validation of
//! request bodies against it. The OpenAPI documents are generated from the same table.

use serde_json::{Map, Number, Value};

/// Which error-code family a model's errors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Image,
    Video,
}

impl Family {
    /// `IMAGE_GENERATION` / `VIDEO_GENERATION`.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Family::Image => "IMAGE_GENERATION",
            Family::Video => "VIDEO_GENERATION",
        }
    }

    /// Credits charged per output (images) or per generation (videos).
    pub(crate) fn cost(self, n: i64) -> i64 {
        match self {
            Family::Image => 20i64.saturating_mul(n.max(1)),
            Family::Video => 100,
        }
    }
}

/// Type and constraints of one request field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Text {
        max_len: Option<usize>,
    },
    /// A string with `format: uri` (a file part when multipart).
    Uri,
    /// An array of URIs (repeat the field when multipart; file parts count as values).
    UriList {
        max_items: usize,
    },
    Choice(&'static [&'static str]),
    IntChoice(&'static [i64]),
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Bool,
}

/// A default value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Preset {
    Str(&'static str),
    Int(i64),
    Bool(bool),
}

impl Preset {
    pub(crate) fn to_json(self) -> Value {
        match self {
            Preset::Str(s) => Value::from(s),
            Preset::Int(i) => Value::from(i),
            Preset::Bool(b) => Value::from(b),
        }
    }
}

/// One property of a request schema.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<Preset>,
    pub description: &'static str,
    /// Document the enum as `anyOf: [{"const": …}]` instead of `enum`.
    pub any_of_const: bool,
    /// `null` is accepted (and means "absent"); documented as nullable.
    pub nullable: bool,
}

const fn field(name: &'static str, kind: Kind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        default: None,
        description,
        any_of_const: false,
        nullable: false,
    }
}

impl Field {
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn default(mut self, preset: Preset) -> Self {
        self.default = Some(preset);
        self
    }

    const fn any_of_const(mut self) -> Self {
        self.any_of_const = true;
        self
    }

    const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
}

/// One model endpoint.
#[derive(Debug)]
pub(crate) struct Model {
    pub provider: &'static str,
    /// May contain `/` (`kling-ai/v3/image`).
    pub model: &'static str,
    pub family: Family,
    pub title: &'static str,
    /// Name of the request schema in `components.schemas`.
    pub schema: &'static str,
    pub fields: &'static [Field],
    /// SSE frames use `\r\n` line endings and split the JSON over two `data:` lines.
    pub split_frames: bool,
}

impl Model {
    /// `provider/model`.
    pub(crate) fn slug(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    pub(crate) fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const ASPECTS: &[&str] = &["1:1", "16:9", "9:16", "4:3", "3:4"];

const NANO_BANANA_PRO: &[Field] = &[
    field(
        "prompt",
        Kind::Text {
            max_len: Some(5000),
        },
        "What to generate.",
    )
    .required(),
    field(
        "image_urls",
        Kind::UriList { max_items: 14 },
        "Reference images: URLs, or files when sent as multipart/form-data.",
    ),
    field("aspect_ratio", Kind::Choice(ASPECTS), "Aspect ratio.").default(Preset::Str("1:1")),
    field(
        "resolution",
        Kind::Choice(&["1K", "2K", "4K"]),
        "Output resolution.",
    )
    .default(Preset::Str("1K")),
    field(
        "n",
        Kind::Int {
            min: Some(1),
            max: Some(4),
        },
        "Number of images.",
    )
    .default(Preset::Int(1)),
];

const KLING_V3_IMAGE: &[Field] = &[
    field(
        "prompt",
        Kind::Text {
            max_len: Some(2500),
        },
        "What to generate.",
    )
    .required(),
    field(
        "negative_prompt",
        Kind::Text {
            max_len: Some(2500),
        },
        "What to avoid.",
    ),
    field("aspect_ratio", Kind::Choice(ASPECTS), "Aspect ratio.").default(Preset::Str("1:1")),
    field(
        "n",
        Kind::Int {
            min: Some(1),
            max: Some(4),
        },
        "Number of images.",
    )
    .default(Preset::Int(1)),
];

const GPT_IMAGE_15: &[Field] = &[
    field(
        "prompt",
        Kind::Text {
            max_len: Some(32000),
        },
        "What to generate.",
    )
    .required(),
    field(
        "size",
        Kind::Choice(&["1024x1024", "1536x1024", "1024x1536"]),
        "Output size.",
    )
    .default(Preset::Str("1024x1024")),
    field(
        "quality",
        Kind::Choice(&["low", "medium", "high"]),
        "Rendering quality.",
    )
    .default(Preset::Str("medium"))
    .any_of_const(),
    field(
        "background",
        Kind::Choice(&["auto", "transparent", "opaque"]),
        "Background handling.",
    )
    .default(Preset::Str("auto")),
];

const VEO_31: &[Field] = &[
    field(
        "prompt",
        Kind::Text {
            max_len: Some(5000),
        },
        "What to generate.",
    )
    .required(),
    field(
        "mode",
        Kind::Choice(&["text-image", "reference", "frames"]),
        "Generation mode.",
    )
    .default(Preset::Str("text-image")),
    field(
        "reference_image_urls",
        Kind::UriList { max_items: 3 },
        "Reference images (mode `reference`).",
    ),
    field("first_frame_url", Kind::Uri, "First frame (mode `frames`)."),
    field("last_frame_url", Kind::Uri, "Last frame (mode `frames`)."),
    field(
        "duration",
        Kind::IntChoice(&[4, 6, 8]),
        "Duration in seconds.",
    )
    .default(Preset::Int(8)),
    field(
        "resolution",
        Kind::Choice(&["720p", "1080p"]),
        "Output resolution.",
    )
    .default(Preset::Str("1080p")),
    field(
        "aspect_ratio",
        Kind::Choice(&["16:9", "9:16"]),
        "Aspect ratio.",
    )
    .default(Preset::Str("16:9")),
    field("generate_audio", Kind::Bool, "Generate an audio track.").default(Preset::Bool(true)),
    field(
        "negative_prompt",
        Kind::Text {
            max_len: Some(5000),
        },
        "What to avoid.",
    )
    .nullable(),
    field(
        "seed",
        Kind::Int {
            min: Some(0),
            max: Some(4_294_967_295),
        },
        "Random seed.",
    ),
    field(
        "n",
        Kind::Int {
            min: Some(1),
            max: Some(4),
        },
        "Number of videos.",
    )
    .default(Preset::Int(1)),
];

const WAN_V26: &[Field] = &[
    field(
        "prompt",
        Kind::Text {
            max_len: Some(1500),
        },
        "What to generate.",
    )
    .required(),
    field("image_url", Kind::Uri, "First frame (image-to-video)."),
    field(
        "duration",
        Kind::IntChoice(&[5, 10, 15]),
        "Duration in seconds.",
    )
    .default(Preset::Int(5)),
    field(
        "resolution",
        Kind::Choice(&["720p", "1080p"]),
        "Output resolution.",
    )
    .default(Preset::Str("1080p")),
    field(
        "prompt_extend",
        Kind::Bool,
        "Let the model rewrite the prompt.",
    )
    .default(Preset::Bool(true)),
];

/// Every emulated model endpoint.
pub(crate) static MODELS: &[Model] = &[
    Model {
        provider: "google",
        model: "nano-banana-pro",
        family: Family::Image,
        title: "Nano Banana Pro",
        schema: "NanoBananaProRequest",
        fields: NANO_BANANA_PRO,
        split_frames: false,
    },
    Model {
        provider: "kling-ai",
        model: "v3/image",
        family: Family::Image,
        title: "Kling V3 Image",
        schema: "KlingV3ImageRequest",
        fields: KLING_V3_IMAGE,
        split_frames: true,
    },
    Model {
        provider: "openai",
        model: "gpt-image-1.5",
        family: Family::Image,
        title: "GPT Image 1.5",
        schema: "GptImage15Request",
        fields: GPT_IMAGE_15,
        split_frames: false,
    },
    Model {
        provider: "google",
        model: "veo-3.1",
        family: Family::Video,
        title: "Veo 3.1",
        schema: "Veo31Request",
        fields: VEO_31,
        split_frames: false,
    },
    Model {
        provider: "wan",
        model: "wan-v2.6",
        family: Family::Video,
        title: "Wan v2.6",
        schema: "WanV26Request",
        fields: WAN_V26,
        split_frames: false,
    },
];

/// Why a create path does not name a model.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// Unknown provider (or no provider at all) → 404.
    UnknownProvider(String),
    /// Known provider, unknown model → 400 `…_UNSUPPORTED_MODEL`.
    UnsupportedModel { slug: String, family: Family },
}

/// Resolve the part of a create path after `/generation/`: `[sse/]{provider}/{model...}`.
/// Returns the model and whether it is the SSE twin.
pub(crate) fn resolve(rest: &str) -> Result<(&'static Model, bool), RouteError> {
    let (rest, sse) = match rest.strip_prefix("sse/") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let rest = rest.trim_end_matches('/');
    let (provider, model) = rest.split_once('/').unwrap_or((rest, ""));
    let of_provider: Vec<&'static Model> =
        MODELS.iter().filter(|m| m.provider == provider).collect();
    if of_provider.is_empty() {
        return Err(RouteError::UnknownProvider(provider.to_owned()));
    }
    match of_provider.iter().find(|m| m.model == model) {
        Some(m) => Ok((m, sse)),
        None => {
            let lower = model.to_ascii_lowercase();
            let family = if ["image", "banana", "imagen"]
                .iter()
                .any(|k| lower.contains(k))
                || of_provider.iter().all(|m| m.family == Family::Image)
            {
                Family::Image
            } else {
                Family::Video
            };
            Err(RouteError::UnsupportedModel {
                slug: rest.to_owned(),
                family,
            })
        }
    }
}

fn is_uri(s: &str) -> bool {
    let lower = s.trim().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len())
        || lower.starts_with("data:")
}

fn one_of(values: impl IntoIterator<Item = String>) -> String {
    values.into_iter().collect::<Vec<_>>().join(", ")
}

/// Check one value against its field; `label` names it in messages (`image_urls[2]`).
fn check(field: &Field, value: &Value) -> Result<(), String> {
    let name = field.name;
    match field.kind {
        Kind::Text { max_len } => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("`{name}` must be a string."))?;
            if field.required && s.trim().is_empty() {
                return Err(format!("`{name}` must not be empty."));
            }
            if let Some(max) = max_len
                && s.chars().count() > max
            {
                return Err(format!("`{name}` must be at most {max} characters."));
            }
        }
        Kind::Uri => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("`{name}` must be a string (a URI)."))?;
            if !is_uri(s) {
                return Err(format!("`{name}` must be a URI (http, https or data)."));
            }
        }
        Kind::UriList { max_items } => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("`{name}` must be an array of URIs."))?;
            if items.len() > max_items {
                return Err(format!("`{name}` must have at most {max_items} items."));
            }
            for (i, item) in items.iter().enumerate() {
                if !item.as_str().is_some_and(is_uri) {
                    return Err(format!(
                        "`{name}[{i}]` must be a URI (http, https or data)."
                    ));
                }
            }
        }
        Kind::Choice(options) => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("`{name}` must be a string."))?;
            if !options.contains(&s) {
                return Err(format!(
                    "`{name}` must be one of: {}.",
                    one_of(options.iter().map(|o| (*o).to_owned()))
                ));
            }
        }
        Kind::IntChoice(options) => {
            let i = value
                .as_i64()
                .ok_or_else(|| format!("`{name}` must be an integer."))?;
            if !options.contains(&i) {
                return Err(format!(
                    "`{name}` must be one of: {}.",
                    one_of(options.iter().map(i64::to_string))
                ));
            }
        }
        Kind::Int { min, max } => {
            let i = value
                .as_i64()
                .ok_or_else(|| format!("`{name}` must be an integer."))?;
            if min.is_some_and(|m| i < m) || max.is_some_and(|m| i > m) {
                return Err(match (min, max) {
                    (Some(a), Some(b)) => format!("`{name}` must be between {a} and {b}."),
                    (Some(a), None) => format!("`{name}` must be at least {a}."),
                    (None, Some(b)) => format!("`{name}` must be at most {b}."),
                    (None, None) => format!("`{name}` is out of range."),
                });
            }
        }
        Kind::Bool => {
            if !value.is_boolean() {
                return Err(format!("`{name}` must be a boolean."));
            }
        }
    }
    Ok(())
}

/// Validate a JSON body against the model's schema. Returns the normalized input: the schema's
/// fields in schema order, defaults filled in, `null`s of nullable fields dropped.
pub(crate) fn validate(
    model: &Model,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    if let Some(unknown) = body.keys().find(|k| model.field(k).is_none()) {
        return Err(format!(
            "Unknown field `{unknown}`: not part of the {} input schema.",
            model.slug()
        ));
    }
    let mut out = Map::new();
    for field in model.fields {
        match body.get(field.name) {
            None => {}
            Some(Value::Null) if field.nullable => {}
            Some(Value::Null) => {
                return Err(format!("`{}` must not be null.", field.name));
            }
            Some(value) => {
                check(field, value)?;
                out.insert(field.name.to_owned(), value.clone());
                continue;
            }
        }
        if field.required {
            return Err(format!("`{}` is required.", field.name));
        }
        if let Some(preset) = field.default {
            out.insert(field.name.to_owned(), preset.to_json());
        }
    }
    Ok(out)
}

/// One value of a multipart field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FormValue {
    Text(String),
    /// A file part, already given the URL it will be served at.
    File(String),
}

/// Turn multipart fields into the JSON body they stand for (by the schema's types), then
/// validate it like a JSON body.
pub(crate) fn validate_form(
    model: &Model,
    fields: &[(String, FormValue)],
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in fields {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
        }
    }
    for name in seen {
        let Some(field) = model.field(name) else {
            return Err(format!(
                "Unknown field `{name}`: not part of the {} input schema.",
                model.slug()
            ));
        };
        let values: Vec<&FormValue> = fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect();
        let value = if let Kind::UriList { .. } = field.kind {
            Value::Array(
                values
                    .iter()
                    .map(|v| match v {
                        FormValue::Text(s) | FormValue::File(s) => Value::from(s.as_str()),
                    })
                    .collect(),
            )
        } else {
            let [single] = values.as_slice() else {
                return Err(format!("`{name}` must be given once."));
            };
            let text = match (single, field.kind) {
                (FormValue::File(url), Kind::Uri) => url.as_str(),
                (FormValue::File(_), _) => {
                    return Err(format!("`{name}` does not accept a file."));
                }
                (FormValue::Text(s), _) => s.as_str(),
            };
            match field.kind {
                Kind::Int { .. } | Kind::IntChoice(_) => match text.trim().parse::<i64>() {
                    Ok(i) => Value::Number(Number::from(i)),
                    Err(_) => return Err(format!("`{name}` must be an integer.")),
                },
                Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => return Err(format!("`{name}` must be a boolean.")),
                },
                _ => Value::from(text),
            }
        };
        body.insert(name.to_owned(), value);
    }
    validate(model, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(slug: &str) -> &'static Model {
        resolve(slug).expect("known model").0
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn routes_resolve_multi_segment_models() {
        let (m, sse) = resolve("sse/kling-ai/v3/image").expect("kling");
        assert!(sse);
        assert_eq!(m.schema, "KlingV3ImageRequest");
        assert!(!resolve("google/veo-3.1").expect("veo").1);
        assert_eq!(
            resolve("nobody/x").err(),
            Some(RouteError::UnknownProvider("nobody".into()))
        );
        assert_eq!(
            resolve("").err(),
            Some(RouteError::UnknownProvider(String::new()))
        );
        assert_eq!(
            resolve("google/nano-banana-9").err(),
            Some(RouteError::UnsupportedModel {
                slug: "google/nano-banana-9".into(),
                family: Family::Image
            })
        );
        assert!(matches!(
            resolve("google/veo-9"),
            Err(RouteError::UnsupportedModel {
                family: Family::Video,
                ..
            })
        ));
        assert!(matches!(
            resolve("kling-ai/v3"),
            Err(RouteError::UnsupportedModel {
                family: Family::Image,
                ..
            })
        ));
    }

    #[test]
    fn validation_fills_defaults_and_names_fields() {
        let veo = model("google/veo-3.1");
        let input = validate(
            veo,
            &obj(json!({"prompt": "a cat", "negative_prompt": null})),
        )
        .expect("valid");
        assert_eq!(input["duration"], 8);
        assert_eq!(input["resolution"], "1080p");
        assert_eq!(input["generate_audio"], true);
        assert!(input.get("negative_prompt").is_none());
        let err = |v: Value| validate(veo, &obj(v)).expect_err("invalid");
        assert!(err(json!({"prompt": "x", "duration": 7})).contains("`duration`"));
        assert!(err(json!({"prompt": "x", "duration": "8"})).contains("integer"));
        assert!(err(json!({"prompt": "x", "bogus": 1})).contains("`bogus`"));
        assert!(err(json!({"duration": 8})).contains("`prompt` is required"));
        assert!(err(json!({"prompt": "x", "n": 5})).contains("between 1 and 4"));
        assert!(err(json!({"prompt": "x", "first_frame_url": "ftp://x"})).contains("URI"));
        assert!(err(json!({"prompt": "x", "seed": null})).contains("null"));
        let nano = model("google/nano-banana-pro");
        let long = "x".repeat(5001);
        assert!(
            validate(nano, &obj(json!({"prompt": long})))
                .expect_err("too long")
                .contains("5000")
        );
        let urls: Vec<String> = (0..15).map(|i| format!("https://h/{i}.png")).collect();
        assert!(
            validate(nano, &obj(json!({"prompt": "x", "image_urls": urls})))
                .expect_err("too many")
                .contains("14")
        );
        assert!(
            validate(
                nano,
                &obj(json!({"prompt": "x", "image_urls": ["https://a", 3]}))
            )
            .expect_err("bad item")
            .contains("image_urls[1]")
        );
    }

    #[test]
    fn form_values_are_coerced_by_schema() {
        let nano = model("google/nano-banana-pro");
        let f = |n: &str, v: FormValue| (n.to_owned(), v);
        let input = validate_form(
            nano,
            &[
                f("prompt", FormValue::Text("a cat".into())),
                f("image_urls", FormValue::File("http://cdn/a.png".into())),
                f("image_urls", FormValue::Text("https://x/b.png".into())),
                f("n", FormValue::Text("2".into())),
            ],
        )
        .expect("valid form");
        assert_eq!(
            input["image_urls"],
            json!(["http://cdn/a.png", "https://x/b.png"])
        );
        assert_eq!(input["n"], 2);
        assert!(
            validate_form(nano, &[f("prompt", FormValue::File("http://c/a".into()))])
                .expect_err("file prompt")
                .contains("does not accept a file")
        );
        assert!(
            validate_form(
                nano,
                &[
                    f("prompt", FormValue::Text("a".into())),
                    f("n", FormValue::Text("two".into()))
                ]
            )
            .expect_err("bad n")
            .contains("`n` must be an integer")
        );
        let wan = model("wan/wan-v2.6");
        let input = validate_form(
            wan,
            &[
                f("prompt", FormValue::Text("a".into())),
                f("prompt_extend", FormValue::Text("FALSE".into())),
                f("image_url", FormValue::File("http://cdn/a.png".into())),
            ],
        )
        .expect("valid");
        assert_eq!(input["prompt_extend"], false);
        assert_eq!(input["image_url"], "http://cdn/a.png");
    }
}
