//! DashScope Wan model table and per-family request validation (contracts §1.3).
//!
//! Everything here is a pure function of the request body, so it is unit-tested without a server.
//! Rules the public material does not pin down (marked `[inferred]` in the contract) are kept
//! lenient: wan2.7-r2v and the animate models accept any reasonable input.

use serde_json::{Map, Value};

type Obj = Map<String, Value>;

/// Which submit path a model is served on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/services/aigc/video-generation/video-synthesis`
    VideoGeneration,
    /// `/services/aigc/image2video/video-synthesis`
    Image2Video,
}

/// Request protocol family of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// wan2.1–2.6 text-to-video (`size`).
    T2v,
    /// wan2.1–2.6 image-to-video (`img_url`, `resolution`).
    I2v,
    /// First+last frame (`image2video` endpoint).
    Kf2v,
    /// wan2.6 reference-to-video (`reference_urls`, `size`).
    R2v,
    /// wan2.1 VACE (`input.function`).
    Vace,
    /// wan2.2-animate-{mix,move} (`image2video` endpoint, not validated further).
    Animate,
    Wan27T2v,
    /// `media` protocol.
    Wan27I2v,
    Wan27R2v,
    Wan27VideoEdit,
    HhT2v,
    HhI2v,
    HhR2v,
    HhVideoEdit,
}

/// Every model id the sandbox knows.
const MODELS: &[(&str, Family)] = &[
    ("wan2.7-t2v", Family::Wan27T2v),
    ("wan2.7-t2v-2026-04-25", Family::Wan27T2v),
    ("wan2.7-t2v-2026-06-12", Family::Wan27T2v),
    ("wan2.7-i2v", Family::Wan27I2v),
    ("wan2.7-i2v-2026-04-25", Family::Wan27I2v),
    ("wan2.7-r2v", Family::Wan27R2v),
    ("wan2.7-r2v-2026-06-12", Family::Wan27R2v),
    ("wan2.7-videoedit", Family::Wan27VideoEdit),
    ("wan2.6-t2v", Family::T2v),
    ("wan2.6-i2v", Family::I2v),
    ("wan2.6-i2v-flash", Family::I2v),
    ("wan2.6-r2v", Family::R2v),
    ("wan2.6-r2v-flash", Family::R2v),
    ("wan2.5-t2v-preview", Family::T2v),
    ("wan2.5-i2v-preview", Family::I2v),
    ("wan2.2-t2v-plus", Family::T2v),
    ("wan2.2-i2v-plus", Family::I2v),
    ("wan2.2-i2v-flash", Family::I2v),
    ("wan2.2-kf2v-flash", Family::Kf2v),
    ("wan2.2-animate-mix", Family::Animate),
    ("wan2.2-animate-move", Family::Animate),
    ("wan2.1-t2v-plus", Family::T2v),
    ("wan2.1-t2v-turbo", Family::T2v),
    ("wan2.1-i2v-plus", Family::I2v),
    ("wan2.1-i2v-turbo", Family::I2v),
    ("wan2.1-kf2v-plus", Family::Kf2v),
    ("wan2.1-vace-plus", Family::Vace),
    ("wanx2.1-t2v-plus", Family::T2v),
    ("wanx2.1-t2v-turbo", Family::T2v),
    ("wanx2.1-i2v-plus", Family::I2v),
    ("wanx2.1-i2v-turbo", Family::I2v),
    ("wanx2.1-kf2v-plus", Family::Kf2v),
    ("wanx2.1-vace-plus", Family::Vace),
    ("happyhorse-1.0-t2v", Family::HhT2v),
    ("happyhorse-1.0-i2v", Family::HhI2v),
    ("happyhorse-1.0-r2v", Family::HhR2v),
    ("happyhorse-1.0-video-edit", Family::HhVideoEdit),
];

/// Family of a known model id.
pub(crate) fn lookup(model: &str) -> Option<Family> {
    MODELS
        .iter()
        .find(|(id, _)| *id == model)
        .map(|(_, family)| *family)
}

impl Family {
    /// The only submit path this family is served on. Per contract §1.2 the kf2v and animate
    /// models live on `image2video`; everything else on `video-generation`.
    pub(crate) fn endpoint(self) -> Endpoint {
        match self {
            Family::Kf2v | Family::Animate => Endpoint::Image2Video,
            _ => Endpoint::VideoGeneration,
        }
    }
}

