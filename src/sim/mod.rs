//! The local exchange simulator: a WebSocket server that serves recorded
//! fixture frames, byte for byte, to every client that connects, at the
//! recorded pace times a speed factor, with faults injected on demand (see
//! [`faults::Faults`] for the `--faults` syntax).
//!
//! Binance-style: the streams named in the request's `streams=` query
//! (`/stream?streams=btcusdt@trade/btcusdt@bookTicker`) filter the frames
//! by their `"stream"` field; a request without one gets every frame. At
//! the end of the fixture the connection stays open and idle. Each client
//! reads the fixtures itself, streaming (bounded memory whatever the
//! fixture size). It listens where it is told (tests and the CLI bind
//! 127.0.0.1) and must never alter a frame it does not name as faulted.
//!
//! For load tests it can also serve *synthetic* load made by code from the
//! real frames (never presented as recorded): `replicate` serves every
//! frame again as N alias symbols (see [`replicate`]), and `looped`
//! restarts the fixtures at their end with time shifted past the last
//! frame, so the recorded pace holds for as long as the client stays.

pub mod faults;
pub mod replicate;
pub mod rest;

pub use faults::Faults;

use crate::fixture::Merger;

use crate::model::Nanos;
use crate::record::RecordKind;
use crate::replay::Speed;
use futures::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// What to serve and how.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Fixture files, merged by receive time.
    pub fixtures: Vec<PathBuf>,
    /// Pace: `Max` as fast as the client reads, or a factor of recorded speed.
    pub speed: Speed,
    /// Faults to inject.
    pub faults: Faults,
    /// Synthetic load: serve each recorded frame additionally as this many
    /// alias symbols (0: off; see [`replicate`]).
    pub replicate: u32,
    /// At the end of the fixtures, start them again with time shifted
    /// (recorded pace kept) instead of going idle.
    pub looped: bool,
}

impl SimConfig {
    /// Serves `fixtures` at `speed` with `faults`, no replication, no loop.
    pub fn new(fixtures: Vec<PathBuf>, speed: Speed, faults: Faults) -> SimConfig {
        SimConfig {
            fixtures,
            speed,
            faults,
            replicate: 0,
            looped: false,
        }
    }
}

/// Live counters of a running simulator.
#[derive(Debug, Default)]
pub struct SimCounters {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed before the handshake (`refuse-*`).
    pub refused: AtomicU64,
    /// Handshakes answered with HTTP 429.
    pub rejected: AtomicU64,
    /// WebSocket connections served.
    pub served: AtomicU64,
    /// Frames sent (faulted ones included, dropped ones not). Frames due
    /// together are queued and written with one flush, before any wait.
    pub frames_sent: AtomicU64,
    /// Connections closed by the `close-after` fault.
    pub fault_closes: AtomicU64,
    /// Streams (per connection) that got at least one frame, counted with
    /// replication on (aliases included); 0 without replication.
    pub streams_served: AtomicU64,
    /// Times a client's reader started the fixtures again (`looped`).
    pub loops: AtomicU64,
}

fn inc(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

/// A served payload.
enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

/// Serves clients accepted on `listener` until `shutdown` completes; every
/// client task is told to stop then.
pub async fn serve(
    listener: TcpListener,
    cfg: SimConfig,
    counters: Arc<SimCounters>,
    shutdown: impl Future<Output = ()>,
) {
    let cfg = Arc::new(cfg);
    let responses = Arc::new(rest::RestResponses::default());
    let clock = SimClock::default();
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tcp_seen = 0u64;
    let handshakes = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!("simulator accept failed: {e}");
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        inc(&counters.accepted);
        tcp_seen += 1;
        let f = &cfg.faults;
        if tcp_seen <= f.refuse_first || started.elapsed() < Duration::from_millis(f.refuse_ms) {
            inc(&counters.refused);
            drop(stream);
            continue;
        }
        let (cfg, counters, stop_rx) = (cfg.clone(), counters.clone(), stop_rx.clone());
        let (responses, handshakes, clock) = (responses.clone(), handshakes.clone(), clock.clone());
        tokio::spawn(async move {
            // A plain HTTP request (a REST snapshot) is answered from the
            // recorded responses; it is no WebSocket handshake.
            if rest::is_plain_http(&stream).await {
                let at = clock.position(cfg.speed);
                rest::serve(stream, &cfg.fixtures, responses, at).await;
                return;
            }
            let reject = handshakes.fetch_add(1, Ordering::Relaxed) < cfg.faults.reject_429;
            tracing::info!(%peer, "simulator client");
            client(stream, cfg, counters, stop_rx, reject, clock).await;
        });
    }
    let _ = stop_tx.send(true);
}

