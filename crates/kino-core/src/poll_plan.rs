//! When to poll a job next. Without history a job follows its provider's [`PollPolicy`]; with
//! enough history of similar jobs it sleeps through the time in which none of them finished and
//! polls briskly in the window in which they did.
//!
//! The plan is a pure function of the time since the job's create request was sent, so a job
//! resumed after a crash, or taken over by another worker, keeps its place in the schedule.

use std::time::Duration;

use crate::PollPolicy;

/// Polls on the provider's own backoff before a learned plan sleeps: a job that fails at once
/// (an input the platform cannot fetch, say) is still seen within seconds.
pub const EARLY_POLLS: u32 = 2;

/// The longest interval inside the learned window: half a second under the official DashScope
/// SDK's 5 s cap, so a job that finishes inside the window is seen within 4.5 s where the SDK
/// may take 5 s. The few jobs that finish outside it are seen later; the quicker cadence makes
/// up for them on average (BENCHMARKS.md, issue 8).
pub const WINDOW_CADENCE_CAP: Duration = Duration::from_millis(4500);

/// The spread between the 10th and the 90th percentile is polled about this many times (a
/// tight history is polled faster than the cap, down to the policy's first interval).
pub const WINDOW_POLLS: f64 = 4.0;

/// The interval never drops below this, whatever a policy says.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// How long recent similar jobs took, from their create request to the poll that saw them
/// succeed (so each figure is late by that job's detection delay, at most one interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The quickest of them.
    pub fastest: Duration,
    pub p10: Duration,
    pub p50: Duration,
    pub p90: Duration,
    /// How many jobs the percentiles come from.
    pub samples: usize,
}

impl Expected {
    /// Fewer jobs than this say too little: the plan then follows the provider's policy.
    pub const MIN_SAMPLES: usize = 5;

    /// The percentiles of `samples` (linear interpolation between order statistics); `None`
    /// with fewer than [`Expected::MIN_SAMPLES`].
    pub fn from_samples(samples: &[Duration]) -> Option<Self> {
        if samples.len() < Self::MIN_SAMPLES {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Self {
            fastest: sorted[0],
            p10: quantile(&sorted, 0.10),
            p50: quantile(&sorted, 0.50),
            p90: quantile(&sorted, 0.90),
            samples: sorted.len(),
        })
    }
}

/// `q`-quantile of a sorted, non-empty slice.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len() - 1;
    let at = q.clamp(0.0, 1.0) * last as f64;
    let below = at.floor() as usize;
    let above = (below + 1).min(last);
    let frac = at - below as f64;
    let (a, b) = (sorted[below].as_secs_f64(), sorted[above].as_secs_f64());
    Duration::from_secs_f64(a + (b - a) * frac)
}

/// Where a learned plan polls briskly, in time since the create request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// The first poll after the early ones: one interval before the quickest similar job.
    pub start: Duration,
    /// Past this, the interval grows back to the policy's maximum.
    pub end: Duration,
    /// The interval inside the window (at most [`WINDOW_CADENCE_CAP`], at least the policy's
    /// first interval unless that exceeds the cap).
    pub cadence: Duration,
}

/// A job's poll schedule: its provider's policy, shaped by what similar jobs took when that is
/// known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollPlan {
    base: PollPolicy,
    window: Option<Window>,
}

impl PollPlan {
    /// The plan for a job of `base`'s provider; `expected` is what similar jobs took, if known.
    pub fn new(base: PollPolicy, expected: Option<&Expected>) -> Self {
        Self {
            base,
            window: expected.map(|e| window(&base, e)),
        }
    }

    pub fn window(&self) -> Option<Window> {
        self.window
    }

    /// How long to wait, `elapsed` after the job's create request was sent, before the next
    /// poll. Never zero. Never longer than the policy's maximum, except the one sleep that ends
    /// where the learned window starts.
    ///
    /// Without a window this is the policy itself, read by time instead of by count: interval
    /// `initial + (factor - 1) · elapsed`, capped at `max`, which gives exactly
    /// `policy.delay(n)` when the polls come on time, and a resumed job its place instead of
    /// a fresh start at the fastest interval.
    pub fn delay(&self, elapsed: Duration) -> Duration {
        let t = elapsed.as_secs_f64();
        let Some(w) = self.window else {
            return secs(base_interval(&self.base, t));
        };
        let (start, end, c) = (
            w.start.as_secs_f64(),
            w.end.as_secs_f64(),
            w.cadence.as_secs_f64(),
        );
        // A poll due within half an interval of the window's start is taken as its start.
        let opens = start - c / 2.0;
        if t < opens {
            let early = early_end(&self.base);
            let b = base_interval(&self.base, t);
            if t < early && t + b < opens {
                return secs(b);
            }
            return secs(start - t);
        }
        if t < end {
            return w.cadence;
        }
        let grown = c + growth(&self.base) * (t - end);
        secs(grown.min(max_secs(&self.base)).max(c))
    }
}

