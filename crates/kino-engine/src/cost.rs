//! What jobs are expected to cost and what they cost: the price table applied to a plan before
//! anything is sent, and to the usage a platform reports once a job has finished.

use kino_core::cost::{Amount, CHARGED_BASIS, Estimate, PriceTable};
use kino_core::{Job, JobRequest, Plan, Provider, now_millis};
use serde_json::Value;

use crate::{Engine, EngineError};

/// How many earlier charges of a model an estimate learns from, and how far back it looks.
const LEARN_FROM: usize = 5;
const LEARN_WINDOW_MS: i64 = 90 * 24 * 3600 * 1000;

impl Engine {
    pub fn prices(&self) -> &PriceTable {
        &self.config.prices
    }

    /// What a request is expected to cost. Validates it as `create` would (its chained inputs
    /// resolved as of now); sends and records nothing.
    pub async fn estimate(
        &self,
        provider: &str,
        request: &JobRequest,
    ) -> Result<Estimate, EngineError> {
        let p = self.provider(provider)?.clone();
        let plan = p.prepare(&self.resolve_chain(request).await?)?;
        Ok(self.price(provider, p.as_ref(), &plan).await)
    }

    /// The table's figure for a plan; for a platform that states its own charges and has no
    /// price in the table, what the latest jobs of the same model were charged.
    pub(crate) async fn price(&self, provider: &str, p: &dyn Provider, plan: &Plan) -> Estimate {
        let estimate = self.config.prices.estimate(provider, &p.quantity(plan));
        if estimate.cost.is_some() {
            return estimate;
        }
        match self.learned(provider, &plan.model).await {
            Some(learned) => learned,
            None => estimate,
        }
    }

    /// The median of the latest charges of `model` that the platform stated itself.
    async fn learned(&self, provider: &str, model: &str) -> Option<Estimate> {
        let rows = self
            .ledger
            .costs(now_millis() - LEARN_WINDOW_MS)
            .await
            .ok()?;
        let mut charged: Vec<Amount> = rows
            .into_iter()
            .rev()
            .filter(|r| r.provider == provider && r.model == model)
            .filter_map(|r| r.charged)
            .filter(|c| c.basis == CHARGED_BASIS)
            .filter_map(|c| c.cost)
            .take(LEARN_FROM)
            .collect();
        if charged.is_empty() {
            return None;
        }
        let n = charged.len();
        charged.sort_by_key(Amount::micros);
        let median = charged[n / 2].clone();
        Some(Estimate::known(
            median,
            format!(
                "the median of what the platform charged the last {n} {model} job{} (no price in the table)",
                if n == 1 { "" } else { "s" }
            ),
        ))
    }

    /// Writes a recorded job's estimate; a failure to write it costs the job nothing.
    pub(crate) async fn record_estimate(&self, job: &Job, estimate: &Estimate) {
        if let Err(e) = self.ledger.set_estimate(job.id, estimate).await {
            tracing::warn!(job = %job.id, "could not record the estimate: {e}");
        }
    }

    /// Writes what a succeeded job cost, from the usage its platform reported.
    pub(crate) async fn record_charge(&self, job: &Job, usage: Option<&Value>) {
        let Ok(p) = self.provider(&job.provider) else {
            return;
        };
        let charged = match usage.and_then(|u| p.billed(&job.mode, &job.model, u)) {
            Some(billed) => self.config.prices.charged(&job.provider, &billed),
            None => Estimate::unknown("the platform reported no usage to price"),
        };
        if let Err(e) = self.ledger.set_charged(job.id, &charged).await {
            tracing::warn!(job = %job.id, "could not record the cost: {e}");
        }
    }
}
