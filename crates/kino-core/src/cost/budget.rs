use std::collections::BTreeMap;

use super::{Amount, Estimate, Unit};
use crate::{Diagnostic, ErrorKind};

/// Limits on what a command (or a profile) may spend, checked before anything is sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Budget {
    /// Each limit with where it was set (`--max-cost`, `profile work`).
    caps: Vec<(Amount, String)>,
    /// Whether a request of unknown cost may go ahead under the limits.
    pub allow_unknown: bool,
}

/// What has been counted against a budget so far, per unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally(BTreeMap<Unit, i64>);

impl Tally {
    pub fn add(&mut self, amount: &Amount) {
        let slot = self.0.entry(amount.unit().clone()).or_insert(0);
        *slot = slot.saturating_add(amount.micros());
    }

    pub fn get(&self, unit: &Unit) -> Amount {
        Amount::new(self.0.get(unit).copied().unwrap_or(0), unit.clone())
    }

    /// Every unit counted, as amounts.
    pub fn amounts(&self) -> Vec<Amount> {
        self.0
            .iter()
            .map(|(u, m)| Amount::new(*m, u.clone()))
            .collect()
    }
}

/// Why a request was refused before it was sent.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OverBudget {
    #[error(
        "{what} would cost {cost}, bringing the total to {total}, over the limit of {cap} ({set_by}); nothing was sent"
    )]
    Exceeds {
        what: String,
        cost: Amount,
        total: Amount,
        cap: Amount,
        set_by: String,
    },
    #[error(
        "{what} has no known cost ({basis}), so the limit of {caps} cannot be kept; nothing was sent"
    )]
    Unknown {
        what: String,
        basis: String,
        caps: String,
    },
    #[error(
        "{what} would cost {cost}, and the limit ({caps}) sets nothing in {unit}; nothing was sent"
    )]
    Uncapped {
        what: String,
        cost: Amount,
        unit: Unit,
        caps: String,
    },
}

impl Diagnostic for OverBudget {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }

    fn hints(&self) -> Vec<String> {
        match self {
            OverBudget::Exceeds { .. } => vec![
                "raise the limit (`--max-cost`, or `max_cost` of the profile) or ask for less"
                    .into(),
            ],
            OverBudget::Unknown { .. } => vec![
                "add the model's price under [[prices]] in kino.toml, or pass --allow-unknown-cost"
                    .into(),
            ],
            OverBudget::Uncapped { unit, .. } => {
                vec![format!(
                    "add a limit in {unit}, for example `--max-cost \"100 {unit}\"`"
                )]
            }
        }
    }
}

impl Budget {
    pub fn new(allow_unknown: bool) -> Self {
        Self {
            caps: Vec::new(),
            allow_unknown,
        }
    }

    /// Adds a limit; several in one unit all apply (the lowest binds).
    pub fn cap(&mut self, amount: Amount, source: impl Into<String>) {
        self.caps.push((amount, source.into()));
    }

    /// The limits' amounts.
    pub fn caps(&self) -> Vec<Amount> {
        self.caps.iter().map(|(a, _)| a.clone()).collect()
    }

    pub fn is_limited(&self) -> bool {
        !self.caps.is_empty()
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .caps
            .iter()
            .map(|(a, s)| format!("{a} ({s})"))
            .collect();
        parts.join(", ")
    }

    /// Counts `estimate` against the limits on top of `spent`, and adds it to `spent` when it
    /// fits. Without limits everything fits, an unknown cost included.
    #[allow(clippy::result_large_err)] // refused once per command, never in a loop that matters
    pub fn admit(
        &self,
        what: &str,
        spent: &mut Tally,
        estimate: &Estimate,
    ) -> Result<(), OverBudget> {
        if self.caps.is_empty() {
            if let Some(c) = &estimate.cost {
                spent.add(c);
            }
            return Ok(());
        }
        let Some(cost) = &estimate.cost else {
            if self.allow_unknown {
                return Ok(());
            }
            return Err(OverBudget::Unknown {
                what: what.into(),
                basis: estimate.basis.clone(),
                caps: self.describe(),
            });
        };
        let caps: Vec<&(Amount, String)> = self
            .caps
            .iter()
            .filter(|(a, _)| a.unit() == cost.unit())
            .collect();
        if caps.is_empty() {
            if self.allow_unknown || cost.micros() == 0 {
                spent.add(cost);
                return Ok(());
            }
            return Err(OverBudget::Uncapped {
                what: what.into(),
                cost: cost.clone(),
                unit: cost.unit().clone(),
                caps: self.describe(),
            });
        }
        let total = Amount::new(
            spent
                .get(cost.unit())
                .micros()
                .saturating_add(cost.micros()),
            cost.unit().clone(),
        );
        if let Some((cap, source)) = caps.iter().find(|(cap, _)| total.micros() > cap.micros()) {
            return Err(OverBudget::Exceeds {
                what: what.into(),
                cost: cost.clone(),
                total,
                cap: cap.clone(),
                set_by: source.clone(),
            });
        }
        spent.add(cost);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn est(text: &str) -> Estimate {
        Estimate::known(Amount::parse(text).unwrap(), "test")
    }

    fn budget(limit: &str) -> Budget {
        let mut b = Budget::new(false);
        b.cap(Amount::parse(limit).unwrap(), "--max-cost");
        b
    }

    #[test]
    fn requests_fit_until_the_one_that_would_pass_the_limit() {
        let b = budget("2 CNY");
        let mut spent = Tally::default();
        for row in 1..=2 {
            b.admit(&format!("row {row}"), &mut spent, &est("0.70 CNY"))
                .unwrap();
        }
        let err = b.admit("row 3", &mut spent, &est("0.70 CNY")).unwrap_err();
        assert!(
            err.to_string().contains("row 3 would cost 0.70 CNY, bringing the total to 2.10 CNY, over the limit of 2.00 CNY"),
            "{err}"
        );
        // The refused one is not counted; a cheaper one still fits.
        assert_eq!(spent.get(&Unit::cny()).to_string(), "1.40 CNY");
        b.admit("row 4", &mut spent, &est("0.60 CNY")).unwrap();
        assert_eq!(spent.get(&Unit::cny()).to_string(), "2.00 CNY");
    }

    #[test]
    fn an_unknown_cost_under_a_limit_is_refused_unless_allowed() {
        let mut spent = Tally::default();
        let unknown = Estimate::unknown("no price known for libtv");
        let err = budget("5 CNY")
            .admit("the job", &mut spent, &unknown)
            .unwrap_err();
        assert!(matches!(err, OverBudget::Unknown { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::Usage);
        let mut lenient = budget("5 CNY");
        lenient.allow_unknown = true;
        lenient.admit("the job", &mut spent, &unknown).unwrap();
        // No limit at all: anything goes.
        Budget::default()
            .admit("the job", &mut spent, &unknown)
            .unwrap();
    }

    #[test]
    fn a_cost_in_a_unit_without_a_limit_is_refused() {
        let mut spent = Tally::default();
        let err = budget("5 CNY")
            .admit("the job", &mut spent, &est("20 credits"))
            .unwrap_err();
        assert!(err.to_string().contains("sets nothing in credits"), "{err}");
        assert!(err.hints()[0].contains("100 credits"));
    }

    #[test]
    fn every_limit_in_a_unit_applies() {
        let mut b = budget("10 CNY");
        b.cap(Amount::parse("1 CNY").unwrap(), "profile work");
        let err = b
            .admit("the job", &mut Tally::default(), &est("2 CNY"))
            .unwrap_err();
        assert!(err.to_string().contains("(profile work)"), "{err}");
    }
}
