//! `connection_lost`: a planned connection closed without being asked to,
//! and the streams it carried get no data until a later session of it
//! delivers again. What its alerts say, from the facts the engine's
//! connection table holds at the close.

use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::model::Venue;

/// Symbols named in a summary; the rest are counted.
const SHOWN_SYMBOLS: usize = 10;

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
