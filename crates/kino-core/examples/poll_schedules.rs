//! Completion-detection delay and requests per job of four poll schedules, simulated over job
//! run times drawn from assumed distributions (seeded: the output is the same on every run).
//!
//! - `sdk`: the official DashScope SDK's `wait` (intervals 1,1,1,2,2,2,4,4,4,5,5,5,… s; the SDK
//!   also queries once right after the create, which is not counted here).
//! - `seed`: the seed scripts' interval drawn uniformly from [10, 15] s before every poll.
//! - `kino-base`: kino's DashScope policy on its own (2 s growing ×1.5 to 15 s), as before.
//! - `kino-learned`: kino's [`PollPlan`] with the percentiles of the 20 latest jobs' run times
//!   as the platform reports them (`end_time − submit_time`, which the ledger keeps as
//!   `ran_ms`). History starts empty and warms up over 20 jobs first.
//!
//! `cargo run --release -p kino-core --example poll_schedules [JOBS]`

use std::collections::VecDeque;
use std::time::Duration;

use kino_core::{Expected, PollPlan, PollPolicy};

const HISTORY: usize = 20;
const WARM_UP: usize = 20;

/// splitmix64: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        mean + sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Clone)]
enum Dist {
    Normal(f64, f64),
    LogNormal {
        median: f64,
        sigma: f64,
    },
    Uniform(f64, f64),
    Mix(Vec<(f64, Dist)>),
    /// The platform's load changes: `every` jobs from one distribution, then `every` from the
    /// other, and so on.
    Alternating(usize, Box<Dist>, Box<Dist>),
}

