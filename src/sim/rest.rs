//! The simulator's REST side: plain HTTP GETs on the WebSocket port answer
//! with the REST responses recorded in the served fixtures (Binance depth
//! snapshots), so a consumer rebuilds its books exactly as against the
//! venue.
//!
//! A request is matched to a recorded `rest` record by path and `symbol=`.
//! At `--speed max` (every session replays the fixture from its start) the
//! first recorded response is served as it is. At a paced speed sessions
//! join the market where it is now, so the response is the recorded
//! snapshot brought up to that moment by the consumer's own sync procedure
//! over the symbol's recorded diffs (those recorded before the snapshot
//! buffered, the one that bridges it applied, then every later one), as
//! the venue's own book would be: real data, derived, never invented. Its
//! `lastUpdateId` is the last diff applied, so the diffs the session goes
//! on serving bridge it. It never reads more than a bounded request
//! head and never panics on what a client sends.

use crate::fixture::Merger;

use crate::model::{Level, Nanos, Payload, Venue};
use crate::record::RecordKind;
use crate::state::book::Book;
use crate::venues::{Adapter, adapter_for, query_param};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Most distinct recorded responses kept.
const MAX_RESPONSES: usize = 10_000;

/// Recorded REST responses by (path, symbol), loaded on first use.
#[derive(Default)]
pub struct RestResponses {
    cell: OnceCell<HashMap<(String, String), String>>,
}

/// The lookup key of a request: its path and `symbol=` value.
fn key(request: &str) -> (String, String) {
    let path = request.split('?').next().unwrap_or(request);
    let symbol = query_param(request, "symbol").unwrap_or("");
    (path.to_string(), symbol.to_ascii_uppercase())
}

fn load(paths: &[PathBuf]) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    let mut merger = match Merger::open(paths) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("simulator: {e}");
            return out;
        }
    };
    while let Some(r) = merger.next_record() {
        let Ok(rec) = r else {
            continue;
        };
        if let RecordKind::Rest { request, body } = &rec.kind
            && out.len() < MAX_RESPONSES
        {
            out.entry(key(request)).or_insert_with(|| body.to_string());
        }
    }
    out
}

/// Most levels per side in a derived snapshot (Binance's `limit=1000`).
const SNAPSHOT_LEVELS: usize = 1000;

/// Most diffs buffered before a recorded snapshot (as a consumer buffers
/// them while its REST request is under way).
const MAX_PENDING: usize = 1000;

fn levels_json(levels: impl Iterator<Item = Level>) -> String {
    let parts: Vec<String> = levels
        .take(SNAPSHOT_LEVELS)
        .map(|l| format!("[\"{}\",\"{}\"]", l.price, l.qty))
        .collect();
    format!("[{}]", parts.join(","))
}

