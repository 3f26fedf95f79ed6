use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool};

use crate::LedgerError;
use crate::sql::sql_ledger;
use crate::wake::{Remote, Signal, Wakeups};

/// The channel workers LISTEN on; every write that makes work NOTIFYs it in its transaction, so
/// the wake-up is delivered exactly when the work becomes visible.
const CHANNEL: &str = "kino_work";

/// Claims take this transaction-scoped advisory lock, so two workers never count a provider's
/// jobs in flight at the same time (rows are still skipped, not waited for).
const CLAIM_LOCK: i64 = 0x6b69_6e6f; // "kino"

fn migrator() -> Migrator {
    crate::migrations::migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "run times",
            include_str!("../migrations/postgres/0002_run_times.sql"),
        ),
        (
            3,
            "ran_ms",
            include_str!("../migrations/postgres/0003_ran_ms.sql"),
        ),
        (
            4,
            "costs",
            include_str!("../migrations/postgres/0004_costs.sql"),
        ),
        (
            5,
            "media",
            include_str!("../migrations/postgres/0005_media.sql"),
        ),
        (
            6,
            "batches",
            include_str!("../migrations/postgres/0006_batches.sql"),
        ),
        (
            7,
            "profiles",
            include_str!("../migrations/postgres/0007_profiles.sql"),
        ),
    ])
}

/// The shared ledger: one PostgreSQL database for every `kino` on every machine of a fleet.
#[derive(Clone, Debug)]
pub struct PgLedger {
    pool: PgPool,
    /// The URL with its password masked.
    shown: String,
    signal: Signal,
}

impl PgLedger {
    pub fn is_url(location: &str) -> bool {
        location.starts_with("postgres://") || location.starts_with("postgresql://")
    }

    /// The URL as kino shows it (`kino doctor`, `kino config`): its password masked.
    pub fn masked(url: &str) -> String {
        mask_password(url)
    }

    /// Connects and brings the schema up to date (sqlx's migrator holds an advisory lock, so
    /// workers starting together migrate once).
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let shown = mask_password(url);
        let open_err = |message: String| LedgerError::Open {
            location: shown.clone(),
            message: mask_in(&message, url),
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
        // One direct attempt first: a server that is down or refuses is reported at once, where
        // the pool would keep retrying for its whole acquire timeout.
        let probe = <PgConnection as sqlx::Connection>::connect_with(&options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let _ = sqlx::Connection::close(probe).await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            pool,
            shown: shown.clone(),
            signal: Signal::default(),
        })
    }

    const LOCK_ROWS: &'static str = " FOR UPDATE SKIP LOCKED";
    const NOW_MS: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, LedgerError> {
        Ok(self.pool.begin().await?)
    }

    async fn begin_claim(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, LedgerError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn notify_in(tx: &mut PgConnection) -> Result<(), LedgerError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    fn notify_after(&self) {
        self.signal.raise();
    }

    async fn listen(&self) -> Result<Wakeups, LedgerError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let signal = self.signal.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => signal.raise(),
                    // The listener reconnects by itself; notifications sent meanwhile are lost,
                    // so wake once to look.
                    Err(_) => {
                        signal.raise();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(self.signal.listen(Some(Remote::task(task))))
    }

    fn location(&self) -> (&'static str, String) {
        ("postgres", self.shown.clone())
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_string(),
    }
}

/// A driver message may quote the URL: never let the password through.
fn mask_in(message: &str, url: &str) -> String {
    message.replace(url, &mask_password(url))
}

sql_ledger!(PgLedger, PgRow, PgConnection);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_a_ledger_url_is_never_shown() {
        assert_eq!(
            mask_password("postgres://kino:s3cret@db.example:5432/kino?sslmode=require"),
            "postgres://kino:***@db.example:5432/kino?sslmode=require"
        );
        assert_eq!(
            mask_password("postgresql://kino@db/kino"),
            "postgresql://kino@db/kino"
        );
        assert_eq!(
            mask_password("postgres:///kino?host=/run/pg"),
            "postgres:///kino?host=/run/pg"
        );
        assert_eq!(
            mask_in("cannot reach postgres://a:b@h/d", "postgres://a:b@h/d"),
            "cannot reach postgres://a:***@h/d"
        );
    }
}
