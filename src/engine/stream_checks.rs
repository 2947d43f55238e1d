//! The per-stream checks run on one stream's [`StreamChecks`]: lag,
//! crossed books, book gaps and integrity faults, frozen values, spread,
//! depth, stale books and bad prints. Each check (in `detect/`) returns a verdict that
//! words its own alert; this file feeds it and reports the verdict.
//!
//! [`StreamChecks`]: super::streams::StreamChecks
//!
//! Each check reads one stream (and, for `book_stale` and `bad_print`, its
//! sibling books) and the time passed in: no I/O, no wall clock; only a
//! print already far outside its own books reads the other venues' latest
//! prices, which it does not keep.

use super::Engine;
use super::streams::StreamId;
use crate::alert::Alert;
use crate::detect::bad_print::{Peers, Top};
use crate::detect::book::{applied_verdicts, integrity_verdict};
use crate::detect::consensus::median_in_place;
use crate::detect::frozen::{Fingerprint, Witness, fp};
use crate::model::{Integrity, MILLI, Nanos, StreamKind, Venue};
use crate::state::book::Applied;

/// The book streams a venue may carry for a symbol, in the order of
/// [`Stream::book_links`](super::streams::Stream::book_links), and their
/// stream names.
const BOOK_KINDS: [StreamKind; 3] = [StreamKind::Bbo, StreamKind::Depth, StreamKind::PartialDepth];
const BOOK_NAMES: [&str; 3] = ["bbo", "depth", "depth_partial"];

