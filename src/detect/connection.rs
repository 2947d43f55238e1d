//! `connection_lost`: a planned connection closed without being asked to,
//! or cannot connect at all, and the streams it carries get no data until
//! a later session of it delivers again. What its alerts say, from the
//! facts the engine's connection table holds at the close, and the table
//! of planned connections that fail to connect ([`ConnectFailures`]),
//! which also tells the outage watch which venues cannot be reached.

use super::outage::Unreachable;
use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::model::{Nanos, Venue, format_rfc3339_ms};
use crate::record::{RETRY_PLAN, conn_family};

/// Symbols named in a summary; the rest are counted.
const SHOWN_SYMBOLS: usize = 10;

/// Planned connections failing to connect that are tracked at once; a
/// live feed has a few dozen. Past it a failure is still reported, but
/// its planned connection does not count towards an unreachable venue.
const MAX_FAILING: usize = 1024;

/// `connection_lost` fires at a close, or clears at the first data of a
/// later session.
pub type ConnectionVerdict = Verdict<Lost, Delivering>;

/// The incident key of a planned connection (its family: every session
/// of it).
pub fn connection_key(venue: Venue, family: &str) -> IncidentKey {
    IncidentKey {
        venue,
        symbol: None,
        stream: Some(format!("connection:{family}")),
    }
}

/// The `next try in X s` of a live feed's close reason.
fn retry_plan(reason: &str) -> Option<f64> {
    let (_, rest) = reason.rsplit_once("next try in ")?;
    rest.strip_suffix(" s")?.trim().parse::<f64>().ok()
}

/// Longest failure reason kept (bytes): the live feed's are a line; a
/// recording's could be anything up to a fixture line.
const MAX_REASON: usize = 512;

/// The failure itself in a live feed's reason, without its retry plan,
/// cut to [`MAX_REASON`] at a character boundary.
fn without_plan(reason: &str) -> &str {
    let why = reason.split_once(RETRY_PLAN).map_or(reason, |(why, _)| why);
    let mut end = why.len().min(MAX_REASON);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    why.get(..end).unwrap_or(why)
}

/// `connection_lost` fires: news, each close is reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Lost {
    /// The connection (session) that closed.
    pub connection: String,
    /// Why, as the feed recorded it.
    pub reason: String,
    /// Streams it carried.
    pub streams: usize,
    /// Their symbols, each once, in first-seen order.
    pub symbols: Vec<String>,
}

/// `connection_lost` clears: connection `connection` delivers data.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivering {
    /// The session that delivers.
    pub connection: String,
}

impl Words for Lost {
    fn kind(&self) -> Kind {
        Kind::ConnectionLost
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let shown: Vec<&str> = self
            .symbols
            .iter()
            .take(SHOWN_SYMBOLS)
            .map(String::as_str)
            .collect();
        let more = self.symbols.len().saturating_sub(shown.len());
        let what = if self.streams == 0 {
            "no stream had data on it yet".to_string()
        } else {
            format!(
                "{} stream(s) of {}{} now get no data",
                self.streams,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more symbols")
                } else {
                    String::new()
                }
            )
        };
        format!("{} connection lost ({}): {what}.", key.venue, self.reason)
    }
    fn evidence(&self) -> Evidence {
        let ev = Evidence::new()
            .with("connection", self.connection.clone())
            .with("reason", self.reason.clone())
            .with("streams", self.streams)
            .with("symbols", self.symbols.len());
        match retry_plan(&self.reason) {
            Some(next) => ev.num("next_try_s", next, 3),
            None => ev,
        }
    }
}

impl Finding for Lost {
    fn news(&self) -> bool {
        true
    }
}

impl Words for Delivering {
    fn kind(&self) -> Kind {
        Kind::ConnectionLost
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} connection {} is back and delivering data.",
            key.venue, self.connection
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().with("connection", self.connection.clone())
    }
}

/// `connection_lost` fires because an attempt to connect failed before
/// the WebSocket was open (DNS, TCP, TLS, HTTP status, timeout). A state,
/// not news: the attempts that fail the same way add nothing; one that
/// fails differently, or the first to fail after a lost connection, is
/// reported.
#[derive(Clone, Debug, PartialEq)]
pub struct CannotConnect {
    /// The session (attempt) that failed.
    pub connection: String,
    /// What failed and why (the retry plan left out).
    pub reason: String,
    /// Failed attempts in a row of this planned connection.
    pub attempts: u32,
    /// The first of them.
    pub since: Nanos,
    /// The planned connection had been connected (its loss is open): it
    /// cannot reconnect, rather than never connected.
    pub reconnecting: bool,
    /// The feed's next try, when its reason says.
    pub next_try_s: Option<f64>,
    /// A new observation: a different reason, or the first failure after
    /// a loss.
    pub news: bool,
}

