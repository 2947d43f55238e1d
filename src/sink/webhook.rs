//! The webhook sink: every alert POSTed as a Slack-compatible JSON document
//! (`{"text": "<one line>", "alert": {...}}`) to one URL, in order, one at a
//! time, off the engine thread.
//!
//! The engine only puts the alert into a bounded queue (`try_send`); a
//! worker thread with its own small async runtime delivers it. A 2xx is
//! delivered; 408, 429, 5xx and connection errors are retried with
//! exponential backoff and jitter (`Retry-After` honoured) until the alert
//! has waited `max_retry_s` since it was queued; any other status is not
//! retried. An alert given up, or one that finds the queue full, goes to the
//! dead-letter file (JSON lines, with the reason), so none is lost. At
//! shutdown the worker keeps delivering for `shutdown_flush_ms`, then
//! dead-letters what is left.
//!
//! It must never block the engine (only the dead-letter file is written on
//! the engine thread, and only when the queue is full), never deliver out of
//! order, and never drop an alert without a dead-letter line (or, if even
//! that file fails, the alert itself on stderr).

use super::SinkCounters;
use super::log::{AppendLog, Fsync, LogOptions};
use crate::alert::Alert;
use crate::model::format_rfc3339_ms;
use crate::net::http::{self, HttpError};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

/// How the webhook delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookOptions {
    /// `http://` or `https://` URL to POST to.
    pub url: String,
    /// Alerts waiting for delivery at most; one more is dead-lettered.
    pub queue: usize,
    /// An alert is given up this long after it was queued (after at least
    /// one attempt).
    pub max_retry: Duration,
    /// The dead-letter file (JSON lines).
    pub dead_letter: PathBuf,
    /// Time allowed for one POST (connect, TLS, request, response).
    pub timeout: Duration,
    /// First retry delay; doubled per failure (plus jitter of up to the
    /// delay itself), capped at `backoff_max`.
    pub backoff_initial: Duration,
    /// Cap of the retry delay before jitter.
    pub backoff_max: Duration,
    /// At shutdown, delivery goes on this long; then the rest is
    /// dead-lettered.
    pub shutdown_flush: Duration,
}

/// Largest response read from the webhook (its body only feeds a reason).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How much of a refusing response's body goes into a dead-letter reason.
const REASON_BODY_CHARS: usize = 300;

/// One alert to deliver.
struct Job {
    /// The document POSTed.
    payload: String,
    /// Where the alert's own JSON starts in `payload` (it runs to the
    /// closing brace), for the dead-letter line.
    alert_at: usize,
    queued_at: Instant,
}

impl Job {
    fn alert_json(&self) -> &str {
        let end = self.payload.len().saturating_sub(1);
        self.payload.get(self.alert_at..end).unwrap_or("null")
    }
}

