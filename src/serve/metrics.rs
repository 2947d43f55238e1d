//! `/metrics`: the Prometheus text exposition format (0.0.4), rendered by
//! hand from a hub's latest status and counters.
//!
//! There is no global recorder, so several servers in one process (tests)
//! never share numbers. Other parts (alert sinks) add their own families
//! through [`MetricsSource`]. Rendering never blocks the engine: it reads
//! the hub's stored status and atomics only.

use super::hub::{FeedInfo, Hub};
use crate::engine::{EngineStatus, StreamState};
use crate::feed::Counters;
use std::fmt::Write;
use std::sync::Arc;

/// Something that adds metric families to `/metrics` (e.g. alert sinks:
/// log writes, webhook deliveries and dead letters). `render` appends
/// complete families (HELP and TYPE lines, then samples) with
/// [`family`] and [`sample`].
pub trait MetricsSource: Send + Sync {
    /// Appends this source's families to `out`.
    fn render(&self, out: &mut String);
}

/// The alert sinks' counters (log writes, webhook deliveries, dead
/// letters) as metric families.
impl MetricsSource for crate::sink::SinkCounters {
    fn render(&self, out: &mut String) {
        let s = self.snapshot();
        let counters: [(&str, &str, u64); 11] = [
            (
                "feedwatch_sink_alerts_total",
                "Alerts handed to the sinks.",
                s.alerts,
            ),
            (
                "feedwatch_sink_stdout_written_total",
                "Alerts written to stdout.",
                s.stdout_written,
            ),
            (
                "feedwatch_alert_log_written_total",
                "Alerts written to the alert log.",
                s.log_written,
            ),
            (
                "feedwatch_alert_log_write_errors_total",
                "Failed alert log writes (each line is kept and retried).",
                s.log_write_errors,
            ),
            (
                "feedwatch_alert_log_dropped_total",
                "Alert log lines given up after the retry buffer overflowed (printed on stderr).",
                s.log_dropped,
            ),
            (
                "feedwatch_alert_log_rotations_total",
                "Alert log rotations.",
                s.log_rotations,
            ),
            (
                "feedwatch_webhook_queued_total",
                "Alerts queued for the webhook.",
                s.webhook_queued,
            ),
            (
                "feedwatch_webhook_delivered_total",
                "Alerts the webhook receiver accepted.",
                s.webhook_delivered,
            ),
            (
                "feedwatch_webhook_retries_total",
                "Webhook delivery attempts retried.",
                s.webhook_retries,
            ),
            (
                "feedwatch_webhook_dead_lettered_total",
                "Alerts written to the webhook dead-letter file.",
                s.webhook_dead_lettered,
            ),
            (
                "feedwatch_webhook_queue_full_total",
                "Alerts that found the webhook queue full.",
                s.webhook_queue_full,
            ),
        ];
        for (name, help, v) in counters {
            family(out, name, help, MetricType::Counter);
            sample(out, name, &[], v as f64);
        }
        let gauges: [(&str, &str, u64); 2] = [
            (
                "feedwatch_alert_log_pending",
                "Alert log lines waiting to be retried.",
                s.log_pending,
            ),
            (
                "feedwatch_webhook_queue_depth",
                "Alerts waiting in the webhook queue.",
                s.webhook_queue_depth,
            ),
        ];
        for (name, help, v) in gauges {
            family(out, name, help, MetricType::Gauge);
            sample(out, name, &[], v as f64);
        }
    }
}

/// Prometheus metric type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// Writes the HELP and TYPE lines of a family.
pub fn family(out: &mut String, name: &str, help: &str, kind: MetricType) {
    let kind = match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
    };
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample: `name{k="v",...} value`, label values escaped.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_value(out, value);
    out.push('\n');
}

/// Label value escaping: backslash, double quote and newline.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A family with one unlabelled sample.
fn single(out: &mut String, name: &str, help: &str, kind: MetricType, value: f64) {
    family(out, name, help, kind);
    sample(out, name, &[], value);
}

/// Reads one per-stream gauge (none: the stream has no such value now).
type StreamGauge = fn(&crate::engine::StreamStatus) -> Option<f64>;

