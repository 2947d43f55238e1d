//! Where alerts go. Everything that takes alerts implements one trait,
//! [`AlertSink`]: the fan-out of stdout (JSON lines), a durable alert log
//! and a webhook ([`Sinks`], used by replay, run and demo), the desk
//! server's hub, any closure `FnMut(&Alert, bool)` (tests, the report, the
//! replay bench) and a borrowed `&mut dyn AlertSink` (what
//! `replay::Driver` keeps when a replay function is handed one).
//!
//! Each alert is serialized once and handed to the log first, then the
//! webhook queue, then stdout: an alert seen on stdout is already in the
//! log. Only stdout can stop a command (a closed stdout ends it, as before);
//! the log keeps a line it could not write and writes it before the next
//! (see [`log::AlertLog`]), and the webhook dead-letters what it cannot
//! deliver (see [`webhook`]). Counters for `/metrics` are in
//! [`SinkCounters`]. This module never decides what an alert says and never
//! blocks the engine on the network.

pub mod log;
pub mod webhook;

use crate::alert::Alert;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use log::{AlertLog, AppendLog, Fsync, LogOptions};

/// Something that takes alerts, one at a time, in the order the engine
/// raised them. `flush` asks that this one be visible now (a live alert, or
/// the last of a paced replay's batch); a sink may buffer otherwise. An
/// error stops the command that feeds it (a closed stdout), so a sink that
/// can keep going on its own failures (the log, the webhook) returns `Ok`.
pub trait AlertSink {
    /// Takes one alert.
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()>;
}

impl<F: FnMut(&Alert, bool) -> io::Result<()>> AlertSink for F {
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()> {
        self(alert, flush)
    }
}

/// A sink owned by another thread (the live engine thread).
pub type BoxSink = Box<dyn AlertSink + Send>;

impl AlertSink for BoxSink {
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()> {
        (**self).send(alert, flush)
    }
}

/// A borrowed sink (what the replay functions are handed, kept by the
/// `replay::Driver` they run).
impl AlertSink for &mut dyn AlertSink {
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()> {
        (**self).send(alert, flush)
    }
}

/// Two sinks in turn: every alert goes to `first`, then to `second`
/// (the desk hub, then the fan-out). The first error stops the alert.
pub struct Tee<A, B>(pub A, pub B);

impl<A: AlertSink, B: AlertSink> AlertSink for Tee<A, B> {
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()> {
        self.0.send(alert, flush)?;
        self.1.send(alert, flush)
    }
}
pub use webhook::{Webhook, WebhookOptions};

/// `[sinks]`: which sinks get the alerts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// JSON lines on stdout.
    pub stdout: bool,
    /// `[sinks.log]`: the durable alert log; absent = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogConfig>,
    /// `[sinks.webhook]`: POST each alert; absent = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
}

impl Default for SinksConfig {
    fn default() -> Self {
        SinksConfig {
            stdout: true,
            log: None,
            webhook: None,
        }
    }
}

/// `[sinks.log]`: an append-only JSON-lines file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The file (its folder must exist).
    pub path: PathBuf,
    /// `always` (fsync before an alert counts as written), `interval`
    /// (every `fsync_interval_ms`) or `never`.
    pub fsync: Fsync,
    /// Period of `fsync = "interval"` (ms).
    pub fsync_interval_ms: u64,
    /// Rotate past this size (MiB; 0 = never): `alerts.jsonl` becomes
    /// `alerts.jsonl.1`, `.1` becomes `.2`, ...
    pub rotate_mib: u64,
    /// Rotated files kept (`.1` newest to `.keep` oldest).
    pub keep: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            path: PathBuf::from("alerts.jsonl"),
            fsync: Fsync::Always,
            fsync_interval_ms: 1000,
            rotate_mib: 64,
            keep: 5,
        }
    }
}

impl LogConfig {
    /// The options the log is opened with.
    pub fn options(&self) -> LogOptions {
        LogOptions {
            path: self.path.clone(),
            fsync: self.fsync,
            fsync_interval: Duration::from_millis(self.fsync_interval_ms),
            rotate_bytes: self.rotate_mib.saturating_mul(1024 * 1024),
            keep: self.keep,
        }
    }
}