/// The engine side: queues alerts; dropping it starts the shutdown flush
/// and waits for it (at most about `shutdown_flush` plus one timeout).
pub struct Webhook {
    tx: Option<mpsc::Sender<Job>>,
    closing: watch::Sender<bool>,
    dead: Arc<DeadLetter>,
    counters: Arc<SinkCounters>,
    worker: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Opens the dead-letter file (an error names it) and starts the
    /// delivery thread.
    pub fn start(opts: WebhookOptions, counters: Arc<SinkCounters>) -> io::Result<Webhook> {
        http::check_url(&opts.url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let dead = Arc::new(DeadLetter::open(
            opts.dead_letter.clone(),
            counters.clone(),
        )?);
        let (tx, rx) = mpsc::channel::<Job>(opts.queue.max(1));
        let (closing, closing_rx) = watch::channel(false);
        let worker = {
            let dead = dead.clone();
            let counters = counters.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name("feedwatch-webhook".into())
                .spawn(move || {
                    crate::net::install_crypto();
                    let w = Worker {
                        opts,
                        dead,
                        counters,
                        closing: closing_rx,
                        flush_until: None,
                    };
                    rt.block_on(w.run(rx));
                })?
        };
        Ok(Webhook {
            tx: Some(tx),
            closing,
            dead,
            counters,
            worker: Some(worker),
        })
    }

    /// Queues `alert` (its JSON is `json`, no newline) without waiting; a
    /// full queue dead-letters it at once.
    pub fn send(&self, alert: &Alert, json: &str) {
        let job = job(alert, json);
        let Some(tx) = &self.tx else {
            self.dead.write(&job, "webhook stopped", 0);
            return;
        };
        // Counted before it is in the queue, so the worker's decrement can
        // never come first.
        self.counters
            .webhook_queue_depth
            .fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => {
                self.counters.webhook_queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters
                    .webhook_queue_depth
                    .fetch_sub(1, Ordering::Relaxed);
                let (job, reason) = match e {
                    mpsc::error::TrySendError::Full(j) => {
                        self.counters
                            .webhook_queue_full
                            .fetch_add(1, Ordering::Relaxed);
                        (
                            j,
                            format!("webhook queue full ({} alerts waiting)", tx.max_capacity()),
                        )
                    }
                    mpsc::error::TrySendError::Closed(j) => (j, "webhook stopped".to_string()),
                };
                self.dead.write(&job, &reason, 0);
            }
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        // No more alerts: the worker drains the queue within its flush time.
        self.tx = None;
        self.closing.send_replace(true);
        if let Some(h) = self.worker.take()
            && h.join().is_err()
        {
            tracing::error!(
                "the webhook thread panicked; queued alerts may be missing from the dead-letter file"
            );
        }
    }
}

/// The document for one alert: `text` for chat tools, `alert` for programs.
fn job(alert: &Alert, json: &str) -> Job {
    let text = serde_json::to_string(&text_line(alert)).unwrap_or_else(|_| "\"\"".into());
    let mut payload = String::with_capacity(text.len() + json.len() + 20);
    payload.push_str("{\"text\":");
    payload.push_str(&text);
    payload.push_str(",\"alert\":");
    let alert_at = payload.len();
    payload.push_str(json);
    payload.push('}');
    Job {
        payload,
        alert_at,
        queued_at: Instant::now(),
    }
}

/// `CRITICAL feed_silent open: binance-spot BTC/USDT bbo: <summary>` on one
/// line.
pub fn text_line(a: &Alert) -> String {
    let severity = a.severity.name().to_ascii_uppercase();
    let state = a.state.name();
    let mut s = format!("{severity} {} {state}: {}", a.kind, a.venue.id());
    for part in [&a.symbol, &a.stream].into_iter().flatten() {
        s.push(' ');
        s.push_str(part);
    }
    s.push_str(": ");
    s.push_str(&a.summary);
    s.replace(['\n', '\r'], " ")
}

/// The delivery thread's state.
struct Worker {
    opts: WebhookOptions,
    dead: Arc<DeadLetter>,
    counters: Arc<SinkCounters>,
    closing: watch::Receiver<bool>,
    /// Set once shutdown began: deliver until then, dead-letter after.
    flush_until: Option<Instant>,
}

/// What one attempt says about the alert.
enum Outcome {
    Delivered,
    /// Try again, after at least this many seconds when the server said so.
    Retry {
        why: String,
        after_s: Option<u64>,
    },
    /// Not retried: dead-letter with this reason.
    Refused(String),
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        loop {
            let job = if self.flush_until.is_some() {
                rx.try_recv().ok()
            } else {
                tokio::select! {
                    j = rx.recv() => j,
                    () = closed(&mut self.closing) => {
                        self.start_flush();
                        continue;
                    }
                }
            };
            let Some(job) = job else { break };
            self.counters
                .webhook_queue_depth
                .fetch_sub(1, Ordering::Relaxed);
            self.deliver(job).await;
        }
        // Anything that slipped in after the last look is dead-lettered,
        // never dropped with the queue.
        rx.close();
        while let Ok(job) = rx.try_recv() {
            self.counters
                .webhook_queue_depth
                .fetch_sub(1, Ordering::Relaxed);
            self.dead
                .write(&job, "feedwatch shut down before delivery", 0);
        }
        let dead = self.counters.webhook_dead_lettered.load(Ordering::Relaxed);
        if dead > 0 {
            tracing::warn!(
                "webhook: {dead} alert(s) dead-lettered to {}",
                self.opts.dead_letter.display()
            );
        }
    }

