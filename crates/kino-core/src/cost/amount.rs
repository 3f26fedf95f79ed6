use std::fmt;

use serde::{Serialize, Serializer};

/// Millionths: enough for per-second prices (0.14 CNY) times any duration, in integers, so
/// that sums over thousands of jobs do not drift the way floats would.
const SCALE: i64 = 1_000_000;

/// What an amount is counted in: a currency (`CNY`) or a platform's credits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Unit(String);

impl Unit {
    pub const CREDITS: &'static str = "credits";

    pub fn cny() -> Unit {
        Unit("CNY".into())
    }

    pub fn credits() -> Unit {
        Unit(Self::CREDITS.into())
    }

    /// The unit a word names: `CNY` (also `yuan`, `rmb`, `元`, `¥`), `credits`, or any other
    /// three-letter currency code.
    pub fn parse(word: &str) -> Option<Unit> {
        let w = word.trim();
        let lower = w.to_lowercase();
        let name = match lower.as_str() {
            "cny" | "rmb" | "yuan" | "元" | "¥" | "￥" => "CNY".to_string(),
            "credit" | "credits" => Self::CREDITS.to_string(),
            _ if w.len() == 3 && w.chars().all(|c| c.is_ascii_alphabetic()) => w.to_uppercase(),
            _ => return None,
        };
        Some(Unit(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_currency(&self) -> bool {
        self.0 != Self::CREDITS
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sum of money or credits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    micros: i64,
    unit: Unit,
}

/// Why a text is not an amount.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an amount: {rule}")]
pub struct AmountError {
    pub text: String,
    pub rule: &'static str,
}

impl Amount {
    pub fn new(micros: i64, unit: Unit) -> Self {
        Self { micros, unit }
    }

    pub fn zero(unit: Unit) -> Self {
        Self::new(0, unit)
    }

    /// `value` of `unit`, rounded to a millionth.
    pub fn from_f64(value: f64, unit: Unit) -> Option<Self> {
        let micros = (value * SCALE as f64).round();
        (micros.is_finite() && micros.abs() < i64::MAX as f64)
            .then(|| Self::new(micros as i64, unit))
    }

    /// `5 CNY`, `5cny`, `0.14 yuan`, `¥5`, `5元`, `200 credits`: a non-negative number with at
    /// most six decimals and a unit, before or after it.
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        let err = |rule| AmountError {
            text: text.to_string(),
            rule,
        };
        let t = text.trim();
        let split = |s: &str| {
            let at = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            (s[..at].to_string(), s[at..].trim().to_string())
        };
        let (number, unit) = match t.chars().next() {
            Some(c) if c.is_ascii_digit() || c == '.' => split(t),
            Some(_) => {
                // A unit first: `¥5`, `CNY 5`.
                let at = t
                    .find(|c: char| c.is_ascii_digit() || c == '.')
                    .ok_or_else(|| {
                        err("give a number and a unit, for example `5 CNY` or `200 credits`")
                    })?;
                let (number, rest) = split(&t[at..]);
                if !rest.is_empty() {
                    return Err(err("give one number and one unit"));
                }
                (number, t[..at].trim().to_string())
            }
            None => return Err(err("it is empty")),
        };
        if unit.is_empty() {
            return Err(err(
                "it needs a unit, for example `5 CNY` or `200 credits` (platforms bill in different units)",
            ));
        }
        let unit = Unit::parse(&unit).ok_or_else(|| {
            err("the unit must be CNY (yuan), credits, or a three-letter currency code")
        })?;
        let micros = parse_micros(&number).ok_or_else(|| {
            err("the number must be non-negative with at most six decimals, such as 0.14")
        })?;
        Ok(Self::new(micros, unit))
    }

    pub fn micros(&self) -> i64 {
        self.micros
    }

    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    pub fn as_f64(&self) -> f64 {
        self.micros as f64 / SCALE as f64
    }

    /// This amount `times` over (seconds of video, images), rounded to a millionth.
    pub fn times(&self, times: f64) -> Option<Self> {
        Self::from_f64(self.as_f64() * times, self.unit.clone())
    }

    /// The number alone, as written: currencies keep two decimals (`0.70`), credits none
    /// unless they have them.
    pub fn number(&self) -> String {
        let sign = if self.micros < 0 { "-" } else { "" };
        let abs = self.micros.unsigned_abs();
        let whole = abs / SCALE as u64;
        let mut frac = format!("{:06}", abs % SCALE as u64);
        let keep = if self.unit.is_currency() { 2 } else { 0 };
        while frac.len() > keep && frac.ends_with('0') {
            frac.pop();
        }
        if frac.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{frac}")
        }
    }
}

fn parse_micros(number: &str) -> Option<i64> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.len() > 6 || frac.contains('.') {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    whole.checked_mul(SCALE)?.checked_add(frac)
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.unit)
    }
}

/// As `{"amount": 0.7, "unit": "CNY", "text": "0.70 CNY"}`, for agents to add up and people to
/// read.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("amount", &self.as_f64())?;
        m.serialize_entry("unit", self.unit.as_str())?;
        m.serialize_entry("text", &self.to_string())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cny(micros: i64) -> Amount {
        Amount::new(micros, Unit("CNY".into()))
    }

    #[test]
    fn amounts_parse_in_the_ways_people_write_them() {
        for text in [
            "5 CNY",
            "5cny",
            "5 yuan",
            "¥5",
            "5元",
            "CNY 5",
            "5.000000 RMB",
        ] {
            assert_eq!(Amount::parse(text), Ok(cny(5_000_000)), "{text}");
        }
        assert_eq!(Amount::parse("0.14 CNY"), Ok(cny(140_000)));
        assert_eq!(Amount::parse(".5 cny"), Ok(cny(500_000)));
        let credits = Amount::parse("200 credits").unwrap();
        assert_eq!(credits.unit().as_str(), "credits");
        assert_eq!(credits.to_string(), "200 credits");
        assert_eq!(Amount::parse("3 usd").unwrap().unit().as_str(), "USD");
    }

    #[test]
    fn a_bare_number_or_a_strange_unit_is_refused_with_the_rule() {
        let bare = Amount::parse("5").unwrap_err();
        assert!(bare.rule.contains("needs a unit"), "{bare}");
        assert!(
            Amount::parse("5 bananas")
                .unwrap_err()
                .rule
                .contains("unit")
        );
        assert!(Amount::parse("-5 CNY").is_err());
        assert!(Amount::parse("1.1234567 CNY").is_err());
        assert!(Amount::parse("1.2.3 CNY").is_err());
        assert!(Amount::parse("").is_err());
        assert!(Amount::parse("CNY").is_err());
        assert!(Amount::parse("99999999999999999999 CNY").is_err());
    }

    #[test]
    fn currencies_show_cents_and_credits_show_what_they_have() {
        assert_eq!(cny(700_000).to_string(), "0.70 CNY");
        assert_eq!(cny(145_000).to_string(), "0.145 CNY");
        assert_eq!(cny(12_000_000).to_string(), "12.00 CNY");
        let c = Amount::new(2_500_000, Unit(Unit::CREDITS.into()));
        assert_eq!(c.to_string(), "2.5 credits");
    }

    #[test]
    fn per_second_prices_multiply_without_drift() {
        let price = cny(140_000);
        assert_eq!(price.times(5.0), Some(cny(700_000)));
        let sum: i64 = (0..10_000)
            .map(|_| price.times(3.0).unwrap().micros())
            .sum();
        assert_eq!(sum, 4_200_000_000);
    }
}
