//! Chaining (`job:ID#N` as an input): sent as the result's URL while valid, else uploaded from
//! the local copy; refused with exit 2 before anything is spent when it cannot be resolved.

use std::time::Duration;

use serde_json::Value;

use super::{ctx, kino};
use kino_testkit::TestContext;

const VACE: [&str; 4] = [
    "--param",
    "function=video_repainting",
    "--param",
    "control_condition=depth",
];

/// A t2v job to success: its id and its run document.
fn t2v(t: &TestContext) -> (String, Value) {
    let r = kino(t, &["run", "--json", "a red fox"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["state"], "succeeded");
    (out["job_id"].as_str().unwrap().to_string(), out)
}

fn repaint(t: &TestContext, input: &str) -> kino_testkit::Run {
    let mut args = vec!["run", "--json", "repaint it"];
    args.extend(VACE);
    args.extend(["--input", input]);
    kino(t, &args)
}

fn events(t: &TestContext, id: &str) -> Vec<Value> {
    kino(t, &["events", id, "--json"])
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_valid_result_url_is_sent_as_is() {
    let t = ctx();
    let (id, first) = t2v(&t);
    // The run document shows the URL redacted (no query): the first job's result file.
    let shown = first["artifacts"][0]["url"].as_str().unwrap().to_string();
    let file = shown.split('?').next().unwrap().to_string();
    assert!(file.ends_with(".mp4"), "{shown}");
    let uploads = t.stats().uploads + t.stats().policies;
    // A unique prefix of the id is enough.
    let r = repaint(&t, &format!("video_url=job:{}#1", &id[..12]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let second = r.json();
    assert_eq!(second["state"], "succeeded");
    let sent = t.last_create_body()["input"]["video_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sent.starts_with(&format!("{file}?Expires=")) && sent.contains("Signature="),
        "{sent}"
    );
    assert_eq!(t.stats().uploads + t.stats().policies, uploads);
    let second_id = second["job_id"].as_str().unwrap();
    // The ledger records what was asked and, in an event, what it was sent as.
    let status = kino(&t, &["status", second_id, "--json"]).json();
    assert_eq!(
        status["request"]["video_url"],
        format!("job:{}#1", &id[..12]).as_str()
    );
    let chained: Vec<Value> = events(&t, second_id)
        .into_iter()
        .filter(|e| e["type"] == "chained")
        .collect();
    assert_eq!(chained.len(), 1, "{chained:?}");
    assert_eq!(chained[0]["field"], "video_url");
    assert!(chained[0]["url"].as_str().unwrap().contains("/results/"));
    assert!(chained[0].get("file").is_none());
}

#[test]
fn an_expired_result_url_is_replaced_by_an_upload_of_the_local_copy() {
    let t = ctx();
    // The platform hands out result URLs that expire as the task ends.
    t.sandbox.set_config(|c| c.url_validity = Duration::ZERO);
    let (id, first) = t2v(&t);
    let path = first["artifacts"][0]["path"].as_str().unwrap().to_string();
    let before = t.stats();
    let r = repaint(&t, &format!("video_url=job:{id}#1"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = t.stats();
    assert_eq!(after.policies, before.policies + 1);
    assert_eq!(after.uploads, before.uploads + 1);
    let sent = t.last_create_body()["input"]["video_url"].clone();
    assert!(sent.as_str().unwrap().starts_with("oss://"), "{sent}");
    let second_id = r.json()["job_id"].as_str().unwrap().to_string();
    let status = kino(&t, &["status", &second_id, "--json"]).json();
    assert_eq!(
        status["request"]["video_url"],
        format!("job:{id}#1").as_str()
    );
    let evs = events(&t, &second_id);
    let chained = evs.iter().find(|e| e["type"] == "chained").unwrap();
    assert_eq!(chained["file"], path.as_str());
    assert!(chained.get("url").is_none());
    assert!(evs.iter().any(|e| e["type"] == "uploaded"));
}

#[test]
fn unresolvable_references_exit_2_before_anything_is_spent() {
    let t = ctx();
    t.sandbox.set_config(|c| c.url_validity = Duration::ZERO);
    let (id, first) = t2v(&t);
    let creates = t.stats().creates;
    let check = |input: String, needle: &str| {
        let r = repaint(&t, &input);
        assert_eq!(r.code, 2, "{input}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("video_url"), "{}", r.stderr);
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    };
    check("video_url=job:0000nosuchjob#1".into(), "0000nosuchjob");
    check(format!("video_url=job:{id}#2"), "out of range");
    check(format!("video_url=job:{id}#0"), "job:ID#N");
    // The URL has expired and the local copy is gone.
    std::fs::remove_file(first["artifacts"][0]["path"].as_str().unwrap()).unwrap();
    check(format!("video_url=job:{id}#1"), "is gone");
    assert_eq!(t.stats().creates, creates);
    // Nothing was recorded for the refused requests.
    let list = kino(&t, &["list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}
