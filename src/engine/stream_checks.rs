//! The per-stream checks' verdicts turned into incidents: lag, crossed
//! books, book gaps and integrity faults, frozen values, spread, depth and
//! stale books; with the helpers that word their evidence.
//!
//! Each check reads one stream (and, for `book_stale`, its sibling books)
//! and the time passed in: no I/O, no wall clock, no state of other venues.

use super::Engine;
use super::streams::StreamId;
use crate::alert::{Alert, Evidence, Kind, Severity};
use crate::detect::book_health::{HealthFacts, HealthVerdict, StaleVerdict};
use crate::detect::frozen::{Fingerprint, FrozenVerdict, fp};
use crate::model::{Integrity, Nanos, StreamKind, Venue, format_rfc3339_ms};
use crate::state::book::Applied;

/// Evidence of a spread or depth verdict: the value, its median and the
/// threshold, and one setting that explains the threshold.
pub(super) fn health_evidence(
    x: &HealthFacts,
    value: &'static str,
    setting: &'static str,
    v: f64,
) -> Evidence {
    Evidence::new()
        .num(value, x.value, 6)
        .num("median", x.median, 6)
        .num("threshold", x.threshold, 6)
        .num("worst", x.worst, 6)
        .num(setting, v, 3)
        .num("held_s", x.held_s, 3)
        .with("updates", x.updates)
        .with("baseline_samples", x.samples)
        .with("since", format_rfc3339_ms(x.since))
}

/// `part` as a percentage of `whole`.
pub(super) fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// A quantity for a summary: four significant digits.
pub(super) fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

impl Engine {
    pub(super) fn on_lag_sample(
        &mut self,
        si: StreamId,
        now: Nanos,
        exch: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let s = self.streams.get_mut(si);
        let verdict = s.lag.on_sample(&self.cfg.lag, now, exch);
        verdict.report(&mut self.incidents, &s.key, now, out);
    }

    pub(super) fn check_crossed(
        &mut self,
        si: StreamId,
        now: Nanos,
        bid: f64,
        ask: f64,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.book;
        let s = self.streams.get_mut(si);
        let verdict = s.crossed.observe(cfg, now, bid, ask);
        let deadline = s.crossed.deadline(cfg);
        verdict.report(&mut self.incidents, &s.key, now, out);
        if let Some(d) = deadline {
            self.schedule(d);
        }
    }

    pub(super) fn on_book_applied(
        &mut self,
        si: StreamId,
        now: Nanos,
        applied: Applied,
        out: &mut Vec<Alert>,
    ) {
        let s = self.streams.get(si);
        match applied {
            Applied::Gap {
                expected,
                got,
                last_id,
            } => {
                let summary = format!(
                    "{} {} order book skipped updates (expected id {}, got {}): the local book is out of sync and is being rebuilt from a snapshot; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, got
                );
                let ev = Evidence::new()
                    .with("expected", expected)
                    .with("got", got)
                    .with("missing", got.saturating_sub(expected))
                    .with("last_id", last_id);
                self.incidents.fire(
                    now,
                    Kind::BookGap,
                    &s.key,
                    Severity::Warning,
                    true,
                    summary,
                    ev,
                    out,
                );
            }
            Applied::Resynced { replayed } => {
                for kind in [Kind::BookGap, Kind::BookChecksum] {
                    let summary = format!(
                        "{} {} order book is back in sync from a snapshot.",
                        s.venue, s.symbol
                    );
                    let ev = Evidence::new().with("replayed_diffs", replayed);
                    self.incidents.clear(now, kind, &s.key, summary, ev, out);
                }
            }
            Applied::Ok | Applied::Stale | Applied::Invalid => {}
        }
        let top = self
            .streams
            .get(si)
            .book
            .as_ref()
            .filter(|b| b.is_synced())
            .and_then(|b| Some((b.best_bid()?.price, b.best_ask()?.price)));
        if let Some((bid, ask)) = top {
            self.check_crossed(si, now, bid, ask, out);
        }
    }

    /// An integrity fault the adapter found: the book is unsynced until the
    /// next snapshot, which resolves the incident.
    pub(super) fn on_integrity(
        &mut self,
        si: StreamId,
        now: Nanos,
        fault: &Integrity,
        out: &mut Vec<Alert>,
    ) {
        let s = self.streams.get_mut(si);
        if let Some(book) = s.book.as_mut() {
            book.invalidate();
        }
        let (kind, summary, ev) = match *fault {
            Integrity::Gap { expected, got } => (
                Kind::BookGap,
                format!(
                    "{} {} order book skipped updates (expected sequence {}, got {}): the local book is out of sync and is being rebuilt from a snapshot; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, got
                ),
                Evidence::new()
                    .with("expected", expected)
                    .with("got", got)
                    .with("missing", got.saturating_sub(expected)),
            ),
            Integrity::Checksum { expected, computed } => (
                Kind::BookChecksum,
                format!(
                    "{} {} order book checksum mismatch (venue {}, local {}): the local book differs from the venue's and is being rebuilt; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, computed
                ),
                Evidence::new()
                    .with("venue_checksum", expected)
                    .with("local_checksum", computed),
            ),
            // A venue restart is announced, not a fault: the snapshot that
            // follows rebuilds the book.
            Integrity::Reset => return,
        };
        self.incidents
            .fire(now, kind, &s.key, Severity::Warning, true, summary, ev, out);
    }