/// `[sinks.webhook]`: POST each alert to a URL.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://...` (or `http://`) URL; required.
    pub url: String,
    /// Alerts waiting for delivery at most; one more is dead-lettered.
    pub queue: usize,
    /// Give up on an alert this long after it was raised (seconds).
    pub max_retry_s: u64,
    /// Dead-letter file (JSON lines); default `feedwatch-webhook-dead.jsonl`
    /// beside the alert log, or in the working folder without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<PathBuf>,
    /// Time allowed for one POST (ms).
    pub timeout_ms: u64,
    /// First retry delay (ms), doubled per failure, plus jitter.
    pub backoff_initial_ms: u64,
    /// Cap of the retry delay before jitter (ms).
    pub backoff_max_ms: u64,
    /// At shutdown, keep delivering this long, then dead-letter the rest
    /// (ms).
    pub shutdown_flush_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: String::new(),
            queue: 10_000,
            max_retry_s: 600,
            dead_letter: None,
            timeout_ms: 5000,
            backoff_initial_ms: 500,
            backoff_max_ms: 60_000,
            shutdown_flush_ms: 5000,
        }
    }
}

/// Name of the dead-letter file when none is configured.
pub const DEFAULT_DEAD_LETTER: &str = "feedwatch-webhook-dead.jsonl";

impl WebhookConfig {
    /// The options the webhook starts with; `log` places the default
    /// dead-letter file beside the alert log.
    pub fn options(&self, log: Option<&LogConfig>) -> WebhookOptions {
        let dead_letter = match (&self.dead_letter, log) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l
                .path
                .parent()
                .unwrap_or(Path::new(""))
                .join(DEFAULT_DEAD_LETTER),
            (None, None) => PathBuf::from(DEFAULT_DEAD_LETTER),
        };
        WebhookOptions {
            url: self.url.clone(),
            queue: self.queue,
            max_retry: Duration::from_secs(self.max_retry_s),
            dead_letter,
            timeout: Duration::from_millis(self.timeout_ms),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            shutdown_flush: Duration::from_millis(self.shutdown_flush_ms),
        }
    }
}

impl SinksConfig {
    /// Applies the command-line flags: `--alert-log PATH` sets the log's
    /// path (adding a log with default settings when the config has none),
    /// `--webhook URL` likewise the webhook's URL. Validates the result.
    pub fn apply_cli(
        &mut self,
        alert_log: Option<PathBuf>,
        webhook: Option<String>,
    ) -> Result<(), String> {
        if let Some(path) = alert_log {
            self.log.get_or_insert_with(LogConfig::default).path = path;
        }
        if let Some(url) = webhook {
            self.webhook.get_or_insert_with(WebhookConfig::default).url = url;
        }
        self.validate()
    }

