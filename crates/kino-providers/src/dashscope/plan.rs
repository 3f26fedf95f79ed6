//! From a flat request (the seed script's `--request` JSON) to a validated [`Plan`]: the mode
//! and model resolved, convenience keys turned into the wire's own shapes (`media[]`), and every
//! rule of shared/contracts.md §1.3 checked before anything is uploaded or sent.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use kino_core::{JobRequest, LocalInput, Plan, ValidationError};

use super::models::{Durations, Gen, Mode, ModelSpec, RATIOS};
use crate::media_input::{MediaKind, MediaValue, check_local, classify};

const MB: u64 = 1024 * 1024;

/// Keys that go to `parameters` on the wire; every other accepted key goes to `input`.
pub(super) const PARAMETER_KEYS: &[&str] = &[
    "size",
    "duration",
    "seed",
    "prompt_extend",
    "watermark",
    "resolution",
    "ratio",
    "shot_type",
    "audio",
    "audio_setting",
    "obj_or_bg",
    "control_condition",
    "strength",
    "mask_type",
    "expand_ratio",
    "expand_mode",
    "top_scale",
    "bottom_scale",
    "left_scale",
    "right_scale",
];

const COMMON_KEYS: &[&str] = &[
    "prompt",
    "negative_prompt",
    "seed",
    "prompt_extend",
    "watermark",
    "duration",
];

fn mode_keys(spec: &ModelSpec) -> &'static [&'static str] {
    match (spec.mode, spec.uses_media()) {
        (Mode::T2v, _) => &[
            "size",
            "resolution",
            "ratio",
            "shot_type",
            "audio",
            "audio_url",
        ],
        (Mode::I2v, false) => &[
            "img_url",
            "template",
            "resolution",
            "shot_type",
            "audio",
            "audio_url",
        ],
        (Mode::I2v, true) => &[
            "media",
            "first_frame_url",
            "last_frame_url",
            "driving_audio_url",
            "first_clip_url",
            "img_url",
            "resolution",
            "audio_url",
        ],
        (Mode::Kf2v, _) => &[
            "first_frame_url",
            "last_frame_url",
            "template",
            "resolution",
        ],
        (Mode::R2v, false) => &[
            "reference_urls",
            "reference_video_urls",
            "size",
            "shot_type",
            "audio",
        ],
        (Mode::R2v, true) => &["media", "reference_urls", "resolution", "ratio"],
        (Mode::Vace, _) => &[
            "function",
            "ref_images_url",
            "video_url",
            "mask_image_url",
            "mask_video_url",
            "mask_frame_id",
            "first_clip_url",
            "last_clip_url",
            "first_frame_url",
            "last_frame_url",
            "obj_or_bg",
            "control_condition",
            "strength",
            "mask_type",
            "expand_ratio",
            "expand_mode",
            "top_scale",
            "bottom_scale",
            "left_scale",
            "right_scale",
            "size",
        ],
        (Mode::VideoEdit, _) => &[
            "media",
            "video_url",
            "reference_urls",
            "resolution",
            "ratio",
            "audio_setting",
        ],
    }
}

/// Detects the mode from the fields, in the seed script's order (contracts §1.3).
pub fn detect_mode(fields: &Map<String, Value>, model: Option<&str>) -> Mode {
    let has = |k: &str| fields.get(k).is_some_and(|v| !v.is_null());
    if has("function") {
        Mode::Vace
    } else if has("reference_urls") {
        Mode::R2v
    } else if has("media") || has("first_clip_url") {
        Mode::I2v
    } else if has("first_frame_url") {
        if model.is_some_and(|m| m.starts_with("wan2.7-i2v")) {
            Mode::I2v
        } else {
            Mode::Kf2v
        }
    } else if has("img_url") || has("reference_image") {
        Mode::I2v
    } else {
        Mode::T2v
    }
}

