//! Issue 8, the fault-injection suite: every scenario runs on every provider it applies to, and
//! checks the final state, the number of billable creates (never two), the results on disk with
//! their SHA-256, and what the job says about the fault.
//!
//! Covered here: 429 with Retry-After and 5xx on creates and queries, a connection reset before
//! and after the platform acted on a create, a reset, a dropped answer and a slow answer on a
//! query, a slow create, a 5xx burst and a truncated body on downloads, an expired DashScope
//! upload policy, a task the platform has forgotten (`UNKNOWN`), and xingyun3d clock skew within
//! the platform's window. Elsewhere: skills.video streams dropped and stalled
//! (`skillsvideo.rs`), xingyun3d skew beyond the window (`xingyun3d.rs`), a 401 (`cli.rs`), a
//! cut upload to `kino serve` (`serve.rs`).

use std::time::Duration;

use kino_sandbox::{Fault, FaultKind, FaultTarget, SandboxConfig};
use kino_testkit::{TestContext, fast_config};
use serde_json::Value;

use super::{ctx, ctx_with, kino, sha256_file};

pub(super) struct Case {
    pub(super) provider: &'static str,
    args: &'static [&'static str],
    create: FaultTarget,
    query: FaultTarget,
    pub(super) creates: fn(&kino_sandbox::Stats) -> u64,
    create_attempts: fn(&kino_sandbox::Stats) -> u64,
    /// The platform lists tasks, so a create whose answer was lost can be found again
    /// (contracts §1, §2); the others cannot be looked up (§3–5).
    pub(super) listable: bool,
    /// The list is complete (DashScope's lists every task; skills.video's only running ones),
    /// so a task absent from it was never made.
    pub(super) proves_absence: bool,
}

impl Case {
    /// A fast sandbox in which the job polls: skills.video's stream is dropped after its first
    /// event, so that its status queries (the fallback) meet the faults.
    fn sandbox(&self) -> SandboxConfig {
        SandboxConfig {
            sv_drop_stream_after: (self.provider == "skillsvideo").then_some(1),
            ..fast_config()
        }
    }

    /// `kino run` of this provider's job, with `extra` options.
    pub(super) fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", self.provider, "--json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(self.args);
        if self.provider == "xingyun3d" {
            args.extend_from_slice(&super::XY_LOOK);
        }
        args
    }

    fn run(&self, t: &TestContext, extra: &[&str]) -> kino_testkit::Run {
        kino(t, &self.args(extra))
    }
}

/// The job succeeded and every result is on disk, byte for byte.
pub(super) fn assert_complete(p: &str, out: &Value) {
    assert_eq!(out["state"], "succeeded", "{p}: {out}");
    let artifacts: Vec<&Value> = out["artifacts"].as_array().into_iter().flatten().collect();
    assert!(!artifacts.is_empty(), "{p}: {out}");
    for a in artifacts {
        assert_eq!(a["state"], "done", "{p}: {a}");
        let path = std::path::Path::new(a["path"].as_str().unwrap_or_default());
        assert_eq!(
            a["sha256"].as_str(),
            Some(sha256_file(path).as_str()),
            "{p}"
        );
    }
}

/// Every injected fault was met: a scenario whose fault never fired proves nothing.
fn assert_faults_met(p: &str, t: &TestContext) {
    let left = t.sandbox.pending_faults();
    assert!(left.is_empty(), "{p}: faults never met: {left:?}");
}

fn events_of(t: &TestContext, out: &Value) -> String {
    let id = out["job_id"].as_str().unwrap_or_default();
    kino(t, &["events", id, "--json"]).stdout
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            provider: "dashscope",
            args: &["a kite"],
            create: FaultTarget::Submit,
            query: FaultTarget::Query,
            creates: |s| s.creates,
            create_attempts: |s| s.create_attempts,
            listable: true,
            proves_absence: true,
        },
        Case {
            provider: "skillsvideo",
            args: &["--model", "google/veo-3.1", "a dog"],
            create: FaultTarget::SvCreate,
            query: FaultTarget::SvPoll,
            creates: |s| s.sv_creates,
            create_attempts: |s| s.sv_create_attempts,
            listable: true,
            proves_absence: false,
        },
        Case {
            provider: "xyq",
            args: &["a film"],
            create: FaultTarget::XyqSubmit,
            query: FaultTarget::XyqQuery,
            creates: |s| s.xyq_runs,
            create_attempts: |s| s.xyq_submits,
            listable: false,
            proves_absence: false,
        },
        Case {
            provider: "libtv",
            args: &["a film"],
            create: FaultTarget::LibtvSession,
            query: FaultTarget::LibtvQuery,
            creates: |s| s.libtv_sends,
            create_attempts: |s| s.libtv_session_posts,
            listable: false,
            proves_absence: false,
        },
        Case {
            provider: "xingyun3d",
            args: &["--segment", "hello"],
            create: FaultTarget::XyCreate,
            query: FaultTarget::XyGet,
            creates: |s| s.xy_creates,
            create_attempts: |s| s.xy_create_attempts,
            listable: false,
            proves_absence: false,
        },
    ]
}

