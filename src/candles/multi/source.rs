//! One source of a multi-source scan: the specs grouped into sources, each
//! read and run through its own [`CandleChecker`] exactly as a
//! single-source scan does, and the per-source lookups the consensus asks
//! (the candle of a minute, the range scale it was judged against, the
//! move of a probe). It must never look at another source: cross-venue
//! judgement lives in `judge`, `span` and `moved_with`.

use super::super::csv::{MAX_CANDLES, ScanError};
use super::super::scan::{Loaded, interval_of, load};
use super::SourceSpec;
use crate::alert::{Alert, Incidents, Kind, State};
use crate::detect::candle::{CandleChecker, CandleConfig};
use crate::detect::consensus::{ConsensusConfig, PairKey};
use crate::model::{Candle, Nanos, SECOND, StreamKind, Symbol, Venue};
use std::path::PathBuf;

/// At most this many distinct sources in one scan (bounded memory).
pub const MAX_SOURCES: usize = 32;

/// One source during the scan.
pub(super) struct Source {
    pub(super) venue: Venue,
    pub(super) symbol: Symbol,
    pub(super) stream: StreamKind,
    pub(super) interval_ns: Nanos,
    pub(super) key: Option<PairKey>,
    pub(super) files: usize,
    pub(super) loaded: Loaded,
    /// Alerts with the index of the row that produced them.
    pub(super) alerts: Vec<(Alert, usize)>,
    /// Open times of candles the source's own checker found abnormal.
    pub(super) abnormal: Vec<Nanos>,
    /// Per row, the range scale its own checker judged it against (NaN
    /// before the checker had history).
    pub(super) scales: Vec<f64>,
}

impl Source {
    /// The first in-order candle with this open time.
    pub(super) fn candle_at(&self, open_ns: Nanos) -> Option<&Candle> {
        self.candle_and_scale(open_ns).map(|(c, _)| c)
    }

    /// The in-order candle with this open time and the range scale it was
    /// judged against.
    pub(super) fn candle_and_scale(&self, open_ns: Nanos) -> Option<(&Candle, f64)> {
        let rows = &self.loaded.rows;
        let i = rows.partition_point(|r| r.candle.open_ns < open_ns);
        let c = rows.get(i).map(|r| &r.candle)?;
        (c.open_ns == open_ns).then(|| (c, self.scales.get(i).copied().unwrap_or(f64::NAN)))
    }

    pub(super) fn was_abnormal(&self, open_ns: Nanos) -> bool {
        self.abnormal.binary_search(&open_ns).is_ok()
    }
}

/// Which price of a candle the checker found abnormal.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) enum Probe {
    High,
    Low,
    Close,
}

impl Probe {
    pub(super) fn name(self) -> &'static str {
        match self {
            Probe::High => "high",
            Probe::Low => "low",
            Probe::Close => "close",
        }
    }
}

/// A source's move for one probe: `(reference, price)`; the reference is
/// the candle's open for a wick and the previous close (or, with no
/// previous candle, the open) for a return.
pub(super) fn probe_move(src: &Source, c: &Candle, probe: Probe) -> (f64, f64) {
    match probe {
        Probe::High => (c.open, c.high),
        Probe::Low => (c.open, c.low),
        Probe::Close => {
            let prev = src
                .candle_at(c.open_ns.saturating_sub(src.interval_ns))
                .map_or(c.open, |p| p.close);
            (prev, c.close)
        }
    }
}

pub(super) fn pct(reference: f64, price: f64) -> f64 {
    100.0 * (price / reference - 1.0)
}

/// Specs naming the same venue, symbol and kind (`trades:`, `points:` with
/// its price column, or candles), with their files in the order given.
type Group = (Venue, Symbol, bool, Option<String>, Vec<PathBuf>);

/// Groups the specs into sources, keeping the order first given.
pub(super) fn group_specs(specs: &[SourceSpec]) -> Result<Vec<Group>, ScanError> {
    let mut groups: Vec<Group> = Vec::new();
    for s in specs {
        match groups.iter_mut().find(|g| {
            g.0 == s.venue && g.1 == s.symbol && g.2 == s.from_trades && g.3 == s.price_column
        }) {
            Some(g) => g.4.push(s.path.clone()),
            None => {
                if groups.len() >= MAX_SOURCES {
                    return Err(ScanError::TooManySources { limit: MAX_SOURCES });
                }
                groups.push((
                    s.venue,
                    s.symbol.clone(),
                    s.from_trades,
                    s.price_column.clone(),
                    vec![s.path.clone()],
                ));
            }
        }
    }
    Ok(groups)
}

/// Reads each group's files and runs its own checker over them; also
/// returns the candles read, all sources (at most [`MAX_CANDLES`]).
pub(super) fn load_sources(
    candle: &CandleConfig,
    consensus: &ConsensusConfig,
    interval_secs: u32,
    groups: Vec<Group>,
) -> Result<(Vec<Source>, usize), ScanError> {
    let mut sources: Vec<Source> = Vec::with_capacity(groups.len());
    let mut total = 0usize;
    for (venue, symbol, from_trades, price_column, paths) in groups {
        let stream = if from_trades {
            StreamKind::TradeCandles
        } else {
            StreamKind::Kline(interval_secs)
        };
        let loaded = load(&paths, interval_of(stream), price_column.as_deref())?;
        total = total.saturating_add(loaded.rows.len());
        if total > MAX_CANDLES {
            return Err(ScanError::TooManyCandles {
                path: paths.last().cloned().unwrap_or_default(),
                limit: MAX_CANDLES,
            });
        }
        let files = paths.len();
        sources.push(check_source(
            candle, consensus, venue, symbol, stream, files, loaded,
        ));
    }
    Ok((sources, total))
}

/// Runs one source's own [`CandleChecker`] over its candles, exactly as a
/// single-source scan does, keeping for each row the range scale it was
/// judged against and the open times it found abnormal.
fn check_source(
    candle: &CandleConfig,
    consensus: &ConsensusConfig,
    venue: Venue,
    symbol: Symbol,
    stream: StreamKind,
    files: usize,
    loaded: Loaded,
) -> Source {
    let mut checker = CandleChecker::new(candle, venue, symbol.clone(), stream);
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    let mut abnormal = Vec::new();
    let mut scales = Vec::with_capacity(loaded.rows.len());
    for i in 0..loaded.rows.len() {
        let price = loaded.rows.get(i).map_or(f64::NAN, |r| r.candle.close);
        scales.push(checker.range_scale_for(price).unwrap_or(f64::NAN));
        loaded.check_row(i, &mut checker, &mut inc, &mut out);
        for a in out.drain(..) {
            if a.kind == Kind::AbnormalCandle
                && a.state != State::Resolved
                && let Some(r) = loaded.rows.get(i)
            {
                abnormal.push(r.candle.open_ns);
            }
            alerts.push((a, i));
        }
    }
    abnormal.sort_unstable();
    Source {
        venue,
        key: consensus.pair_key(venue, &symbol),
        symbol,
        stream,
        interval_ns: Nanos::from(interval_of(stream)) * SECOND,
        files,
        loaded,
        alerts,
        abnormal,
        scales,
    }
}
