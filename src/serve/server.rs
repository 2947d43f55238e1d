//! The HTTP side of the desk server: `/ws` (the desk feed), `/status`,
//! `/metrics`, `/healthz`, `/readyz` and `/` (the dashboard), on one axum
//! server.
//!
//! Each WebSocket client gets its own task draining its own bounded queue;
//! a client that falls behind is told why and closed, and never holds up
//! the hub. It must never serve `/ws`, `/status` or `/metrics` without the
//! token when one is set, and never print the token.

use super::dashboard::INDEX_HTML;
use super::hub::{Hub, Kick, Subscription, dropped_message};
use super::metrics::{self, MetricsSource};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{
    CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
    rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the server listens and whom it lets in.
#[derive(Clone)]
pub struct ServerOptions {
    /// Address to bind (port 0 picks a free port; see [`Server::addr`]).
    pub listen: SocketAddr,
    /// Bearer token for `/ws`, `/status` and `/metrics`.
    pub token: Option<String>,
    /// More `/metrics` families (alert sinks' counters, ...).
    pub sources: Vec<Arc<dyn MetricsSource>>,
    /// Kernel send buffer of each connection (bytes; `None`: the system's
    /// default, which grows to megabytes). Small values make a client's
    /// `client_queue` the real bound on what it may fall behind.
    pub send_buffer: Option<usize>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token itself is never printed.
        f.debug_struct("ServerOptions")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("sources", &self.sources.len())
            .field("send_buffer", &self.send_buffer)
            .finish()
    }
}

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("desk server cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A `[serve]` setting or `--serve` value is unusable.
    #[error("{0}")]
    Config(String),
    /// The server failed while running.
    #[error("desk server failed: {0}")]
    Run(String),
}

#[derive(Clone)]
struct App {
    hub: Arc<Hub>,
    token: Option<Arc<str>>,
    sources: Arc<[Arc<dyn MetricsSource>]>,
}

