//! The queries both backends share. SQLite and PostgreSQL accept the same SQL here (`$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, text JSON, integer milliseconds), so the `Ledger`
//! implementation is written once, as a macro expanded in each backend's module with its pool,
//! row and connection types. What differs lives in each backend as a few inherent items:
//! `begin_write` (BEGIN IMMEDIATE on SQLite), `begin_claim` (the same / an advisory lock), `LOCK_ROWS` (FOR UPDATE SKIP LOCKED),
//! `NOW_MS` (the database's clock), `notify_in`/`notify_after` (NOTIFY / wake sockets),
//! `listen` and `describe`.

pub(crate) const JOB_COLUMNS: &str = "id, provider, mode, model, state, handle, web_link, cursor, request, wire, out_dir, prefix, error, usage, \
     created_at, updated_at, submitted_at, finished_at, attempts, next_poll_at, lease_owner, lease_until, profile";

/// Jobs with work left: not terminal, or succeeded with an artifact not yet on disk.
pub(crate) const UNFINISHED: &str = "(state NOT IN ('succeeded', 'failed', 'canceled', 'expired') \
     OR (state = 'succeeded' AND EXISTS (SELECT 1 FROM artifacts a WHERE a.job_id = jobs.id AND a.state <> 'done')))";

/// Jobs a platform is working on for kino, or about to (a pending job under a live lease is being
/// sent): what a provider's concurrency cap counts.
pub(crate) const IN_FLIGHT: &str = "(state IN ('submitting', 'unknown', 'queued', 'running') \
     OR (state = 'pending' AND lease_until >= $1))";

/// `$from, $from+1, …` for `n` values bound in a list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn state_list(states: &[kino_core::JobState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn corrupt(column: &'static str) -> impl FnOnce(String) -> crate::LedgerError {
    move |message| crate::LedgerError::Corrupt { column, message }
}