    fn start_flush(&mut self) {
        if self.flush_until.is_none() {
            self.flush_until = Some(Instant::now() + self.opts.shutdown_flush);
        }
    }

    async fn deliver(&mut self, job: Job) {
        let mut backoff = crate::net::Backoff::new(
            self.opts.backoff_initial,
            self.opts.backoff_max,
            // Jitter differs per alert so retries of many spread out.
            job.queued_at.elapsed().subsec_nanos().into(),
        );
        let give_up_at = job.queued_at + self.opts.max_retry;
        let mut attempts: u32 = 0;
        loop {
            let mut timeout = self.opts.timeout;
            if let Some(until) = self.flush_until {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let why = format!(
                        "not delivered within the shutdown flush of {} ms{}",
                        self.opts.shutdown_flush.as_millis(),
                        if attempts > 0 {
                            format!(" ({attempts} attempt(s) failed)")
                        } else {
                            String::new()
                        }
                    );
                    self.dead.write(&job, &why, attempts);
                    return;
                }
                timeout = timeout.min(left);
            }
            attempts += 1;
            let (why, after_s) = match self.attempt(&job, timeout).await {
                Outcome::Delivered => {
                    self.counters
                        .webhook_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Outcome::Refused(why) => {
                    tracing::error!("webhook refused an alert (not retried): {why}");
                    self.dead.write(&job, &why, attempts);
                    return;
                }
                Outcome::Retry { why, after_s } => (why, after_s),
            };
            let now = Instant::now();
            if now >= give_up_at {
                let why = format!(
                    "gave up after {attempts} attempt(s) over {} s: {why}",
                    now.duration_since(job.queued_at).as_secs()
                );
                tracing::error!("webhook: {why}");
                self.dead.write(&job, &why, attempts);
                return;
            }
            let (_, mut delay) = backoff.next_after(after_s.map(Duration::from_secs));
            // One last attempt at the give-up time, not a wait beyond it.
            delay = delay.min(give_up_at - now);
            if attempts == 1 || attempts.is_power_of_two() {
                tracing::warn!(
                    "webhook: attempt {attempts} failed ({why}); retrying in {} ms",
                    delay.as_millis()
                );
            }
            self.counters
                .webhook_retries
                .fetch_add(1, Ordering::Relaxed);
            self.pause(delay).await;
        }
    }

    /// Waits `delay`, cut short by the end of the shutdown flush.
    async fn pause(&mut self, delay: Duration) {
        let until = Instant::now() + delay;
        loop {
            let until = match self.flush_until {
                Some(f) => until.min(f),
                None => until,
            };
            if self.flush_until.is_some() {
                tokio::time::sleep_until(until.into()).await;
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => return,
                () = closed(&mut self.closing) => self.start_flush(),
            }
        }
    }

    async fn attempt(&self, job: &Job, timeout: Duration) -> Outcome {
        match http::post_json(
            &self.opts.url,
            job.payload.as_bytes(),
            timeout,
            MAX_RESPONSE_BYTES,
        )
        .await
        {
            Ok(r) if (200..300).contains(&r.status) => Outcome::Delivered,
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 || r.status < 200 => {
                Outcome::Retry {
                    why: format!("HTTP {}{}", r.status, excerpt(&r.body)),
                    after_s: r.retry_after_s,
                }
            }
            Ok(r) => Outcome::Refused(format!(
                "HTTP {}{}{}",
                r.status,
                if (300..400).contains(&r.status) {
                    " (redirects are not followed)"
                } else {
                    ""
                },
                excerpt(&r.body)
            )),
            Err(e @ HttpError::Url(_)) => Outcome::Refused(e.to_string()),
            Err(e) => Outcome::Retry {
                why: e.to_string(),
                after_s: None,
            },
        }
    }
}

/// `: <start of the body>` for a reason, or nothing.
fn excerpt(body: &str) -> String {
    let t = body.trim();
    if t.is_empty() {
        return String::new();
    }
    let cut: String = t.chars().take(REASON_BODY_CHARS).collect();
    format!(": {}", cut.replace(['\n', '\r'], " "))
}

