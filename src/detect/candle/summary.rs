//! Wording shared by the candle alerts: the stream as a summary names it
//! ([`Names`]), candle times and numbers as they read in a summary, and the
//! candle's OHLCV in the evidence. Formatting only: it must never decide
//! whether a candle is wrong.

use super::sequence::Seen;
use crate::alert::Evidence;
use crate::model::{Nanos, Symbol, Venue, format_rfc3339_ms};
use std::fmt;
use std::sync::Arc;

/// The stream a candle alert is about, as its summary names it
/// (`binance-usdm BTC/USDT 1m`), and how it words candle times. Every
/// finding and recovery of one checker carries a copy (two reference
/// counts, no text is copied).
#[derive(Clone, Debug, PartialEq)]
pub struct Names {
    venue: Venue,
    symbol: Symbol,
    /// The interval (`1m`, `4h`).
    pub(super) label: Arc<str>,
    /// The interval is whole minutes: times read to the minute.
    minutes: bool,
}

impl Names {
    pub(super) fn new(venue: Venue, symbol: Symbol, interval_secs: u32) -> Self {
        Names {
            venue,
            symbol,
            label: crate::model::interval_name(interval_secs).into(),
            minutes: interval_secs.is_multiple_of(60),
        }
    }

    /// A candle's open time for a summary: minute precision when the
    /// interval is whole minutes.
    pub(super) fn when(&self, ns: Nanos) -> String {
        let full = format_rfc3339_ms(ns);
        let cut = if self.minutes { 16 } else { 19 };
        match full.get(..cut) {
            Some(s) => format!("{s}Z"),
            None => full,
        }
    }
}

/// `venue symbol interval`, the head of every candle summary.
impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.venue, self.symbol, self.label)
    }
}

/// Evidence that starts with the candle's open time.
pub(super) fn at(c: &Seen) -> Evidence {
    Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns))
}

/// Adds the candle's OHLCV to evidence.
pub(super) fn ohlcv(ev: Evidence, c: &Seen) -> Evidence {
    let mut ev = ev
        .num("open", c.open, 10)
        .num("high", c.high, 10)
        .num("low", c.low, 10)
        .num("close", c.close, 10)
        .num("volume", c.volume, 10);
    if let Some(q) = c.quote_volume {
        ev = ev.num("quote_volume", q, 8);
    }
    if let Some(n) = c.trades {
        ev = ev.with("trades", n);
    }
    ev
}

/// A price or quantity for a summary: about 8 significant digits, thousands
/// separators, at least one decimal (`85,100.0`, `22.009`).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let mag = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    let decimals = (7 - mag).clamp(1, 10) as usize;
    let s = format!("{:.*}", decimals, x.abs());
    let s = match s.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            let f = if f.is_empty() { "0" } else { f };
            let mut grouped = String::with_capacity(i.len() + i.len() / 3 + f.len() + 2);
            for (k, ch) in i.chars().enumerate() {
                if k > 0 && (i.len() - k).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            format!("{grouped}.{f}")
        }
        None => s,
    };
    if x < 0.0 { format!("-{s}") } else { s }
}
