//! The fast witness of a frozen best bid/offer: the same venue's own
//! redundant streams. A bbo stream whose values stand still while the
//! venue's own L2 book top has moved past them (its best bid above the
//! quote's ask, or its best ask below the quote's bid), or while its
//! trades print through them, is contradicted by the venue itself; held
//! for `frozen.contradicted_s` with no change of the quote, and with the
//! quote's own frames repeating it meanwhile (frames keep coming, values
//! stand still: a stream that stops sending is `feed_silent`'s), it is
//! frozen, whatever the stream's rhythm of changes and whatever peers do.
//!
//! The repeat is what tells a frozen quote from one that is only sent on
//! trades (Coinbase's and Kraken's tickers): such a ticker stays behind a
//! moving book between trades, sending nothing, and is not frozen.
//!
//! Short disagreements are normal (Binance's depth diffs come every
//! 100 ms while its bookTicker is real time; a trade prints a tick
//! through a quote that has not caught up), so only a contradiction that
//! holds is a witness: a change of the quote, or a book top that agrees
//! with it again, starts the clock afresh. A trade inside the quote
//! neither contradicts it nor clears a contradiction: a trade through the
//! ask consumed it, and a quote that still shows it seconds later is wrong
//! whatever printed in between.

use super::{FrozenConfig, FrozenFacts, FrozenTracker, FrozenVerdict};
use crate::model::{Nanos, SECOND};
use crate::state::gaps::secs;

/// Which of the venue's own streams contradicted the quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Witness {
    /// The top of the venue's synced L2 book for the same symbol.
    BookTop,
    /// A trade of the venue on the same symbol.
    Trade,
}

impl Witness {
    /// The name in the evidence.
    pub fn name(self) -> &'static str {
        match self {
            Witness::BookTop => "book_top",
            Witness::Trade => "trade",
        }
    }
}

/// How the venue's own streams contradicted a standing quote.
#[derive(Clone, Debug, PartialEq)]
pub struct Contradicted {
    /// The witness that convicted it.
    pub by: Witness,
    /// Since when the contradiction held.
    pub since: Nanos,
    /// How long it held (seconds).
    pub held_s: f64,
    /// The witness's price past the quote: the book's best bid above the
    /// ask or best ask below the bid, or the trade's price.
    pub price: f64,
    /// The standing quote's bid.
    pub bid: f64,
    /// The standing quote's ask.
    pub ask: f64,
}

/// The witness's price past `quote` (bid, ask), if it is past it: a book
/// top or trade spanning `low..=high` (a trade is `low == high`) entirely
/// above the ask or below the bid.
pub fn past(quote: (f64, f64), low: f64, high: f64) -> Option<f64> {
    let (bid, ask) = quote;
    let ok = |p: f64| p.is_finite() && p > 0.0;
    if !(ok(bid) && ok(ask) && ok(low) && ok(high) && bid <= ask && low <= high) {
        return None;
    }
    if low > ask {
        Some(low)
    } else if high < bid {
        Some(high)
    } else {
        None
    }
}