/// The stream names in a request's `streams=` query parameter (a set: a
/// client may name thousands and each frame is looked up in it).
fn requested_streams(uri: &str) -> Option<HashSet<String>> {
    let query = uri.split_once('?')?.1;
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("streams="))?;
    Some(
        value
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Streams the fixtures' frames (filtered, replicated) into `tx` from a
/// plain thread: the reader is blocking I/O and decompression. With
/// `looped`, the fixtures start again at their end, shifted in time to one
/// mean frame gap after the last frame, until the client is gone.
fn read_frames(
    cfg: Arc<SimConfig>,
    filter: Option<HashSet<String>>,
    counters: Arc<SimCounters>,
    skip_before: Option<Nanos>,
    tx: mpsc::Sender<(Nanos, Payload)>,
) {
    let binary_ok = filter.is_none();
    let mut router = replicate::Router::new(filter, cfg.replicate);
    let mut out: Vec<String> = Vec::new();
    let mut shift: Nanos = 0;
    loop {
        let mut merger = match Merger::open(&cfg.fixtures) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("simulator: {e}");
                return;
            }
        };
        let (mut first, mut last, mut sent, mut frames) = (None::<Nanos>, 0, 0u64, 0i64);
        let mut skipped = false;
        while let Some(r) = merger.next_record() {
            let rec = match r {
                Ok(rec) => rec,
                Err(e) => {
                    tracing::warn!("simulator: {e}");
                    continue;
                }
            };
            let t = rec.recv_ns.saturating_add(shift);
            // A session that joined late starts where the market is: what
            // came before is passed over (and still counts for the loop).
            if skip_before.is_some_and(|s| t < s) {
                first.get_or_insert(rec.recv_ns);
                last = rec.recv_ns;
                frames += 1;
                skipped = true;
                continue;
            }
            match &rec.kind {
                RecordKind::Frame(text) => {
                    out.clear();
                    let fresh = router.route(text, &mut out);
                    if fresh > 0 {
                        counters.streams_served.fetch_add(fresh, Ordering::Relaxed);
                    }
                    for s in out.drain(..) {
                        if tx.blocking_send((t, Payload::Text(s))).is_err() {
                            return; // the client is gone
                        }
                        sent += 1;
                    }
                }
                RecordKind::Binary(b) if binary_ok => {
                    if tx.blocking_send((t, Payload::Binary(b.to_vec()))).is_err() {
                        return;
                    }
                    sent += 1;
                }
                _ => continue,
            }
            first.get_or_insert(rec.recv_ns);
            last = rec.recv_ns;
            frames += 1;
        }
        // Nothing served in a pass: another pass would only spin.
        let Some(first) = first.filter(|_| cfg.looped && (sent > 0 || skipped) && !tx.is_closed())
        else {
            return;
        };
        let span = last.saturating_sub(first);
        let gap = (span / frames.max(1)).max(1);
        shift = shift.saturating_add(span).saturating_add(gap);
        inc(&counters.loops);
    }
}

/// The simulated market's clock at a paced speed: the instant the first
/// session started and the recorded time of its first frame. Later
/// sessions join the market where it is now, as on a real venue.
#[derive(Clone, Default)]
pub struct SimClock(Arc<std::sync::Mutex<Option<(Instant, Nanos)>>>);

impl SimClock {
    /// The recorded time the market has reached, once a paced session
    /// started; `None` before that or at `Speed::Max` (no market time).
    pub fn position(&self, speed: Speed) -> Option<Nanos> {
        let Speed::Factor(k) = speed else {
            return None;
        };
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.map(|(start, t0)| t0 + (start.elapsed().as_secs_f64() * k * 1e9) as Nanos)
    }

