use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::LedgerError;
use crate::sql::sql_ledger;
use crate::wake::{self, Signal, Wakeups};

fn migrator() -> Migrator {
    crate::migrations::migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "conversations",
            include_str!("../migrations/sqlite/0002_conversations.sql"),
        ),
        (
            3,
            "fleet",
            include_str!("../migrations/sqlite/0003_fleet.sql"),
        ),
        (
            4,
            "run times",
            include_str!("../migrations/sqlite/0004_run_times.sql"),
        ),
        (
            5,
            "ran_ms",
            include_str!("../migrations/sqlite/0005_ran_ms.sql"),
        ),
        (
            6,
            "costs",
            include_str!("../migrations/sqlite/0006_costs.sql"),
        ),
        (
            7,
            "media",
            include_str!("../migrations/sqlite/0007_media.sql"),
        ),
        (
            8,
            "batches",
            include_str!("../migrations/sqlite/0008_batches.sql"),
        ),
        (
            9,
            "profiles",
            include_str!("../migrations/sqlite/0009_profiles.sql"),
        ),
    ])
}

/// The embedded ledger: one SQLite file in KINO_HOME, in WAL mode so that readers (`kino list`)
/// never wait for the process that follows jobs.
#[derive(Clone, Debug)]
pub struct SqliteLedger {
    pool: SqlitePool,
    /// The file, or `None` in memory.
    path: Option<PathBuf>,
    /// Wakes this process's own listeners without a socket round trip.
    signal: Signal,
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
        Ok(Self {
            pool,
            path: Some(path.to_path_buf()),
            signal: Signal::default(),
        })
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
        Ok(Self {
            pool,
            path: None,
            signal: Signal::default(),
        })
    }

    /// No row locks in SQLite: a claim takes the write lock up front, so the jobs it reads are
    /// still free when it leases them.
    const LOCK_ROWS: &'static str = "";
    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    /// Every write transaction takes the write lock up front. A deferred one that reads first
    /// and writes later cannot wait for the lock: SQLite fails it at once with "database is
    /// locked" when another process wrote in between, whatever the busy timeout.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, LedgerError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn begin_claim(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, LedgerError> {
        self.begin_write().await
    }

    async fn notify_in(_tx: &mut SqliteConnection) -> Result<(), LedgerError> {
        Ok(())
    }

    fn notify_after(&self) {
        self.signal.raise();
        if let Some(path) = &self.path {
            wake::poke_sockets(&wake::socket_dir(path));
        }
    }

    async fn listen(&self) -> Result<Wakeups, LedgerError> {
        let remote = match &self.path {
            // A socket that cannot be bound (a path too long for one) leaves the worker on its
            // timer, which `Wakeups::crosses_processes` tells it.
            Some(path) => wake::bind_socket(&wake::socket_dir(path), self.signal.clone()).ok(),
            None => None,
        };
        Ok(self.signal.listen(remote))
    }

    fn location(&self) -> (&'static str, String) {
        let at = self
            .path
            .as_ref()
            .map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
        ("sqlite", at)
    }
}

sql_ledger!(SqliteLedger, SqliteRow, SqliteConnection);
