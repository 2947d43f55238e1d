//! The engine thread of the live feed: it drains the one queue into the
//! engine through the one drive loop ([`Driver`]), records what it feeds
//! it, writes the alerts, routes book resyncs back to their connections
//! and watches for our own drops.
//!
//! It runs on a blocking thread and is the only owner of the engine. It must
//! never talk to a socket itself, never reorder the queue, and never stop
//! on a failing recorder or sink (a failing sink is reported once and ends
//! the run through `run_with`).

use super::{Counters, FeedError, FeedSummary, Item, Msg, Recorder, Registry};
use crate::alert::{Alert, Incidents};
use crate::detect::drops::DropWatch;
use crate::detect::{DetectConfig, Verdict};
use crate::engine::{Observer, ResyncRequest};
use crate::model::{MILLI, Nanos, SECOND, Venue};
use crate::record::{Record, RecordKind};
use crate::replay::{Driver, Options};
use crate::sink::{AlertSink, BoxSink};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// `frames_dropped` (drops between the connections and the engine) and
/// the incident book it reports to, the engine's own being the replayable
/// one.
#[derive(Default)]
struct Drops {
    watch: DropWatch,
    incidents: Incidents,
}

impl Drops {
    fn check(&mut self, now: Nanos, dropped: u64, capacity: usize, out: &mut Vec<Alert>) {
        let verdict = self.watch.check(now, dropped, capacity);
        if let Verdict::Fire(d) = &verdict {
            tracing::warn!(
                "engine queue full: {} records dropped since last report ({} in total)",
                d.new,
                d.total
            );
        }
        verdict.report(&mut self.incidents, &DropWatch::key(), now, out);
    }
}

/// Hands the engine's book resync requests to their connections (a full or
/// gone connection drops the request: the book asks again later).
fn route_resyncs(reqs: &mut Vec<ResyncRequest>, registry: &Registry, counters: &Counters) {
    if reqs.is_empty() {
        return;
    }
    let conns = registry.lock().unwrap_or_else(|p| p.into_inner());
    for r in reqs.drain(..) {
        Counters::add(&counters.resync_requests, 1);
        if let Some(tx) = conns.get(&r.conn) {
            let _ = tx.try_send(r.symbol);
        }
    }
}

/// Where the engine thread's alerts go, and how it says they cannot.
pub(super) struct AlertOut {
    pub(super) sink: BoxSink,
    /// Notified once when the sink fails.
    pub(super) failed: Arc<tokio::sync::Notify>,
}

/// The engine thread's sink: every alert is flushed as it goes (a desk
/// reads them live), and counted. The first error is kept and notified
/// once, and later alerts are counted, not written: the engine keeps
/// consuming until the run ends, so the queue never backs up into the
/// connections.
struct LiveSink {
    out: AlertOut,
    error: Option<std::io::Error>,
    alerts: u64,
}

impl AlertSink for LiveSink {
    fn send(&mut self, alert: &Alert, _flush: bool) -> std::io::Result<()> {
        self.alerts += 1;
        if self.error.is_none()
            && let Err(e) = self.out.sink.send(alert, true)
        {
            tracing::error!("cannot write alerts: {e}");
            self.error = Some(e);
            self.out.failed.notify_one();
        }
        Ok(())
    }
}

