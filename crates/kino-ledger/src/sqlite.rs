use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlStr, SqlitePool};

use kino_core::{
    Artifact, ArtifactKind, DownloadState, Event, EventKind, Job, JobId, JobState, Millis, NewJob,
    now_millis,
};

use crate::{Change, JobFilter, Ledger, LedgerError, PollRecord, UploadRecord};

const JOB_COLUMNS: &str = "id, provider, mode, model, state, handle, web_link, cursor, request, wire, out_dir, prefix, error, usage, \
     created_at, updated_at, submitted_at, finished_at, attempts, next_poll_at, lease_owner, lease_until";

fn migrator() -> Migrator {
    let step = |version: i64, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            SqlStr::from_static(sql),
            false,
        )
    };
    Migrator::with_migrations(vec![
        step(
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        step(
            2,
            "conversations",
            include_str!("../migrations/sqlite/0002_conversations.sql"),
        ),
    ])
}

/// The embedded ledger: one SQLite file in KINO_HOME, in WAL mode so that readers (`kino list`)
/// never wait for the process that follows jobs.
#[derive(Clone, Debug)]
pub struct SqliteLedger {
    pool: SqlitePool,
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, LedgerError> {
        let open_err = |message: String| LedgerError::Open {
            location: path.display().to_string(),
            message,
        };
        // SQLite has no advisory lock for sqlx's migrator to take, so processes starting
        // together on a fresh ledger would each create the schema: a lock file serialises them.
        let lock_path = path.with_extension("sqlite.lock");
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| open_err(e.to_string()))?
        .map_err(|e| open_err(format!("cannot lock the ledger for its schema check: {e}")))?;
        let opened = Self::open_locked(path).await;
        drop(lock);
        opened
    }

    async fn open_locked(path: &Path) -> Result<Self, LedgerError> {
        let open_err = |message: String| LedgerError::Open {
            location: path.display().to_string(),
            message,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A private in-memory ledger (tests, the embedded sandbox demo with `--ephemeral`).
    pub async fn in_memory() -> Result<Self, LedgerError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to :memory: would be a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await.map_err(|e| LedgerError::Open {
            location: ":memory:".into(),
            message: e.to_string(),
        })?;
        Ok(Self { pool })
    }
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_json(column: &'static str, s: Option<String>) -> Result<Option<Value>, LedgerError> {
    s.map(|s| {
        serde_json::from_str(&s).map_err(|e| LedgerError::Corrupt {
            column,
            message: e.to_string(),
        })
    })
    .transpose()
}

fn job_from_row(row: &SqliteRow) -> Result<Job, LedgerError> {
    let id: String = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let request: String = row.try_get("request")?;
    Ok(Job {
        id: id
            .parse()
            .map_err(|e: uuid_error::Error| LedgerError::Corrupt {
                column: "id",
                message: e.to_string(),
            })?,
        provider: row.try_get("provider")?,
        mode: row.try_get("mode")?,
        model: row.try_get("model")?,
        state: state
            .parse()
            .map_err(|e: kino_core::UnknownState| LedgerError::Corrupt {
                column: "state",
                message: e.to_string(),
            })?,
        handle: row.try_get("handle")?,
        web_link: row.try_get("web_link")?,
        cursor: row.try_get("cursor")?,
        request: parse_json("request", Some(request))?.unwrap_or(Value::Null),
        wire: parse_json("wire", row.try_get("wire")?)?,
        out_dir: row.try_get("out_dir")?,
        prefix: row.try_get("prefix")?,
        error: row.try_get("error")?,
        usage: parse_json("usage", row.try_get("usage")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        submitted_at: row.try_get("submitted_at")?,
        finished_at: row.try_get("finished_at")?,
        attempts: row.try_get("attempts")?,
        next_poll_at: row.try_get("next_poll_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
    })
}

mod uuid_error {
    pub type Error = <kino_core::JobId as std::str::FromStr>::Err;
}

fn event_from_row(row: &SqliteRow) -> Result<Event, LedgerError> {
    let id: String = row.try_get("job_id")?;
    let data: String = row.try_get("data")?;
    let kind: EventKind = serde_json::from_str(&data).map_err(|e| LedgerError::Corrupt {
        column: "events.data",
        message: e.to_string(),
    })?;
    Ok(Event {
        job_id: id
            .parse()
            .map_err(|e: uuid_error::Error| LedgerError::Corrupt {
                column: "job_id",
                message: e.to_string(),
            })?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        kind,
    })
}

fn artifact_from_row(row: &SqliteRow) -> Result<Artifact, LedgerError> {
    let id: String = row.try_get("job_id")?;
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let bytes: Option<i64> = row.try_get("bytes")?;
    Ok(Artifact {
        job_id: id
            .parse()
            .map_err(|e: uuid_error::Error| LedgerError::Corrupt {
                column: "job_id",
                message: e.to_string(),
            })?,
        index: row.try_get("idx")?,
        url: row.try_get("url")?,
        kind: ArtifactKind::parse(&kind),
        path: row.try_get("path")?,
        bytes: bytes.map(|b| b as u64),
        sha256: row.try_get("sha256")?,
        mime: row.try_get("mime")?,
        state: DownloadState::parse(&state),
        error: row.try_get("error")?,
    })
}

async fn insert_event(
    tx: &mut sqlx::SqliteConnection,
    id: JobId,
    at: Millis,
    kind: &EventKind,
) -> Result<Event, LedgerError> {
    let data = serde_json::to_string(kind).map_err(|e| LedgerError::Corrupt {
        column: "events.data",
        message: e.to_string(),
    })?;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (job_id, seq, at, kind, data) \
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?1), ?2, ?3, ?4) RETURNING seq",
    )
    .bind(id.to_string())
    .bind(at)
    .bind(kind.name())
    .bind(data)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Event {
        job_id: id,
        seq,
        at,
        kind: kind.clone(),
    })
}

