//! `frames_dropped`: records the live feed dropped between its connections
//! and the engine (a full queue), as an incident about our own side:
//! opened when records are dropped, resolved after a clean stretch. Not
//! part of a recording (the dropped records are not in it).

use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::model::{Nanos, Venue};

/// A `frames_dropped` incident resolves after this long without drops.
const DROPS_CLEAR_NS: Nanos = 10_000_000_000;

/// `frames_dropped` fires on new drops, or clears after a clean stretch.
pub type DropVerdict = Verdict<Dropped, KeptUp>;

/// Watches the feed's running count of dropped records.
#[derive(Debug, Default)]
pub struct DropWatch {
    reported: u64,
    last_drop_at: Option<Nanos>,
}

/// `frames_dropped` fires (news: each batch of drops is reported).
#[derive(Clone, Debug, PartialEq)]
pub struct Dropped {
    /// Dropped since the last report.
    pub new: u64,
    /// Dropped since the start.
    pub total: u64,
    /// The queue's capacity (records).
    pub capacity: usize,
}

/// `frames_dropped` clears: the queue kept up.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptUp {
    /// Dropped since the start.
    pub total: u64,
}

impl DropWatch {
    /// The incident key: feedwatch's engine queue.
    pub fn key() -> IncidentKey {
        IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("engine_queue".into()),
        }
    }

    /// The running count `dropped` at `now`, for a queue of `capacity`.
    pub fn check(&mut self, now: Nanos, dropped: u64, capacity: usize) -> DropVerdict {
        if dropped > self.reported {
            let new = dropped - self.reported;
            self.reported = dropped;
            self.last_drop_at = Some(now);
            Verdict::Fire(Dropped {
                new,
                total: dropped,
                capacity,
            })
        } else if let Some(at) = self.last_drop_at
            && now - at >= DROPS_CLEAR_NS
        {
            self.last_drop_at = None;
            Verdict::Clear(KeptUp { total: dropped })
        } else {
            Verdict::Quiet
        }
    }
}

impl Words for Dropped {
    fn kind(&self) -> Kind {
        Kind::FramesDropped
    }
    fn summary(&self, _key: &IncidentKey) -> String {
        format!(
            "feedwatch dropped {} received frames because its engine queue ({} records) was full: books and silence checks may report gaps that are ours, not the venues'.",
            self.new, self.capacity
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .with("dropped", self.new)
            .with("dropped_total", self.total)
            .with("queue_capacity", self.capacity)
    }
}

impl Finding for Dropped {
    fn news(&self) -> bool {
        true
    }
}

impl Words for KeptUp {
    fn kind(&self) -> Kind {
        Kind::FramesDropped
    }
    fn summary(&self, _key: &IncidentKey) -> String {
        "feedwatch's engine queue has kept up for 10 s: no frames dropped since.".into()
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().with("dropped_total", self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Incidents, State};

    #[test]
    fn drops_open_an_incident_about_us_that_clears_after_a_clean_stretch() {
        let mut w = DropWatch::default();
        let mut inc = Incidents::new();
        let mut out: Vec<Alert> = Vec::new();
        let mut check = |now: Nanos, dropped: u64, out: &mut Vec<Alert>| {
            w.check(now, dropped, 8)
                .report(&mut inc, &DropWatch::key(), now, out)
        };
        check(1_000_000_000, 0, &mut out);
        assert!(out.is_empty());
        check(2_000_000_000, 5, &mut out);
        check(3_000_000_000, 7, &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].kind, out[0].venue),
            (Kind::FramesDropped, Venue::Other("feedwatch"))
        );
        assert_eq!(out[1].evidence.get("dropped"), Some(&serde_json::json!(2)));
        // Not yet 10 s without drops; then resolved once.
        check(12_000_000_000, 7, &mut out);
        assert_eq!(out.len(), 2);
        check(13_000_000_000, 7, &mut out);
        check(20_000_000_000, 7, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].state, State::Resolved);
    }
}
