//! Claims and updates per second of a ledger (BENCHMARKS.md, issue 7):
//!   cargo run --release -p kino-ledger --example ledger_bench -- LOCATION [JOBS] [CLAIMERS]
//! LOCATION is an SQLite file or a postgres:// URL of an empty database. JOBS jobs are recorded,
//! then CLAIMERS concurrent claimants (separate connections, as separate workers have) take them
//! in batches of 16 until none is left; then every job is moved through three transitions.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use kino_core::{JobId, JobState, NewJob, now_millis};
use kino_ledger::{Change, Claim, Ledger};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let location = args.get(1).expect("a ledger location");
    let jobs: usize = args.get(2).map_or(2000, |n| n.parse().unwrap());
    let claimers: usize = args.get(3).map_or(4, |n| n.parse().unwrap());
    let mut handles: Vec<Arc<dyn Ledger>> = Vec::new();
    for _ in 0..claimers {
        handles.push(kino_ledger::open(location).await.unwrap());
    }
    let ledger = handles[0].clone();

    let start = Instant::now();
    let mut ids = Vec::new();
    for i in 0..jobs {
        let job = ledger
            .insert_job(&NewJob {
                id: JobId::new(),
                provider: "dashscope".into(),
                mode: "t2v".into(),
                model: "wan2.6-t2v".into(),
                request: serde_json::json!({"prompt": format!("bench {i}")}),
                out_dir: None,
                prefix: None,
                lease: None,
                profile: None,
            })
            .await
            .unwrap();
        ids.push(job.id);
    }
    let insert = start.elapsed();

    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (n, l) in handles.iter().enumerate() {
        let l = l.clone();
        set.spawn(async move {
            let (mut claims, mut taken) = (0u64, 0u64);
            loop {
                let now = now_millis();
                let got = l
                    .claim_due(&Claim {
                        owner: format!("bench-{n}"),
                        now,
                        until: now + 600_000,
                        limit: 16,
                        ..Claim::default()
                    })
                    .await
                    .unwrap();
                claims += 1;
                if got.is_empty() {
                    return (claims, taken);
                }
                taken += got.len() as u64;
            }
        });
    }
    let (mut claims, mut taken) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (c, t) = r.unwrap();
        claims += c;
        taken += t;
    }
    let claiming = start.elapsed();
    assert_eq!(taken as usize, jobs, "every job claimed exactly once");

    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (n, chunk) in ids.chunks(jobs.div_ceil(claimers)).enumerate() {
        let l = handles[n].clone();
        let chunk = chunk.to_vec();
        set.spawn(async move {
            for id in chunk {
                for (from, to) in [
                    (JobState::Pending, JobState::Submitting),
                    (JobState::Submitting, JobState::Queued),
                    (JobState::Queued, JobState::Running),
                ] {
                    l.transition(id, &[from], to, Change::default())
                        .await
                        .unwrap();
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let updating = start.elapsed();
    let info = ledger.describe().await.unwrap();
    println!(
        "{} {} jobs, {claimers} claimants: insert {:.0}/s; claims {:.0}/s ({claims} claim transactions, {:.0} jobs/s claimed); transitions {:.0}/s",
        info.backend,
        jobs,
        jobs as f64 / insert.as_secs_f64(),
        claims as f64 / claiming.as_secs_f64(),
        jobs as f64 / claiming.as_secs_f64(),
        (jobs * 3) as f64 / updating.as_secs_f64(),
    );
}
