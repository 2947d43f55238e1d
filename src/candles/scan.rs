//! Scanning candle files: read every file, put the candles in time order
//! across files, and run one [`CandleChecker`] over them as if they had
//! arrived live, each at its close time.
//!
//! A scan never stops on a bad row (it is reported and skipped) and never
//! reorders alerts: they come out in candle time order.

use super::csv::{BadRows, CsvCandle, ScanError, read_file};
use super::points::read_points_file;
use crate::alert::{Alert, Incidents};
use crate::detect::candle::{CandleChecker, CandleConfig};
use crate::model::{Nanos, StreamKind, Symbol, Venue};
use std::path::PathBuf;

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Alerts in time order (`at` = the candle's close time).
    pub alerts: Vec<Alert>,
    /// Candles read and checked.
    pub candles: usize,
    /// `FILE:LINE: reason` for skipped rows (at most
    /// [`super::csv::MAX_BAD_ROW_MESSAGES`] of them).
    pub bad_rows: Vec<String>,
    /// All skipped rows, including those beyond the kept messages.
    pub bad_row_count: usize,
    /// Files read.
    pub files: usize,
    /// Open time of the first candle, if any.
    pub first_open: Option<Nanos>,
    /// Open time of the last candle, if any.
    pub last_open: Option<Nanos>,
}

/// The summary `feedwatch scan-candles` prints on stderr for one source:
/// counts, then the first ten bad rows.
impl std::fmt::Display for ScanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "feedwatch scan-candles: {} candles from {} file(s), {} alerts, {} bad rows",
            self.candles,
            self.files,
            self.alerts.len(),
            self.bad_rows.len()
        )?;
        for r in self.bad_rows.iter().take(10) {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// Scans exchange candle files (`kline_<interval>` stream: every interval
/// is expected).
pub fn scan_files(
    cfg: &CandleConfig,
    venue: Venue,
    symbol: Symbol,
    interval_secs: u32,
    paths: &[PathBuf],
) -> Result<ScanReport, ScanError> {
    scan_files_stream(cfg, venue, symbol, StreamKind::Kline(interval_secs), paths)
}

/// Scans candle files as the given stream. Use `StreamKind::TradeCandles`
/// for one-minute candles built from trades, where a minute without trades
/// has no candle and is not a gap.
pub fn scan_files_stream(
    cfg: &CandleConfig,
    venue: Venue,
    symbol: Symbol,
    stream: StreamKind,
    paths: &[PathBuf],
) -> Result<ScanReport, ScanError> {
    let loaded = load(paths, interval_of(stream), None)?;
    let mut checker = CandleChecker::new(cfg, venue, symbol, stream);
    let mut inc = Incidents::new();
    let mut alerts = Vec::new();
    for i in 0..loaded.rows.len() {
        loaded.check_row(i, &mut checker, &mut inc, &mut alerts);
    }
    let rows = &loaded.rows;
    Ok(ScanReport {
        alerts,
        candles: rows.len(),
        first_open: rows.first().map(|r| r.candle.open_ns),
        last_open: rows.last().map(|r| r.candle.open_ns),
        bad_rows: loaded.bad.messages,
        bad_row_count: loaded.bad.total,
        files: paths.len(),
    })
}

/// The interval of a candle stream: `Kline(secs)`, else one minute.
pub(crate) fn interval_of(stream: StreamKind) -> u32 {
    match stream {
        StreamKind::Kline(s) => s,
        _ => 60,
    }
}

/// The candles of one source's files, sorted by open time, with the rows
/// that stood out of order in their own file.
pub(crate) struct Loaded {
    /// Candles in open-time order (stable: file and line order among equal
    /// open times, so overlaps become duplicates).
    pub(crate) rows: Vec<CsvCandle>,
    /// `(file, line, latest open time before it in its file)`, sorted.
    misplaced: Vec<(usize, usize, Nanos)>,
    /// Skipped rows.
    pub(crate) bad: BadRows,
}

/// Reads and orders the files of one source: candle files, or price-point
/// files read into bars when `price_column` names their price.
pub(crate) fn load(
    paths: &[PathBuf],
    interval_secs: u32,
    price_column: Option<&str>,
) -> Result<Loaded, ScanError> {
    let mut rows: Vec<CsvCandle> = Vec::new();
    let mut bad = BadRows::default();
    // Per row: the latest open time seen before it in its own file, when
    // that is later than the row's own (the row is out of order in its file).
    let mut misplaced: Vec<(usize, usize, Nanos)> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let start = rows.len();
        match price_column {
            Some(c) => read_points_file(p, i, interval_secs, c, &mut rows, &mut bad)?,
            None => read_file(p, i, interval_secs, &mut rows, &mut bad)?,
        }
        let mut latest: Option<Nanos> = None;
        for r in rows.get(start..).unwrap_or(&[]) {
            match latest {
                Some(l) if r.candle.open_ns < l => misplaced.push((r.file, r.line, l)),
                _ => latest = Some(r.candle.open_ns),
            }
        }
    }
    // Files are concatenated in time order: a stable sort keeps file and
    // line order among equal open times, so overlaps become duplicates.
    rows.sort_by_key(|r| r.candle.open_ns);
    misplaced.sort_unstable();
    Ok(Loaded {
        rows,
        misplaced,
        bad,
    })
}

impl Loaded {
    /// Runs the checker on row `i` at its close time (as if it had just
    /// arrived live), reporting it as out of order if it stood so in its
    /// file.
    pub(crate) fn check_row(
        &self,
        i: usize,
        checker: &mut CandleChecker,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let Some(r) = self.rows.get(i) else { return };
        let now = r.candle.close_ns();
        let late = self
            .misplaced
            .binary_search_by(|m| (m.0, m.1).cmp(&(r.file, r.line)))
            .ok()
            .and_then(|i| self.misplaced.get(i))
            .map(|m| m.2);
        let verdicts = match late {
            Some(latest) => checker.on_candle_misplaced(&r.candle, latest),
            None => checker.on_candle(&r.candle),
        };
        verdicts.report(inc, checker.key(), now, out);
    }
}
