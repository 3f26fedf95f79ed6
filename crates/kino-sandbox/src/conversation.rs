//! Scripted conversations shared by the conversational platforms (Xiaoyunque, LibTV): the user's
//! message picks a [`Scenario`] via `sandbox:*` tokens, the backend agent's lines come in the
//! message's language, and result files are registered on the CDN host.
//!
//! Tokens (anywhere in the message, case-insensitive; first match in this order wins):
//! `sandbox:fail`, `sandbox:cancel`, `sandbox:hitl` / `sandbox:question`; otherwise the agent
//! produces one image and one video.

use std::time::{Duration, Instant};

use crate::files::Blob;
use crate::media::VideoLayout;
use crate::state::{Shared, lock};

pub(crate) const FAIL_TOKEN: &str = "sandbox:fail";
pub(crate) const CANCEL_TOKEN: &str = "sandbox:cancel";
pub(crate) const QUESTION_TOKEN: &str = "sandbox:question";
pub(crate) const HITL_TOKEN: &str = "sandbox:hitl";

/// What the scripted agent does with one user message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Acknowledge, report progress, deliver one image and one video.
    Results,
    /// Acknowledge, then ask the user a question and stop (`hitl`: Xiaoyunque state 9, else 6).
    Question { hitl: bool },
    /// Acknowledge, report progress, fail.
    Fail,
    /// Acknowledge, report progress, get canceled.
    Cancel,
}

impl Scenario {
    pub(crate) fn parse(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains(FAIL_TOKEN) {
            Scenario::Fail
        } else if m.contains(CANCEL_TOKEN) {
            Scenario::Cancel
        } else if m.contains(HITL_TOKEN) {
            Scenario::Question { hitl: true }
        } else if m.contains(QUESTION_TOKEN) {
            Scenario::Question { hitl: false }
        } else {
            Scenario::Results
        }
    }
}

/// Language of the agent's lines: Chinese when the user wrote any CJK ideograph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    pub(crate) fn of(message: &str) -> Self {
        let cjk = message
            .chars()
            .any(|c| matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'));
        if cjk { Lang::Zh } else { Lang::En }
    }

    fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub(crate) fn ack(self) -> &'static str {
        self.pick("收到，开始创作…", "Got it, starting to create your video…")
    }

    pub(crate) fn progress(self) -> &'static str {
        self.pick(
            "正在生成视频，请稍候…",
            "Generating the video, please wait…",
        )
    }

    pub(crate) fn question(self) -> &'static str {
        self.pick(
            "你更喜欢哪种风格：动漫还是写实？",
            "Which style do you prefer: anime or realistic?",
        )
    }

    pub(crate) fn done(self) -> &'static str {
        self.pick(
            "创作完成：已生成 1 张图片和 1 个视频。",
            "Done: generated 1 image and 1 video.",
        )
    }

    pub(crate) fn failed(self) -> &'static str {
        self.pick(
            "生成失败：暂时无法生成，请稍后重试。",
            "Generation failed: unable to generate right now, please try again later.",
        )
    }

    pub(crate) fn canceled(self) -> &'static str {
        self.pick("本次创作已被终止。", "This creation was canceled.")
    }
}

/// How many of `n` scripted items are out at `now`: item `i` appears at `start + (i+1)·step`.
pub(crate) fn visible(start: Instant, step: Duration, n: usize, now: Instant) -> usize {
    if step.is_zero() {
        return n;
    }
    let elapsed = now.saturating_duration_since(start).as_nanos();
    let steps = elapsed / step.as_nanos();
    usize::try_from(steps).unwrap_or(usize::MAX).min(n)
}

/// When item `i` of a script started at `start` appears.
pub(crate) fn due(start: Instant, step: Duration, i: usize) -> Instant {
    let k = u32::try_from(i.saturating_add(1)).unwrap_or(u32::MAX);
    step.checked_mul(k)
        .and_then(|d| start.checked_add(d))
        .unwrap_or(start)
}

/// Result files of one scripted delivery, already served by the CDN host.
#[derive(Clone, Debug)]
pub(crate) struct ResultFiles {
    pub image_url: String,
    pub video_url: String,
    /// Second URLs serving the same bytes (LibTV `previewPath`).
    pub image_preview_url: String,
    pub video_preview_url: String,
}

/// Register one image (the sample PNG) and one video (the sample MP4 padded to `video_size`)
/// under `/files/<dir>/…` on the CDN host.
pub(crate) fn register_results(shared: &Shared, dir: &str, video_size: Option<u64>) -> ResultFiles {
    let cdn = crate::advertised(shared.cdn_addr);
    let image = crate::ids::uuid_v4();
    let video = crate::ids::uuid_v4();
    let paths = [
        (format!("/files/{dir}/{image}.png"), Blob::png()),
        (format!("/files/{dir}/{image}_preview.png"), Blob::png()),
        (
            format!("/files/{dir}/{video}.mp4"),
            Blob::Video(VideoLayout::new(video_size)),
        ),
        (
            format!("/files/{dir}/{video}_preview.mp4"),
            Blob::Video(VideoLayout::new(video_size)),
        ),
    ];
    let urls: Vec<String> = paths
        .iter()
        .map(|(p, _)| format!("http://{cdn}{p}"))
        .collect();
    {
        let mut files = lock(&shared.files);
        for (path, blob) in paths {
            files.insert(path, blob);
        }
    }
    let mut urls = urls.into_iter();
    let mut next = || urls.next().unwrap_or_default();
    ResultFiles {
        image_url: next(),
        image_preview_url: next(),
        video_url: next(),
        video_preview_url: next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_from_tokens_anywhere() {
        assert_eq!(Scenario::parse("a cat"), Scenario::Results);
        assert_eq!(
            Scenario::parse("cat SANDBOX:QUESTION please"),
            Scenario::Question { hitl: false }
        );
        assert_eq!(
            Scenario::parse("sandbox:hitl"),
            Scenario::Question { hitl: true }
        );
        assert_eq!(
            Scenario::parse("x sandbox:fail sandbox:cancel"),
            Scenario::Fail
        );
        assert_eq!(Scenario::parse("做个视频 sandbox:cancel"), Scenario::Cancel);
    }

    #[test]
    fn language_follows_the_message() {
        assert_eq!(Lang::of("做个小猫视频"), Lang::Zh);
        assert_eq!(Lang::of("a cat"), Lang::En);
        assert!(Lang::En.question().contains('?'));
        assert!(Lang::Zh.question().contains('？'));
    }

    #[test]
    fn items_appear_one_step_apart() {
        let t0 = Instant::now();
        let s = Duration::from_millis(100);
        assert_eq!(visible(t0, s, 4, t0), 0);
        assert_eq!(visible(t0, s, 4, t0 + Duration::from_millis(99)), 0);
        assert_eq!(visible(t0, s, 4, t0 + Duration::from_millis(100)), 1);
        assert_eq!(visible(t0, s, 4, t0 + Duration::from_millis(350)), 3);
        assert_eq!(visible(t0, s, 4, t0 + Duration::from_secs(9)), 4);
        assert_eq!(visible(t0, Duration::ZERO, 4, t0), 4);
        assert_eq!(due(t0, s, 2), t0 + Duration::from_millis(300));
    }
}
