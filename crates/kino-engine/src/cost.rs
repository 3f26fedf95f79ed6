//! What jobs are expected to cost and what they cost: the price table applied to a plan before
//! anything is sent, and to the usage a platform reports once a job has finished.

use kino_core::cost::{Amount, Budget, CHARGED_BASIS, Estimate, PriceTable, Tally};
use kino_core::{Job, JobRequest, Plan, Provider, now_millis};
use serde_json::Value;

use kino_ledger::CostFigure;

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

    /// The limits a job created over REST or MCP under `profile` keeps: the profile's
    /// `max_cost`, to which the face adds the caller's own. The caller's `allow_unknown` loosens
    /// only its own limits: under a profile's `max_cost`, which is the operator's and not the
    /// caller's, a job of unknown cost stays refused.
    pub fn profile_budget(&self, profile: Option<&str>, allow_unknown: bool) -> Budget {
        let caps = profile
            .and_then(|name| Some((name, self.config.profile_limits.get(name)?)))
            .filter(|(_, caps)| !caps.is_empty());
        let mut budget = Budget::new(allow_unknown && caps.is_none());
        if let Some((name, caps)) = caps {
            for cap in caps {
                budget.cap(cap.clone(), format!("profile {name}"));
            }
        }
        budget
    }

    /// The request's expected cost, refused (nothing recorded, nothing sent) when `budget`
    /// does not admit it on top of `spent`, to which it is added when it does.
    pub async fn admit(
        &self,
        provider: &str,
        request: &JobRequest,
        budget: &Budget,
        spent: &mut Tally,
    ) -> Result<Estimate, EngineError> {
        let estimate = self.estimate(provider, request).await?;
        budget
            .admit("the job", spent, &estimate)
            .map_err(|e| EngineError::OverBudget(Box::new(e)))?;
        Ok(estimate)
    }

    /// The table's figure for a plan; for a platform that states its own charges and has no
    /// price in the table, what the latest jobs of the same model were charged.
    pub(crate) async fn price(&self, provider: &str, p: &dyn Provider, plan: &Plan) -> Estimate {
        let q = p.quantity(plan);
        let estimate = self.config.prices.estimate(provider, &q);
        if estimate.cost.is_some() {
            return estimate;
        }
        // Earlier charges say nothing of how much each job asked for, so they stand for a plain
        // request only: one result, its model's own length. A request for four images, or for
        // twice the seconds, stays unknown rather than being priced as one ordinary job.
        if q.count != 1 || q.seconds.is_some() {
            return estimate;
        }
        match self.learned(provider, &plan.model).await {
            Some(learned) => learned,
            None => estimate,
        }
    }

    /// The median of the latest charges of `model` that the platform stated itself.
    async fn learned(&self, provider: &str, model: &str) -> Option<Estimate> {
        // Charges the platform stated, not ones kino priced from usage: those have a price.
        let mut charged: Vec<Amount> = self
            .ledger
            .recent_charges(
                provider,
                model,
                now_millis() - LEARN_WINDOW_MS,
                LEARN_FROM as u32,
            )
            .await
            .ok()?
            .into_iter()
            .filter(|c| c.basis == CHARGED_BASIS)
            .filter_map(|c| c.cost)
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
        if let Err(e) = self
            .ledger
            .set_cost(job.id, CostFigure::Estimate, estimate)
            .await
        {
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
        if let Err(e) = self
            .ledger
            .set_cost(job.id, CostFigure::Charged, &charged)
            .await
        {
            tracing::warn!(job = %job.id, "could not record the cost: {e}");
        }
    }
}

/// What `kino cost` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostKey {
    Day,
    Provider,
    Model,
}

/// The figures of one group of jobs.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CostGroup {
    /// UTC date (`2026-11-21`), when grouped by day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub jobs: u64,
    pub succeeded: u64,
    /// Charged, by the platform's report (or its usage priced by the table).
    pub charged: Vec<Amount>,
    /// Succeeded jobs whose platform reported nothing to price: their estimates.
    pub estimated: Vec<Amount>,
    /// Jobs not finished yet: what they are expected to cost.
    pub in_flight: Vec<Amount>,
    /// Jobs counted in none of the sums because their cost is unknown.
    pub unknown: u64,
}