    /// Checks ranges the types cannot express; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(l) = &self.log {
            if l.path.as_os_str().is_empty() {
                return Err("sinks.log.path must not be empty".into());
            }
            if !(1..=3_600_000).contains(&l.fsync_interval_ms) {
                return Err(format!(
                    "sinks.log.fsync_interval_ms must be 1..=3600000, got {}",
                    l.fsync_interval_ms
                ));
            }
            if l.rotate_mib > 1024 * 1024 {
                return Err(format!(
                    "sinks.log.rotate_mib must be at most 1048576 (0 = never), got {}",
                    l.rotate_mib
                ));
            }
            if l.keep > 1000 {
                return Err(format!("sinks.log.keep must be 0..=1000, got {}", l.keep));
            }
        }
        if let Some(w) = &self.webhook {
            if w.url.is_empty() {
                return Err("sinks.webhook.url is required (https://... or http://...)".into());
            }
            if let Err(e) = crate::net::http::check_url(&w.url) {
                return Err(format!("sinks.webhook.url: {e}"));
            }
            if !(1..=10_000_000).contains(&w.queue) {
                return Err(format!(
                    "sinks.webhook.queue must be 1..=10000000, got {}",
                    w.queue
                ));
            }
            if w.max_retry_s > 7 * 86_400 {
                return Err(format!(
                    "sinks.webhook.max_retry_s must be at most 604800 (a week), got {}",
                    w.max_retry_s
                ));
            }
            if w.dead_letter
                .as_ref()
                .is_some_and(|p| p.as_os_str().is_empty())
            {
                return Err("sinks.webhook.dead_letter must not be empty".into());
            }
            // Two writers tracking one file's size would cut each other's
            // lines when repairing.
            if let Some(l) = &self.log
                && w.options(Some(l)).dead_letter == l.path
            {
                return Err(
                    "sinks.webhook.dead_letter must not be the alert log (sinks.log.path)".into(),
                );
            }
            for (name, v) in [
                ("sinks.webhook.timeout_ms", w.timeout_ms),
                ("sinks.webhook.backoff_initial_ms", w.backoff_initial_ms),
                ("sinks.webhook.backoff_max_ms", w.backoff_max_ms),
            ] {
                if !(1..=3_600_000).contains(&v) {
                    return Err(format!("{name} must be 1..=3600000, got {v}"));
                }
            }
            if w.backoff_max_ms < w.backoff_initial_ms {
                return Err(
                    "sinks.webhook.backoff_max_ms must not be below sinks.webhook.backoff_initial_ms"
                        .into(),
                );
            }
            if w.shutdown_flush_ms > 600_000 {
                return Err(format!(
                    "sinks.webhook.shutdown_flush_ms must be at most 600000, got {}",
                    w.shutdown_flush_ms
                ));
            }
        }
        Ok(())
    }
}

/// Live counters of the sinks, shared (`Arc`) with whoever reports them
/// (the summary, `/metrics`). Totals only grow; `*_pending` and
/// `webhook_queue_depth` are gauges.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Alerts handed to the fan-out.
    pub alerts: AtomicU64,
    /// Alerts written to stdout.
    pub stdout_written: AtomicU64,
    /// Lines written to the alert log (retried lines counted once, when
    /// written).
    pub log_written: AtomicU64,
    /// Failed alert-log writes (each retry that fails counts).
    pub log_write_errors: AtomicU64,
    /// Gauge: lines waiting to be retried into the alert log.
    pub log_pending: AtomicU64,
    /// Lines given up for the log because the retry buffer was full (they
    /// went to the other sinks and to stderr).
    pub log_dropped: AtomicU64,
    /// Alert-log rotations.
    pub log_rotations: AtomicU64,
    /// Alerts accepted into the webhook queue.
    pub webhook_queued: AtomicU64,
    /// Alerts the webhook answered with a 2xx.
    pub webhook_delivered: AtomicU64,
    /// Failed webhook attempts that were retried.
    pub webhook_retries: AtomicU64,
    /// Alerts written to the dead-letter file (given up, refused, queue
    /// full or shut down).
    pub webhook_dead_lettered: AtomicU64,
    /// Of those, alerts that found the queue full.
    pub webhook_queue_full: AtomicU64,
    /// Gauge: alerts waiting in the webhook queue.
    pub webhook_queue_depth: AtomicU64,
    /// Dead-letter lines that could not be written (the alert went to
    /// stderr).
    pub dead_letter_errors: AtomicU64,
}

/// A copy of [`SinkCounters`] at one moment.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    /// See [`SinkCounters::alerts`].
    pub alerts: u64,
    /// See [`SinkCounters::stdout_written`].
    pub stdout_written: u64,
    /// See [`SinkCounters::log_written`].
    pub log_written: u64,
    /// See [`SinkCounters::log_write_errors`].
    pub log_write_errors: u64,
    /// See [`SinkCounters::log_pending`].
    pub log_pending: u64,
    /// See [`SinkCounters::log_dropped`].
    pub log_dropped: u64,
    /// See [`SinkCounters::log_rotations`].
    pub log_rotations: u64,
    /// See [`SinkCounters::webhook_queued`].
    pub webhook_queued: u64,
    /// See [`SinkCounters::webhook_delivered`].
    pub webhook_delivered: u64,
    /// See [`SinkCounters::webhook_retries`].
    pub webhook_retries: u64,
    /// See [`SinkCounters::webhook_dead_lettered`].
    pub webhook_dead_lettered: u64,
    /// See [`SinkCounters::webhook_queue_full`].
    pub webhook_queue_full: u64,
    /// See [`SinkCounters::webhook_queue_depth`].
    pub webhook_queue_depth: u64,
    /// See [`SinkCounters::dead_letter_errors`].
    pub dead_letter_errors: u64,
}