/// wan2.1/2.2 report the old `usage` shape (`video_duration`).
pub(crate) fn legacy_usage(model: &str) -> bool {
    ["wan2.1", "wanx2.1", "wan2.2"]
        .iter()
        .any(|p| model.starts_with(p))
}

/// wan2.7 and happyhorse report the result at `output.results[0].url` instead of `output.video_url`.
pub(crate) fn url_in_results(model: &str) -> bool {
    model.starts_with("wan2.7") || model.starts_with("happyhorse")
}

/// A rejected request: HTTP 400 with this body `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> RuleError {
    RuleError {
        code: "InvalidParameter",
        message: message.into(),
    }
}

/// §1.7: a URL the service cannot use.
pub(crate) const BAD_URL_CODE: &str = "invalid_parameter_error";
pub(crate) const BAD_URL_MESSAGE: &str = "InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. Ensure it is correctly formatted.";

fn bad_url() -> RuleError {
    RuleError {
        code: BAD_URL_CODE,
        message: BAD_URL_MESSAGE.to_owned(),
    }
}

/// What the task needs from an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub prompt: Option<String>,
    /// Output duration in seconds (requested, else 5).
    pub duration: u32,
    /// Short side tier: 480 / 720 / 1080.
    pub sr: u32,
    pub ratio: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generation {
    V21,
    V22,
    V25,
    V26,
    V27,
    HappyHorse,
}

fn generation(model: &str) -> Generation {
    if model.starts_with("wan2.7") {
        Generation::V27
    } else if model.starts_with("wan2.6") {
        Generation::V26
    } else if model.starts_with("wan2.5") {
        Generation::V25
    } else if model.starts_with("wan2.2") {
        Generation::V22
    } else if model.starts_with("happyhorse") {
        Generation::HappyHorse
    } else {
        Generation::V21
    }
}

/// `parameters.size` values (§1.3), with their resolution tier.
const SIZES: &[(&str, u32)] = &[
    ("832*480", 480),
    ("480*832", 480),
    ("624*624", 480),
    ("1280*720", 720),
    ("720*1280", 720),
    ("960*960", 720),
    ("1088*832", 720),
    ("832*1088", 720),
    ("1920*1080", 1080),
    ("1080*1920", 1080),
    ("1440*1440", 1080),
    ("1632*1248", 1080),
    ("1248*1632", 1080),
];
const RESOLUTIONS_ALL: &[&str] = &["480P", "720P", "1080P"];
const RESOLUTIONS_HD: &[&str] = &["720P", "1080P"];
const RATIOS: &[&str] = &["16:9", "9:16", "1:1", "4:3", "3:4"];
const VACE_FUNCTIONS: &[&str] = &[
    "image_reference",
    "video_repainting",
    "video_edit",
    "video_extension",
    "video_outpainting",
];

/// Which output-shape key a family takes.
enum ShapeKey {
    Size,
    Resolution(&'static [&'static str]),
    Any,
}

fn shape_key(family: Family) -> ShapeKey {
    match family {
        Family::T2v | Family::R2v | Family::Vace => ShapeKey::Size,
        Family::I2v | Family::Kf2v => ShapeKey::Resolution(RESOLUTIONS_ALL),
        Family::Animate => ShapeKey::Any,
        _ => ShapeKey::Resolution(RESOLUTIONS_HD),
    }
}

