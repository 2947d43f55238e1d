//! `bad_print`: one trade printed far outside the same venue's own best bid
//! and offer at that instant, and far from the same pair on other venues
//! where there are any. It needs no history (no candle statistics, no
//! consensus of three venues), so a bad print in the first seconds of a
//! session is found at the print itself.
//!
//! Trade and quote streams are separate on most venues, and in a fast
//! market trades print a few ticks through a quote that has not caught up;
//! a sweep takes several levels at once. So the bar is wide: further
//! outside the book than `book.bad_print_bps` of mid *and*
//! `book.bad_print_spread_k` spreads, against the closest of the venue's
//! own tops that is fresh (its bbo stream, its synced L2 books). A print
//! that far outside its own book but near where the other venues of the
//! pair's quote family trade is the book lagging the market
//! (`book_stale`'s), not a bad print.
//!
//! Nothing here reads a clock or allocates: the engine passes the time,
//! the venue's own tops and, only for a print already far outside them,
//! the peers' median.

use super::book::BookConfig;
use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::model::Nanos;
use crate::state::gaps::secs;

/// One of the venue's own tops of book as a trade met it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Top {
    /// The stream it is the top of (`bbo`, `depth`, `partial_depth`).
    pub stream: &'static str,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
}

/// Where the other venues of the pair trade: the median of their fresh
/// prices, and how many there are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peers {
    /// Median of the peers' fresh prices.
    pub median: f64,
    /// Fresh peer venues.
    pub count: usize,
}

/// The numbers behind a bad print.
#[derive(Clone, Debug, PartialEq)]
pub struct BadPrint {
    /// The trade's price.
    pub price: f64,
    /// The trade's id, where the venue gives one.
    pub trade_id: Option<u64>,
    /// The closest own top it was judged against.
    pub top: Top,
    /// How far outside that top it printed (bps of mid).
    pub outside_bps: f64,
    /// The bar it passed (bps of mid): the wider of `book.bad_print_bps`
    /// and `book.bad_print_spread_k` spreads.
    pub threshold_bps: f64,
    /// The top's spread (bps of mid).
    pub spread_bps: f64,
    /// The peers, where any are fresh.
    pub peers: Option<Peers>,
}

/// What one trade means for `bad_print`: a bad print, the first clean
/// print after one, or nothing.
pub type BadPrintVerdict = Verdict<BadPrint, PrintsInside>;

/// `bad_print` clears: a trade printed inside the venue's own book again.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintsInside {
    /// Bad prints since the first of them.
    pub bad_prints: usize,
    /// Seconds from the first of them to this clean print.
    pub after_s: f64,
}

fn bps(part: f64, of: f64) -> f64 {
    if of > 0.0 { part / of * 1e4 } else { 0.0 }
}

impl BadPrint {
    fn peer_gap_bps(&self) -> Option<f64> {
        self.peers
            .map(|p| bps((self.price - p.median).abs(), p.median))
    }
}

impl Words for BadPrint {
    fn kind(&self) -> Kind {
        Kind::BadPrint
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let side = if self.price > self.top.ask {
            "above"
        } else {
            "below"
        };
        let peers = match (self.peers, self.peer_gap_bps()) {
            (Some(p), Some(gap)) => format!(
                ", {:.0} bps from the other {} venue(s) of the pair",
                gap, p.count
            ),
            _ => String::new(),
        };
        format!(
            "{} printed a trade at {}, {:.0} bps {side} its own {} {} / {}{peers}: a bad print, keep it out of marks, candles and indices.",
            key.market(),
            self.price,
            self.outside_bps,
            self.top.stream,
            self.top.bid,
            self.top.ask,
        )
    }
    fn evidence(&self) -> Evidence {
        let e = Evidence::new()
            .with("trade_price", self.price)
            .with(
                "trade_id",
                self.trade_id.map_or(serde_json::Value::Null, Into::into),
            )
            .with("book", self.top.stream)
            .with("bid", self.top.bid)
            .with("ask", self.top.ask)
            .num("outside_bps", self.outside_bps, 2)
            .num("threshold_bps", self.threshold_bps, 2)
            .num("spread_bps", self.spread_bps, 3);
        match (self.peers, self.peer_gap_bps()) {
            (Some(p), Some(gap)) => {
                e.with("peers", p.count)
                    .with("peer_median", p.median)
                    .num("peer_gap_bps", gap, 2)
            }
            _ => e.with("peers", 0),
        }
    }
}