impl SinkCounters {
    /// Reads every counter (each atomically; not one snapshot of all).
    pub fn snapshot(&self) -> SinkStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SinkStats {
            alerts: g(&self.alerts),
            stdout_written: g(&self.stdout_written),
            log_written: g(&self.log_written),
            log_write_errors: g(&self.log_write_errors),
            log_pending: g(&self.log_pending),
            log_dropped: g(&self.log_dropped),
            log_rotations: g(&self.log_rotations),
            webhook_queued: g(&self.webhook_queued),
            webhook_delivered: g(&self.webhook_delivered),
            webhook_retries: g(&self.webhook_retries),
            webhook_dead_lettered: g(&self.webhook_dead_lettered),
            webhook_queue_full: g(&self.webhook_queue_full),
            webhook_queue_depth: g(&self.webhook_queue_depth),
            dead_letter_errors: g(&self.dead_letter_errors),
        }
    }
}

impl fmt::Display for SinkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alert sinks: {} alerts; log {} written, {} write errors, {} waiting, {} given up, {} rotations; webhook {} delivered, {} retries, {} dead-lettered ({} on a full queue), {} queued now",
            self.alerts,
            self.log_written,
            self.log_write_errors,
            self.log_pending,
            self.log_dropped,
            self.log_rotations,
            self.webhook_delivered,
            self.webhook_retries,
            self.webhook_dead_lettered,
            self.webhook_queue_full,
            self.webhook_queue_depth
        )
    }
}

/// The fan-out: every alert to the log, the webhook and stdout, in that
/// order. Dropping it flushes stdout (ignoring errors: call
/// [`Sinks::flush`] to see them), syncs the log and lets the webhook flush
/// its queue for up to `shutdown_flush_ms`.
pub struct Sinks {
    log: Option<AlertLog>,
    webhook: Option<Webhook>,
    stdout: Option<BufWriter<io::Stdout>>,
    counters: Arc<SinkCounters>,
}

impl Sinks {
    /// Opens the configured sinks (the log file, the dead-letter file, the
    /// webhook thread). Errors name the file or key.
    pub fn open(cfg: &SinksConfig) -> io::Result<Sinks> {
        cfg.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let counters = Arc::new(SinkCounters::default());
        let log = match &cfg.log {
            Some(l) => Some(AlertLog::open(l.options(), counters.clone())?),
            None => None,
        };
        let webhook = match &cfg.webhook {
            Some(w) => Some(Webhook::start(
                w.options(cfg.log.as_ref()),
                counters.clone(),
            )?),
            None => None,
        };
        let stdout = cfg
            .stdout
            .then(|| BufWriter::with_capacity(64 * 1024, io::stdout()));
        Ok(Sinks {
            log,
            webhook,
            stdout,
            counters,
        })
    }

    /// The counters (for a summary or `/metrics`).
    pub fn counters(&self) -> Arc<SinkCounters> {
        self.counters.clone()
    }