#[test]
fn every_provider_survives_a_refused_create_and_a_throttled_failing_query() {
    for case in cases() {
        let t = ctx_with(case.sandbox());
        // 429 on the create: certainly nothing was made, so it is sent again. (A 503 is
        // "nothing made" on DashScope only; elsewhere its outcome is unknown and never resent,
        // as tests/cli/conversations.rs shows for Xiaoyunque.)
        t.sandbox.inject(Fault {
            target: case.create,
            status: 429,
            times: 1,
            retry_after_secs: Some(1),
            kind: Default::default(),
        });
        // Then a 429 with Retry-After and a 503 on the status query.
        t.sandbox.inject(Fault {
            target: case.query,
            status: 429,
            times: 1,
            retry_after_secs: Some(1),
            kind: Default::default(),
        });
        t.sandbox.inject(Fault {
            target: case.query,
            status: 503,
            times: 1,
            retry_after_secs: None,
            kind: Default::default(),
        });
        let r = case.run(&t, &["--timeout", "90s"]);
        let p = case.provider;
        assert_eq!(r.code, 0, "{p}: {}", r.stderr);
        let out = r.json();
        assert_complete(p, &out);
        assert_faults_met(case.provider, &t);
        let s = t.stats();
        assert_eq!(
            (case.creates)(&s),
            1,
            "{p}: exactly one billable create: {s:?}"
        );
        assert_eq!(
            (case.create_attempts)(&s),
            2,
            "{p}: the refused create was sent again"
        );
        let events = events_of(&t, &out);
        assert!(
            events.contains("nothing was created"),
            "{p}: the refusal is in the job's events: {events}"
        );
    }
}