/// A delay of `s` seconds: at least [`MIN_DELAY`].
fn secs(s: f64) -> Duration {
    duration(s).max(MIN_DELAY)
}

/// `s` seconds; zero for what is not a positive number, a century for what would overflow.
fn duration(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).unwrap_or(Duration::from_secs(100 * 365 * 86_400))
}

fn max_secs(p: &PollPolicy) -> f64 {
    p.max.as_secs_f64()
}

/// The policy's `factor - 1`: how much its interval grows per second waited (0 for a factor
/// that is below 1 or not a number).
fn policy_growth(p: &PollPolicy) -> f64 {
    let g = p.factor - 1.0;
    if g.is_finite() { g.max(0.0) } else { 0.0 }
}

/// How much the interval grows per second past the window: the policy's pace, at least
/// kino's ×1.5 per poll, so a policy with a fixed interval also returns to it.
fn growth(p: &PollPolicy) -> f64 {
    policy_growth(p).max(0.5)
}

/// The policy's interval at `t` seconds since the create request: interval `n` is
/// `initial · factor^n` and falls due at `initial · (factor^n − 1) / (factor − 1)`, so at time
/// `t` the interval is `initial + (factor − 1) · t`.
fn base_interval(p: &PollPolicy, t: f64) -> f64 {
    (p.initial.as_secs_f64() + policy_growth(p) * t).min(max_secs(p))
}

/// When the policy's first [`EARLY_POLLS`] polls are done.
fn early_end(p: &PollPolicy) -> f64 {
    let mut t = 0.0;
    for _ in 0..EARLY_POLLS {
        t += base_interval(p, t);
    }
    t
}