    /// Starts the clock at the first frame of the first session (no-op
    /// later) and returns it.
    fn start(&self, t: Nanos) -> (Instant, Nanos) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g.get_or_insert((Instant::now(), t))
    }
}

async fn client(
    stream: TcpStream,
    cfg: Arc<SimConfig>,
    counters: Arc<SimCounters>,
    mut stop: watch::Receiver<bool>,
    reject: bool,
    clock: SimClock,
) {
    let Some((mut ws, uri)) = handshake(stream, &cfg, &counters, reject).await else {
        return;
    };
    let n = inc(&counters.served);
    let f = if cfg.faults.applies_to(n) {
        cfg.faults.clone()
    } else {
        Faults::default()
    };
    let mut rx = spawn_reader(&cfg, &counters, &clock, &uri);

    let mut sent = 0u64; // frames handled (sent, dropped or faulted)
    let mut start: Option<(Instant, Nanos)> = None;
    // Idle at the end of the fixture or on `stall-after`: keep reading so
    // pings are answered, until the client leaves or shutdown.
    let mut idle = false;
    let mut pending: Option<(Instant, Payload)> = None;
    let mut oversize_sent = false;
    let mut unflushed = false;
    loop {
        if !idle {
            let faulted = count_faults(
                &mut ws,
                &f,
                &counters,
                &mut stop,
                sent,
                unflushed,
                &mut oversize_sent,
            );
            match faulted.await {
                CountFault::None => {}
                CountFault::Stall => {
                    idle = true;
                    pending = None;
                    continue;
                }
                CountFault::End => return,
            }
        }
        // The next frame and when it is due; waiting for it happens inside
        // the select, so pings are answered while the pace holds a frame back.
        if pending.is_none() && !idle {
            // Frames due together go out in one write; nothing waits
            // unflushed while the reader has nothing ready.
            if unflushed && rx.is_empty() {
                if ws.flush().await.is_err() {
                    return;
                }
                unflushed = false;
            }
            tokio::select! {
                msg = ws.next() => match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => continue,
                },
                next = rx.recv() => {
                    let Some((t, payload)) = next else {
                        idle = true;
                        continue;
                    };
                    pending = Some((due_at(cfg.speed, &clock, &mut start, &f, t), payload));
                    continue;
                },
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return;
                }
            }
        }
        let due = pending.as_ref().map(|(d, _)| *d);
        if unflushed && due.is_none_or(|d| d > Instant::now()) {
            if ws.flush().await.is_err() {
                return;
            }
            unflushed = false;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let Some((_, payload)) = pending.take() else {
                    continue;
                };
                sent += 1;
                if f.drop_every.is_some_and(|k| sent.is_multiple_of(k)) {
                    continue;
                }
                let msg = message(payload, &f, sent);
                // Queued, not flushed: the flushes above write it with
                // the frames due at the same time (thousands with replicas).
                if ws.feed(msg).await.is_err() {
                    return;
                }
                unflushed = true;
                inc(&counters.frames_sent);
            },
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return;
            }
        }
    }
}

/// Starts the thread that reads the fixtures for one session, filtered to
/// the streams its URI asks for; the frames arrive on the returned queue.
fn spawn_reader(
    cfg: &Arc<SimConfig>,
    counters: &Arc<SimCounters>,
    clock: &SimClock,
    uri: &str,
) -> mpsc::Receiver<(Nanos, Payload)> {
    let (tx, rx) = mpsc::channel(1024);
    let filter = requested_streams(uri);
    // At a paced speed a session joins the market where it is now; at
    // `max` every session gets the fixture from its start.
    let skip_before = clock.position(cfg.speed);
    let (reader_cfg, reader_counters) = (cfg.clone(), counters.clone());
    std::thread::spawn(move || read_frames(reader_cfg, filter, reader_counters, skip_before, tx));
    rx
}

