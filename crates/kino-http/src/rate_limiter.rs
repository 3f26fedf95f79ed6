use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces requests evenly so that no more than `per_second` leave in any second, however many
/// jobs share it (DashScope allows 20 task queries per second per account).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn per_second(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Self {
            interval: Duration::from_secs(1) / per_second,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = if *next > now { *next } else { now };
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced() {
        let rl = RateLimiter::per_second(20);
        let start = Instant::now();
        for _ in 0..21 {
            rl.acquire().await;
        }
        // 21 slots at 50 ms spacing: the last one starts at 1 s.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
