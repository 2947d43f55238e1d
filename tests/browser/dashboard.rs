//! The desk dashboard in a real browser, on the AWS-style outage scenario
//! (real Binance recordings, spot silenced for 60 s by injected code).
//!
//! `the_page_draws_the_desk_protocol` serves the page and speaks the desk
//! protocol itself (snapshot, then the alerts and statuses a real replay
//! of the scenario produced, up to the middle of the outage), so the page
//! is checked on its own. `the_desk_server_shows_the_outage_live` runs the
//! real thing (`feedwatch replay --serve`), which needs the desk server.

use crate::util::{aws_outage, browser};

use feedwatch::alert::Alert;
use feedwatch::detect::DetectConfig;
use feedwatch::engine::Engine;
use feedwatch::engine::Observer;
use feedwatch::model::{Nanos, SECOND};
use feedwatch::replay::{Input, Options, replay_input};
use feedwatch::scenario::Scenario;
use feedwatch::serve::dashboard::INDEX_HTML;
use futures::SinkExt;
use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

fn scenario() -> PathBuf {
    aws_outage()
}

/// What the browser must end up showing while spot is out: the venue
/// outage among the open incidents, spot's BTC/USDT cell silent, the
/// futures' cell not.
const OUTAGE_SHOWN: &str = r#"(() => {
    const live = document.querySelector('#connection[data-state="live"]');
    const inc = document.querySelector('#incidents [data-kind="venue_outage"][data-venue="binance-spot"]');
    const spot = document.querySelector('#grid [data-venue="binance-spot"][data-symbol="BTC/USDT"][data-state="silent"]');
    const usdm = document.querySelector('#grid td[data-venue="binance-usdm"][data-symbol="BTC/USDT"]');
    return !!(live && inc && spot && usdm && usdm.dataset.state !== 'silent');
})()"#;

/// The page's state, for the failure message.
const PAGE_STATE: &str = r#"({
    connection: document.getElementById('connection').textContent,
    grid: [...document.querySelectorAll('#grid td[data-state]')].map(c => [c.dataset.venue, c.dataset.symbol, c.dataset.state]),
    incidents: [...document.querySelectorAll('#incidents .incident')].map(i => [i.dataset.kind, i.dataset.venue, i.dataset.phase]),
    charts: document.querySelectorAll('#charts svg').length
})"#;

/// The desk messages of a replay of the scenario up to `until` seconds
/// after its start: every alert (seq 1, 2, ...) and a status every 5 s of
/// engine time, in the order the engine produced them.
fn desk_messages(until_s: i64) -> Vec<String> {
    struct Statuses {
        out: Rc<RefCell<Vec<(Nanos, String)>>>,
        next: Nanos,
    }
    impl Observer for Statuses {
        fn observe(&mut self, engine: &Engine) {
            if engine.now() < self.next {
                return;
            }
            self.next = engine.now() + 5 * SECOND;
            let st = serde_json::to_string(&engine.status()).unwrap();
            self.out.borrow_mut().push((
                engine.now(),
                format!("{{\"type\":\"status\",\"status\":{st}}}"),
            ));
        }
    }
    let path = scenario();
    let t0 = Scenario::load(&path).unwrap().t0;
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut obs = Statuses {
        out: out.clone(),
        next: 0,
    };
    let alerts = out.clone();
    let mut seq = 0u64;
    let mut sink = |a: &Alert, _: bool| -> std::io::Result<()> {
        seq += 1;
        alerts.borrow_mut().push((
            a.at,
            format!(
                "{{\"type\":\"alert\",\"seq\":{seq},\"alert\":{}}}",
                a.to_json()
            ),
        ));
        Ok(())
    };
    let opts = Options {
        observer: Some(&mut obs),
        ..Options::default()
    };
    replay_input(
        DetectConfig::default(),
        &Input::Scenario(path),
        opts,
        &mut sink,
    )
    .unwrap();
    let until = t0 + until_s * SECOND;
    let msgs: Vec<String> = out
        .borrow()
        .iter()
        .filter(|(at, _)| *at <= until)
        .map(|(_, m)| m.clone())
        .collect();
    msgs
}