/// The state move of a transition, inside a transaction: false when the job is not in `from`.
async fn move_in(
    tx: &mut sqlx::SqliteConnection,
    id: JobId,
    from: &[JobState],
    to: JobState,
    change: &Change,
    now: Millis,
) -> Result<bool, LedgerError> {
    let froms: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let finished = if to.is_terminal() { Some(now) } else { None };
    let sql = format!(
        "UPDATE jobs SET state = ?1, updated_at = ?2, \
           handle = COALESCE(?3, handle), error = COALESCE(?4, error), usage = COALESCE(?5, usage), \
           wire = COALESCE(?6, wire), submitted_at = COALESCE(?7, submitted_at), \
           attempts = attempts + ?8, finished_at = COALESCE(?9, finished_at), next_poll_at = ?10, \
           web_link = COALESCE(?12, web_link), \
           cursor = CASE WHEN ?13 THEN NULL ELSE COALESCE(?14, cursor) END \
         WHERE id = ?11 AND state IN ({}) RETURNING state",
        froms.join(", ")
    );
    let updated: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(now)
        .bind(&change.handle)
        .bind(&change.error)
        .bind(change.usage.as_ref().map(json_text))
        .bind(change.wire.as_ref().map(json_text))
        .bind(change.submitted_at)
        .bind(i64::from(change.count_attempt))
        .bind(finished)
        .bind(change.next_poll_at)
        .bind(id.to_string())
        .bind(&change.web_link)
        .bind(change.reset_cursor)
        .bind(&change.cursor)
        .fetch_optional(&mut *tx)
        .await?;
    if updated.is_none() {
        return Ok(false);
    }
    if let Some(handle) = &change.handle {
        let submitted = EventKind::Submitted {
            handle: handle.clone(),
            web_link: change.web_link.clone(),
        };
        insert_event(tx, id, now, &submitted).await?;
    }
    let prior = if from.len() == 1 { Some(from[0]) } else { None };
    let reason = change.reason.clone().or_else(|| change.error.clone());
    insert_event(
        tx,
        id,
        now,
        &EventKind::State {
            from: prior,
            to,
            reason,
        },
    )
    .await?;
    Ok(true)
}

