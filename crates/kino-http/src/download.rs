use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use kino_core::{Diagnostic, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::{Backoff, parse_retry_after};

/// A complete download in its `.part` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub sha256: String,
    pub mime: Option<String>,
    /// Some bytes came from an earlier, interrupted attempt.
    pub resumed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the result URL answered HTTP {status}: it has expired or was never valid")]
    Gone { status: u16 },
    #[error("the download failed {attempts} times; last error: {last}")]
    Exhausted { attempts: u32, last: String },
    /// Only http(s) results are fetched: a `file:`, `ftp:` or other URL from a platform (or an
    /// imported ledger) would read what it should not.
    #[error(
        "refusing to fetch a result URL with scheme `{scheme}`: only http and https are fetched"
    )]
    Scheme { scheme: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for DownloadError {
    fn kind(&self) -> ErrorKind {
        match self {
            DownloadError::Gone { .. } | DownloadError::Exhausted { .. } => ErrorKind::Unavailable,
            DownloadError::Io { .. } => ErrorKind::Internal,
            DownloadError::Scheme { .. } => ErrorKind::Unavailable,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            DownloadError::Gone { .. } => vec![
                "platform result URLs expire (DashScope: 24 h); kino never regenerates a paid result".into(),
            ],
            DownloadError::Exhausted { .. } => {
                vec!["the partial file is kept: `kino download JOB` resumes it where it stopped".into()]
            }
            DownloadError::Io { .. } => vec!["check that the output directory is writable and has space".into()],
            DownloadError::Scheme { .. } => {
                vec!["the platform answered with a result kino will not fetch; the job's events show it".into()]
            }
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A result's file extension, taken from its URL's path (never its query): 1–5 ASCII letters
/// or digits, lower-cased. A platform names nothing on disk but this, so no separator, dot, NUL
/// or encoded traversal in a URL can shape a file name.
pub fn result_extension(url: &str) -> Option<String> {
    let path = url::Url::parse(url).ok()?.path().to_string();
    let name = path.rsplit('/').next()?;
    let (_, ext) = name.rsplit_once('.')?;
    (1..=5)
        .contains(&ext.len())
        .then(|| ext.to_ascii_lowercase())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The `n`th candidate name of a result: `stem.ext`, then `stem_1.ext`, `stem_2.ext`, …
pub(crate) fn final_name(stem: &str, ext: &str, n: u32) -> String {
    if n == 0 {
        format!("{stem}.{ext}")
    } else {
        format!("{stem}_{n}.{ext}")
    }
}

/// Where the bytes of `stem.ext` collect until they are complete. `owner` (a job and artifact)
/// keeps two results that want the same name from ever sharing, or splicing, a part file.
pub fn part_path(dir: &Path, stem: &str, ext: &str, owner: &str) -> PathBuf {
    dir.join(format!("{stem}.{ext}.{owner}.part"))
}

/// Downloads `url` into `part`, resuming from the bytes already there with a Range request,
/// retrying cuts, 429 and 5xx within `backoff`, and verifying the length the server announced.
/// The caller's client must carry no credentials: result hosts are not the platform.
/// http and https only; anything else (or no URL at all) is refused before a byte is read.
pub fn check_scheme(url: &str) -> Result<(), DownloadError> {
    let scheme = url::Url::parse(url)
        .map(|u| u.scheme().to_string())
        .unwrap_or_else(|_| "(not a URL)".into());
    match scheme.as_str() {
        "http" | "https" => Ok(()),
        _ => Err(DownloadError::Scheme { scheme }),
    }
}

pub async fn fetch_resumable(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    backoff: Backoff,
) -> Result<Fetched, DownloadError> {
    check_scheme(url)?;
    let mut failures = 0u32;
    let mut last = String::new();
    let mut resumed = false;
    loop {
        if failures >= backoff.attempts {
            return Err(DownloadError::Exhausted {
                attempts: failures,
                last,
            });
        }
        let have = match tokio::fs::metadata(part).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == IoKind::NotFound => 0,
            Err(e) => return Err(io_err(part)(e)),
        };
        let mut req = client.get(url);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                last = describe_error(e);
                tokio::time::sleep(backoff.delay(failures, None)).await;
                failures += 1;
                continue;
            }
        };
        let status = resp.status();
        let mime = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let (start, total) = match status {
            StatusCode::OK => (0, resp.content_length()),
            StatusCode::PARTIAL_CONTENT => match content_range(resp.headers()) {
                Some((start, total)) if start == have => (start, total),
                _ => {
                    // A range we did not ask for: start over rather than splice wrong bytes.
                    remove_if_exists(part).await?;
                    failures += 1;
                    last = "the server answered a different range".into();
                    continue;
                }
            },
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                let total = unsatisfied_total(resp.headers());
                if total == Some(have) {
                    let sha256 = hash_file(part, have).await?.finalize();
                    return Ok(Fetched {
                        bytes: have,
                        sha256: hex::encode(sha256),
                        mime,
                        resumed: true,
                    });
                }
                remove_if_exists(part).await?;
                failures += 1;
                last = "the partial file is longer than the result".into();
                continue;
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                let wait = backoff.delay(failures, parse_retry_after(resp.headers()));
                last = format!("HTTP {}", s.as_u16());
                tokio::time::sleep(wait).await;
                failures += 1;
                continue;
            }
            s => return Err(DownloadError::Gone { status: s.as_u16() }),
        };

        let (file, mut hasher) = if start == 0 {
            let f = tokio::fs::File::create(part).await.map_err(io_err(part))?;
            (f, Sha256::new())
        } else {
            resumed = true;
            let hasher = hash_file(part, start).await?;
            let f = tokio::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .await
                .map_err(io_err(part))?;
            (f, hasher)
        };
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let mut written = 0u64;
        let mut stream = resp.bytes_stream();
        let mut cut = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    out.write_all(&bytes).await.map_err(io_err(part))?;
                    hasher.update(&bytes);
                    written += bytes.len() as u64;
                }
                Err(e) => {
                    cut = Some(describe_error(e));
                    break;
                }
            }
        }
        out.flush().await.map_err(io_err(part))?;
        out.get_ref().sync_all().await.map_err(io_err(part))?;
        let len = start + written;
        let short = total.is_some_and(|t| t != len);
        if cut.is_some() || short {
            last = cut.unwrap_or_else(|| format!("got {len} of {} bytes", total.unwrap_or(0)));
            // Progress resets the count: a slow, flaky link still finishes, a dead one does not.
            if written > 0 {
                failures = 0;
            } else {
                failures += 1;
            }
            tokio::time::sleep(backoff.delay(failures, None)).await;
            continue;
        }
        return Ok(Fetched {
            bytes: len,
            sha256: hex::encode(hasher.finalize()),
            mime,
            resumed,
        });
    }
}

