//! Reading candle CSV files: Binance public-data klines (with or without the
//! header line, open time in ms or, from 2025 on, in us) and any CSV whose
//! header names a time column plus `open,high,low,close,volume`.
//!
//! A bad row is reported as `FILE:LINE: reason` and skipped; it never stops
//! the read. Numbers that parse but are not sane (`NaN`, `inf`, negative
//! prices) are kept: they are the data, and the candle checks report them
//! as `candle_invalid` with the candle's time. Only an unreadable file, an oversized file or a header without
//! the needed columns is an error. Memory is bounded: lines, files and the
//! number of bad-row messages kept all have limits.

use crate::model::{Candle, MILLI, Nanos, SECOND};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Files larger than this are refused (candle files are a few MB).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Lines longer than this are bad rows (a kline row is about 120 bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// At most this many bad-row messages are kept; the rest are only counted.
pub const MAX_BAD_ROW_MESSAGES: usize = 1_000;
/// At most this many candles are held across all files of one scan (about
/// 3.8 years of one-minute candles, some 300 MB); scan longer histories in
/// pieces.
pub const MAX_CANDLES: usize = 2_000_000;

/// Earliest accepted candle time (1970-01-01).
pub(crate) const MIN_TIME: Nanos = 0;
/// Latest accepted candle time (2200-01-01), far enough from the end of
/// `Nanos` that close times cannot overflow.
pub(crate) const MAX_TIME: Nanos = 7_258_118_400 * SECOND;

/// Needed columns must be among the first this many of a row.
const MAX_COLUMNS: usize = 64;

/// Binance public-data kline columns, in order.
pub const BINANCE_KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// Accepted names of the time column, in order of preference.
pub(crate) const TIME_NAMES: [&str; 4] = ["open_time", "open_time_ms", "timestamp", "time"];
/// Accepted names of the base-volume column.
pub(crate) const VOLUME_NAMES: [&str; 3] = ["volume", "volume_base", "base_volume"];
/// Accepted names of the quote-volume column.
const QUOTE_NAMES: [&str; 3] = ["quote_volume", "quote_asset_volume", "volume_quote"];
/// Accepted names of the trade-count column.
const COUNT_NAMES: [&str; 4] = ["count", "trade_count", "trades", "number_of_trades"];

/// A candle file that could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path} is {size} bytes, over the {limit}-byte limit for candle files")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The header does not name the columns a candle needs.
    #[error("{path}: header lacks column(s) {missing} (header: `{header}`)", missing = .missing.join(", "))]
    MissingColumns {
        /// The file.
        path: PathBuf,
        /// What is missing.
        missing: Vec<String>,
        /// The header line as read (truncated).
        header: String,
    },
    /// More candles than [`MAX_CANDLES`] across the files of one scan.
    #[error("{path}: more than {limit} candles in one scan; scan fewer files at a time")]
    TooManyCandles {
        /// The file being read when the limit was reached.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The interval is zero.
    #[error("candle interval must be positive")]
    BadInterval,
    /// More distinct sources than one scan takes.
    #[error("more than {limit} sources in one scan")]
    TooManySources {
        /// The limit.
        limit: usize,
    },
}

/// Bad rows found while reading: the first [`MAX_BAD_ROW_MESSAGES`]
/// messages, and the total.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BadRows {
    /// `FILE:LINE: reason`, in reading order.
    pub messages: Vec<String>,
    /// All bad rows, including those whose message was not kept.
    pub total: usize,
}

impl BadRows {
    pub(crate) fn push(&mut self, path: &Path, line: usize, reason: &str) {
        self.total = self.total.saturating_add(1);
        if self.messages.len() < MAX_BAD_ROW_MESSAGES {
            self.messages
                .push(format!("{}:{line}: {reason}", path.display()));
        }
    }
}

/// One candle read from a file, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvCandle {
    /// The candle (closed).
    pub candle: Candle,
    /// Index of the file in the list given to the reader.
    pub file: usize,
    /// 1-based line number in that file.
    pub line: usize,
}

/// Where each needed field is in a row.
#[derive(Clone, Debug)]
struct Layout {
    columns: usize,
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    quote: Option<usize>,
    count: Option<usize>,
}

impl Layout {
    /// Binance public-data klines without a header.
    fn binance() -> Self {
        Layout {
            columns: BINANCE_KLINE_COLUMNS.len(),
            time: 0,
            open: 1,
            high: 2,
            low: 3,
            close: 4,
            volume: 5,
            quote: Some(7),
            count: Some(8),
        }
    }

