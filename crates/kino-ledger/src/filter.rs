use kino_core::JobState;

/// Which jobs `kino list` wants; every field narrows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobFilter {
    pub states: Vec<JobState>,
    pub provider: Option<String>,
    pub limit: Option<u32>,
}
