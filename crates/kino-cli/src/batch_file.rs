//! Batch files: JSON lines, CSV or YAML rows, each a provider and the flat request fields
//! `--request` takes; `{{name}}` templates in the prompt; relative paths read from the batch
//! file's own directory.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use kino_core::JobRequest;
use kino_engine::batch::RowSpec;

/// Keys of a row that are not request fields.
const ROW_KEYS: &[&str] = &["provider", "mode", "model", "prefix", "out", "vars"];

/// Fields that hold words, never paths.
const TEXT_FIELDS: &[&str] = &["prompt", "message", "negative_prompt", "text"];

/// One row as the file gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRow {
    /// 1-based, counting rows only.
    pub index: u32,
    /// Where it starts in the file (1-based), for messages.
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// A batch file read: its rows, the batch-wide template (YAML `template:`), and the directory
/// relative paths are read from.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchFile {
    pub rows: Vec<FileRow>,
    pub template: Option<String>,
    pub dir: PathBuf,
}

/// A row that cannot be used, with the field and the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RowProblem {
    pub index: u32,
    pub message: String,
}

/// A whole file that cannot be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

pub fn read(path: &Path) -> Result<BatchFile, FileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| FileError(format!("cannot read {}: {e}", path.display())))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let (rows, template) = match ext.as_str() {
        "jsonl" | "ndjson" => (parse_jsonl(&text)?, None),
        "csv" => (parse_csv(&text)?, None),
        "yaml" | "yml" => parse_yaml(&text)?,
        _ => {
            return Err(FileError(format!(
                "{}: a batch file is .jsonl (or .ndjson), .csv, .yaml or .yml",
                path.display()
            )));
        }
    };
    if rows.is_empty() {
        return Err(FileError(format!("{} holds no rows", path.display())));
    }
    Ok(BatchFile {
        rows,
        template,
        dir,
    })
}

/// One JSON object per line; blank lines and `#` comments are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<FileRow>, FileError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let index = rows.len() as u32 + 1;
        match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(fields)) => rows.push(FileRow {
                index,
                line: n + 1,
                fields,
            }),
            Ok(_) => {
                return Err(FileError(format!(
                    "line {}: a row must be a JSON object",
                    n + 1
                )));
            }
            Err(e) => return Err(FileError(format!("line {}: not JSON: {e}", n + 1))),
        }
    }
    Ok(rows)
}

/// A list of rows, or `{rows: […], defaults: {…}, template: "…"}`; defaults sit under each
/// row (a row's own value wins; `vars` are merged name by name).
pub fn parse_yaml(text: &str) -> Result<(Vec<FileRow>, Option<String>), FileError> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| FileError(format!("not YAML: {e}")))?;
    let (list, defaults, template) = match doc {
        Value::Array(list) => (list, Map::new(), None),
        Value::Object(mut m) => {
            for k in m.keys() {
                if !["rows", "defaults", "template"].contains(&k.as_str()) {
                    return Err(FileError(format!(
                        "unknown key `{k}` (a batch YAML has rows, defaults and template)"
                    )));
                }
            }
            let list = match m.remove("rows") {
                Some(Value::Array(l)) => l,
                _ => return Err(FileError("`rows` must be a list of rows".into())),
            };
            let defaults = match m.remove("defaults") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(d)) => d,
                Some(_) => return Err(FileError("`defaults` must be a mapping".into())),
            };
            let template = match m.remove("template") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t),
                Some(_) => return Err(FileError("`template` must be text".into())),
            };
            (list, defaults, template)
        }
        _ => {
            return Err(FileError(
                "a batch YAML is a list of rows or has `rows:`".into(),
            ));
        }
    };
    let mut rows = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let Value::Object(own) = item else {
            return Err(FileError(format!("row {}: must be a mapping", i + 1)));
        };
        let mut fields = defaults.clone();
        for (k, v) in own {
            match (k.as_str(), fields.get_mut("vars"), v) {
                ("vars", Some(Value::Object(base)), Value::Object(mine)) => base.extend(mine),
                (_, _, v) => {
                    fields.insert(k, v);
                }
            }
        }
        rows.push(FileRow {
            index: i as u32 + 1,
            line: 0,
            fields,
        });
    }
    Ok((rows, template))
}