/// The venue's book as of recorded time `at`, for `request`: rebuilt from
/// the recorded snapshots and the symbol's recorded depth diffs by the
/// consumer's own sync procedure ([`Book`]: diffs recorded before a
/// snapshot are buffered and the one that bridges it is applied, as the
/// recorder's consumer did), so the `lastUpdateId` served is the `u` of
/// the last diff applied and the next served diff bridges it. `None`
/// without a recorded snapshot at or before `at`, or when the recorded
/// diffs broke off after it (a gap no later snapshot mended).
fn derive(paths: &[PathBuf], request: &str, at: Nanos) -> Option<String> {
    let want = key(request);
    let stream_prefix = format!("{}@depth", want.1.to_ascii_lowercase());
    let mut merger = Merger::open(paths).ok()?;
    // One book per venue: merged fixtures of several venues may share a
    // symbol, and the recorded snapshot says which venue is asked for.
    let mut books: Vec<(Venue, Box<dyn Adapter>, Book)> = Vec::new();
    let mut asked: Option<Venue> = None;
    let mut events = Vec::new();
    while let Some(r) = merger.next_record() {
        let Ok(rec) = r else {
            continue;
        };
        if rec.recv_ns > at {
            break;
        }
        let is_snapshot =
            matches!(&rec.kind, RecordKind::Rest { request, .. } if key(request) == want);
        let is_diff = matches!(&rec.kind, RecordKind::Frame(t)
            if crate::scenario::inject::string_field(t, "stream").is_some_and(|s| s.starts_with(&stream_prefix)));
        if !(is_snapshot || is_diff) {
            continue;
        }
        let pos = match books.iter().position(|(v, _, _)| *v == rec.venue) {
            Some(p) => p,
            None => {
                let book = Book::new(MAX_PENDING, SNAPSHOT_LEVELS);
                books.push((rec.venue, adapter_for(rec.venue)?, book));
                books.len() - 1
            }
        };
        let (_, adapter, book) = books.get_mut(pos)?;
        events.clear();
        let parsed = match &rec.kind {
            RecordKind::Rest { request, body } => adapter.parse_rest(request, body, &mut events),
            RecordKind::Frame(t) => adapter.parse_frame(t, &mut events),
            _ => continue,
        };
        if parsed.is_err() {
            continue;
        }
        for ev in &events {
            match &ev.payload {
                // Only a recorded REST snapshot: partial depth pushes carry
                // no update id.
                Payload::Snapshot(s) if is_snapshot && s.last_id.is_some() => {
                    book.apply_snapshot(s);
                    asked = Some(rec.venue);
                }
                Payload::Depth(d) => {
                    book.apply_diff(d);
                }
                _ => {}
            }
        }
    }
    let venue = asked?;
    let (_, _, book) = books.iter().find(|(v, _, _)| *v == venue)?;
    let last = book.last_id()?;
    let (bids, asks) = book.levels();
    Some(format!(
        "{{\"lastUpdateId\":{last},\"bids\":{},\"asks\":{}}}",
        levels_json(bids),
        levels_json(asks)
    ))
}

impl RestResponses {
    async fn get(&self, paths: &[PathBuf], request: &str) -> Option<String> {
        let paths = paths.to_vec();
        let map = self
            .cell
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || load(&paths))
                    .await
                    .unwrap_or_default()
            })
            .await;
        map.get(&key(request)).cloned()
    }
}

