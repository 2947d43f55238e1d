//! One venue connection, kept alive: connect, subscribe, read frames into
//! the engine queue, ping, detect half-open sockets, reconnect with capped
//! exponential backoff and full jitter (honouring HTTP 429/418 and
//! `Retry-After` on the handshake).
//!
//! Every opened connection gets a fresh id and writes `open`, `sent` and
//! `close` records; the `close` reason says why and what happens next. It
//! must never exit before shutdown, never block on the engine queue, and
//! never read an oversized message into memory (tungstenite refuses it
//! from the frame header).

use super::{Counters, FeedConfig, Gate, Item, Plan};
use crate::model::Venue;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

/// Longest `Retry-After` honoured (a ban longer than this is retried then).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Capped exponential backoff with full jitter: attempt `n` waits a uniform
/// time in `[0, min(max, initial * 2^(n-1))]`.
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
            // xorshift needs a non-zero state.
            rng: seed | 1,
        }
    }

    /// The next attempt number and its delay.
    pub(crate) fn next(&mut self) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let shift = self.attempt.saturating_sub(1).min(30);
        let bound = self.initial.saturating_mul(1u32 << shift).min(self.max);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        (self.attempt, bound.mul_f64(frac))
    }

    /// A connection that delivered data resets the schedule.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How one connection ended.
struct Ended {
    reason: String,
    /// Data frames it delivered (a connection that delivered resets backoff).
    frames: u64,
    /// Server-imposed wait (429/418 Retry-After).
    retry_after: Option<Duration>,
    shutdown: bool,
    opened: bool,
}