/// A running desk server.
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `opts.listen` and serves `hub` until [`Server::stop`].
    pub async fn start(hub: Arc<Hub>, opts: ServerOptions) -> Result<Server, ServeError> {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
        let app = App {
            hub: hub.clone(),
            token: opts.token.map(Arc::from),
            sources: opts.sources.into(),
        };
        let router = Router::new()
            .route("/", get(index))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/status", get(status))
            .route("/metrics", get(metrics_page))
            .route("/ws", get(ws))
            .with_state(app);
        let (stop, stopped) = oneshot::channel::<()>();
        let send_buffer = opts.send_buffer;
        let listener = listener.tap_io(move |tcp| {
            if let Some(n) = send_buffer
                && let Err(e) = socket2::SockRef::from(&*tcp).set_send_buffer_size(n)
            {
                tracing::warn!("desk server: cannot set the send buffer: {e}");
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Server {
            addr,
            hub,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hub it serves.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Stops gracefully: desk clients get a close frame, HTTP requests in
    /// flight finish, then the listener closes.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.hub.close();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Run(e.to_string())),
            Err(e) => Err(ServeError::Run(e.to_string())),
        }
    }
}

/// Compares without stopping at the first difference (no timing hint).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes `%XX` and `+` in a query value; bad escapes are kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |k: usize| {
            b.get(k)
                .and_then(|h| char::from(*h).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match c {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(c),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether the request carries the token (header or `?token=`), or no
/// token is required.
fn authorized(app: &App, headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(token) = &app.token else {
        return true;
    };
    let want = token.as_bytes();
    if let Some(v) = headers.get(header::AUTHORIZATION)
        && let Some(t) = v.as_bytes().strip_prefix(b"Bearer ")
        && same(t, want)
    {
        return true;
    }
    uri.query().is_some_and(|q| {
        q.split('&')
            .filter_map(|kv| kv.strip_prefix("token="))
            .any(|t| same(&percent_decode(t), want))
    })
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required (Authorization: Bearer <token>, or ?token=<token>)\n",
    )
        .into_response()
}

async fn index() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        INDEX_HTML,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<App>) -> Response {
    match app.hub.ready() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// `/status`'s `feed` object (live only).
#[derive(Serialize)]
struct FeedFacts {
    frames: u64,
    frame_bytes: u64,
    opens: u64,
    closes: u64,
    connect_failures: u64,
    dropped: u64,
    delivered: u64,
    queue_depth: usize,
    queue_capacity: usize,
}

/// `/status`'s `server` object.
#[derive(Serialize)]
struct ServerFacts {
    clients: usize,
    dropped_clients: u64,
    alerts: u64,
    ready: bool,
    reason: Option<&'static str>,
    finished: bool,
}

async fn status(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    if !authorized(&app, &headers, &uri) {
        return unauthorized();
    }
    let hub = &app.hub;
    let feed = hub.feed().map(|f| {
        let c = &f.counters;
        let g = crate::feed::Counters::get;
        FeedFacts {
            frames: g(&c.frames),
            frame_bytes: g(&c.frame_bytes),
            opens: g(&c.opens),
            closes: g(&c.closes),
            connect_failures: g(&c.connect_failures),
            dropped: g(&c.dropped),
            delivered: g(&c.delivered),
            queue_depth: hub.queue_depth(),
            queue_capacity: f.queue_capacity,
        }
    });
    let ready = hub.ready();
    let server = ServerFacts {
        clients: hub.clients(),
        dropped_clients: hub.dropped_clients(),
        alerts: hub.seq(),
        ready: ready.is_ok(),
        reason: ready.err(),
        finished: hub.finished(),
    };
    // The engine status is already JSON in the hub; the rest is small.
    let feed = serde_json::to_string(&feed).unwrap_or_else(|_| "null".into());
    let server = serde_json::to_string(&server).unwrap_or_else(|_| "null".into());
    let body = format!(
        "{{\"engine\":{},\"feed\":{feed},\"server\":{server}}}",
        hub.status_json()
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn metrics_page(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    if !authorized(&app, &headers, &uri) {
        return unauthorized();
    }
    let body = metrics::render(&app.hub, &app.sources);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn ws(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !authorized(&app, &headers, &uri) {
        return unauthorized();
    }
    match upgrade {
        Ok(u) => {
            let hub = app.hub.clone();
            u.on_upgrade(move |socket| client(socket, hub))
        }
        Err(e) => e.into_response(),
    }
}

/// How long a closing client gets to take its last messages before its
/// connection is dropped without them (it may not be reading at all).
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a client's task ends.
enum End {
    /// The client closed or its connection failed.
    Gone,
    /// The hub dropped it.
    Kicked(Kick),
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// One desk client: the snapshot, then its queue, until it goes or is
/// dropped. Its messages are read only to answer pings and see a close.
async fn client(mut socket: WebSocket, hub: Arc<Hub>) {
    let Some(Subscription {
        id,
        snapshot,
        mut rx,
        mut kick,
    }) = hub.subscribe()
    else {
        let _ = tokio::time::timeout(
            CLOSE_GRACE,
            socket.send(close(1001, "server shutting down")),
        )
        .await;
        return;
    };
    let (mut tx, mut incoming) = socket.split();
    let end = {
        let pump = async {
            tx.send(Message::Text(snapshot)).await?;
            while let Some(m) = rx.recv().await {
                tx.send(Message::Text(m)).await?;
            }
            Ok::<(), axum::Error>(())
        };
        let read = async {
            while let Some(Ok(m)) = incoming.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        };
        tokio::select! {
            biased;
            k = &mut kick => End::Kicked(k.unwrap_or(Kick::Shutdown)),
            () = read => End::Gone,
            r = pump => match r {
                Ok(()) => End::Kicked(Kick::Shutdown),
                Err(_) => End::Gone,
            },
        }
    };
    hub.unsubscribe(id);
    match end {
        End::Gone => {}
        End::Kicked(Kick::Slow(reason)) => {
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                tx.send(Message::Text(dropped_message(&reason).into()))
                    .await?;
                tx.send(close(1008, "too slow")).await
            })
            .await;
        }
        End::Kicked(Kick::Shutdown) => {
            let _ = tokio::time::timeout(CLOSE_GRACE, tx.send(close(1001, "server shutting down")))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Fb+c"), b"a/b c");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
