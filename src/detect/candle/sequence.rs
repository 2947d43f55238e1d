//! The sequence rules of a candle stream: grid, missing intervals,
//! duplicates, out-of-order and revised closed candles, trade-id
//! continuity, and the `candle_gap` finding ([`Gap`]) that words its
//! alert. It keeps a fixed number of recent candles ([`RECENT`]) and must
//! never grow with history.

use super::CandleChecker;
use super::summary::{Names, at, num, ohlcv};
use super::verdicts::{CandleClear, Rule};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::detect::verdict::{Finding, Verdict, Words};
use crate::model::{Candle, Nanos, SECOND, format_rfc3339_ms};

/// How many recent closed candles are remembered to recognise revisions and
/// duplicates of candles that are not the latest.
pub(super) const RECENT: usize = 16;

/// The numbers of one candle: kept for closed candles to recognise a later
/// change, and quoted by every alert about the candle.
#[derive(Copy, Clone, Debug)]
pub(super) struct Seen {
    pub(super) open_ns: Nanos,
    pub(super) open: f64,
    pub(super) high: f64,
    pub(super) low: f64,
    pub(super) close: f64,
    pub(super) volume: f64,
    pub(super) quote_volume: Option<f64>,
    pub(super) trades: Option<u64>,
}

impl Seen {
    pub(super) fn of(c: &Candle) -> Self {
        Seen {
            open_ns: c.open_ns,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            quote_volume: c.quote_volume,
            trades: c.trades,
        }
    }

    /// Bitwise equality, so a NaN that stays NaN is not a change.
    fn same(&self, o: &Seen) -> bool {
        let b = |a: f64, b: f64| a.to_bits() == b.to_bits();
        b(self.open, o.open)
            && b(self.high, o.high)
            && b(self.low, o.low)
            && b(self.close, o.close)
            && b(self.volume, o.volume)
            && self.quote_volume.map(f64::to_bits) == o.quote_volume.map(f64::to_bits)
            && self.trades == o.trades
    }

    /// The first field that differs, for the summary.
    fn first_change(&self, new: &Seen) -> (&'static str, f64, f64) {
        let fields = [
            ("open", self.open, new.open),
            ("high", self.high, new.high),
            ("low", self.low, new.low),
            ("close", self.close, new.close),
            ("volume", self.volume, new.volume),
            (
                "quote volume",
                self.quote_volume.unwrap_or(f64::NAN),
                new.quote_volume.unwrap_or(f64::NAN),
            ),
        ];
        for (name, a, b) in fields {
            if a.to_bits() != b.to_bits() {
                return (name, a, b);
            }
        }
        let t = |v: Option<u64>| v.map_or(f64::NAN, |n| n as f64);
        ("trade count", t(self.trades), t(new.trades))
    }
}

/// What is wrong with a candle's place in the sequence.
#[derive(Clone, Debug)]
pub(super) enum SeqFault {
    Missing { count: i64, from: Nanos, to: Nanos },
    OffGrid,
    Duplicate,
    OutOfOrder { latest: Nanos },
    Revised { old: Seen },
    TradeIds { expected: u64, got: u64 },
}

impl CandleChecker {
    /// A forming update: only looks for a change to an already-closed candle.
    pub(super) fn on_forming(&mut self, seen: &Seen) -> Verdict<Gap, CandleClear> {
        let Some(last) = self.last_open else {
            return Verdict::Quiet;
        };
        if seen.open_ns > last {
            return Verdict::Quiet;
        }
        let fault = match self.find_recent(seen.open_ns) {
            Some((_, old)) if old.same(seen) => return Verdict::Quiet,
            Some((_, old)) => SeqFault::Revised { old },
            None => SeqFault::OutOfOrder { latest: last },
        };
        let verdict = self.fire_gap(seen, fault);
        if let Some((i, _)) = self.find_recent(seen.open_ns) {
            // Remember the revised values so a repeat is not news again.
            if let Some(slot) = self.recent.get_mut(i) {
                *slot = Some(*seen);
            }
        }
        verdict
    }

