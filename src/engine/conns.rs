//! The connection table: one slot per connection id (its streams, its
//! adapters, closed or delivering), slots reused once their streams moved
//! on; `connection_lost` on a close or a failed connect, resolved by a
//! later session's first data; which venues cannot be reached (for the
//! outage watch); and `on_stall`, feedwatch's own pause.
//!
//! A connection here is only a name on records: this module must never
//! open, read or close a socket, nor read the wall clock.

use super::Engine;
use super::streams::StreamId;
use crate::alert::{Alert, Kind};
use crate::detect::Verdict;
use crate::detect::connection::{CannotConnect, Delivering, Lost, connection_key};
use crate::detect::outage::{Pause, Reach};
use crate::model::{Nanos, SECOND, Venue};
use crate::record::{DELIBERATE_CLOSE, conn_family};
use crate::venues::{self, Adapter};
use std::sync::Arc;

/// A connection slot in the engine's connection table. Only
/// [`Conns::push`] makes one (the field is private to this module), and
/// slots are reused in place, never removed, so every `ConnId` names a
/// slot that exists. A reused slot holds a later connection: whoever keeps
/// a `ConnId` across records compares it (a stream's `conn`) rather than
/// trusting it to name the same connection forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConnId(u32);

/// The connection table: slots are added or reused, never removed, and
/// reached only through the [`ConnId`]s it issued.
#[derive(Default)]
pub(super) struct Conns {
    list: Vec<Conn>,
}

impl Conns {
    /// Adds a slot; `None` only past `u32::MAX` slots (never in practice).
    fn push(&mut self, c: Conn) -> Option<ConnId> {
        let id = ConnId(u32::try_from(self.list.len()).ok()?);
        self.list.push(c);
        Some(id)
    }

    /// The connection in slot `id`. In bounds by construction: ids come
    /// only from `push`, and the table never shrinks.
    pub(super) fn get(&self, id: ConnId) -> &Conn {
        debug_assert!((id.0 as usize) < self.list.len());
        &self.list[id.0 as usize]
    }

    /// The connection in slot `id`, to change it (in bounds as for `get`).
    pub(super) fn get_mut(&mut self, id: ConnId) -> &mut Conn {
        debug_assert!((id.0 as usize) < self.list.len());
        &mut self.list[id.0 as usize]
    }

    /// Number of slots.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The ids of the slots there are now, in order; the iterator does not
    /// borrow the table (`push` keeps the length within `u32`).
    pub(super) fn ids(&self) -> impl Iterator<Item = ConnId> + use<> {
        (0..self.list.len() as u32).map(ConnId)
    }

    /// Puts `c` in slot `id` and returns what was there.
    fn replace(&mut self, id: ConnId, c: Conn) -> Conn {
        std::mem::replace(self.get_mut(id), c)
    }

    /// Every slot with its id, in order.
    fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.ids().zip(self.list.iter())
    }
}

/// One connection (as named by the fixture or the live feed).
pub(super) struct Conn {
    pub(super) id: Arc<str>,
    /// Streams whose data came on this connection (a stream that moved on
    /// to a later connection is skipped where this is read).
    pub(super) streams: Vec<StreamId>,
    /// A `close` record was seen; the slot is reused once no stream is on it.
    pub(super) closed: bool,
    /// Market data arrived since the last `open`.
    pub(super) delivered: bool,
    /// The venue of its `open` record, until its `close`: a session open
    /// now.
    pub(super) open_on: Option<Venue>,
    /// Adapters hold per-connection state (symbol caches, Coinbase's
    /// per-connection sequence numbers), so each connection has its own;
    /// a new `open` on the connection id starts them afresh.
    pub(super) adapters: Vec<(Venue, Box<dyn Adapter>)>,
}

