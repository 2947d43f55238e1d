//! One venue connection, kept alive: connect, subscribe, read frames into
//! the engine queue, ping, detect half-open sockets, reconnect with capped
//! exponential backoff and full jitter (honouring HTTP 429/418 and
//! `Retry-After` on the handshake).
//!
//! Every attempt gets a fresh id; an opened connection writes `open`,
//! `sent` and `close` records, an attempt that fails before the WebSocket
//! is open a `fail` record (see `connect.rs` for its words); either reason
//! says why and what happens next. It
//! must never exit before shutdown, never block on the engine queue, and
//! never read an oversized message into memory (tungstenite refuses it
//! from the frame header).

use super::connect::{self, Ws};
use super::{Counters, FeedConfig, Gate, Item, Plan, Registry};
use crate::model::{Symbol, Venue};
use crate::net::backoff::MAX_RETRY_AFTER;
use crate::net::{Backoff, http};
use crate::record::{DELIBERATE_CLOSE, RETRY_PLAN};
use crate::venues::Resync;
use futures::{SinkExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

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
                            "{}{RETRY_PLAN}{attempt}, next try in {:.3} s",
                            f.reason,
                            delay.as_secs_f64()
                        );
                        attempt_failed(&plan, &gate, &conn, f.opened, &plan_text).await;
                        tokio::select! {
                            _ = sleep(delay) => {}
                            _ = stop.changed() => return,
                        }
                        continue;
                    }
                }
            }
        };
        let link = Link {
            plan: &plan,
            cfg: &cfg,
            gate: &gate,
            registry: &registry,
            id_prefix: &id_prefix,
        };
        let ended = read(link, &conn, ws, &mut stop, &mut n).await;
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
                    "{reason}{RETRY_PLAN}{attempt}, next try in {:.3} s",
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

/// Records an attempt that failed, with `text` (why, and the retry plan):
/// a `close` when its WebSocket had opened (the subscribe failed), else a
/// `fail` record. The engine hears of every failed attempt: a venue that
/// cannot be reached is an incident, not a log line.
async fn attempt_failed(plan: &Plan, gate: &Gate, conn: &Arc<str>, opened: bool, text: &str) {
    if opened {
        Counters::add(&gate.counters.closes, 1);
        gate.control(plan.venue, conn, || Item::Close(text.to_owned()))
            .await;
    } else {
        gate.control(plan.venue, conn, || Item::ConnectFailed(text.to_owned()))
            .await;
    }
    Counters::add(&gate.counters.connect_failures, 1);
    tracing::warn!(venue = plan.venue.id(), url = %plan.url, "connect failed: {text}");
}

