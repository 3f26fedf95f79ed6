use kino_core::Millis;

/// What a worker asks of [`crate::Ledger::claim_due`]: up to `limit` jobs with work due, leased
/// to `owner` until `until`, in one transaction that no other worker's claim interleaves with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claim {
    pub owner: String,
    pub now: Millis,
    pub until: Millis,
    pub limit: u32,
    /// Lease holders known to be dead (a process of this host that is gone): their jobs are
    /// taken at once instead of when the lease runs out.
    pub breakable: Vec<String>,
    /// Fleet-wide caps on jobs in flight on a platform (submitting, unknown, queued, running, or
    /// pending under a live lease), by provider. A pending job is claimed only while its
    /// provider has room.
    pub caps: Vec<(String, u32)>,
    /// Only jobs of these providers (the ones the worker has credentials for); empty: any.
    pub providers: Vec<String>,
}
