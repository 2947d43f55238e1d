//! A minimal HTTP/1.1 client: GET for REST snapshots (Binance depth) and a
//! JSON POST for the alert webhook; one request per TCP (or TLS)
//! connection, `Connection: close`, identity encoding.
//!
//! It exists so feedwatch needs no second HTTP stack beside the WebSocket
//! one: TLS is rustls with the same single crypto provider (ring) and the
//! webpki roots. It must never read more than `max_bytes` of a response,
//! never wait longer than its timeout, and never panic on what a server
//! sends (bad status lines, bad chunk sizes, truncated bodies are errors).

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://` or `https://host[:port]/path`.
    #[error("bad URL `{0}`")]
    Url(String),
    /// Connecting, TLS, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The response is not valid HTTP/1.1.
    #[error("bad response: {0}")]
    Response(String),
    /// The response is larger than allowed.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// No complete response within the timeout.
    #[error("timed out after {0} ms")]
    Timeout(u128),
}

/// A response: status, `Retry-After` seconds if given, body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent a number.
    pub retry_after_s: Option<u64>,
    /// The body, as text (lossy for invalid UTF-8).
    pub body: String,
}

struct Url<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, HttpError> {
    let bad = || HttpError::Url(url.to_string());
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(bad());
    }
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(Url {
        tls,
        host,
        port,
        path,
    })
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// GETs `url`, reading at most `max_bytes`, all within `timeout`.
pub async fn get(url: &str, timeout: Duration, max_bytes: usize) -> Result<Response, HttpError> {
    request(Method::Get, url, timeout, max_bytes).await
}

/// POSTs `body` as `application/json` to `url`, reading at most
/// `max_bytes` of the response, all within `timeout`. A response with any
/// status is `Ok`: the caller decides what a status means.
pub async fn post_json(
    url: &str,
    body: &[u8],
    timeout: Duration,
    max_bytes: usize,
) -> Result<Response, HttpError> {
    request(Method::PostJson(body), url, timeout, max_bytes).await
}

/// Checks that `url` is one this client can use (`http://` or
/// `https://host[:port][/path]`), without connecting.
pub fn check_url(url: &str) -> Result<(), HttpError> {
    parse_url(url).map(|_| ())
}

/// What to send: the only two requests feedwatch makes.
#[derive(Copy, Clone)]
enum Method<'a> {
    /// A REST snapshot.
    Get,
    /// A JSON document (webhook alerts).
    PostJson(&'a [u8]),
}

async fn request(
    method: Method<'_>,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Response, HttpError> {
    match tokio::time::timeout(timeout, request_inner(method, url, max_bytes)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(timeout.as_millis())),
    }
}

