//! The Wan model families and the rules that differ between them (shared/contracts.md §1.3).
//! Every per-model fact lives in this one table-like file.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    T2v,
    I2v,
    Kf2v,
    R2v,
    Vace,
    VideoEdit,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::T2v,
        Mode::I2v,
        Mode::Kf2v,
        Mode::R2v,
        Mode::Vace,
        Mode::VideoEdit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::T2v => "t2v",
            Mode::I2v => "i2v",
            Mode::Kf2v => "kf2v",
            Mode::R2v => "r2v",
            Mode::Vace => "vace",
            Mode::VideoEdit => "videoedit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The seed's default model for the mode.
    pub fn default_model(self) -> &'static str {
        match self {
            Mode::T2v => "wan2.6-t2v",
            Mode::I2v => "wan2.6-i2v-flash",
            Mode::Kf2v => "wan2.2-kf2v-flash",
            Mode::R2v => "wan2.6-r2v-flash",
            Mode::Vace => "wan2.1-vace-plus",
            Mode::VideoEdit => "wan2.7-videoedit",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Mode::T2v => "text to video",
            Mode::I2v => {
                "image to video (wan2.7: first/last frame, clip continuation, driving audio)"
            }
            Mode::Kf2v => "first + last frame to video (5 s, silent)",
            Mode::R2v => "reference role-play: characters from images/videos act a new script",
            Mode::Vace => {
                "VACE editing: image_reference, video_repainting, video_edit, video_extension, video_outpainting"
            }
            Mode::VideoEdit => "prompt-driven video editing with optional reference images",
        }
    }

    /// The `task` segment of the submit path: kf2v has an endpoint of its own.
    pub fn endpoint_task(self) -> &'static str {
        match self {
            Mode::Kf2v => "image2video",
            _ => "video-generation",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Model generation: the unit the contract's rules are stated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gen {
    Wan21,
    Wan22,
    Wan25,
    Wan26,
    Wan27,
    HappyHorse,
}

/// The models the seed and the contract name. Unlisted ids (new snapshots) are understood from
/// their names by [`ModelSpec::resolve`].
const MODELS: &[(&str, Mode, Gen)] = &[
    ("wan2.7-t2v", Mode::T2v, Gen::Wan27),
    ("wan2.6-t2v", Mode::T2v, Gen::Wan26),
    ("wan2.5-t2v-preview", Mode::T2v, Gen::Wan25),
    ("wan2.2-t2v-plus", Mode::T2v, Gen::Wan22),
    ("wan2.1-t2v-plus", Mode::T2v, Gen::Wan21),
    ("wan2.1-t2v-turbo", Mode::T2v, Gen::Wan21),
    ("wanx2.1-t2v-plus", Mode::T2v, Gen::Wan21),
    ("wanx2.1-t2v-turbo", Mode::T2v, Gen::Wan21),
    ("happyhorse-1.0-t2v", Mode::T2v, Gen::HappyHorse),
    ("wan2.7-i2v", Mode::I2v, Gen::Wan27),
    ("wan2.6-i2v", Mode::I2v, Gen::Wan26),
    ("wan2.6-i2v-flash", Mode::I2v, Gen::Wan26),
    ("wan2.5-i2v-preview", Mode::I2v, Gen::Wan25),
    ("wan2.2-i2v-plus", Mode::I2v, Gen::Wan22),
    ("wan2.2-i2v-flash", Mode::I2v, Gen::Wan22),
    ("wan2.1-i2v-plus", Mode::I2v, Gen::Wan21),
    ("wan2.1-i2v-turbo", Mode::I2v, Gen::Wan21),
    ("wanx2.1-i2v-plus", Mode::I2v, Gen::Wan21),
    ("wanx2.1-i2v-turbo", Mode::I2v, Gen::Wan21),
    ("happyhorse-1.0-i2v", Mode::I2v, Gen::HappyHorse),
    ("wan2.2-kf2v-flash", Mode::Kf2v, Gen::Wan22),
    ("wan2.1-kf2v-plus", Mode::Kf2v, Gen::Wan21),
    ("wanx2.1-kf2v-plus", Mode::Kf2v, Gen::Wan21),
    ("wan2.7-r2v", Mode::R2v, Gen::Wan27),
    ("wan2.6-r2v", Mode::R2v, Gen::Wan26),
    ("wan2.6-r2v-flash", Mode::R2v, Gen::Wan26),
    ("happyhorse-1.0-r2v", Mode::R2v, Gen::HappyHorse),
    ("wan2.1-vace-plus", Mode::Vace, Gen::Wan21),
    ("wanx2.1-vace-plus", Mode::Vace, Gen::Wan21),
    ("wan2.7-videoedit", Mode::VideoEdit, Gen::Wan27),
    (
        "happyhorse-1.0-video-edit",
        Mode::VideoEdit,
        Gen::HappyHorse,
    ),
];