impl Words for CannotConnect {
    fn kind(&self) -> Kind {
        Kind::ConnectionLost
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let next = self.next_try_s.map(|s| format!("next try in {s:.1} s"));
        let tries = match (self.attempts, next) {
            (1, Some(next)) => next,
            (1, None) => "retrying".to_string(),
            (n, next) => format!(
                "{n} attempts failed since {}{}",
                format_rfc3339_ms(self.since),
                next.map(|s| format!(", {s}")).unwrap_or_default()
            ),
        };
        if self.reconnecting {
            format!(
                "{} cannot reconnect: {}; its streams get no data until a retry succeeds ({tries}).",
                key.venue, self.reason
            )
        } else {
            format!(
                "Cannot connect to {}: {}; no data from it until a retry succeeds ({tries}).",
                key.venue, self.reason
            )
        }
    }
    fn evidence(&self) -> Evidence {
        let ev = Evidence::new()
            .with("connection", self.connection.clone())
            .with("reason", self.reason.clone())
            .with("attempts", self.attempts)
            .with("since", format_rfc3339_ms(self.since))
            .with("reconnecting", self.reconnecting);
        match self.next_try_s {
            Some(next) => ev.num("next_try_s", next, 3),
            None => ev,
        }
    }
}

impl Finding for CannotConnect {
    fn news(&self) -> bool {
        self.news
    }
}

/// One planned connection failing to connect.
#[derive(Debug)]
struct Failing {
    venue: Venue,
    family: String,
    since: Nanos,
    attempts: u32,
    reason: String,
    reconnecting: bool,
    /// The latest attempt and its retry plan.
    conn: String,
    next_try_s: Option<f64>,
    /// Its `connection_lost` has been reported (at once after a loss, else
    /// once the failures around it have been held; see [`ConnectFailures::due`]).
    reported: bool,
}

impl Failing {
    fn finding(&self, news: bool) -> CannotConnect {
        CannotConnect {
            connection: self.conn.clone(),
            reason: self.reason.clone(),
            attempts: self.attempts,
            since: self.since,
            reconnecting: self.reconnecting,
            next_try_s: self.next_try_s,
            news,
        }
    }
}

/// The planned connections that cannot connect now: an attempt failed and
/// no session of theirs has opened since. At most [`MAX_FAILING`] of them.
#[derive(Debug, Default)]
pub struct ConnectFailures {
    failing: Vec<Failing>,
}

impl ConnectFailures {
    /// Session `conn` of `venue` failed to connect at `now` for `reason`
    /// (as recorded); `lost` says whether its planned connection's
    /// `connection_lost` is open already. Returns what to report.
    pub fn on_failed(
        &mut self,
        venue: Venue,
        conn: &str,
        reason: &str,
        now: Nanos,
        lost: bool,
    ) -> CannotConnect {
        let family = conn_family(conn);
        let why = without_plan(reason);
        let mut finding = CannotConnect {
            connection: conn.to_string(),
            reason: why.to_string(),
            attempts: 1,
            since: now,
            reconnecting: lost,
            next_try_s: retry_plan(reason),
            news: lost,
        };
        let full = self.failing.len() >= MAX_FAILING;
        let known = self
            .failing
            .iter_mut()
            .find(|f| f.venue == venue && f.family == family);
        match known {
            Some(f) => {
                f.attempts = f.attempts.saturating_add(1);
                finding.news = f.reason != why;
                if finding.news {
                    f.reason = why.to_string();
                }
                f.conn = conn.to_string();
                f.next_try_s = finding.next_try_s;
                finding.attempts = f.attempts;
                finding.since = f.since;
                finding.reconnecting = f.reconnecting;
            }
            None if !full => self.failing.push(Failing {
                venue,
                family: family.to_string(),
                since: now,
                attempts: 1,
                reason: why.to_string(),
                reconnecting: lost,
                conn: conn.to_string(),
                next_try_s: finding.next_try_s,
                reported: lost,
            }),
            None => {}
        }
        finding
    }

