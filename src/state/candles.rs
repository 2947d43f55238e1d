//! Candles built from trades, for every symbol that has trades (the engine
//! checks them like exchange candles, as stream `trade_candles_1m`).
//!
//! O(1) per trade and no allocation: the builder holds one forming candle.
//! It must never reorder time: trades older than the forming interval are
//! dropped and counted, never folded into a candle that has been handed out.

use crate::model::{Candle, Nanos, SECOND};

/// Builds fixed-interval candles from a stream of trades.
#[derive(Debug)]
pub struct TradeCandleBuilder {
    interval_secs: u32,
    interval_ns: Nanos,
    current: Option<Candle>,
    /// Open time of the last candle handed out, so late trades for it are
    /// recognised after `close_due` emptied `current`.
    last_closed_open: Option<Nanos>,
    late: u64,
    rejected: u64,
}

impl TradeCandleBuilder {
    /// A builder for candles of `interval_secs` seconds (0 is taken as 60).
    pub fn new(interval_secs: u32) -> Self {
        let interval_secs = if interval_secs == 0 {
            60
        } else {
            interval_secs
        };
        TradeCandleBuilder {
            interval_secs,
            interval_ns: Nanos::from(interval_secs) * SECOND,
            current: None,
            last_closed_open: None,
            late: 0,
            rejected: 0,
        }
    }

    /// A trade at exchange time `ts` (use the trade's exchange time if
    /// present, else receive time — the caller decides). Returns the previous
    /// candle, closed, when the trade falls in a later interval.
    ///
    /// Trades with a non-finite or non-positive price, or a non-finite or
    /// negative quantity, are not candle material: they are counted in
    /// [`TradeCandleBuilder::rejected`] and skipped (the trade stream's own
    /// checks report them).
    pub fn on_trade(
        &mut self,
        ts: Nanos,
        price: f64,
        qty: f64,
        trade_id: Option<u64>,
    ) -> Option<Candle> {
        if !(price.is_finite() && price > 0.0 && qty.is_finite() && qty >= 0.0) {
            self.rejected = self.rejected.saturating_add(1);
            return None;
        }
        let open_ns = ts
            .div_euclid(self.interval_ns)
            .saturating_mul(self.interval_ns);
        if let Some(cur) = self.current.as_mut() {
            if open_ns == cur.open_ns {
                cur.high = cur.high.max(price);
                cur.low = cur.low.min(price);
                cur.close = price;
                cur.volume += qty;
                if let Some(q) = cur.quote_volume.as_mut() {
                    *q += price * qty;
                }
                cur.trades = cur.trades.map(|n| n.saturating_add(1));
                if trade_id.is_some() {
                    cur.last_trade_id = trade_id;
                    if cur.first_trade_id.is_none() {
                        cur.first_trade_id = trade_id;
                    }
                }
                return None;
            }
            if open_ns < cur.open_ns {
                self.late = self.late.saturating_add(1);
                return None;
            }
        } else if self.last_closed_open.is_some_and(|o| open_ns <= o) {
            self.late = self.late.saturating_add(1);
            return None;
        }
        let closed = self.take_current();
        self.current = Some(Candle {
            open_ns,
            interval_secs: self.interval_secs,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: qty,
            quote_volume: Some(price * qty),
            trades: Some(1),
            first_trade_id: trade_id,
            last_trade_id: trade_id,
            closed: false,
            exch_ns: None,
        });
        closed
    }

    /// Closes the current candle if `ts` (same clock as trades) is at or past
    /// its end + `grace` (its interval is over and late trades had `grace`
    /// to arrive).
    pub fn close_due(&mut self, ts: Nanos, grace: Nanos) -> Option<Candle> {
        let due = self.current.as_ref().is_some_and(|c| {
            ts >= c
                .open_ns
                .saturating_add(self.interval_ns)
                .saturating_add(grace)
        });
        if due { self.take_current() } else { None }
    }

    /// The candle being formed, if any trade arrived in its interval.
    pub fn forming(&self) -> Option<&Candle> {
        self.current.as_ref()
    }

    /// Trades dropped because their interval had already been handed out.
    pub fn late_trades(&self) -> u64 {
        self.late
    }

    /// Trades skipped because price or quantity was unusable.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    fn take_current(&mut self) -> Option<Candle> {
        let mut c = self.current.take()?;
        c.closed = true;
        self.last_closed_open = Some(c.open_ns);
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Nanos = 60 * SECOND;
    /// 2024-08-08T23:54:00Z, a minute boundary inside the spot recordings.
    const T0: Nanos = 1_723_161_240 * SECOND;