/// A simulated client's WebSocket.
type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Accepts the WebSocket handshake, or refuses it with a simulated 429
/// (`reject`); the socket and the requested URI, or `None` when there is no
/// session (refused or failed, counted or logged).
async fn handshake(
    stream: TcpStream,
    cfg: &SimConfig,
    counters: &SimCounters,
    reject: bool,
) -> Option<(Ws, String)> {
    let mut uri = String::new();
    let retry_after = cfg.faults.retry_after_s;
    // The handshake callback's error type is tungstenite's (an HTTP response).
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        uri = req.uri().to_string();
        if reject {
            let mut r = ErrorResponse::new(Some("simulated rate limit".into()));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            return Err(r);
        }
        Ok(resp)
    };
    match tokio_tungstenite::accept_hdr_async(stream, callback).await {
        Ok(ws) => Some((ws, uri)),
        Err(e) => {
            if reject {
                inc(&counters.rejected);
            } else {
                tracing::info!("simulator handshake failed: {e}");
            }
            None
        }
    }
}

/// What the faults that trigger after a count of frames did to the session.
enum CountFault {
    /// Nothing that stops serving (an oversize frame may have been sent).
    None,
    /// `stall-after`: stop serving, stay connected and answer pings.
    Stall,
    /// The session is over (`half-open-after` until shutdown,
    /// `close-after`, or a write failed).
    End,
}

/// Applies the faults due after `sent` frames, in their order of
/// precedence: half-open, stall, close, oversize (once).
async fn count_faults(
    ws: &mut Ws,
    f: &Faults,
    counters: &SimCounters,
    stop: &mut watch::Receiver<bool>,
    sent: u64,
    unflushed: bool,
    oversize_sent: &mut bool,
) -> CountFault {
    if f.half_open_after.is_some_and(|k| sent >= k) {
        // What was served before goes out; then neither read nor
        // write: pings go unanswered.
        if unflushed && ws.flush().await.is_err() {
            return CountFault::End;
        }
        let _ = stop.changed().await;
        return CountFault::End;
    }
    if f.stall_after.is_some_and(|k| sent >= k) {
        return CountFault::Stall;
    }
    if f.close_after.is_some_and(|k| sent >= k) {
        inc(&counters.fault_closes);
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: Utf8Bytes::from_static("simulated close (close-after fault)"),
        };
        let _ = ws.close(Some(frame)).await;
        return CountFault::End;
    }
    if !*oversize_sent && f.oversize_after.is_some_and(|k| sent >= k) {
        *oversize_sent = true;
        let big = "x".repeat(faults::OVERSIZE_BYTES);
        if ws.send(Message::text(big)).await.is_err() {
            return CountFault::End;
        }
        inc(&counters.frames_sent);
    }
    CountFault::None
}

/// When a frame recorded at `t` is due: on the shared clock at a paced
/// speed, at once at `max` (this session's `start` noted), later by the
/// `delay` fault.
fn due_at(
    speed: Speed,
    clock: &SimClock,
    start: &mut Option<(Instant, Nanos)>,
    f: &Faults,
    t: Nanos,
) -> Instant {
    let (t_start, t0) = match speed {
        Speed::Factor(_) => clock.start(t),
        Speed::Max => *start.get_or_insert((Instant::now(), t)),
    };
    let mut due = match speed {
        Speed::Factor(k) => t_start + Duration::from_secs_f64((t - t0).max(0) as f64 / 1e9 / k),
        Speed::Max => Instant::now(),
    };
    if let Some(ms) = f.delay_ms {
        due = due.max(Instant::now()) + Duration::from_millis(ms);
    }
    due
}

