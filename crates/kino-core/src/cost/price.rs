use serde::{Serialize, Serializer};

use super::{Amount, Unit};

/// What a request (or a finished job) is billed on: the dimensions prices are set by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quantity {
    pub mode: String,
    pub model: String,
    /// As the platform names it (`720P`); compared without regard to case.
    pub resolution: Option<String>,
    /// Seconds of output, when they are known before the job runs.
    pub seconds: Option<f64>,
    /// Results asked for (videos, images).
    pub count: u32,
    /// Why `seconds` is unknown, when it is (`keeps the input video's length`).
    pub unknown_seconds: Option<String>,
}

impl Quantity {
    pub fn job(mode: &str, model: &str) -> Self {
        Self {
            mode: mode.into(),
            model: model.into(),
            count: 1,
            ..Self::default()
        }
    }
}

/// What a platform reported it billed for a finished job.
#[derive(Clone, Debug, PartialEq)]
pub enum Billed {
    /// Seconds at a resolution (DashScope's `usage`), priced by the table.
    Quantity(Quantity),
    /// An amount the platform charged itself (skills.video's `usage.total` credits).
    Charged(Amount),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// Per second of output video.
    Second,
    /// Per result (a job that asks for `n` images costs `n` times).
    Result,
}

/// One line of a price table.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceRule {
    pub provider: String,
    /// A model id, or a prefix ending in `*` (`happyhorse-1.0-*`), or `*`.
    pub model: String,
    pub mode: Option<String>,
    pub resolution: Option<String>,
    pub per: Per,
    pub price: Amount,
    /// Where the figure comes from (a published page, the user's kino.toml).
    pub source: String,
}

impl PriceRule {
    fn matches(&self, provider: &str, q: &Quantity) -> bool {
        let model = match self.model.strip_suffix('*') {
            Some(prefix) => q.model.starts_with(prefix),
            None => q.model == self.model,
        };
        let same = |rule: &Option<String>, given: &Option<String>| match (rule, given) {
            (None, _) => true,
            (Some(r), Some(g)) => r.eq_ignore_ascii_case(g),
            (Some(_), None) => false,
        };
        self.provider == provider
            && model
            && same(&self.mode, &Some(q.mode.clone()))
            && same(&self.resolution, &q.resolution)
    }
}

/// An expected cost, or `unknown` with the reason; never a zero standing in for "unknown".
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub cost: Option<Amount>,
    /// How the figure was reached, or why there is none.
    pub basis: String,
}

impl Estimate {
    pub fn unknown(basis: impl Into<String>) -> Self {
        Self {
            cost: None,
            basis: basis.into(),
        }
    }

    pub fn known(cost: Amount, basis: impl Into<String>) -> Self {
        Self {
            cost: Some(cost),
            basis: basis.into(),
        }
    }

    /// `0.70 CNY` or `unknown`.
    pub fn text(&self) -> String {
        self.cost
            .as_ref()
            .map_or_else(|| "unknown".to_string(), Amount::to_string)
    }
}

/// As `{"cost": "0.70 CNY", "amount": 0.7, "unit": "CNY", "basis": …}`; `"cost": "unknown"` and
/// null amount and unit when unknown.
impl Serialize for Estimate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("cost", &self.text())?;
        m.serialize_entry("amount", &self.cost.as_ref().map(Amount::as_f64))?;
        m.serialize_entry("unit", &self.cost.as_ref().map(|c| c.unit().as_str()))?;
        m.serialize_entry("basis", &self.basis)?;
        m.end()
    }
}

/// The basis of an amount a platform stated it charged (rather than one kino computed).
pub const CHARGED_BASIS: &str = "charged, as the platform reported it";

/// Prices by provider, model, mode, resolution and duration. The user's rules (kino.toml
/// `[[prices]]`) come first, so they override the built-in ones.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    rules: Vec<PriceRule>,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

/// Published figures only: the seed's own rule is "never guess or fabricate any price figure",
/// so a model whose price was not published here is `unknown` until the user gives it.
const HAPPYHORSE_SOURCE: &str =
    "published DashScope price for the HappyHorse series (shared/seeds/001, \"Pricing\")";

impl PriceTable {
    pub fn builtin() -> Self {
        let cny = |micros| Amount::new(micros, Unit::cny());
        let per_second = |resolution: &str, price| PriceRule {
            provider: "dashscope".into(),
            model: "happyhorse-1.0-*".into(),
            mode: None,
            resolution: Some(resolution.into()),
            per: Per::Second,
            price,
            source: HAPPYHORSE_SOURCE.into(),
        };
        Self {
            rules: vec![
                per_second("720P", cny(140_000)),
                per_second("1080P", cny(240_000)),
                PriceRule {
                    provider: "sandbox".into(),
                    model: "*".into(),
                    mode: None,
                    resolution: None,
                    per: Per::Result,
                    price: cny(0),
                    source: "kino's embedded sandbox spends nothing".into(),
                },
            ],
        }
    }

    /// The built-in table under the user's own rules.
    pub fn with_rules(user: Vec<PriceRule>) -> Self {
        let mut rules = user;
        rules.extend(Self::builtin().rules);
        Self { rules }
    }