    #[test]
    fn builds_ohlcv_and_ids_within_one_minute() {
        let mut b = TradeCandleBuilder::new(60);
        assert!(b.on_trade(T0 + SECOND, 100.0, 1.0, Some(10)).is_none());
        assert!(b.on_trade(T0 + 2 * SECOND, 103.0, 0.5, Some(11)).is_none());
        assert!(b.on_trade(T0 + 3 * SECOND, 98.0, 2.0, None).is_none());
        assert!(b.on_trade(T0 + 59 * SECOND, 101.0, 1.0, Some(13)).is_none());
        let c = b.on_trade(T0 + MIN, 102.0, 1.0, Some(14)).unwrap();
        assert!(c.closed);
        assert_eq!(c.open_ns, T0);
        assert_eq!(c.interval_secs, 60);
        assert_eq!(
            (c.open, c.high, c.low, c.close),
            (100.0, 103.0, 98.0, 101.0)
        );
        assert_eq!(c.volume, 4.5);
        assert_eq!(c.quote_volume, Some(100.0 + 51.5 + 196.0 + 101.0));
        assert_eq!(c.trades, Some(4));
        assert_eq!((c.first_trade_id, c.last_trade_id), (Some(10), Some(13)));
        let f = b.forming().unwrap();
        assert_eq!((f.open_ns, f.open, f.closed), (T0 + MIN, 102.0, false));
    }

    #[test]
    fn rolls_over_skipped_minutes_and_ignores_late_trades() {
        let mut b = TradeCandleBuilder::new(60);
        b.on_trade(T0 + 5 * SECOND, 100.0, 1.0, Some(1));
        // Three minutes later: the first candle closes, no empty candles.
        let c = b
            .on_trade(T0 + 3 * MIN + SECOND, 99.0, 1.0, Some(2))
            .unwrap();
        assert_eq!(c.open_ns, T0);
        assert_eq!(b.forming().unwrap().open_ns, T0 + 3 * MIN);
        // A trade for an older minute is dropped and counted.
        assert!(b.on_trade(T0 + MIN, 50.0, 1.0, Some(3)).is_none());
        assert_eq!(b.late_trades(), 1);
        assert_eq!(b.forming().unwrap().low, 99.0);
    }

    #[test]
    fn close_due_waits_for_grace_then_late_trades_are_dropped() {
        let mut b = TradeCandleBuilder::new(60);
        b.on_trade(T0 + 10 * SECOND, 100.0, 1.0, Some(1));
        let grace = 2 * SECOND;
        assert!(b.close_due(T0 + MIN, grace).is_none());
        assert!(b.close_due(T0 + MIN + grace - 1, grace).is_none());
        let c = b.close_due(T0 + MIN + grace, grace).unwrap();
        assert!(c.closed);
        assert_eq!(c.open_ns, T0);
        assert!(b.close_due(T0 + 5 * MIN, grace).is_none());
        // Closed already: a late trade for that minute must not reopen it.
        assert!(b.on_trade(T0 + 59 * SECOND, 100.5, 1.0, Some(2)).is_none());
        assert_eq!(b.late_trades(), 1);
        assert!(b.forming().is_none());
        // The next minute starts normally, and returns nothing to close.
        assert!(
            b.on_trade(T0 + MIN + 3 * SECOND, 101.0, 1.0, Some(3))
                .is_none()
        );
        assert_eq!(b.forming().unwrap().open_ns, T0 + MIN);
    }

    #[test]
    fn unusable_trades_are_rejected_not_folded_in() {
        let mut b = TradeCandleBuilder::new(60);
        b.on_trade(T0, 100.0, 1.0, None);
        for (p, q) in [(f64::NAN, 1.0), (0.0, 1.0), (-5.0, 1.0), (100.0, -1.0)] {
            assert!(b.on_trade(T0 + SECOND, p, q, None).is_none());
        }
        assert_eq!(b.rejected(), 4);
        let f = b.forming().unwrap();
        assert_eq!(
            (f.low, f.high, f.volume, f.trades),
            (100.0, 100.0, 1.0, Some(1))
        );
    }

    #[test]
    fn negative_times_align_to_the_grid() {
        let mut b = TradeCandleBuilder::new(60);
        b.on_trade(-SECOND, 1.0, 1.0, None);
        assert_eq!(b.forming().unwrap().open_ns, -MIN);
    }
}