/// A header row, then one row per record. A cell is read as JSON when it parses (as `--param`
/// reads a value: `5`, `true`, `["a","b"]`), else as text; an empty cell is left out.
/// Columns `vars.NAME` are template variables.
pub fn parse_csv(text: &str) -> Result<Vec<FileRow>, FileError> {
    let records = csv_records(text)?;
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if header.iter().any(String::is_empty) {
        return Err(FileError(
            "line 1: the header has an empty column name".into(),
        ));
    }
    let mut rows = Vec::new();
    for (line, cells) in it {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if cells.len() > header.len() {
            return Err(FileError(format!(
                "line {line}: {} cells under a header of {}",
                cells.len(),
                header.len()
            )));
        }
        let mut fields = Map::new();
        for (name, cell) in header.iter().zip(cells) {
            if cell.is_empty() {
                continue;
            }
            let value = serde_json::from_str(&cell).unwrap_or(Value::String(cell));
            match name.strip_prefix("vars.") {
                Some(var) => {
                    let vars = fields
                        .entry("vars")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = vars {
                        m.insert(var.to_string(), value);
                    }
                }
                None => {
                    fields.insert(name.clone(), value);
                }
            }
        }
        rows.push(FileRow {
            index: rows.len() as u32 + 1,
            line,
            fields,
        });
    }
    Ok(rows)
}

/// RFC 4180: comma-separated, `"` quotes a cell (`""` inside is a quote), a quoted cell may span
/// lines, CRLF or LF ends a record. Returns each record with the line it starts on.
pub fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push(c);
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => {
                return Err(FileError(format!(
                    "line {line}: a quote inside an unquoted cell (quote the whole cell and double the quote)"
                )));
            }
            ',' => {
                record.push(std::mem::take(&mut cell));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut cell));
                records.push((start, std::mem::take(&mut record)));
                was_quoted = false;
                line += 1;
                start = line;
            }
            _ if was_quoted => {
                return Err(FileError(format!(
                    "line {line}: text after a quoted cell's closing quote"
                )));
            }
            _ => cell.push(c),
        }
    }
    if quoted {
        return Err(FileError(format!(
            "line {start}: a quoted cell is never closed"
        )));
    }
    if !cell.is_empty() || !record.is_empty() || was_quoted {
        record.push(cell);
        records.push((start, record));
    }
    Ok(records)
}

/// Replaces each `{{name}}` with its variable. A missing variable or an unclosed `{{` is an
/// error naming it.
pub fn render(template: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "`{{{{` at `{}` is never closed",
                snippet(&rest[at..])
            ));
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {
                return Err(format!(
                    "no variable `{name}` for `{{{{{name}}}}}` (give it in the row's vars or with --var {name}=…)"
                ));
            }
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn snippet(s: &str) -> String {
    s.chars().take(24).collect()
}

/// What the command line adds to every row.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    pub template: Option<String>,
    /// `--var NAME=VALUE`, under each row's own vars.
    pub vars: Map<String, Value>,
    pub out: Option<PathBuf>,
    /// The providers this build knows.
    pub providers: Vec<String>,
    /// Conversational platforms put the words in `message` as well as `prompt`.
    pub conversational: Vec<String>,
}

/// A file row as the engine takes it: provider, mode, model, prefix and out taken apart, the
/// prompt rendered, relative paths read from the batch file's directory.
pub fn to_spec(row: &FileRow, file: &BatchFile, shared: &Shared) -> Result<RowSpec, RowProblem> {
    let problem = |message: String| RowProblem {
        index: row.index,
        message,
    };
    let mut fields = row.fields.clone();
    let text = |fields: &mut Map<String, Value>, key: &str| -> Result<Option<String>, RowProblem> {
        match fields.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(problem(format!("invalid `{key}`: must be text"))),
        }
    };
    let provider = text(&mut fields, "provider")?
        .ok_or_else(|| problem("invalid `provider`: every row names one".into()))?;
    if !shared.providers.contains(&provider) {
        return Err(problem(format!(
            "invalid `provider`: unknown provider `{provider}` (one of: {})",
            shared.providers.join(", ")
        )));
    }
    let mode = text(&mut fields, "mode")?;
    let model = text(&mut fields, "model")?;
    let prefix = text(&mut fields, "prefix")?;
    // A row's `out` is a subdirectory: of `--out` when given, else of the batch file's
    // directory. A batch file may come from someone else, and must not send results outside.
    let out = match text(&mut fields, "out")? {
        None => None,
        Some(o) => {
            let inside = !o.is_empty()
                && Path::new(&o)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if !inside {
                return Err(problem(format!(
                    "invalid `out`: `{o}` must be a relative directory without `..`, \
                     placed under --out (or beside the batch file)"
                )));
            }
            Some(shared.out.as_ref().unwrap_or(&file.dir).join(o))
        }
    };
    let mut vars = shared.vars.clone();
    match fields.remove("vars") {
        None | Some(Value::Null) => {}
        Some(Value::Object(own)) => {
            // The row's own variables win over --var.
            for (k, v) in own {
                vars.insert(k, v);
            }
        }
        Some(_) => return Err(problem("invalid `vars`: must be a mapping".into())),
    }
    vars.entry("row")
        .or_insert_with(|| Value::String(row.index.to_string()));
    let conversational = shared.conversational.contains(&provider);
    let words = if conversational && fields.contains_key("message") {
        "message"
    } else {
        "prompt"
    };
    if !fields.contains_key(words)
        && let Some(t) = file.template.as_ref().or(shared.template.as_ref())
    {
        fields.insert(words.into(), Value::String(t.clone()));
    }
    for key in ["prompt", "message"] {
        if let Some(Value::String(t)) = fields.get(key) {
            let rendered =
                render(t, &vars).map_err(|rule| problem(format!("invalid `{key}`: {rule}")))?;
            fields.insert(key.into(), Value::String(rendered));
        }
    }
    for (key, value) in fields.iter_mut() {
        if !TEXT_FIELDS.contains(&key.as_str()) {
            resolve_paths(value, &file.dir);
        }
    }
    debug_assert!(ROW_KEYS.iter().all(|k| !fields.contains_key(*k)));
    Ok(RowSpec {
        index: row.index,
        provider,
        request: JobRequest {
            mode,
            model,
            fields,
        },
        out_dir: out.or_else(|| shared.out.clone()),
        prefix,
    })
}

