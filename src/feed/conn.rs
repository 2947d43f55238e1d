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

use super::{Counters, FeedConfig, Gate, Item, Plan, Registry};
use crate::model::{Symbol, Venue};
use crate::net::backoff::MAX_RETRY_AFTER;
use crate::net::{Backoff, http};
use crate::record::DELIBERATE_CLOSE;
use crate::venues::Resync;
use futures::{SinkExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Most REST snapshot requests in flight on one connection.
const MAX_FETCHES: usize = 16;

/// How long to wait before trying a failed replacement connection again.
const REPLACE_RETRY: Duration = Duration::from_secs(30);

/// Why a connection could not be opened (or subscribed).
struct Failed {
    reason: String,
    /// Server-imposed wait (429/418 Retry-After).
    retry_after: Option<Duration>,
    /// The WebSocket was open (an `open` record was written) when it failed.
    opened: bool,
}

/// How a session ended.
enum Outcome {
    /// Shutdown asked for.
    Shutdown,
    /// Replaced by an already open and subscribed session (venue age limit).
    Replaced {
        conn: Arc<str>,
        ws: Box<Ws>,
        age: Duration,
    },
    /// Lost: closed by the server, an error, a half-open socket.
    Lost {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// What a session delivered and how it ended.
struct Ended {
    outcome: Outcome,
    /// Data frames it delivered (a session that delivered resets backoff).
    frames: u64,
}

/// Removes a connection's command sender from the registry when its
/// session ends, however it ends.
struct Registered {
    registry: Registry,
    conn: Arc<str>,
}

impl Registered {
    fn new(registry: &Registry, conn: &Arc<str>, tx: mpsc::Sender<Symbol>) -> Registered {
        registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conn.clone(), tx);
        Registered {
            registry: registry.clone(),
            conn: conn.clone(),
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.conn);
    }
}

/// Runs one planned connection until `stop` turns true. Sessions are named
/// `<id_prefix>#<n>` (see [`crate::record::conn_family`]).
pub(crate) async fn run(
    plan: Plan,
    cfg: Arc<FeedConfig>,
    gate: Arc<Gate>,
    registry: Registry,
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
    let mut ready: Option<(Arc<str>, Box<Ws>)> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let (conn, ws) = match ready.take() {
            Some(r) => r,
            None => {
                n += 1;
                let conn: Arc<str> = Arc::from(format!("{id_prefix}#{n}"));
                let opened = tokio::select! {
                    r = open(&plan, &cfg, &gate, &conn) => r,
                    _ = stop.changed() => return,
                };
                match opened {
                    Ok(ws) => (conn, ws),
                    Err(f) => {
                        let (attempt, delay) = backoff.next_after(f.retry_after);
                        let plan_text = format!(
                            "{}; reconnect attempt {attempt}, next try in {:.3} s",
                            f.reason,
                            delay.as_secs_f64()
                        );
                        if f.opened {
                            Counters::add(&gate.counters.closes, 1);
                            gate.control(plan.venue, &conn, || Item::Close(plan_text.clone()))
                                .await;
                        }
                        Counters::add(&gate.counters.connect_failures, 1);
                        tracing::warn!(venue = plan.venue.id(), url = %plan.url, "connect failed: {plan_text}");
                        tokio::select! {
                            _ = sleep(delay) => {}
                            _ = stop.changed() => return,
                        }
                        continue;
                    }
                }
            }
        };
        let ended = read(
            &plan, &cfg, &gate, &registry, &conn, ws, &mut stop, &id_prefix, &mut n,
        )
        .await;
        if ended.frames > 0 {
            backoff.reset();
        }
        Counters::add(&gate.counters.closes, 1);
        match ended.outcome {
            Outcome::Shutdown => {
                gate.control(plan.venue, &conn, || {
                    Item::Close(format!("{DELIBERATE_CLOSE}; shutdown, no retry"))
                })
                .await;
                return;
            }
            Outcome::Replaced {
                conn: next,
                ws,
                age,
            } => {
                let text = format!(
                    "{DELIBERATE_CLOSE}: replaced by {next} after {:.0} s, before the venue's connection age limit",
                    age.as_secs_f64()
                );
                tracing::info!(venue = plan.venue.id(), conn = %conn, "{text}");
                gate.control(plan.venue, &conn, || Item::Close(text.clone()))
                    .await;
                ready = Some((next, ws));
            }
            Outcome::Lost {
                reason,
                retry_after,
            } => {
                let (attempt, delay) = backoff.next_after(retry_after);
                let plan_text = format!(
                    "{reason}; reconnect attempt {attempt}, next try in {:.3} s",
                    delay.as_secs_f64()
                );
                tracing::warn!(venue = plan.venue.id(), conn = %conn, "connection closed: {plan_text}");
                gate.control(plan.venue, &conn, || Item::Close(plan_text.clone()))
                    .await;
                tokio::select! {
                    _ = sleep(delay) => {}
                    _ = stop.changed() => return,
                }
            }
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

/// Opens and subscribes one session (within the venue's connect rate),
/// writing its `open` and `sent` records.
async fn open(
    plan: &Plan,
    cfg: &FeedConfig,
    gate: &Gate,
    conn: &Arc<str>,
) -> Result<Box<Ws>, Failed> {
    plan.connect_limit.acquire().await;
    let connect =
        tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(ws_config(cfg)), true);
    let mut ws = match timeout(Duration::from_millis(cfg.connect_timeout_ms), connect).await {
        Ok(Ok((ws, _resp))) => Box::new(ws),
        Ok(Err(e)) => {
            return Err(Failed {
                retry_after: retry_after(&e),
                reason: format!("connect failed: {}", describe(&e)),
                opened: false,
            });
        }
        Err(_) => {
            return Err(Failed {
                reason: format!("connect timed out after {} ms", cfg.connect_timeout_ms),
                retry_after: None,
                opened: false,
            });
        }
    };
    Counters::add(&gate.counters.opens, 1);
    tracing::info!(venue = plan.venue.id(), conn = %conn, url = %plan.url, "connected");
    gate.control(plan.venue, conn, || Item::Open(plan.url.clone()))
        .await;
    for text in &plan.subscribe {
        if let Err(e) = ws.send(Message::text(text.clone())).await {
            return Err(Failed {
                reason: format!("subscribe failed: {}", describe(&e)),
                retry_after: None,
                opened: true,
            });
        }
        gate.control(plan.venue, conn, || Item::Sent(text.clone()))
            .await;
    }
    Ok(ws)
}

/// A replacement session being opened while the old one still reads.
type Opening<'a> = Pin<Box<dyn Future<Output = Result<Box<Ws>, Failed>> + Send + 'a>>;

type Fetched = (Symbol, String, Result<http::Response, http::HttpError>);

/// Reads one session until it ends: frames into the engine queue, pings,
/// book resyncs asked for by the engine, and (for venues with a connection
/// age limit) a replacement opened before the limit.
#[allow(clippy::too_many_arguments)]
async fn read(
    plan: &Plan,
    cfg: &FeedConfig,
    gate: &Gate,
    registry: &Registry,
    conn: &Arc<str>,
    mut ws: Box<Ws>,
    stop: &mut watch::Receiver<bool>,
    id_prefix: &str,
    n: &mut u64,
) -> Ended {
    let mut frames = 0u64;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Symbol>(64);
    let _registered = Registered::new(registry, conn, cmd_tx);
    let mut fetches: JoinSet<Fetched> = JoinSet::new();
    let mut fetching: Vec<Symbol> = Vec::new();
    let started = Instant::now();
    let mut replace_at = plan
        .proto
        .max_connection_age()
        .map(|age| started + age.saturating_sub(Duration::from_secs(cfg.replace_before_s)));
    let mut replacing: Option<(Arc<str>, Opening<'_>)> = None;
    let ping_every = Duration::from_millis(cfg.ping_interval_ms);
    let idle_limit = Duration::from_millis(cfg.ping_timeout_ms);
    let mut last_rx = Instant::now();
    let data_limit = Duration::from_millis(cfg.data_timeout_ms);
    let mut last_data = Instant::now();
    let mut next_ping = Instant::now() + ping_every;
    let app_ping_every = plan.app_ping.as_ref().map(|(d, _)| *d);
    let mut next_app_ping = app_ping_every.map(|d| Instant::now() + d);
    let venue: Venue = plan.venue;
    let lost = |reason: String, frames: u64| Ended {
        outcome: Outcome::Lost {
            reason,
            retry_after: None,
        },
        frames,
    };
    loop {
        let app_due = next_app_ping.unwrap_or(next_ping + ping_every);
        let replace_due = replace_at.unwrap_or(next_ping + ping_every);
        tokio::select! {
            msg = ws.next() => match msg {
                None => return lost("connection ended without a close frame".into(), frames),
                Some(Err(e)) => return lost(format!("read error: {}", describe(&e)), frames),
                Some(Ok(m)) => {
                    last_rx = Instant::now();
                    match m {
                        Message::Text(t) => {
                            last_data = Instant::now();
                            frames += 1;
                            Counters::add(&gate.counters.frames, 1);
                            Counters::add(&gate.counters.frame_bytes, t.len() as u64);
                            gate.frame(venue, conn, Item::Frame(t));
                        }
                        Message::Binary(b) => {
                            last_data = Instant::now();
                            frames += 1;
                            Counters::add(&gate.counters.frames, 1);
                            Counters::add(&gate.counters.frame_bytes, b.len() as u64);
                            gate.frame(venue, conn, Item::Binary(b));
                        }
                        Message::Close(frame) => {
                            let reason = match frame {
                                Some(f) => format!("closed by server: {} {}", u16::from(f.code), f.reason),
                                None => "closed by server".into(),
                            };
                            return lost(reason, frames);
                        }
                        // tungstenite queues the pong itself; any frame
                        // proves the socket is alive.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            },
            _ = sleep_until(next_ping) => {
                if last_rx.elapsed() >= idle_limit {
                    return lost(format!(
                        "nothing received for {} ms (half-open socket?), dropped",
                        idle_limit.as_millis()
                    ), frames);
                }
                if last_data.elapsed() >= data_limit {
                    return lost(format!(
                        "no message for {} ms although the socket answers pings (stalled stream), reconnecting",
                        data_limit.as_millis()
                    ), frames);
                }
                next_ping = Instant::now() + ping_every;
                match timeout(ping_every, ws.send(Message::Ping(Bytes::new()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return lost(format!("ping failed: {}", describe(&e)), frames),
                    Err(_) => return lost("ping could not be sent (socket blocked), dropped".into(), frames),
                }
            }
            _ = sleep_until(app_due), if next_app_ping.is_some() => {
                if let (Some((every, text)), Some(_)) = (&plan.app_ping, next_app_ping) {
                    next_app_ping = Some(Instant::now() + *every);
                    if let Err(e) = ws.send(Message::text(text.clone())).await {
                        return lost(format!("application ping failed: {}", describe(&e)), frames);
                    }
                    gate.control(venue, conn, || Item::Sent(text.clone())).await;
                }
            }
            Some(symbol) = cmd_rx.recv() => {
                match plan.proto.resync(&symbol) {
                    Some(Resync::Rest { request, .. })
                        if fetching.len() < MAX_FETCHES && !fetching.contains(&symbol) => {
                            fetching.push(symbol.clone());
                            let url = format!("{}{}", plan.rest_base, request);
                            let limit = plan.rest_limit.clone();
                            let wait = Duration::from_millis(cfg.rest_timeout_ms);
                            let max = cfg.max_message_bytes;
                            fetches.spawn(async move {
                                limit.acquire().await;
                                (symbol, request, http::get(&url, wait, max).await)
                            });
                    }
                    Some(Resync::Frames(texts)) => {
                        Counters::add(&gate.counters.resubscribes, 1);
                        for text in texts {
                            if let Err(e) = ws.send(Message::text(text.clone())).await {
                                return lost(format!("resubscribe failed: {}", describe(&e)), frames);
                            }
                            gate.control(venue, conn, || Item::Sent(text.clone())).await;
                        }
                    }
                    Some(Resync::Rest { .. }) | None => {}
                }
            }
            Some(joined) = fetches.join_next(), if !fetches.is_empty() => {
                let Ok((symbol, request, result)) = joined else {
                    continue;
                };
                fetching.retain(|s| *s != symbol);
                match result {
                    Ok(resp) if resp.status == 200 => {
                        Counters::add(&gate.counters.rest_fetched, 1);
                        gate.control(venue, conn, || Item::Rest {
                            request: request.clone(),
                            body: resp.body.clone(),
                        })
                        .await;
                    }
                    Ok(resp) => {
                        Counters::add(&gate.counters.rest_failed, 1);
                        if resp.status == 429 || resp.status == 418 {
                            let wait = Duration::from_secs(resp.retry_after_s.unwrap_or(60));
                            plan.rest_limit.pause(wait.min(MAX_RETRY_AFTER));
                        }
                        tracing::warn!(venue = venue.id(), %symbol, "snapshot request {request} answered HTTP {}", resp.status);
                    }
                    Err(e) => {
                        Counters::add(&gate.counters.rest_failed, 1);
                        tracing::warn!(venue = venue.id(), %symbol, "snapshot request {request} failed: {e}");
                    }
                }
            }
            _ = sleep_until(replace_due), if replace_at.is_some() && replacing.is_none() => {
                *n += 1;
                let next: Arc<str> = Arc::from(format!("{id_prefix}#{n}"));
                let id = next.clone();
                replacing = Some((next, Box::pin(async move { open(plan, cfg, gate, &id).await })));
                replace_at = None;
            }
            r = async { match replacing.as_mut() { Some((_, f)) => f.await, None => std::future::pending().await } }, if replacing.is_some() => {
                let Some((next, _)) = replacing.take() else {
                    continue;
                };
                match r {
                    Ok(new_ws) => {
                        // The replacement is open and subscribed: stop
                        // reading this one and hand over.
                        let _ = timeout(Duration::from_secs(1), (*ws).close(None)).await;
                        return Ended {
                            outcome: Outcome::Replaced { conn: next, ws: new_ws, age: started.elapsed() },
                            frames,
                        };
                    }
                    Err(f) => {
                        tracing::warn!(venue = venue.id(), conn = %next, "replacement connection failed: {}", f.reason);
                        if f.opened {
                            gate.control(venue, &next, || Item::Close(format!("{}; the old connection is kept", f.reason))).await;
                        }
                        replace_at = Some(Instant::now() + REPLACE_RETRY);
                    }
                }
            }
            _ = stop.changed() => {
                // A polite close, bounded: a dead peer must not hold shutdown.
                let _ = timeout(Duration::from_secs(1), (*ws).close(None)).await;
                return Ended { outcome: Outcome::Shutdown, frames };
            }
        }
    }
}