/// Whether the bytes waiting on `stream` are a plain HTTP request (no
/// WebSocket upgrade). Waits at most about a second for a whole head.
pub async fn is_plain_http(stream: &TcpStream) -> bool {
    let mut buf = vec![0u8; MAX_HEAD];
    for _ in 0..100 {
        let n = match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let head = buf.get(..n).unwrap_or_default();
        if let Some(end) = memchr::memmem::find(head, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(head.get(..end).unwrap_or_default()).to_lowercase();
            return !head
                .lines()
                .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
        }
        if n == buf.len() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Answers one plain HTTP request on `stream` from the recorded responses,
/// as of recorded time `at` when the market is paced.
pub async fn serve(
    mut stream: TcpStream,
    fixtures: &[PathBuf],
    responses: Arc<RestResponses>,
    at: Option<Nanos>,
) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while memchr::memmem::find(&head, b"\r\n\r\n").is_none() {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // A replicated alias (synthetic load) has its recording's book.
    let dealiased = query_param(target, "symbol")
        .and_then(super::replicate::original_raw)
        .map(|orig| {
            let path = target.split('?').next().unwrap_or(target);
            format!("{path}?symbol={orig}")
        });
    let target = dealiased.as_deref().unwrap_or(target);
    let (status, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            r#"{"msg":"only GET"}"#.to_string(),
        )
    } else {
        let derived = match at {
            Some(at) => {
                let (paths, request) = (fixtures.to_vec(), target.to_string());
                tokio::task::spawn_blocking(move || derive(&paths, &request, at))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        // Before the recorded snapshot's time (a session that just started)
        // the recorded snapshot itself is served: it is slightly ahead of
        // the diffs sent so far, which the client's sync procedure allows.
        let found = match derived {
            Some(d) => Some(d),
            None => responses.get(fixtures, target).await,
        };
        match found {
            Some(body) => ("200 OK", body),
            None => (
                "404 Not Found",
                r#"{"msg":"no recorded response for this request"}"#.to_string(),
            ),
        }
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SECOND;

    fn spot_fixture() -> Vec<PathBuf> {
        vec![
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/replay/binance-spot-btcusdt-2024-08-08.fixture.zst"),
        ]
    }

    /// The best price of a derived snapshot's side.
    fn best(body: &str, side: &str) -> f64 {
        let tail = body.split(&format!("\"{side}\":[[\"")).nth(1).unwrap();
        tail.split('"').next().unwrap().parse().unwrap()
    }

    /// A recorded diff's receive time, `U` and `u`.
    type DiffIds = (Nanos, u64, u64);
    /// A recorded bookTicker's `u`, bid and ask.
    type Ticker = (u64, f64, f64);

    /// The recorded spot diffs and bookTickers.
    fn recorded_ids(paths: &[PathBuf]) -> (Vec<DiffIds>, Vec<Ticker>) {
        let mut adapter = adapter_for(Venue::BinanceSpot).unwrap();
        let (mut diffs, mut tickers, mut events) = (Vec::new(), Vec::new(), Vec::new());
        let mut m = Merger::open(paths).unwrap();
        while let Some(r) = m.next_record() {
            let rec = r.unwrap();
            let RecordKind::Frame(t) = &rec.kind else {
                continue;
            };
            events.clear();
            adapter.parse_frame(t, &mut events).unwrap();
            for ev in &events {
                match &ev.payload {
                    Payload::Depth(d) => diffs.push((rec.recv_ns, d.first_id, d.last_id)),
                    Payload::Quote(q) => {
                        tickers.push((q.update_id.unwrap(), q.bid.price, q.ask.price));
                    }
                    _ => {}
                }
            }
        }
        (diffs, tickers)
    }

    /// At any moment of the paced market, the derived snapshot is the
    /// venue's book then: not crossed, its top the one the venue's own
    /// bookTicker stream showed at that update id, and bridged by the next
    /// recorded diff (`U <= lastUpdateId + 1 <= u`), so a consumer that
    /// joins then syncs on the diffs it is served. The recording's first
    /// diff after its snapshot was recorded before it: a derivation that
    /// starts applying at the snapshot's receive time keeps a bid that diff
    /// removed, and from about 88 s in that bid stands above the ask.
    #[test]
    fn derived_snapshots_are_the_book_the_following_diffs_continue() {
        let paths = spot_fixture();
        let (diffs, tickers) = recorded_ids(&paths);
        let t0 = diffs.first().unwrap().0;
        for secs in [90, 200, 450] {
            let at = t0 + secs * SECOND;
            let body = derive(&paths, "/api/v3/depth?symbol=BTCUSDT&limit=1000", at).unwrap();
            let id: u64 = body
                .strip_prefix("{\"lastUpdateId\":")
                .and_then(|b| b.split(',').next())
                .unwrap()
                .parse()
                .unwrap();
            let (bid, ask) = (best(&body, "bids"), best(&body, "asks"));
            assert!(bid < ask, "+{secs} s: bid {bid} >= ask {ask}");
            let next = diffs.iter().find(|d| d.0 > at).unwrap();
            assert!(
                next.1 <= id + 1 && id < next.2,
                "+{secs} s: lastUpdateId {id} is not bridged by the next diff {next:?}"
            );
            let ticker = tickers.iter().rev().find(|t| t.0 <= id).unwrap();
            assert_eq!((bid, ask), (ticker.1, ticker.2), "+{secs} s at update {id}");
        }
    }

    #[test]
    fn requests_match_by_path_and_symbol() {
        assert_eq!(
            key("/api/v3/depth?symbol=BTCUSDT&limit=1000"),
            key("/api/v3/depth?symbol=btcusdt")
        );
        assert_ne!(
            key("/api/v3/depth?symbol=BTCUSDT"),
            key("/fapi/v1/depth?symbol=BTCUSDT")
        );
        assert_ne!(
            key("/api/v3/depth?symbol=BTCUSDT"),
            key("/api/v3/depth?symbol=ETHUSDT")
        );
    }
}