    fn find_recent(&self, open_ns: Nanos) -> Option<(usize, Seen)> {
        self.recent
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.filter(|s| s.open_ns == open_ns).map(|s| (i, s)))
    }

    pub(super) fn remember(&mut self, seen: Seen) {
        if let Some(slot) = self.recent.get_mut(self.recent_pos) {
            *slot = Some(seen);
        }
        self.recent_pos = (self.recent_pos + 1) % RECENT;
    }

    /// Where a closed candle sits relative to the ones before it.
    pub(super) fn sequence(&mut self, c: &Candle, seen: &Seen) -> Option<SeqFault> {
        if self.interval_ns <= 0 || c.open_ns.rem_euclid(self.interval_ns) != 0 {
            return Some(SeqFault::OffGrid);
        }
        let last = self.last_open?;
        if c.open_ns > last {
            let step = c.open_ns.saturating_sub(last) / self.interval_ns;
            if step > 1 && self.expect_every_interval {
                return Some(SeqFault::Missing {
                    count: step - 1,
                    from: last.saturating_add(self.interval_ns),
                    to: c.open_ns.saturating_sub(self.interval_ns),
                });
            }
            if step == 1 && self.expect_every_interval {
                // Venues that give first/last trade ids (Binance `f`, `L`)
                // number trades without holes: the next candle starts one
                // past the previous one's last id.
                if let (Some((o, l)), Some(f)) = (self.last_ids, c.first_trade_id) {
                    let expected = l.saturating_add(1);
                    if o == last && f != expected {
                        return Some(SeqFault::TradeIds { expected, got: f });
                    }
                }
            }
            return None;
        }
        match self.find_recent(c.open_ns) {
            Some((i, old)) if !old.same(seen) => {
                if let Some(slot) = self.recent.get_mut(i) {
                    *slot = Some(*seen);
                }
                Some(SeqFault::Revised { old })
            }
            Some(_) => Some(SeqFault::Duplicate),
            None => Some(SeqFault::OutOfOrder { latest: last }),
        }
    }

    /// `candle_gap` fires: `candle` breaks the sequence by `fault`.
    pub(super) fn fire_gap(&mut self, candle: &Seen, fault: SeqFault) -> Verdict<Gap, CandleClear> {
        let gap = Gap {
            names: self.names.clone(),
            candle: *candle,
            fault,
            interval_secs: self.interval_ns / SECOND,
        };
        self.firing.fire(Rule::Gap, gap)
    }
}

/// `candle_gap` fires: a candle out of its place in the sequence (or a
/// closed candle that changed).
#[derive(Clone, Debug)]
pub struct Gap {
    names: Names,
    candle: Seen,
    fault: SeqFault,
    /// The grid, for an off-grid candle.
    interval_secs: Nanos,
}

impl Words for Gap {
    fn kind(&self) -> Kind {
        Kind::CandleGap
    }

    fn summary(&self, _: &IncidentKey) -> String {
        let (head, c) = (&self.names, &self.candle);
        match &self.fault {
            SeqFault::Missing { count, from, to } => {
                let what = if *count == 1 {
                    format!("candle missing: {} never arrived", head.when(*from))
                } else {
                    format!(
                        "candles missing: {count} intervals {} to {} never arrived",
                        head.when(*from),
                        head.when(*to)
                    )
                };
                format!(
                    "{head} {what} (next candle {}): history has a hole, backfill before using it.",
                    head.when(c.open_ns)
                )
            }
            SeqFault::OffGrid => format!(
                "{head} candle at {} is not on the {} grid: candle times are wrong, do not align it with other data.",
                format_rfc3339_ms(c.open_ns),
                head.label
            ),
            SeqFault::Duplicate => format!(
                "{head} candle {} arrived twice with the same values: the feed repeats candles, count each interval once.",
                head.when(c.open_ns)
            ),
            SeqFault::OutOfOrder { latest } => format!(
                "{head} candle {} arrived after {} (out of order): candles are not in time order, re-fetch or sort before using them.",
                head.when(c.open_ns),
                head.when(*latest)
            ),
            SeqFault::TradeIds { expected, got } => {
                let what = if got > expected {
                    format!("skips {} trade ids", got - expected)
                } else {
                    format!("repeats {} trade ids", expected - got)
                };
                format!(
                    "{head} candle {} {what} after the previous candle (first id {got}, expected {expected}): its numbers miss or double-count trades, re-fetch before using it.",
                    head.when(c.open_ns)
                )
            }
            SeqFault::Revised { old } => {
                let (field, was, now_v) = old.first_change(c);
                format!(
                    "{head} candle {} changed after it closed ({field} {} -> {}): closed candles must not change, re-fetch before trusting it.",
                    head.when(c.open_ns),
                    num(was),
                    num(now_v)
                )
            }
        }
    }

    fn evidence(&self) -> Evidence {
        let c = &self.candle;
        let ev = at(c);
        let ev = match &self.fault {
            SeqFault::Missing { count, from, to } => ev
                .with("fault", "missing")
                .with("missing_intervals", *count)
                .with("missing_from", format_rfc3339_ms(*from))
                .with("missing_to", format_rfc3339_ms(*to)),
            SeqFault::OffGrid => ev
                .with("fault", "off_grid")
                .with("interval_secs", self.interval_secs),
            SeqFault::Duplicate => ev.with("fault", "duplicate"),
            SeqFault::OutOfOrder { latest } => ev
                .with("fault", "out_of_order")
                .with("latest_open_time", format_rfc3339_ms(*latest)),
            SeqFault::TradeIds { expected, got } => ev
                .with("fault", "trade_ids")
                .with("expected_first_trade_id", *expected)
                .with("first_trade_id", *got),
            SeqFault::Revised { old } => {
                let (field, was, now_v) = old.first_change(c);
                ev.with("fault", "revised")
                    .with("changed", field)
                    .num("was", was, 10)
                    .num("now", now_v, 10)
            }
        };
        ohlcv(ev, c)
    }
}

/// Every candle gap is news: each one is reported.
impl Finding for Gap {
    fn news(&self) -> bool {
        true
    }
}