/// Validate `input`/`parameters` for `model` (already known to be of `family`).
pub(crate) fn validate(
    model: &str,
    family: Family,
    input: &Obj,
    params: &Obj,
) -> Result<Accepted, RuleError> {
    let generation = generation(model);

    // --- prompt
    let prompt = opt_str(input, "input", "prompt")?.map(str::to_owned);
    let prompt_required = matches!(
        family,
        Family::T2v
            | Family::R2v
            | Family::Vace
            | Family::Wan27T2v
            | Family::Wan27R2v
            | Family::HhT2v
    );
    if prompt_required && prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(invalid("Field required: input.prompt"));
    }
    let max_prompt = match (family, generation) {
        (Family::T2v, Generation::V26 | Generation::V25) => Some(1500),
        (Family::T2v, _) => Some(800),
        (_, Generation::V27 | Generation::HappyHorse) => Some(5000),
        _ => None,
    };
    if let (Some(max), Some(p)) = (max_prompt, prompt.as_deref())
        && p.chars().count() > max
    {
        return Err(invalid(format!(
            "Range of input.prompt length should be [0, {max}] for model {model}."
        )));
    }
    if let Some(np) = opt_str(input, "input", "negative_prompt")?
        && np.chars().count() > 500
    {
        return Err(invalid(
            "Range of input.negative_prompt length should be [0, 500].",
        ));
    }

    // --- output shape: size vs resolution
    let mut sr = match family {
        Family::Wan27T2v
        | Family::Wan27I2v
        | Family::Wan27R2v
        | Family::Wan27VideoEdit
        | Family::HhT2v
        | Family::HhI2v
        | Family::HhR2v
        | Family::HhVideoEdit => 1080,
        _ => 720,
    };
    let mut ratio = None;
    match shape_key(family) {
        ShapeKey::Size => {
            if get(params, "resolution").is_some() {
                return Err(invalid(format!(
                    "The parameter `resolution` is not supported by model {model}; use `size` (e.g. \"1280*720\")."
                )));
            }
            if let Some(size) = opt_str(params, "parameters", "size")? {
                let tier = SIZES.iter().find(|(s, _)| *s == size).map(|(_, t)| *t);
                let Some(tier) = tier else {
                    return Err(invalid(format!(
                        "The size '{size}' is invalid for model {model}; use \"W*H\" (e.g. \"1280*720\")."
                    )));
                };
                sr = tier;
                ratio = size_ratio(size);
            }
        }
        ShapeKey::Resolution(allowed) => {
            if get(params, "size").is_some() {
                return Err(invalid(format!(
                    "The parameter `size` is not supported by model {model}; use `resolution` (one of {}).",
                    allowed.join(", ")
                )));
            }
            if let Some(res) = opt_str(params, "parameters", "resolution")? {
                if !allowed.contains(&res) {
                    return Err(invalid(format!(
                        "The resolution '{res}' is invalid for model {model}; expected one of {}.",
                        allowed.join(", ")
                    )));
                }
                sr = res.trim_end_matches('P').parse().unwrap_or(sr);
            }
        }
        ShapeKey::Any => {}
    }
    let takes_ratio = matches!(
        family,
        Family::Wan27T2v
            | Family::Wan27R2v
            | Family::Wan27VideoEdit
            | Family::HhT2v
            | Family::HhR2v
    );
    if takes_ratio && let Some(r) = opt_str(params, "parameters", "ratio")? {
        if !RATIOS.contains(&r) {
            return Err(invalid(format!(
                "The ratio '{r}' is invalid; expected one of {}.",
                RATIOS.join(", ")
            )));
        }
        ratio = Some(r.to_owned());
    }

    // --- duration
    let duration = opt_int(params, "parameters", "duration")?;
    if let Some(d) = duration
        && let Some(allowed) = duration_rule(family, generation)
        && !allowed.contains(d)
    {
        return Err(invalid(format!(
            "The duration {d} is not supported by model {model}; allowed: {}.",
            allowed.describe()
        )));
    }

    // --- per-family inputs
    check_inputs(family, input, params)?;

    let duration = duration
        .filter(|d| *d > 0)
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(5);
    Ok(Accepted {
        prompt,
        duration,
        sr,
        ratio: ratio.unwrap_or_else(|| "16:9".to_owned()),
    })
}

enum DurationRule {
    Range(i64, i64),
    OneOf(&'static [i64]),
    ZeroOrRange(i64, i64),
}

impl DurationRule {
    fn contains(&self, d: i64) -> bool {
        match self {
            DurationRule::Range(lo, hi) => (*lo..=*hi).contains(&d),
            DurationRule::OneOf(set) => set.contains(&d),
            DurationRule::ZeroOrRange(lo, hi) => d == 0 || (*lo..=*hi).contains(&d),
        }
    }