    /// `feed_frozen`: one frame of stream `si` carrying values `f`.
    pub(super) fn check_frozen(
        &mut self,
        si: StreamId,
        now: Nanos,
        f: &Fingerprint,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.frozen;
        let s = self.streams.get_mut(si);
        let Some(tracker) = s.frozen.as_mut() else {
            return;
        };
        match tracker.on_frame(cfg, &mut self.frozen_groups, now, f) {
            FrozenVerdict::Quiet => {}
            FrozenVerdict::Frozen(x) => {
                let compared = if x.peers_known {
                    format!(
                        "while other venues' {} streams changed {} times",
                        s.kind.name(),
                        x.peer_changes
                    )
                } else {
                    "with no other venue to compare against (judged at the higher no-peer bar)"
                        .to_string()
                };
                let summary = format!(
                    "{} keeps sending the same values, unchanged for {:.1} s over {} frames {compared}: its prices are frozen, do not trade on them.",
                    s.subject(),
                    x.unchanged_s,
                    x.unchanged_frames
                );
                let ev = Evidence::new()
                    .num("unchanged_s", x.unchanged_s, 3)
                    .with("unchanged_frames", x.unchanged_frames)
                    .num("phi", x.phi, 2)
                    .num("threshold_phi", x.threshold_phi, 2)
                    .with("peers_known", x.peers_known)
                    .with("peer_changes", x.peer_changes)
                    .with(
                        "peers_moving_s",
                        x.peers_moving_s
                            .map_or(serde_json::Value::Null, |v| crate::alert::round_value(v, 3)),
                    )
                    .num("median_change_gap_s", x.median_change_gap_s, 4)
                    .num("p95_change_gap_s", x.p95_change_gap_s, 4)
                    .with("last_change_at", format_rfc3339_ms(x.last_change));
                self.incidents.fire(
                    now,
                    Kind::FeedFrozen,
                    &s.key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
            }
            FrozenVerdict::Resumed {
                unchanged_s,
                unchanged_frames,
            } => {
                let summary = format!(
                    "{} values are changing again after {:.1} s frozen.",
                    s.subject(),
                    unchanged_s
                );
                let ev = Evidence::new()
                    .num("unchanged_s", unchanged_s, 3)
                    .with("unchanged_frames", unchanged_frames);
                self.incidents
                    .clear(now, Kind::FeedFrozen, &s.key, summary, ev, out);
            }
        }
    }

    /// After a book update: frozen, spread and near-touch depth of a
    /// synced L2 book.
    pub(super) fn check_book_health(
        &mut self,
        si: StreamId,
        now: Nanos,
        rest: bool,
        out: &mut Vec<Alert>,
    ) {
        let Some(book) = self.streams.get(si).book.as_ref().filter(|b| b.is_synced()) else {
            return;
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if !rest {
            let f = [fp(bid.price), fp(bid.qty), fp(ask.price), fp(ask.qty), 0, 0];
            self.check_frozen(si, now, &f, out);
        }
        self.check_spread(si, now, bid.price, ask.price, out);
        let cfg = &self.cfg.book;
        let s = self.streams.get_mut(si);
        if !s.depth_health.due(now) {
            return;
        }
        let Some(depth) = s
            .book
            .as_ref()
            .and_then(|b| b.near_touch_qty(cfg.depth_band_bps))
        else {
            return;
        };
        let verdict = s.depth_health.observe(cfg, now, depth);
        let band = cfg.depth_band_bps;
        let (summary, ev) = match verdict {
            HealthVerdict::Quiet => return,
            HealthVerdict::Fired(ref x) => (
                format!(
                    "{} {} order book holds {} within {} bps of mid, {:.0}% of its median {} for {:.1} s: liquidity has left this venue's book, size orders down or route elsewhere.",
                    s.venue,
                    s.symbol,
                    round_sig(x.value),
                    band,
                    pct(x.value, x.median),
                    round_sig(x.median),
                    x.held_s
                ),
                health_evidence(x, "depth", "band_bps", band),
            ),
            HealthVerdict::Cleared(ref x) => (
                format!(
                    "{} {} order book depth near the touch is back to {} ({:.0}% of its median) after {:.1} s.",
                    s.venue,
                    s.symbol,
                    round_sig(x.value),
                    pct(x.value, x.median),
                    x.held_s
                ),
                health_evidence(x, "depth", "band_bps", band),
            ),
        };
        if matches!(verdict, HealthVerdict::Fired(_)) {
            self.incidents.fire(
                now,
                Kind::DepthCollapse,
                &s.key,
                Severity::Warning,
                false,
                summary,
                ev,
                out,
            );
        } else {
            self.incidents
                .clear(now, Kind::DepthCollapse, &s.key, summary, ev, out);
        }
    }

    /// `spread_blowout`: a new top of book of stream `si`.
    pub(super) fn check_spread(
        &mut self,
        si: StreamId,
        now: Nanos,
        bid: f64,
        ask: f64,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.book;
        let s = self.streams.get_mut(si);
        match s.spread.observe(cfg, now, bid, ask) {
            HealthVerdict::Quiet => {}
            HealthVerdict::Fired(x) => {
                let summary = format!(
                    "{} spread is {:.1} bps, {:.0}x its median of {:.2} bps, for {:.1} s: liquidity has pulled back on this venue, widen quotes or route elsewhere.",
                    s.subject(),
                    x.value,
                    x.value / x.median.max(f64::MIN_POSITIVE),
                    x.median,
                    x.held_s
                );
                let ev = health_evidence(&x, "spread_bps", "k", cfg.spread_k)
                    .with("bid", bid)
                    .with("ask", ask);
                self.incidents.fire(
                    now,
                    Kind::SpreadBlowout,
                    &s.key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
            }
            HealthVerdict::Cleared(x) => {
                let summary = format!(
                    "{} spread is back to {:.2} bps (median {:.2}) after {:.1} s wide.",
                    s.subject(),
                    x.value,
                    x.median,
                    x.held_s
                );
                let ev = health_evidence(&x, "spread_bps", "k", cfg.spread_k);
                self.incidents
                    .clear(now, Kind::SpreadBlowout, &s.key, summary, ev, out);
            }
        }
    }

    /// `book_stale`: a trade of stream `si` against the same venue's books.
    pub(super) fn check_stale(
        &mut self,
        si: StreamId,
        venue: Venue,
        now: Nanos,
        price: f64,
        out: &mut Vec<Alert>,
    ) {
        let count = self.streams.len();
        let s = self.streams.get(si);
        let links = if s.book_links.0 == count {
            s.book_links.1
        } else {
            // A stream appeared since the last look: find the books again
            // (this happens a few times per symbol, not per trade).
            let mut l = [None; 3];
            for (slot, kind) in
                l.iter_mut()
                    .zip([StreamKind::Bbo, StreamKind::Depth, StreamKind::PartialDepth])
            {
                *slot = self
                    .index
                    .get(&(venue, kind))
                    .and_then(|m| m.get(&*s.symbol))
                    .copied();
            }
            self.streams.get_mut(si).book_links = (count, l);
            l
        };
        let cfg = &self.cfg.book;
        for b in links.into_iter().flatten() {
            let s = self.streams.get_mut(b);
            let top = match s.book.as_ref() {
                Some(book) if book.is_synced() => book
                    .best_bid()
                    .zip(book.best_ask())
                    .map(|(b, a)| (b.price, a.price)),
                Some(_) => None,
                None => s.stale.top,
            };
            let Some((bid, ask)) = top else {
                continue;
            };
            match s.stale.on_trade(cfg, now, price, bid, ask) {
                StaleVerdict::Quiet => {}
                StaleVerdict::Stale(x) => {
                    let summary = format!(
                        "{} is stale: {} trades in a row printed outside it over {:.1} s (last {} vs bid {} / ask {}, {:.1} bps outside); do not quote off this book.",
                        s.subject(),
                        x.trades,
                        x.held_s,
                        x.price,
                        x.bid,
                        x.ask,
                        x.outside_bps,
                    );
                    let ev = Evidence::new()
                        .with("trade_price", x.price)
                        .with("bid", x.bid)
                        .with("ask", x.ask)
                        .num("outside_bps", x.outside_bps, 2)
                        .num("tolerance_bps", cfg.stale_tolerance_bps, 2)
                        .with("trades_outside", x.trades)
                        .num("held_s", x.held_s, 3)
                        .with("since", format_rfc3339_ms(x.since));
                    self.incidents.fire(
                        now,
                        Kind::BookStale,
                        &s.key,
                        Severity::Warning,
                        false,
                        summary,
                        ev,
                        out,
                    );
                }
                StaleVerdict::Fresh {
                    stale_for_s,
                    trades,
                } => {
                    let summary = format!(
                        "{} is tracking trades again (a trade printed inside it after {:.1} s stale).",
                        s.subject(),
                        stale_for_s
                    );
                    let ev = Evidence::new()
                        .num("stale_for_s", stale_for_s, 3)
                        .with("trades_outside", trades);
                    self.incidents
                        .clear(now, Kind::BookStale, &s.key, summary, ev, out);
                }
            }
        }
    }
}