impl Engine {
    /// The slot of connection `id`, taken on its first record (`None` only
    /// when the table is full, see [`Conns::push`]).
    pub(super) fn conn(&mut self, id: &str) -> Option<ConnId> {
        if let Some(c) = self.last_conn
            && &*self.conns.get(c).id == id
        {
            return Some(c);
        }
        if let Some(&c) = self.conn_index.get(id) {
            self.last_conn = Some(c);
            return Some(c);
        }
        let fresh = Conn {
            id: Arc::from(id),
            streams: Vec::new(),
            adapters: Vec::new(),
            closed: false,
            delivered: false,
            open_on: None,
        };
        // A live feed reconnects for weeks: a closed connection's slot is
        // reused once none of its streams is still on it, so the table
        // stays as small as the set of connections that matter.
        let streams = &self.streams;
        let free = self.conns.iter().find_map(|(ci, c)| {
            let free = c.closed && c.streams.iter().all(|&si| streams.get(si).conn != ci);
            free.then_some(ci)
        });
        let c = match free {
            Some(c) => {
                let old = self.conns.replace(c, fresh);
                self.conn_index.remove(&*old.id);
                c
            }
            None => self.conns.push(fresh)?,
        };
        self.conn_index.insert(id.to_string(), c);
        self.last_conn = Some(c);
        Some(c)
    }

    /// A connection closed. Unless feedwatch closed it on purpose, that is
    /// a `connection_lost` incident about its planned connection, resolved
    /// by the first market data on a later session of it; an outage of its
    /// venue held now is judged again at the next tick.
    pub(super) fn on_close(
        &mut self,
        venue: Venue,
        ci: ConnId,
        now: Nanos,
        reason: &str,
        out: &mut Vec<Alert>,
    ) {
        let c = self.conns.get_mut(ci);
        c.closed = true;
        c.open_on = None;
        c.adapters.clear();
        if reason.starts_with(DELIBERATE_CLOSE) {
            return;
        }
        let mut symbols: Vec<String> = Vec::new();
        let mut streams = 0usize;
        for &si in &c.streams {
            let s = self.streams.get(si);
            if s.conn == ci {
                streams += 1;
                if !symbols.iter().any(|x| **x == *s.symbol) {
                    symbols.push(s.symbol.to_string());
                }
            }
        }
        let key = connection_key(venue, conn_family(&c.id));
        let lost = Lost {
            connection: c.id.to_string(),
            reason: reason.to_string(),
            streams,
            symbols,
        };
        Verdict::<_, Delivering>::Fire(lost).report(&mut self.incidents, &key, now, out);
        // A lost connection confirms an outage held now: re-judge it (and
        // turn it critical) at the next tick, not whenever one comes.
        if self.market.outages.any() {
            self.schedule(now);
        }
    }

    /// A new session on this connection id: parser state restarts, and
    /// its planned connection can connect again (the venue may no longer
    /// be unreachable: the outage watch looks at the next tick).
    pub(super) fn on_open(&mut self, venue: Venue, ci: ConnId, now: Nanos) {
        let c = self.conns.get_mut(ci);
        c.adapters.clear();
        c.closed = false;
        c.delivered = false;
        c.open_on = Some(venue);
        if self.failures.on_connected(venue, &c.id) {
            self.schedule(now);
        }
    }

    /// An attempt to connect failed before its WebSocket was open: a
    /// `connection_lost` incident about its planned connection (opened on
    /// the first failure, updated only when the reason changes), resolved
    /// by the first market data of a later session. The outage watch looks
    /// again once the venue has failed for `outage.unreachable_after_s`.
    pub(super) fn on_connect_failed(
        &mut self,
        venue: Venue,
        conn: &str,
        now: Nanos,
        reason: &str,
        out: &mut Vec<Alert>,
    ) {
        let key = connection_key(venue, conn_family(conn));
        let lost = self.incidents.is_open(Kind::ConnectionLost, &key);
        let finding = self.failures.on_failed(venue, conn, reason, now, lost);
        if self.failures.reports_now(venue, conn) {
            Verdict::<CannotConnect, Delivering>::Fire(finding).report(
                &mut self.incidents,
                &key,
                now,
                out,
            );
        }
        self.schedule(now.saturating_add(self.connect_hold()));
    }