/// The models of a mode, for `kino providers`.
pub fn models_of(mode: Mode) -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|(_, m, _)| *m == mode)
        .map(|(id, _, _)| *id)
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub id: String,
    pub mode: Mode,
    pub generation: Gen,
}

/// An inclusive duration rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durations {
    Range(i64, i64),
    OneOf(&'static [i64]),
    /// 0 means "keep the input's duration".
    ZeroOrRange(i64, i64),
    NotAccepted,
}

impl Durations {
    pub fn allows(self, d: i64) -> bool {
        match self {
            Durations::Range(a, b) => (a..=b).contains(&d),
            Durations::OneOf(set) => set.contains(&d),
            Durations::ZeroOrRange(a, b) => d == 0 || (a..=b).contains(&d),
            Durations::NotAccepted => false,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Durations::Range(a, b) => format!("an integer from {a} to {b} seconds"),
            Durations::OneOf([only]) => format!("fixed at {only} seconds"),
            Durations::OneOf(set) => {
                let s: Vec<String> = set.iter().map(i64::to_string).collect();
                format!("one of {} seconds", s.join(", "))
            }
            Durations::ZeroOrRange(a, b) => {
                format!("0 (keep the input's length) or {a} to {b} seconds")
            }
            Durations::NotAccepted => "not accepted by this model".into(),
        }
    }
}

pub const SIZES_480: &[&str] = &["832*480", "480*832", "624*624"];
pub const SIZES_720: &[&str] = &["1280*720", "720*1280", "960*960", "1088*832", "832*1088"];
pub const SIZES_1080: &[&str] = &[
    "1920*1080",
    "1080*1920",
    "1440*1440",
    "1632*1248",
    "1248*1632",
];
pub const RATIOS: &[&str] = &["16:9", "9:16", "1:1", "4:3", "3:4"];

impl ModelSpec {
    /// The spec of a model id: from the table, else from its name (`…-t2v…`, `wan2.7-…`).
    pub fn resolve(id: &str) -> Option<ModelSpec> {
        if let Some((_, mode, generation)) = MODELS.iter().find(|(m, _, _)| *m == id) {
            return Some(ModelSpec {
                id: id.to_string(),
                mode: *mode,
                generation: *generation,
            });
        }
        // Dated snapshots (wan2.7-t2v-2026-04-25) share their base model's rules.
        if let Some((_, mode, generation)) = MODELS
            .iter()
            .find(|(m, _, _)| id.starts_with(&format!("{m}-")))
        {
            return Some(ModelSpec {
                id: id.to_string(),
                mode: *mode,
                generation: *generation,
            });
        }
        let generation = if id.starts_with("happyhorse") {
            Gen::HappyHorse
        } else if id.starts_with("wan2.7") {
            Gen::Wan27
        } else if id.starts_with("wan2.6") {
            Gen::Wan26
        } else if id.starts_with("wan2.5") {
            Gen::Wan25
        } else if id.starts_with("wan2.2") {
            Gen::Wan22
        } else if id.starts_with("wan2.1") || id.starts_with("wanx2.1") {
            Gen::Wan21
        } else {
            return None;
        };
        let mode = if id.contains("kf2v") {
            Mode::Kf2v
        } else if id.contains("vace") {
            Mode::Vace
        } else if id.contains("videoedit") || id.contains("video-edit") {
            Mode::VideoEdit
        } else if id.contains("r2v") {
            Mode::R2v
        } else if id.contains("i2v") {
            Mode::I2v
        } else if id.contains("t2v") {
            Mode::T2v
        } else {
            return None;
        };
        Some(ModelSpec {
            id: id.to_string(),
            mode,
            generation,
        })
    }

    /// wan2.7 and HappyHorse carry images, videos and audio in `input.media[]`.
    pub fn uses_media(&self) -> bool {
        matches!(self.generation, Gen::Wan27 | Gen::HappyHorse) && self.mode != Mode::T2v
    }

    /// Older t2v / r2v / vace take `size` as W*H; everything else takes `resolution`.
    pub fn uses_size(&self) -> bool {
        self.generation <= Gen::Wan26 && matches!(self.mode, Mode::T2v | Mode::R2v | Mode::Vace)
    }