/// The whole `/metrics` page: the hub's families, then each source's.
pub fn render(hub: &Hub, sources: &[Arc<dyn MetricsSource>]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let status = hub.status();
    let o = &mut out;
    render_desk(o, hub);
    if let Some(s) = &status {
        render_counts(o, s);
        render_streams(o, s);
        render_venues(o, s);
    }
    if let Some(feed) = hub.feed() {
        render_feed(o, hub, feed);
    }
    for s in sources {
        s.render(&mut out);
    }
    out
}

/// The desk server's own families: readiness, clients, alerts handed out.
fn render_desk(o: &mut String, hub: &Hub) {
    use MetricType::{Counter, Gauge};
    single(
        o,
        "feedwatch_ready",
        "1 when the engine has seen data and the server is not shutting down.",
        Gauge,
        if hub.ready().is_ok() { 1.0 } else { 0.0 },
    );
    single(
        o,
        "feedwatch_desk_clients",
        "Desk WebSocket clients connected.",
        Gauge,
        hub.clients() as f64,
    );
    single(
        o,
        "feedwatch_desk_clients_dropped_total",
        "Desk clients dropped because their queue was full (too slow).",
        Counter,
        hub.dropped_clients() as f64,
    );
    single(
        o,
        "feedwatch_desk_alerts_total",
        "Alerts handed to the desk feed (the last sequence number).",
        Counter,
        hub.seq() as f64,
    );
}

/// The engine's counts at the latest status: its clock, frames, REST
/// responses, parse errors, open incidents and alerts by kind and state.
fn render_counts(o: &mut String, s: &EngineStatus) {
    use MetricType::{Counter, Gauge};
    let c = &s.counts;
    single(
        o,
        "feedwatch_engine_time_seconds",
        "The engine clock (Unix seconds) at the latest status.",
        Gauge,
        s.at_ns as f64 / 1e9,
    );
    single(
        o,
        "feedwatch_frames_total",
        "Frames the engine processed (text and binary).",
        Counter,
        c.frames as f64,
    );
    single(
        o,
        "feedwatch_rest_responses_total",
        "REST responses the engine processed.",
        Counter,
        c.rest as f64,
    );
    family(
        o,
        "feedwatch_parse_errors_total",
        "Frames that could not be used, by reason.",
        Counter,
    );
    for (reason, n) in [
        ("malformed", c.malformed),
        ("unknown", c.unknown),
        ("unsupported", c.unsupported),
    ] {
        sample(
            o,
            "feedwatch_parse_errors_total",
            &[("reason", reason)],
            n as f64,
        );
    }
    single(
        o,
        "feedwatch_open_incidents",
        "Incidents open now.",
        Gauge,
        c.open_incidents as f64,
    );
    family(
        o,
        "feedwatch_alerts_total",
        "Alerts emitted, by kind and state.",
        Counter,
    );
    for (key, n) in &c.alerts {
        let (kind, state) = key.split_once('/').unwrap_or((key.as_str(), ""));
        sample(
            o,
            "feedwatch_alerts_total",
            &[("kind", kind), ("state", state)],
            *n as f64,
        );
    }
}

/// Per-stream families: each stream's state, then its age, lag, phi and
/// book sync where it has them.
fn render_streams(o: &mut String, s: &EngineStatus) {
    use MetricType::Gauge;
    family(
        o,
        "feedwatch_stream_state",
        "1 for each stream's current state (worst first: silent, frozen, book_broken, lagging, diverging, degraded, recovering, ok, idle).",
        Gauge,
    );
    for st in &s.streams {
        for state in StreamState::ALL {
            let labels = [
                ("venue", st.venue),
                ("symbol", st.symbol.as_str()),
                ("stream", st.stream.as_str()),
                ("state", state.name()),
            ];
            let v = if st.state == state { 1.0 } else { 0.0 };
            sample(o, "feedwatch_stream_state", &labels, v);
        }
    }
    let per_stream: [(&str, &str, StreamGauge); 4] = [
        (
            "feedwatch_stream_age_seconds",
            "Seconds since the stream's last data message.",
            |s| s.age_s,
        ),
        (
            "feedwatch_stream_lag_seconds",
            "Seconds the stream's data arrives later than its own baseline.",
            |s| s.lag_s,
        ),
        (
            "feedwatch_stream_phi",
            "Suspicion of silence now (phi; higher is more suspicious).",
            |s| s.phi,
        ),
        (
            "feedwatch_stream_book_synced",
            "1 when the stream's order book is in sync, 0 when not.",
            |s| s.book_synced.map(|b| if b { 1.0 } else { 0.0 }),
        ),
    ];
    for (name, help, get) in per_stream {
        family(o, name, help, Gauge);
        for st in &s.streams {
            if let Some(v) = get(st) {
                let labels = [
                    ("venue", st.venue),
                    ("symbol", st.symbol.as_str()),
                    ("stream", st.stream.as_str()),
                ];
                sample(o, name, &labels, v);
            }
        }
    }
}

