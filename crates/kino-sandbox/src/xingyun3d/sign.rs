//! The xingyun3d `X-TOKEN` (contracts §5.2), implemented independently of any client:
//!
//! ```text
//! sort_json_str = json.dumps(dict(data), sort_keys=True).replace(' ', '')
//! X-TOKEN       = md5(api_path.lower() + method.lower() + sort_json_str + secret + str(timestamp))
//! ```
//!
//! [`python_json`] reproduces CPython's `json.dumps(…, sort_keys=True)` with its defaults
//! (separators `", "` / `": "`, `ensure_ascii=True`), so the space removal afterwards has exactly
//! the reference's effect (spaces inside string values disappear too).

use md5::{Digest, Md5};
use serde_json::{Map, Number, Value};

/// CPython `json.dumps(value, sort_keys=True)` with default separators and `ensure_ascii=True`.
pub(crate) fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// `python_json(value)` with every ASCII space removed.
pub(crate) fn sort_json_str(value: &Value) -> String {
    let mut s = python_json(value);
    s.retain(|c| c != ' ');
    s
}

/// The lowercase hex MD5 token for one request.
pub(crate) fn token(api_path: &str, method: &str, data: &Value, secret: &str, ts: &str) -> String {
    let sign = format!(
        "{}{}{}{secret}{ts}",
        api_path.to_lowercase(),
        method.to_lowercase(),
        sort_json_str(data)
    );
    hex::encode(Md5::digest(sign.as_bytes()))
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    // Python compares str by code point; UTF-8 byte order is the same order.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(out, key);
        out.push_str(": ");
        write_value(out, value);
    }
    out.push('}');
}

/// `py_encode_basestring_ascii`: `"` `\` and the five short escapes, every other character
/// outside `' '..='~'` as `\uXXXX` (lowercase hex; UTF-16 surrogate pairs above the BMP).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Integers in decimal; floats as Python `repr(float)` (shortest round-trip digits, exponent
/// form `1e+16` / `1e-05` outside `1e-4 <= |x| < 1e16`).
fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    } else {
        out.push_str(&n.to_string());
    }
}

fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