    fn describe(&self) -> String {
        match self {
            DurationRule::Range(lo, hi) => format!("[{lo}, {hi}]"),
            DurationRule::OneOf(set) => set
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            DurationRule::ZeroOrRange(lo, hi) => format!("0 or [{lo}, {hi}]"),
        }
    }
}

fn duration_rule(family: Family, generation: Generation) -> Option<DurationRule> {
    use DurationRule::*;
    Some(match (family, generation) {
        (Family::T2v | Family::I2v, Generation::V26) => Range(2, 15),
        (Family::T2v | Family::I2v, Generation::V25) => OneOf(&[5, 10]),
        (Family::T2v, _) => OneOf(&[5]),
        (Family::I2v, _) => Range(3, 5),
        (Family::Kf2v, _) => OneOf(&[5]),
        (Family::R2v, _) => Range(2, 10),
        (Family::Vace, _) => Range(1, 5),
        (Family::Wan27T2v | Family::Wan27I2v | Family::Wan27R2v, _) => Range(2, 15),
        (Family::Wan27VideoEdit, _) => ZeroOrRange(2, 10),
        (Family::HhT2v | Family::HhI2v | Family::HhR2v, _) => Range(3, 15),
        (Family::HhVideoEdit | Family::Animate, _) => return None,
    })
}

fn check_inputs(family: Family, input: &Obj, params: &Obj) -> Result<(), RuleError> {
    match family {
        Family::T2v | Family::Wan27T2v | Family::HhT2v | Family::Animate => {
            opt_url(input, "audio_url")?;
        }
        Family::I2v => {
            req_url(input, "img_url")?;
            opt_url(input, "audio_url")?;
        }
        Family::Kf2v => {
            req_url(input, "first_frame_url")?;
            let has_template = opt_str(input, "input", "template")?.is_some_and(|t| !t.is_empty());
            if has_template {
                opt_url(input, "last_frame_url")?;
            } else {
                req_url(input, "last_frame_url")?;
            }
        }
        Family::R2v => {
            let refs = url_list(input, "reference_urls", 1, 5)?;
            let videos = url_list(input, "reference_video_urls", 1, 3)?;
            if refs.is_none() && videos.is_none() {
                return Err(invalid("Field required: input.reference_urls"));
            }
        }
        Family::Vace => check_vace(input, params)?,
        Family::Wan27I2v => check_wan27_i2v(input)?,
        Family::Wan27R2v => {
            let media = opt_media(input)?;
            let refs = url_list(input, "reference_urls", 1, 9)?;
            if media.is_none_or(|m| m.is_empty()) && refs.is_none() {
                return Err(invalid("Field required: input.media"));
            }
        }
        Family::Wan27VideoEdit => check_edit_media(input, 4)?,
        Family::HhVideoEdit => check_edit_media(input, 5)?,
        Family::HhI2v => {
            let media = req_media(input)?;
            if media.len() != 1 || media[0].0 != "first_frame" {
                return Err(invalid(
                    "input.media must contain exactly one item of type first_frame.",
                ));
            }
        }
        Family::HhR2v => {
            let media = req_media(input)?;
            if media.is_empty() || media.len() > 9 {
                return Err(invalid(
                    "input.media must contain 1 to 9 items of type reference_image.",
                ));
            }
            if let Some((t, _)) = media.iter().find(|(t, _)| *t != "reference_image") {
                return Err(invalid(format!(
                    "The media type '{t}' is not supported by this model."
                )));
            }
        }
    }
    Ok(())
}

fn check_vace(input: &Obj, params: &Obj) -> Result<(), RuleError> {
    let Some(function) = opt_str(input, "input", "function")? else {
        return Err(invalid("Field required: input.function"));
    };
    if !VACE_FUNCTIONS.contains(&function) {
        return Err(invalid(format!(
            "The function '{function}' is invalid; expected one of {}.",
            VACE_FUNCTIONS.join(", ")
        )));
    }
    match function {
        "image_reference" => {
            let Some(refs) = url_list(input, "ref_images_url", 1, 3)? else {
                return Err(invalid("Field required: input.ref_images_url"));
            };
            // obj_or_bg may be under parameters (payload builder) or input (execution guide).
            let obj_or_bg = get(params, "obj_or_bg").or_else(|| get(input, "obj_or_bg"));
            if let Some(v) = obj_or_bg {
                let items = v
                    .as_array()
                    .ok_or_else(|| invalid("obj_or_bg must be an array"))?;
                if items.len() != refs.len()
                    || items
                        .iter()
                        .any(|i| !matches!(i.as_str(), Some("obj" | "bg")))
                {
                    return Err(invalid(
                        "obj_or_bg must hold one of \"obj\"/\"bg\" per reference image.",
                    ));
                }
            }
        }
        "video_repainting" | "video_outpainting" => {
            req_url(input, "video_url")?;
        }
        "video_edit" => {
            req_url(input, "video_url")?;
            let image = opt_url(input, "mask_image_url")?;
            let video = opt_url(input, "mask_video_url")?;
            if image.is_none() && video.is_none() {
                return Err(invalid(
                    "Field required: input.mask_image_url or input.mask_video_url",
                ));
            }
            url_list(input, "ref_images_url", 1, 3)?;
        }
        _ => {
            // video_extension
            let first = opt_url(input, "first_clip_url")?;
            let last = opt_url(input, "last_clip_url")?;
            opt_url(input, "first_frame_url")?;
            opt_url(input, "last_frame_url")?;
            if first.is_none() && last.is_none() {
                return Err(invalid(
                    "Field required: input.first_clip_url or input.last_clip_url",
                ));
            }
        }
    }
    Ok(())
}

/// §1.3.4 media types and the allowed combinations.
fn check_wan27_i2v(input: &Obj) -> Result<(), RuleError> {
    const FIRST_FRAME: u8 = 1;
    const LAST_FRAME: u8 = 2;
    const DRIVING_AUDIO: u8 = 4;
    const FIRST_CLIP: u8 = 8;
    const ALLOWED: &[u8] = &[
        FIRST_FRAME,
        FIRST_FRAME | DRIVING_AUDIO,
        FIRST_FRAME | LAST_FRAME,
        FIRST_FRAME | LAST_FRAME | DRIVING_AUDIO,
        FIRST_CLIP,
        FIRST_CLIP | LAST_FRAME,
    ];
    let media = req_media(input)?;
    let mut seen = 0u8;
    for (t, _) in &media {
        let bit = match *t {
            "first_frame" => FIRST_FRAME,
            "last_frame" => LAST_FRAME,
            "driving_audio" => DRIVING_AUDIO,
            "first_clip" => FIRST_CLIP,
            other => {
                return Err(invalid(format!(
                    "The media type '{other}' is not supported; expected first_frame, last_frame, driving_audio or first_clip."
                )));
            }
        };
        if seen & bit != 0 {
            return Err(invalid(format!(
                "The media type '{t}' may appear at most once."
            )));
        }
        seen |= bit;
    }
    if !ALLOWED.contains(&seen) {
        return Err(invalid(
            "Unsupported combination of media types; allowed: first_frame[+last_frame][+driving_audio], first_clip[+last_frame].",
        ));
    }
    Ok(())
}

/// Exactly one `video` plus up to `max_refs` `reference_image`.
fn check_edit_media(input: &Obj, max_refs: usize) -> Result<(), RuleError> {
    let media = req_media(input)?;
    let mut videos = 0;
    let mut refs = 0;
    for (t, _) in &media {
        match *t {
            "video" => videos += 1,
            "reference_image" => refs += 1,
            other => {
                return Err(invalid(format!(
                    "The media type '{other}' is not supported; expected video or reference_image."
                )));
            }
        }
    }
    if videos != 1 {
        return Err(invalid(
            "input.media must contain exactly one item of type video.",
        ));
    }
    if refs > max_refs {
        return Err(invalid(format!(
            "input.media may contain at most {max_refs} items of type reference_image."
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- field helpers

/// A present, non-null value.
fn get<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_str<'a>(obj: &'a Obj, section: &str, key: &str) -> Result<Option<&'a str>, RuleError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{section}.{key} must be a string."))),
    }
}

fn opt_int(obj: &Obj, section: &str, key: &str) -> Result<Option<i64>, RuleError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => {
            if let Some(i) = v.as_i64() {
                return Ok(Some(i));
            }
            match v.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e12 => Ok(Some(f as i64)),
                _ => Err(invalid(format!("{section}.{key} must be an integer."))),
            }
        }
    }
}