impl FrozenTracker {
    /// A witness of this bbo stream's standing `quote` (bid, ask) from the
    /// same venue at `now`: its L2 book's top, or a trade (`low == high`).
    pub fn on_witness(
        &mut self,
        cfg: &FrozenConfig,
        now: Nanos,
        by: Witness,
        quote: (f64, f64),
        low: f64,
        high: f64,
    ) -> FrozenVerdict {
        if cfg.contradicted_s <= 0.0 || self.alerting || self.restart {
            return FrozenVerdict::Quiet;
        }
        let Some(last) = self.last_change else {
            return FrozenVerdict::Quiet;
        };
        let Some(price) = past(quote, low, high) else {
            // A book top that agrees with the quote again ends the
            // contradiction; a trade inside it proves nothing either way
            // (a frozen trade stream repeats one inside its own quote).
            if by == Witness::BookTop {
                self.contra = None;
            }
            return FrozenVerdict::Quiet;
        };
        let (since, frames) = *self
            .contra
            .get_or_insert((now.max(last), self.unchanged_frames));
        let held = now - since;
        if held < (cfg.contradicted_s * SECOND as f64) as Nanos || self.unchanged_frames <= frames {
            return FrozenVerdict::Quiet;
        }
        self.alerting = true;
        let elapsed = secs(now - last);
        let (phi, median, p95) = match self.fit.as_ref() {
            Some(fit) => (fit.phi(elapsed).min(100.0), fit.median, fit.p95),
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        FrozenVerdict::Fire(FrozenFacts {
            unchanged_s: elapsed,
            unchanged_frames: self.unchanged_frames,
            phi,
            threshold_phi: f64::NAN,
            peer_changes: 0,
            peers_moving_s: None,
            peers_known: false,
            median_change_gap_s: median,
            p95_change_gap_s: p95,
            last_change: last,
            contradicted: Some(Contradicted {
                by,
                since,
                held_s: secs(held),
                price,
                bid: quote.0,
                ask: quote.1,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FrozenGroups, Resumed};
    use super::*;
    use crate::alert::{IncidentKey, Kind};
    use crate::detect::{Verdict, Words};
    use crate::model::{MILLI, StreamKind, Venue};

    const QUOTE: (f64, f64) = (60_000.0, 60_000.1);

    /// A bbo stream whose quote was set at 0 and then repeated.
    fn quote_at_zero() -> (FrozenConfig, FrozenGroups, FrozenTracker) {
        let cfg = FrozenConfig::default();
        let mut g = FrozenGroups::new();
        let mut a = g
            .tracker(&cfg, Venue::BinanceSpot, "BTC/USDT", StreamKind::Bbo)
            .unwrap();
        a.on_frame(&cfg, &mut g, 0, &[1, 2, 3, 4, 0, 0]);
        (cfg, g, a)
    }

    #[test]
    fn past_is_strictly_beyond_the_quote() {
        assert_eq!(past(QUOTE, 60_000.2, 60_000.3), Some(60_000.2));
        assert_eq!(past(QUOTE, 59_999.0, 59_999.9), Some(59_999.9));
        assert_eq!(past(QUOTE, 60_000.1, 60_000.1), None, "at the ask");
        assert_eq!(past(QUOTE, 60_000.0, 60_000.2), None, "overlapping");
        assert_eq!(past((1.0, 0.5), 2.0, 2.0), None, "a crossed quote");
        assert_eq!(past(QUOTE, f64::NAN, 1.0), None);
    }

    #[test]
    fn a_book_top_past_the_quote_for_the_set_time_freezes_it() {
        let (cfg, mut g, mut a) = quote_at_zero();
        let step = 100 * MILLI;
        let mut t = 500 * MILLI;
        let start = t;
        let facts = loop {
            // The venue's own book moved a tick past the standing ask.
            let v = a.on_witness(&cfg, t, Witness::BookTop, QUOTE, 60_000.2, 60_000.3);
            if let Verdict::Fire(f) = v {
                break f;
            }
            assert!(t - start < 10 * SECOND, "never frozen");
            // The quote's frames keep repeating it.
            a.on_frame(&cfg, &mut g, t, &[1, 2, 3, 4, 0, 0]);
            t += step;
        };
        assert_eq!(t - start, (cfg.contradicted_s * SECOND as f64) as Nanos);
        let c = facts.contradicted.clone().unwrap();
        assert_eq!(
            (c.by, c.since, c.price),
            (Witness::BookTop, start, 60_000.2)
        );
        assert_eq!((c.bid, c.ask), QUOTE);
        assert_eq!(facts.kind(), Kind::FeedFrozen);
        let key = IncidentKey::stream(Venue::BinanceSpot, &"BTC/USDT".into(), "bbo");
        assert!(
            facts.summary(&key).contains("own order book"),
            "{}",
            facts.summary(&key)
        );
        let ev = facts.evidence();
        assert_eq!(ev.get("witness"), Some(&serde_json::json!("book_top")));
        assert!(ev.get("threshold_phi").is_none());
        // Reported once; the quote's next change resolves it.
        assert_eq!(
            a.on_witness(&cfg, t + step, Witness::Trade, QUOTE, 60_001.0, 60_001.0),
            FrozenVerdict::Quiet
        );
        assert!(matches!(
            a.on_frame(&cfg, &mut g, t + 2 * step, &[9, 2, 3, 4, 0, 0]),
            Verdict::Clear(Resumed { .. })
        ));
    }

    #[test]
    fn an_agreeing_witness_or_a_change_starts_the_clock_afresh() {
        let (cfg, mut g, mut a) = quote_at_zero();
        let hold = (cfg.contradicted_s * SECOND as f64) as Nanos;
        let past_ask = |a: &mut FrozenTracker, g: &mut FrozenGroups, t| {
            // Each witness comes with a repeat of the standing quote.
            let v = a.on_witness(&cfg, t, Witness::Trade, QUOTE, 60_000.5, 60_000.5);
            a.on_frame(&cfg, g, t, &[1, 2, 3, 4, 0, 0]);
            v
        };
        assert_eq!(past_ask(&mut a, &mut g, SECOND), FrozenVerdict::Quiet);
        // The book agrees again just before the hold: no conviction.
        assert_eq!(
            a.on_witness(
                &cfg,
                SECOND + hold - MILLI,
                Witness::BookTop,
                QUOTE,
                60_000.0,
                60_000.1
            ),
            FrozenVerdict::Quiet
        );
        assert_eq!(
            past_ask(&mut a, &mut g, SECOND + hold),
            FrozenVerdict::Quiet
        );
        // The quote changes: the clock restarts with the new values.
        a.on_frame(&cfg, &mut g, SECOND + hold + MILLI, &[5, 2, 3, 4, 0, 0]);
        let past_new = |a: &mut FrozenTracker, g: &mut FrozenGroups, t| {
            let v = a.on_witness(&cfg, t, Witness::Trade, QUOTE, 60_000.5, 60_000.5);
            a.on_frame(&cfg, g, t, &[5, 2, 3, 4, 0, 0]);
            v
        };
        assert_eq!(
            past_new(&mut a, &mut g, 2 * SECOND + hold),
            FrozenVerdict::Quiet
        );
        assert!(matches!(
            past_new(&mut a, &mut g, 2 * SECOND + 2 * hold),
            Verdict::Fire(_)
        ));
    }

    #[test]
    fn a_trade_inside_the_quote_does_not_clear_a_contradiction() {
        let (cfg, mut g, mut a) = quote_at_zero();
        let hold = (cfg.contradicted_s * SECOND as f64) as Nanos;
        let rep = [1, 2, 3, 4, 0, 0];
        let v = a.on_witness(&cfg, SECOND, Witness::BookTop, QUOTE, 60_000.3, 60_000.4);
        assert_eq!(v, FrozenVerdict::Quiet);
        a.on_frame(&cfg, &mut g, SECOND, &rep);
        let v = a.on_witness(
            &cfg,
            SECOND + hold / 2,
            Witness::Trade,
            QUOTE,
            60_000.0,
            60_000.0,
        );
        assert_eq!(v, FrozenVerdict::Quiet);
        let v = a.on_witness(
            &cfg,
            SECOND + hold,
            Witness::BookTop,
            QUOTE,
            60_000.3,
            60_000.4,
        );
        let Verdict::Fire(f) = v else {
            panic!("not frozen: {v:?}")
        };
        assert_eq!(f.contradicted.map(|c| c.since), Some(SECOND));
    }

    #[test]
    fn a_quote_sent_only_on_trades_is_not_frozen_by_a_moving_book() {
        // No frame of the quote while the book moved past it (a ticker
        // that is sent on trades only): not frozen, however long.
        let (cfg, _, mut a) = quote_at_zero();
        for t in 1..100 {
            let v = a.on_witness(
                &cfg,
                t * SECOND,
                Witness::BookTop,
                QUOTE,
                60_001.0,
                60_001.1,
            );
            assert_eq!(v, FrozenVerdict::Quiet);
        }
    }

    #[test]
    fn silence_or_a_zero_setting_turns_the_witness_off() {
        let (cfg, _, mut a) = quote_at_zero();
        let off = FrozenConfig {
            contradicted_s: 0.0,
            ..cfg.clone()
        };
        for t in 1..100 {
            let v = a.on_witness(&off, t * SECOND, Witness::Trade, QUOTE, 61_000.0, 61_000.0);
            assert_eq!(v, FrozenVerdict::Quiet);
        }
        let _ = a.on_silent();
        for t in 1..100 {
            let v = a.on_witness(&cfg, t * SECOND, Witness::Trade, QUOTE, 61_000.0, 61_000.0);
            assert_eq!(v, FrozenVerdict::Quiet);
        }
    }
}
