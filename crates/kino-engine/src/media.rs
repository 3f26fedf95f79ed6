//! Media tools over the ffmpeg and ffprobe binaries: probe, concat, trim, overlay (the merge
//! recipes of seed 001). A library like the rest of the engine: it never prints and never reads
//! the environment; the face says where the binaries are ([`Tools`]).
//!
//! Every output is written by ffmpeg to a temporary file beside the requested path and renamed
//! over it only when ffmpeg succeeded, so a failure never leaves a half file under that name.

use std::ffi::OsString;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use kino_core::{Diagnostic, ErrorKind};
use serde_json::{Value, json};

/// How many of the tool's last stderr lines an error carries.
const DETAIL_LINES: usize = 12;

/// Where the ffmpeg and ffprobe binaries are (a bare name is looked up on PATH).
#[derive(Clone, Debug)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{tool} not found (`{}`): the media tools need ffmpeg and ffprobe", path.display())]
    ToolMissing { tool: &'static str, path: PathBuf },
    #[error("invalid `{field}`: {rule}")]
    Invalid { field: String, rule: String },
    #[error("{tool} failed ({status}):\n{detail}")]
    Failed {
        tool: &'static str,
        status: String,
        detail: String,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ffprobe's answer for {} cannot be read: {message}", path.display())]
    BadProbe { path: PathBuf, message: String },
}

impl MediaError {
    fn invalid(field: &str, rule: impl Into<String>) -> Self {
        MediaError::Invalid {
            field: field.to_string(),
            rule: rule.into(),
        }
    }
}

impl Diagnostic for MediaError {
    fn kind(&self) -> ErrorKind {
        match self {
            MediaError::ToolMissing { .. } => ErrorKind::Config,
            MediaError::Invalid { .. } => ErrorKind::Usage,
            MediaError::Failed { .. } | MediaError::Io { .. } | MediaError::BadProbe { .. } => {
                ErrorKind::Internal
            }
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            MediaError::ToolMissing { .. } => {
                vec!["install them: `apt-get install ffmpeg` (Debian, Ubuntu)".into()]
            }
            MediaError::Failed { .. } => {
                vec!["the lines above are ffmpeg's own; nothing was written to the output".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// One stream of a media file, as ffprobe describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    pub index: u64,
    /// `video`, `audio`, `subtitle`, `data`.
    pub kind: String,
    pub codec: Option<String>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub fps: Option<f64>,
    pub pix_fmt: Option<String>,
    pub sample_rate: Option<u64>,
    pub channels: Option<u64>,
    pub duration: Option<f64>,
}

/// A media file's container and streams.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaInfo {
    pub path: PathBuf,
    pub format: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Bytes.
    pub size: Option<u64>,
    pub bit_rate: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

impl MediaInfo {
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "video")
    }

    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "audio")
    }

    pub fn to_json(&self) -> Value {
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                json!({"index": s.index, "type": s.kind, "codec": s.codec, "width": s.width,
                    "height": s.height, "fps": s.fps, "pix_fmt": s.pix_fmt,
                    "sample_rate": s.sample_rate, "channels": s.channels, "duration": s.duration})
            })
            .collect();
        json!({"path": self.path.display().to_string(), "format": self.format,
            "duration": self.duration, "size": self.size, "bit_rate": self.bit_rate,
            "streams": streams})
    }
}

impl MediaInfo {
    /// The compact record the ledger keeps of a downloaded result: the first video and audio
    /// streams stand for the file (a platform's result has one of each at most).
    pub fn summary(&self) -> kino_core::MediaProbe {
        let video = self.video();
        let audio = self.audio();
        kino_core::MediaProbe {
            format: self.format.clone(),
            // An image or a raw stream has no container duration; its stream may have one.
            duration_s: self
                .duration
                .or_else(|| video.and_then(|v| v.duration))
                .or_else(|| audio.and_then(|a| a.duration)),
            bit_rate: self.bit_rate,
            width: video.and_then(|v| v.width),
            height: video.and_then(|v| v.height),
            video_codec: video.and_then(|v| v.codec.clone()),
            fps: video.and_then(|v| v.fps),
            has_audio: audio.is_some(),
            audio_codec: audio.and_then(|a| a.codec.clone()),
        }
    }
}

/// The width of a dashboard thumbnail, in pixels (the height keeps the aspect).
pub const THUMBNAIL_WIDTH: u32 = 320;

/// Where in a video its thumbnail frame is taken: a tenth of the way in, at most 1 s, so a fade
/// from black at the very start is mostly skipped and even a very short clip has the frame.
/// Without a known duration, the first frame (the only time sure to exist).
pub fn thumbnail_time(duration_s: Option<f64>) -> f64 {
    match duration_s {
        Some(d) if d.is_finite() && d > 0.0 => (d / 10.0).min(1.0),
        _ => 0.0,
    }
}

