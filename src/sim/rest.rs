//! The simulator's REST side: plain HTTP GETs on the WebSocket port answer
//! with the REST responses recorded in the served fixtures (Binance depth
//! snapshots), so a consumer rebuilds its books exactly as against the
//! venue.
//!
//! A request is matched to a recorded `rest` record by path and `symbol=`.
//! At `--speed max` (every session replays the fixture from its start) the
//! first recorded response is served as it is. At a paced speed sessions
//! join the market where it is now, so the response is the recorded
//! snapshot brought up to that moment by applying the recorded diffs of
//! the symbol after it, as the venue's own book would be: real data,
//! derived, never invented. It never reads more than a bounded request
//! head and never panics on what a client sends.

use crate::fixture::Merger;

use crate::model::{Level, Nanos, Payload, Venue};
use crate::record::RecordKind;
use crate::venues::{Adapter, adapter_for, query_param};
use std::collections::{BTreeMap, HashMap};
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

/// One side of a derived book: price bits (positive prices order like
/// their bits) to quantity.
type Side = BTreeMap<u64, f64>;

fn set_levels(side: &mut Side, levels: &[Level]) {
    for l in levels {
        if !(l.price.is_finite() && l.price > 0.0) {
            continue;
        }
        if l.qty > 0.0 {
            side.insert(l.price.to_bits(), l.qty);
        } else {
            side.remove(&l.price.to_bits());
        }
    }
}

/// Most levels per side in a derived snapshot (Binance's `limit=1000`).
const SNAPSHOT_LEVELS: usize = 1000;

fn levels_json<'a>(it: impl Iterator<Item = (&'a u64, &'a f64)>) -> String {
    let parts: Vec<String> = it
        .take(SNAPSHOT_LEVELS)
        .map(|(p, q)| format!("[\"{}\",\"{}\"]", f64::from_bits(*p), q))
        .collect();
    format!("[{}]", parts.join(","))
}

/// The recorded snapshot for `request`, brought up to recorded time `at`
/// with the symbol's recorded depth diffs; `None` without a recorded
/// snapshot at or before `at`.
fn derive(paths: &[PathBuf], request: &str, at: Nanos) -> Option<String> {
    let want = key(request);
    let stream_prefix = format!("{}@depth", want.1.to_ascii_lowercase());
    let mut merger = Merger::open(paths).ok()?;
    let mut adapters: Vec<(Venue, Box<dyn Adapter>)> = Vec::new();
    let mut events = Vec::new();
    let mut book: Option<(u64, Side, Side)> = None;
    while let Some(r) = merger.next_record() {
        let Ok(rec) = r else {
            continue;
        };
        if rec.recv_ns > at {
            break;
        }
        let is_snapshot = matches!(&rec.kind, RecordKind::Rest { request, .. } if book.is_none() && key(request) == want);
        let is_diff = matches!(&rec.kind, RecordKind::Frame(t) if book.is_some()
            && crate::scenario::inject::string_field(t, "stream").is_some_and(|s| s.starts_with(&stream_prefix)));
        if !(is_snapshot || is_diff) {
            continue;
        }
        let pos = match adapters.iter().position(|(v, _)| *v == rec.venue) {
            Some(p) => p,
            None => {
                adapters.push((rec.venue, adapter_for(rec.venue)?));
                adapters.len() - 1
            }
        };
        let (_, adapter) = adapters.get_mut(pos)?;
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
            match (&ev.payload, book.as_mut()) {
                (Payload::Snapshot(s), None) => {
                    let (mut bids, mut asks) = (Side::new(), Side::new());
                    set_levels(&mut bids, &s.bids);
                    set_levels(&mut asks, &s.asks);
                    book = Some((s.last_id.unwrap_or(0), bids, asks));
                }
                (Payload::Depth(d), Some((last, bids, asks))) if d.last_id > *last => {
                    set_levels(bids, &d.bids);
                    set_levels(asks, &d.asks);
                    *last = d.last_id;
                }
                _ => {}
            }
        }
    }
    let (last, bids, asks) = book?;
    Some(format!(
        "{{\"lastUpdateId\":{last},\"bids\":{},\"asks\":{}}}",
        levels_json(bids.iter().rev()),
        levels_json(asks.iter())
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