/// Resolves mode and model, validates everything, and finds the local files to upload.
pub fn plan(request: &JobRequest) -> Result<Plan, ValidationError> {
    let mut fields = request.fields.clone();
    let model_field = take_string(&mut fields, "model")?;
    let mode_field = take_string(&mut fields, "mode")?;
    let model_id = request.model.clone().or(model_field);
    let explicit_mode = match request.mode.clone().or(mode_field) {
        Some(m) => Some(Mode::parse(&m).ok_or_else(|| {
            ValidationError::new("mode", format!("`{m}` is not a DashScope mode"))
                .with_hint("modes: t2v, i2v, kf2v, r2v, vace, videoedit")
        })?),
        None => None,
    };
    let spec = match &model_id {
        Some(id) => ModelSpec::resolve(id).ok_or_else(|| {
            ValidationError::new(
                "model",
                format!("`{id}` is not a Wan video model kino knows"),
            )
            .with_hint("`kino providers` lists the models of each mode")
        })?,
        None => {
            let mode = explicit_mode.unwrap_or_else(|| detect_mode(&fields, None));
            ModelSpec::resolve(mode.default_model())
                .ok_or_else(|| ValidationError::new("model", "no default model for this mode"))?
        }
    };
    if let Some(mode) = explicit_mode
        && mode != spec.mode
    {
        return Err(ValidationError::new(
            "mode",
            format!(
                "`{}` is a {} model, but the mode asked for is {mode}",
                spec.id, spec.mode
            ),
        ));
    }
    let mut p = Planner {
        spec,
        fields,
        locals: Vec::new(),
    };
    p.run()?;
    Ok(Plan {
        mode: p.spec.mode.as_str().to_string(),
        model: p.spec.id.clone(),
        request: p.fields,
        local_inputs: p.locals,
    })
}

fn take_string(
    fields: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ValidationError> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::new(key, "must be a string")),
    }
}

struct Planner {
    spec: ModelSpec,
    fields: Map<String, Value>,
    locals: Vec<LocalInput>,
}

impl Planner {
    fn err(&self, field: &str, rule: impl Into<String>) -> ValidationError {
        ValidationError::new(field, rule)
    }

    fn run(&mut self) -> Result<(), ValidationError> {
        self.fields.retain(|_, v| !v.is_null());
        if let Some(v) = self.fields.remove("reference_image") {
            if self.fields.contains_key("img_url") {
                return Err(self.err(
                    "reference_image",
                    "is an alias of `img_url`; give only one of them",
                ));
            }
            self.fields.insert("img_url".into(), v);
        }
        self.check_resolution_key()?;
        self.check_known_keys()?;
        self.check_prompt()?;
        self.check_common_parameters()?;
        match self.spec.mode {
            Mode::T2v => {}
            Mode::I2v if self.spec.uses_media() => self.i2v_media()?,
            Mode::I2v => {
                self.require(
                    "img_url",
                    "is required for image-to-video (give an image URL or a local file)",
                )?;
                self.media_field("img_url", &[MediaKind::Image])?;
            }
            Mode::Kf2v => self.kf2v()?,
            Mode::R2v if self.spec.uses_media() => self.r2v_media()?,
            Mode::R2v => self.r2v()?,
            Mode::Vace => self.vace()?,
            Mode::VideoEdit => self.videoedit()?,
        }
        if self.fields.contains_key("audio_url") {
            self.media_field("audio_url", &[MediaKind::Audio])?;
        }
        self.apply_script_defaults();
        Ok(())
    }

    /// The seed script's defaults, so a request behaves (and costs) as it did there: the
    /// platform's own default size for wan2.6 t2v is 1080P, the script's is 720P.
    fn apply_script_defaults(&mut self) {
        if self.spec.uses_size()
            && !self.fields.contains_key("size")
            && self.spec.sizes().contains(&"1280*720")
        {
            self.fields.insert("size".into(), json!("1280*720"));
        }
        let img_protocol =
            matches!(self.spec.mode, Mode::I2v | Mode::Kf2v) && !self.spec.uses_media();
        if img_protocol
            && !self.fields.contains_key("resolution")
            && self.spec.resolutions().contains(&"720P")
        {
            self.fields.insert("resolution".into(), json!("720P"));
        }
        if self.spec.mode == Mode::Kf2v && !self.fields.contains_key("duration") {
            self.fields.insert("duration".into(), json!(5));
        }
    }

