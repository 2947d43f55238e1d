//! The simulator's REST side: plain HTTP GETs on the WebSocket port answer
//! with the REST responses recorded in the served fixtures (Binance depth
//! snapshots), so a consumer rebuilds its books exactly as against the
//! venue.
//!
//! A request is matched to a recorded `rest` record by path and `symbol=`;
//! the first recorded response for it is served (every WebSocket session
//! replays the fixture from its start, so that snapshot is the one that
//! bridges the diffs the session sends). It never serves anything that is
//! not in a fixture, never reads more than a bounded request head, and
//! never panics on what a client sends.

use crate::fixture::{Merger, RecordKind};
use crate::venues::query_param;
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

/// Answers one plain HTTP request on `stream` from the recorded responses.
pub async fn serve(mut stream: TcpStream, fixtures: &[PathBuf], responses: Arc<RestResponses>) {
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
    let (status, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            r#"{"msg":"only GET"}"#.to_string(),
        )
    } else {
        match responses.get(fixtures, target).await {
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