/// The request head and body, as one buffer (one write for small bodies).
fn request_bytes(method: Method<'_>, u: &Url<'_>) -> Vec<u8> {
    let (verb, accept, body) = match method {
        Method::Get => ("GET", "application/json", &[][..]),
        Method::PostJson(b) => ("POST", "*/*", b),
    };
    let mut head = format!(
        "{verb} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: feedwatch/{}\r\nAccept: {accept}\r\nConnection: close\r\n",
        u.path,
        u.host,
        env!("CARGO_PKG_VERSION")
    );
    if let Method::PostJson(b) = method {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

async fn request_inner(
    method: Method<'_>,
    url: &str,
    max_bytes: usize,
) -> Result<Response, HttpError> {
    let u = parse_url(url)?;
    let tcp = TcpStream::connect((u.host, u.port)).await?;
    let _ = tcp.set_nodelay(true);
    let request = request_bytes(method, &u);
    if u.tls {
        let name = rustls::pki_types::ServerName::try_from(u.host.to_string())
            .map_err(|_| HttpError::Url(url.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(tls_config());
        let stream = connector.connect(name, tcp).await?;
        exchange(stream, &request, max_bytes).await
    } else {
        exchange(tcp, &request, max_bytes).await
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    max_bytes: usize,
) -> Result<Response, HttpError> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        if buf.len() + n > max_bytes {
            return Err(HttpError::TooLarge(max_bytes));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        // Stop as soon as a Content-Length body is complete (a server may
        // keep the socket open despite `Connection: close`).
        if let Ok(Some(done)) = complete_len(&buf)
            && buf.len() >= done
        {
            break;
        }
    }
    parse_response(&buf)
}

/// Total length of the response when its head is complete and it has a
/// Content-Length.
fn complete_len(buf: &[u8]) -> Result<Option<usize>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(head)) => Ok(content_length(resp.headers)?.map(|n| head + n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(HttpError::Response(e.to_string())),
    }
}

fn header<'a>(headers: &'a [httparse::Header<'_>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<usize>, HttpError> {
    match header(headers, "content-length") {
        Some(v) => v
            .parse::<usize>()
            .map(Some)
            .map_err(|_| HttpError::Response(format!("bad Content-Length `{v}`"))),
        None => Ok(None),
    }
}

/// Parses a whole response read to its end.
fn parse_response(buf: &[u8]) -> Result<Response, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::Response(
                "connection closed before the end of the headers".into(),
            ));
        }
        Err(e) => return Err(HttpError::Response(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let retry_after_s = header(resp.headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
    let rest = buf.get(head..).unwrap_or_default();
    let chunked = header(resp.headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = content_length(resp.headers)? {
        rest.get(..n)
            .ok_or_else(|| {
                HttpError::Response(format!("body truncated: {} of {n} bytes", rest.len()))
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        retry_after_s,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Decodes a chunked body (chunk extensions and trailers ignored).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::with_capacity(rest.len());
    loop {
        let line_end = memchr::memmem::find(rest, b"\r\n")
            .ok_or_else(|| HttpError::Response("chunked body truncated".into()))?;
        let line = std::str::from_utf8(rest.get(..line_end).unwrap_or_default())
            .map_err(|_| HttpError::Response("bad chunk size line".into()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Response(format!("bad chunk size `{size_text}`")))?;
        rest = rest.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        let data = rest
            .get(..size)
            .ok_or_else(|| HttpError::Response("chunked body truncated".into()))?;
        out.extend_from_slice(data);
        rest = rest.get(size..).unwrap_or_default();
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| HttpError::Response("chunk not followed by CRLF".into()))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn urls_parse_and_bad_ones_are_refused() {
        let u = parse_url("https://api.binance.com/api/v3/depth?symbol=BTCUSDT").unwrap();
        assert!(u.tls);
        assert_eq!((u.host, u.port), ("api.binance.com", 443));
        assert_eq!(u.path, "/api/v3/depth?symbol=BTCUSDT");
        let u = parse_url("http://127.0.0.1:9001").unwrap();
        assert_eq!((u.host, u.port, u.path), ("127.0.0.1", 9001, "/"));
        for bad in ["ftp://x/", "http://:80/", "http://h:99999/", "http://h/a b"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_by_length_by_chunks_and_to_the_end() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "hello"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, "hello world");
        let r = parse_response(b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\n\r\nslow").unwrap();
        assert_eq!(
            (r.status, r.retry_after_s, r.body.as_str()),
            (429, Some(7), "slow")
        );
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"garbage\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn gets_from_a_local_server_within_its_limits() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for body in ["{\"ok\":true}".to_string(), "x".repeat(100_000)] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = [0u8; 1024];
                let n = s.read(&mut req).await.unwrap();
                let head = String::from_utf8_lossy(&req[..n]).to_string();
                assert!(
                    head.starts_with("GET /depth?symbol=BTCUSDT HTTP/1.1\r\n"),
                    "{head}"
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                // Keep the socket open: the client must stop at the length.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let url = format!("http://{addr}/depth?symbol=BTCUSDT");
        let r = get(&url, Duration::from_secs(2), 10_000).await.unwrap();
        assert_eq!(r.body, "{\"ok\":true}");
        let e = get(&url, Duration::from_secs(2), 10_000).await.unwrap_err();
        assert!(matches!(e, HttpError::TooLarge(10_000)), "{e}");
        server.await.unwrap();
        // Nobody listens any more: a clear error, not a hang.
        let e = get(&url, Duration::from_secs(2), 10_000).await.unwrap_err();
        assert!(matches!(e, HttpError::Io(_) | HttpError::Timeout(_)), "{e}");
    }

    #[tokio::test]
    async fn posts_json_with_its_length_and_reads_any_status() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = br#"{"text":"hello","alert":{"kind":"feed_silent"}}"#;
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // Read until the whole body (by its Content-Length) is in.
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed early");
                got.extend_from_slice(&chunk[..n]);
                if let Some(h) = memchr::memmem::find(&got, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..h]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if got.len() >= h + 4 + len {
                        // No Content-Length in the answer: the body ends
                        // when the server closes.
                        let _ = s
                            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\ninvalid_payload")
                            .await;
                        return (head, got[h + 4..].to_vec());
                    }
                }
            }
        });
        let url = format!("http://{addr}/hook/T1");
        let r = post_json(&url, body, Duration::from_secs(2), 10_000)
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (400, "invalid_payload"));
        let (head, sent) = server.await.unwrap();
        assert!(head.starts_with("POST /hook/T1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        assert_eq!(sent, body);
        assert!(check_url(&url).is_ok());
        assert!(check_url("hooks.example/x").is_err());
    }
}