/// A number ffprobe writes as a string ("2.000000") or as a number.
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// "12/1", "30000/1001" → frames per second; "0/0" → none.
fn rate(v: &Value) -> Option<f64> {
    let (n, d) = v.as_str()?.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

/// Reads ffprobe's `-show_format -show_streams -of json` document.
pub fn parse_probe(path: &Path, doc: &str) -> Result<MediaInfo, MediaError> {
    let bad = |message: String| MediaError::BadProbe {
        path: path.to_path_buf(),
        message,
    };
    let v: Value = serde_json::from_str(doc).map_err(|e| bad(e.to_string()))?;
    let format = v
        .get("format")
        .ok_or_else(|| bad("no `format` in the answer".into()))?;
    let streams = v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| StreamInfo {
                    index: whole(&s["index"]).unwrap_or(0),
                    kind: text(&s["codec_type"]).unwrap_or_else(|| "unknown".into()),
                    codec: text(&s["codec_name"]),
                    width: whole(&s["width"]),
                    height: whole(&s["height"]),
                    fps: rate(&s["avg_frame_rate"]).or_else(|| rate(&s["r_frame_rate"])),
                    pix_fmt: text(&s["pix_fmt"]),
                    sample_rate: whole(&s["sample_rate"]),
                    channels: whole(&s["channels"]),
                    duration: num(&s["duration"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(MediaInfo {
        path: path.to_path_buf(),
        format: text(&format["format_name"]),
        duration: num(&format["duration"]),
        size: whole(&format["size"]),
        bit_rate: whole(&format["bit_rate"]),
        streams,
    })
}

/// A time on the command line: seconds (`12`, `12.5`, `12.5s`) or `[HH:]MM:SS[.fff]`.
pub fn parse_time(field: &str, text: &str) -> Result<f64, MediaError> {
    let bad = || {
        MediaError::invalid(
            field,
            format!(
                "`{text}` is not a time (write seconds like 12.5, or MM:SS or HH:MM:SS.fff; not negative)"
            ),
        )
    };
    let t = text.trim();
    let plain = |s: &str| -> Option<f64> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        s.parse::<f64>().ok().filter(|f| f.is_finite())
    };
    let secs = if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let (last, rest) = parts.split_last().ok_or_else(bad)?;
        let s = plain(last).filter(|s| *s < 60.0).ok_or_else(bad)?;
        let mut total = 0.0;
        for (i, p) in rest.iter().enumerate() {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let n: f64 = p.parse().map_err(|_| bad())?;
            // Minutes (the part just before the seconds) stay below 60 when hours are given.
            if rest.len() == 2 && i == 1 && n >= 60.0 {
                return Err(bad());
            }
            total = total * 60.0 + n;
        }
        total * 60.0 + s
    } else {
        plain(t.strip_suffix('s').unwrap_or(t)).ok_or_else(bad)?
    };
    if secs > 1e7 {
        return Err(bad());
    }
    Ok(secs)
}

/// A time as ffmpeg reads it, to the millisecond.
fn secs_arg(s: f64) -> String {
    format!("{s:.3}")
}

// --- running the tools ------------------------------------------------------------------------

fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(DETAIL_LINES);
    let tail = lines[start..].join("\n");
    if tail.is_empty() {
        "(no message)".into()
    } else {
        tail
    }
}

/// Runs a tool to completion; its stdout on success.
fn run_tool(tool: &'static str, bin: &Path, args: &[OsString]) -> Result<Vec<u8>, MediaError> {
    let out = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            IoKind::NotFound | IoKind::PermissionDenied => MediaError::ToolMissing {
                tool,
                path: bin.to_path_buf(),
            },
            _ => MediaError::Io {
                action: "start",
                path: bin.to_path_buf(),
                source: e,
            },
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(MediaError::Failed {
            tool,
            status: out.status.to_string(),
            detail: last_lines(&out.stderr),
        })
    }
}

