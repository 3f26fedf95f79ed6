use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A job's identity: a UUIDv7, so ids sort by creation time in the ledger and in listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The last eight hex digits: random bits, so jobs made in the same minute still differ
    /// (a UUIDv7 starts with its timestamp). Used on screens and in file names.
    pub fn short(&self) -> String {
        let s = self.0.simple().to_string();
        s[s.len() - 8..].to_string()
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: short ids were the first eight hex digits, which UUIDv7 fills with the
    /// timestamp, so two jobs made within a minute had the same short id.
    #[test]
    fn short_ids_of_jobs_made_together_differ() {
        let ids: std::collections::HashSet<String> =
            (0..100).map(|_| JobId::new().short()).collect();
        assert_eq!(ids.len(), 100);
    }

    #[test]
    fn ids_sort_by_creation_and_round_trip() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<JobId>().ok(), Some(a));
        assert_eq!(a.short().len(), 8);
        assert!(a.to_string().ends_with(&a.short()));
    }
}
