//! What the engine consumes: one [`Record`] per received frame, sent frame,
//! REST response or connection event, with its receive time, venue and
//! connection. Live connections make them, fixtures store them, scenarios
//! inject faults into them, and the engine reads them: every layer above
//! the model speaks this one type.
//!
//! This module holds data and connection naming only: no parsing of frames,
//! no file format (that is `fixture`), no I/O.

use crate::model::{Nanos, Venue};
use std::borrow::Cow;

/// What one record holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKind<'a> {
    /// A connection was opened to `url`.
    Open {
        /// The WebSocket URL.
        url: Cow<'a, str>,
    },
    /// The connection closed; `reason` says why (may be empty).
    Close {
        /// Close code and reason, or the local error.
        reason: Cow<'a, str>,
    },
    /// A connection attempt failed before its WebSocket was open (DNS,
    /// TCP, TLS or the HTTP upgrade): no `open` came before it, and none
    /// follows on this connection id (the next attempt gets the next id).
    ConnectFailed {
        /// What failed and why, then what happens next (the live feed
        /// writes `<why>; reconnect attempt <n>, next try in <s> s`).
        reason: Cow<'a, str>,
    },
    /// A text frame we sent (subscribe, ping).
    Sent(Cow<'a, str>),
    /// A text frame received, bytes untouched.
    Frame(Cow<'a, str>),
    /// A binary frame received. (A text frame with line breaks stays a
    /// `Frame`: the file stores it base64-encoded under `recvt64`.)
    Binary(Cow<'a, [u8]>),
    /// feedwatch itself did not run from `from_ns` until this record's
    /// time (a process, VM or runtime pause it noticed on resuming): what
    /// arrives next was held meanwhile and is not the venues' silence.
    /// Written on venue `feedwatch`, connection `process`.
    Stall {
        /// When the pause began (the last moment feedwatch ran).
        from_ns: Nanos,
    },
    /// A REST response received on behalf of this connection (depth
    /// snapshot): the request path and query, and the body untouched.
    Rest {
        /// Path and query, e.g. `/api/v3/depth?symbol=BTCUSDT&limit=1000`.
        request: Cow<'a, str>,
        /// Response body.
        body: Cow<'a, str>,
    },
}

/// One received frame, sent frame, REST response or connection event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Receive time, ns since the epoch.
    pub recv_ns: Nanos,
    /// Venue the connection belongs to.
    pub venue: Venue,
    /// Connection id: every record of one connection shares it.
    pub conn: Cow<'a, str>,
    /// What happened.
    pub kind: RecordKind<'a>,
}

impl Record<'_> {
    /// A copy that owns its text, to keep past the reader's next call.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            recv_ns: self.recv_ns,
            venue: self.venue,
            conn: Cow::Owned(self.conn.into_owned()),
            kind: match self.kind {
                RecordKind::Open { url } => RecordKind::Open {
                    url: Cow::Owned(url.into_owned()),
                },
                RecordKind::Close { reason } => RecordKind::Close {
                    reason: Cow::Owned(reason.into_owned()),
                },
                RecordKind::ConnectFailed { reason } => RecordKind::ConnectFailed {
                    reason: Cow::Owned(reason.into_owned()),
                },
                RecordKind::Sent(s) => RecordKind::Sent(Cow::Owned(s.into_owned())),
                RecordKind::Frame(s) => RecordKind::Frame(Cow::Owned(s.into_owned())),
                RecordKind::Binary(b) => RecordKind::Binary(Cow::Owned(b.into_owned())),
                RecordKind::Rest { request, body } => RecordKind::Rest {
                    request: Cow::Owned(request.into_owned()),
                    body: Cow::Owned(body.into_owned()),
                },
                RecordKind::Stall { from_ns } => RecordKind::Stall { from_ns },
            },
        }
    }
}

/// In a live feed's `close` or `connect failed` reason, what follows the
/// failure itself: `; reconnect attempt <n>, next try in <s> s`.
pub const RETRY_PLAN: &str = "; reconnect attempt ";

/// A `close` reason starting with this is a close feedwatch chose (shutdown,
/// a planned replacement): it is not a lost connection.
pub const DELIBERATE_CLOSE: &str = "closed by feedwatch";

/// The planned connection a connection id belongs to: ids of successive
/// sessions of one planned connection are `<family>#<n>` (the live feed
/// numbers its reconnects this way); any other id is its own family.
pub fn conn_family(id: &str) -> &str {
    id.rsplit_once('#').map_or(id, |(f, _)| f)
}
