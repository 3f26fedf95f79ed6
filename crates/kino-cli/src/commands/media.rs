//! kino media probe|concat|trim|overlay: the engine's media tools, with the binaries the
//! environment names (KINO_FFMPEG, KINO_FFPROBE).

use serde_json::Value;

use kino_engine::media::{
    ConcatRequest, MediaError, MediaInfo, OverlayRequest, Tools, TrimRequest, Written, parse_time,
};

use crate::args::{ConcatArgs, MediaCommand, OverlayArgs, TrimArgs};
use crate::context::Context;
use crate::error::CommandError;

/// A media error for the face: a missing tool also names the variables that point at one.
pub fn media_error(e: MediaError) -> CommandError {
    let missing = matches!(e, MediaError::ToolMissing { .. });
    let err = CommandError::from(e);
    if missing {
        err.hint("or point KINO_FFMPEG and KINO_FFPROBE at the binaries")
    } else {
        err
    }
}

pub fn run(ctx: &Context, cmd: MediaCommand) -> Result<(), CommandError> {
    let tools = &ctx.settings.media_tools;
    match cmd {
        MediaCommand::Probe { file } => {
            let info = tools.probe(&file).map_err(media_error)?;
            ctx.printer.data(&info.to_json(), || describe(&info));
            Ok(())
        }
        MediaCommand::Concat(args) => concat(ctx, tools, args),
        MediaCommand::Trim(args) => trim(ctx, tools, args),
        MediaCommand::Overlay(args) => overlay(ctx, tools, args),
    }
}

fn concat(ctx: &Context, tools: &Tools, args: ConcatArgs) -> Result<(), CommandError> {
    let written = tools
        .concat(&ConcatRequest {
            inputs: args.inputs,
            output: args.output.out,
            force: args.output.force,
            reencode: args.reencode,
        })
        .map_err(media_error)?;
    report(ctx, tools, &written)
}

fn trim(ctx: &Context, tools: &Tools, args: TrimArgs) -> Result<(), CommandError> {
    let time = |field: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| parse_time(field, t))
            .transpose()
            .map_err(media_error)
    };
    let written = tools
        .trim(&TrimRequest {
            input: args.input,
            start: time("--start", &args.start)?,
            end: time("--end", &args.end)?,
            duration: time("--duration", &args.duration)?,
            output: args.output.out,
            force: args.output.force,
            copy: args.copy,
        })
        .map_err(media_error)?;
    report(ctx, tools, &written)
}

fn overlay(ctx: &Context, tools: &Tools, args: OverlayArgs) -> Result<(), CommandError> {
    let written = tools
        .overlay(&OverlayRequest {
            video: args.video,
            audio: args.audio,
            output: args.output.out,
            force: args.output.force,
            replace: args.replace,
        })
        .map_err(media_error)?;
    report(ctx, tools, &written)
}

/// The written file as ffprobe reads it back: proof it is playable.
fn report(ctx: &Context, tools: &Tools, written: &Written) -> Result<(), CommandError> {
    let info = tools.probe(&written.path).map_err(media_error)?;
    let mut doc = info.to_json();
    if let Value::Object(m) = &mut doc {
        m.insert("method".into(), written.method.into());
    }
    ctx.printer.data(&doc, || {
        format!(
            "wrote {} ({})\n{}",
            written.path.display(),
            written.method,
            describe(&info)
        )
    });
    Ok(())
}

fn describe(info: &MediaInfo) -> String {
    let mut out = vec![format!(
        "{}: {}, {}, {}",
        info.path.display(),
        info.format.as_deref().unwrap_or("unknown format"),
        info.duration
            .map_or_else(|| "duration unknown".into(), |d| format!("{d:.3} s")),
        info.size
            .map_or_else(|| "size unknown".into(), |s| format!("{s} bytes")),
    )];
    for s in &info.streams {
        let codec = s.codec.as_deref().unwrap_or("?");
        let line = match s.kind.as_str() {
            "video" => format!(
                "  #{} video {codec} {}x{} {} fps",
                s.index,
                s.width.unwrap_or(0),
                s.height.unwrap_or(0),
                s.fps.map_or_else(|| "?".into(), |f| format!("{f:.3}")),
            ),
            "audio" => format!(
                "  #{} audio {codec} {} Hz, {} channels",
                s.index,
                s.sample_rate.unwrap_or(0),
                s.channels.unwrap_or(0)
            ),
            other => format!("  #{} {other} {codec}", s.index),
        };
        out.push(line);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kino_core::ErrorKind;

    #[test]
    fn a_missing_tool_is_a_configuration_error_naming_the_overrides() {
        let e = media_error(MediaError::ToolMissing {
            tool: "ffprobe",
            path: "ffprobe".into(),
        });
        assert_eq!(e.kind, ErrorKind::Config);
        assert_eq!(e.kind.exit_code(), 3);
        let hints = e.hints.join("\n");
        assert!(hints.contains("apt-get install ffmpeg"), "{hints}");
        assert!(
            hints.contains("KINO_FFMPEG") && hints.contains("KINO_FFPROBE"),
            "{hints}"
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let e = media_error(parse_time("--start", "soon").unwrap_err());
        assert_eq!(e.kind.exit_code(), 2);
        assert!(e.message.starts_with("invalid `--start`"), "{}", e.message);
        assert!(!e.hints.iter().any(|h| h.contains("KINO_FFMPEG")));
    }
}
