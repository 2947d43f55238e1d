//! The one retry schedule: capped exponential backoff with full jitter,
//! used by the live connections (reconnects) and the alert webhook
//! (redelivery). Seeded, so a test sees the same delays every run.
//!
//! It only computes delays; it never sleeps and never decides whether to
//! retry.

use std::time::Duration;

/// Longest `Retry-After` honoured (a ban longer than this is retried then).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Capped exponential backoff with full jitter: attempt `n` waits a uniform
/// time in `[0, min(max, initial * 2^(n-1))]`.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
            // xorshift needs a non-zero state.
            rng: seed | 1,
        }
    }

    /// The next attempt number and its delay.
    fn step(&mut self) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let shift = self.attempt.saturating_sub(1).min(30);
        let bound = self.initial.saturating_mul(1u32 << shift).min(self.max);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        (self.attempt, bound.mul_f64(frac))
    }

    /// The next attempt number and its delay, never sooner than a
    /// server's `Retry-After` (itself capped at an hour).
    pub fn next_after(&mut self, retry_after: Option<Duration>) -> (u32, Duration) {
        let (attempt, jitter) = self.step();
        let delay = match retry_after {
            Some(ra) => ra.min(MAX_RETRY_AFTER).max(jitter),
            None => jitter,
        };
        (attempt, delay)
    }

    /// A success resets the schedule.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_below_a_doubling_capped_bound() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 42);
        let mut delays = Vec::new();
        for n in 1..=8u32 {
            let (attempt, d) = b.step();
            assert_eq!(attempt, n);
            let bound = Duration::from_millis((100u64 << (n - 1)).min(1000));
            assert!(d <= bound, "attempt {n}: {d:?} > {bound:?}");
            delays.push(d);
        }
        // Full jitter: not all the same.
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
        b.reset();
        assert_eq!(b.step().0, 1);
    }

    #[test]
    fn retry_after_is_honoured_up_to_an_hour() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 7);
        assert_eq!(
            b.next_after(Some(Duration::from_secs(5))).1,
            Duration::from_secs(5)
        );
        assert_eq!(
            b.next_after(Some(Duration::from_secs(86_400))).1,
            MAX_RETRY_AFTER
        );
        assert!(b.next_after(None).1 <= Duration::from_millis(400));
    }
}
