//! The migrations of a backend, embedded in the binary.

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The migrator of `(version, description, sql)` steps.
pub(crate) fn migrator(steps: &[(i64, &'static str, &'static str)]) -> Migrator {
    let mut migrator = Migrator::with_migrations(
        steps
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    );
    // Every migration only adds (columns, indexes, tables), so a kino one release behind may
    // open a ledger a newer one has migrated: machines of a fleet upgrade one at a time.
    migrator.set_ignore_missing(true);
    migrator
}