/// Media URLs must be http(s), oss:// or (images) data: URIs.
fn url_ok(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") && url.len() > 7)
        || (lower.starts_with("https://") && url.len() > 8)
        || (url.starts_with("oss://") && url.len() > 6)
        || (lower.starts_with("data:") && url.contains(','))
}

fn opt_url<'a>(input: &'a Obj, key: &str) -> Result<Option<&'a str>, RuleError> {
    match opt_str(input, "input", key)? {
        None => Ok(None),
        Some(u) if url_ok(u) => Ok(Some(u)),
        Some(_) => Err(bad_url()),
    }
}

fn req_url<'a>(input: &'a Obj, key: &str) -> Result<&'a str, RuleError> {
    match opt_str(input, "input", key)? {
        None => Err(invalid(format!("Field required: input.{key}"))),
        Some("") => Err(invalid(format!("input.{key} must not be empty."))),
        Some(u) if url_ok(u) => Ok(u),
        Some(_) => Err(bad_url()),
    }
}

fn url_list<'a>(
    input: &'a Obj,
    key: &str,
    min: usize,
    max: usize,
) -> Result<Option<Vec<&'a str>>, RuleError> {
    let Some(v) = get(input, key) else {
        return Ok(None);
    };
    let arr = v
        .as_array()
        .ok_or_else(|| invalid(format!("input.{key} must be an array of URLs.")))?;
    if arr.len() < min || arr.len() > max {
        return Err(invalid(format!(
            "input.{key} must contain between {min} and {max} URLs."
        )));
    }
    arr.iter()
        .map(|item| match item.as_str() {
            Some(u) if url_ok(u) => Ok(u),
            Some(_) => Err(bad_url()),
            None => Err(invalid(format!("input.{key} must be an array of URLs."))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `input.media` as (type, url) pairs, or None when absent.
fn opt_media(input: &Obj) -> Result<Option<Vec<(&str, &str)>>, RuleError> {
    let Some(v) = get(input, "media") else {
        return Ok(None);
    };
    let arr = v
        .as_array()
        .ok_or_else(|| invalid("input.media must be an array of {\"type\",\"url\"} objects."))?;
    let mut out = Vec::with_capacity(arr.len());
    for item in arr {
        let obj = item
            .as_object()
            .ok_or_else(|| invalid("input.media items must be {\"type\",\"url\"} objects."))?;
        let t = opt_str(obj, "input.media[]", "type")?
            .ok_or_else(|| invalid("Field required: input.media[].type"))?;
        let url = opt_str(obj, "input.media[]", "url")?
            .ok_or_else(|| invalid("Field required: input.media[].url"))?;
        if !url_ok(url) {
            return Err(bad_url());
        }
        out.push((t, url));
    }
    Ok(Some(out))
}

fn req_media(input: &Obj) -> Result<Vec<(&str, &str)>, RuleError> {
    match opt_media(input)? {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(invalid("Field required: input.media")),
    }
}

/// "1280*720" → "16:9" (nearest standard ratio).
fn size_ratio(size: &str) -> Option<String> {
    let (w, h) = size.split_once('*')?;
    let (w, h): (f64, f64) = (w.parse().ok()?, h.parse().ok()?);
    if h <= 0.0 {
        return None;
    }
    let r = w / h;
    let candidates = [
        ("16:9", 16.0 / 9.0),
        ("9:16", 9.0 / 16.0),
        ("1:1", 1.0),
        ("4:3", 4.0 / 3.0),
        ("3:4", 3.0 / 4.0),
    ];
    candidates
        .iter()
        .min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs()))
        .map(|(name, _)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(model: &str, body: Value) -> Result<Accepted, RuleError> {
        let family = lookup(model).expect("known model");
        let empty = Map::new();
        let input = body["input"].as_object().unwrap_or(&empty).clone();
        let params = body["parameters"].as_object().unwrap_or(&empty).clone();
        validate(model, family, &input, &params)
    }

    fn msg(r: Result<Accepted, RuleError>) -> String {
        r.expect_err("should be rejected").message
    }

    #[test]
    fn model_table_covers_contract_and_spellings() {
        for id in [
            "wan2.7-t2v-2026-06-12",
            "wan2.6-r2v-flash",
            "wan2.5-i2v-preview",
            "wan2.2-animate-move",
            "wanx2.1-kf2v-plus",
            "wanx2.1-vace-plus",
            "happyhorse-1.0-video-edit",
        ] {
            assert!(lookup(id).is_some(), "{id}");
        }
        assert_eq!(lookup("wan9-t2v"), None);
        for kf in ["wan2.2-kf2v-flash", "wan2.1-kf2v-plus", "wanx2.1-kf2v-plus"] {
            assert_eq!(
                lookup(kf).map(Family::endpoint),
                Some(Endpoint::Image2Video)
            );
        }
        assert_eq!(
            lookup("wan2.6-i2v-flash").map(Family::endpoint),
            Some(Endpoint::VideoGeneration)
        );
        assert!(legacy_usage("wanx2.1-t2v-plus") && legacy_usage("wan2.2-i2v-flash"));
        assert!(!legacy_usage("wan2.6-t2v"));
        assert!(url_in_results("wan2.7-i2v") && url_in_results("happyhorse-1.0-t2v"));
        assert!(!url_in_results("wan2.6-t2v"));
    }

    #[test]
    fn t2v_uses_size_and_requires_prompt() {
        let ok = check(
            "wan2.6-t2v",
            json!({"input":{"prompt":"x","extend_prompt":true,"function":"video-synthesis"},"parameters":{"size":"1920*1080","duration":10}}),
        )
        .expect("valid");
        assert_eq!((ok.duration, ok.sr, ok.ratio.as_str()), (10, 1080, "16:9"));
        assert!(msg(check("wan2.6-t2v", json!({"input":{}}))).contains("prompt"));
        assert!(
            msg(check(
                "wan2.6-t2v",
                json!({"input":{"prompt":"x"},"parameters":{"resolution":"720P"}})
            ))
            .contains("resolution")
        );
        assert!(
            msg(check(
                "wan2.6-t2v",
                json!({"input":{"prompt":"x"},"parameters":{"size":"1280x720"}})
            ))
            .contains("size")
        );
        assert!(
            check(
                "wan2.1-t2v-turbo",
                json!({"input":{"prompt":"x"},"parameters":{"duration":10}})
            )
            .is_err()
        );
        assert!(
            check(
                "wan2.1-t2v-turbo",
                json!({"input":{"prompt":"x".repeat(801)}})
            )
            .is_err()
        );
        // null values count as absent (SDK may send "prompt": null next to real keys).
        assert!(
            check(
                "wan2.6-t2v",
                json!({"input":{"prompt":"x"},"parameters":{"resolution":null}})
            )
            .is_ok()
        );
    }

    #[test]
    fn i2v_and_kf2v_use_resolution() {
        let ok = check(
            "wan2.6-i2v-flash",
            json!({"input":{"img_url":"https://e.x/a.png"},"parameters":{"resolution":"480P"}}),
        )
        .expect("valid");
        assert_eq!(ok.sr, 480);
        assert!(
            msg(check(
                "wan2.6-i2v-flash",
                json!({"input":{"img_url":"https://e.x/a.png"},"parameters":{"size":"1280*720"}})
            ))
            .contains("size")
        );
        assert!(msg(check("wan2.6-i2v", json!({"input":{"prompt":"x"}}))).contains("img_url"));
        let bad =
            check("wan2.6-i2v", json!({"input":{"img_url":"/tmp/a.png"}})).expect_err("bad url");
        assert_eq!(bad.code, BAD_URL_CODE);

        let kf = json!({"input":{"first_frame_url":"https://e/1.png","last_frame_url":"oss://dashscope-instant/a/b.png"},"parameters":{"resolution":"720P","duration":5}});
        assert!(check("wan2.2-kf2v-flash", kf).is_ok());
        assert!(check("wan2.2-kf2v-flash", json!({"input":{"first_frame_url":"https://e/1.png","last_frame_url":"https://e/2.png"},"parameters":{"duration":10}})).is_err());
        assert!(
            msg(check(
                "wan2.2-kf2v-flash",
                json!({"input":{"first_frame_url":"https://e/1.png"}})
            ))
            .contains("last_frame_url")
        );
        assert!(
            check(
                "wan2.1-kf2v-plus",
                json!({"input":{"first_frame_url":"https://e/1.png","template":"hug"}})
            )
            .is_ok()
        );
    }

    #[test]
    fn r2v_reference_count() {
        let refs = |n: usize| json!({"input":{"prompt":"character1","reference_urls":vec!["https://e/p.png"; n]}});
        assert!(check("wan2.6-r2v-flash", refs(5)).is_ok());
        assert!(check("wan2.6-r2v-flash", refs(0)).is_err());
        assert!(check("wan2.6-r2v-flash", refs(6)).is_err());
        assert!(check("wan2.6-r2v", json!({"input":{"prompt":"x"}})).is_err());
    }

    #[test]
    fn vace_functions() {
        let ok = json!({"input":{"function":"image_reference","prompt":"p","ref_images_url":["https://e/1.png","https://e/2.png"]},"parameters":{"obj_or_bg":["obj","bg"],"size":"1280*720"}});
        assert!(check("wan2.1-vace-plus", ok).is_ok());
        assert!(
            msg(check(
                "wanx2.1-vace-plus",
                json!({"input":{"function":"video-synthesis","prompt":"p"}})
            ))
            .contains("function")
        );
        assert!(msg(check("wan2.1-vace-plus", json!({"input":{"function":"repainting","prompt":"p","video_url":"https://e/v.mp4"}}))).contains("function"));
        assert!(check("wan2.1-vace-plus", json!({"input":{"function":"video_repainting","prompt":"p","video_url":"https://e/v.mp4"},"parameters":{"control_condition":"depth"}})).is_ok());
        assert!(check("wan2.1-vace-plus", json!({"input":{"function":"video_edit","prompt":"p","video_url":"https://e/v.mp4"}})).is_err());
        assert!(check("wan2.1-vace-plus", json!({"input":{"function":"video_extension","prompt":"p","first_clip_url":"https://e/v.mp4"}})).is_ok());
        assert!(
            check(
                "wan2.1-vace-plus",
                json!({"input":{"function":"video_outpainting","prompt":"p"}})
            )
            .is_err()
        );
    }

    #[test]
    fn wan27_i2v_media_combinations() {
        let media = |types: &[&str]| {
            let items: Vec<Value> = types
                .iter()
                .map(|t| json!({"type": t, "url": "https://e/x"}))
                .collect();
            json!({"input":{"media": items},"parameters":{"resolution":"720P"}})
        };
        for ok in [
            &["first_frame"][..],
            &["first_frame", "driving_audio"],
            &["first_frame", "last_frame"],
            &["last_frame", "first_frame", "driving_audio"],
            &["first_clip"],
            &["first_clip", "last_frame"],
        ] {
            assert!(check("wan2.7-i2v", media(ok)).is_ok(), "{ok:?}");
        }
        for bad in [
            &[][..],
            &["last_frame"],
            &["first_frame", "first_frame"],
            &["first_clip", "driving_audio"],
            &["first_frame", "first_clip"],
            &["video"],
        ] {
            assert!(check("wan2.7-i2v", media(bad)).is_err(), "{bad:?}");
        }
        assert!(check("wan2.7-i2v", json!({"input":{"media":[{"type":"first_frame","url":"https://e/x"}]},"parameters":{"resolution":"480P"}})).is_err());
    }

    #[test]
    fn video_edit_media() {
        let media = |refs: usize| {
            let mut items = vec![json!({"type":"video","url":"https://e/v.mp4"})];
            items.extend(
                (0..refs).map(|_| json!({"type":"reference_image","url":"https://e/r.png"})),
            );
            json!({"input":{"media": items, "prompt":"clay"}})
        };
        assert!(check("wan2.7-videoedit", media(4)).is_ok());
        assert!(check("wan2.7-videoedit", media(5)).is_err());
        assert!(check("happyhorse-1.0-video-edit", media(5)).is_ok());
        assert!(check("happyhorse-1.0-video-edit", media(6)).is_err());
        assert!(
            check(
                "wan2.7-videoedit",
                json!({"input":{"media":[{"type":"reference_image","url":"https://e/r.png"}]}})
            )
            .is_err()
        );
        assert!(check("wan2.7-videoedit", json!({"input":{"media":[{"type":"video","url":"https://e/v.mp4"}]},"parameters":{"duration":0}})).is_ok());
    }

    #[test]
    fn wan27_and_happyhorse_use_resolution_and_ratio() {
        let ok = check(
            "wan2.7-t2v",
            json!({"input":{"prompt":"x"},"parameters":{"resolution":"720P","ratio":"9:16","duration":15}}),
        )
        .expect("valid");
        assert_eq!((ok.sr, ok.ratio.as_str(), ok.duration), (720, "9:16", 15));
        assert!(
            msg(check(
                "wan2.7-t2v",
                json!({"input":{"prompt":"x"},"parameters":{"size":"1280*720"}})
            ))
            .contains("size")
        );
        assert!(
            check(
                "wan2.7-t2v",
                json!({"input":{"prompt":"x"},"parameters":{"ratio":"21:9"}})
            )
            .is_err()
        );
        assert_eq!(
            check("happyhorse-1.0-t2v", json!({"input":{"prompt":"x"}}))
                .expect("valid")
                .sr,
            1080
        );
        assert!(
            check(
                "happyhorse-1.0-i2v",
                json!({"input":{"media":[{"type":"first_frame","url":"https://e/x"}]}})
            )
            .is_ok()
        );
        assert!(
            check(
                "happyhorse-1.0-r2v",
                json!({"input":{"media":[{"type":"video","url":"https://e/x"}]}})
            )
            .is_err()
        );
    }

    #[test]
    fn size_ratio_maps_to_nearest() {
        assert_eq!(size_ratio("1280*720").as_deref(), Some("16:9"));
        assert_eq!(size_ratio("720*1280").as_deref(), Some("9:16"));
        assert_eq!(size_ratio("1088*832").as_deref(), Some("4:3"));
        assert_eq!(size_ratio("624*624").as_deref(), Some("1:1"));
    }
}