    /// How long a first failure to connect is held before it is told:
    /// `outage.unreachable_after_s`, the time after which every venue
    /// unreachable at once is our side.
    fn connect_hold(&self) -> Nanos {
        (self.cfg.outage.unreachable_after_s * SECOND as f64) as Nanos
    }

    /// The held failures to connect that are due: one `connection_lost`
    /// each (muted under a `local_stall` decided at the same tick).
    pub(super) fn report_held_connects(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let hold = self.connect_hold();
        for (venue, family, finding) in self.failures.due(now, hold) {
            let key = connection_key(venue, &family);
            Verdict::<CannotConnect, Delivering>::Fire(finding).report(
                &mut self.incidents,
                &key,
                now,
                out,
            );
        }
        if let Some(t) = self.failures.next_due(hold) {
            self.schedule(t.max(now.saturating_add(1)));
        }
    }

    /// Which venues have a session open, and which cannot be reached, for
    /// the outage watch (empty while no connect is failing).
    pub(super) fn reach(&self) -> Reach {
        if !self.failures.any() {
            return Reach::default();
        }
        let mut open: Vec<Venue> = Vec::new();
        for ci in self.conns.ids() {
            if let Some(v) = self.conns.get(ci).open_on
                && !open.contains(&v)
            {
                open.push(v);
            }
        }
        let unreachable = self.failures.unreachable(&open);
        Reach { open, unreachable }
    }

    /// Whether a planned connection is failing to connect now.
    pub(super) fn connects_failing(&self) -> bool {
        self.failures.any()
    }

    /// feedwatch itself did not run from `from` to `to`: the ticks due while
    /// it still ran run, none in the pause (none ran live), and the pause is
    /// no stream's silence: the data held meanwhile arrives now in a burst.
    /// A `local_stall` about the process says so, and is over at once.
    pub(super) fn on_stall(&mut self, from: Nanos, to: Nanos, out: &mut Vec<Alert>) {
        if !self.started || to <= from || to <= self.stalled_until {
            return;
        }
        self.stalled_until = to;
        if from > self.now {
            self.run_ticks(from, out);
            self.now = from;
        }
        for s in &mut self.streams {
            s.checks.silence.on_pause(to);
        }
        self.next_tick = self.next_tick.max(to);
        self.now = self.now.max(to);
        for verdict in (Pause { from, to }).verdicts() {
            verdict.report(&mut self.incidents, &Pause::key(), to, out);
        }
    }

    /// The first market data of a session resolves its planned connection's
    /// `connection_lost`.
    pub(super) fn on_delivered(
        &mut self,
        venue: Venue,
        ci: ConnId,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let c = self.conns.get_mut(ci);
        if c.delivered {
            return;
        }
        c.delivered = true;
        // Data without an `open` before it (a cut recording) connects too.
        self.failures.on_connected(venue, &c.id);
        let key = connection_key(venue, conn_family(&c.id));
        if self.incidents.is_open(Kind::ConnectionLost, &key) {
            let back = Delivering {
                connection: c.id.to_string(),
            };
            Verdict::<Lost, _>::Clear(back).report(&mut self.incidents, &key, now, out);
        }
    }

    pub(super) fn adapter(&mut self, conn: ConnId, venue: Venue) -> Option<&mut Box<dyn Adapter>> {
        let adapters = &mut self.conns.get_mut(conn).adapters;
        let pos = match adapters.iter().position(|(v, _)| *v == venue) {
            Some(p) => p,
            None => {
                adapters.push((venue, venues::adapter_for(venue)?));
                adapters.len() - 1
            }
        };
        adapters.get_mut(pos).map(|(_, a)| a)
    }
}
