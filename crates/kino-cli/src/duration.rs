use std::time::Duration;

use crate::error::CommandError;

/// `90`, `90s`, `10m`, `2h`, `1h30m`, `500ms`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, CommandError> {
    let bad = || {
        CommandError::usage(format!("invalid `{field}`: `{text}` is not a duration"))
            .hint("write it like 90s, 10m, 2h or 1h30m")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = t.chars().peekable();
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
        total += Duration::from_secs_f64(value * unit);
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
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
    }
}
