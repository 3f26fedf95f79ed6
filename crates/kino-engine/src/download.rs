//! Getting a job's results onto disk: streamed to `.part`, resumed, verified, renamed without
//! ever replacing a file. A failed download never leads to generating again.

use std::path::{Path, PathBuf};

use kino_core::{Artifact, ArtifactKind, DownloadState, EventKind, Job, JobId, JobState};
use kino_http::{fetch_resumable, finalize_no_overwrite, part_path, result_extension};

use crate::{Engine, EngineError};

impl Engine {
    /// Downloads the job's artifacts that are not on disk (never fetched, failed, or their file
    /// is gone); with `out`, a fresh copy of every artifact into that directory.
    pub async fn download(
        &self,
        id: JobId,
        out: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Vec<Artifact>, EngineError> {
        if let Some(p) = &prefix {
            crate::engine::check_prefix(p)?;
        }
        if let Some(o) = &out {
            crate::engine::check_out_dir(o)?;
        }
        let job = self.ledger.job(id).await?;
        let until = kino_core::now_millis() + crate::config::DOWNLOAD_LEASE.as_millis() as i64;
        let holder = job
            .lease_owner
            .as_deref()
            .filter(|o| crate::Owner::is_dead(o));
        if !self
            .ledger
            .claim(id, self.owner.as_str(), until, holder)
            .await?
        {
            return Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "another process is following it; `kino wait` shows when it is done"
                    .into(),
            });
        }
        let result = self.download_claimed(&job, out, prefix).await;
        let _ = self.ledger.release(id, self.owner.as_str()).await;
        result
    }

    async fn download_claimed(
        &self,
        job: &Job,
        out: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Vec<Artifact>, EngineError> {
        let id = job.id;
        if job.state != JobState::Succeeded {
            return Err(EngineError::WrongState {
                id,
                state: job.state,
                message: "only a succeeded job has results to download".into(),
            });
        }
        self.download_pending(id, out, prefix).await
    }

    pub(crate) async fn download_pending(
        &self,
        id: JobId,
        out: Option<PathBuf>,
        prefix: Option<String>,
    ) -> Result<Vec<Artifact>, EngineError> {
        let job = self.ledger.job(id).await?;
        let default_dir = self.out_dir_of(&job);
        let elsewhere = out.is_some();
        let dir = out.unwrap_or(default_dir);
        let prefix = prefix.or_else(|| job.prefix.clone());
        let artifacts = self.ledger.artifacts(id).await?;
        let count = artifacts.len();
        let mut result = Vec::with_capacity(count);
        for a in artifacts {
            let on_disk = a.state == DownloadState::Done
                && a.path.as_ref().is_some_and(|p| Path::new(p).is_file());
            let wanted = !on_disk || elsewhere;
            if !wanted {
                result.push(a);
                continue;
            }
            let fetched = self
                .fetch_one(&job, &a, &dir, prefix.as_deref(), count)
                .await;
            match fetched {
                Ok(done) => {
                    // A fresh copy elsewhere is the user's file; the ledger's stays as it was.
                    let done = if elsewhere {
                        done
                    } else {
                        self.inspect(done).await
                    };
                    if !elsewhere {
                        self.ledger.update_artifact(&done).await?;
                    }
                    self.note(
                        id,
                        EventKind::Downloaded {
                            index: done.index,
                            path: done.path.clone().unwrap_or_default(),
                            bytes: done.bytes.unwrap_or(0),
                            sha256: done.sha256.clone().unwrap_or_default(),
                        },
                    )
                    .await?;
                    result.push(done);
                }
                Err(e) => {
                    if !elsewhere {
                        let failed = Artifact {
                            state: DownloadState::Failed,
                            error: Some(e.to_string()),
                            ..a
                        };
                        self.ledger.update_artifact(&failed).await?;
                    }
                    self.note(
                        id,
                        EventKind::Error {
                            message: format!("download failed: {e}"),
                            retryable: true,
                        },
                    )
                    .await?;
                    return Err(e);
                }
            }
        }
        Ok(result)
    }

    /// Where a job's results are kept: the directory it was recorded with, else the default.
    fn out_dir_of(&self, job: &Job) -> PathBuf {
        job.out_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.config.default_out_dir.clone())
    }

    async fn fetch_one(
        &self,
        job: &Job,
        a: &Artifact,
        dir: &Path,
        prefix: Option<&str>,
        count: usize,
    ) -> Result<Artifact, EngineError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| kino_http::DownloadError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        let base = match prefix {
            // Checked again here, where the name is made: a prefix may come from the ledger,
            // and an imported ledger is input like any other.
            Some(p) => {
                crate::engine::check_prefix(p)?;
                p.to_string()
            }
            None => format!("{}-{}-{}", job.provider, job.mode, job.id.short()),
        };
        let stem = if count > 1 {
            format!("{base}_{}", a.index + 1)
        } else {
            base
        };
        let ext =
            result_extension(&a.url).unwrap_or_else(|| a.kind.default_extension().to_string());
        let part = part_path(dir, &stem, &ext, &format!("{}-{}", job.id.short(), a.index));
        let fetched =
            fetch_resumable(&self.downloads, &a.url, &part, self.config.download_backoff).await?;
        let final_path = finalize_no_overwrite(&part, dir, &stem, &ext).map_err(|source| {
            kino_http::DownloadError::Io {
                path: dir.display().to_string(),
                source,
            }
        })?;
        Ok(Artifact {
            path: Some(final_path.display().to_string()),
            bytes: Some(fetched.bytes),
            sha256: Some(fetched.sha256),
            mime: fetched.mime,
            state: DownloadState::Done,
            error: None,
            // A new file: the figures of an earlier download are not its figures.
            probe: None,
            ..a.clone()
        })
    }

    /// Probes a freshly downloaded result. This cannot fail the job: the result is on disk and
    /// paid for, and a missing or failing tool only leaves it without figures (logged, since
    /// the user did not ask for them). Thumbnails are made later, when the dashboard first asks
    /// ([`Engine::thumbnail`]): an ffmpeg start costs about 70 ms of CPU, which a batch of a
    /// thousand results run from the command line should not pay for pictures nobody looks at.
    async fn inspect(&self, a: Artifact) -> Artifact {
        let Some(tools) = self.config.media_tools.clone() else {
            return a;
        };
        if !matches!(
            a.kind,
            ArtifactKind::Video | ArtifactKind::Audio | ArtifactKind::Image
        ) {
            return a;
        }
        let Some(path) = a.path.clone().map(PathBuf::from) else {
            return a;
        };
        let (job, index) = (a.job_id, a.index);
        // ffprobe is a child process waited on synchronously: off the runtime's threads, so the
        // other jobs of a worker keep moving.
        let probe = match tokio::task::spawn_blocking(move || {
            tools.probe(&path).map(|i| i.summary())
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%job, index, "probe task failed: {e}");
                return a;
            }
        };
        match probe {
            Ok(p) => Artifact {
                probe: Some(p),
                ..a
            },
            Err(e) => {
                note_unprobed(job, index, &e);
                Artifact { probe: None, ..a }
            }
        }
    }

    /// Where an artifact's thumbnail lives on this machine (whether or not it exists yet).
    fn thumbnail_path(&self, a: &Artifact) -> Option<PathBuf> {
        let dir = self.config.thumbs_dir.as_ref()?;
        Some(dir.join(format!("{}-{}.jpg", a.job_id, a.index)))
    }

    /// A downloaded video's or image's thumbnail (a JPEG), made now from the local file when it
    /// is missing: a ledger shared by machines has the artifact, but the thumbnail was made on
    /// the machine that downloaded it. None when there is no local file, the result is not a
    /// picture, or ffmpeg is missing or fails (the dashboard then shows the result itself).
    pub async fn thumbnail(&self, id: JobId, index: i64) -> Result<Option<PathBuf>, EngineError> {
        let artifacts = self.ledger.artifacts(id).await?;
        let Some(a) = artifacts.into_iter().find(|a| a.index == index) else {
            return Ok(None);
        };
        let (DownloadState::Done, Some(path), ArtifactKind::Video | ArtifactKind::Image) =
            (a.state, a.path.clone().map(PathBuf::from), a.kind)
        else {
            return Ok(None);
        };
        let Some(thumb) = self.thumbnail_path(&a) else {
            return Ok(None);
        };
        // A thumbnail older than its file is of an earlier download (`kino download` fetched
        // the result again after its file was deleted).
        let fresh = |thumb: &Path| match (std::fs::metadata(thumb), std::fs::metadata(&path)) {
            (Ok(t), Ok(f)) => match (t.modified(), f.modified()) {
                (Ok(t), Ok(f)) => t >= f,
                _ => true,
            },
            (Ok(_), Err(_)) => true,
            _ => false,
        };
        if fresh(&thumb) {
            return Ok(Some(thumb));
        }
        let Some(tools) = self.config.media_tools.clone() else {
            return Ok(None);
        };
        // The path comes from the ledger, which may be shared or imported: ffmpeg reads only a
        // file inside the job's own output directory.
        let out_dir = self.out_dir_of(&self.ledger.job(id).await?);
        let inside = match (path.canonicalize(), out_dir.canonicalize()) {
            (Ok(file), Ok(dir)) => file.starts_with(dir) && file.is_file(),
            _ => false,
        };
        if !inside {
            return Ok(None);
        }
        let Ok(_turn) = self.thumbnailing.acquire().await else {
            return Ok(None);
        };
        // Another request may have made it while this one waited for its turn.
        if fresh(&thumb) {
            return Ok(Some(thumb));
        }
        let duration = a.probe.as_ref().and_then(|p| p.duration_s);
        let target = thumb.clone();
        let made = tokio::task::spawn_blocking(move || {
            make_thumbnail(&tools, &path, a.kind, duration, &target)
        })
        .await;
        match made {
            Ok(Ok(())) => Ok(Some(thumb)),
            Ok(Err(e)) => {
                tracing::warn!(job = %id, index, "no thumbnail: {e}");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(job = %id, index, "thumbnail task failed: {e}");
                Ok(None)
            }
        }
    }
}

/// Why a result has no probe. ffmpeg is optional, so its absence is noted only at debug level
/// (a user without it would otherwise be warned on every download); a tool that is there and
/// fails on the file is worth a warning.
fn note_unprobed(job: JobId, index: i64, e: &crate::media::MediaError) {
    if matches!(e, crate::media::MediaError::ToolMissing { .. }) {
        tracing::debug!(%job, index, "not probed: {e}");
    } else {
        tracing::warn!(%job, index, "not probed: {e}");
    }
}

/// A video's frame at [`crate::media::thumbnail_time`], or an image scaled down, into the
/// thumbnails directory (made when missing).
fn make_thumbnail(
    tools: &crate::media::Tools,
    file: &Path,
    kind: ArtifactKind,
    duration_s: Option<f64>,
    thumb: &Path,
) -> Result<(), crate::media::MediaError> {
    if let Some(dir) = thumb.parent() {
        std::fs::create_dir_all(dir).map_err(|source| crate::media::MediaError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let at = match kind {
        ArtifactKind::Video => crate::media::thumbnail_time(duration_s),
        _ => 0.0,
    };
    tools.thumbnail(file, at, thumb)
}
