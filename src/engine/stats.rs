//! The run counters (`Stats`): records, events by payload, alerts by kind
//! and state, the first few parse errors.
//!
//! Counting never changes what a check sees or decides; the one effect
//! beyond the counters is `count_alerts` asking the clock for the tick the
//! incident book needs next. No I/O, no wall clock.

use super::Engine;
use crate::alert::Alert;
use crate::model::Payload;
use crate::venues::ParseError;
use std::collections::BTreeMap;

/// Counters for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Received frames (text and binary).
    pub frames: u64,
    /// REST responses.
    pub rest: u64,
    /// Connection events (open, close) and sent frames.
    pub control_records: u64,
    /// Events by type (`trade`, `quote`, `depth`, `snapshot`, `candle`).
    pub events: BTreeMap<&'static str, u64>,
    /// Heartbeats and pongs.
    pub heartbeats: u64,
    /// Acknowledgements and other control replies.
    pub acks: u64,
    /// Frames that failed to parse.
    pub malformed: u64,
    /// Well-formed frames of a type no adapter knows.
    pub unknown: u64,
    /// Frames for a venue without an adapter, or binary frames.
    pub unsupported: u64,
    /// Records whose receive time went backwards (processed at the engine's
    /// current time).
    pub time_regressions: u64,
    /// Alerts by kind and state (`feed_silent/open`).
    pub alerts: BTreeMap<String, u64>,
    /// First few parse errors, for the summary.
    pub error_samples: Vec<String>,
}

/// How many parse errors are kept verbatim for the summary.
const ERROR_SAMPLES: usize = 5;

/// Event kinds counted in [`Stats::events`].
pub(super) const PAYLOAD_KINDS: usize = 6;

pub(super) const PAYLOAD_NAMES: [&str; PAYLOAD_KINDS] =
    ["trade", "quote", "depth", "snapshot", "candle", "integrity"];

pub(super) fn payload_index(p: &Payload) -> usize {
    match p {
        Payload::Trade(_) => 0,
        Payload::Quote(_) => 1,
        Payload::Depth(_) => 2,
        Payload::Snapshot(_) => 3,
        Payload::Candle(_) => 4,
        Payload::Integrity(_) => 5,
    }
}

impl Stats {
    /// A frame that did not parse: counted by kind, and its error kept
    /// verbatim while fewer than [`ERROR_SAMPLES`] are.
    pub(super) fn count_parse_error(&mut self, e: &ParseError) {
        match e {
            ParseError::Malformed { .. } => self.malformed += 1,
            ParseError::Unknown { .. } => self.unknown += 1,
        }
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(e.to_string());
        }
    }
}

impl Engine {
    /// Counts the alerts `out` gained since `start` by kind and state, and
    /// asks for a tick when an incident that changed needs the clock.
    pub(super) fn count_alerts(&mut self, start: usize, out: &[Alert]) {
        // An incident that changed may need the clock later (probation,
        // identification, flap samples).
        if out.len() > start
            && let Some(t) = self.incidents.next_due()
        {
            self.schedule(t);
        }
        for a in out.iter().skip(start) {
            *self
                .stats
                .alerts
                .entry(format!("{}/{}", a.kind.name(), a.state.name()))
                .or_default() += 1;
        }
    }
}