/// Per-venue families: each venue's worst state and its latest prices.
fn render_venues(o: &mut String, s: &EngineStatus) {
    use MetricType::Gauge;
    family(
        o,
        "feedwatch_venue_state",
        "1 for each venue's current (worst) state.",
        Gauge,
    );
    for v in &s.venues {
        for state in StreamState::ALL {
            let x = if v.state == state { 1.0 } else { 0.0 };
            sample(
                o,
                "feedwatch_venue_state",
                &[("venue", v.venue), ("state", state.name())],
                x,
            );
        }
    }
    family(
        o,
        "feedwatch_price",
        "Latest price (bbo mid or last trade) by venue and symbol.",
        Gauge,
    );
    for p in &s.prices {
        sample(
            o,
            "feedwatch_price",
            &[("venue", p.venue), ("symbol", p.symbol.as_str())],
            p.price,
        );
    }
}

/// The live feed's families: socket, connection, queue and REST counters,
/// and the engine queue's depth and capacity.
fn render_feed(o: &mut String, hub: &Hub, feed: &FeedInfo) {
    use MetricType::{Counter, Gauge};
    let c = &feed.counters;
    let counters: [(&str, &str, &std::sync::atomic::AtomicU64); 10] = [
        (
            "feedwatch_feed_frames_total",
            "Data frames received on all venue sockets.",
            &c.frames,
        ),
        (
            "feedwatch_feed_frame_bytes_total",
            "Bytes of the data frames received.",
            &c.frame_bytes,
        ),
        (
            "feedwatch_connection_opens_total",
            "Venue connections opened (each after the first on a connection is a reconnect).",
            &c.opens,
        ),
        (
            "feedwatch_connection_closes_total",
            "Venue connections closed, for any reason.",
            &c.closes,
        ),
        (
            "feedwatch_connect_failures_total",
            "Venue connection attempts that failed before the WebSocket was open.",
            &c.connect_failures,
        ),
        (
            "feedwatch_engine_queue_dropped_total",
            "Records dropped because the engine queue was full.",
            &c.dropped,
        ),
        (
            "feedwatch_engine_queue_delivered_total",
            "Records that reached the engine.",
            &c.delivered,
        ),
        (
            "feedwatch_book_resync_requests_total",
            "Book resyncs the engine asked for.",
            &c.resync_requests,
        ),
        (
            "feedwatch_rest_snapshots_total",
            "REST book snapshots fetched.",
            &c.rest_fetched,
        ),
        (
            "feedwatch_rest_snapshot_failures_total",
            "REST book snapshot requests that failed.",
            &c.rest_failed,
        ),
    ];
    for (name, help, v) in counters {
        single(o, name, help, Counter, Counters::get(v) as f64);
    }
    single(
        o,
        "feedwatch_engine_queue_depth",
        "Records waiting in the engine queue.",
        Gauge,
        hub.queue_depth() as f64,
    );
    single(
        o,
        "feedwatch_engine_queue_capacity",
        "Capacity of the engine queue.",
        Gauge,
        feed.queue_capacity as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_spell_special_values() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], f64::NAN);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} NaN\n");
        out.clear();
        sample(&mut out, "m", &[], 1.5);
        sample(&mut out, "m", &[], f64::INFINITY);
        assert_eq!(out, "m 1.5\nm +Inf\n");
    }
}