impl Finding for BadPrint {
    /// Every bad print is reported: each one is a price to keep out.
    fn news(&self) -> bool {
        true
    }
}

impl Words for PrintsInside {
    fn kind(&self) -> Kind {
        Kind::BadPrint
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} prints inside its own book again ({} bad print(s) over {:.1} s).",
            key.market(),
            self.bad_prints,
            self.after_s
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .with("bad_prints", self.bad_prints)
            .num("after_s", self.after_s, 3)
    }
}

/// How far a print at `price` is outside `top`, and the bar for it; both
/// in price units. `None` for a top that is not a book (a side missing,
/// crossed, not finite).
fn judge(cfg: &BookConfig, price: f64, top: &Top) -> Option<(f64, f64)> {
    let (bid, ask) = (top.bid, top.ask);
    let ok = bid.is_finite() && ask.is_finite() && bid > 0.0 && ask >= bid;
    if !ok {
        return None;
    }
    let mid = bid + (ask - bid) / 2.0;
    let bar = (mid * cfg.bad_print_bps / 1e4).max(cfg.bad_print_spread_k * (ask - bid));
    let off = if price > ask {
        price - ask
    } else if price < bid {
        bid - price
    } else {
        0.0
    };
    Some((off, bar))
}

/// `bad_print` for one trade stream.
#[derive(Debug, Default)]
pub struct BadPrintTracker {
    alerting: bool,
    since: Nanos,
    prints: usize,
}

impl BadPrintTracker {
    /// A trade at `price` printed at `now`, against the venue's own fresh
    /// `tops` (none: nothing to judge). `peers` is asked only for a print
    /// already far outside every top.
    pub fn on_trade(
        &mut self,
        cfg: &BookConfig,
        now: Nanos,
        price: f64,
        trade_id: Option<u64>,
        tops: &[Top],
        peers: impl FnOnce() -> Option<Peers>,
    ) -> BadPrintVerdict {
        if !(price.is_finite() && price > 0.0) {
            return Verdict::Quiet;
        }
        // The closest top decides: a print inside any of the venue's own
        // books is a price the venue quotes.
        let closest = tops
            .iter()
            .filter_map(|t| judge(cfg, price, t).map(|(off, bar)| (t, off, bar)))
            .min_by(|a, b| (a.1 - a.2).total_cmp(&(b.1 - b.2)));
        let Some((top, off, bar)) = closest else {
            return Verdict::Quiet;
        };
        if off <= bar {
            if std::mem::take(&mut self.alerting) {
                return Verdict::Clear(PrintsInside {
                    bad_prints: std::mem::take(&mut self.prints),
                    after_s: secs(now - self.since),
                });
            }
            return Verdict::Quiet;
        }
        let peers = peers().filter(|p| p.count > 0 && p.median.is_finite() && p.median > 0.0);
        if let Some(p) = peers
            && (price - p.median).abs() <= p.median * cfg.bad_print_bps / 1e4
        {
            // The market is there: the book is behind it (book_stale).
            return Verdict::Quiet;
        }
        if !self.alerting {
            self.alerting = true;
            self.since = now;
            self.prints = 0;
        }
        self.prints += 1;
        let mid = top.bid + (top.ask - top.bid) / 2.0;
        Verdict::Fire(BadPrint {
            price,
            trade_id,
            top: *top,
            outside_bps: bps(off, mid),
            threshold_bps: bps(bar, mid),
            spread_bps: bps(top.ask - top.bid, mid),
            peers,
        })
    }