    /// Hands one alert to every sink: serialized once, written to the log
    /// (whole, synced per its policy) before it is queued for the webhook
    /// and written to stdout. `flush_now` flushes stdout. Only a stdout
    /// error is returned (it ends the command, as a closed pipe should);
    /// the log and the webhook never fail the call.
    pub fn write(&mut self, alert: &Alert, flush_now: bool) -> io::Result<()> {
        self.counters.alerts.fetch_add(1, Ordering::Relaxed);
        let mut line = alert.to_json();
        line.push('\n');
        if let Some(log) = self.log.as_mut() {
            log.write(line.as_bytes());
        }
        if let Some(w) = &self.webhook {
            w.send(alert, line.trim_end_matches('\n'));
        }
        if let Some(out) = self.stdout.as_mut() {
            out.write_all(line.as_bytes())?;
            if flush_now {
                out.flush()?;
            }
            self.counters.stdout_written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Flushes stdout and retries log lines still waiting.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(log) = self.log.as_mut()
            && log.pending() > 0
        {
            log.retry();
        }
        match self.stdout.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// Flushes stdout, then closes the log and the webhook (which delivers
    /// what it can within its shutdown flush and dead-letters the rest).
    /// Returns the final counters.
    pub fn close(mut self) -> io::Result<SinkStats> {
        let flushed = self.flush();
        let counters = self.counters.clone();
        drop(self);
        flushed.map(|()| counters.snapshot())
    }
}

impl AlertSink for Sinks {
    fn send(&mut self, alert: &Alert, flush: bool) -> io::Result<()> {
        self.write(alert, flush)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_add_a_sink_with_defaults_or_override_the_configured_one() {
        let mut c = SinksConfig::default();
        c.apply_cli(
            Some("x/a.jsonl".into()),
            Some("http://127.0.0.1:9/h".into()),
        )
        .unwrap();
        let log = c.log.clone().unwrap();
        assert_eq!(log.path, PathBuf::from("x/a.jsonl"));
        assert_eq!(log.keep, LogConfig::default().keep);
        let w = c.webhook.clone().unwrap();
        assert_eq!(w.url, "http://127.0.0.1:9/h");
        // The dead-letter file goes beside the log unless named.
        assert_eq!(
            w.options(c.log.as_ref()).dead_letter,
            PathBuf::from("x").join(DEFAULT_DEAD_LETTER)
        );
        assert_eq!(
            w.options(None).dead_letter,
            PathBuf::from(DEFAULT_DEAD_LETTER)
        );
        let mut c = SinksConfig {
            log: Some(LogConfig {
                keep: 9,
                ..LogConfig::default()
            }),
            ..SinksConfig::default()
        };
        c.apply_cli(Some("b.jsonl".into()), None).unwrap();
        let log = c.log.unwrap();
        assert_eq!((log.path, log.keep), (PathBuf::from("b.jsonl"), 9));
        assert!(c.webhook.is_none());
        let e = SinksConfig::default()
            .apply_cli(None, Some("ftp://x/".into()))
            .unwrap_err();
        assert!(e.contains("sinks.webhook.url"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |f: &dyn Fn(&mut SinksConfig)| {
            let mut c = SinksConfig {
                log: Some(LogConfig::default()),
                webhook: Some(WebhookConfig {
                    url: "https://hooks.example/x".into(),
                    ..WebhookConfig::default()
                }),
                ..SinksConfig::default()
            };
            assert_eq!(c.validate(), Ok(()));
            f(&mut c);
            c.validate().unwrap_err()
        };
        let e = bad(&|c| c.log.as_mut().unwrap().path = PathBuf::new());
        assert!(e.contains("sinks.log.path"), "{e}");
        let e = bad(&|c| c.log.as_mut().unwrap().keep = 5000);
        assert!(e.contains("sinks.log.keep"), "{e}");
        let e = bad(&|c| c.webhook.as_mut().unwrap().backoff_max_ms = 1);
        assert!(e.contains("sinks.webhook.backoff_max_ms"), "{e}");
        let e = bad(&|c| c.webhook.as_mut().unwrap().timeout_ms = 0);
        assert!(e.contains("sinks.webhook.timeout_ms"), "{e}");
        let e = bad(&|c| {
            c.webhook.as_mut().unwrap().dead_letter = Some(c.log.as_ref().unwrap().path.clone())
        });
        assert!(e.contains("sinks.webhook.dead_letter"), "{e}");
        let e = bad(&|c| c.webhook.as_mut().unwrap().dead_letter = Some(PathBuf::new()));
        assert!(e.contains("sinks.webhook.dead_letter"), "{e}");
    }
}