impl Dist {
    /// The run time of job number `i`.
    fn draw(&self, rng: &mut Rng, i: usize) -> f64 {
        let d = match self {
            Dist::Normal(m, s) => rng.normal(*m, *s),
            Dist::LogNormal { median, sigma } => median * rng.normal(0.0, *sigma).exp(),
            Dist::Uniform(lo, hi) => rng.uniform(*lo, *hi),
            Dist::Mix(parts) => {
                let mut pick = rng.unit();
                let mut chosen = &parts[parts.len() - 1].1;
                for (w, d) in parts {
                    if pick < *w {
                        chosen = d;
                        break;
                    }
                    pick -= w;
                }
                chosen.draw(rng, i)
            }
            Dist::Alternating(every, a, b) => {
                if (i / every).is_multiple_of(2) {
                    a.draw(rng, i)
                } else {
                    b.draw(rng, i)
                }
            }
        };
        d.max(5.0)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Schedule {
    Sdk,
    Seed,
    KinoBase,
    KinoLearned,
}

impl Schedule {
    fn name(self) -> &'static str {
        match self {
            Schedule::Sdk => "DashScope SDK (1,1,1,2,2,2,4,4,4,5… s)",
            Schedule::Seed => "seed scripts (uniform 10–15 s)",
            Schedule::KinoBase => "kino before (2 s ×1.5 → 15 s)",
            Schedule::KinoLearned => "kino learned plan",
        }
    }
}

fn dashscope_policy() -> PollPolicy {
    PollPolicy {
        initial: Duration::from_secs(2),
        max: Duration::from_secs(15),
        factor: 1.5,
    }
}

/// Follows one job that finishes `done` s after its create: (detection delay s, requests).
fn follow(schedule: Schedule, done: f64, plan: &PollPlan, rng: &mut Rng) -> (f64, u32) {
    let policy = dashscope_policy();
    let mut t = 0.0;
    let mut polls = 0u32;
    loop {
        let interval = match schedule {
            Schedule::Sdk => [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0]
                .get(polls as usize)
                .copied()
                .unwrap_or(5.0),
            Schedule::Seed => rng.uniform(10.0, 15.0),
            Schedule::KinoBase => policy.delay(polls).as_secs_f64(),
            Schedule::KinoLearned => plan.delay(Duration::from_secs_f64(t)).as_secs_f64(),
        };
        t += interval;
        polls += 1;
        if t >= done {
            return (t - done, polls);
        }
    }
}

struct Row {
    mean_delay: f64,
    p95_delay: f64,
    max_delay: f64,
    requests: f64,
    /// Share of jobs that finished before the learned window opened, and after it closed.
    before: f64,
    after: f64,
}

fn run(schedule: Schedule, dist: &Dist, jobs: usize, seed: u64) -> (Row, Option<PollPlan>) {
    // The same run times for every schedule; the seed schedule's own draws come from another
    // stream so they do not shift them.
    let mut times = Rng(seed);
    let mut own = Rng(seed ^ 0xA5A5_A5A5);
    let mut history: VecDeque<Duration> = VecDeque::new();
    let mut delays = Vec::with_capacity(jobs);
    let mut requests = 0u64;
    let mut last_plan = None;
    let (mut before, mut after) = (0usize, 0usize);
    for i in 0..WARM_UP + jobs {
        let done = dist.draw(&mut times, i);
        let samples: Vec<Duration> = history.iter().copied().collect();
        let expected = Expected::from_samples(&samples);
        let plan = PollPlan::new(dashscope_policy(), expected.as_ref());
        let (delay, polls) = follow(schedule, done, &plan, &mut own);
        // What the ledger holds: the platform's own run time, however late it was seen.
        history.push_front(Duration::from_secs_f64(done));
        history.truncate(HISTORY);
        if i >= WARM_UP {
            delays.push(delay);
            requests += u64::from(polls);
            last_plan = Some(plan);
            if let Some(w) = plan.window() {
                before += usize::from(done < w.start.as_secs_f64());
                after += usize::from(done >= w.end.as_secs_f64());
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    let n = delays.len();
    let row = Row {
        mean_delay: delays.iter().sum::<f64>() / n as f64,
        p95_delay: delays[((n as f64 * 0.95).ceil() as usize).clamp(1, n) - 1],
        max_delay: delays[n - 1],
        requests: requests as f64 / n as f64,
        before: before as f64 / n as f64,
        after: after as f64 / n as f64,
    };
    (row, last_plan.filter(|_| schedule == Schedule::KinoLearned))
}

fn main() {
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dists: Vec<(&str, &str, Dist)> = vec![
        (
            "tight",
            "normal, mean 100 s, sd 8 s (one model and size on a quiet platform)",
            Dist::Normal(100.0, 8.0),
        ),
        (
            "moderate",
            "log-normal, median 100 s, sigma 0.2 (p5 72 s, p95 139 s)",
            Dist::LogNormal {
                median: 100.0,
                sigma: 0.2,
            },
        ),
        (
            "wide",
            "uniform 60–180 s (the whole range reported for wan2.x 5 s videos)",
            Dist::Uniform(60.0, 180.0),
        ),
        (
            "bimodal",
            "60% normal(75 s, 6 s) + 40% normal(150 s, 12 s) (a queue that comes and goes)",
            Dist::Mix(vec![
                (0.6, Dist::Normal(75.0, 6.0)),
                (0.4, Dist::Normal(150.0, 12.0)),
            ]),
        ),
        (
            "shifting",
            "normal(85 s, 8 s) for 100 jobs, then normal(125 s, 8 s) for 100, and so on (load that changes while the history lags)",
            Dist::Alternating(
                100,
                Box::new(Dist::Normal(85.0, 8.0)),
                Box::new(Dist::Normal(125.0, 8.0)),
            ),
        ),
    ];
    println!(
        "{jobs} jobs per distribution after {WARM_UP} warm-up jobs; learned plan from the latest {HISTORY} platform run times\n"
    );
    println!(
        "| distribution | schedule | mean detection delay | p95 delay | max delay | requests per job |"
    );
    println!("|---|---|---|---|---|---|");
    let mut verdicts = Vec::new();
    for (k, (name, _, dist)) in dists.iter().enumerate() {
        let seed = 0x6B69_6E6F_0000_0000 + k as u64;
        let mut rows = Vec::new();
        for schedule in [
            Schedule::Sdk,
            Schedule::Seed,
            Schedule::KinoBase,
            Schedule::KinoLearned,
        ] {
            let (row, plan) = run(schedule, dist, jobs, seed);
            println!(
                "| {name} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} |",
                schedule.name(),
                row.mean_delay,
                row.p95_delay,
                row.max_delay,
                row.requests
            );
            rows.push((row, plan));
        }
        let (sdk, seed_row, learned) = (&rows[0].0, &rows[1].0, &rows[3].0);
        let window = rows[3].1.and_then(|p| p.window()).map_or(String::new(), |w| {
            format!(
                "; {:.1}% of jobs done before the window opened, {:.1}% after it closed; last window {:.0}–{:.0} s every {:.1} s",
                learned.before * 100.0,
                learned.after * 100.0,
                w.start.as_secs_f64(),
                w.end.as_secs_f64(),
                w.cadence.as_secs_f64()
            )
        });
        let mark = |ok: bool| if ok { "yes" } else { "NO" };
        verdicts.push(format!(
            "- {name}: detection no slower than the SDK's: mean {} ({:.2} vs {:.2} s), p95 {} ({:.2} vs {:.2} s); requests no more than the seed's: {} ({:.2} vs {:.2}){window}",
            mark(learned.mean_delay <= sdk.mean_delay),
            learned.mean_delay,
            sdk.mean_delay,
            mark(learned.p95_delay <= sdk.p95_delay),
            learned.p95_delay,
            sdk.p95_delay,
            mark(learned.requests <= seed_row.requests),
            learned.requests,
            seed_row.requests,
        ));
    }
    println!("\nAssumed run times (submit to success, seconds):");
    for (name, about, _) in &dists {
        println!("- {name}: {about}");
    }
    println!("\nBoth schedules beaten?");
    for v in verdicts {
        println!("{v}");
    }
}
