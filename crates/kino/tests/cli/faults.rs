//! Issue 8, fault injection on every provider: a refused create (nothing made) is sent again, a
//! throttled or failing query is waited out, and every job still ends with one create, its
//! results on disk and the fault written in its events.

use kino_sandbox::{Fault, FaultTarget};
use serde_json::Value;

use super::{ctx, kino, sha256_file};

struct Case {
    provider: &'static str,
    args: &'static [&'static str],
    create: FaultTarget,
    query: FaultTarget,
    creates: fn(&kino_sandbox::Stats) -> u64,
    create_attempts: fn(&kino_sandbox::Stats) -> u64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            provider: "dashscope",
            args: &["a kite"],
            create: FaultTarget::Submit,
            query: FaultTarget::Query,
            creates: |s| s.creates,
            create_attempts: |s| s.create_attempts,
        },
        Case {
            provider: "skillsvideo",
            args: &["--model", "google/veo-3.1", "a dog"],
            create: FaultTarget::SvCreate,
            query: FaultTarget::SvPoll,
            creates: |s| s.sv_creates,
            create_attempts: |s| s.sv_create_attempts,
        },
        Case {
            provider: "xyq",
            args: &["a film"],
            create: FaultTarget::XyqSubmit,
            query: FaultTarget::XyqQuery,
            creates: |s| s.xyq_runs,
            create_attempts: |s| s.xyq_submits,
        },
        Case {
            provider: "libtv",
            args: &["a film"],
            create: FaultTarget::LibtvSession,
            query: FaultTarget::LibtvQuery,
            creates: |s| s.libtv_sends,
            create_attempts: |s| s.libtv_session_posts,
        },
        Case {
            provider: "xingyun3d",
            args: &["--segment", "hello"],
            create: FaultTarget::XyCreate,
            query: FaultTarget::XyGet,
            creates: |s| s.xy_creates,
            create_attempts: |s| s.xy_create_attempts,
        },
    ]
}

#[test]
fn every_provider_survives_a_refused_create_and_a_throttled_failing_query() {
    for case in cases() {
        let t = ctx();
        // 429 on the create: certainly nothing was made, so it is sent again. (A 503 is
        // "nothing made" on DashScope only; elsewhere its outcome is unknown and never resent,
        // as tests/cli/conversations.rs shows for Xiaoyunque.)
        t.sandbox.inject(Fault {
            target: case.create,
            status: 429,
            times: 1,
            retry_after_secs: Some(1),
        });
        // Then a 429 with Retry-After and a 503 on the status query.
        t.sandbox.inject(Fault {
            target: case.query,
            status: 429,
            times: 1,
            retry_after_secs: Some(1),
        });
        t.sandbox.inject(Fault {
            target: case.query,
            status: 503,
            times: 1,
            retry_after_secs: None,
        });
        let mut args = vec!["run", case.provider, "--json", "--timeout", "90s"];
        args.extend_from_slice(case.args);
        if case.provider == "xingyun3d" {
            args.extend_from_slice(&super::XY_LOOK);
        }
        let r = kino(&t, &args);
        let p = case.provider;
        assert_eq!(r.code, 0, "{p}: {}", r.stderr);
        let out = r.json();
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
        let id = out["job_id"].as_str().unwrap_or_default();
        let events = kino(&t, &["events", id, "--json"]).stdout;
        assert!(
            events.contains("nothing was created"),
            "{p}: the refusal is in the job's events: {events}"
        );
    }
}