/// Expands to the whole `Ledger` implementation for `$ty`, whose `pool` field is a `$pool`.
macro_rules! sql_ledger {
    ($ty:ident, $row:ty, $conn:ty) => {
        use $crate::sql::{IN_FLIGHT, JOB_COLUMNS, UNFINISHED, corrupt, placeholders, state_list};

        fn json_text(v: &serde_json::Value) -> String {
            v.to_string()
        }

        fn parse_json(
            column: &'static str,
            s: Option<String>,
        ) -> Result<Option<serde_json::Value>, $crate::LedgerError> {
            s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(column)(e.to_string())))
                .transpose()
        }

        fn parse_id(column: &'static str, s: &str) -> Result<kino_core::JobId, $crate::LedgerError> {
            s.parse::<kino_core::JobId>()
                .map_err(|e| corrupt(column)(e.to_string()))
        }

        fn job_from_row(row: &$row) -> Result<kino_core::Job, $crate::LedgerError> {
            use sqlx::Row;
            let id: String = row.try_get("id")?;
            let state: String = row.try_get("state")?;
            let request: String = row.try_get("request")?;
            Ok(kino_core::Job {
                id: parse_id("id", &id)?,
                provider: row.try_get("provider")?,
                mode: row.try_get("mode")?,
                model: row.try_get("model")?,
                state: state
                    .parse()
                    .map_err(|e: kino_core::UnknownState| corrupt("state")(e.to_string()))?,
                handle: row.try_get("handle")?,
                web_link: row.try_get("web_link")?,
                cursor: row.try_get("cursor")?,
                request: parse_json("request", Some(request))?.unwrap_or(serde_json::Value::Null),
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
                profile: row.try_get("profile")?,
            })
        }

        fn event_from_row(row: &$row) -> Result<kino_core::Event, $crate::LedgerError> {
            use sqlx::Row;
            let id: String = row.try_get("job_id")?;
            let data: String = row.try_get("data")?;
            Ok(kino_core::Event {
                job_id: parse_id("job_id", &id)?,
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                kind: serde_json::from_str(&data)
                    .map_err(|e| corrupt("events.data")(e.to_string()))?,
            })
        }

        fn artifact_from_row(row: &$row) -> Result<kino_core::Artifact, $crate::LedgerError> {
            use sqlx::Row;
            let id: String = row.try_get("job_id")?;
            let kind: String = row.try_get("kind")?;
            let state: String = row.try_get("state")?;
            let bytes: Option<i64> = row.try_get("bytes")?;
            let probe: Option<String> = row.try_get("probe")?;
            // A probe is a summary that can be made again from the file: one this kino cannot
            // read (written by a newer one) is shown as none rather than failing the job.
            let probe = probe.and_then(|p| serde_json::from_str(&p).ok());
            Ok(kino_core::Artifact {
                job_id: parse_id("job_id", &id)?,
                index: row.try_get("idx")?,
                url: row.try_get("url")?,
                kind: kino_core::ArtifactKind::parse(&kind),
                path: row.try_get("path")?,
                bytes: bytes.map(|b| b as u64),
                sha256: row.try_get("sha256")?,
                mime: row.try_get("mime")?,
                state: kino_core::DownloadState::parse(&state),
                error: row.try_get("error")?,
                probe,
            })
        }

        /// An artifact's probe as the `probe` column holds it (JSON text).
        fn probe_text(
            probe: Option<&kino_core::MediaProbe>,
        ) -> Result<Option<String>, $crate::LedgerError> {
            probe
                .map(|p| serde_json::to_string(p).map_err(|e| corrupt("artifacts.probe")(e.to_string())))
                .transpose()
        }

        /// Numbers the event from the job row, which the update locks: two writers of one job's
        /// events queue there instead of colliding on the same number.
        async fn insert_event(
            tx: &mut $conn,
            id: kino_core::JobId,
            at: kino_core::Millis,
            kind: &kino_core::EventKind,
        ) -> Result<kino_core::Event, $crate::LedgerError> {
            let data = serde_json::to_string(kind)
                .map_err(|e| corrupt("events.data")(e.to_string()))?;
            let seq: i64 = sqlx::query_scalar(
                "UPDATE jobs SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
            )
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| $crate::LedgerError::NotFound(id.to_string()))?;
            sqlx::query("INSERT INTO events (job_id, seq, at, kind, data) VALUES ($1, $2, $3, $4, $5)")
                .bind(id.to_string())
                .bind(seq)
                .bind(at)
                .bind(kind.name())
                .bind(data)
                .execute(&mut *tx)
                .await?;
            Ok(kino_core::Event {
                job_id: id,
                seq,
                at,
                kind: kind.clone(),
            })
        }

        /// The state move of a transition, inside a transaction: false when the job is not in
        /// `from`.
        async fn move_in(
            tx: &mut $conn,
            id: kino_core::JobId,
            from: &[kino_core::JobState],
            to: kino_core::JobState,
            change: &$crate::Change,
            now: kino_core::Millis,
        ) -> Result<bool, $crate::LedgerError> {
            let finished = if to.is_terminal() { Some(now) } else { None };
            let sql = format!(
                "UPDATE jobs SET state = $1, updated_at = $2, \
                   handle = COALESCE($3, handle), error = COALESCE($4, error), usage = COALESCE($5, usage), \
                   wire = COALESCE($6, wire), submitted_at = COALESCE($7, submitted_at), \
                   attempts = attempts + $8, finished_at = COALESCE($9, finished_at), next_poll_at = $10, \
                   web_link = COALESCE($12, web_link), \
                   cursor = CASE WHEN $13 THEN NULL ELSE COALESCE($14, cursor) END, \
                   ran_ms = COALESCE($15, ran_ms) \
                 WHERE id = $11 AND state IN ({}) RETURNING state",
                state_list(from)
            );
            let updated: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
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
                .bind(change.ran_ms)
                .fetch_optional(&mut *tx)
                .await?;
            if updated.is_none() {
                return Ok(false);
            }
            if let Some(handle) = &change.handle {
                let submitted = kino_core::EventKind::Submitted {
                    handle: handle.clone(),
                    web_link: change.web_link.clone(),
                    attached: false,
                };
                insert_event(tx, id, now, &submitted).await?;
            }
            let prior = if from.len() == 1 { Some(from[0]) } else { None };
            let reason = change.reason.clone().or_else(|| change.error.clone());
            insert_event(
                tx,
                id,
                now,
                &kino_core::EventKind::State {
                    from: prior,
                    to,
                    reason,
                },
            )
            .await?;
            if frees_room(to) {
                $ty::notify_in(tx).await?;
            }
            Ok(true)
        }

        /// A job that stops occupying its platform frees room under a concurrency cap: workers
        /// waiting for it are woken.
        fn frees_room(to: kino_core::JobState) -> bool {
            to.is_terminal() || to == kino_core::JobState::NeedsInput
        }

        impl $ty {
            async fn conflict(
                &self,
                id: kino_core::JobId,
                from: &[kino_core::JobState],
            ) -> $crate::LedgerError {
                use $crate::Ledger;
                let expected: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
                match self.job(id).await {
                    Ok(job) => $crate::LedgerError::Conflict {
                        id,
                        actual: job.state,
                        expected: expected.join(" or "),
                    },
                    Err(e) => e,
                }
            }

            /// In-flight jobs per capped provider, and the pending ones a claim may add.
            async fn room(
                tx: &mut $conn,
                now: kino_core::Millis,
                caps: &[(String, u32)],
            ) -> Result<std::collections::HashMap<String, u32>, $crate::LedgerError> {
                let mut room = std::collections::HashMap::new();
                if caps.is_empty() {
                    return Ok(room);
                }
                let sql = format!(
                    "SELECT provider, COUNT(*) AS n FROM jobs WHERE {IN_FLIGHT} GROUP BY provider"
                );
                let counts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                for (provider, cap) in caps {
                    let busy = counts
                        .iter()
                        .find(|(p, _)| p == provider)
                        .map_or(0, |(_, n)| *n);
                    let free = i64::from(*cap).saturating_sub(busy).max(0);
                    room.insert(provider.clone(), u32::try_from(free).unwrap_or(0));
                }
                Ok(room)
            }
        }

        #[async_trait::async_trait]
        impl $crate::Ledger for $ty {
            async fn insert_job(
                &self,
                job: &kino_core::NewJob,
            ) -> Result<kino_core::Job, $crate::LedgerError> {
                let now = kino_core::now_millis();
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO jobs (id, provider, mode, model, state, request, out_dir, prefix, created_at, updated_at, \
                       lease_owner, lease_until, profile) \
                     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12)",
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
                .bind(job.lease.as_ref().map(|(owner, _)| owner.as_str()))
                .bind(job.lease.as_ref().map(|(_, until)| *until))
                .bind(&job.profile)
                .execute(&mut *tx)
                .await?;
                insert_event(
                    &mut tx,
                    job.id,
                    now,
                    &kino_core::EventKind::State {
                        from: None,
                        to: kino_core::JobState::Pending,
                        reason: None,
                    },
                )
                .await?;
                $ty::notify_in(&mut tx).await?;
                tx.commit().await?;
                self.notify_after();
                self.job(job.id).await
            }

            async fn job(&self, id: kino_core::JobId) -> Result<kino_core::Job, $crate::LedgerError> {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| $crate::LedgerError::NotFound(id.to_string()))?;
                job_from_row(&row)
            }

            async fn find_job(&self, id_or_prefix: &str) -> Result<kino_core::Job, $crate::LedgerError> {
                let needle = id_or_prefix.trim().to_ascii_lowercase();
                if needle.is_empty() || !needle.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    return Err($crate::LedgerError::NotFound(id_or_prefix.to_string()));
                }
                if let Ok(id) = needle.parse::<kino_core::JobId>() {
                    return self.job(id).await;
                }
                // A prefix of the id, or its short form: the last hex digits (JobId::short).
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE $1 OR REPLACE(id, '-', '') LIKE $2 LIMIT 2"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(format!("{needle}%"))
                    .bind(format!("%{}", needle.replace('-', "")))
                    .fetch_all(&self.pool)
                    .await?;
                match rows.len() {
                    0 => Err($crate::LedgerError::NotFound(id_or_prefix.to_string())),
                    1 => job_from_row(&rows[0]),
                    n => Err($crate::LedgerError::Ambiguous {
                        prefix: id_or_prefix.to_string(),
                        count: n,
                    }),
                }
            }

            async fn jobs(
                &self,
                filter: &$crate::JobFilter,
            ) -> Result<Vec<kino_core::Job>, $crate::LedgerError> {
                let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
                if !filter.states.is_empty() {
                    sql.push_str(&format!(" AND state IN ({})", state_list(&filter.states)));
                }
                if filter.provider.is_some() {
                    sql.push_str(" AND provider = $1");
                }
                sql.push_str(" ORDER BY id DESC");
                if let Some(limit) = filter.limit {
                    sql.push_str(&format!(" LIMIT {limit}"));
                }
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                if let Some(p) = &filter.provider {
                    q = q.bind(p);
                }
                q.fetch_all(&self.pool).await?.iter().map(job_from_row).collect()
            }

            async fn unfinished(&self) -> Result<Vec<kino_core::Job>, $crate::LedgerError> {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {UNFINISHED} ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(job_from_row)
                    .collect()
            }

            async fn transition(
                &self,
                id: kino_core::JobId,
                from: &[kino_core::JobState],
                to: kino_core::JobState,
                change: $crate::Change,
            ) -> Result<kino_core::Job, $crate::LedgerError> {
                let mut tx = self.begin_write().await?;
                if !move_in(&mut tx, id, from, to, &change, kino_core::now_millis()).await? {
                    drop(tx);
                    return Err(self.conflict(id, from).await);
                }
                tx.commit().await?;
                if frees_room(to) {
                    self.notify_after();
                }
                self.job(id).await
            }

            async fn record_poll(
                &self,
                id: kino_core::JobId,
                record: $crate::PollRecord,
            ) -> Result<(), $crate::LedgerError> {
                let now = kino_core::now_millis();
                let mut tx = self.begin_write().await?;
                // Results first: the URLs are what a crash must not lose.
                let known: Vec<String> =
                    sqlx::query_scalar("SELECT url FROM artifacts WHERE job_id = $1")
                        .bind(id.to_string())
                        .fetch_all(&mut *tx)
                        .await?;
                let fresh = record.artifacts.iter().filter(|a| !known.contains(&a.url));
                for (next, a) in (known.len() as i64..).zip(fresh) {
                    sqlx::query(
                        "INSERT INTO artifacts (job_id, idx, url, kind, state) VALUES ($1, $2, $3, $4, 'pending')",
                    )
                    .bind(id.to_string())
                    .bind(next)
                    .bind(&a.url)
                    .bind(a.kind.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let shown = kino_core::EventKind::Artifact {
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
                    sqlx::query("UPDATE jobs SET cursor = $1, updated_at = $2 WHERE id = $3")
                        .bind(c)
                        .bind(now)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                let mut freed = false;
                if let Some((from, to, change)) = &record.transition {
                    if !move_in(&mut tx, id, &[*from], *to, change, now).await? {
                        drop(tx);
                        return Err(self.conflict(id, &[*from]).await);
                    }
                    freed = frees_room(*to);
                }
                tx.commit().await?;
                if freed {
                    self.notify_after();
                }
                Ok(())
            }

            async fn append_event(
                &self,
                id: kino_core::JobId,
                kind: &kino_core::EventKind,
            ) -> Result<kino_core::Event, $crate::LedgerError> {
                let mut tx = self.begin_write().await?;
                let e = insert_event(&mut tx, id, kino_core::now_millis(), kind).await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn events(
                &self,
                id: kino_core::JobId,
                since: i64,
            ) -> Result<Vec<kino_core::Event>, $crate::LedgerError> {
                sqlx::query(
                    "SELECT job_id, seq, at, data FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
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
                id: kino_core::JobId,
                owner: &str,
                until: kino_core::Millis,
                breakable: Option<&str>,
            ) -> Result<bool, $crate::LedgerError> {
                let done = sqlx::query(
                    "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND \
                     (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4 OR lease_owner = $5)",
                )
                .bind(owner)
                .bind(until)
                .bind(id.to_string())
                .bind(kino_core::now_millis())
                .bind(breakable)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn claim_due(
                &self,
                claim: &$crate::Claim,
            ) -> Result<Vec<kino_core::Job>, $crate::LedgerError> {
                if claim.limit == 0 {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_claim().await?;
                let mut room = Self::room(&mut tx, claim.now, &claim.caps).await?;
                let full: Vec<String> = room
                    .iter()
                    .filter(|(_, n)| **n == 0)
                    .map(|(p, _)| p.clone())
                    .collect();
                // $1 now, then the dead owners, the providers without room, the providers served.
                let dead = placeholders(2, claim.breakable.len());
                let capped = placeholders(2 + claim.breakable.len(), full.len());
                let served = placeholders(
                    2 + claim.breakable.len() + full.len(),
                    claim.providers.len(),
                );
                let mut sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE {UNFINISHED} AND state <> 'needs_input' \
                     AND (next_poll_at IS NULL OR next_poll_at <= $1) \
                     AND (lease_owner IS NULL OR lease_until < $1"
                );
                if !claim.breakable.is_empty() {
                    sql.push_str(&format!(" OR lease_owner IN ({dead})"));
                }
                sql.push(')');
                if !full.is_empty() {
                    sql.push_str(&format!(" AND NOT (state = 'pending' AND provider IN ({capped}))"));
                }
                if !claim.providers.is_empty() {
                    sql.push_str(&format!(" AND provider IN ({served})"));
                }
                // Room for skipping pending jobs of a provider that fills up within this claim.
                let window = claim.limit.saturating_mul(2).saturating_add(32);
                sql.push_str(&format!(" ORDER BY id LIMIT {window}{}", Self::LOCK_ROWS));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(claim.now);
                for value in claim.breakable.iter().chain(&full).chain(&claim.providers) {
                    q = q.bind(value);
                }
                let rows = q.fetch_all(&mut *tx).await?;
                let mut chosen = Vec::new();
                for row in &rows {
                    if chosen.len() >= claim.limit as usize {
                        break;
                    }
                    let mut job = job_from_row(row)?;
                    if job.state == kino_core::JobState::Pending
                        && let Some(left) = room.get_mut(&job.provider)
                    {
                        if *left == 0 {
                            continue;
                        }
                        *left -= 1;
                    }
                    job.lease_owner = Some(claim.owner.clone());
                    job.lease_until = Some(claim.until);
                    chosen.push(job);
                }
                if !chosen.is_empty() {
                    let sql = format!(
                        "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN ({})",
                        placeholders(3, chosen.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&claim.owner)
                        .bind(claim.until);
                    for job in &chosen {
                        q = q.bind(job.id.to_string());
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(chosen)
            }

            async fn lease_holders(
                &self,
                now: kino_core::Millis,
            ) -> Result<Vec<String>, $crate::LedgerError> {
                let sql = format!(
                    "SELECT DISTINCT lease_owner FROM jobs WHERE {UNFINISHED} \
                     AND lease_owner IS NOT NULL AND lease_until >= $1"
                );
                Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn next_due(
                &self,
                owner: &str,
                now: kino_core::Millis,
            ) -> Result<Option<kino_core::Millis>, $crate::LedgerError> {
                let sql = format!(
                    "SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_until >= $1 THEN lease_until \
                                     WHEN next_poll_at > $1 THEN next_poll_at ELSE $1 END) \
                     FROM jobs WHERE {UNFINISHED} AND state <> 'needs_input' \
                     AND (lease_owner IS NULL OR lease_owner <> $2)"
                );
                Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(owner)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn release(
                &self,
                id: kino_core::JobId,
                owner: &str,
            ) -> Result<(), $crate::LedgerError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
                )
                .bind(id.to_string())
                .bind(owner)
                .execute(&mut *tx)
                .await?;
                let released = done.rows_affected() == 1;
                if released {
                    $ty::notify_in(&mut tx).await?;
                }
                tx.commit().await?;
                if released {
                    self.notify_after();
                }
                Ok(())
            }

            async fn set_next_poll(
                &self,
                id: kino_core::JobId,
                at: Option<kino_core::Millis>,
            ) -> Result<(), $crate::LedgerError> {
                sqlx::query("UPDATE jobs SET next_poll_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_turn(
                &self,
                key: &str,
                interval: std::time::Duration,
            ) -> Result<std::time::Duration, $crate::LedgerError> {
                let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
                let now = Self::NOW_MS;
                // Every process of the ledger takes its turn from the same row, by the database's
                // clock, so the spacing holds across machines whatever their clocks say.
                let sql = format!(
                    "INSERT INTO pacing (key, next_at) VALUES ($1, {now} + $2) \
                     ON CONFLICT (key) DO UPDATE SET next_at = \
                       CASE WHEN pacing.next_at > {now} THEN pacing.next_at ELSE {now} END + $2 \
                     RETURNING next_at - $2 - {now}"
                );
                let wait: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(key)
                    .bind(step)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
            }

            async fn wakeups(&self) -> Result<$crate::Wakeups, $crate::LedgerError> {
                self.listen().await
            }

            async fn describe(&self) -> Result<$crate::LedgerInfo, $crate::LedgerError> {
                let version: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
                )
                .fetch_one(&self.pool)
                .await?;
                let (backend, location) = self.location();
                Ok($crate::LedgerInfo {
                    backend,
                    location,
                    schema_version: version.unwrap_or(0),
                })
            }

            async fn import_job(&self, record: &$crate::JobRecord) -> Result<bool, $crate::LedgerError> {
                let job = &record.job;
                let last_seq = record.events.iter().map(|e| e.seq).max().unwrap_or(0);
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "INSERT INTO jobs (id, provider, mode, model, state, handle, web_link, cursor, request, wire, \
                       out_dir, prefix, error, usage, created_at, updated_at, submitted_at, finished_at, attempts, \
                       next_poll_at, last_seq, profile) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(job.id.to_string())
                .bind(&job.provider)
                .bind(&job.mode)
                .bind(&job.model)
                .bind(job.state.as_str())
                .bind(&job.handle)
                .bind(&job.web_link)
                .bind(&job.cursor)
                .bind(json_text(&job.request))
                .bind(job.wire.as_ref().map(json_text))
                .bind(&job.out_dir)
                .bind(&job.prefix)
                .bind(&job.error)
                .bind(job.usage.as_ref().map(json_text))
                .bind(job.created_at)
                .bind(job.updated_at)
                .bind(job.submitted_at)
                .bind(job.finished_at)
                .bind(job.attempts)
                .bind(job.next_poll_at)
                .bind(last_seq)
                .bind(&job.profile)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                for e in &record.events {
                    let data = serde_json::to_string(&e.kind)
                        .map_err(|err| corrupt("events.data")(err.to_string()))?;
                    sqlx::query("INSERT INTO events (job_id, seq, at, kind, data) VALUES ($1, $2, $3, $4, $5)")
                        .bind(job.id.to_string())
                        .bind(e.seq)
                        .bind(e.at)
                        .bind(e.kind.name())
                        .bind(data)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &record.artifacts {
                    sqlx::query(
                        "INSERT INTO artifacts (job_id, idx, url, kind, path, bytes, sha256, mime, state, error, probe) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(job.id.to_string())
                    .bind(a.index)
                    .bind(&a.url)
                    .bind(a.kind.as_str())
                    .bind(&a.path)
                    .bind(a.bytes.map(|b| b as i64))
                    .bind(&a.sha256)
                    .bind(&a.mime)
                    .bind(a.state.as_str())
                    .bind(&a.error)
                    .bind(probe_text(a.probe.as_ref())?)
                    .execute(&mut *tx)
                    .await?;
                }
                $ty::notify_in(&mut tx).await?;
                if let Some(c) = &record.cost {
                    sqlx::query(
                        "INSERT INTO job_costs (job_id, estimate_micros, estimate_unit, estimate_basis, \
                         charged_micros, charged_unit, charged_basis, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(job.id.to_string())
                    .bind(c.estimate_micros)
                    .bind(&c.estimate_unit)
                    .bind(&c.estimate_basis)
                    .bind(c.charged_micros)
                    .bind(&c.charged_unit)
                    .bind(&c.charged_basis)
                    .bind(c.updated_at.unwrap_or(job.updated_at))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.notify_after();
                Ok(true)
            }

            async fn add_artifact(&self, a: &kino_core::Artifact) -> Result<bool, $crate::LedgerError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "INSERT INTO artifacts (job_id, idx, url, kind, state) VALUES ($1, $2, $3, $4, 'pending') \
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
                    let shown = kino_core::EventKind::Artifact {
                        index: a.index,
                        url: kino_core::redact_url(&a.url),
                        kind: a.kind,
                    };
                    insert_event(&mut tx, a.job_id, kino_core::now_millis(), &shown).await?;
                }
                tx.commit().await?;
                Ok(new)
            }

            async fn update_artifact(&self, a: &kino_core::Artifact) -> Result<(), $crate::LedgerError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE artifacts SET path = $1, bytes = $2, sha256 = $3, mime = $4, state = $5, error = $6, \
                     probe = $9 WHERE job_id = $7 AND idx = $8",
                )
                .bind(&a.path)
                .bind(a.bytes.map(|b| b as i64))
                .bind(&a.sha256)
                .bind(&a.mime)
                .bind(a.state.as_str())
                .bind(&a.error)
                .bind(a.job_id.to_string())
                .bind(a.index)
                .bind(probe_text(a.probe.as_ref())?)
                .execute(&mut *tx)
                .await?;
                // A result on disk changes what the job shows (the dashboard's live table follows
                // `updated_at`), though its state stays `succeeded`.
                sqlx::query("UPDATE jobs SET updated_at = $1 WHERE id = $2")
                    .bind(kino_core::now_millis())
                    .bind(a.job_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn artifacts(
                &self,
                id: kino_core::JobId,
            ) -> Result<Vec<kino_core::Artifact>, $crate::LedgerError> {
                sqlx::query("SELECT * FROM artifacts WHERE job_id = $1 ORDER BY idx")
                    .bind(id.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(artifact_from_row)
                    .collect()
            }

            async fn record_upload(&self, u: &$crate::UploadRecord) -> Result<(), $crate::LedgerError> {
                sqlx::query(
                    "INSERT INTO uploads (provider, model, local_path, bytes, modified, reference, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
                modified: kino_core::Millis,
                now: kino_core::Millis,
            ) -> Result<Option<$crate::UploadRecord>, $crate::LedgerError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT * FROM uploads WHERE provider = $1 AND model = $2 AND local_path = $3 AND bytes = $4 \
                     AND modified = $5 AND expires_at > $6 ORDER BY id DESC LIMIT 1",
                )
                .bind(provider)
                .bind(model)
                .bind(local_path)
                .bind(bytes as i64)
                .bind(modified)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| -> Result<$crate::UploadRecord, $crate::LedgerError> {
                    let bytes: i64 = r.try_get("bytes")?;
                    Ok($crate::UploadRecord {
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

            async fn handles(&self, provider: &str) -> Result<Vec<String>, $crate::LedgerError> {
                Ok(sqlx::query_scalar(
                    "SELECT handle FROM jobs WHERE provider = $1 AND handle IS NOT NULL",
                )
                .bind(provider)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn run_times(
                &self,
                provider: &str,
                model: &str,
                limit: u32,
            ) -> Result<Vec<$crate::RunTime>, $crate::LedgerError> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT ran_ms, request FROM jobs \
                     WHERE provider = $1 AND model = $2 AND state = 'succeeded' \
                     AND ran_ms IS NOT NULL AND ran_ms >= 0 \
                     ORDER BY finished_at DESC, id DESC LIMIT $3",
                )
                .bind(provider)
                .bind(model)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(took, request)| {
                        Ok($crate::RunTime {
                            took: std::time::Duration::from_millis(u64::try_from(took).unwrap_or(0)),
                            request: parse_json("request", Some(request))?
                                .unwrap_or(serde_json::Value::Null),
                        })
                    })
                    .collect()
            }

            async fn set_cost(
                &self,
                id: kino_core::JobId,
                figure: $crate::CostFigure,
                value: &kino_core::cost::Estimate,
            ) -> Result<(), $crate::LedgerError> {
                let (micros, unit, basis) = $crate::cost::columns(value);
                // The column prefix is one of two constants, never input.
                let c = figure.column();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO job_costs (job_id, {c}_micros, {c}_unit, {c}_basis, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id) DO UPDATE SET \
                     {c}_micros = $2, {c}_unit = $3, {c}_basis = $4, updated_at = $5",
                )))
                .bind(id.to_string())
                .bind(micros)
                .bind(unit)
                .bind(basis)
                .bind(kino_core::now_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn job_cost(
                &self,
                id: kino_core::JobId,
            ) -> Result<Option<$crate::CostRecord>, $crate::LedgerError> {
                type Row = (
                    Option<i64>,
                    Option<String>,
                    Option<String>,
                    Option<i64>,
                    Option<String>,
                    Option<String>,
                    i64,
                );
                let row: Option<Row> = sqlx::query_as(
                    "SELECT estimate_micros, estimate_unit, estimate_basis, \
                     charged_micros, charged_unit, charged_basis, updated_at \
                     FROM job_costs WHERE job_id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(em, eu, eb, cm, cu, cb, at)| $crate::CostRecord {
                    estimate_micros: em,
                    estimate_unit: eu,
                    estimate_basis: eb,
                    charged_micros: cm,
                    charged_unit: cu,
                    charged_basis: cb,
                    updated_at: Some(at),
                }))
            }

            async fn recent_charges(
                &self,
                provider: &str,
                model: &str,
                since: kino_core::Millis,
                limit: u32,
            ) -> Result<Vec<kino_core::cost::Estimate>, $crate::LedgerError> {
                let rows: Vec<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT c.charged_micros, c.charged_unit, c.charged_basis \
                     FROM job_costs c JOIN jobs j ON j.id = c.job_id \
                     WHERE j.provider = $1 AND j.model = $2 AND c.charged_micros IS NOT NULL \
                     AND c.updated_at >= $3 ORDER BY c.updated_at DESC, j.id DESC LIMIT $4",
                )
                .bind(provider)
                .bind(model)
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(m, u, b)| $crate::cost::estimate(m, u, b))
                    .collect())
            }

            async fn costs(
                &self,
                since: kino_core::Millis,
            ) -> Result<Vec<$crate::CostRow>, $crate::LedgerError> {
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    String,
                    i64,
                    Option<i64>,
                    Option<String>,
                    Option<String>,
                    Option<i64>,
                    Option<String>,
                    Option<String>,
                );
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT j.id, j.provider, j.mode, j.model, j.state, j.created_at, \
                     c.estimate_micros, c.estimate_unit, c.estimate_basis, \
                     c.charged_micros, c.charged_unit, c.charged_basis \
                     FROM jobs j LEFT JOIN job_costs c ON c.job_id = j.id \
                     WHERE j.created_at >= $1 ORDER BY j.created_at, j.id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, provider, mode, model, state, created_at, em, eu, eb, cm, cu, cb)| {
                        Ok($crate::CostRow {
                            job_id: parse_id("id", &id)?,
                            provider,
                            mode,
                            model,
                            state: state.parse().map_err(|e: kino_core::UnknownState| {
                                corrupt("state")(e.to_string())
                            })?,
                            created_at,
                            estimate: $crate::cost::estimate(em, eu, eb),
                            charged: $crate::cost::estimate(cm, cu, cb),
                        })
                    })
                    .collect()
            }

            async fn insert_batch(&self, batch: &$crate::NewBatch) -> Result<(), $crate::LedgerError> {
                let now = kino_core::now_millis();
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO batches (id, file, hash, options, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(batch.id.to_string())
                .bind(&batch.file)
                .bind(&batch.hash)
                .bind(json_text(&batch.options))
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for row in &batch.rows {
                    sqlx::query(
                        "INSERT INTO batch_rows (batch_id, idx, provider, model, plan, status, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, 'waiting', $6)",
                    )
                    .bind(batch.id.to_string())
                    .bind(i64::from(row.index))
                    .bind(&row.provider)
                    .bind(&row.model)
                    .bind(json_text(&row.plan))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn find_batch(
                &self,
                id_or_prefix: &str,
            ) -> Result<$crate::BatchRecord, $crate::LedgerError> {
                let needle = id_or_prefix.trim().to_ascii_lowercase();
                if needle.is_empty() || !needle.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    return Err($crate::LedgerError::NotFound(id_or_prefix.to_string()));
                }
                // A prefix of the id, or its last hex digits: a UUIDv7 begins with its time, so
                // batches made within a minute share their first digits (as jobs do).
                let ids: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM batches WHERE id LIKE $1 OR REPLACE(id, '-', '') LIKE $2 ORDER BY id LIMIT 2",
                )
                .bind(format!("{needle}%"))
                .bind(format!("%{}", needle.replace('-', "")))
                .fetch_all(&self.pool)
                .await?;
                match ids.as_slice() {
                    [] => Err($crate::LedgerError::NotFound(id_or_prefix.to_string())),
                    [(id,)] => self.batch_by_id(id).await,
                    _ => Err($crate::LedgerError::Ambiguous {
                        prefix: id_or_prefix.to_string(),
                        count: ids.len(),
                    }),
                }
            }

            async fn batches(&self, limit: u32) -> Result<Vec<$crate::BatchRecord>, $crate::LedgerError> {
                let ids: Vec<(String,)> =
                    sqlx::query_as("SELECT id FROM batches ORDER BY id DESC LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                let mut out = Vec::with_capacity(ids.len());
                for (id,) in ids {
                    out.push(self.batch_by_id(&id).await?);
                }
                Ok(out)
            }

            async fn set_batch_row(
                &self,
                batch: kino_core::JobId,
                index: u32,
                status: $crate::RowStatus,
                job_id: Option<kino_core::JobId>,
                reason: Option<&str>,
            ) -> Result<bool, $crate::LedgerError> {
                let now = kino_core::now_millis();
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE batch_rows SET status = $1, job_id = COALESCE($2, job_id), reason = $3, updated_at = $4 \
                     WHERE batch_id = $5 AND idx = $6 AND status = $7",
                )
                .bind(status.as_str())
                .bind(job_id.map(|j| j.to_string()))
                .bind(reason)
                .bind(now)
                .bind(batch.to_string())
                .bind(i64::from(index))
                .bind(status.moves_from().as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    let exists: Option<i64> = sqlx::query_scalar(
                        "SELECT idx FROM batch_rows WHERE batch_id = $1 AND idx = $2",
                    )
                    .bind(batch.to_string())
                    .bind(i64::from(index))
                    .fetch_optional(&mut *tx)
                    .await?;
                    return match exists {
                        Some(_) => Ok(false),
                        None => Err($crate::LedgerError::NotFound(format!("{batch} row {index}"))),
                    };
                }
                sqlx::query("UPDATE batches SET updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(batch.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn dispatch_batch_row(
                &self,
                batch: kino_core::JobId,
                index: u32,
                job_id: kino_core::JobId,
            ) -> Result<bool, $crate::LedgerError> {
                // Compare and set: of two processes going on with one batch, one sends the row.
                let done = sqlx::query(
                    "UPDATE batch_rows SET status = 'dispatched', job_id = $1, reason = NULL, updated_at = $2 \
                     WHERE batch_id = $3 AND idx = $4 AND status = 'waiting'",
                )
                .bind(job_id.to_string())
                .bind(kino_core::now_millis())
                .bind(batch.to_string())
                .bind(i64::from(index))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        impl $ty {
            /// A batch and its rows by its full id (as stored).
            async fn batch_by_id(&self, id: &str) -> Result<$crate::BatchRecord, $crate::LedgerError> {
                type Head = (String, String, String, String, i64, i64);
                let head: Option<Head> = sqlx::query_as(
                    "SELECT id, file, hash, options, created_at, updated_at FROM batches WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((id, file, hash, options, created_at, updated_at)) = head else {
                    return Err($crate::LedgerError::NotFound(id.to_string()));
                };
                type Line = (i64, String, String, String, String, Option<String>, Option<String>, i64);
                let lines: Vec<Line> = sqlx::query_as(
                    "SELECT idx, provider, model, plan, status, job_id, reason, updated_at \
                     FROM batch_rows WHERE batch_id = $1 ORDER BY idx",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
                let rows = lines
                    .into_iter()
                    .map(|(idx, provider, model, plan, status, job_id, reason, updated_at)| {
                        Ok($crate::BatchRow {
                            index: u32::try_from(idx)
                                .map_err(|e| corrupt("batch_rows.idx")(e.to_string()))?,
                            provider,
                            model,
                            plan: parse_json("batch_rows.plan", Some(plan))?
                                .unwrap_or(serde_json::Value::Null),
                            status: status.parse().map_err(corrupt("batch_rows.status"))?,
                            job_id: job_id.map(|j| parse_id("batch_rows.job_id", &j)).transpose()?,
                            reason,
                            updated_at,
                        })
                    })
                    .collect::<Result<Vec<_>, $crate::LedgerError>>()?;
                Ok($crate::BatchRecord {
                    id: parse_id("batches.id", &id)?,
                    file,
                    hash,
                    options: parse_json("batches.options", Some(options))?
                        .unwrap_or(serde_json::Value::Null),
                    created_at,
                    updated_at,
                    rows,
                })
            }
        }
    };
}

pub(crate) use sql_ledger;