impl SqliteLedger {
    async fn conflict(&self, id: JobId, from: &[JobState]) -> LedgerError {
        let expected: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        match self.job(id).await {
            Ok(job) => LedgerError::Conflict {
                id,
                actual: job.state,
                expected: expected.join(" or "),
            },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn insert_job(&self, job: &NewJob) -> Result<Job, LedgerError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, provider, mode, model, state, request, out_dir, prefix, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
        )
        .bind(job.id.to_string())
        .bind(&job.provider)
        .bind(&job.mode)
        .bind(&job.model)
        .bind(json_text(&job.request))
        .bind(&job.out_dir)
        .bind(&job.prefix)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            job.id,
            now,
            &EventKind::State {
                from: None,
                to: JobState::Pending,
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.job(job.id).await
    }

    async fn job(&self, id: JobId) -> Result<Job, LedgerError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| LedgerError::NotFound(id.to_string()))?;
        job_from_row(&row)
    }

    async fn find_job(&self, id_or_prefix: &str) -> Result<Job, LedgerError> {
        let needle = id_or_prefix.trim().to_ascii_lowercase();
        if needle.is_empty() || !needle.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(LedgerError::NotFound(id_or_prefix.to_string()));
        }
        if let Ok(id) = needle.parse::<JobId>() {
            return self.job(id).await;
        }
        // A prefix of the id, or its short form: the last hex digits (JobId::short).
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE ?1 || '%' OR REPLACE(id, '-', '') LIKE '%' || ?2 LIMIT 2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&needle)
            .bind(needle.replace('-', ""))
            .fetch_all(&self.pool)
            .await?;
        match rows.len() {
            0 => Err(LedgerError::NotFound(id_or_prefix.to_string())),
            1 => job_from_row(&rows[0]),
            n => Err(LedgerError::Ambiguous {
                prefix: id_or_prefix.to_string(),
                count: n,
            }),
        }
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, LedgerError> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
        if !filter.states.is_empty() {
            let list: Vec<String> = filter
                .states
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND state IN ({})", list.join(", ")));
        }
        if filter.provider.is_some() {
            sql.push_str(" AND provider = ?");
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(p) = &filter.provider {
            q = q.bind(p);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    async fn unfinished(&self) -> Result<Vec<Job>, LedgerError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled', 'expired') \
             OR (state = 'succeeded' AND EXISTS (SELECT 1 FROM artifacts a WHERE a.job_id = jobs.id AND a.state <> 'done')) \
             ORDER BY id"
        );
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    async fn transition(
        &self,
        id: JobId,
        from: &[JobState],
        to: JobState,
        change: Change,
    ) -> Result<Job, LedgerError> {
        let mut tx = self.pool.begin().await?;
        if !move_in(&mut tx, id, from, to, &change, now_millis()).await? {
            drop(tx);
            return Err(self.conflict(id, from).await);
        }
        tx.commit().await?;
        self.job(id).await
    }

    async fn record_poll(&self, id: JobId, record: PollRecord) -> Result<(), LedgerError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        // Results first: the URLs are what a crash must not lose.
        let known: Vec<String> = sqlx::query_scalar("SELECT url FROM artifacts WHERE job_id = ?")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let fresh = record.artifacts.iter().filter(|a| !known.contains(&a.url));
        for (next, a) in (known.len() as i64..).zip(fresh) {
            sqlx::query("INSERT INTO artifacts (job_id, idx, url, kind, state) VALUES (?, ?, ?, ?, 'pending')")
                .bind(id.to_string())
                .bind(next)
                .bind(&a.url)
                .bind(a.kind.as_str())
                .execute(&mut *tx)
                .await?;
            let shown = EventKind::Artifact {
                index: next,
                url: kino_core::redact_url(&a.url),
                kind: a.kind,
            };
            insert_event(&mut tx, id, now, &shown).await?;
        }
        for kind in &record.messages {
            insert_event(&mut tx, id, now, kind).await?;
        }
        if let Some(c) = &record.cursor {
            sqlx::query("UPDATE jobs SET cursor = ?, updated_at = ? WHERE id = ?")
                .bind(c)
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some((from, to, change)) = &record.transition
            && !move_in(&mut tx, id, &[*from], *to, change, now).await?
        {
            drop(tx);
            return Err(self.conflict(id, &[*from]).await);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn append_event(&self, id: JobId, kind: &EventKind) -> Result<Event, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let e = insert_event(&mut tx, id, now_millis(), kind).await?;
        tx.commit().await?;
        Ok(e)
    }

    async fn events(&self, id: JobId, since: i64) -> Result<Vec<Event>, LedgerError> {
        sqlx::query(
            "SELECT job_id, seq, at, data FROM events WHERE job_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn claim(
        &self,
        id: JobId,
        owner: &str,
        until: Millis,
        breakable: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3 AND \
             (lease_owner IS NULL OR lease_owner = ?1 OR lease_until < ?4 OR lease_owner = ?5)",
        )
        .bind(owner)
        .bind(until)
        .bind(id.to_string())
        .bind(now_millis())
        .bind(breakable)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, id: JobId, owner: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?")
            .bind(id.to_string())
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_next_poll(&self, id: JobId, at: Option<Millis>) -> Result<(), LedgerError> {
        sqlx::query("UPDATE jobs SET next_poll_at = ? WHERE id = ?")
            .bind(at)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_artifact(&self, a: &Artifact) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO artifacts (job_id, idx, url, kind, state) VALUES (?, ?, ?, ?, 'pending') \
             ON CONFLICT (job_id, idx) DO NOTHING",
        )
        .bind(a.job_id.to_string())
        .bind(a.index)
        .bind(&a.url)
        .bind(a.kind.as_str())
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        if new {
            let shown = EventKind::Artifact {
                index: a.index,
                url: kino_core::redact_url(&a.url),
                kind: a.kind,
            };
            insert_event(&mut tx, a.job_id, now_millis(), &shown).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn update_artifact(&self, a: &Artifact) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE artifacts SET path = ?, bytes = ?, sha256 = ?, mime = ?, state = ?, error = ? WHERE job_id = ? AND idx = ?",
        )
        .bind(&a.path)
        .bind(a.bytes.map(|b| b as i64))
        .bind(&a.sha256)
        .bind(&a.mime)
        .bind(a.state.as_str())
        .bind(&a.error)
        .bind(a.job_id.to_string())
        .bind(a.index)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn artifacts(&self, id: JobId) -> Result<Vec<Artifact>, LedgerError> {
        sqlx::query("SELECT * FROM artifacts WHERE job_id = ? ORDER BY idx")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(artifact_from_row)
            .collect()
    }

    async fn record_upload(&self, u: &UploadRecord) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO uploads (provider, model, local_path, bytes, modified, reference, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.provider)
        .bind(&u.model)
        .bind(&u.local_path)
        .bind(u.bytes as i64)
        .bind(u.modified)
        .bind(&u.reference)
        .bind(u.created_at)
        .bind(u.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_upload(
        &self,
        provider: &str,
        model: &str,
        local_path: &str,
        bytes: u64,
        modified: Millis,
        now: Millis,
    ) -> Result<Option<UploadRecord>, LedgerError> {
        let row = sqlx::query(
            "SELECT * FROM uploads WHERE provider = ? AND model = ? AND local_path = ? AND bytes = ? AND modified = ? \
             AND expires_at > ? ORDER BY id DESC LIMIT 1",
        )
        .bind(provider)
        .bind(model)
        .bind(local_path)
        .bind(bytes as i64)
        .bind(modified)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<UploadRecord, LedgerError> {
            let bytes: i64 = r.try_get("bytes")?;
            Ok(UploadRecord {
                provider: r.try_get("provider")?,
                model: r.try_get("model")?,
                local_path: r.try_get("local_path")?,
                bytes: bytes as u64,
                modified: r.try_get("modified")?,
                reference: r.try_get("reference")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn handles(&self, provider: &str) -> Result<Vec<String>, LedgerError> {
        Ok(
            sqlx::query_scalar("SELECT handle FROM jobs WHERE provider = ? AND handle IS NOT NULL")
                .bind(provider)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