#[test]
fn a_create_cut_off_before_the_platform_acted_is_never_sent_again() {
    for case in cases() {
        let p = case.provider;
        let t = ctx();
        t.sandbox
            .inject(Fault::transport(case.create, FaultKind::Reset));
        let r = case.run(&t, &["--timeout", "60s"]);
        let out = r.json();
        assert_faults_met(case.provider, &t);
        let s = t.stats();
        assert_eq!((case.creates)(&s), 0, "{p}: nothing was made: {s:?}");
        assert!(
            (case.create_attempts)(&s) <= 1,
            "{p}: a create whose outcome is unknown is never sent again: {s:?}"
        );
        if case.proves_absence {
            // The task list proves nothing was made: the job fails, uncharged, saying so.
            assert_eq!(r.code, 4, "{p}: {}", r.stderr);
            assert_eq!(out["state"], "failed", "{p}: {out}");
            let error = out["error"].as_str().unwrap_or_default();
            assert!(error.contains("nothing was charged"), "{p}: {out}");
        } else {
            // Nothing can prove it either way: the job rests, saying where to look.
            assert_eq!(out["state"], "unknown", "{p}: {out}");
            assert_ne!(r.code, 0, "{p}");
            assert!(
                r.stderr.contains("will not submit again"),
                "{p}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn a_create_whose_answer_was_lost_after_the_platform_acted_is_found_or_left_unpaid_twice() {
    for case in cases() {
        let p = case.provider;
        // Long enough for a skills.video generation to be listed as running when looked for.
        let t = ctx_with(SandboxConfig {
            pending: Duration::from_secs(2),
            running: Duration::from_secs(1),
            ..fast_config()
        });
        t.sandbox
            .inject(Fault::transport(case.create, FaultKind::ResetAfter));
        let r = case.run(&t, &["--timeout", "60s"]);
        let out = r.json();
        assert_faults_met(case.provider, &t);
        let s = t.stats();
        assert_eq!((case.creates)(&s), 1, "{p}: one task was made: {s:?}");
        assert_eq!(
            (case.create_attempts)(&s),
            1,
            "{p}: and the create was never sent again: {s:?}"
        );
        if case.listable {
            assert_eq!(r.code, 0, "{p}: {}", r.stderr);
            assert_complete(p, &out);
            assert!(
                events_of(&t, &out).contains("found in the platform's task list"),
                "{p}"
            );
        } else {
            assert_eq!(out["state"], "unknown", "{p}: {out}");
            assert_ne!(r.code, 0, "{p}");
        }
    }
}

#[test]
fn dropped_slow_and_failing_answers_to_queries_and_downloads_are_asked_again() {
    for case in cases() {
        let p = case.provider;
        let t = ctx_with(case.sandbox());
        for fault in [
            Fault::transport(case.create, FaultKind::Slow { ms: 1500 }),
            // Queries meet these in this order; the job is done by the slow answer.
            Fault::status(case.query, 502, 3),
            Fault::transport(case.query, FaultKind::Reset),
            Fault::transport(case.query, FaultKind::ResetAfter),
            Fault::transport(case.query, FaultKind::Slow { ms: 1500 }),
            Fault::status(FaultTarget::Download, 503, 3),
            Fault::transport(FaultTarget::Download, FaultKind::Truncate),
        ] {
            t.sandbox.inject(fault);
        }
        let r = case.run(&t, &["--timeout", "90s"]);
        let out = r.json();
        assert_eq!(r.code, 0, "{p}: {}\n{}", r.stderr, events_of(&t, &out));
        assert_complete(p, &out);
        assert_faults_met(case.provider, &t);
        let s = t.stats();
        assert_eq!((case.creates)(&s), 1, "{p}: one create: {s:?}");
        assert_eq!((case.create_attempts)(&s), 1, "{p}: {s:?}");
        assert!(
            s.range_downloads >= 1,
            "{p}: the cut download resumed where it stopped: {s:?}"
        );
    }
}

#[test]
fn an_upload_policy_that_expired_before_the_upload_is_fetched_again() {
    let t = ctx_with(SandboxConfig {
        policy_ttl: Duration::from_secs(1),
        ..fast_config()
    });
    // The first policy arrives after its own expiry has nearly come; the upload then meets
    // OSS's "Policy expired".
    t.sandbox.inject(Fault::transport(
        FaultTarget::Policy,
        FaultKind::Slow { ms: 1200 },
    ));
    let png = t.sample_png();
    let input = format!("img_url={}", png.display());
    let r = kino(
        &t,
        &[
            "run",
            "dashscope",
            "--json",
            "--model",
            "wan2.6-i2v",
            "--input",
            &input,
            "a kite",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json();
    assert_complete("dashscope", &out);
    assert_faults_met("dashscope", &t);
    let s = t.stats();
    assert_eq!(s.creates, 1, "{s:?}");
    assert!(s.policies >= 2, "a fresh policy was fetched: {s:?}");
}

#[test]
fn a_task_the_platform_has_forgotten_ends_expired_with_its_reason() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(30),
        ..fast_config()
    });
    let r = kino(&t, &["submit", "dashscope", "--json", "a kite"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json();
    let id = out["job_id"].as_str().unwrap_or_default().to_string();
    let handle = out["handle"].as_str().unwrap_or_default().to_string();
    assert!(t.sandbox.forget_task(&handle), "{out}");
    let r = kino(&t, &["wait", &id, "--json", "--timeout", "30s"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["state"], "expired", "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("UNKNOWN") || error.contains("no longer"),
        "{out}"
    );
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn xingyun3d_signs_through_a_clock_skew_within_the_platform_window() {
    for skew in [-45, 45] {
        let t = ctx_with(SandboxConfig {
            xy_clock_skew: skew,
            ..fast_config()
        });
        let case = cases()
            .into_iter()
            .find(|c| c.provider == "xingyun3d")
            .expect("xingyun3d case");
        let r = case.run(&t, &["--timeout", "60s"]);
        assert_eq!(r.code, 0, "skew {skew}: {}", r.stderr);
        assert_complete("xingyun3d", &r.json());
        assert_eq!(t.stats().xy_creates, 1);
    }
}
