//! A headless Chromium driven over the DevTools protocol, for the tests
//! that check what a person would see (the report page, the dashboard).
//!
//! It starts Debian's `chromium` with a fresh profile in a temporary
//! folder, reads the browser's DevTools WebSocket address from its stderr,
//! and talks to it with the crate's own tokio-tungstenite client: create a
//! page, attach to it (flattened sessions), navigate, evaluate JavaScript,
//! poll a condition with a deadline, capture a PNG. Chromium is only
//! allowed to resolve 127.0.0.1, so a page can reach nothing but the test's
//! own server. Dropping the [`Browser`] kills Chromium's process group and
//! removes its profile, also when a test fails.
//!
//! A missing Chromium fails the test with a message saying how to install
//! it: a browser test never skips silently.
//!
//! Chromium must never leave a process behind for the machine's PID 1 to
//! reap: its crash handler is double-forked and its helpers can outlive
//! it, and on machines whose PID 1 is a supervisor that also runs shell
//! commands, reaping such orphans has cost running commands their exit
//! status. So Chromium starts as the init of its own PID namespace
//! (`unshare --pid --fork --kill-child --mount-proc`): whatever it spawns
//! is reparented to Chromium itself, and when Chromium or the `unshare` in
//! front of it dies, the kernel kills and reaps everything inside. Only
//! where no namespace can be made (unprivileged, without user namespaces)
//! does it start Chromium directly, and it says so on stderr.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one DevTools command may take. Generous: the test machines
/// have two cores shared with other builds.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long Chromium may take to start listening for DevTools.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a page may take to reach a condition, for the tests' calls to
/// [`Browser::wait_for`]: a loaded two-core machine renders slowly, and a
/// long deadline only costs time when the test is failing anyway.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(180);

/// The `unshare` arguments that put Chromium into its own PID namespace on
/// this machine, or None when no namespace can be made here. Probed once
/// per test binary with `true` in Chromium's place: as root a plain PID
/// namespace, otherwise one inside a user namespace.
fn pid_namespace() -> Option<&'static [&'static str]> {
    static CHOICE: std::sync::OnceLock<Option<&'static [&'static str]>> =
        std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        const ROOT: &[&str] = &["--pid", "--fork", "--kill-child", "--mount-proc"];
        const USER: &[&str] = &[
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
        ];
        for args in [ROOT, USER] {
            let ok = Command::new("unshare")
                .args(args)
                .arg("true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(args);
            }
        }
        eprintln!(
            "note: `unshare` cannot make a PID namespace here; Chromium starts without one \
             and its orphaned helpers go to this machine's init"
        );
        None
    })
}

/// Where Chromium is: `$FEEDWATCH_CHROMIUM`, else Debian's
/// `/usr/bin/chromium`, else `chromium` on the PATH. Fails the test with
/// the install command when there is none.
pub fn chromium_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FEEDWATCH_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "FEEDWATCH_CHROMIUM is {}, which is not a file. Install Chromium with \
             `apt-get install -y chromium` (Debian/Ubuntu), or point FEEDWATCH_CHROMIUM at a \
             Chromium or Chrome binary.",
            p.display()
        );
        return p;
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.is_file() {
        return debian;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("chromium");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for this test and was not found (looked for \
         $FEEDWATCH_CHROMIUM, /usr/bin/chromium and `chromium` on the PATH). \
         Install it with `apt-get install -y chromium` (Debian/Ubuntu), or set \
         FEEDWATCH_CHROMIUM to a Chromium or Chrome binary."
    );
}