/// Groups cost rows by `keys` (in that order), in the order groups first appear. Failed,
/// canceled and expired jobs count as jobs and cost nothing: the platforms do not bill them.
pub fn summarize(rows: &[kino_ledger::CostRow], keys: &[CostKey]) -> Vec<CostGroup> {
    use kino_core::JobState;
    use kino_core::cost::Tally;
    let mut groups: Vec<(CostGroup, [Tally; 3])> = Vec::new();
    for row in rows {
        let key = |k| keys.contains(&k);
        let day = key(CostKey::Day).then(|| {
            chrono::DateTime::from_timestamp_millis(row.created_at)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        });
        let provider = key(CostKey::Provider).then(|| row.provider.clone());
        let model = key(CostKey::Model).then(|| row.model.clone());
        let at = match groups
            .iter()
            .position(|(g, _)| g.day == day && g.provider == provider && g.model == model)
        {
            Some(i) => i,
            None => {
                groups.push((
                    CostGroup {
                        day,
                        provider,
                        model,
                        ..CostGroup::default()
                    },
                    Default::default(),
                ));
                groups.len() - 1
            }
        };
        let (g, [charged, estimated, in_flight]) = &mut groups[at];
        g.jobs += 1;
        let estimate = row.estimate.as_ref().and_then(|e| e.cost.as_ref());
        match row.state {
            JobState::Failed | JobState::Canceled | JobState::Expired => {}
            JobState::Succeeded => {
                g.succeeded += 1;
                match (row.charged.as_ref().and_then(|c| c.cost.as_ref()), estimate) {
                    (Some(c), _) => charged.add(c),
                    (None, Some(e)) => estimated.add(e),
                    (None, None) => g.unknown += 1,
                }
            }
            _ => match estimate {
                Some(e) => in_flight.add(e),
                None => g.unknown += 1,
            },
        }
    }
    groups
        .into_iter()
        .map(|(mut g, [charged, estimated, in_flight])| {
            g.charged = charged.amounts();
            g.estimated = estimated.amounts();
            g.in_flight = in_flight.amounts();
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kino_core::cost::Estimate;
    use kino_core::{JobId, JobState};
    use kino_ledger::CostRow;

    fn row(
        day: i64,
        model: &str,
        state: JobState,
        est: Option<&str>,
        charged: Option<&str>,
    ) -> CostRow {
        let e = |t: Option<&str>| {
            t.map(|t| match t {
                "unknown" => Estimate::unknown("no price"),
                t => Estimate::known(Amount::parse(t).unwrap(), "test"),
            })
        };
        CostRow {
            job_id: JobId::new(),
            provider: "dashscope".into(),
            mode: "t2v".into(),
            model: model.into(),
            state,
            created_at: 1_763_683_200_000 + day * 86_400_000,
            estimate: e(est),
            charged: e(charged),
        }
    }

    #[test]
    fn jobs_are_summed_by_what_is_known_of_them() {
        let rows = [
            row(
                0,
                "a",
                JobState::Succeeded,
                Some("0.70 CNY"),
                Some("1.40 CNY"),
            ),
            row(
                0,
                "a",
                JobState::Succeeded,
                Some("0.70 CNY"),
                Some("unknown"),
            ),
            row(0, "a", JobState::Running, Some("0.70 CNY"), None),
            row(0, "a", JobState::Failed, Some("0.70 CNY"), None),
            row(
                0,
                "b",
                JobState::Succeeded,
                Some("unknown"),
                Some("unknown"),
            ),
            row(1, "a", JobState::Succeeded, None, Some("20 credits")),
        ];
        let by_day_model = summarize(&rows, &[CostKey::Day, CostKey::Model]);
        assert_eq!(by_day_model.len(), 3);
        let a = &by_day_model[0];
        assert_eq!(
            (a.day.as_deref(), a.model.as_deref()),
            (Some("2025-11-21"), Some("a"))
        );
        assert_eq!((a.jobs, a.succeeded, a.unknown), (4, 2, 0));
        let text = |v: &[Amount]| v.iter().map(Amount::to_string).collect::<Vec<_>>();
        assert_eq!(text(&a.charged), ["1.40 CNY"]);
        assert_eq!(text(&a.estimated), ["0.70 CNY"]);
        assert_eq!(text(&a.in_flight), ["0.70 CNY"]);
        assert_eq!(by_day_model[1].unknown, 1);
        // One group for everything: units stay apart.
        let all = summarize(&rows, &[]);
        assert_eq!(all.len(), 1);
        assert_eq!(text(&all[0].charged), ["1.40 CNY", "20 credits"]);
        assert!(all[0].provider.is_none());
    }
}