    /// Whether a bad print is being reported.
    pub fn is_alerting(&self) -> bool {
        self.alerting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MILLI;

    const BBO: Top = Top {
        stream: "bbo",
        bid: 60_000.0,
        ask: 60_000.1,
    };

    fn none() -> Option<Peers> {
        None
    }

    #[test]
    fn a_print_far_outside_the_own_book_fires_at_once_and_a_clean_print_clears() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        // 6% above the ask, no peers: the first trade seen is judged.
        let v = t.on_trade(&cfg, 0, 63_600.0, Some(7), &[BBO], none);
        let Verdict::Fire(f) = v else {
            panic!("not fired: {v:?}")
        };
        assert_eq!(f.top.stream, "bbo");
        assert!((f.outside_bps - 599.98).abs() < 0.1, "{f:?}");
        assert!((f.threshold_bps - cfg.bad_print_bps).abs() < 1e-9, "{f:?}");
        assert!(f.peers.is_none());
        assert_eq!(f.kind(), Kind::BadPrint);
        assert_eq!(f.evidence().get("trade_id"), Some(&serde_json::json!(7)));
        assert!(t.is_alerting());
        // The next print inside the book clears it.
        let v = t.on_trade(&cfg, 300 * MILLI, 60_000.1, None, &[BBO], none);
        assert_eq!(
            v,
            Verdict::Clear(PrintsInside {
                bad_prints: 1,
                after_s: 0.3
            })
        );
        assert!(!t.is_alerting());
    }

    #[test]
    fn prints_through_a_lagging_quote_are_normal() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        // A sweep 30 bps through a quote that has not caught up, and a
        // trade at the touch: nothing.
        for p in [60_180.0, 59_820.0, 60_000.0, 60_000.1] {
            assert_eq!(t.on_trade(&cfg, 0, p, None, &[BBO], none), Verdict::Quiet);
        }
    }

    #[test]
    fn a_wide_spread_widens_the_bar() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        // A thin market quoting 50 bps wide: 2% outside is within 10 spreads.
        let thin = Top {
            stream: "bbo",
            bid: 99.75,
            ask: 100.25,
        };
        assert_eq!(
            t.on_trade(&cfg, 0, 102.25, None, &[thin], none),
            Verdict::Quiet
        );
        assert!(matches!(
            t.on_trade(&cfg, 0, 106.0, None, &[thin], none),
            Verdict::Fire(_)
        ));
    }

    #[test]
    fn the_closest_own_book_decides() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        // The bbo was shifted 3% but the L2 book agrees with the trade.
        let shifted = Top {
            stream: "bbo",
            bid: 61_800.0,
            ask: 61_800.1,
        };
        let depth = Top {
            stream: "depth",
            ..BBO
        };
        assert_eq!(
            t.on_trade(&cfg, 0, 60_000.0, None, &[shifted, depth], none),
            Verdict::Quiet
        );
    }

    #[test]
    fn a_print_where_the_peers_trade_is_a_lagging_book_not_a_bad_print() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        let near = || {
            Some(Peers {
                median: 63_590.0,
                count: 2,
            })
        };
        assert_eq!(
            t.on_trade(&cfg, 0, 63_600.0, None, &[BBO], near),
            Verdict::Quiet
        );
        let far = || {
            Some(Peers {
                median: 60_010.0,
                count: 1,
            })
        };
        let v = t.on_trade(&cfg, 0, 63_600.0, None, &[BBO], far);
        let Verdict::Fire(f) = v else {
            panic!("not fired: {v:?}")
        };
        assert_eq!(f.peers.map(|p| p.count), Some(1));
        let key = IncidentKey::stream(
            crate::model::Venue::BinanceUsdm,
            &crate::model::Symbol::from("BTC/USDT"),
            "trade",
        );
        assert!(f.summary(&key).contains("from the other 1 venue(s)"));
    }

    #[test]
    fn no_book_or_a_broken_one_judges_nothing() {
        let cfg = BookConfig::default();
        let mut t = BadPrintTracker::default();
        let crossed = Top {
            stream: "bbo",
            bid: 60_001.0,
            ask: 60_000.0,
        };
        for tops in [&[][..], &[crossed][..]] {
            assert_eq!(
                t.on_trade(&cfg, 0, 90_000.0, None, tops, none),
                Verdict::Quiet
            );
        }
        assert_eq!(
            t.on_trade(&cfg, 0, f64::NAN, None, &[BBO], none),
            Verdict::Quiet
        );
    }
}