    pub fn sizes(&self) -> Vec<&'static str> {
        let tiers: &[&[&str]] = match (self.mode, self.generation) {
            (Mode::Vace, _) => &[SIZES_720],
            (Mode::T2v, Gen::Wan26) | (Mode::R2v, _) => &[SIZES_720, SIZES_1080],
            (Mode::T2v, Gen::Wan22) => &[SIZES_480, SIZES_1080],
            _ => &[SIZES_480, SIZES_720, SIZES_1080],
        };
        tiers.iter().flat_map(|t| t.iter().copied()).collect()
    }

    pub fn resolutions(&self) -> &'static [&'static str] {
        match (self.mode, self.generation) {
            (_, Gen::Wan27 | Gen::HappyHorse) => &["720P", "1080P"],
            (Mode::I2v, Gen::Wan26) => &["720P", "1080P"],
            _ => &["480P", "720P", "1080P"],
        }
    }

    pub fn durations(&self) -> Durations {
        match (self.mode, self.generation) {
            (Mode::Kf2v, _) => Durations::OneOf(&[5]),
            (Mode::Vace, _) => Durations::Range(1, 5),
            (Mode::VideoEdit, Gen::HappyHorse) => Durations::NotAccepted,
            (Mode::VideoEdit, _) => Durations::ZeroOrRange(2, 10),
            (_, Gen::HappyHorse) => Durations::Range(3, 15),
            (Mode::R2v, _) => Durations::Range(2, 10),
            (_, Gen::Wan26 | Gen::Wan27) => Durations::Range(2, 15),
            (_, Gen::Wan25) => Durations::OneOf(&[5, 10]),
            (Mode::T2v, _) => Durations::OneOf(&[5]),
            (_, Gen::Wan21 | Gen::Wan22) => Durations::Range(3, 5),
        }
    }

    pub fn prompt_limit(&self, prompt: &str) -> usize {
        match self.generation {
            Gen::HappyHorse if prompt.chars().any(is_cjk) => 2500,
            Gen::Wan27 | Gen::HappyHorse => 5000,
            Gen::Wan25 | Gen::Wan26 => 1500,
            Gen::Wan21 | Gen::Wan22 => 800,
        }
    }

    pub fn takes_ratio(&self) -> bool {
        match self.generation {
            Gen::Wan27 => matches!(self.mode, Mode::T2v | Mode::R2v | Mode::VideoEdit),
            Gen::HappyHorse => matches!(self.mode, Mode::T2v | Mode::R2v),
            _ => false,
        }
    }

    pub fn takes_shot_type(&self) -> bool {
        self.generation == Gen::Wan26 && matches!(self.mode, Mode::T2v | Mode::I2v | Mode::R2v)
    }

    pub fn takes_audio_url(&self) -> bool {
        matches!(self.generation, Gen::Wan25 | Gen::Wan26 | Gen::Wan27)
            && matches!(self.mode, Mode::T2v | Mode::I2v)
    }

    pub fn takes_audio_flag(&self) -> bool {
        self.generation == Gen::Wan26 && matches!(self.mode, Mode::T2v | Mode::I2v | Mode::R2v)
    }

    /// The most reference images a videoedit request may carry.
    pub fn max_edit_refs(&self) -> usize {
        if self.generation == Gen::HappyHorse {
            5
        } else {
            4
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_model_is_known_and_of_its_mode() {
        for mode in Mode::ALL {
            let spec = ModelSpec::resolve(mode.default_model());
            assert_eq!(spec.map(|s| s.mode), Some(mode), "{mode}");
        }
    }

    #[test]
    fn snapshots_and_new_names_resolve() {
        let s = ModelSpec::resolve("wan2.7-t2v-2026-06-12");
        assert_eq!(
            s.map(|s| (s.mode, s.generation)),
            Some((Mode::T2v, Gen::Wan27))
        );
        let s = ModelSpec::resolve("wan2.8-i2v");
        assert_eq!(s, None);
        assert_eq!(
            ModelSpec::resolve("wan2.6-r2v-2027-01-01").map(|s| s.mode),
            Some(Mode::R2v)
        );
    }

    #[test]
    fn size_versus_resolution() {
        let t2v26 = ModelSpec::resolve("wan2.6-t2v");
        assert_eq!(t2v26.as_ref().map(ModelSpec::uses_size), Some(true));
        let t2v27 = ModelSpec::resolve("wan2.7-t2v");
        assert_eq!(t2v27.as_ref().map(ModelSpec::uses_size), Some(false));
        let i2v = ModelSpec::resolve("wan2.6-i2v-flash");
        assert_eq!(i2v.as_ref().map(ModelSpec::uses_size), Some(false));
    }

    #[test]
    fn kf2v_is_five_seconds_only() {
        let d = ModelSpec::resolve("wan2.2-kf2v-flash").map(|s| s.durations());
        assert_eq!(d.map(|d| (d.allows(5), d.allows(10))), Some((true, false)));
    }
}
