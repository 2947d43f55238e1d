//! Price points read into bars: a CSV with one price per row (an on-chain
//! pool's price block by block, a trade tape) and a time column, turned
//! into one bar per interval (open = first price, high, low, close = last,
//! volume the sum of a volume column where there is one, trade count the
//! number of points). An interval without a point has no bar, as with
//! candles built from trades: the scan reads such a source as
//! `StreamKind::TradeCandles`.
//!
//! The price column is named by the user (`points:COLUMN:...`), because
//! which column holds the price of BASE in QUOTE depends on the export: a
//! Uniswap v3 pool export has `token0Price` (token0 per token1) and
//! `token1Price` (token1 per token0). A row whose time or price does not
//! parse, or whose price is not a positive number, is a bad row (reported
//! and skipped, as in [`super::csv`]). Memory is bounded by
//! [`MAX_POINTS`] per file and the candle limit of the scan.

use super::csv::{
    BadRows, CsvCandle, MAX_CANDLES, MAX_TIME, MIN_TIME, ScanError, TIME_NAMES, clip,
    for_each_line, parse_time, unquote,
};
use crate::model::{Candle, Nanos, SECOND};
use std::path::Path;

/// At most this many points are held from one file (about 480 MB).
pub const MAX_POINTS: usize = 20_000_000;

/// Accepted names of a point's size column (optional).
const SIZE_NAMES: [&str; 6] = ["volume", "amount", "size", "qty", "quantity", "base_volume"];

/// One price point: time, price, size, line.
type Point = (Nanos, f64, f64, usize);

/// Where the needed fields are in a row.
struct Columns {
    count: usize,
    time: usize,
    price: usize,
    size: Option<usize>,
}

impl Columns {
    fn from_header(header: &str, price_column: &str) -> Result<Self, Vec<String>> {
        let names: Vec<String> = header
            .split(',')
            .map(|f| unquote(f).to_ascii_lowercase())
            .collect();
        let find = |opts: &[&str]| opts.iter().find_map(|o| names.iter().position(|n| n == o));
        let time = find(&TIME_NAMES);
        let want = price_column.to_ascii_lowercase();
        let price = names.iter().position(|n| *n == want);
        match (time, price) {
            (Some(time), Some(price)) => Ok(Columns {
                count: names.len(),
                time,
                price,
                size: find(&SIZE_NAMES),
            }),
            (t, p) => {
                let mut missing = Vec::new();
                if t.is_none() {
                    missing.push(TIME_NAMES.join("|"));
                }
                if p.is_none() {
                    missing.push(price_column.to_string());
                }
                Err(missing)
            }
        }
    }

    fn parse(&self, text: &str) -> Result<(Nanos, f64, f64), String> {
        let fields: Vec<&str> = text.split(',').map(unquote).collect();
        if fields.len() != self.count {
            return Err(format!(
                "expected {} columns, found {}",
                self.count,
                fields.len()
            ));
        }
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        let t = get(self.time);
        let at = parse_time(t).ok_or_else(|| format!("bad time `{}`", clip(t)))?;
        if !(MIN_TIME..=MAX_TIME).contains(&at) {
            return Err(format!("time `{}` outside 1970..2200", clip(t)));
        }
        let p = get(self.price);
        let price = p
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("price `{}` is not a positive number", clip(p)))?;
        let size = match self.size {
            Some(i) => {
                let s = get(i);
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("size `{}` is not a number >= 0", clip(s)))?
            }
            None => 0.0,
        };
        Ok((at, price, size))
    }
}