/// The engine thread: drains the queue until every sender is gone, through
/// the one drive loop ([`Driver`]) as a replay does, with the live duties
/// around it: recording, stalls, our own drops, book resyncs.
pub(super) fn engine_loop(
    cfg: DetectConfig,
    mut rx: mpsc::Receiver<Msg>,
    alerts_out: AlertOut,
    mut recorder: Option<Recorder>,
    counters: Arc<Counters>,
    registry: Registry,
    mut observer: Option<Box<dyn Observer + Send>>,
) -> Result<FeedSummary, FeedError> {
    let capacity = rx.max_capacity();
    // The ticker stamps a message every tick: a longer gap between two
    // stamps means nothing of ours ran meanwhile (process, VM or runtime
    // paused), which the engine must know before it judges the venues.
    let stall_after = (cfg.engine.tick_ms * 10 * MILLI).max(2 * SECOND);
    let mut last_t: Option<Nanos> = None;
    let opts = Options {
        observer: observer.as_deref_mut().map(|o| o as &mut dyn Observer),
        ..Options::default()
    };
    let sink = LiveSink {
        out: alerts_out,
        error: None,
        alerts: 0,
    };
    // LiveSink never fails, so neither do the driver's calls.
    let mut driver = Driver::new(cfg, opts, sink);
    let mut out: Vec<Alert> = Vec::new();
    let mut summary = FeedSummary::default();
    let mut drops = Drops::default();
    let mut resyncs: Vec<ResyncRequest> = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        let t = match &msg {
            Msg::Tick(t) | Msg::Rec { t, .. } => *t,
        };
        if let Some(from) = last_t
            && t - from > stall_after
        {
            tracing::warn!("feedwatch was paused for {} ms", (t - from) / MILLI);
            let rec = stall_record(from, t);
            if let Some(r) = recorder.as_mut()
                && let Err(e) = r.write(&rec)
            {
                summary.record_errors += 1;
                tracing::error!("recording: {e}");
            }
            let _ = driver.record(&rec);
        }
        last_t = Some(last_t.map_or(t, |l| l.max(t)));
        match msg {
            Msg::Tick(t) => {
                let _ = driver.advance_to(t);
                drops.check(t, Counters::get(&counters.dropped), capacity, &mut out);
                for a in out.drain(..) {
                    let _ = driver.sink().send(&a, true);
                }
            }
            Msg::Rec {
                t,
                venue,
                conn,
                item,
            } => {
                let rec = Record {
                    recv_ns: t,
                    venue,
                    conn: Cow::Borrowed(&conn),
                    kind: record_kind(&item),
                };
                if let Some(r) = recorder.as_mut()
                    && let Err(e) = r.write(&rec)
                {
                    summary.record_errors += 1;
                    if summary.record_errors <= 5 {
                        tracing::error!("recording: {e}");
                    }
                }
                let _ = driver.record(&rec);
                Counters::add(&counters.delivered, 1);
            }
        }
        driver.take_resyncs(&mut resyncs);
        route_resyncs(&mut resyncs, &registry, &counters);
        counters.queued.store(rx.len() as u64, Ordering::Relaxed);
    }
    let sink_error = driver.sink().error.take();
    summary.alerts = driver.sink().alerts;
    let (engine, _) = driver.finish();
    if let Some(r) = recorder {
        summary.recorded = r.finish()?;
    }
    summary.engine = engine.stats();
    if let Some(e) = sink_error {
        return Err(FeedError::Sink(e));
    }
    Ok(summary)
}

/// The record the engine thread feeds for a stall it saw between two
/// stamps (`from` to `t`).
fn stall_record(from: Nanos, t: Nanos) -> Record<'static> {
    Record {
        recv_ns: t,
        venue: Venue::Other("feedwatch"),
        conn: Cow::Borrowed("process"),
        kind: RecordKind::Stall { from_ns: from },
    }
}

/// A queued item as the record kind the engine consumes, borrowing it.
fn record_kind(item: &Item) -> RecordKind<'_> {
    match item {
        Item::Frame(s) => RecordKind::Frame(Cow::Borrowed(s.as_str())),
        Item::Binary(b) => RecordKind::Binary(Cow::Borrowed(b.as_ref())),
        Item::Open(u) => RecordKind::Open {
            url: Cow::Borrowed(u),
        },
        Item::Close(r) => RecordKind::Close {
            reason: Cow::Borrowed(r),
        },
        Item::ConnectFailed(r) => RecordKind::ConnectFailed {
            reason: Cow::Borrowed(r),
        },
        Item::Sent(s) => RecordKind::Sent(Cow::Borrowed(s)),
        Item::Rest { request, body } => RecordKind::Rest {
            request: Cow::Borrowed(request),
            body: Cow::Borrowed(body),
        },
    }
}
