//! Wording shared by the candle alerts: numbers as they read in a summary
//! and the candle's OHLCV in the evidence. Formatting only: it must never
//! decide whether a candle is wrong.

use crate::alert::Evidence;
use crate::model::Candle;

/// Adds the candle's OHLCV to evidence.
pub(super) fn ohlcv(ev: Evidence, c: &Candle) -> Evidence {
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