/// Gives the finished `part` its final name in `dir` without ever replacing a file: `stem.ext`,
/// else `stem_1.ext`, `stem_2.ext`, … The name appears only once the content is complete.
pub fn finalize_no_overwrite(
    part: &Path,
    dir: &Path,
    stem: &str,
    ext: &str,
) -> std::io::Result<PathBuf> {
    for n in 0u32..10_000 {
        let candidate = dir.join(final_name(stem, ext, n));
        match std::fs::hard_link(part, &candidate) {
            Ok(()) => {
                std::fs::remove_file(part)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == IoKind::AlreadyExists => continue,
            // The part itself is gone (another writer finished it): nothing to place.
            Err(e) if e.kind() == IoKind::NotFound => return Err(e),
            Err(_) => {
                // No hard links here (some network or FAT file systems): reserve the name, then
                // move the content over our own empty placeholder.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&candidate)
                {
                    Ok(_) => {
                        std::fs::rename(part, &candidate)?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == IoKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(std::io::Error::new(
        IoKind::AlreadyExists,
        format!("no free name for {stem}.{ext} in {}", dir.display()),
    ))
}

/// An error's text and causes, without its URL: reqwest's Display includes the URL, whose query
/// string may be a signature.
pub fn describe_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

async fn remove_if_exists(path: &Path) -> Result<(), DownloadError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

async fn hash_file(path: &Path, len: u64) -> Result<Sha256, DownloadError> {
    let mut f = tokio::fs::File::open(path).await.map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = f.read(&mut buf[..want]).await.map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

/// `Content-Range: bytes START-END/TOTAL` → (START, TOTAL if known).
fn content_range(headers: &reqwest::header::HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((start.parse().ok()?, total))
}

/// `Content-Range: bytes */TOTAL` on a 416.
fn unsatisfied_total(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    v.trim().strip_prefix("bytes */")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn extensions_come_from_the_path_not_the_query() {
        assert_eq!(
            result_extension("https://h/a/b.MP4?Expires=1&x=y.png").as_deref(),
            Some("mp4")
        );
        assert_eq!(result_extension("https://h/a/b"), None);
        assert_eq!(result_extension("https://h/a/b.toolongext"), None);
    }

    /// A platform names nothing on disk but the extension, and that only as 1–5 ASCII letters
    /// or digits: no separator, dot, NUL or encoded traversal gets through.
    #[test]
    fn a_hostile_result_url_cannot_shape_the_file_name() {
        for url in [
            "https://h/x/..%2F..%2Fetc%2Fpasswd",
            "https://h/x/v.mp4%2F..%2F..%2Fx",
            "https://h/x/v.mp4%00.sh",
            "https://h/x/v.%2e%2e",
            "https://h/x/v.m/p4",
            "https://h/x/v.mp4\\..\\x",
            "https://h/x/CON.",
            "not a url/../../x.sh",
        ] {
            let ext = result_extension(url);
            assert!(
                ext.as_deref()
                    .is_none_or(|e| (1..=5).contains(&e.len())
                        && e.chars().all(|c| c.is_ascii_alphanumeric())),
                "{url}: {ext:?}"
            );
        }
    }

    #[tokio::test]
    async fn only_http_and_https_results_are_fetched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = dir.path().join("x.part");
        let client = crate::download_client("kino-test").expect("client");
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/v.mp4",
            "data:video/mp4;base64,AAAA",
            "/etc/passwd",
            "javascript:alert(1)",
        ] {
            let got = fetch_resumable(&client, url, &part, Backoff::default()).await;
            assert!(
                matches!(got, Err(DownloadError::Scheme { .. })),
                "{url}: {got:?}"
            );
            assert!(!part.exists(), "{url}: nothing written");
        }
        assert!(check_scheme("https://cdn.example/v.mp4?Expires=1").is_ok());
        assert!(check_scheme("HTTP://cdn.example/v.mp4").is_ok());
    }

    #[test]
    fn content_range_parses() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 100-199/1000"),
        );
        assert_eq!(content_range(&h), Some((100, Some(1000))));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 5-9/*"));
        assert_eq!(content_range(&h), Some((5, None)));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes */1000"));
        assert_eq!(unsatisfied_total(&h), Some(1000));
    }

    #[test]
    fn finalize_never_overwrites() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("v.mp4"), b"old")?;
        let part = part_path(dir.path(), "v", "mp4", "job-0");
        std::fs::write(&part, b"new")?;
        let got = finalize_no_overwrite(&part, dir.path(), "v", "mp4")?;
        assert_eq!(got, dir.path().join("v_1.mp4"));
        assert_eq!(std::fs::read(dir.path().join("v.mp4"))?, b"old");
        assert_eq!(std::fs::read(&got)?, b"new");
        assert!(!part.exists());
        Ok(())
    }
}