    pub fn rules(&self) -> &[PriceRule] {
        &self.rules
    }

    /// What a request is expected to cost.
    pub fn estimate(&self, provider: &str, q: &Quantity) -> Estimate {
        let Some(rule) = self.rules.iter().find(|r| r.matches(provider, q)) else {
            let at = q
                .resolution
                .as_deref()
                .map(|r| format!(" at {r}"))
                .unwrap_or_default();
            return Estimate::unknown(format!(
                "no price known for {provider} {}{at}; add one under [[prices]] in kino.toml",
                q.model
            ));
        };
        let count = f64::from(q.count.max(1));
        let times = match rule.per {
            Per::Result => count,
            Per::Second => match q.seconds {
                Some(s) => s * count,
                None => {
                    return Estimate::unknown(format!(
                        "priced per second, and the length is not known before the job runs ({})",
                        q.unknown_seconds.as_deref().unwrap_or("no duration given")
                    ));
                }
            },
        };
        match rule.price.times(times) {
            Some(cost) => Estimate::known(cost, describe(rule, q, count)),
            None => Estimate::unknown("the price times the quantity is out of range"),
        }
    }

    /// What a finished job cost, from what the platform reported.
    pub fn charged(&self, provider: &str, billed: &Billed) -> Estimate {
        match billed {
            Billed::Charged(amount) => Estimate::known(amount.clone(), CHARGED_BASIS),
            Billed::Quantity(q) => {
                let mut e = self.estimate(provider, q);
                if e.cost.is_some() {
                    e.basis = format!("reported usage: {}", e.basis);
                }
                e
            }
        }
    }
}

fn describe(rule: &PriceRule, q: &Quantity, count: f64) -> String {
    let per = match rule.per {
        Per::Second => format!(
            "{} s × {}/s{}",
            q.seconds.map_or_else(String::new, trim_float),
            rule.price,
            rule.resolution
                .as_deref()
                .map(|r| format!(" at {r}"))
                .unwrap_or_default()
        ),
        Per::Result => format!("{} per result", rule.price),
    };
    let times = if count > 1.0 {
        format!(" × {count} results")
    } else {
        String::new()
    };
    format!("{per}{times} ({})", rule.source)
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hh(resolution: &str, seconds: Option<f64>) -> Quantity {
        Quantity {
            resolution: Some(resolution.into()),
            seconds,
            ..Quantity::job("t2v", "happyhorse-1.0-t2v")
        }
    }

    #[test]
    fn happyhorse_is_priced_per_second_as_published() {
        let t = PriceTable::builtin();
        let e = t.estimate("dashscope", &hh("720P", Some(5.0)));
        assert_eq!(e.text(), "0.70 CNY");
        assert!(e.basis.contains("5 s × 0.14 CNY/s at 720P"), "{}", e.basis);
        assert_eq!(
            t.estimate("dashscope", &hh("1080p", Some(10.0))).text(),
            "2.40 CNY"
        );
    }

    #[test]
    fn an_unpublished_price_is_unknown_never_zero() {
        let t = PriceTable::builtin();
        let e = t.estimate(
            "dashscope",
            &Quantity {
                resolution: Some("720P".into()),
                seconds: Some(5.0),
                ..Quantity::job("t2v", "wan2.6-t2v")
            },
        );
        assert_eq!(e.cost, None);
        assert!(e.basis.contains("[[prices]]"), "{}", e.basis);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["cost"], "unknown");
        assert!(json["amount"].is_null());
        // Per second without a length is unknown too.
        let e = t.estimate("dashscope", &hh("720P", None));
        assert_eq!(e.cost, None);
        assert!(e.basis.contains("per second"), "{}", e.basis);
    }

    #[test]
    fn the_users_rules_win_over_the_built_in_ones() {
        let mine = PriceRule {
            provider: "dashscope".into(),
            model: "happyhorse-1.0-t2v".into(),
            mode: None,
            resolution: None,
            per: Per::Second,
            price: Amount::parse("1 CNY").unwrap(),
            source: "kino.toml".into(),
        };
        let t = PriceTable::with_rules(vec![mine]);
        assert_eq!(
            t.estimate("dashscope", &hh("720P", Some(3.0))).text(),
            "3.00 CNY"
        );
        assert!(
            t.estimate("dashscope", &hh("720P", Some(3.0)))
                .basis
                .contains("kino.toml")
        );
    }

    #[test]
    fn results_multiply_and_charged_amounts_are_taken_as_reported() {
        let rule = PriceRule {
            provider: "skillsvideo".into(),
            model: "google/*".into(),
            mode: None,
            resolution: None,
            per: Per::Result,
            price: Amount::parse("20 credits").unwrap(),
            source: "kino.toml".into(),
        };
        let t = PriceTable::with_rules(vec![rule]);
        let q = Quantity {
            count: 3,
            ..Quantity::job("image", "google/nano-banana")
        };
        assert_eq!(t.estimate("skillsvideo", &q).text(), "60 credits");
        let c = t.charged(
            "skillsvideo",
            &Billed::Charged(Amount::parse("25 credits").unwrap()),
        );
        assert_eq!(c.text(), "25 credits");
        assert_eq!(t.estimate("libtv", &q).cost, None);
    }
}
