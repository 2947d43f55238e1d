//! Opening a venue's WebSocket stage by stage (DNS lookup, TCP connect,
//! TLS and WebSocket handshakes), so that a failed attempt says which
//! stage failed and why in words a desk can act on: the reason goes into
//! the `fail` record, and from there into the `connection_lost` alert.
//!
//! One attempt, bounded by the connect timeout: it must never retry (the
//! connection task owns the retry schedule), never wait without bound, and
//! never write a record (the connection task does, once it knows the
//! outcome).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// An open WebSocket to a venue.
pub(super) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Why an attempt failed.
pub(super) struct ConnectError {
    /// The stage that failed and why.
    pub(super) reason: String,
    /// Server-imposed wait (429/418 Retry-After on the handshake).
    pub(super) retry_after: Option<Duration>,
}

impl ConnectError {
    fn new(reason: String) -> ConnectError {
        ConnectError {
            reason,
            retry_after: None,
        }
    }
}

/// Where an attempt is, for the words of a timeout.
#[derive(Clone, Copy)]
enum Stage {
    Dns,
    Tcp,
    Handshake,
}

/// Where an endpoint is: host (IPv6 without brackets), port, and whether
/// it speaks TLS.
struct Endpoint {
    host: String,
    port: u16,
    tls: bool,
}

impl Endpoint {
    fn of(request: &Request) -> Result<Endpoint, ConnectError> {
        let uri = request.uri();
        let Some(host) = uri.host() else {
            return Err(ConnectError::new(format!("endpoint URL {uri} has no host")));
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => {
                let msg = format!("endpoint URL {uri} is neither ws:// nor wss://");
                return Err(ConnectError::new(msg));
            }
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint { host, port, tls })
    }

    /// What the attempt was doing at `stage`.
    fn doing(&self, stage: Stage) -> String {
        match stage {
            Stage::Dns => format!("DNS lookup of {}", self.host),
            Stage::Tcp => format!("TCP connect to {}:{}", self.host, self.port),
            Stage::Handshake => format!("{} with {}", self.handshake(), self.host),
        }
    }

    fn handshake(&self) -> &'static str {
        if self.tls {
            "TLS and WebSocket handshake"
        } else {
            "WebSocket handshake"
        }
    }
}

/// Opens a WebSocket to `url` within `limit`: the error names the stage
/// that failed (or was under way when time ran out) and why.
pub(super) async fn connect(
    url: &str,
    config: WebSocketConfig,
    limit: Duration,
) -> Result<Ws, ConnectError> {
    let request = url
        .into_client_request()
        .map_err(|e| ConnectError::new(format!("bad endpoint URL {url}: {e}")))?;
    let at = Endpoint::of(&request)?;
    let mut stage = Stage::Dns;
    let attempt = timeout(limit, staged(request, &at, config, &mut stage)).await;
    match attempt {
        Ok(r) => r,
        Err(_) => Err(ConnectError::new(format!(
            "connect timed out after {} ms during the {}",
            limit.as_millis(),
            at.doing(stage)
        ))),
    }
}

/// The stages in turn, each failure worded for its stage; `stage` says
/// where it got to.
async fn staged(
    request: Request,
    at: &Endpoint,
    config: WebSocketConfig,
    stage: &mut Stage,
) -> Result<Ws, ConnectError> {
    let Endpoint { host, port, .. } = at;
    *stage = Stage::Dns;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
        .await
        .map_err(|e| ConnectError::new(format!("DNS lookup of {host} failed: {e}")))?
        .collect();
    if addrs.is_empty() {
        let msg = format!("DNS lookup of {host} found no address");
        return Err(ConnectError::new(msg));
    }
    *stage = Stage::Tcp;
    let socket = TcpStream::connect(&addrs[..])
        .await
        .map_err(|e| ConnectError::new(tcp_failed(at, &e)))?;
    // Small frames, latency matters: no Nagle (as `connect_async` did).
    let _ = socket.set_nodelay(true);
    *stage = Stage::Handshake;
    match tokio_tungstenite::client_async_tls_with_config(request, socket, Some(config), None).await
    {
        Ok((ws, _response)) => Ok(ws),
        Err(e) => Err(ConnectError {
            retry_after: retry_after(&e),
            reason: handshake_failed(at, &e),
        }),
    }
}

fn tcp_failed(at: &Endpoint, e: &io::Error) -> String {
    let Endpoint { host, port, .. } = at;
    if e.kind() == io::ErrorKind::ConnectionRefused {
        format!(
            "TCP connection to {host}:{port} refused (nothing listens there, or a firewall rejects it)"
        )
    } else {
        format!("TCP connect to {host}:{port} failed: {e}")
    }
}

fn handshake_failed(at: &Endpoint, e: &WsError) -> String {
    let host = &at.host;
    match e {
        WsError::Http(resp) => {
            format!(
                "WebSocket handshake with {host} refused: HTTP {}",
                resp.status()
            )
        }
        WsError::Tls(t) => format!("TLS setup for {host} failed: {t}"),
        // rustls reports a failed TLS handshake as an I/O error around its own.
        WsError::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => format!("TLS handshake with {host} failed: {tls}"),
            None => format!("{} with {host} failed: {io}", at.handshake()),
        },
        other => format!("{} with {host} failed: {other}", at.handshake()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<Ws, ConnectError>) -> String {
        match r {
            Ok(_) => panic!("connected"),
            Err(e) => e.reason,
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_tcp_connect() {
        // Bound but not listening: the kernel refuses connections to it.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let url = format!("ws://{addr}/stream");
        let r = connect(&url, WebSocketConfig::default(), Duration::from_secs(5)).await;
        let why = reason(r);
        assert!(
            why.starts_with(&format!(
                "TCP connection to 127.0.0.1:{} refused",
                addr.port()
            )),
            "{why}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out_in_the_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("ws://{addr}/");
        let r = connect(&url, WebSocketConfig::default(), Duration::from_millis(200)).await;
        assert_eq!(
            reason(r),
            "connect timed out after 200 ms during the WebSocket handshake with 127.0.0.1"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn a_url_that_is_not_a_websocket_says_so() {
        let r = connect(
            "http://127.0.0.1:1/",
            WebSocketConfig::default(),
            Duration::from_secs(1),
        );
        let why = reason(r.await);
        assert!(why.contains("http://127.0.0.1:1/"), "{why}");
    }
}