impl Tools {
    /// The first line of `-version` of each tool: `(ffmpeg, ffprobe)`, or why it is unusable.
    pub fn versions(&self) -> (Result<String, MediaError>, Result<String, MediaError>) {
        let version = |tool, bin: &Path| {
            run_tool(tool, bin, &["-version".into()]).map(|out| {
                String::from_utf8_lossy(&out)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        };
        (
            version("ffmpeg", &self.ffmpeg),
            version("ffprobe", &self.ffprobe),
        )
    }

    /// Both tools answer; the first that does not is the error.
    pub fn ensure(&self) -> Result<(), MediaError> {
        let (a, b) = self.versions();
        a?;
        b?;
        Ok(())
    }

    /// ffprobe's view of a file.
    pub fn probe(&self, file: &Path) -> Result<MediaInfo, MediaError> {
        self.probe_field("FILE", file)
    }

    fn probe_field(&self, field: &str, file: &Path) -> Result<MediaInfo, MediaError> {
        require_file(field, file)?;
        let args: Vec<OsString> = [
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
        ]
        .iter()
        .map(OsString::from)
        .chain([file.as_os_str().to_os_string()])
        .collect();
        let out = match run_tool("ffprobe", &self.ffprobe, &args) {
            Ok(out) => out,
            Err(MediaError::Failed { detail, .. }) => {
                return Err(MediaError::invalid(
                    field,
                    format!(
                        "{} is not a media file ffprobe can read: {detail}",
                        file.display()
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        parse_probe(file, &String::from_utf8_lossy(&out))
    }

    /// Writes one frame of `input` (at `at` seconds) as a JPEG [`THUMBNAIL_WIDTH`] pixels wide
    /// (narrower pictures keep their width) to `output`. ffmpeg writes a temporary file beside
    /// it that is renamed over it, so a reader never sees half a picture, and a replaced
    /// thumbnail is swapped whole.
    pub fn thumbnail(&self, input: &Path, at: f64, output: &Path) -> Result<(), MediaError> {
        require_file("FILE", input)?;
        let out = Output::plan(output, &[input.to_path_buf()], true)?;
        let mut temps = Temps::default();
        let tmp = temps.add(out.temp_path("jpg")?);
        run_tool("ffmpeg", &self.ffmpeg, &thumbnail_args(input, at, &tmp))?;
        // ffmpeg succeeds without writing a frame when the time lies past the last one.
        let written = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
        if written == 0 {
            return Err(MediaError::Failed {
                tool: "ffmpeg",
                status: "no frame".into(),
                detail: format!("no frame at {}s of {}", secs_arg(at), input.display()),
            });
        }
        out.commit(&tmp)
    }

    /// Joins clips in order. Clips whose streams agree are joined without re-encoding (the
    /// concat demuxer, `-c copy`); otherwise, or with `reencode`, they are scaled to the first
    /// clip's size and rate and encoded again (the concat filter).
    pub fn concat(&self, req: &ConcatRequest) -> Result<Written, MediaError> {
        if req.inputs.len() < 2 {
            return Err(MediaError::invalid(
                "CLIP",
                "concat needs at least two clips",
            ));
        }
        for (i, p) in req.inputs.iter().enumerate() {
            require_file(&input_field(i), p)?;
        }
        let out = Output::plan(&req.output, &req.inputs, req.force)?;
        self.ensure()?;
        let infos = req
            .inputs
            .iter()
            .enumerate()
            .map(|(i, p)| self.probe_field(&input_field(i), p))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, info) in infos.iter().enumerate() {
            if info.video().is_none() {
                return Err(MediaError::invalid(
                    &input_field(i),
                    format!("{} has no video stream", info.path.display()),
                ));
            }
        }
        let copy = !req.reencode && streams_agree(&infos);
        let mut temps = Temps::default();
        let tmp = temps.add(out.temp_path("")?);
        let args = if copy {
            let list = temps.add(out.temp_path("txt")?);
            std::fs::write(&list, concat_list(&req.inputs)?).map_err(|source| MediaError::Io {
                action: "write",
                path: list.clone(),
                source,
            })?;
            concat_copy_args(&list, &tmp)
        } else {
            concat_reencode_args(&infos, &tmp)
        };
        run_tool("ffmpeg", &self.ffmpeg, &args)?;
        out.commit(&tmp)?;
        Ok(Written {
            path: req.output.clone(),
            method: if copy { "copy" } else { "reencode" },
        })
    }

    /// Cuts `[start, end)` (or `start` + `duration`) out of a clip. By default it is encoded
    /// again, exact to the frame; `copy` cuts at key frames without re-encoding.
    pub fn trim(&self, req: &TrimRequest) -> Result<Written, MediaError> {
        require_file("IN", &req.input)?;
        let start = req.start.unwrap_or(0.0);
        let length = match (req.end, req.duration) {
            (Some(_), Some(_)) => {
                return Err(MediaError::invalid(
                    "--end",
                    "give --end or --duration, not both",
                ));
            }
            (Some(end), None) if end <= start => {
                return Err(MediaError::invalid(
                    "--end",
                    format!(
                        "{} must be after --start ({})",
                        secs_arg(end),
                        secs_arg(start)
                    ),
                ));
            }
            (Some(end), None) => Some(end - start),
            (None, Some(d)) if d <= 0.0 => {
                return Err(MediaError::invalid("--duration", "must be more than 0"));
            }
            (None, Some(d)) => Some(d),
            (None, None) if req.start.is_none() => {
                return Err(MediaError::invalid(
                    "--start",
                    "give --start, --end or --duration: there is nothing to cut",
                ));
            }
            (None, None) => None,
        };
        let out = Output::plan(&req.output, std::slice::from_ref(&req.input), req.force)?;
        self.ensure()?;
        let info = self.probe_field("IN", &req.input)?;
        if let Some(total) = info.duration
            && start >= total
        {
            return Err(MediaError::invalid(
                "--start",
                format!(
                    "{} is not before the end of {} ({})",
                    secs_arg(start),
                    req.input.display(),
                    secs_arg(total)
                ),
            ));
        }
        let mut temps = Temps::default();
        let tmp = temps.add(out.temp_path("")?);
        run_tool(
            "ffmpeg",
            &self.ffmpeg,
            &trim_args(&req.input, start, length, req.copy, &tmp),
        )?;
        out.commit(&tmp)?;
        Ok(Written {
            path: req.output.clone(),
            method: if req.copy { "copy" } else { "reencode" },
        })
    }

    /// Lays an audio track over a video, keeping the video's picture (not re-encoded) and length.
    /// The video's own sound is mixed with the new track, or dropped with `replace`.
    pub fn overlay(&self, req: &OverlayRequest) -> Result<Written, MediaError> {
        require_file("VIDEO", &req.video)?;
        require_file("AUDIO", &req.audio)?;
        let out = Output::plan(
            &req.output,
            &[req.video.clone(), req.audio.clone()],
            req.force,
        )?;
        self.ensure()?;
        let video = self.probe_field("VIDEO", &req.video)?;
        let audio = self.probe_field("AUDIO", &req.audio)?;
        if video.video().is_none() {
            return Err(MediaError::invalid(
                "VIDEO",
                format!("{} has no video stream", req.video.display()),
            ));
        }
        if audio.audio().is_none() {
            return Err(MediaError::invalid(
                "AUDIO",
                format!("{} has no audio stream", req.audio.display()),
            ));
        }
        let mix = !req.replace && video.audio().is_some();
        let mut temps = Temps::default();
        let tmp = temps.add(out.temp_path("")?);
        run_tool(
            "ffmpeg",
            &self.ffmpeg,
            &overlay_args(&req.video, &req.audio, mix, video.duration, &tmp),
        )?;
        out.commit(&tmp)?;
        Ok(Written {
            path: req.output.clone(),
            method: if mix { "mix" } else { "replace" },
        })
    }
}

fn input_field(i: usize) -> String {
    format!("CLIP[{}]", i + 1)
}

fn require_file(field: &str, p: &Path) -> Result<(), MediaError> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(MediaError::invalid(
            field,
            format!("{} is not a file", p.display()),
        )),
        Err(_) => Err(MediaError::invalid(
            field,
            format!("{} does not exist", p.display()),
        )),
    }
}

/// The clips can be joined by copying: same streams (kinds, codecs, sizes, rates, formats).
pub fn streams_agree(infos: &[MediaInfo]) -> bool {
    let shape = |i: &MediaInfo| -> Vec<StreamInfo> {
        i.streams
            .iter()
            .filter(|s| s.kind == "video" || s.kind == "audio")
            .map(|s| StreamInfo {
                index: 0,
                duration: None,
                ..s.clone()
            })
            .collect()
    };
    let first = infos.first().map(shape);
    infos.iter().all(|i| Some(shape(i)) == first)
}

/// The concat demuxer's list: absolute paths, single quotes escaped its way.
fn concat_list(inputs: &[PathBuf]) -> Result<String, MediaError> {
    let mut list = String::from("ffconcat version 1.0\n");
    for p in inputs {
        let abs = std::path::absolute(p).map_err(|source| MediaError::Io {
            action: "resolve",
            path: p.clone(),
            source,
        })?;
        let s = abs.to_string_lossy().replace('\'', "'\\''");
        list.push_str(&format!("file '{s}'\n"));
    }
    Ok(list)
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn common() -> Vec<OsString> {
    os(&["-nostdin", "-hide_banner", "-v", "error", "-y"])
}

pub(crate) fn concat_copy_args(list: &Path, out: &Path) -> Vec<OsString> {
    let mut a = common();
    a.extend(os(&["-f", "concat", "-safe", "0", "-i"]));
    a.push(list.into());
    a.extend(os(&["-c", "copy", "-movflags", "+faststart"]));
    a.push(out.into());
    a
}

pub(crate) fn concat_reencode_args(infos: &[MediaInfo], out: &Path) -> Vec<OsString> {
    let first = infos.first().and_then(MediaInfo::video);
    let w = first.and_then(|v| v.width).unwrap_or(1280);
    let h = first.and_then(|v| v.height).unwrap_or(720);
    let fps = first.and_then(|v| v.fps).unwrap_or(25.0);
    let with_audio = infos.iter().any(|i| i.audio().is_some());
    let mut a = common();
    let mut filters = Vec::new();
    let mut joined = String::new();
    let mut next_input = infos.len();
    for info in infos {
        a.push("-i".into());
        a.push(info.path.as_os_str().into());
    }
    for (i, info) in infos.iter().enumerate() {
        filters.push(format!(
            "[{i}:v:0]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p[v{i}]"
        ));
        joined.push_str(&format!("[v{i}]"));
        if with_audio {
            if info.audio().is_some() {
                filters.push(format!(
                    "[{i}:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]"
                ));
            } else {
                // A clip without sound gets silence of its own length.
                let d = secs_arg(info.duration.unwrap_or(0.0));
                a.extend(os(&["-f", "lavfi", "-t", &d, "-i"]));
                a.push("anullsrc=r=48000:cl=stereo".into());
                filters.push(format!(
                    "[{next_input}:a:0]aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]"
                ));
                next_input += 1;
            }
            joined.push_str(&format!("[a{i}]"));
        }
    }
    let n = infos.len();
    let audio = usize::from(with_audio);
    filters.push(format!("{joined}concat=n={n}:v=1:a={audio}[v][a]"));
    let graph = filters.join(";");
    let graph = if with_audio {
        graph
    } else {
        graph.replace("[v][a]", "[v]")
    };
    a.extend(os(&["-filter_complex", &graph, "-map", "[v]"]));
    if with_audio {
        a.extend(os(&["-map", "[a]"]));
    }
    a.extend(os(&["-movflags", "+faststart"]));
    a.push(out.into());
    a
}

/// One frame, scaled down to the thumbnail width (never up; an even height, which the JPEG
/// encoder's chroma subsampling wants), as a JPEG of moderate quality.
pub(crate) fn thumbnail_args(input: &Path, at: f64, out: &Path) -> Vec<OsString> {
    let mut a = common();
    // Seeking before `-i` jumps to the nearest key frame and decodes from there: fast, and
    // exact enough for a preview.
    a.extend(os(&["-ss", &secs_arg(at), "-i"]));
    a.push(input.as_os_str().to_os_string());
    let scale = format!("scale='min({THUMBNAIL_WIDTH},iw)':-2");
    a.extend(os(&[
        "-frames:v",
        "1",
        "-vf",
        &scale,
        "-q:v",
        "5",
        "-f",
        "image2",
        "-update",
        "1",
    ]));
    a.push(out.as_os_str().to_os_string());
    a
}

pub(crate) fn trim_args(
    input: &Path,
    start: f64,
    length: Option<f64>,
    copy: bool,
    out: &Path,
) -> Vec<OsString> {
    let mut a = common();
    a.extend(os(&["-ss", &secs_arg(start), "-i"]));
    a.push(input.into());
    if let Some(l) = length {
        a.extend(os(&["-t", &secs_arg(l)]));
    }
    if copy {
        a.extend(os(&["-c", "copy", "-avoid_negative_ts", "make_zero"]));
    }
    a.extend(os(&["-movflags", "+faststart"]));
    a.push(out.into());
    a
}

pub(crate) fn overlay_args(
    video: &Path,
    audio: &Path,
    mix: bool,
    video_length: Option<f64>,
    out: &Path,
) -> Vec<OsString> {
    let mut a = common();
    a.push("-i".into());
    a.push(video.into());
    a.push("-i".into());
    a.push(audio.into());
    if mix {
        a.extend(os(&[
            "-filter_complex",
            "[0:a:0][1:a:0]amix=inputs=2:duration=first:dropout_transition=0[a]",
            "-map",
            "0:v:0",
            "-map",
            "[a]",
        ]));
    } else {
        a.extend(os(&["-map", "0:v:0", "-map", "1:a:0"]));
    }
    a.extend(os(&["-c:v", "copy"]));
    // The result lasts as long as the video: a longer track is cut, a shorter one ends early.
    if let Some(l) = video_length {
        a.extend(os(&["-t", &secs_arg(l)]));
    }
    a.extend(os(&["-movflags", "+faststart"]));
    a.push(out.into());
    a
}

// --- requests and outputs ---------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct ConcatRequest {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub force: bool,
    /// Encode again even when the clips could be joined by copying.
    pub reencode: bool,
}

#[derive(Clone, Debug)]
pub struct TrimRequest {
    pub input: PathBuf,
    /// Seconds.
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub duration: Option<f64>,
    pub output: PathBuf,
    pub force: bool,
    /// Cut at key frames without re-encoding.
    pub copy: bool,
}

#[derive(Clone, Debug)]
pub struct OverlayRequest {
    pub video: PathBuf,
    pub audio: PathBuf,
    pub output: PathBuf,
    pub force: bool,
    /// Drop the video's own sound instead of mixing the track with it.
    pub replace: bool,
}

/// A file the tools wrote, and how.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    /// `copy`, `reencode`, `mix` or `replace`.
    pub method: &'static str,
}

/// The requested output, checked before anything runs.
struct Output {
    path: PathBuf,
    dir: PathBuf,
    stem: String,
    ext: String,
    force: bool,
}

static TEMP_SEQ: AtomicU32 = AtomicU32::new(0);

/// The same file, whether or not it exists yet (its directory resolved).
fn resolved(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(parent.join(p.file_name()?))
}

impl Output {
    fn plan(path: &Path, inputs: &[PathBuf], force: bool) -> Result<Self, MediaError> {
        let field = "-o";
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                MediaError::invalid(field, format!("{} is not a file name", path.display()))
            })?;
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() && !e.is_empty() => (s.to_string(), e.to_string()),
            _ => {
                return Err(MediaError::invalid(
                    field,
                    format!(
                        "{} needs an extension that names the container (.mp4, .mov, .mkv, …)",
                        path.display()
                    ),
                ));
            }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(MediaError::invalid(
                field,
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        let target = resolved(path);
        if target.is_some() && inputs.iter().any(|i| resolved(i) == target) {
            return Err(MediaError::invalid(
                field,
                format!(
                    "{} is one of the inputs; write the result to another file",
                    path.display()
                ),
            ));
        }
        if path.is_dir() {
            return Err(MediaError::invalid(
                field,
                format!("{} is a directory", path.display()),
            ));
        }
        if !force && path.exists() {
            return Err(MediaError::invalid(
                field,
                format!("{} exists; pass --force to replace it", path.display()),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            dir,
            stem,
            ext,
            force,
        })
    }

    /// A hidden temporary name beside the output; `ext` empty keeps the output's extension (so
    /// ffmpeg picks the same container).
    fn temp_path(&self, ext: &str) -> Result<PathBuf, MediaError> {
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let ext = if ext.is_empty() { &self.ext } else { ext };
        Ok(self.dir.join(format!(
            ".{}.kino-{}-{seq}.{ext}",
            self.stem,
            std::process::id()
        )))
    }

    /// Moves the finished temporary file into place.
    fn commit(&self, tmp: &Path) -> Result<(), MediaError> {
        if !self.force && self.path.exists() {
            return Err(MediaError::invalid(
                "-o",
                format!(
                    "{} appeared while ffmpeg ran; pass --force to replace it",
                    self.path.display()
                ),
            ));
        }
        std::fs::rename(tmp, &self.path).map_err(|source| MediaError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }
}

/// Temporary files, removed when the operation ends however it ends.
#[derive(Default)]
struct Temps(Vec<PathBuf>);

impl Temps {
    fn add(&mut self, p: PathBuf) -> PathBuf {
        self.0.push(p.clone());
        p
    }
}

impl Drop for Temps {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    fn info(path: &str, streams: Vec<StreamInfo>, duration: f64) -> MediaInfo {
        MediaInfo {
            path: PathBuf::from(path),
            format: Some("mov,mp4".into()),
            duration: Some(duration),
            size: Some(1000),
            bit_rate: None,
            streams,
        }
    }

    fn video(w: u64, h: u64) -> StreamInfo {
        StreamInfo {
            index: 0,
            kind: "video".into(),
            codec: Some("h264".into()),
            width: Some(w),
            height: Some(h),
            fps: Some(12.0),
            pix_fmt: Some("yuv420p".into()),
            sample_rate: None,
            channels: None,
            duration: Some(2.0),
        }
    }

    fn audio() -> StreamInfo {
        StreamInfo {
            index: 1,
            kind: "audio".into(),
            codec: Some("aac".into()),
            width: None,
            height: None,
            fps: None,
            pix_fmt: None,
            sample_rate: Some(48000),
            channels: Some(2),
            duration: Some(2.0),
        }
    }

    #[test]
    fn times_in_seconds_and_clock_form() {
        assert_eq!(parse_time("--start", "12").unwrap(), 12.0);
        assert_eq!(parse_time("--start", "12.5s").unwrap(), 12.5);
        assert_eq!(parse_time("--start", "0.25").unwrap(), 0.25);
        assert_eq!(parse_time("--start", "1:30").unwrap(), 90.0);
        assert_eq!(parse_time("--start", "01:02:03.5").unwrap(), 3723.5);
        assert_eq!(parse_time("--start", "90:00").unwrap(), 5400.0);
    }

    #[test]
    fn thumbnails_come_from_a_tenth_of_the_clip_at_most_one_second_in() {
        assert_eq!(thumbnail_time(Some(5.0)), 0.5);
        assert_eq!(thumbnail_time(Some(10.0)), 1.0);
        assert_eq!(thumbnail_time(Some(12.0)), 1.0);
        assert_eq!(thumbnail_time(Some(3600.0)), 1.0);
        assert!((thumbnail_time(Some(4.0)) - 0.4).abs() < 1e-9);
        assert!((thumbnail_time(Some(0.5)) - 0.05).abs() < 1e-9);
        for unknown in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            assert_eq!(thumbnail_time(unknown), 0.0, "{unknown:?}");
        }
    }

    #[test]
    fn thumbnail_arguments() {
        let a = strs(&thumbnail_args(
            Path::new("in.mp4"),
            0.4,
            Path::new("t/.x.jpg"),
        ));
        let at = |flag: &str| a.iter().position(|x| x == flag).unwrap();
        // The seek comes before the input (fast), one frame, never scaled up, JPEG.
        assert!(at("-ss") < at("-i"));
        assert_eq!(a[at("-ss") + 1], "0.400");
        assert_eq!(a[at("-i") + 1], "in.mp4");
        assert_eq!(a[at("-frames:v") + 1], "1");
        assert_eq!(a[at("-vf") + 1], "scale='min(320,iw)':-2");
        assert_eq!(a[at("-f") + 1], "image2");
        assert_eq!(a.last().unwrap(), "t/.x.jpg");
        assert!(a.contains(&"-nostdin".to_string()));
    }

    #[test]
    fn a_probe_is_summarised_from_the_container_and_the_first_streams() {
        let mut v = video(1280, 720);
        v.codec = Some("h264".into());
        v.fps = Some(24.0);
        let mut i = info("a.mp4", vec![v.clone(), audio()], 5.04);
        i.format = Some("mov,mp4,m4a,3gp,3g2,mj2".into());
        i.bit_rate = Some(812_000);
        assert_eq!(
            i.summary(),
            kino_core::MediaProbe {
                format: Some("mov,mp4,m4a,3gp,3g2,mj2".into()),
                duration_s: Some(5.04),
                bit_rate: Some(812_000),
                width: Some(1280),
                height: Some(720),
                video_codec: Some("h264".into()),
                fps: Some(24.0),
                has_audio: true,
                audio_codec: Some("aac".into()),
            }
        );
        // Silent video: no sound; a container without a duration takes the stream's.
        let mut silent = info("b.mp4", vec![v], 0.0);
        silent.duration = None;
        let s = silent.summary();
        assert!(!s.has_audio);
        assert_eq!(s.audio_codec, None);
        assert_eq!(s.duration_s, Some(2.0));
        // Audio alone: no picture figures.
        let a = info("c.m4a", vec![audio()], 2.0).summary();
        assert_eq!(
            (a.width, a.height, a.video_codec, a.fps),
            (None, None, None, None)
        );
        assert!(a.has_audio);
    }

    #[test]
    fn bad_times_name_the_field_and_the_rule() {
        for bad in [
            "", "-1", "abc", "1:60", "1:60:00", "1:2:3:4", "1e3", "NaN", "inf", ":5", "1::2", "5 s",
        ] {
            let e = parse_time("--end", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage, "{bad}");
            let m = e.to_string();
            assert!(m.starts_with("invalid `--end`:"), "{bad}: {m}");
            assert!(m.contains("is not a time"), "{bad}: {m}");
        }
    }

    #[test]
    fn probe_documents_are_read_into_numbers() {
        let doc = r#"{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","width":320,"height":180,"avg_frame_rate":"30000/1001","r_frame_rate":"30/1","pix_fmt":"yuv420p","duration":"2.000000"},
            {"index":1,"codec_name":"aac","codec_type":"audio","sample_rate":"48000","channels":2,"avg_frame_rate":"0/0"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2.000000","size":"6105","bit_rate":"24420"}}"#;
        let i = parse_probe(Path::new("a.mp4"), doc).unwrap();
        assert_eq!(i.duration, Some(2.0));
        assert_eq!(i.size, Some(6105));
        assert_eq!(i.bit_rate, Some(24420));
        let v = i.video().unwrap();
        assert_eq!((v.width, v.height), (Some(320), Some(180)));
        assert!((v.fps.unwrap() - 29.97).abs() < 0.01);
        let a = i.audio().unwrap();
        assert_eq!(
            (a.sample_rate, a.channels, a.fps),
            (Some(48000), Some(2), None)
        );
        let j = i.to_json();
        assert_eq!(j["streams"][0]["type"], "video");
        assert_eq!(j["duration"], 2.0);
        assert!(matches!(
            parse_probe(Path::new("a.mp4"), "{}"),
            Err(MediaError::BadProbe { .. })
        ));
        assert!(parse_probe(Path::new("a.mp4"), "not json").is_err());
    }

    #[test]
    fn equal_clips_are_copied_and_different_ones_reencoded() {
        let a = info("a.mp4", vec![video(320, 180)], 2.0);
        let b = info("b.mp4", vec![video(320, 180)], 3.0);
        assert!(streams_agree(&[a.clone(), b.clone()]));
        let c = info("c.mp4", vec![video(640, 360)], 2.0);
        assert!(!streams_agree(&[a.clone(), c]));
        let d = info("d.mp4", vec![video(320, 180), audio()], 2.0);
        assert!(!streams_agree(&[a, b, d]));
    }

    #[test]
    fn concat_arguments() {
        let copy = strs(&concat_copy_args(
            Path::new("/t/list.txt"),
            Path::new("/t/.o.mp4"),
        ));
        assert_eq!(
            copy[5..].join(" "),
            "-f concat -safe 0 -i /t/list.txt -c copy -movflags +faststart /t/.o.mp4"
        );
        assert_eq!(&copy[..2], ["-nostdin", "-hide_banner"]);

        // One clip has sound and one has not: the silent one gets silence of its own length.
        let infos = [
            info("a.mp4", vec![video(320, 180), audio()], 2.0),
            info("b.mp4", vec![video(640, 360)], 1.5),
        ];
        let re = strs(&concat_reencode_args(&infos, Path::new("o.mp4"))).join(" ");
        assert!(
            re.contains("-i a.mp4 -i b.mp4 -f lavfi -t 1.500 -i anullsrc"),
            "{re}"
        );
        assert!(re.contains("[0:v:0]scale=320:180:"), "{re}");
        assert!(re.contains("[1:v:0]scale=320:180:"), "{re}");
        assert!(re.contains("[2:a:0]aformat"), "{re}");
        assert!(
            re.contains("[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]"),
            "{re}"
        );
        assert!(
            re.ends_with("-map [v] -map [a] -movflags +faststart o.mp4"),
            "{re}"
        );

        let silent = [
            info("a.mp4", vec![video(320, 180)], 2.0),
            info("b.mp4", vec![video(320, 180)], 2.0),
        ];
        let re = strs(&concat_reencode_args(&silent, Path::new("o.mp4"))).join(" ");
        assert!(re.contains("[v0][v1]concat=n=2:v=1:a=0[v]"), "{re}");
        assert!(!re.contains("anullsrc") && !re.contains("[a]"), "{re}");
    }

    #[test]
    fn concat_lists_quote_paths() {
        let l = concat_list(&[PathBuf::from("/x/it's.mp4")]).unwrap();
        assert_eq!(l, "ffconcat version 1.0\nfile '/x/it'\\''s.mp4'\n");
    }

    #[test]
    fn trim_and_overlay_arguments() {
        let t = strs(&trim_args(
            Path::new("in.mp4"),
            1.5,
            Some(2.0),
            false,
            Path::new("o.mp4"),
        ))
        .join(" ");
        assert!(
            t.ends_with("-ss 1.500 -i in.mp4 -t 2.000 -movflags +faststart o.mp4"),
            "{t}"
        );
        let t = strs(&trim_args(
            Path::new("in.mp4"),
            0.0,
            None,
            true,
            Path::new("o.mp4"),
        ))
        .join(" ");
        assert!(
            t.contains("-i in.mp4 -c copy -avoid_negative_ts make_zero"),
            "{t}"
        );
        assert!(!t.contains("-t "), "{t}");

        let r = strs(&overlay_args(
            Path::new("v.mp4"),
            Path::new("a.wav"),
            false,
            Some(2.0),
            Path::new("o.mp4"),
        ))
        .join(" ");
        assert!(
            r.contains("-i v.mp4 -i a.wav -map 0:v:0 -map 1:a:0 -c:v copy -t 2.000"),
            "{r}"
        );
        let m = strs(&overlay_args(
            Path::new("v.mp4"),
            Path::new("a.wav"),
            true,
            None,
            Path::new("o.mp4"),
        ))
        .join(" ");
        assert!(m.contains("amix=inputs=2:duration=first"), "{m}");
        assert!(m.contains("-map 0:v:0 -map [a] -c:v copy"), "{m}");
    }

    #[test]
    fn errors_map_to_exit_kinds() {
        let missing = MediaError::ToolMissing {
            tool: "ffmpeg",
            path: "/nowhere/ffmpeg".into(),
        };
        assert_eq!(missing.kind(), ErrorKind::Config);
        assert!(missing.hints()[0].contains("apt-get install ffmpeg"));
        assert_eq!(MediaError::invalid("-o", "x").kind(), ErrorKind::Usage);
        let failed = MediaError::Failed {
            tool: "ffmpeg",
            status: "exit status: 1".into(),
            detail: "Invalid data".into(),
        };
        assert_eq!(failed.kind(), ErrorKind::Internal);
        assert!(failed.to_string().contains("Invalid data"));
    }

    #[test]
    fn missing_tools_are_reported_as_missing() {
        let tools = Tools {
            ffmpeg: "/nonexistent/kino-ffmpeg".into(),
            ffprobe: "/nonexistent/kino-ffprobe".into(),
        };
        let e = tools.ensure().unwrap_err();
        assert!(
            matches!(e, MediaError::ToolMissing { tool: "ffmpeg", .. }),
            "{e}"
        );
    }

    #[test]
    fn last_lines_keep_the_tail() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = last_lines(text.as_bytes());
        assert!(
            tail.starts_with("line 18\n") && tail.ends_with("line 29"),
            "{tail}"
        );
        assert_eq!(last_lines(b"\n\n"), "(no message)");
    }

    #[test]
    fn outputs_are_checked_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        std::fs::write(&input, b"x").unwrap();
        let inputs = [input.clone()];
        let rule = |p: &Path, force: bool| match Output::plan(p, &inputs, force) {
            Err(MediaError::Invalid { field, rule }) => {
                assert_eq!(field, "-o");
                rule
            }
            Err(e) => panic!("{e}"),
            Ok(_) => String::from("ok"),
        };
        assert!(rule(&input, true).contains("is one of the inputs"));
        let dotted = dir.path().join(".").join("in.mp4");
        assert!(rule(&dotted, true).contains("is one of the inputs"));
        let existing = dir.path().join("old.mp4");
        std::fs::write(&existing, b"y").unwrap();
        assert!(rule(&existing, false).contains("pass --force"));
        assert_eq!(rule(&existing, true), "ok");
        assert!(rule(&dir.path().join("noext"), false).contains("needs an extension"));
        assert!(rule(&dir.path().join("nodir/o.mp4"), false).contains("does not exist"));
        let out = Output::plan(&dir.path().join("new.mp4"), &inputs, false).unwrap();
        let tmp = out.temp_path("").unwrap();
        assert_eq!(tmp.parent(), Some(dir.path()));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".new.kino-") && name.ends_with(".mp4"),
            "{name}"
        );
    }
}
