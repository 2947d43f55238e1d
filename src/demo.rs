//! `feedwatch demo`: the live consumer against local simulators, in one
//! process, with no internet. Each fixture's venue gets its own simulator
//! on 127.0.0.1 (an ephemeral port) serving that fixture's real recorded
//! frames and REST snapshots; the consumer's endpoints for those venues are
//! pointed at them, and everything else is the normal live run.
//!
//! Faults are injected by the simulator of the first venue only (named as
//! injected on stderr), so the other venues show what a healthy peer looks
//! like. It must never connect anywhere but 127.0.0.1.

use crate::config::Config;
use crate::feed::{FeedError, FeedSummary, RunOptions};
use crate::fixture::Merger;
use crate::model::Venue;
use crate::replay::Speed;
use crate::sim::{self, Faults, SimConfig, SimCounters};
use crate::sink::BoxSink;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Fixtures to serve (each names its venue in its records).
    pub fixtures: Vec<PathBuf>,
    /// Pace of the simulators.
    pub speed: Speed,
    /// Faults for the first venue's simulator.
    pub faults: Faults,
    /// Record what the consumer sees into this directory.
    pub record_dir: Option<PathBuf>,
    /// The desk server's hub, fed by the consumer's engine.
    pub hub: Option<Arc<crate::serve::Hub>>,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A fixture cannot be read or names no venue of ours.
    #[error("{0}")]
    Fixture(String),
    /// A simulator could not listen.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    /// The consumer failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// The venue and canonical symbol of a fixture's first frame's record.
fn venue_of(path: &PathBuf) -> Result<Venue, DemoError> {
    let bad = |why: String| DemoError::Fixture(format!("{}: {why}", path.display()));
    let mut m = Merger::open(std::slice::from_ref(path)).map_err(|e| bad(e.to_string()))?;
    match m.next_record() {
        Some(Ok(r)) if crate::venues::protocol_for(r.venue).is_none() => {
            Err(bad(format!("venue `{}` has no live protocol", r.venue)))
        }
        Some(Ok(r)) => Ok(r.venue),
        Some(Err(e)) => Err(bad(e.to_string())),
        None => Err(bad("empty fixture".into())),
    }
}

/// The symbols a Binance-style fixture streams: the `s` of its frames'
/// data, read from the first frames (canonical via the venue's rules).
fn symbols_of(path: &PathBuf, venue: Venue) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Ok(mut m) = Merger::open(std::slice::from_ref(path)) else {
        return out;
    };
    let Some(mut adapter) = crate::venues::adapter_for(venue) else {
        return out;
    };
    let mut events = Vec::new();
    let mut seen = 0;
    while let Some(r) = m.next_record() {
        seen += 1;
        if seen > 1000 {
            break;
        }
        let Ok(r) = r else {
            continue;
        };
        let crate::record::RecordKind::Frame(text) = &r.kind else {
            continue;
        };
        events.clear();
        if adapter.parse_frame(text, &mut events).is_ok() {
            for e in &events {
                if !out.iter().any(|s| **s == *e.symbol) {
                    out.push(e.symbol.to_string());
                }
            }
        }
    }
    out
}

/// Runs the simulators and the consumer until `shutdown`; alerts go to
/// `sink`. Returns the consumer's summary.
pub async fn run(
    mut cfg: Config,
    opts: DemoOptions,
    shutdown: impl Future<Output = ()>,
    sink: BoxSink,
) -> Result<FeedSummary, DemoError> {
    // One simulator per venue, serving that venue's fixtures.
    let mut by_venue: BTreeMap<&'static str, (Venue, Vec<PathBuf>)> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    for f in &opts.fixtures {
        let v = venue_of(f)?;
        if !order.contains(&v.id()) {
            order.push(v.id());
        }
        by_venue
            .entry(v.id())
            .or_insert((v, Vec::new()))
            .1
            .push(f.clone());
    }
    cfg.feed.symbols.clear();
    cfg.feed.endpoints.clear();
    cfg.feed.rest_endpoints.clear();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sims = Vec::new();
    for (i, id) in order.iter().enumerate() {
        let Some((venue, paths)) = by_venue.get(id) else {
            continue;
        };
        let mut symbols: Vec<String> = Vec::new();
        for p in paths {
            for s in symbols_of(p, *venue) {
                if !symbols.contains(&s) {
                    symbols.push(s);
                }
            }
        }
        if symbols.is_empty() {
            return Err(DemoError::Fixture(format!(
                "no {id} market data in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Listen)?;
        let addr = listener.local_addr().map_err(DemoError::Listen)?;
        let faults = if i == 0 {
            opts.faults.clone()
        } else {
            Faults::default()
        };
        if faults != Faults::default() {
            tracing::info!("demo: faults are injected into the {id} simulator");
        }
        let sim_cfg = SimConfig::new(paths.clone(), opts.speed, faults);
        let mut rx = stop_rx.clone();
        sims.push(tokio::spawn(sim::serve(
            listener,
            sim_cfg,
            Arc::new(SimCounters::default()),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
        cfg.feed
            .endpoints
            .insert(id.to_string(), format!("ws://{addr}/stream"));
        cfg.feed.symbols.insert(id.to_string(), symbols);
    }
    let run_opts = RunOptions {
        record_dir: opts.record_dir.clone(),
        ..Default::default()
    };
    let summary = crate::serve::run_feed(
        cfg.detect(),
        cfg.feed,
        run_opts,
        opts.hub.as_ref(),
        shutdown,
        sink,
    )
    .await;
    let _ = stop_tx.send(true);
    for s in sims {
        let _ = s.await;
    }
    Ok(summary?)
}