    /// From a header line; `Err` lists the missing columns.
    fn from_header(line: &str) -> Result<Self, Vec<String>> {
        let names: Vec<String> = line
            .split(',')
            .map(|f| unquote(f).to_ascii_lowercase())
            .collect();
        let find = |opts: &[&str]| opts.iter().find_map(|o| names.iter().position(|n| n == o));
        let mut missing = Vec::new();
        let mut need = |opts: &[&str], label: &str| {
            let found = find(opts);
            if found.is_none() {
                missing.push(label.to_string());
            }
            found.unwrap_or(0)
        };
        let time = need(&TIME_NAMES, "open_time|open_time_ms|timestamp|time");
        let open = need(&["open"], "open");
        let high = need(&["high"], "high");
        let low = need(&["low"], "low");
        let close = need(&["close"], "close");
        let volume = need(&VOLUME_NAMES, "volume");
        if !missing.is_empty() {
            return Err(missing);
        }
        if [time, open, high, low, close, volume]
            .iter()
            .any(|&i| i >= MAX_COLUMNS)
        {
            return Err(vec![format!(
                "time/open/high/low/close/volume among the first {MAX_COLUMNS} columns"
            )]);
        }
        Ok(Layout {
            columns: names.len(),
            time,
            open,
            high,
            low,
            close,
            volume,
            quote: find(&QUOTE_NAMES).filter(|&i| i < MAX_COLUMNS),
            count: find(&COUNT_NAMES).filter(|&i| i < MAX_COLUMNS),
        })
    }
}

pub(crate) fn unquote(f: &str) -> &str {
    let f = f.trim();
    f.strip_prefix('"')
        .and_then(|g| g.strip_suffix('"'))
        .unwrap_or(f)
        .trim()
}

/// Reads one candle file, appending its candles to `out` (in file order)
/// and its bad rows to `bad`. `file` is the index stored in each
/// [`CsvCandle`].
pub fn read_file(
    path: &Path,
    file: usize,
    interval_secs: u32,
    out: &mut Vec<CsvCandle>,
    bad: &mut BadRows,
) -> Result<(), ScanError> {
    if interval_secs == 0 {
        return Err(ScanError::BadInterval);
    }
    let mut layout: Option<Layout> = None;
    for_each_line(path, bad, |line_no, text, bad| {
        let lay = match &layout {
            Some(l) => l,
            None => {
                let first = unquote(text.split(',').next().unwrap_or(""));
                if first.parse::<f64>().is_ok() {
                    // No header: Binance's public files sometimes have none.
                    layout.insert(Layout::binance())
                } else {
                    let l =
                        Layout::from_header(text).map_err(|missing| ScanError::MissingColumns {
                            path: path.to_path_buf(),
                            missing,
                            header: text.chars().take(200).collect(),
                        })?;
                    layout = Some(l);
                    return Ok(());
                }
            }
        };
        match parse_row(text, lay, interval_secs) {
            Ok(candle) => {
                if out.len() >= MAX_CANDLES {
                    return Err(ScanError::TooManyCandles {
                        path: path.to_path_buf(),
                        limit: MAX_CANDLES,
                    });
                }
                out.push(CsvCandle {
                    candle,
                    file,
                    line: line_no,
                });
            }
            Err(reason) => bad.push(path, line_no, &reason),
        }
        Ok(())
    })
}

