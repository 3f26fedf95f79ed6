use std::time::Duration;

use crate::error::CommandError;

/// The longest duration kino accepts (a year): far beyond any platform's job, far from overflow.
const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// `90`, `90s`, `10m`, `2h`, `1h30m`, `500ms`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, CommandError> {
    let bad = || {
        CommandError::usage(format!("invalid `{field}`: `{text}` is not a duration"))
            .hint("write it like 90s, 10m, 2h or 1h30m (at most a year)")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = t.chars().peekable();
    let mut unit_seen = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(bad()),
        };
        unit_seen = true;
        total += value * unit;
    }
    if !number.is_empty() {
        if unit_seen {
            return Err(bad());
        }
        total = number.parse().map_err(|_| bad())?;
    }
    if !total.is_finite() || total < 0.0 || total > MAX.as_secs_f64() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let p = |s| parse_duration("timeout", s).ok();
        assert_eq!(p("90"), Some(Duration::from_secs(90)));
        assert_eq!(p("10m"), Some(Duration::from_secs(600)));
        assert_eq!(p("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(p("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(p("2x"), None);
        assert_eq!(p("5m3"), None);
        // Regression: these overflowed Instant arithmetic or Duration::from_secs_f64 (a panic).
        assert_eq!(p("18446744073709551615"), None);
        assert_eq!(p(&format!("{}s", "9".repeat(400))), None);
    }
}