    /// The most common mistake with Wan (the seed's "critical" warning): size vs resolution.
    fn check_resolution_key(&self) -> Result<(), ValidationError> {
        let id = &self.spec.id;
        if self.spec.uses_size() {
            if self.fields.contains_key("resolution") {
                return Err(self
                    .err(
                        "resolution",
                        format!(
                            "{id} ({}) takes `size` as W*H, not `resolution`",
                            self.spec.mode
                        ),
                    )
                    .with_hint("for example size=1280*720 (720P) or size=1920*1080 (1080P)"));
            }
            if let Some(size) = self.fields.get("size") {
                let Some(s) = size.as_str() else {
                    return Err(self.err("size", "must be a string W*H such as 1280*720"));
                };
                let allowed = self.spec.sizes();
                if !allowed.contains(&s) {
                    let mut rule = format!(
                        "`{s}` is not a size {id} supports (one of: {})",
                        allowed.join(", ")
                    );
                    if s.contains('x') {
                        rule.push_str("; the separator is `*`, not `x`");
                    }
                    return Err(self.err("size", rule));
                }
            }
        } else {
            if let Some(size) = self.fields.get("size") {
                return Err(self
                    .err(
                        "size",
                        format!(
                            "{id} ({}) takes `resolution` (e.g. 720P), not `size` ({size})",
                            self.spec.mode
                        ),
                    )
                    .with_hint(format!(
                        "resolution is one of: {}",
                        self.spec.resolutions().join(", ")
                    )));
            }
            if let Some(r) = self.fields.get("resolution") {
                let allowed = self.spec.resolutions();
                if !r.as_str().is_some_and(|r| allowed.contains(&r)) {
                    return Err(self.err(
                        "resolution",
                        format!("{id} supports {} (got {r})", allowed.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_known_keys(&self) -> Result<(), ValidationError> {
        let mode_keys = mode_keys(&self.spec);
        for key in self.fields.keys() {
            if key.starts_with("input.") || key.starts_with("parameters.") {
                continue;
            }
            if COMMON_KEYS.contains(&key.as_str()) || mode_keys.contains(&key.as_str()) {
                continue;
            }
            let mut accepted: Vec<&str> = COMMON_KEYS.iter().chain(mode_keys).copied().collect();
            accepted.sort_unstable();
            return Err(self
                .err(key, format!("is not a field of {} requests for {} (accepted: {})", self.spec.mode, self.spec.id, accepted.join(", ")))
                .with_hint("a field kino does not know can be sent verbatim as `input.NAME` or `parameters.NAME`"));
        }
        Ok(())
    }

    fn require(&self, key: &str, rule: &str) -> Result<(), ValidationError> {
        if self.fields.contains_key(key) {
            Ok(())
        } else {
            Err(self.err(key, rule))
        }
    }

    fn check_prompt(&self) -> Result<(), ValidationError> {
        let required = match self.spec.mode {
            Mode::T2v | Mode::R2v | Mode::Vace => true,
            Mode::I2v => !self.spec.uses_media(),
            Mode::Kf2v | Mode::VideoEdit => false,
        };
        match self.fields.get("prompt") {
            None if required => {
                Err(self.err("prompt", format!("is required for {}", self.spec.mode)))
            }
            None => Ok(()),
            Some(Value::String(p)) if p.trim().is_empty() && required => {
                Err(self.err("prompt", "must not be empty"))
            }
            Some(Value::String(p)) => {
                let limit = self.spec.prompt_limit(p);
                let len = p.chars().count();
                if len > limit {
                    return Err(self.err(
                        "prompt",
                        format!(
                            "is {len} characters; {} accepts at most {limit}",
                            self.spec.id
                        ),
                    ));
                }
                Ok(())
            }
            Some(_) => Err(self.err("prompt", "must be a string")),
        }?;
        if let Some(n) = self.fields.get("negative_prompt") {
            let len = n.as_str().map(|s| s.chars().count());
            match len {
                Some(l) if l > 500 => {
                    return Err(
                        self.err("negative_prompt", format!("is {l} characters; at most 500"))
                    );
                }
                None => return Err(self.err("negative_prompt", "must be a string")),
                _ => {}
            }
        }
        Ok(())
    }

    fn check_common_parameters(&mut self) -> Result<(), ValidationError> {
        let id = self.spec.id.clone();
        if let Some(d) = self.fields.get("duration").cloned() {
            let rule = self.spec.durations();
            let Some(n) = as_int(&d) else {
                return Err(self.err("duration", "must be a whole number of seconds"));
            };
            if !rule.allows(n) {
                let what = match (self.spec.mode, rule) {
                    (Mode::Kf2v, _) => "kf2v (first+last frame) is fixed at 5 seconds".to_string(),
                    (_, Durations::NotAccepted) => format!("{id} does not take a duration"),
                    _ => format!("{id} takes {}", rule.describe()),
                };
                return Err(self.err("duration", format!("{what} (got {n})")));
            }
            self.fields.insert("duration".into(), json!(n));
        }
        for key in ["prompt_extend", "watermark", "audio"] {
            if let Some(v) = self.fields.get(key) {
                let b = as_bool(v).ok_or_else(|| self.err(key, "must be true or false"))?;
                self.fields.insert(key.into(), json!(b));
            }
        }
        if self.fields.contains_key("audio") && !self.spec.takes_audio_flag() {
            return Err(self.err(
                "audio",
                format!("is a wan2.6 switch; {id} does not take it"),
            ));
        }
        if let Some(v) = self.fields.get("seed") {
            let n = as_int(v).filter(|n| (0..=2_147_483_647).contains(n));
            let n = n.ok_or_else(|| self.err("seed", "must be an integer from 0 to 2147483647"))?;
            self.fields.insert("seed".into(), json!(n));
        }
        if let Some(r) = self.fields.get("ratio") {
            if !self.spec.takes_ratio() {
                return Err(self.err(
                    "ratio",
                    format!("{id} does not take a ratio (it follows the input media)"),
                ));
            }
            if !r.as_str().is_some_and(|r| RATIOS.contains(&r)) {
                return Err(self.err(
                    "ratio",
                    format!("must be one of {} (got {r})", RATIOS.join(", ")),
                ));
            }
        }
        if let Some(s) = self.fields.get("shot_type") {
            if !self.spec.takes_shot_type() {
                return Err(self.err(
                    "shot_type",
                    format!("is a wan2.6 option; {id} does not take it"),
                ));
            }
            match s.as_str() {
                Some("single") => {}
                Some("multi") => {
                    if self.fields.get("prompt_extend") == Some(&json!(false)) {
                        return Err(self
                            .err("shot_type", "`multi` works only with prompt_extend=true")
                            .with_hint("drop prompt_extend=false or use shot_type=single"));
                    }
                }
                _ => {
                    return Err(self.err(
                        "shot_type",
                        format!("must be `single` or `multi` (got {s})"),
                    ));
                }
            }
        }
        if self.fields.contains_key("audio_url") && !self.spec.takes_audio_url() {
            return Err(self.err(
                "audio_url",
                format!("{id} does not take an audio track (wan2.5 and later t2v/i2v do)"),
            ));
        }
        if let Some(a) = self.fields.get("audio_setting")
            && !matches!(a.as_str(), Some("auto" | "origin"))
        {
            return Err(self.err(
                "audio_setting",
                format!("must be `auto` or `origin` (got {a})"),
            ));
        }
        Ok(())
    }

    /// A single-URL field: a remote reference is kept; a local file is checked and listed for upload.
    fn media_field(&mut self, key: &str, kinds: &[MediaKind]) -> Result<(), ValidationError> {
        let Some(v) = self.fields.get(key) else {
            return Ok(());
        };
        let Some(s) = v.as_str() else {
            return Err(self.err(key, "must be a URL or a local file path"));
        };
        let s = s.to_string();
        self.media_value(key, &format!("/{key}"), &s, kinds)
    }

    fn media_value(
        &mut self,
        field: &str,
        pointer: &str,
        value: &str,
        kinds: &[MediaKind],
    ) -> Result<(), ValidationError> {
        if value.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        if let MediaValue::Local(path) = classify(value) {
            let max = kinds.iter().map(|k| max_bytes(*k)).max().unwrap_or(20 * MB);
            let input = check_local(field, pointer, &path, kinds, max)?;
            self.locals.push(input);
        }
        Ok(())
    }

    fn url_list(&self, key: &str) -> Result<Vec<String>, ValidationError> {
        match self.fields.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(key, "must be a list of URLs or file paths"))
                })
                .collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()),
            Some(_) => Err(self.err(key, "must be a list of URLs or file paths")),
        }
    }

    fn kf2v(&mut self) -> Result<(), ValidationError> {
        self.require(
            "first_frame_url",
            "is required for kf2v (first + last frame)",
        )?;
        if !self.fields.contains_key("template") {
            self.require(
                "last_frame_url",
                "is required for kf2v unless a `template` is given",
            )?;
        }
        self.media_field("first_frame_url", &[MediaKind::Image])?;
        self.media_field("last_frame_url", &[MediaKind::Image])
    }

    fn r2v(&mut self) -> Result<(), ValidationError> {
        let mut refs = self.url_list("reference_urls")?;
        if refs.is_empty() && self.fields.contains_key("reference_video_urls") {
            refs = self.url_list("reference_video_urls")?;
        }
        if refs.is_empty() {
            return Err(self.err(
                "reference_urls",
                "r2v needs 1 to 5 references (images or videos)",
            ));
        }
        if refs.len() > 5 {
            return Err(self.err(
                "reference_urls",
                format!("at most 5 references are allowed (got {})", refs.len()),
            ));
        }
        let key = if self.fields.contains_key("reference_urls") {
            "reference_urls"
        } else {
            "reference_video_urls"
        };
        self.fields.insert(key.into(), json!(refs));
        let mut videos = 0;
        for (i, r) in refs.iter().enumerate() {
            self.media_value(
                key,
                &format!("/{key}/{i}"),
                r,
                &[MediaKind::Image, MediaKind::Video],
            )?;
            if self.kind_of(r) == Some(MediaKind::Video) {
                videos += 1;
            }
        }
        if videos > 3 {
            return Err(self.err(
                key,
                format!("at most 3 of the references may be videos (got {videos})"),
            ));
        }
        Ok(())
    }

    /// The kind of a media value: sniffed for a local file just checked, else by URL extension.
    fn kind_of(&self, value: &str) -> Option<MediaKind> {
        match classify(value) {
            MediaValue::Remote(url) => MediaKind::of_url(&url),
            MediaValue::Local(_) => self.locals.last().map(|l| {
                if l.mime.starts_with("video/") {
                    MediaKind::Video
                } else if l.mime.starts_with("audio/") {
                    MediaKind::Audio
                } else {
                    MediaKind::Image
                }
            }),
        }
    }

    fn vace(&mut self) -> Result<(), ValidationError> {
        const FUNCTIONS: &[&str] = &[
            "image_reference",
            "video_repainting",
            "video_edit",
            "video_extension",
            "video_outpainting",
        ];
        let function = match self.fields.get("function") {
            Some(Value::String(f)) if FUNCTIONS.contains(&f.as_str()) => f.clone(),
            Some(f) => {
                let mut rule = format!("must be one of {} (got {f})", FUNCTIONS.join(", "));
                if f == "repainting" {
                    rule.push_str("; did you mean video_repainting?");
                }
                return Err(self.err("function", rule));
            }
            None => {
                return Err(self.err(
                    "function",
                    format!("vace needs a function: {}", FUNCTIONS.join(", ")),
                ));
            }
        };
        let video = &[MediaKind::Video];
        let image = &[MediaKind::Image];
        match function.as_str() {
            "image_reference" => {
                let refs = self.url_list("ref_images_url")?;
                if !(1..=3).contains(&refs.len()) {
                    return Err(self.err(
                        "ref_images_url",
                        format!("image_reference takes 1 to 3 images (got {})", refs.len()),
                    ));
                }
                self.fields.insert("ref_images_url".into(), json!(refs));
                for (i, r) in refs.iter().enumerate() {
                    self.media_value("ref_images_url", &format!("/ref_images_url/{i}"), r, image)?;
                }
                if let Some(ob) = self.fields.get("obj_or_bg") {
                    let ok = ob.as_array().is_some_and(|a| {
                        a.len() == refs.len()
                            && a.iter().all(|v| matches!(v.as_str(), Some("obj" | "bg")))
                    });
                    if !ok {
                        return Err(self.err(
                            "obj_or_bg",
                            "must list `obj` or `bg` once per reference image",
                        ));
                    }
                }
            }
            "video_repainting" => {
                self.require("video_url", "video_repainting needs the video to repaint")?;
                self.media_field("video_url", video)?;
                self.enum_field(
                    "control_condition",
                    &["posebodyface", "posebody", "depth", "scribble"],
                )?;
                self.number_field("strength", 0.0, 1.0)?;
            }
            "video_edit" => {
                self.require("video_url", "video_edit needs the video to edit")?;
                if !self.fields.contains_key("mask_image_url")
                    && !self.fields.contains_key("mask_video_url")
                {
                    return Err(self.err(
                        "mask_image_url",
                        "video_edit needs mask_image_url or mask_video_url",
                    ));
                }
                self.media_field("video_url", video)?;
                self.media_field("mask_image_url", image)?;
                self.media_field("mask_video_url", video)?;
                if let Some(v) = self.fields.get("mask_frame_id")
                    && as_int(v).is_none_or(|n| n < 1)
                {
                    return Err(self.err("mask_frame_id", "is a 1-based frame number (1 or more)"));
                }
                self.enum_field("mask_type", &["tracking", "fixed"])?;
                self.enum_field("expand_mode", &["hull", "bbox", "original"])?;
                self.enum_field(
                    "control_condition",
                    &["posebodyface", "posebody", "depth", "scribble"],
                )?;
                let refs = self.url_list("ref_images_url")?;
                for (i, r) in refs.iter().enumerate() {
                    self.media_value("ref_images_url", &format!("/ref_images_url/{i}"), r, image)?;
                }
            }
            "video_extension" => {
                let any = [
                    "first_clip_url",
                    "last_clip_url",
                    "first_frame_url",
                    "last_frame_url",
                ]
                .iter()
                .any(|k| self.fields.contains_key(*k));
                if !any {
                    return Err(self.err("first_clip_url", "video_extension needs first_clip_url, last_clip_url, first_frame_url or last_frame_url"));
                }
                self.media_field("first_clip_url", video)?;
                self.media_field("last_clip_url", video)?;
                self.media_field("first_frame_url", image)?;
                self.media_field("last_frame_url", image)?;
                self.enum_field(
                    "control_condition",
                    &["posebodyface", "posebody", "depth", "scribble"],
                )?;
            }
            _ => {
                self.require("video_url", "video_outpainting needs the video to extend")?;
                self.media_field("video_url", video)?;
                for k in ["top_scale", "bottom_scale", "left_scale", "right_scale"] {
                    self.number_field(k, 1.0, 2.0)?;
                }
            }
        }
        Ok(())
    }

    fn enum_field(&self, key: &str, allowed: &[&str]) -> Result<(), ValidationError> {
        match self.fields.get(key) {
            None => Ok(()),
            Some(v) if v.as_str().is_some_and(|s| allowed.contains(&s)) => Ok(()),
            Some(v) => Err(self.err(
                key,
                format!("must be one of {} (got {v})", allowed.join(", ")),
            )),
        }
    }

    fn number_field(&mut self, key: &str, min: f64, max: f64) -> Result<(), ValidationError> {
        let Some(v) = self.fields.get(key) else {
            return Ok(());
        };
        let n = as_f64(v).filter(|n| (min..=max).contains(n));
        let n = n.ok_or_else(|| self.err(key, format!("must be a number from {min} to {max}")))?;
        self.fields.insert(key.into(), json!(n));
        Ok(())
    }

    /// Media-protocol i2v (wan2.7, HappyHorse): convenience keys become `media[]`.
    fn i2v_media(&mut self) -> Result<(), ValidationError> {
        if let Some(img) = self.fields.remove("img_url") {
            if self.fields.contains_key("first_frame_url") {
                return Err(self.err(
                    "img_url",
                    "give the first frame once: img_url or first_frame_url",
                ));
            }
            self.fields.insert("first_frame_url".into(), img);
        }
        let convenience = [
            ("first_frame_url", "first_frame"),
            ("last_frame_url", "last_frame"),
            ("driving_audio_url", "driving_audio"),
            ("first_clip_url", "first_clip"),
        ];
        let has_convenience = convenience
            .iter()
            .any(|(k, _)| self.fields.contains_key(*k));
        if has_convenience {
            if self.fields.contains_key("media") {
                return Err(self.err(
                    "media",
                    "give either `media` or the *_url shorthands, not both",
                ));
            }
            let mut media = Vec::new();
            for (key, ty) in convenience {
                if let Some(v) = self.fields.remove(key) {
                    media.push(json!({"type": ty, "url": v}));
                }
            }
            self.fields.insert("media".into(), Value::Array(media));
        }
        let items = self.media_items()?;
        let types: BTreeSet<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
        let allowed: &[&[&str]] = if self.spec.generation == Gen::HappyHorse {
            &[&["first_frame"]]
        } else {
            &[
                &["first_frame"],
                &["first_frame", "driving_audio"],
                &["first_frame", "last_frame"],
                &["first_frame", "last_frame", "driving_audio"],
                &["first_clip"],
                &["first_clip", "last_frame"],
            ]
        };
        if types.len() != items.len() {
            return Err(self.err("media", "each media type may appear only once"));
        }
        if !allowed
            .iter()
            .any(|combo| combo.len() == types.len() && combo.iter().all(|t| types.contains(t)))
        {
            let combos: Vec<String> = allowed.iter().map(|c| c.join("+")).collect();
            let got: Vec<&str> = types.into_iter().collect();
            return Err(self.err(
                "media",
                format!(
                    "{} accepts {} (got {})",
                    self.spec.id,
                    combos.join(", "),
                    if got.is_empty() {
                        "nothing".into()
                    } else {
                        got.join("+")
                    }
                ),
            ));
        }
        self.check_media_files(&items)
    }

    fn r2v_media(&mut self) -> Result<(), ValidationError> {
        if self.fields.contains_key("reference_urls") {
            if self.fields.contains_key("media") {
                return Err(self.err("media", "give either `media` or `reference_urls`, not both"));
            }
            let urls = self.url_list("reference_urls")?;
            self.fields.remove("reference_urls");
            let mut media = Vec::new();
            for u in urls {
                let kind = match classify(&u) {
                    MediaValue::Remote(url) => MediaKind::of_url(&url),
                    MediaValue::Local(p) => infer::get_from_path(&p)
                        .ok()
                        .flatten()
                        .filter(|t| t.mime_type().starts_with("video/"))
                        .map(|_| MediaKind::Video),
                };
                let ty = if kind == Some(MediaKind::Video) {
                    "reference_video"
                } else {
                    "reference_image"
                };
                media.push(json!({"type": ty, "url": u}));
            }
            self.fields.insert("media".into(), Value::Array(media));
        }
        let items = self.media_items()?;
        let (max, allowed): (usize, &[&str]) = if self.spec.generation == Gen::HappyHorse {
            (9, &["reference_image"])
        } else {
            (5, &["reference_image", "reference_video"])
        };
        if items.is_empty() || items.len() > max {
            return Err(self.err(
                "media",
                format!(
                    "{} takes 1 to {max} references (got {})",
                    self.spec.id,
                    items.len()
                ),
            ));
        }
        if let Some((t, _)) = items.iter().find(|(t, _)| !allowed.contains(&t.as_str())) {
            return Err(self.err(
                "media",
                format!(
                    "{} takes media of type {} (got {t})",
                    self.spec.id,
                    allowed.join(", ")
                ),
            ));
        }
        let videos = items.iter().filter(|(t, _)| t == "reference_video").count();
        if videos > 3 {
            return Err(self.err(
                "media",
                format!("at most 3 references may be videos (got {videos})"),
            ));
        }
        self.check_media_files(&items)
    }

    fn videoedit(&mut self) -> Result<(), ValidationError> {
        let has_short =
            self.fields.contains_key("video_url") || self.fields.contains_key("reference_urls");
        if has_short {
            if self.fields.contains_key("media") {
                return Err(self.err(
                    "media",
                    "give either `media` or video_url/reference_urls, not both",
                ));
            }
            let refs = self.url_list("reference_urls")?;
            self.fields.remove("reference_urls");
            let mut media = Vec::new();
            if let Some(v) = self.fields.remove("video_url") {
                media.push(json!({"type": "video", "url": v}));
            }
            media.extend(
                refs.into_iter()
                    .map(|r| json!({"type": "reference_image", "url": r})),
            );
            self.fields.insert("media".into(), Value::Array(media));
        }
        let items = self.media_items()?;
        let videos = items.iter().filter(|(t, _)| t == "video").count();
        if videos != 1 {
            return Err(self.err(
                "media",
                format!("videoedit needs exactly one `video` item (got {videos})"),
            ));
        }
        if let Some((t, _)) = items
            .iter()
            .find(|(t, _)| t != "video" && t != "reference_image")
        {
            return Err(self.err(
                "media",
                format!("videoedit takes `video` and `reference_image` items (got {t})"),
            ));
        }
        let refs = items.len() - 1;
        let max = self.spec.max_edit_refs();
        if refs > max {
            return Err(self.err(
                "media",
                format!(
                    "{} takes at most {max} reference images (got {refs})",
                    self.spec.id
                ),
            ));
        }
        self.check_media_files(&items)
    }

    /// `media` as (type, url) pairs, after checking its shape.
    fn media_items(&self) -> Result<Vec<(String, String)>, ValidationError> {
        let Some(Value::Array(items)) = self.fields.get("media") else {
            return match self.fields.get("media") {
                None => Ok(Vec::new()),
                Some(_) => Err(self.err("media", "must be a list of {\"type\": …, \"url\": …}")),
            };
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let t = item.get("type").and_then(Value::as_str);
                let u = item.get("url").and_then(Value::as_str);
                match (t, u) {
                    (Some(t), Some(u)) => Ok((t.to_string(), u.to_string())),
                    _ => Err(self.err(
                        &format!("media[{i}]"),
                        "needs a string `type` and a string `url`",
                    )),
                }
            })
            .collect()
    }

    fn check_media_files(&mut self, items: &[(String, String)]) -> Result<(), ValidationError> {
        for (i, (ty, url)) in items.iter().enumerate() {
            let kinds: &[MediaKind] = match ty.as_str() {
                "first_frame" | "last_frame" | "reference_image" => &[MediaKind::Image],
                "driving_audio" => &[MediaKind::Audio],
                "first_clip" | "video" | "reference_video" => &[MediaKind::Video],
                other => {
                    return Err(self.err(
                        &format!("media[{i}].type"),
                        format!("`{other}` is not a media type"),
                    ));
                }
            };
            self.media_value(
                &format!("media[{i}] ({ty})"),
                &format!("/media/{i}/url"),
                url,
                kinds,
            )?;
        }
        Ok(())
    }
}

fn max_bytes(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Image => 20 * MB,
        MediaKind::Audio => 15 * MB,
        MediaKind::Video => 100 * MB,
    }
}

/// Integers arrive as JSON numbers or, from `--param`, as strings.
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
