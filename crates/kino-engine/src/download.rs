//! Getting a job's results onto disk: streamed to `.part`, resumed, verified, renamed without
//! ever replacing a file. A failed download never leads to generating again.

use std::path::{Path, PathBuf};

use kino_core::{Artifact, DownloadState, EventKind, Job, JobId, JobState};
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
        let default_dir = job
            .out_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.config.default_out_dir.clone());
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
            ..a.clone()
        })
    }
}
