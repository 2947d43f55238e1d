//! The sequence rules of a candle stream: grid, missing intervals,
//! duplicates, out-of-order and revised closed candles, trade-id
//! continuity, and the `candle_gap` alert. It keeps a fixed number of
//! recent candles ([`RECENT`]) and must never grow with history.

use super::CandleChecker;
use super::summary::{num, ohlcv};
use crate::alert::{Alert, Evidence, Incidents, Kind, Severity};
use crate::model::{Candle, Nanos, SECOND, format_rfc3339_ms};

/// How many recent closed candles are remembered to recognise revisions and
/// duplicates of candles that are not the latest.
pub(super) const RECENT: usize = 16;

/// The numbers of one closed candle, kept to recognise a later change.
#[derive(Copy, Clone, Debug)]
pub(super) struct Seen {
    open_ns: Nanos,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    quote_volume: Option<f64>,
    trades: Option<u64>,
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
    pub(super) fn on_forming(
        &mut self,
        now: Nanos,
        c: &Candle,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let Some(last) = self.last_open else { return };
        if c.open_ns > last {
            return;
        }
        let seen = Seen::of(c);
        let fault = match self.find_recent(c.open_ns) {
            Some((_, old)) if old.same(&seen) => return,
            Some((_, old)) => SeqFault::Revised { old },
            None => SeqFault::OutOfOrder { latest: last },
        };
        self.fire_gap(now, c, &fault, inc, out);
        if let Some((i, _)) = self.find_recent(c.open_ns) {
            // Remember the revised values so a repeat is not news again.
            if let Some(slot) = self.recent.get_mut(i) {
                *slot = Some(seen);
            }
        }
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

    pub(super) fn fire_gap(
        &self,
        now: Nanos,
        c: &Candle,
        f: &SeqFault,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let head = format!("{} {} {}", self.venue, self.symbol, self.label);
        let mut ev = Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns));
        let summary = match f {
            SeqFault::Missing { count, from, to } => {
                ev = ev
                    .with("fault", "missing")
                    .with("missing_intervals", *count)
                    .with("missing_from", format_rfc3339_ms(*from))
                    .with("missing_to", format_rfc3339_ms(*to));
                let what = if *count == 1 {
                    format!("candle missing: {} never arrived", self.when(*from))
                } else {
                    format!(
                        "candles missing: {count} intervals {} to {} never arrived",
                        self.when(*from),
                        self.when(*to)
                    )
                };
                format!(
                    "{head} {what} (next candle {}): history has a hole, backfill before using it.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::OffGrid => {
                ev = ev
                    .with("fault", "off_grid")
                    .with("interval_secs", self.interval_ns / SECOND);
                format!(
                    "{head} candle at {} is not on the {} grid: candle times are wrong, do not align it with other data.",
                    format_rfc3339_ms(c.open_ns),
                    self.label
                )
            }
            SeqFault::Duplicate => {
                ev = ev.with("fault", "duplicate");
                format!(
                    "{head} candle {} arrived twice with the same values: the feed repeats candles, count each interval once.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::OutOfOrder { latest } => {
                ev = ev
                    .with("fault", "out_of_order")
                    .with("latest_open_time", format_rfc3339_ms(*latest));
                format!(
                    "{head} candle {} arrived after {} (out of order): candles are not in time order, re-fetch or sort before using them.",
                    self.when(c.open_ns),
                    self.when(*latest)
                )
            }
            SeqFault::TradeIds { expected, got } => {
                ev = ev
                    .with("fault", "trade_ids")
                    .with("expected_first_trade_id", *expected)
                    .with("first_trade_id", *got);
                let what = if got > expected {
                    format!("skips {} trade ids", got - expected)
                } else {
                    format!("repeats {} trade ids", expected - got)
                };
                format!(
                    "{head} candle {} {what} after the previous candle (first id {got}, expected {expected}): its numbers miss or double-count trades, re-fetch before using it.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::Revised { old } => {
                let (field, was, now_v) = old.first_change(&Seen::of(c));
                ev = ev
                    .with("fault", "revised")
                    .with("changed", field)
                    .num("was", was, 10)
                    .num("now", now_v, 10);
                format!(
                    "{head} candle {} changed after it closed ({field} {} -> {}): closed candles must not change, re-fetch before trusting it.",
                    self.when(c.open_ns),
                    num(was),
                    num(now_v)
                )
            }
        };
        inc.fire(
            now,
            Kind::CandleGap,
            &self.key,
            Severity::Warning,
            true,
            summary,
            ohlcv(ev, c),
            out,
        );
    }
}