fn window(base: &PollPolicy, e: &Expected) -> Window {
    let (fastest, p10, p50, p90) = (
        e.fastest.as_secs_f64(),
        e.p10.as_secs_f64(),
        e.p50.as_secs_f64(),
        e.p90.as_secs_f64(),
    );
    let cap = WINDOW_CADENCE_CAP
        .min(base.max)
        .max(MIN_DELAY)
        .as_secs_f64();
    let floor = base.initial.as_secs_f64().min(cap);
    let cadence = ((p90 - p10) / WINDOW_POLLS).clamp(floor, cap);
    // One interval before the quickest: its figure is late by up to one interval, and a job
    // that beats it is then seen early enough to pull the next window down. Opening exactly at
    // the quickest would ratchet: a quicker job would be seen only at the opening, and recorded
    // as taking just that long.
    let start = (fastest - cadence).max(0.0);
    // Generous: only jobs still running pay for the brisk polls past the 90th percentile.
    let end = (p90 + 2.0 * (p90 - p50) + cadence).max(start);
    Window {
        start: duration(start),
        end: duration(end),
        cadence: secs(cadence),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn dashscope() -> PollPolicy {
        PollPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(15),
            factor: 1.5,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= Duration::from_millis(1)
    }

    /// Poll times of a job followed from its create until `until`.
    fn polls(plan: &PollPlan, until: Duration) -> Vec<Duration> {
        let mut t = Duration::ZERO;
        let mut out = Vec::new();
        while t < until {
            t += plan.delay(t);
            out.push(t);
        }
        out
    }

    /// (detection delay, requests) of a job that finishes `done` after its create.
    fn follow(plan: &PollPlan, done: Duration) -> (Duration, usize) {
        let seen = polls(plan, done);
        (*seen.last().unwrap() - done, seen.len())
    }

    fn history(secs: &[f64]) -> Expected {
        Expected::from_samples(&secs.iter().map(|&x| s(x)).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn without_history_the_plan_is_the_policy_read_by_time() {
        for policy in [
            dashscope(),
            PollPolicy {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(10),
                factor: 1.0,
            },
            PollPolicy {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(400),
                factor: 2.0,
            },
        ] {
            let plan = PollPlan::new(policy, None);
            let mut t = Duration::ZERO;
            for n in 0..30 {
                let d = plan.delay(t);
                assert!(close(d, policy.delay(n)), "{policy:?} poll {n}: {d:?}");
                t += d;
            }
        }
    }

    #[test]
    fn a_resumed_job_keeps_its_place_in_the_schedule() {
        let plan = PollPlan::new(dashscope(), None);
        assert_eq!(
            plan.delay(Duration::from_secs(600)),
            Duration::from_secs(15)
        );
        assert!(close(plan.delay(Duration::from_secs(5)), s(4.5)));
    }

    #[test]
    fn percentiles_need_five_jobs() {
        assert_eq!(Expected::from_samples(&[s(1.0); 4]), None);
        let e = history(&[
            50.0, 10.0, 40.0, 20.0, 30.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0,
        ]);
        assert_eq!(e.samples, 11);
        assert_eq!(e.fastest, s(10.0));
        assert_eq!((e.p10, e.p50, e.p90), (s(20.0), s(60.0), s(100.0)));
        // Between order statistics: linear.
        let e = history(&[10.0, 20.0, 30.0, 40.0, 50.0]);
        assert!(close(e.p10, s(14.0)) && close(e.p90, s(46.0)));
    }

    #[test]
    fn a_learned_plan_polls_early_sleeps_then_polls_briskly_where_jobs_finished() {
        // Twenty 5 s wan videos that took 88–112 s.
        let times: Vec<f64> = (0..20).map(|i| 88.0 + 24.0 * f64::from(i) / 19.0).collect();
        let plan = PollPlan::new(dashscope(), Some(&history(&times)));
        let w = plan.window().unwrap();
        assert!(w.cadence <= WINDOW_CADENCE_CAP && w.cadence >= Duration::from_secs(2));
        assert!(w.start < s(88.0) && w.start > s(80.0), "{w:?}");
        assert!(w.end > s(112.0), "{w:?}");
        let seen = polls(&plan, s(100.0));
        // Two early polls on the policy (quick failures), then the window's opening.
        assert!(close(seen[0], s(2.0)) && close(seen[1], s(5.0)), "{seen:?}");
        assert!(close(seen[2], w.start), "{seen:?}");
        // A job that finishes where the others did: seen within the cadence, with far fewer
        // requests than the policy alone (or the SDK) would make.
        let (late, requests) = follow(&plan, s(100.0));
        let (base_late, base_requests) = follow(&PollPlan::new(dashscope(), None), s(100.0));
        assert!(late <= w.cadence, "{late:?}");
        assert!(requests < base_requests, "{requests} vs {base_requests}");
        assert!(requests <= 8, "{requests}");
        assert!(base_late <= Duration::from_secs(15));
    }

    #[test]
    fn a_job_slower_than_its_history_falls_back_to_the_policy_backoff() {
        let plan = PollPlan::new(dashscope(), Some(&history(&[60.0; 20])));
        let w = plan.window().unwrap();
        let after = w.end + Duration::from_secs(600);
        assert_eq!(plan.delay(after), Duration::from_secs(15));
        // Growing, not jumping.
        let just_after = plan.delay(w.end + Duration::from_secs(1));
        assert!(just_after > w.cadence && just_after < Duration::from_secs(15));
    }

    #[test]
    fn a_job_quicker_than_its_history_is_seen_at_the_opening() {
        let plan = PollPlan::new(dashscope(), Some(&history(&[100.0; 20])));
        let w = plan.window().unwrap();
        let (late, _) = follow(&plan, s(40.0));
        assert!(close(s(40.0) + late, w.start));
    }

    fn policy() -> impl Strategy<Value = PollPolicy> {
        (1u64..20_000, 1u64..120_000, 1.0f64..3.0).prop_map(|(initial, max, factor)| PollPolicy {
            initial: Duration::from_millis(initial),
            max: Duration::from_millis(initial.max(max)),
            factor,
        })
    }

    fn samples() -> impl Strategy<Value = Vec<Duration>> {
        prop::collection::vec(0u64..3_600_000, 5..40)
            .prop_map(|v| v.into_iter().map(Duration::from_millis).collect())
    }

    proptest! {
        #[test]
        fn a_delay_is_never_zero_and_never_beyond_the_policy_max_but_for_the_sleep_to_the_window(
            policy in policy(),
            samples in samples(),
            elapsed in 0u64..10_000_000,
        ) {
            let expected = Expected::from_samples(&samples).unwrap();
            let t = Duration::from_millis(elapsed);
            for plan in [PollPlan::new(policy, None), PollPlan::new(policy, Some(&expected))] {
                let d = plan.delay(t);
                prop_assert!(d > Duration::ZERO);
                let to_window = plan.window().is_some_and(|w| t < w.start && close(t + d, w.start));
                prop_assert!(d <= policy.max || to_window, "{d:?} at {t:?}: {plan:?}");
                if let Some(w) = plan.window()
                    && t >= w.start
                    && t < w.end
                {
                    prop_assert!(d <= WINDOW_CADENCE_CAP, "{d:?} at {t:?}: {w:?}");
                }
            }
        }

        #[test]
        fn a_job_done_inside_the_window_is_seen_within_the_cadence_cap(
            policy in policy(),
            samples in samples(),
            at in 0.0f64..1.0,
        ) {
            let plan = PollPlan::new(policy, Some(&Expected::from_samples(&samples).unwrap()));
            let w = plan.window().unwrap();
            let done = w.start + (w.end - w.start).mul_f64(at);
            let (late, _) = follow(&plan, done);
            prop_assert!(late <= w.cadence + Duration::from_millis(1), "{late:?} for {done:?}: {w:?}");
            prop_assert!(w.cadence <= WINDOW_CADENCE_CAP);
        }

        #[test]
        fn without_history_a_job_is_seen_within_the_policy_max(
            policy in policy(),
            done in 0u64..3_600_000,
        ) {
            let (late, _) = follow(&PollPlan::new(policy, None), Duration::from_millis(done));
            prop_assert!(late <= policy.max + Duration::from_millis(1));
        }
    }
}
