use kino_core::cost::{Amount, Estimate, Unit};
use kino_core::{JobId, JobState, Millis};

/// One job's figures for `kino cost`: what it was expected to cost and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    pub job_id: JobId,
    pub provider: String,
    pub mode: String,
    pub model: String,
    pub state: JobState,
    pub created_at: Millis,
    pub estimate: Option<Estimate>,
    pub charged: Option<Estimate>,
}

/// A job's two cost figures as `kino ledger export` carries them: the stored columns as they
/// are, so a move between ledgers keeps them to the millionth.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CostRecord {
    pub estimate_micros: Option<i64>,
    pub estimate_unit: Option<String>,
    pub estimate_basis: Option<String>,
    pub charged_micros: Option<i64>,
    pub charged_unit: Option<String>,
    pub charged_basis: Option<String>,
    /// When a figure was last written: learned estimates read the latest charges by it, so a
    /// move between ledgers keeps it (absent in older exports: the job's `updated_at` then).
    #[serde(default)]
    pub updated_at: Option<Millis>,
}

impl CostRecord {
    /// What the job was expected to cost when it was recorded (none for a job recorded before
    /// kino kept estimates).
    pub fn estimate(&self) -> Option<Estimate> {
        estimate(
            self.estimate_micros,
            self.estimate_unit.clone(),
            self.estimate_basis.clone(),
        )
    }

    /// What it cost by its platform's report (none until it has succeeded, or when the
    /// platform reports nothing kino can price).
    pub fn charged(&self) -> Option<Estimate> {
        estimate(
            self.charged_micros,
            self.charged_unit.clone(),
            self.charged_basis.clone(),
        )
    }
}

/// Which of a job's two cost figures a write sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostFigure {
    /// What the job is expected to cost, written when it is recorded.
    Estimate,
    /// What it cost by its platform's report, written when it has succeeded.
    Charged,
}

impl CostFigure {
    /// The prefix of its columns in `job_costs`.
    pub(crate) fn column(self) -> &'static str {
        match self {
            CostFigure::Estimate => "estimate",
            CostFigure::Charged => "charged",
        }
    }
}

/// An estimate as stored: amount and unit (both null when unknown) and its basis.
pub(crate) fn columns(e: &Estimate) -> (Option<i64>, Option<String>, String) {
    (
        e.cost.as_ref().map(Amount::micros),
        e.cost.as_ref().map(|c| c.unit().as_str().to_string()),
        e.basis.clone(),
    )
}

pub(crate) fn estimate(
    micros: Option<i64>,
    unit: Option<String>,
    basis: Option<String>,
) -> Option<Estimate> {
    let basis = basis?;
    let cost = match (micros, unit.as_deref().and_then(Unit::parse)) {
        (Some(m), Some(u)) => Some(Amount::new(m, u)),
        _ => None,
    };
    Some(Estimate { cost, basis })
}
