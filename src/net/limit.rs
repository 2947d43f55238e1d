//! Token-bucket rate limits shared by the connections of one venue: new
//! connections (a reconnect storm after an outage must not trip the venue's
//! connection limits) and REST snapshot requests (request weight limits).
//!
//! A limit never lets more than `burst` starts through at once nor more than
//! `rate` per second on average, and a server's `Retry-After` pauses it. It
//! must never block a thread: waiting is an async sleep.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// No token is handed out before this (a server asked us to wait).
    paused_until: Option<Instant>,
}

impl RateLimit {
    /// A full bucket of `burst` tokens refilled at `rate_per_s`.
    pub fn new(rate_per_s: f64, burst: u32) -> RateLimit {
        let burst = f64::from(burst.max(1));
        RateLimit {
            rate: if rate_per_s.is_finite() && rate_per_s > 0.0 {
                rate_per_s
            } else {
                1.0
            },
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Takes a token now, or says how long to wait for one.
    fn try_take(&self) -> Result<(), Duration> {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(until) = b.paused_until {
            if now < until {
                return Err(until - now);
            }
            b.paused_until = None;
        }
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Takes a token if one is available now.
    pub fn try_acquire(&self) -> bool {
        self.try_take().is_ok()
    }

    /// Hands out nothing for `d` (a server's `Retry-After`).
    pub fn pause(&self, d: Duration) {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + d;
        b.paused_until = Some(b.paused_until.map_or(until, |u| u.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_burst_plus_the_rate() {
        let limit = RateLimit::new(4.0, 3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..11 {
            limit.acquire().await;
            at.push(start.elapsed());
        }
        // The burst goes at once; then one every 250 ms.
        assert!(at[2] < Duration::from_millis(1), "{at:?}");
        for (i, t) in at.iter().enumerate().skip(3) {
            let due = Duration::from_millis(250 * (i as u64 - 2));
            assert!(*t + Duration::from_millis(1) >= due, "start {i} at {t:?}");
            assert!(*t <= due + Duration::from_millis(5), "start {i} at {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_start() {
        let limit = RateLimit::new(100.0, 10);
        assert!(limit.try_acquire());
        limit.pause(Duration::from_secs(2));
        assert!(!limit.try_acquire());
        let start = Instant::now();
        limit.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
