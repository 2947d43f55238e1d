//! What a multi-source scan hands back: the alerts, one summary per
//! source, the verdict counts, and the stderr summary `Display` prints.
//! Plain data and formatting: it must never judge a candle or read a file.

use crate::alert::Alert;
use crate::model::{Nanos, Symbol, Venue};

/// One source of a multi-source scan, as summarised afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSummary {
    /// Venue.
    pub venue: Venue,
    /// Canonical symbol.
    pub symbol: Symbol,
    /// Stream name in the alerts (`kline_1m`, `trade_candles_1m`).
    pub stream: String,
    /// Files read.
    pub files: usize,
    /// Candles read and checked.
    pub candles: usize,
    /// Bad rows skipped.
    pub bad_rows: usize,
    /// Other sources of the same pair family (its consensus peers).
    pub peers: usize,
    /// Open time of its first candle (`None` when it has none).
    pub first_open_ns: Option<Nanos>,
}

/// How the abnormal candles of a scan fared against their peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// `abnormal_candle` opens and updates, all sources.
    pub abnormal: usize,
    /// Of those, from sources without any peer and no other asset
    /// breaking its range with it (left as they were).
    pub without_peers: usize,
    /// From sources without any peer, moving with another asset that broke
    /// its own range the same way in the same minute (now `info`).
    pub market_wide: usize,
    /// Confirmed by peers (now `info`).
    pub confirmed: usize,
    /// This venue alone.
    pub divergent: usize,
    /// Peers could not say.
    pub unconfirmed: usize,
}

/// What a multi-source scan found.
#[derive(Debug, Default)]
pub struct MultiReport {
    /// Alerts of all sources, in time order (ties: source order).
    pub alerts: Vec<Alert>,
    /// One entry per distinct source, in the order first given.
    pub sources: Vec<SourceSummary>,
    /// Candles read, all sources.
    pub candles: usize,
    /// `FILE:LINE: reason` for skipped rows (at most
    /// [`MAX_BAD_ROW_MESSAGES`](crate::candles::csv::MAX_BAD_ROW_MESSAGES)).
    pub bad_rows: Vec<String>,
    /// All skipped rows.
    pub bad_row_count: usize,
    /// Consensus verdicts on abnormal candles.
    pub verdicts: VerdictCounts,
}

/// The summary `feedwatch scan-candles` prints on stderr for several
/// sources: counts and verdicts, one line per source, then the first ten
/// bad rows.
impl std::fmt::Display for MultiReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = &self.verdicts;
        writeln!(
            f,
            "feedwatch scan-candles: {} candles from {} source(s), {} alerts, {} bad rows; abnormal candles: {} ({} confirmed by peers, {} venue alone, {} unconfirmed, {} with other assets' market-wide move, {} without peers)",
            self.candles,
            self.sources.len(),
            self.alerts.len(),
            self.bad_row_count,
            v.abnormal,
            v.confirmed,
            v.divergent,
            v.unconfirmed,
            v.market_wide,
            v.without_peers
        )?;
        for s in &self.sources {
            writeln!(
                f,
                "  {} {} {}: {} candles from {} file(s), {} bad rows, {} peer source(s)",
                s.venue, s.symbol, s.stream, s.candles, s.files, s.bad_rows, s.peers
            )?;
        }
        for r in self.bad_rows.iter().take(10) {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}