/// The message for the `sent`-th frame, corrupted when `corrupt-every`
/// says so.
fn message(payload: Payload, f: &Faults, sent: u64) -> Message {
    match payload {
        Payload::Text(s) if f.corrupt_every.is_some_and(|k| sent.is_multiple_of(k)) => {
            Message::text(faults::corrupt(&s))
        }
        Payload::Text(s) => Message::text(s),
        Payload::Binary(b) => Message::Binary(Bytes::from(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_query_is_a_filter() {
        assert_eq!(
            requested_streams("/stream?streams=btcusdt@trade/btcusdt@depth@100ms"),
            Some(HashSet::from([
                "btcusdt@trade".to_string(),
                "btcusdt@depth@100ms".to_string()
            ]))
        );
        assert_eq!(requested_streams("/ws"), None);
        assert_eq!(
            requested_streams("/stream?x=1&streams=a"),
            Some(HashSet::from(["a".to_string()]))
        );
    }

    /// The first `n` frames of the real spot recording as a fixture in a
    /// fresh folder (returned so the caller removes it).
    fn spot_head(name: &str, n: usize) -> (PathBuf, PathBuf) {
        use crate::fixture::reader::FixtureReader;
        use crate::fixture::writer::FixtureWriter;
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/replay/binance-spot-btcusdt-2024-08-08.fixture.zst");
        let dir = std::env::temp_dir().join(format!("feedwatch-sim-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("head.fixture");
        let mut r = FixtureReader::open(&src).unwrap();
        let mut w = FixtureWriter::create(&path).unwrap();
        let mut kept = 0;
        while kept < n {
            let rec = r.next_record().unwrap().unwrap();
            if matches!(rec.kind, RecordKind::Frame(_)) {
                w.write(&rec).unwrap();
                kept += 1;
            }
        }
        w.finish().unwrap();
        (dir, path)
    }

    fn read_all(
        cfg: SimConfig,
        filter: Option<HashSet<String>>,
        take: usize,
    ) -> Vec<(Nanos, String)> {
        let counters = Arc::new(SimCounters::default());
        let (tx, mut rx) = mpsc::channel(16);
        let cfg = Arc::new(cfg);
        let reader = std::thread::spawn(move || read_frames(cfg, filter, counters, None, tx));
        let mut out = Vec::new();
        while out.len() < take {
            match rx.blocking_recv() {
                Some((t, Payload::Text(s))) => out.push((t, s)),
                Some((_, Payload::Binary(_))) => panic!("binary frame"),
                None => break,
            }
        }
        drop(rx);
        reader.join().unwrap();
        out
    }

    #[test]
    fn looped_fixtures_repeat_with_time_moving_forward() {
        let (dir, path) = spot_head("loop", 5);
        let mut cfg = SimConfig::new(vec![path], Speed::Max, Faults::default());
        let once = read_all(cfg.clone(), None, 100);
        assert_eq!(once.len(), 5, "without --loop the fixture is read once");
        cfg.looped = true;
        let looped = read_all(cfg, None, 15);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(looped.len(), 15);
        for (i, (t, text)) in looped.iter().enumerate() {
            assert_eq!(text, &once[i % 5].1, "frame {i} is not the recorded one");
            let span = once[4].0 - once[0].0;
            let pass = i64::try_from(i / 5).unwrap();
            assert!(*t >= once[i % 5].0 + pass * span, "frame {i} at {t}");
        }
        assert!(
            looped.windows(2).all(|w| w[0].0 <= w[1].0),
            "time went backwards across a loop"
        );
        assert!(
            looped[5].0 > looped[4].0,
            "the second pass starts after the first"
        );
    }

    #[test]
    fn replicas_follow_each_requested_original() {
        let (dir, path) = spot_head("replicate", 20);
        let mut cfg = SimConfig::new(vec![path], Speed::Max, Faults::default());
        let once = read_all(cfg.clone(), None, 100);
        cfg.replicate = 2;
        let want: HashSet<String> = ["btcusdt@bookTicker", "btc0002usdt@bookTicker"]
            .map(String::from)
            .into();
        let got = read_all(cfg, Some(want), 100);
        let _ = std::fs::remove_dir_all(&dir);
        let tickers: Vec<&(Nanos, String)> = once
            .iter()
            .filter(|(_, t)| t.contains("\"btcusdt@bookTicker\""))
            .collect();
        assert!(!tickers.is_empty());
        assert_eq!(got.len(), 2 * tickers.len());
        for (pair, orig) in got.chunks(2).zip(tickers) {
            assert_eq!(&pair[0], orig, "the original is served untouched");
            assert_eq!(pair[1].0, orig.0, "a replica keeps its original's time");
            assert!(pair[1].1.contains("\"stream\":\"btc0002usdt@bookTicker\""));
            assert!(pair[1].1.contains("\"s\":\"BTC0002USDT\""));
        }
    }
}