/// One headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    rt: tokio::runtime::Runtime,
    ws: Option<Ws>,
    session: String,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium with a `width` x `height` viewport and opens a blank
    /// page.
    pub fn launch(width: u32, height: u32) -> Browser {
        let exe = chromium_path();
        static LAUNCHES: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "feedwatch-chromium-{}-{}",
            std::process::id(),
            LAUNCHES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let mut cmd = match pid_namespace() {
            Some(ns) => {
                let mut c = Command::new("unshare");
                c.args(ns).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--metrics-recording-only",
            "--hide-scrollbars",
            "--mute-audio",
            // Nothing but the test's own server: every other name fails to
            // resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.display()),
            "about:blank",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        // Its own process group (`unshare` and everything in the namespace
        // share it), so the renderers go with it at the end even when no
        // namespace could be made.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // Orphans of Chromium's group come to this process, not to the
        // machine's PID 1 (see Drop), also when `unshare` dies before the
        // Chromium it started.
        // SAFETY: prctl(2) with integer arguments only.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                panic!(
                    "cannot start {}: {e}. Install Chromium with `apt-get install -y chromium`.",
                    exe.display()
                );
            }
        };
        let stderr = child.stderr.take();
        // From here on the guard owns Chromium: any panic cleans up.
        let mut b = Browser {
            child,
            profile,
            rt,
            ws: None,
            session: String::new(),
            next_id: 0,
        };
        let url = devtools_url(stderr);
        let ws =
            b.rt.block_on(tokio_tungstenite::connect_async(url.as_str()))
                .unwrap_or_else(|e| panic!("cannot connect to Chromium's DevTools at {url}: {e}"))
                .0;
        b.ws = Some(ws);
        let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.page("Page.enable", json!({}));
        b.page("Runtime.enable", json!({}));
        b.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// Sends one command (to the page's session, or to the browser when
    /// `session` is None) and returns its result; panics on a protocol
    /// error or after [`COMMAND_TIMEOUT`].
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let ws = self.ws.as_mut().unwrap();
        let reply = self.rt.block_on(async {
            ws.send(Message::text(msg.to_string())).await.unwrap();
            let wait = async {
                while let Some(m) = ws.next().await {
                    let m = m.unwrap_or_else(|e| panic!("DevTools connection failed: {e}"));
                    let Message::Text(t) = m else { continue };
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    // Events have no id; replies to other commands cannot
                    // be pending (one call at a time).
                    if v["id"].as_u64() == Some(id) {
                        return v;
                    }
                }
                panic!("Chromium closed the DevTools connection during {method}");
            };
            tokio::time::timeout(COMMAND_TIMEOUT, wait)
                .await
                .unwrap_or_else(|_| panic!("{method}: no reply within {COMMAND_TIMEOUT:?}"))
        });
        if let Some(e) = reply.get("error") {
            panic!("{method} failed: {e}");
        }
        reply["result"].clone()
    }

    /// A command to the page.
    fn page(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.call(Some(&s), method, params)
    }

    /// Loads `url` in the page (waits for the navigation to commit, not
    /// for the page to settle: poll with [`Browser::wait_for`]).
    pub fn navigate(&mut self, url: &str) {
        let r = self.page("Page.navigate", json!({"url": url}));
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            panic!("cannot load {url}: {e}");
        }
    }

    /// Evaluates `expr` in the page and returns its value (JSON). A thrown
    /// exception is returned as `{"exception": "..."}` so that polling can
    /// go on while the page is still loading.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("exception")
                .to_string();
            return json!({ "exception": text });
        }
        r["result"]["value"].clone()
    }

    /// Polls `cond` (a JavaScript expression) until it is `true`, for at
    /// most `timeout` (the tests use [`PAGE_TIMEOUT`]). On timeout, fails
    /// with `what`, the last value of `cond`, `probe` (an expression
    /// describing the page's state) and the start of the page's DOM.
    pub fn wait_for(&mut self, what: &str, cond: &str, probe: &str, timeout: Duration) {
        let start = Instant::now();
        let mut last = Value::Null;
        let mut polls = 0u32;
        while start.elapsed() < timeout {
            last = self.eval(cond);
            polls += 1;
            if last == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let state = self.eval(probe);
        let dom = self.eval(
            "(() => { const h = document.documentElement ? document.documentElement.outerHTML : ''; \
               return h.length > 6000 ? h.slice(0, 6000) + ` ... (${h.length} characters)` : h; })()",
        );
        panic!(
            "timed out after {:?} ({polls} polls) waiting for {what}\n  condition gave: {last}\n  \
             page state: {}\n  DOM: {}",
            start.elapsed(),
            serde_json::to_string_pretty(&state).unwrap_or_default(),
            dom.as_str().map_or_else(|| dom.to_string(), str::to_string)
        );
    }

    /// Saves a PNG of the whole page (beyond the viewport) to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let size = self.eval(
            "({w: Math.ceil(document.documentElement.scrollWidth), \
              h: Math.ceil(document.documentElement.scrollHeight)})",
        );
        let w = size["w"].as_f64().unwrap_or(1200.0).clamp(1.0, 4000.0);
        let h = size["h"].as_f64().unwrap_or(800.0).clamp(1.0, 16000.0);
        let r = self.page(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
            }),
        );
        let data = r["data"].as_str().expect("screenshot data");
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely, then make sure: the whole process group goes.
        if let Some(ws) = self.ws.as_mut() {
            let close = json!({"id": u64::MAX, "method": "Browser.close"}).to_string();
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), ws.send(Message::text(close))).await
            });
        }
        self.ws = None;
        let pid = self.child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The group is signalled with the system call, never with the
        // `kill` program: procps-ng 4.0's `kill -KILL -10` sends SIGKILL to
        // pid -1, every process the user may signal (seen under strace).
        if let Ok(pgid) = libc::pid_t::try_from(pid)
            && pgid > 1
        {
            // SAFETY: kill(2) takes plain integers; a negative pid names
            // the process group that `process_group(0)` gave Chromium.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Anything of the group that outlived its parent (Chromium itself
        // when `unshare` went first) was reparented to this process, the
        // subreaper: reap the group, and only the group, so that other
        // tests' children keep their exit status.
        if let Ok(pgid) = libc::pid_t::try_from(pid)
            && pgid > 1
        {
            loop {
                let mut status = 0;
                // SAFETY: waitpid(2) writes only to `status`.
                let r = unsafe { libc::waitpid(-pgid, &mut status, 0) };
                if r <= 0 {
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Reads Chromium's stderr until it says where DevTools listens, then
/// keeps draining it in the background (a full pipe would stall Chromium).
fn devtools_url(stderr: Option<std::process::ChildStderr>) -> String {
    let Some(stderr) = stderr else {
        panic!("Chromium's stderr was not captured");
    };
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    std::thread::spawn(move || {
        let mut seen: Vec<String> = Vec::new();
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(i) = line.find("DevTools listening on ") {
                    let url = line[i + "DevTools listening on ".len()..]
                        .trim()
                        .to_string();
                    let _ = tx.send(Ok(url));
                    sent = true;
                } else if seen.len() < 40 {
                    seen.push(line);
                }
            }
        }
        if !sent {
            let _ = tx.send(Err(seen.join("\n")));
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(url)) => url,
        Ok(Err(log)) => panic!(
            "Chromium exited before listening for DevTools (is it installed? \
             `apt-get install -y chromium`):\n{log}"
        ),
        Err(_) => panic!("Chromium did not say where DevTools listens within {START_TIMEOUT:?}"),
    }
}

/// The cargo target folder (screenshots go there, beside the builds).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}