/// Collapse runs of `/` into one.
pub(crate) fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEMO_SECRET: &str = "bb81b706-ef1f-443e-9e86-9df8399f796b";

    fn data(s: &str) -> Value {
        serde_json::from_str(s).expect("test json")
    }

    #[test]
    fn contract_vectors_reproduce() {
        let vectors: [(&str, &str, &str, &str, &str, &str); 8] = [
            (
                "/user/v1/external/lite_ka_summary",
                "GET",
                "{}",
                "secret-test",
                "1790690000",
                "3be711ca225b4418d8acf75203dbeab7",
            ),
            (
                "/xxx/xxx?x=xx&z=zz",
                "POST",
                r#"{"data1":"data1","data2":"data2"}"#,
                DEMO_SECRET,
                "1489133053",
                "9d0b4a62d670d088961c21e1d0f2ee7e",
            ),
            (
                "/user/v1/video_synthesis_task/create_render_task",
                "POST",
                r#"{"look_name":"AM054_Jap_9021_new","tts_vcn_name":"XMOV_HN_TTS__236","studio_name":"youling_2d_v","segment":[{"text":"hello world","media_url":"https://e.x/a.png"}]}"#,
                DEMO_SECRET,
                "1700000000",
                "0e420d76c04ed9d56b3a8859607c3cba",
            ),
            (
                "/user/v1/video_synthesis_task/get_render_task?task_id=135",
                "GET",
                "{}",
                DEMO_SECRET,
                "1700000000",
                "c9a10956a76213840d0c44cf4fdca2c2",
            ),
            (
                "/user/v1/video_synthesis_task/get_render_task",
                "GET",
                r#"{"task_id":135}"#,
                DEMO_SECRET,
                "1700000000",
                "3abaaecf442d4e86a968a5e79c3d4a97",
            ),
            (
                "/user/v1/video_synthesis_task/parse_ppt_file",
                "POST",
                "{}",
                DEMO_SECRET,
                "1700000000",
                "4a78417b64136a9699db2920180c86e1",
            ),
            (
                "/user/v1/video_synthesis_task/cancel_render_task",
                "POST",
                r#"{"task_id":135}"#,
                DEMO_SECRET,
                "1700000000",
                "bb488aa453521fa48f71cf588c7ec23f",
            ),
            (
                "/a",
                "POST",
                r#"{"text":"测试"}"#,
                "s",
                "1",
                "3150f566be3d17ad77d425f38fc04e6f",
            ),
        ];
        for (path, method, body, secret, ts, expected) in vectors {
            assert_eq!(
                token(path, method, &data(body), secret, ts),
                expected,
                "{path} {method} {body}"
            );
        }
    }

    #[test]
    fn signed_text_matches_the_contract_examples() {
        let create = data(
            r#"{"segment":[{"text":"hello world","media_url":"https://e.x/a.png"}],"look_name":"L"}"#,
        );
        assert_eq!(
            sort_json_str(&create),
            r#"{"look_name":"L","segment":[{"media_url":"https://e.x/a.png","text":"helloworld"}]}"#
        );
        assert_eq!(
            sort_json_str(&json!({"text": "测试"})),
            r#"{"text":"\u6d4b\u8bd5"}"#
        );
    }

    #[test]
    fn python_dumps_edge_cases() {
        // Nested keys sorted at every level, default separators.
        assert_eq!(
            python_json(&data(
                r#"{"b":{"z":1,"a":[{"y":true,"x":null}]},"a":false}"#
            )),
            r#"{"a": false, "b": {"a": [{"x": null, "y": true}], "z": 1}}"#
        );
        // Code-point key order: uppercase < lowercase < non-ASCII.
        assert_eq!(
            python_json(&data(r#"{"é":1,"a":2,"B":3,"_":4}"#)),
            r#"{"B": 3, "_": 4, "a": 2, "\u00e9": 1}"#
        );
        // Astral chars as surrogate pairs, lowercase hex.
        assert_eq!(python_json(&json!("😀")), r#""\ud83d\ude00""#);
        // Short escapes, other controls as \u00XX, DEL escaped, '/' kept.
        assert_eq!(
            python_json(&json!("\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}/~")),
            r#""\"\\\n\r\t\b\f\u0001\u001f\u007f/~""#
        );
        // Spaces inside values removed, other whitespace kept escaped.
        assert_eq!(
            sort_json_str(&json!({"t": "a b\tc  d", "k y": [1, 2]})),
            r#"{"ky":[1,2],"t":"ab\tcd"}"#
        );
        assert_eq!(sort_json_str(&json!({})), "{}");
        assert_eq!(
            sort_json_str(&json!({"a": [], "b": {}})),
            r#"{"a":[],"b":{}}"#
        );
        assert_eq!(
            python_json(&data(r#"[-5, 18446744073709551615, 1.5, 2.0]"#)),
            "[-5, 18446744073709551615, 1.5, 2.0]"
        );
    }

    #[test]
    fn python_float_reprs() {
        assert_eq!(python_float_repr(1e16), "1e+16");
        assert_eq!(python_float_repr(1.5e16), "1.5e+16");
        assert_eq!(python_float_repr(123456789012345.6), "123456789012345.6");
        assert_eq!(python_float_repr(0.0001), "0.0001");
        assert_eq!(python_float_repr(0.00001), "1e-05");
        assert_eq!(python_float_repr(-2.5e-7), "-2.5e-07");
        assert_eq!(python_float_repr(0.1), "0.1");
        assert_eq!(python_float_repr(100.0), "100.0");
        assert_eq!(python_float_repr(-0.0), "-0.0");
        assert_eq!(python_float_repr(1e300), "1e+300");
    }

    #[test]
    fn slashes_collapse() {
        assert_eq!(collapse_slashes("//user//v1/x"), "/user/v1/x");
        assert_eq!(collapse_slashes("/a"), "/a");
        assert_eq!(collapse_slashes(""), "");
    }
}
