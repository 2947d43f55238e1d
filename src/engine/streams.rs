//! The stream table: one `Stream` per (venue, stream kind, symbol), found
//! or created for each event, with its own checks ([`StreamChecks`]), and
//! the routing of an event to them (arrival and silence rhythm, lag,
//! books, trades, candles, frozen) and to the checks across venues
//! (divergence).
//!
//! Pure state updates from the event and the time passed in: never I/O,
//! never the wall clock, never a panic on any input.

use super::conns::ConnId;
use super::stats::payload_index;
use super::{Engine, MAX_RESYNC_REQUESTS, ResyncRequest};
use crate::alert::{Alert, IncidentKey};
use crate::detect::Verdict;
use crate::detect::bad_print::BadPrintTracker;
use crate::detect::book::CrossedTracker;
use crate::detect::book_health::{DepthTracker, SpreadTracker, StaleTracker};
use crate::detect::candle::CandleChecker;
use crate::detect::frozen::{FrozenTracker, Witness, fp};
use crate::detect::lag::LagTracker;
use crate::detect::silence::SilenceTracker;
use crate::model::{Event, MILLI, Nanos, Payload, SECOND, StreamKind, Symbol, Venue};
use crate::state::book::Book;
use crate::state::candles::TradeCandleBuilder;
use crate::venues;
use std::sync::Arc;

/// A stream's place in the engine's stream table. Only [`Streams::push`]
/// makes one (the field is private to this module), and the table never
/// shrinks, so every `StreamId` names a stream that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StreamId(u32);

impl StreamId {
    /// The position in the table, as the opaque key `price_divergence`
    /// files the stream's prices under.
    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The stream table: streams are added, never removed, and reached only
/// through the [`StreamId`]s it issued.
#[derive(Default)]
pub(super) struct Streams {
    list: Vec<Stream>,
}

impl Streams {
    /// Adds a stream; `None` only past `u32::MAX` streams (never in
    /// practice: the memory runs out long before).
    pub(super) fn push(&mut self, s: Stream) -> Option<StreamId> {
        let id = StreamId(u32::try_from(self.list.len()).ok()?);
        self.list.push(s);
        Some(id)
    }

    /// The stream `id` names. In bounds by construction: ids come only from
    /// `push`, and the table never shrinks.
    pub(super) fn get(&self, id: StreamId) -> &Stream {
        debug_assert!(id.index() < self.list.len());
        &self.list[id.index()]
    }

    /// The stream `id` names, to change it (in bounds as for `get`).
    pub(super) fn get_mut(&mut self, id: StreamId) -> &mut Stream {
        debug_assert!(id.index() < self.list.len());
        &mut self.list[id.index()]
    }

    /// Number of streams.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Every stream, in the order they were added.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Stream> {
        self.list.iter()
    }

    /// Every stream, to change it, in the order they were added.
    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Stream> {
        self.list.iter_mut()
    }

    /// The ids of the streams there are now, in order; the iterator does
    /// not borrow the table (`push` keeps the length within `u32`).
    pub(super) fn ids(&self) -> impl Iterator<Item = StreamId> + use<> {
        (0..self.list.len() as u32).map(StreamId)
    }
}