/// Completes when shutdown was asked for (or the asking side is gone).
async fn closed(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|c| *c).await;
}

/// The dead-letter file: one JSON line per alert given up,
/// `{"dead_at": <wall time>, "reason": ..., "attempts": n, "alert": {...}}`,
/// fsynced at each line (it is rare and the alert exists nowhere else).
struct DeadLetter {
    log: Mutex<AppendLog>,
    path: PathBuf,
    counters: Arc<SinkCounters>,
}

impl DeadLetter {
    fn open(path: PathBuf, counters: Arc<SinkCounters>) -> io::Result<DeadLetter> {
        let log = AppendLog::open(LogOptions {
            path: path.clone(),
            fsync: Fsync::Always,
            fsync_interval: Duration::from_secs(1),
            rotate_bytes: 0,
            keep: 0,
        })?;
        Ok(DeadLetter {
            log: Mutex::new(log),
            path,
            counters,
        })
    }

    fn write(&self, job: &Job, reason: &str, attempts: u32) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let line = format!(
            "{{\"dead_at\":\"{}\",\"reason\":{},\"attempts\":{attempts},\"alert\":{}}}\n",
            format_rfc3339_ms(now),
            serde_json::to_string(reason).unwrap_or_else(|_| "\"\"".into()),
            job.alert_json()
        );
        self.counters
            .webhook_dead_lettered
            .fetch_add(1, Ordering::Relaxed);
        let r = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(line.as_bytes());
        if let Err(e) = r {
            self.counters
                .dead_letter_errors
                .fetch_add(1, Ordering::Relaxed);
            // The last place left: the alert on stderr, whole.
            tracing::error!(
                "cannot write the webhook dead-letter file {}: {e}; the alert: {}",
                self.path.display(),
                line.trim_end()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Cause, Evidence, Kind, Phase, Severity, State};
    use crate::model::Venue;

    /// A hand-made alert (not from a recording), with a summary holding a
    /// line break and quotes to escape.
    fn hand_made() -> Alert {
        Alert {
            at: 1_723_161_253_937_085_768,
            state: State::Open,
            kind: Kind::FeedSilent,
            severity: Severity::Critical,
            venue: Venue::BinanceSpot,
            symbol: Some("BTC/USDT".into()),
            stream: Some("bbo".into()),
            incident: "feed_silent:binance-spot:BTC/USDT:bbo:1".into(),
            phase: Phase::Open,
            cause: Cause::Unknown,
            group: None,
            summary: "no \"bbo\" for 31 s\nsince 23:54:13".into(),
            evidence: Evidence::new().with("silent_s", 31),
        }
    }

    #[test]
    fn the_payload_is_slack_text_plus_the_alert_verbatim() {
        let a = hand_made();
        let json = a.to_json();
        let j = job(&a, &json);
        assert_eq!(j.alert_json(), json);
        let doc: serde_json::Value = serde_json::from_str(&j.payload).unwrap();
        let text = doc["text"].as_str().unwrap();
        assert_eq!(
            text,
            "CRITICAL feed_silent open: binance-spot BTC/USDT bbo: no \"bbo\" for 31 s since 23:54:13"
        );
        assert_eq!(
            doc["alert"],
            serde_json::from_str::<serde_json::Value>(&json).unwrap()
        );
        // A venue-wide alert has no symbol or stream to name.
        let mut v = hand_made();
        v.symbol = None;
        v.stream = None;
        v.severity = Severity::Warning;
        v.state = State::Resolved;
        assert!(text_line(&v).starts_with("WARNING feed_silent resolved: binance-spot: no"));
    }

    #[test]
    fn reasons_quote_the_start_of_a_body_on_one_line() {
        assert_eq!(excerpt("  "), "");
        assert_eq!(excerpt("bad\r\nrequest"), ": bad  request");
        assert_eq!(
            excerpt(&"é".repeat(1000)).chars().count(),
            2 + REASON_BODY_CHARS
        );
    }
}