    /// Whether a failure of `conn`'s planned connection is reported as it
    /// comes: its loss is open, or its failing was reported already (or is
    /// not tracked, past [`MAX_FAILING`]). Otherwise it is held.
    pub fn reports_now(&self, venue: Venue, conn: &str) -> bool {
        let family = conn_family(conn);
        self.failing
            .iter()
            .find(|f| f.venue == venue && f.family == family)
            .is_none_or(|f| f.reported)
    }

    /// The held failures to report at `now`: a planned connection that
    /// never connected is reported once it and every failure that began
    /// after it have failed for `hold` (every venue failing at once is
    /// then one `local_stall`, decided at the same tick, not a line per
    /// connection first), and at the latest `3 x hold` after its own first
    /// failure. Marks them reported; each with its venue and planned
    /// connection.
    pub fn due(&mut self, now: Nanos, hold: Nanos) -> Vec<(Venue, String, CannotConnect)> {
        let Some(newest) = self.newest_held() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in self.failing.iter_mut().filter(|f| !f.reported) {
            let settled = newest
                .saturating_add(hold)
                .min(f.since.saturating_add(3 * hold));
            if now >= settled && now >= f.since.saturating_add(hold) {
                f.reported = true;
                out.push((f.venue, f.family.clone(), f.finding(false)));
            }
        }
        out
    }

    /// When [`Self::due`] next has something to report, if anything is held.
    pub fn next_due(&self, hold: Nanos) -> Option<Nanos> {
        let newest = self.newest_held()?;
        self.failing
            .iter()
            .filter(|f| !f.reported)
            .map(|f| {
                newest
                    .saturating_add(hold)
                    .min(f.since.saturating_add(3 * hold))
                    .max(f.since.saturating_add(hold))
            })
            .min()
    }

    fn newest_held(&self) -> Option<Nanos> {
        self.failing
            .iter()
            .filter(|f| !f.reported)
            .map(|f| f.since)
            .max()
    }

    /// A session of `conn`'s planned connection opened or delivered: it
    /// can connect again. Returns whether it was failing.
    pub fn on_connected(&mut self, venue: Venue, conn: &str) -> bool {
        let family = conn_family(conn);
        let before = self.failing.len();
        self.failing
            .retain(|f| !(f.venue == venue && f.family == family));
        self.failing.len() != before
    }

    /// Whether any planned connection is failing to connect.
    pub fn any(&self) -> bool {
        !self.failing.is_empty()
    }