impl<'a> IntoIterator for &'a Streams {
    type Item = &'a Stream;
    type IntoIter = std::slice::Iter<'a, Stream>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Streams {
    type Item = &'a mut Stream;
    type IntoIter = std::slice::IterMut<'a, Stream>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// One watched stream.
pub(super) struct Stream {
    pub(super) venue: Venue,
    pub(super) symbol: Symbol,
    pub(super) kind: StreamKind,
    pub(super) key: IncidentKey,
    pub(super) conn: ConnId,
    pub(super) book: Option<Book>,
    /// When this (unsynced) book last asked for a snapshot.
    pub(super) resync_at: Option<Nanos>,
    pub(super) trade_candles: Option<usize>,
    /// The stream's own checks.
    pub(super) checks: StreamChecks,
    /// Trade and book streams: the same venue/symbol's bbo, depth and
    /// partial depth streams, looked up when the stream count was the
    /// first value.
    pub(super) book_links: (usize, [Option<StreamId>; 3]),
}

/// One stream's own checks, the state each keeps between frames. None of
/// them keeps state of another venue (`book_stale` reads the same venue's
/// trades; `bad_print` the same venue's books, and asks the other venues'
/// latest prices only for a print already far outside them), so a
/// venue's streams and their checks can run apart from the checks across
/// venues ([`MarketChecks`](super::market::MarketChecks)).
pub(super) struct StreamChecks {
    /// `feed_silent`.
    pub(super) silence: SilenceTracker,
    /// `feed_lagging`.
    pub(super) lag: LagTracker,
    /// `book_crossed`.
    pub(super) crossed: CrossedTracker,
    /// `feed_frozen` (`None` for streams without frames of their own).
    pub(super) frozen: Option<FrozenTracker>,
    /// `candle_gap`, `candle_invalid`, `abnormal_candle` (kline streams).
    pub(super) candles: Option<CandleChecker>,
    /// `spread_blowout` (bbo and L2 streams).
    pub(super) spread: SpreadTracker,
    /// `depth_collapse` (L2 streams).
    pub(super) depth: DepthTracker,
    /// `book_stale` (bbo and L2 streams, judged on the same venue's trades).
    pub(super) stale: StaleTracker,
    /// `bad_print` (trade streams, judged against the same venue's books
    /// and, for a print far outside them, the pair's other venues).
    pub(super) bad_print: BadPrintTracker,
}

/// Candles built from one symbol's trades.
pub(super) struct TradeCandles {
    /// The stream that feeds them (trades, or aggregated trades).
    pub(super) feeder: StreamKind,
    pub(super) builder: TradeCandleBuilder,
    pub(super) checker: CandleChecker,
}

/// Stream keys remembered for lookup by symbol pointer.
pub(super) const RECENT_STREAMS: usize = 8;

/// The exchange's own send time of an event, for lag.
pub(super) fn exchange_time(p: &Payload) -> Option<Nanos> {
    match p {
        Payload::Trade(t) => t.event_ns.or(t.exch_ns),
        Payload::Quote(q) => q.exch_ns,
        Payload::Depth(d) => d.exch_ns,
        Payload::Snapshot(s) => s.exch_ns,
        Payload::Candle(c) => c.exch_ns,
        Payload::Integrity(_) => None,
    }
}

impl Engine {
    /// The stream `ev` belongs to, created on its first event (`None` only
    /// when the table is full, see [`Streams::push`]).
    pub(super) fn stream_of(&mut self, venue: Venue, conn: ConnId, ev: &Event) -> Option<StreamId> {
        // Adapters intern symbols, so the same stream keeps coming with the
        // same `Arc`: a few recent (venue, kind, symbol) keys are compared by
        // pointer before hashing the name. The cache holds its `Arc`s, so a
        // pointer can never be reused by another symbol while cached.
        for (v, k, sym, i) in &self.recent_streams {
            if *v == venue && *k == ev.stream && Arc::ptr_eq(sym, &ev.symbol) {
                return Some(*i);
            }
        }
        let i = self.stream_slow(venue, conn, ev)?;
        let slot = self.recent_next % RECENT_STREAMS;
        self.recent_next = self.recent_next.wrapping_add(1);
        let entry = (venue, ev.stream, ev.symbol.clone(), i);
        if let Some(e) = self.recent_streams.get_mut(slot) {
            *e = entry;
        } else {
            self.recent_streams.push(entry);
        }
        Some(i)
    }