/// Runs one planned connection until `stop` turns true.
pub(crate) async fn run(
    plan: Plan,
    cfg: Arc<FeedConfig>,
    gate: Arc<Gate>,
    mut stop: watch::Receiver<bool>,
    id_prefix: String,
) {
    let seed =
        super::wall_ns() as u64 ^ (id_prefix.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut backoff = Backoff::new(
        Duration::from_millis(cfg.backoff_initial_ms),
        Duration::from_millis(cfg.backoff_max_ms),
        seed,
    );
    let mut n: u64 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        n += 1;
        let conn: Arc<str> = Arc::from(format!("{id_prefix}-{n}"));
        let ended = connect_and_read(&plan, &cfg, &gate, &conn, &mut stop).await;
        if ended.frames > 0 {
            backoff.reset();
        }
        if ended.shutdown {
            if ended.opened {
                Counters::add(&gate.counters.closes, 1);
                gate.control(
                    plan.venue,
                    &conn,
                    Item::Close,
                    format!("{}; shutdown, no retry", ended.reason),
                )
                .await;
            }
            return;
        }
        let (attempt, jitter) = backoff.next();
        let delay = match ended.retry_after {
            Some(ra) => ra.min(MAX_RETRY_AFTER).max(jitter),
            None => jitter,
        };
        let plan_text = format!(
            "{}; reconnect attempt {attempt}, next try in {:.3} s",
            ended.reason,
            delay.as_secs_f64()
        );
        if ended.opened {
            Counters::add(&gate.counters.closes, 1);
            tracing::warn!(venue = plan.venue.id(), conn = %conn, "connection closed: {plan_text}");
            gate.control(plan.venue, &conn, Item::Close, plan_text)
                .await;
        } else {
            Counters::add(&gate.counters.connect_failures, 1);
            tracing::warn!(venue = plan.venue.id(), url = %plan.url, "connect failed: {plan_text}");
        }
        tokio::select! {
            _ = sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

fn ws_config(cfg: &FeedConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
}

/// The `Retry-After` of a refused handshake with status 429 or 418.
fn retry_after(e: &WsError) -> Option<Duration> {
    let WsError::Http(resp) = e else {
        return None;
    };
    let status = resp.status().as_u16();
    if status != 429 && status != 418 {
        return None;
    }
    let secs = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        // Told to back off without a time: wait at least a minute.
        .unwrap_or(60);
    Some(Duration::from_secs(secs))
}

fn describe(e: &WsError) -> String {
    match e {
        WsError::Http(resp) => format!("handshake refused: HTTP {}", resp.status()),
        WsError::Capacity(c) => format!("message too large, connection dropped: {c}"),
        other => other.to_string(),
    }
}

async fn connect_and_read(
    plan: &Plan,
    cfg: &FeedConfig,
    gate: &Gate,
    conn: &Arc<str>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut ended = Ended {
        reason: String::new(),
        frames: 0,
        retry_after: None,
        shutdown: false,
        opened: false,
    };
    let connect =
        tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(ws_config(cfg)), true);
    let mut ws = tokio::select! {
        r = timeout(Duration::from_millis(cfg.connect_timeout_ms), connect) => match r {
            Ok(Ok((ws, _resp))) => ws,
            Ok(Err(e)) => {
                ended.retry_after = retry_after(&e);
                ended.reason = format!("connect failed: {}", describe(&e));
                return ended;
            }
            Err(_) => {
                ended.reason = format!("connect timed out after {} ms", cfg.connect_timeout_ms);
                return ended;
            }
        },
        _ = stop.changed() => {
            ended.shutdown = true;
            ended.reason = "shutdown while connecting".into();
            return ended;
        }
    };
    ended.opened = true;
    Counters::add(&gate.counters.opens, 1);
    tracing::info!(venue = plan.venue.id(), conn = %conn, url = %plan.url, "connected");
    gate.control(plan.venue, conn, Item::Open, plan.url.clone())
        .await;
    for text in &plan.subscribe {
        if let Err(e) = ws.send(Message::text(text.clone())).await {
            ended.reason = format!("subscribe failed: {}", describe(&e));
            return ended;
        }
        gate.control(plan.venue, conn, Item::Sent, text.clone())
            .await;
    }
    let ping_every = Duration::from_millis(cfg.ping_interval_ms);
    let idle_limit = Duration::from_millis(cfg.ping_timeout_ms);
    let mut last_rx = Instant::now();
    let mut next_ping = Instant::now() + ping_every;
    let app_ping_every = plan.app_ping.as_ref().map(|(d, _)| *d);
    let mut next_app_ping = app_ping_every.map(|d| Instant::now() + d);
    let venue: Venue = plan.venue;
    loop {
        let app_due = next_app_ping.unwrap_or(next_ping + ping_every);
        tokio::select! {
            msg = ws.next() => match msg {
                None => {
                    ended.reason = "connection ended without a close frame".into();
                    break;
                }
                Some(Err(e)) => {
                    ended.reason = format!("read error: {}", describe(&e));
                    break;
                }
                Some(Ok(m)) => {
                    last_rx = Instant::now();
                    match m {
                        Message::Text(t) => {
                            ended.frames += 1;
                            Counters::add(&gate.counters.frames, 1);
                            Counters::add(&gate.counters.frame_bytes, t.len() as u64);
                            gate.frame(venue, conn, Item::Frame(t));
                        }
                        Message::Binary(b) => {
                            ended.frames += 1;
                            Counters::add(&gate.counters.frames, 1);
                            Counters::add(&gate.counters.frame_bytes, b.len() as u64);
                            gate.frame(venue, conn, Item::Binary(b));
                        }
                        Message::Close(frame) => {
                            ended.reason = match frame {
                                Some(f) => format!("closed by server: {} {}", u16::from(f.code), f.reason),
                                None => "closed by server".into(),
                            };
                            break;
                        }
                        // tungstenite queues the pong itself; any frame
                        // proves the socket is alive.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            },
            _ = sleep_until(next_ping) => {
                if last_rx.elapsed() >= idle_limit {
                    ended.reason = format!(
                        "nothing received for {} ms (half-open socket?), dropped",
                        idle_limit.as_millis()
                    );
                    break;
                }
                next_ping = Instant::now() + ping_every;
                match timeout(ping_every, ws.send(Message::Ping(Bytes::new()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        ended.reason = format!("ping failed: {}", describe(&e));
                        break;
                    }
                    Err(_) => {
                        ended.reason = "ping could not be sent (socket blocked), dropped".into();
                        break;
                    }
                }
            }
            _ = sleep_until(app_due), if next_app_ping.is_some() => {
                if let (Some((every, text)), Some(_)) = (&plan.app_ping, next_app_ping) {
                    next_app_ping = Some(Instant::now() + *every);
                    if let Err(e) = ws.send(Message::text(text.clone())).await {
                        ended.reason = format!("application ping failed: {}", describe(&e));
                        break;
                    }
                    gate.control(venue, conn, Item::Sent, text.clone()).await;
                }
            }
            _ = stop.changed() => {
                ended.shutdown = true;
                ended.reason = "closed by feedwatch".into();
                // A polite close, bounded: a dead peer must not hold shutdown.
                let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
                break;
            }
        }
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_below_a_doubling_capped_bound() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 42);
        let mut delays = Vec::new();
        for n in 1..=8u32 {
            let (attempt, d) = b.next();
            assert_eq!(attempt, n);
            let bound = Duration::from_millis((100u64 << (n - 1)).min(1000));
            assert!(d <= bound, "attempt {n}: {d:?} > {bound:?}");
            delays.push(d);
        }
        // Full jitter: not all the same.
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
        b.reset();
        assert_eq!(b.next().0, 1);
    }
}