    /// The venues that cannot be reached now: a planned connection of
    /// theirs fails to connect and none of their sessions is open (`open`
    /// lists the venues with one). Each with its first failure and that
    /// failure's reason, in the order they began failing.
    pub fn unreachable(&self, open: &[Venue]) -> Vec<Unreachable> {
        let mut out: Vec<Unreachable> = Vec::new();
        for f in &self.failing {
            if open.contains(&f.venue) {
                continue;
            }
            match out.iter_mut().find(|u| u.venue == f.venue) {
                Some(u) if f.since < u.since => {
                    u.since = f.since;
                    u.reason = f.reason.clone();
                }
                Some(_) => {}
                None => out.push(Unreachable {
                    venue: f.venue,
                    since: f.since,
                    reason: f.reason.clone(),
                }),
            }
        }
        out.sort_by_key(|a| (a.since, a.venue));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SECOND;

    const REFUSED: &str = "TCP connect to 127.0.0.1:9 refused: Connection refused (os error 111)";

    fn reason(why: &str, n: u32) -> String {
        format!("{why}{RETRY_PLAN}{n}, next try in 0.250 s")
    }

    #[test]
    fn repeated_failures_are_one_state_a_new_reason_is_news() {
        let mut f = ConnectFailures::default();
        let v = Venue::BinanceSpot;
        let first = f.on_failed(v, "live-1-0#1", &reason(REFUSED, 1), SECOND, false);
        assert_eq!(first.reason, REFUSED);
        assert_eq!((first.attempts, first.since), (1, SECOND));
        assert_eq!(first.next_try_s, Some(0.25));
        assert!(!first.reconnecting && !first.news);
        let again = f.on_failed(v, "live-1-0#2", &reason(REFUSED, 2), 2 * SECOND, false);
        assert_eq!(
            (again.attempts, again.since, again.news),
            (2, SECOND, false)
        );
        let dns = "DNS lookup of stream.binance.com failed: no address";
        let changed = f.on_failed(v, "live-1-0#3", &reason(dns, 3), 3 * SECOND, false);
        assert!(changed.news);
        assert_eq!(changed.attempts, 3);
        let key = connection_key(v, "live-1-0");
        assert!(
            changed
                .summary(&key)
                .starts_with(&format!("Cannot connect to binance-spot: {dns}"))
        );
        assert!(f.on_connected(v, "live-1-0#4"));
        assert!(!f.any());
    }

    #[test]
    fn a_huge_reason_is_cut_at_a_char_boundary() {
        let huge = "é".repeat(1000);
        let mut f = ConnectFailures::default();
        let c = f.on_failed(Venue::Okx, "o#1", &huge, SECOND, false);
        assert_eq!(c.reason.len(), MAX_REASON);
        assert!(huge.starts_with(&c.reason));
    }

    #[test]
    fn a_failure_after_a_loss_is_news_and_says_reconnect() {
        let mut f = ConnectFailures::default();
        let c = f.on_failed(Venue::Kraken, "k#2", &reason(REFUSED, 1), SECOND, true);
        assert!(c.news && c.reconnecting);
        let key = connection_key(Venue::Kraken, "k");
        assert!(
            c.summary(&key)
                .starts_with("kraken cannot reconnect: TCP connect")
        );
        assert_eq!(c.evidence().get("reconnecting"), Some(&true.into()));
    }

    #[test]
    fn first_failures_are_held_until_the_failures_around_them_have_lasted() {
        let hold = 3 * SECOND;
        let mut f = ConnectFailures::default();
        f.on_failed(Venue::Okx, "o#1", REFUSED, SECOND, false);
        assert!(!f.reports_now(Venue::Okx, "o#1"), "held");
        f.on_failed(Venue::Kraken, "k#1", REFUSED, 2 * SECOND, false);
        // Okx has failed 3 s, but Kraken began later: both wait for it.
        assert_eq!(f.next_due(hold), Some(5 * SECOND));
        assert!(f.due(4 * SECOND, hold).is_empty());
        let due = f.due(5 * SECOND, hold);
        let got: Vec<(Venue, &str, u32)> = due
            .iter()
            .map(|(v, fam, c)| (*v, fam.as_str(), c.attempts))
            .collect();
        assert_eq!(got, [(Venue::Okx, "o", 1), (Venue::Kraken, "k", 1)]);
        assert!(f.due(6 * SECOND, hold).is_empty(), "reported once");
        assert!(
            f.reports_now(Venue::Okx, "o#2"),
            "reported: later news at once"
        );
        assert_eq!(f.next_due(hold), None);
        // A stream of new failures cannot hold one forever: 3 x hold at most.
        let mut f = ConnectFailures::default();
        f.on_failed(Venue::Okx, "o#1", REFUSED, 0, false);
        for (i, v) in [
            Venue::Kraken,
            Venue::Coinbase,
            Venue::BybitSpot,
            Venue::BinanceSpot,
        ]
        .into_iter()
        .enumerate()
        {
            f.on_failed(v, "x#1", REFUSED, (2 + 2 * i as i64) * SECOND, false);
        }
        let first: Vec<Venue> = f.due(9 * SECOND, hold).iter().map(|d| d.0).collect();
        assert_eq!(first, [Venue::Okx]);
        // After a loss, a failure is told as it comes.
        let mut f = ConnectFailures::default();
        f.on_failed(Venue::Okx, "o#2", REFUSED, SECOND, true);
        assert!(f.reports_now(Venue::Okx, "o#2"));
    }

    #[test]
    fn a_venue_is_unreachable_only_with_no_session_open() {
        let mut f = ConnectFailures::default();
        f.on_failed(Venue::Okx, "o-1#1", REFUSED, 5 * SECOND, false);
        f.on_failed(
            Venue::Okx,
            "o-2#1",
            "TLS handshake with x failed",
            2 * SECOND,
            false,
        );
        f.on_failed(Venue::Kraken, "k#1", REFUSED, 3 * SECOND, false);
        let u = f.unreachable(&[]);
        let got: Vec<(Venue, Nanos)> = u.iter().map(|u| (u.venue, u.since)).collect();
        assert_eq!(got, [(Venue::Okx, 2 * SECOND), (Venue::Kraken, 3 * SECOND)]);
        assert_eq!(u[0].reason, "TLS handshake with x failed");
        // Another connection of the venue is open: it can be reached.
        let u = f.unreachable(&[Venue::Okx]);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].venue, Venue::Kraken);
    }
}