    fn stream_slow(&mut self, venue: Venue, conn: ConnId, ev: &Event) -> Option<StreamId> {
        if let Some(&i) = self
            .index
            .get(&(venue, ev.stream))
            .and_then(|m| m.get(&*ev.symbol))
        {
            return Some(i);
        }
        let cfg = &self.cfg;
        let book = matches!(ev.stream, StreamKind::Depth | StreamKind::PartialDepth)
            .then(|| Book::new(cfg.book.max_pending, cfg.book.max_levels));
        let candles = matches!(ev.stream, StreamKind::Kline(_)).then(|| {
            let c = CandleChecker::new(&cfg.candle, venue, ev.symbol.clone(), ev.stream);
            if venues::klines_skip_quiet_intervals(venue) {
                c.sparse()
            } else {
                c
            }
        });
        let frozen = self
            .market
            .frozen
            .tracker(&cfg.frozen, venue, &ev.symbol, ev.stream);
        let i = self.streams.push(Stream {
            venue,
            symbol: ev.symbol.clone(),
            kind: ev.stream,
            key: IncidentKey::stream(venue, &ev.symbol, ev.stream.name()),
            conn,
            book,
            resync_at: None,
            trade_candles: None,
            checks: StreamChecks {
                silence: SilenceTracker::new(&cfg.silence)
                    .with_floor(venues::quiet_cadence_s(venue, ev.stream)),
                lag: LagTracker::new(&cfg.lag),
                crossed: CrossedTracker::new(),
                frozen,
                candles,
                spread: SpreadTracker::default(),
                depth: DepthTracker::default(),
                stale: StaleTracker::default(),
                bad_print: BadPrintTracker::default(),
            },
            book_links: (0, [None; 3]),
        })?;
        self.index
            .entry((venue, ev.stream))
            .or_default()
            .insert(ev.symbol.clone(), i);
        self.conns.get_mut(conn).streams.push(i);
        Some(i)
    }

    pub(super) fn on_event(
        &mut self,
        venue: Venue,
        conn: ConnId,
        now: Nanos,
        ev: &Event,
        rest: bool,
        out: &mut Vec<Alert>,
    ) {
        if let Some(n) = self.event_counts.get_mut(payload_index(&ev.payload)) {
            *n += 1;
        }
        let Some(si) = self.stream_of(venue, conn, ev) else {
            return;
        };
        // An integrity report rides on a frame that also carries data for
        // the same stream: it is not an arrival of its own.
        if !rest && !matches!(ev.payload, Payload::Integrity(_)) {
            self.on_arrival(si, conn, now, out);
            if let Some(exch) = exchange_time(&ev.payload) {
                self.on_lag_sample(si, now, exch, out);
            }
            self.check_divergence(si, venue, ev, now, out);
        }
        match &ev.payload {
            Payload::Quote(q) => {
                self.check_crossed(si, now, q.bid.price, q.ask.price, out);
                if !rest {
                    let f = [
                        fp(q.bid.price),
                        fp(q.bid.qty),
                        fp(q.ask.price),
                        fp(q.ask.qty),
                        0,
                        0,
                    ];
                    self.check_frozen(si, now, &f, out);
                }
                self.streams.get_mut(si).checks.stale.top = Some((q.bid.price, q.ask.price));
                self.check_spread(si, now, q.bid.price, q.ask.price, out);
            }
            Payload::Depth(d) => {
                let applied = match self.streams.get_mut(si).book.as_mut() {
                    Some(book) => book.apply_diff(d),
                    None => return,
                };
                self.on_book_applied(si, now, applied, out);
                self.check_book_health(si, now, rest, out);
                if !rest {
                    self.maybe_resync(si, conn, now);
                }
            }
            Payload::Snapshot(snap) => {
                let applied = match self.streams.get_mut(si).book.as_mut() {
                    Some(book) => book.apply_snapshot(snap),
                    None => return,
                };
                self.on_book_applied(si, now, applied, out);
                self.check_book_health(si, now, rest, out);
            }
            Payload::Trade(t) => {
                let ts = t.exch_ns.unwrap_or(now);
                self.on_trade(si, venue, ev, now, ts, t.price, t.qty, t.id, out);
                if !rest {
                    let id = t.id.map_or(u64::MAX, |i| i);
                    let f = [id, fp(t.price), fp(t.qty), ts as u64, 0, 0];
                    self.check_frozen(si, now, &f, out);
                }
                self.check_stale(si, venue, now, t.price, out);
                if !rest {
                    self.check_bad_print(si, venue, now, t.price, t.id, out);
                    self.check_frozen_witness(
                        si,
                        venue,
                        now,
                        Witness::Trade,
                        t.price,
                        t.price,
                        out,
                    );
                }
            }
            Payload::Integrity(i) => self.on_integrity(si, now, i, out),
            Payload::Candle(c) => {
                if let Some(checker) = self.streams.get_mut(si).checks.candles.as_mut() {
                    let verdicts = checker.on_candle(c);
                    verdicts.report(&mut self.incidents, checker.key(), now, out);
                }
                if !rest {
                    let f = [
                        c.open_ns as u64,
                        fp(c.open),
                        fp(c.high),
                        fp(c.low),
                        fp(c.close),
                        fp(c.volume),
                    ];
                    self.check_frozen(si, now, &f, out);
                }
            }
        }
    }