/// A relative path naming a file beside the batch file becomes that file's absolute path, so a
/// batch runs the same from any directory. Anything else (URLs, `job:ID#N`, words) is left.
fn resolve_paths(value: &mut Value, dir: &Path) {
    match value {
        Value::String(s) => {
            let plain = s.strip_prefix("file://").unwrap_or(s);
            let looks_relative = !plain.is_empty()
                && !Path::new(plain).is_absolute()
                && !plain.contains("://")
                && !plain.starts_with("job:");
            if looks_relative {
                let candidate = dir.join(plain);
                if candidate.is_file() {
                    *s = candidate.display().to_string();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_paths(v, dir)),
        Value::Object(m) => m.values_mut().for_each(|v| resolve_paths(v, dir)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn shared() -> Shared {
        Shared {
            providers: vec!["dashscope".into(), "xyq".into()],
            conversational: vec!["xyq".into()],
            ..Shared::default()
        }
    }

    fn file(rows: Vec<FileRow>, dir: &Path) -> BatchFile {
        BatchFile {
            rows,
            template: None,
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn csv_follows_rfc_4180() {
        let recs =
            csv_records("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\n\"two\nlines\",2,3").unwrap();
        assert_eq!(
            recs,
            vec![
                (1, vec!["a".into(), "b".into(), "c".into()]),
                (2, vec!["x, y".into(), "say \"hi\"".into(), String::new()]),
                (3, vec!["two\nlines".into(), "2".into(), "3".into()]),
            ]
        );
        assert!(
            csv_records("a,\"open")
                .unwrap_err()
                .0
                .contains("never closed")
        );
        assert!(
            csv_records("a,b\"c")
                .unwrap_err()
                .0
                .contains("quote inside")
        );
        assert!(
            csv_records("\"a\"b")
                .unwrap_err()
                .0
                .contains("after a quoted")
        );
        // A trailing newline makes no empty record; a BOM is not part of the first name.
        assert_eq!(csv_records("\u{feff}h\n1\n").unwrap().len(), 2);
    }

    #[test]
    fn csv_cells_are_json_when_they_parse_and_vars_columns_are_variables() {
        let rows = parse_csv(
            "provider,prompt,duration,vars.animal,prompt_extend\ndashscope,a {{animal}},5,fox,false\n,,,,\ndashscope,plain,,,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            Value::Object(rows[0].fields.clone()),
            json!({"provider":"dashscope","prompt":"a {{animal}}","duration":5,"vars":{"animal":"fox"},"prompt_extend":false})
        );
        assert_eq!((rows[1].index, rows[1].line), (2, 4));
        assert!(!rows[1].fields.contains_key("duration"));
    }

    #[test]
    fn jsonl_skips_blank_and_comment_lines_and_names_the_bad_line() {
        let rows = parse_jsonl("# shots\n{\"provider\":\"dashscope\"}\n\n{\"provider\":\"xyq\"}\n")
            .unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.index, r.line)).collect::<Vec<_>>(),
            [(1, 2), (2, 4)]
        );
        assert!(
            parse_jsonl("{}\n[1]\n")
                .unwrap_err()
                .0
                .starts_with("line 2")
        );
        assert!(parse_jsonl("{nope").unwrap_err().0.starts_with("line 1"));
    }

    #[test]
    fn yaml_defaults_sit_under_each_row_and_vars_merge() {
        let (rows, template) = parse_yaml(
            "template: \"{{a}} and {{b}}\"\ndefaults:\n  provider: dashscope\n  duration: 5\n  vars: {a: one, b: two}\nrows:\n  - vars: {b: three}\n  - provider: xyq\n    duration: 10\n",
        )
        .unwrap();
        assert_eq!(template.as_deref(), Some("{{a}} and {{b}}"));
        assert_eq!(
            Value::Object(rows[0].fields.clone()),
            json!({"provider":"dashscope","duration":5,"vars":{"a":"one","b":"three"}})
        );
        assert_eq!(rows[1].fields["provider"], "xyq");
        assert_eq!(rows[1].fields["duration"], 10);
        let (list, _) = parse_yaml("- provider: dashscope\n  prompt: hi\n").unwrap();
        assert_eq!(list.len(), 1);
        assert!(parse_yaml("rows: 3").is_err());
        assert!(
            parse_yaml("rows: []\nextra: 1")
                .unwrap_err()
                .0
                .contains("extra")
        );
    }

    #[test]
    fn templates_render_variables_and_refuse_missing_or_unclosed_ones() {
        let vars = json!({"animal":"fox","n":3}).as_object().cloned().unwrap();
        assert_eq!(render("a {{animal}} x{{ n }}", &vars).unwrap(), "a fox x3");
        assert!(
            render("a {{beast}}", &vars)
                .unwrap_err()
                .contains("`beast`")
        );
        assert!(
            render("a {{animal", &vars)
                .unwrap_err()
                .contains("never closed")
        );
        assert_eq!(render("no braces }}", &vars).unwrap(), "no braces }}");
    }

    #[test]
    fn a_row_becomes_a_request_with_its_template_vars_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cat.png"), b"png").unwrap();
        let mut s = shared();
        s.template = Some("a {{animal}} in {{place}}".into());
        s.vars.insert("place".into(), json!("the rain"));
        s.vars.insert("animal".into(), json!("dog"));
        let row = FileRow {
            index: 2,
            line: 3,
            fields: json!({"provider":"dashscope","model":"wan2.6-i2v-flash","prefix":"shot","img_url":"cat.png","vars":{"animal":"cat"},"size":"1280*720"})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let spec = to_spec(&row, &file(vec![row.clone()], dir.path()), &s).unwrap();
        assert_eq!(spec.provider, "dashscope");
        assert_eq!(spec.prefix.as_deref(), Some("shot"));
        assert_eq!(spec.request.model.as_deref(), Some("wan2.6-i2v-flash"));
        assert_eq!(spec.request.fields["prompt"], "a cat in the rain");
        assert_eq!(
            spec.request.fields["img_url"],
            json!(dir.path().join("cat.png").display().to_string())
        );
        // Words that happen to name no file stay words.
        assert_eq!(spec.request.fields["size"], "1280*720");
        assert!(!spec.request.fields.contains_key("vars"));
    }

    #[test]
    fn row_problems_name_the_field_and_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let f = |fields: Value| FileRow {
            index: 7,
            line: 7,
            fields: fields.as_object().cloned().unwrap(),
        };
        let s = shared();
        let check = |fields: Value, needle: &str| {
            let row = f(fields);
            let e = to_spec(&row, &file(vec![], dir.path()), &s).unwrap_err();
            assert_eq!(e.index, 7);
            assert!(e.message.contains(needle), "{}", e.message);
        };
        check(json!({"prompt":"x"}), "`provider`");
        check(json!({"provider":"nope"}), "unknown provider `nope`");
        check(
            json!({"provider":"dashscope","prompt":"a {{x}}"}),
            "`prompt`: no variable `x`",
        );
        check(json!({"provider":"dashscope","vars":[1]}), "`vars`");
        // A conversational row's words in `message` are rendered too.
        let row = f(json!({"provider":"xyq","message":"row {{row}}"}));
        let spec = to_spec(&row, &file(vec![], dir.path()), &s).unwrap();
        assert_eq!(spec.request.fields["message"], "row 7");
    }

    /// A row's `out` used to be any path (`/elsewhere`, `../../x`), and it won over `--out`:
    /// a batch file from someone else could write results anywhere.
    #[test]
    fn a_rows_out_is_a_subdirectory_of_out_or_of_the_batch_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let row = |out: &str| FileRow {
            index: 1,
            line: 1,
            fields: json!({"provider": "dashscope", "prompt": "x", "out": out})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let f = file(vec![], dir.path());
        for bad in ["/tmp/elsewhere", "../up", "shots/../../up", ""] {
            let e = to_spec(&row(bad), &f, &shared()).unwrap_err();
            assert!(e.message.contains("invalid `out`"), "{bad}: {}", e.message);
        }
        let beside = to_spec(&row("./shots/a"), &f, &shared()).unwrap();
        assert_eq!(beside.out_dir, Some(dir.path().join("./shots/a")));
        let mut under = shared();
        under.out = Some(PathBuf::from("/results"));
        let spec = to_spec(&row("shots"), &f, &under).unwrap();
        assert_eq!(spec.out_dir, Some(PathBuf::from("/results/shots")));
    }
}
