//! kino.toml's `[[prices]]`: the user's own price lines, which come before the published ones.

use std::path::Path;

use kino_core::ErrorKind;
use kino_core::cost::{Amount, Per, PriceRule};

use crate::error::CommandError;

const KEYS: &[&str] = &["provider", "model", "mode", "resolution", "per", "price"];

/// Every `[[prices]]` line of one kino.toml.
pub fn parse(value: &toml::Value, path: &Path) -> Result<Vec<PriceRule>, CommandError> {
    let err = |i: usize, message: String| {
        CommandError::new(
            ErrorKind::Config,
            format!("{}: [[prices]] line {}: {message}", path.display(), i + 1),
        )
        .hint("a price line reads: provider = \"dashscope\", model = \"wan2.6-t2v\", resolution = \"720P\", per = \"second\", price = \"0.6 CNY\"")
    };
    let Some(lines) = value.as_array() else {
        return Err(err(0, "must be an array of tables ([[prices]])".into()));
    };
    let mut rules = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(t) = line.as_table() else {
            return Err(err(i, "must be a table".into()));
        };
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(
                i,
                format!("unknown key `{k}` (known: {})", KEYS.join(", ")),
            ));
        }
        let text = |key: &str| -> Result<Option<String>, CommandError> {
            match t.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
                Some(_) => Err(err(i, format!("`{key}` must be a string"))),
            }
        };
        let provider = text("provider")?.ok_or_else(|| err(i, "`provider` is required".into()))?;
        if !crate::context::PROVIDERS.contains(&provider.as_str()) {
            return Err(err(
                i,
                format!(
                    "unknown provider `{provider}` (one of: {})",
                    crate::context::PROVIDERS.join(", ")
                ),
            ));
        }
        let price_text = text("price")?.ok_or_else(|| err(i, "`price` is required".into()))?;
        let price = Amount::parse(&price_text).map_err(|e| err(i, format!("`price`: {e}")))?;
        let per = match text("per")?.as_deref() {
            None | Some("second") | Some("s") => Per::Second,
            Some("result") | Some("job") | Some("image") | Some("video") => Per::Result,
            Some(other) => {
                return Err(err(
                    i,
                    format!("`per` must be \"second\" or \"result\", not `{other}`"),
                ));
            }
        };
        rules.push(PriceRule {
            provider,
            model: text("model")?.unwrap_or_else(|| "*".into()),
            mode: text("mode")?,
            resolution: text("resolution")?,
            per,
            price,
            source: format!("{} [[prices]] line {}", path.display(), i + 1),
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<PriceRule>, CommandError> {
        let doc: toml::Table = text.parse().unwrap();
        parse(&doc["prices"], Path::new("kino.toml"))
    }

    #[test]
    fn price_lines_read_with_their_source() {
        let rules = parse_text(
            "[[prices]]\nprovider = \"dashscope\"\nmodel = \"wan2.6-*\"\nresolution = \"1080P\"\nprice = \"1 CNY\"\n\
             [[prices]]\nprovider = \"skillsvideo\"\nmodel = \"google/veo-3.1\"\nper = \"result\"\nprice = \"40 credits\"\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].per, Per::Second);
        assert_eq!(rules[1].per, Per::Result);
        assert_eq!(rules[1].price.to_string(), "40 credits");
        assert_eq!(rules[1].source, "kino.toml [[prices]] line 2");
    }

    #[test]
    fn a_bad_price_line_names_the_line_and_the_key() {
        let e = parse_text("[[prices]]\nprovider = \"dashscope\"\nprice = \"1\"\n").unwrap_err();
        assert!(e.message.contains("line 1: `price`"), "{}", e.message);
        let e = parse_text(
            "[[prices]]\nprovider = \"dashscope\"\nprice = \"1 CNY\"\ncolour = \"red\"\n",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown key `colour`"), "{}", e.message);
        assert_eq!(e.kind, ErrorKind::Config);
        let e = parse_text("[[prices]]\nprovider = \"acme\"\nprice = \"1 CNY\"\n").unwrap_err();
        assert!(
            e.message.contains("unknown provider `acme`"),
            "{}",
            e.message
        );
    }
}