    /// Data arrived on a stream: feeds its rhythm and resolves a silence.
    pub(super) fn on_arrival(
        &mut self,
        si: StreamId,
        conn: ConnId,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.silence;
        let s = self.streams.get_mut(si);
        if s.conn != conn {
            s.conn = conn;
            s.checks.silence.on_reconnect();
            // A new session starts a new update sequence: the book waits for
            // the snapshot of this session (no gap to report).
            if let Some(b) = s.book.as_mut() {
                b.invalidate();
            }
            self.conns.get_mut(conn).streams.push(si);
        }
        let verdict = s.checks.silence.on_data(cfg, now);
        if !matches!(verdict, Verdict::Quiet) {
            verdict.report(&mut self.incidents, &s.key, now, out);
            if self.market.outages.any() {
                self.schedule(now);
            }
        }
        let cfg = &self.cfg.silence;
        let s = self.streams.get_mut(si);
        // Nearly every arrival asks for a tick later than the one already
        // due; a tick at or after `next_tick` never moves it (snapping only
        // rounds up), so the two divisions of `schedule` are skipped then.
        if let Some(w) = s.checks.silence.watch_from(cfg)
            && w < self.next_tick
        {
            self.schedule(w);
        }
    }

    /// Asks for a snapshot when the book of stream `si` is out of sync
    /// (at most once per `book.resync_interval_ms`).
    pub(super) fn maybe_resync(&mut self, si: StreamId, conn: ConnId, now: Nanos) {
        let interval = self.cfg.book.resync_interval_ms * MILLI;
        let s = self.streams.get_mut(si);
        let Some(book) = s.book.as_ref() else {
            return;
        };
        if book.is_synced() {
            s.resync_at = None;
            return;
        }
        if s.resync_at.is_some_and(|t| now - t < interval) {
            return;
        }
        s.resync_at = Some(now);
        let c = self.conns.get(conn);
        if self.resyncs.len() < MAX_RESYNC_REQUESTS {
            self.resyncs.push(ResyncRequest {
                venue: s.venue,
                conn: c.id.clone(),
                symbol: s.symbol.clone(),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_trade(
        &mut self,
        si: StreamId,
        venue: Venue,
        ev: &Event,
        now: Nanos,
        ts: Nanos,
        price: f64,
        qty: f64,
        id: Option<u64>,
        out: &mut Vec<Alert>,
    ) {
        let tc = match self.streams.get(si).trade_candles {
            Some(tc) => tc,
            None => {
                let key = (venue, ev.symbol.clone());
                let tc = match self.trade_candle_index.get(&key) {
                    Some(&tc) => tc,
                    None => {
                        let tc = self.trade_candles.len();
                        self.trade_candles.push(TradeCandles {
                            feeder: ev.stream,
                            builder: TradeCandleBuilder::new(
                                self.cfg.engine.trade_candle_interval_s,
                            ),
                            checker: CandleChecker::new(
                                &self.cfg.candle,
                                venue,
                                ev.symbol.clone(),
                                StreamKind::TradeCandles,
                            ),
                        });
                        self.trade_candle_index.insert(key, tc);
                        tc
                    }
                };
                self.streams.get_mut(si).trade_candles = Some(tc);
                tc
            }
        };
        let Some(t) = self.trade_candles.get_mut(tc) else {
            return;
        };
        // With both trades and aggregated trades subscribed, candles are
        // built from the first of them only.
        if t.feeder != ev.stream {
            return;
        }
        if let Some(candle) = t.builder.on_trade(ts, price, qty, id) {
            let verdicts = t.checker.on_candle(&candle);
            verdicts.report(&mut self.incidents, t.checker.key(), now, out);
        }
        let interval = Nanos::from(self.cfg.engine.trade_candle_interval_s) * SECOND;
        let grace = self.cfg.engine.trade_candle_grace_s * SECOND;
        // The close of this trade's interval is never before `ts`, so a tick
        // already due by then covers it without the divisions.
        if ts + grace < self.next_tick {
            self.schedule(ts - ts.rem_euclid(interval) + interval + grace);
        }
    }
}