/// Calls `row(line_no, text, bad)` for every non-empty line of a text file
/// (1-based numbers, line ends and a leading byte-order mark removed),
/// reporting overlong and non-UTF-8 lines as bad rows. Refuses files over
/// [`MAX_FILE_BYTES`]; `row` stops the read by returning an error.
pub(crate) fn for_each_line(
    path: &Path,
    bad: &mut BadRows,
    mut row: impl FnMut(usize, &str, &mut BadRows) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    let read_err = |source| ScanError::Read {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(read_err)?;
    let size = f.metadata().map_err(read_err)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ScanError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let mut reader = BufReader::with_capacity(64 * 1024, f);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(read_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE_BYTES {
            reader.skip_until(b'\n').map_err(read_err)?;
            bad.push(
                path,
                line_no,
                &format!("line longer than {MAX_LINE_BYTES} bytes"),
            );
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            bad.push(path, line_no, "not UTF-8 text");
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        let text = if line_no == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if text.trim().is_empty() {
            continue;
        }
        row(line_no, text, bad)?;
    }
    Ok(())
}

/// Parses one data row; the error is the reason for the bad-row report.
fn parse_row(text: &str, lay: &Layout, interval_secs: u32) -> Result<Candle, String> {
    // Split once into a fixed array (no allocation per row); columns past
    // MAX_COLUMNS are counted but never needed.
    let mut fields: [&str; MAX_COLUMNS] = [""; MAX_COLUMNS];
    let mut count = 0usize;
    for f in text.split(',') {
        if let Some(slot) = fields.get_mut(count) {
            *slot = unquote(f);
        }
        count += 1;
    }
    if count != lay.columns {
        return Err(format!("expected {} columns, found {count}", lay.columns));
    }
    let get = |i: usize| fields.get(i).copied().unwrap_or("");
    let number = |i: usize, name: &str| -> Result<f64, String> {
        let s = get(i);
        s.parse::<f64>()
            .map_err(|_| format!("unparsable {name} `{}`", clip(s)))
    };
    let t = get(lay.time);
    let open_ns = parse_time(t).ok_or_else(|| format!("bad time `{}`", clip(t)))?;
    if !(MIN_TIME..=MAX_TIME).contains(&open_ns) {
        return Err(format!("time `{}` outside 1970..2200", clip(t)));
    }
    let quote_volume = match lay.quote {
        Some(i) if !get(i).is_empty() => Some(number(i, "quote_volume")?),
        _ => None,
    };
    let trades = match lay.count {
        Some(i) if !get(i).is_empty() => {
            let s = get(i);
            Some(
                s.parse::<u64>()
                    .map_err(|_| format!("unparsable trade count `{}`", clip(s)))?,
            )
        }
        _ => None,
    };
    Ok(Candle {
        open_ns,
        interval_secs,
        open: number(lay.open, "open")?,
        high: number(lay.high, "high")?,
        low: number(lay.low, "low")?,
        close: number(lay.close, "close")?,
        volume: number(lay.volume, "volume")?,
        quote_volume,
        trades,
        first_trade_id: None,
        last_trade_id: None,
        closed: true,
        exch_ns: None,
    })
}

pub(crate) fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Parses a candle time: an integer epoch in s, ms, us or ns (told apart by
/// magnitude), or ISO 8601 (`2021-12-31 23:01:00.000000` taken as UTC,
/// `2025-10-10T00:00:00Z`, or with an offset).
pub fn parse_time(s: &str) -> Option<Nanos> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        let a = n.unsigned_abs();
        return if a < 100_000_000_000 {
            n.checked_mul(SECOND)
        } else if a < 100_000_000_000_000 {
            n.checked_mul(MILLI)
        } else if a < 100_000_000_000_000_000 {
            n.checked_mul(1_000)
        } else {
            Some(n)
        };
    }
    parse_iso(s)
}

fn parse_iso(s: &str) -> Option<Nanos> {
    use chrono::{DateTime, NaiveDateTime};
    if s.len() < 16 || s.len() > 64 {
        return None;
    }
    // Accept a space between date and time as RFC 3339 does.
    let mut owned = [0u8; 64];
    let bytes = s.as_bytes();
    let dst = owned.get_mut(..bytes.len())?;
    dst.copy_from_slice(bytes);
    if let Some(b) = dst.get_mut(10).filter(|b| **b == b' ') {
        *b = b'T';
    }
    let s = std::str::from_utf8(dst).ok()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return t.timestamp_nanos_opt();
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_by_magnitude_and_iso() {
        let ms = 1_744_700_700_000i64;
        let want = ms * MILLI;
        assert_eq!(parse_time("1744700700"), Some(want));
        assert_eq!(parse_time("1744700700000"), Some(want));
        assert_eq!(parse_time("1744700700000000"), Some(want));
        assert_eq!(parse_time("1744700700000000000"), Some(want));
        assert_eq!(parse_time("2025-04-15T07:05:00Z"), Some(want));
        assert_eq!(parse_time("2025-04-15 07:05:00.000000"), Some(want));
        assert_eq!(parse_time("2025-04-15T09:05:00+02:00"), Some(want));
        assert_eq!(parse_time("2025-04-15 07:05"), Some(want));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("2025-13-45T99:00:00Z"), None);
    }

    #[test]
    fn header_names_and_missing_columns() {
        let l = Layout::from_header(
            "open_time_ms,open_time_utc,open,high,low,close,volume_base,trade_count",
        )
        .unwrap();
        assert_eq!(
            (l.time, l.open, l.volume, l.count, l.quote),
            (0, 2, 6, Some(7), None)
        );
        let l = Layout::from_header("timestamp,open,high,low,close,volume").unwrap();
        assert_eq!((l.columns, l.time, l.close), (6, 0, 4));
        let missing = Layout::from_header("date,open,high,close").unwrap_err();
        assert_eq!(
            missing,
            vec![
                "open_time|open_time_ms|timestamp|time".to_string(),
                "low".to_string(),
                "volume".to_string()
            ]
        );
    }

    #[test]
    fn rows_report_reasons() {
        let l = Layout::binance();
        let ok = "1621426200000,38800.01,38845.74,38652.85,38705.10,1077.335,1621426259999,41731478.40894,10202,528.708,20483685.45078,0";
        let c = parse_row(ok, &l, 60).unwrap();
        assert_eq!(c.open_ns, 1_621_426_200_000 * MILLI);
        assert_eq!((c.high, c.trades), (38845.74, Some(10202)));
        assert_eq!(c.quote_volume, Some(41731478.40894));
        assert_eq!(
            parse_row("1,2,3", &l, 60).unwrap_err(),
            "expected 12 columns, found 3"
        );
        let bad_num = ok.replace("38845.74", "38x45.74");
        assert_eq!(
            parse_row(&bad_num, &l, 60).unwrap_err(),
            "unparsable high `38x45.74`"
        );
        let bad_time = ok.replacen("1621426200000", "16214x6200000", 1);
        assert_eq!(
            parse_row(&bad_time, &l, 60).unwrap_err(),
            "bad time `16214x6200000`"
        );
    }
}