/// Reads one price-point file, appending one bar per `interval_secs` that
/// has points to `out` (in time order) and its bad rows to `bad`.
pub fn read_points_file(
    path: &Path,
    file: usize,
    interval_secs: u32,
    price_column: &str,
    out: &mut Vec<CsvCandle>,
    bad: &mut BadRows,
) -> Result<(), ScanError> {
    if interval_secs == 0 {
        return Err(ScanError::BadInterval);
    }
    let mut columns: Option<Columns> = None;
    let mut points: Vec<Point> = Vec::new();
    for_each_line(path, bad, |line, text, bad| {
        let Some(cols) = &columns else {
            let c = Columns::from_header(text, price_column).map_err(|missing| {
                ScanError::MissingColumns {
                    path: path.to_path_buf(),
                    missing,
                    header: text.chars().take(200).collect(),
                }
            })?;
            columns = Some(c);
            return Ok(());
        };
        match cols.parse(text) {
            Ok((at, price, size)) => {
                if points.len() >= MAX_POINTS {
                    return Err(ScanError::TooManyCandles {
                        path: path.to_path_buf(),
                        limit: MAX_POINTS,
                    });
                }
                points.push((at, price, size, line));
            }
            Err(reason) => bad.push(path, line, &reason),
        }
        Ok(())
    })?;
    // Exports are usually in time order; a stable sort keeps equal times in
    // file order either way.
    points.sort_by_key(|p| p.0);
    let step = Nanos::from(interval_secs) * SECOND;
    let mut i = 0;
    while let Some(&(first_at, first_price, _, line)) = points.get(i) {
        let open_ns = first_at - first_at.rem_euclid(step);
        let n = points
            .get(i..)
            .unwrap_or(&[])
            .partition_point(|p| p.0 < open_ns + step);
        let bar = points.get(i..i + n).unwrap_or(&[]);
        i += n.max(1);
        if out.len() >= MAX_CANDLES {
            return Err(ScanError::TooManyCandles {
                path: path.to_path_buf(),
                limit: MAX_CANDLES,
            });
        }
        let (high, low) = bar.iter().fold((first_price, first_price), |(h, l), p| {
            (h.max(p.1), l.min(p.1))
        });
        out.push(CsvCandle {
            candle: Candle {
                open_ns,
                interval_secs,
                open: first_price,
                high,
                low,
                close: bar.last().map_or(first_price, |p| p.1),
                volume: bar.iter().map(|p| p.2).sum(),
                quote_volume: None,
                trades: Some(bar.len() as u64),
                first_trade_id: None,
                last_trade_id: None,
                closed: true,
                exch_ns: None,
            },
            file,
            line,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("feedwatch-points-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        p
    }

    #[test]
    fn points_become_one_bar_per_interval_with_holes_left_empty() {
        let p = write(
            "pool.csv",
            "block,token0Price,token1Price,timestamp\n\
             1,0.5,2.0,1760112011\n\
             2,0.4,2.5,1760112023\n\
             3,0.6,1.5,1760112059\n\
             4,0.5,2.1,1760112061\n\
             5,x,2.2,1760112062\n\
             6,0.5,2.3,1760112300\n",
        );
        let mut out = Vec::new();
        let mut bad = BadRows::default();
        read_points_file(&p, 0, 60, "token1Price", &mut out, &mut bad).unwrap();
        assert_eq!(bad.total, 0, "{:?}", bad.messages);
        let bars: Vec<_> = out
            .iter()
            .map(|c| {
                let k = &c.candle;
                (k.open_ns / SECOND, k.open, k.high, k.low, k.close, k.trades)
            })
            .collect();
        assert_eq!(
            bars,
            vec![
                (1760112000, 2.0, 2.5, 1.5, 1.5, Some(3)),
                (1760112060, 2.1, 2.2, 2.1, 2.2, Some(2)),
                (1760112300, 2.3, 2.3, 2.3, 2.3, Some(1)),
            ]
        );
        // The other column, and its bad row.
        let mut out = Vec::new();
        read_points_file(&p, 0, 60, "token0price", &mut out, &mut bad).unwrap();
        assert_eq!(bad.total, 1);
        assert!(
            bad.messages[0].contains(":6: price `x`"),
            "{:?}",
            bad.messages
        );
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[1].candle.trades,
            Some(1),
            "the bad row is left out of its bar"
        );
    }

    #[test]
    fn a_points_spec_names_its_price_column() {
        use crate::candles::SourceSpec;
        let s: SourceSpec = "points:token1Price:uniswap:usde/usdt=pool.csv"
            .parse()
            .unwrap();
        assert_eq!(s.venue.id(), "uniswap");
        assert_eq!(&*s.symbol, "USDE/USDT");
        assert_eq!(s.price_column.as_deref(), Some("token1Price"));
        assert!(s.from_trades, "bars of points have holes like trade bars");
        for bad in [
            "points:uniswap:USDE/USDT=p.csv",
            "points::uniswap:USDE/USDT=p.csv",
        ] {
            let e = bad.parse::<SourceSpec>().unwrap_err().to_string();
            assert!(e.contains("the price column first"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_header_without_the_price_column_is_an_error_naming_it() {
        let p = write("nocol.csv", "timestamp,close\n1760112011,1.0\n");
        let mut out = Vec::new();
        let mut bad = BadRows::default();
        let e = read_points_file(&p, 0, 60, "token1Price", &mut out, &mut bad).unwrap_err();
        assert!(e.to_string().contains("token1Price"), "{e}");
        assert!(out.is_empty());
    }
}