fn ws_config(cfg: &FeedConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
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
    let limit = Duration::from_millis(cfg.connect_timeout_ms);
    let mut ws = match connect::connect(&plan.url, ws_config(cfg), limit).await {
        Ok(ws) => Box::new(ws),
        Err(e) => {
            return Err(Failed {
                reason: e.reason,
                retry_after: e.retry_after,
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

/// What a session reads with: its connection's plan and settings, the
/// engine queue, the resync registry, and the prefix its replacement is
/// named from.
#[derive(Clone, Copy)]
struct Link<'a> {
    plan: &'a Plan,
    cfg: &'a FeedConfig,
    gate: &'a Gate,
    registry: &'a Registry,
    id_prefix: &'a str,
}

/// Reads one session until it ends: frames into the engine queue, pings,
/// book resyncs asked for by the engine, and (for venues with a connection
/// age limit) a replacement opened before the limit.
async fn read(
    link: Link<'_>,
    conn: &Arc<str>,
    mut ws: Box<Ws>,
    stop: &mut watch::Receiver<bool>,
    n: &mut u64,
) -> Ended {
    let Link {
        plan,
        cfg,
        gate,
        registry,
        id_prefix,
    } = link;
    let mut frames = 0u64;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Symbol>(64);
    let _registered = Registered::new(registry, conn, cmd_tx);
    let mut fetches: JoinSet<Fetched> = JoinSet::new();
    let mut fetching: Vec<Symbol> = Vec::new();
    let started = Instant::now();
    let mut replace_at = replace_time(plan, cfg, started);
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
                            deliver(gate, venue, conn, t.len(), Item::Frame(t));
                        }
                        Message::Binary(b) => {
                            last_data = Instant::now();
                            frames += 1;
                            deliver(gate, venue, conn, b.len(), Item::Binary(b));
                        }
                        Message::Close(frame) => return lost(closed_reason(frame), frames),
                        // tungstenite queues the pong itself; any frame
                        // proves the socket is alive.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            },
            _ = sleep_until(next_ping) => {
                if let Some(reason) = silent(last_rx, idle_limit, last_data, data_limit) {
                    return lost(reason, frames);
                }
                next_ping = Instant::now() + ping_every;
                if let Err(reason) = ping(&mut ws, ping_every).await {
                    return lost(reason, frames);
                }
            }
            _ = sleep_until(app_due), if next_app_ping.is_some() => {
                if let (Some((every, text)), Some(_)) = (&plan.app_ping, next_app_ping) {
                    next_app_ping = Some(Instant::now() + *every);
                    if let Err(reason) = app_ping(gate, venue, conn, &mut ws, text).await {
                        return lost(reason, frames);
                    }
                }
            }
            Some(symbol) = cmd_rx.recv() => {
                let asked = resync(link, conn, &mut ws, symbol, &mut fetching, &mut fetches).await;
                if let Err(reason) = asked {
                    return lost(reason, frames);
                }
            }
            Some(joined) = fetches.join_next(), if !fetches.is_empty() => {
                let Ok(fetched) = joined else {
                    continue;
                };
                snapshot_fetched(plan, gate, conn, &mut fetching, fetched).await;
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
                    Ok(new_ws) => return hand_over(&mut ws, next, new_ws, started, frames).await,
                    Err(f) => {
                        replacement_failed(gate, venue, &next, f).await;
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

/// A session lost for `reason` after delivering `frames`.
fn lost(reason: String, frames: u64) -> Ended {
    Ended {
        outcome: Outcome::Lost {
            reason,
            retry_after: None,
        },
        frames,
    }
}

/// When to open a replacement for a session started at `started`: the
/// configured margin before the venue's connection age limit, if it has one.
fn replace_time(plan: &Plan, cfg: &FeedConfig, started: Instant) -> Option<Instant> {
    plan.proto
        .max_connection_age()
        .map(|age| started + age.saturating_sub(Duration::from_secs(cfg.replace_before_s)))
}

/// Counts a received data message and hands it to the engine queue.
fn deliver(gate: &Gate, venue: Venue, conn: &Arc<str>, len: usize, item: Item) {
    Counters::add(&gate.counters.frames, 1);
    Counters::add(&gate.counters.frame_bytes, len as u64);
    gate.frame(venue, conn, item);
}

/// The reason a server's close frame gives, for the `close` record.
fn closed_reason(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(f) => format!("closed by server: {} {}", u16::from(f.code), f.reason),
        None => "closed by server".into(),
    }
}

/// Why the session should be dropped at a ping time, if it should: nothing
/// at all received (a half-open socket), or no data although pings are
/// answered (a stalled stream).
fn silent(
    last_rx: Instant,
    idle_limit: Duration,
    last_data: Instant,
    data_limit: Duration,
) -> Option<String> {
    if last_rx.elapsed() >= idle_limit {
        return Some(format!(
            "nothing received for {} ms (half-open socket?), dropped",
            idle_limit.as_millis()
        ));
    }
    if last_data.elapsed() >= data_limit {
        return Some(format!(
            "no message for {} ms although the socket answers pings (stalled stream), reconnecting",
            data_limit.as_millis()
        ));
    }
    None
}

/// Sends a WebSocket ping, bounded by `wait`; the error is why the session
/// is lost.
async fn ping(ws: &mut Ws, wait: Duration) -> Result<(), String> {
    match timeout(wait, ws.send(Message::Ping(Bytes::new()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("ping failed: {}", describe(&e))),
        Err(_) => Err("ping could not be sent (socket blocked), dropped".into()),
    }
}

/// Sends the venue's application-level ping and records it as `sent`; the
/// error is why the session is lost.
async fn app_ping(
    gate: &Gate,
    venue: Venue,
    conn: &Arc<str>,
    ws: &mut Ws,
    text: &str,
) -> Result<(), String> {
    if let Err(e) = ws.send(Message::text(text.to_owned())).await {
        return Err(format!("application ping failed: {}", describe(&e)));
    }
    gate.control(venue, conn, || Item::Sent(text.to_owned()))
        .await;
    Ok(())
}

/// Acts on the engine's resync request for `symbol`: a REST snapshot
/// fetched in the background (bounded, one per symbol at a time) or the
/// venue's resubscribe frames sent. The error is why the session is lost.
async fn resync(
    link: Link<'_>,
    conn: &Arc<str>,
    ws: &mut Ws,
    symbol: Symbol,
    fetching: &mut Vec<Symbol>,
    fetches: &mut JoinSet<Fetched>,
) -> Result<(), String> {
    let Link {
        plan, cfg, gate, ..
    } = link;
    match plan.proto.resync(&symbol) {
        Some(Resync::Rest { request, .. })
            if fetching.len() < MAX_FETCHES && !fetching.contains(&symbol) =>
        {
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
                    return Err(format!("resubscribe failed: {}", describe(&e)));
                }
                gate.control(plan.venue, conn, || Item::Sent(text.clone()))
                    .await;
            }
        }
        Some(Resync::Rest { .. }) | None => {}
    }
    Ok(())
}

/// Hands a fetched snapshot to the engine queue as a `rest` record, or
/// counts and logs the failure (pausing the venue's REST limit when it
/// says 429/418).
async fn snapshot_fetched(
    plan: &Plan,
    gate: &Gate,
    conn: &Arc<str>,
    fetching: &mut Vec<Symbol>,
    (symbol, request, result): Fetched,
) {
    let venue = plan.venue;
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

/// The replacement is open and subscribed: stops reading this session
/// (a polite close, bounded) and hands over.
async fn hand_over(
    ws: &mut Ws,
    next: Arc<str>,
    new_ws: Box<Ws>,
    started: Instant,
    frames: u64,
) -> Ended {
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    Ended {
        outcome: Outcome::Replaced {
            conn: next,
            ws: new_ws,
            age: started.elapsed(),
        },
        frames,
    }
}

/// Logs a failed replacement and, when it had opened, closes its records;
/// the old session is kept.
async fn replacement_failed(gate: &Gate, venue: Venue, next: &Arc<str>, f: Failed) {
    tracing::warn!(venue = venue.id(), conn = %next, "replacement connection failed: {}", f.reason);
    if f.opened {
        gate.control(venue, next, || {
            Item::Close(format!("{}; the old connection is kept", f.reason))
        })
        .await;
    }
}