impl Engine {
    pub(super) fn on_lag_sample(
        &mut self,
        si: StreamId,
        now: Nanos,
        exch: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let s = self.streams.get_mut(si);
        let verdict = s.checks.lag.on_sample(&self.cfg.lag, now, exch);
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
        let outcome = s.checks.crossed.observe(cfg, now, bid, ask);
        if let Some(d) = outcome.report(&mut self.incidents, &s.key, now, out) {
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
        for verdict in applied_verdicts(&applied) {
            verdict.report(&mut self.incidents, &s.key, now, out);
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
        integrity_verdict(fault).report(&mut self.incidents, &s.key, now, out);
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
        let Some(tracker) = s.checks.frozen.as_mut() else {
            return;
        };
        let verdict = tracker.on_frame(cfg, &mut self.market.frozen, now, f);
        verdict.report(&mut self.incidents, &s.key, now, out);
    }

    /// `feed_frozen` by witness: stream `si` of `venue` (its synced L2
    /// book's top `low..high`, or a trade at `low == high`) against the
    /// standing quote of the same venue and symbol's bbo stream.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_frozen_witness(
        &mut self,
        si: StreamId,
        venue: Venue,
        now: Nanos,
        by: Witness,
        low: f64,
        high: f64,
        out: &mut Vec<Alert>,
    ) {
        let [Some(b), ..] = self.book_links(si, venue) else {
            return;
        };
        if b == si {
            return;
        }
        let cfg = &self.cfg.frozen;
        let s = self.streams.get_mut(b);
        let (Some(quote), Some(tracker)) = (s.checks.stale.top, s.checks.frozen.as_mut()) else {
            return;
        };
        let verdict = tracker.on_witness(cfg, now, by, quote, low, high);
        verdict.report(&mut self.incidents, &s.key, now, out);
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
        let (low, high) = (bid.price, ask.price);
        if !rest {
            let f = [fp(bid.price), fp(bid.qty), fp(ask.price), fp(ask.qty), 0, 0];
            self.check_frozen(si, now, &f, out);
            let venue = self.streams.get(si).venue;
            self.check_frozen_witness(si, venue, now, Witness::BookTop, low, high, out);
        }
        self.check_spread(si, now, bid.price, ask.price, out);
        let cfg = &self.cfg.book;
        let s = self.streams.get_mut(si);
        if !s.checks.depth.due(now) {
            return;
        }
        let Some(depth) = s
            .book
            .as_ref()
            .and_then(|b| b.near_touch_qty(cfg.depth_band_bps))
        else {
            return;
        };
        let verdict = s.checks.depth.observe(cfg, now, depth);
        verdict.report(&mut self.incidents, &s.key, now, out);
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
        let verdict = s.checks.spread.observe(cfg, now, bid, ask);
        verdict.report(&mut self.incidents, &s.key, now, out);
    }

    /// The same venue and symbol's bbo, depth and partial depth streams of
    /// stream `si` (looked up again only when a stream has appeared since
    /// the last look: a few times per symbol, not per frame).
    pub(super) fn book_links(&mut self, si: StreamId, venue: Venue) -> [Option<StreamId>; 3] {
        let count = self.streams.len();
        let s = self.streams.get(si);
        if s.book_links.0 == count {
            return s.book_links.1;
        }
        let mut l = [None; 3];
        for (slot, kind) in BOOK_KINDS.iter().enumerate() {
            if let Some(x) = l.get_mut(slot) {
                *x = self
                    .index
                    .get(&(venue, *kind))
                    .and_then(|m| m.get(&*s.symbol))
                    .copied();
            }
        }
        self.streams.get_mut(si).book_links = (count, l);
        l
    }

    /// The top of book of stream `b`: its synced L2 book's, or its last
    /// best bid and offer.
    fn top_of(&self, b: StreamId) -> Option<(f64, f64)> {
        let s = self.streams.get(b);
        match s.book.as_ref() {
            Some(book) if book.is_synced() => book
                .best_bid()
                .zip(book.best_ask())
                .map(|(b, a)| (b.price, a.price)),
            Some(_) => None,
            None => s.checks.stale.top,
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
        let links = self.book_links(si, venue);
        for b in links.into_iter().flatten() {
            let Some((bid, ask)) = self.top_of(b) else {
                continue;
            };
            let cfg = &self.cfg.book;
            let s = self.streams.get_mut(b);
            let verdict = s.checks.stale.on_trade(cfg, now, price, bid, ask);
            verdict.report(&mut self.incidents, &s.key, now, out);
        }
    }

    /// `bad_print`: a trade of stream `si` against the same venue's fresh
    /// tops of book and, when it printed far outside them, the latest
    /// prices of the pair's other venues.
    pub(super) fn check_bad_print(
        &mut self,
        si: StreamId,
        venue: Venue,
        now: Nanos,
        price: f64,
        id: Option<u64>,
        out: &mut Vec<Alert>,
    ) {
        let links = self.book_links(si, venue);
        let fresh = self.cfg.book.bad_print_fresh_ms * MILLI;
        let mut tops = [Top {
            stream: "",
            bid: 0.0,
            ask: 0.0,
        }; 3];
        let mut n = 0;
        for (b, name) in links.into_iter().zip(BOOK_NAMES) {
            let Some(b) = b else {
                continue;
            };
            let seen = self.streams.get(b).checks.silence.last();
            if seen.is_none_or(|t| now - t > fresh) {
                continue;
            }
            if let (Some((bid, ask)), Some(slot)) = (self.top_of(b), tops.get_mut(n)) {
                *slot = Top {
                    stream: name,
                    bid,
                    ask,
                };
                n += 1;
            }
        }
        let consensus = &self.cfg.consensus;
        let watch = &self.market.divergence;
        let s = self.streams.get_mut(si);
        let symbol = &s.symbol;
        let peers = || {
            let key = consensus.pair_key(venue, symbol)?;
            let fresh = consensus.freshness_ns();
            let mut prices: Vec<f64> = watch
                .prices()
                .filter(|(v, sym, _, at)| {
                    *v != venue
                        && now - at <= fresh
                        && consensus.pair_key(*v, sym).as_ref() == Some(&key)
                })
                .map(|(_, _, p, _)| p)
                .collect();
            let median = median_in_place(&mut prices)?;
            Some(Peers {
                median,
                count: prices.len(),
            })
        };
        let verdict = s.checks.bad_print.on_trade(
            &self.cfg.book,
            now,
            price,
            id,
            tops.get(..n).unwrap_or_default(),
            peers,
        );
        verdict.report(&mut self.incidents, &s.key, now, out);
    }
}