/// Serves the page at `/` and the given messages (after an empty
/// snapshot) on `/ws`, on 127.0.0.1; returns the port and the request
/// lines of the WebSocket connections.
fn serve(messages: Vec<String>) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut head = [0u8; 512];
                let n = stream.peek(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]).to_string();
                let line = head.lines().next().unwrap_or("").to_string();
                if line.starts_with("GET /ws") {
                    seen2.lock().unwrap().push(line);
                    let msgs = messages.clone();
                    tokio::spawn(async move {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                            return;
                        };
                        let snapshot = r#"{"type":"snapshot","seq":0,"at":"2024-08-08T23:54:13.937Z","incidents":[],"recent":[],"status":null,"series":[]}"#;
                        let _ = ws.send(Message::text(snapshot)).await;
                        for m in msgs {
                            if ws.send(Message::text(m)).await.is_err() {
                                return;
                            }
                        }
                        // Keep the connection open, as a live desk would.
                        tokio::time::sleep(Duration::from_secs(120)).await;
                    });
                } else {
                    tokio::spawn(async move {
                        // Read the request before answering it.
                        let mut buf = vec![0u8; 4096];
                        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                        let body = INDEX_HTML.as_bytes();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(body).await;
                        let _ = stream.shutdown().await;
                    });
                }
            }
        });
    });
    (port, seen)
}

#[test]
fn the_page_draws_the_desk_protocol() {
    // Up to 150 s: spot has been silent for 30 s, its outage is open.
    let msgs = desk_messages(150);
    assert!(
        msgs.iter().any(|m| m.contains("\"kind\":\"venue_outage\"")),
        "the replay raised the outage by then"
    );
    let (port, seen) = serve(msgs);
    let mut b = browser::Browser::launch(1280, 1000);
    b.navigate(&format!("http://127.0.0.1:{port}/?token=s3cret"));
    b.wait_for(
        "the outage on the dashboard",
        OUTAGE_SHOWN,
        PAGE_STATE,
        browser::PAGE_TIMEOUT,
    );
    // The incident's timeline holds its opening step with its summary.
    let step = b.eval(
        r#"(() => { const li = document.querySelector('#incidents [data-kind="venue_outage"] li');
                   return li ? li.textContent : null; })()"#,
    );
    assert!(
        step.as_str().is_some_and(|s| s.contains("binance-spot")),
        "{step}"
    );
    // Prices are charted per symbol, one line per venue.
    let lines = b.eval(
        r#"[...document.querySelectorAll('#charts figure[data-symbol="BTC/USDT"] polyline.series')].map(l => l.dataset.venue).sort()"#,
    );
    assert_eq!(lines, serde_json::json!(["binance-spot", "binance-usdm"]));
    b.screenshot(&browser::target_dir().join("dashboard-protocol-aws-spot-outage.png"));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.starts_with("GET /ws?token=s3cret ")),
        "the page passes its token on: {seen:?}"
    );
}

/// Kills the server child at the end, also when the test fails.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_desk_server_shows_the_outage_live() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-serve.log");
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_feedwatch"))
            .args([
                "replay",
                "--serve",
                &format!("127.0.0.1:{port}"),
                "--speed",
                "2",
            ])
            .arg(scenario())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || child.0.try_wait().unwrap().is_some() {
            let mut err = String::new();
            let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut err));
            panic!("the desk server did not listen on 127.0.0.1:{port}:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut b = browser::Browser::launch(1280, 1000);
    b.navigate(&format!("http://127.0.0.1:{port}/"));
    // At 2x, the outage starts 60 s in and lasts 30 s: wide enough for a
    // slow Chromium start on a loaded machine.
    b.wait_for(
        "the outage on the dashboard",
        OUTAGE_SHOWN,
        PAGE_STATE,
        Duration::from_secs(150),
    );
    b.screenshot(&browser::target_dir().join("dashboard-aws-spot-outage.png"));
    drop(b);
    drop(child);
}
