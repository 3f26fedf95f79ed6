//! xingyun3d's X-TOKEN, exactly as its reference Python computes it (contracts §5.2):
//! `md5(path.lower() + method.lower() + json.dumps(data, sort_keys=True).replace(' ', '') +
//! secret + str(timestamp))`. The body kino sends is `json.dumps(data, sort_keys=True)` itself
//! (what `requests(json=…)` sends), so the signed string is derived from the very bytes sent.

use md5::{Digest, Md5};
use serde_json::Value;

/// Python's `json.dumps(v, sort_keys=True)` with its defaults: separators `", "` and `": "`,
/// `ensure_ascii=True` (non-ASCII as `\uXXXX`, lower-case hex, surrogate pairs beyond the BMP),
/// keys sorted by code point at every level.
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    out
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // UTF-8 byte order is code-point order: Python's sort of str keys.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(k, out);
                out.push_str(": ");
                if let Some(val) = map.get(k) {
                    write_value(val, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        // Python's float repr: "1.0" for whole numbers; this API carries no floats otherwise.
        if f.fract() == 0.0 && f.abs() < 1e16 {
            out.push_str(&format!("{f:.1}"));
        } else {
            out.push_str(&format!("{f:?}"));
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            // Python escapes everything outside ' '..='~' (DEL included).
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The X-TOKEN for a request: `path_and_query` as sent (lower-cased here), `body_json` the exact
/// bytes of the body (`{}` when there is none).
pub fn token(
    path_and_query: &str,
    method: &str,
    body_json: &str,
    secret: &str,
    timestamp: i64,
) -> String {
    let signed = format!(
        "{}{}{}{}{}",
        path_and_query.to_lowercase(),
        method.to_lowercase(),
        body_json.replace(' ', ""),
        secret,
        timestamp
    );
    hex::encode(Md5::digest(signed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const SECRET: &str = "bb81b706-ef1f-443e-9e86-9df8399f796b";

    /// Every usable vector of contracts §5.2.1.
    #[test]
    fn the_contract_vectors() {
        let v = |path: &str, method: &str, data: Value, secret: &str, ts: i64| {
            token(path, method, &py_json(&data), secret, ts)
        };
        assert_eq!(
            v(
                "/user/v1/external/lite_ka_summary",
                "GET",
                json!({}),
                "secret-test",
                1790690000
            ),
            "3be711ca225b4418d8acf75203dbeab7"
        );
        assert_eq!(
            v(
                "/xxx/xxx?x=xx&z=zz",
                "POST",
                json!({"data1":"data1","data2":"data2"}),
                SECRET,
                1489133053
            ),
            "9d0b4a62d670d088961c21e1d0f2ee7e"
        );
        let create = json!({"look_name":"AM054_Jap_9021_new","tts_vcn_name":"XMOV_HN_TTS__236","studio_name":"youling_2d_v","segment":[{"text":"hello world","media_url":"https://e.x/a.png"}]});
        assert_eq!(
            v(
                "/user/v1/video_synthesis_task/create_render_task",
                "POST",
                create,
                SECRET,
                1700000000
            ),
            "0e420d76c04ed9d56b3a8859607c3cba"
        );
        assert_eq!(
            v(
                "/user/v1/video_synthesis_task/get_render_task?task_id=135",
                "GET",
                json!({}),
                SECRET,
                1700000000
            ),
            "c9a10956a76213840d0c44cf4fdca2c2"
        );
        assert_eq!(
            v(
                "/user/v1/video_synthesis_task/get_render_task",
                "GET",
                json!({"task_id":135}),
                SECRET,
                1700000000
            ),
            "3abaaecf442d4e86a968a5e79c3d4a97"
        );
        assert_eq!(
            v(
                "/user/v1/video_synthesis_task/parse_ppt_file",
                "POST",
                json!({}),
                SECRET,
                1700000000
            ),
            "4a78417b64136a9699db2920180c86e1"
        );
        assert_eq!(
            v(
                "/user/v1/video_synthesis_task/cancel_render_task",
                "POST",
                json!({"task_id":135}),
                SECRET,
                1700000000
            ),
            "bb488aa453521fa48f71cf588c7ec23f"
        );
        assert_eq!(
            v("/a", "POST", json!({"text":"测试"}), "s", 1),
            "3150f566be3d17ad77d425f38fc04e6f"
        );
    }

    #[test]
    fn python_spelling() {
        // Regression: DEL (0x7f) must be escaped as Python does; the sandbox's independent
        // signer caught kino leaving it bare.
        assert_eq!(py_json(&json!("a\u{7f}")), "\"a\\u007f\"");
        assert_eq!(
            py_json(&json!({"b": [1, true, null], "a": {"z": "x y", "c": "测"}})),
            r#"{"a": {"c": "\u6d4b", "z": "x y"}, "b": [1, true, null]}"#
        );
        assert_eq!(
            py_json(&json!("😀\u{1f}\t\"\\/")),
            r#""\ud83d\ude00\u001f\t\"\\/""#
        );
    }

    /// An independent model of the signed JSON: serde_json's compact, sorted output, with every
    /// non-ASCII character escaped the way Python escapes it, and all spaces removed.
    fn model(v: &Value) -> String {
        fn sorted(v: &Value) -> Value {
            match v {
                Value::Object(m) => {
                    let b: std::collections::BTreeMap<String, Value> =
                        m.iter().map(|(k, x)| (k.clone(), sorted(x))).collect();
                    serde_json::to_value(b).unwrap_or(Value::Null)
                }
                Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
                other => other.clone(),
            }
        }
        let compact = serde_json::to_string(&sorted(v)).unwrap_or_default();
        let mut out = String::new();
        for c in compact.chars() {
            if (c as u32) > 0x7e {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            } else {
                out.push(c);
            }
        }
        out.replace(' ', "")
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            "\\PC{0,12}".prop_map(Value::String),
            proptest::string::string_regex(
                "[ a-z\u{0}-\u{1f}\"\\\\/\u{7f}\u{80}-\u{ff}测试😀]{0,8}"
            )
            .unwrap_or_else(|_| unreachable!())
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().rev().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn the_signed_form_matches_the_model(v in arb_json()) {
            prop_assert_eq!(py_json(&v).replace(' ', ""), model(&v));
        }
    }
}
