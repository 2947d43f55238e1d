//! The `--source` argument of a multi-source scan:
//! `[trades:|points:COLUMN:]VENUE:BASE/QUOTE=FILE`
//! parsed into a [`SourceSpec`]. Parsing only: it must never open the file
//! or decide anything about the candles.

use crate::model::{Symbol, Venue};
use std::path::PathBuf;
use std::str::FromStr;

/// One `--source` argument: `[trades:|points:COLUMN:]VENUE:BASE/QUOTE=FILE`.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// Venue id (any id, e.g. `gemini`).
    pub venue: Venue,
    /// Canonical `BASE/QUOTE`, upper case.
    pub symbol: Symbol,
    /// Candles built from trades (`trades:` prefix): a minute without
    /// trades has no candle and is not a gap.
    pub from_trades: bool,
    /// A price-point file (`points:COLUMN:` prefix; see
    /// [`crate::candles::points`]): the column holding the price of BASE in
    /// QUOTE. Its bars have holes like candles built from trades.
    pub price_column: Option<String>,
    /// The CSV file.
    pub path: PathBuf,
}

/// A `--source` argument that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "bad --source `{spec}`: {reason}; use [trades:|points:COLUMN:]VENUE:BASE/QUOTE=FILE, e.g. binance-usdm:BTC/USDT=klines.csv, trades:gemini:BTC/USD=bars.csv or points:token1Price:uniswap:USDE/USDT=pool.csv"
)]
pub struct SpecError {
    /// The argument as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for SourceSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let err = |reason: String| SpecError {
            spec: spec.chars().take(200).collect(),
            reason,
        };
        let (left, path) = spec
            .split_once('=')
            .ok_or_else(|| err("no `=FILE`".into()))?;
        if path.is_empty() {
            return Err(err("empty file name".into()));
        }
        let (from_trades, price_column, rest) =
            match left.strip_prefix("trades:") {
                Some(r) if r.contains(':') => (true, None, r),
                _ => match left.strip_prefix("points:") {
                    Some(r) => {
                        let (column, rest) = r
                        .split_once(':')
                        .filter(|(c, rest)| !c.is_empty() && c.len() <= 64 && rest.contains(':'))
                        .ok_or_else(|| {
                            err("`points:` takes COLUMN:VENUE:BASE/QUOTE (the price column first)"
                                .into())
                        })?;
                        (true, Some(column.to_string()), rest)
                    }
                    None => (false, None, left),
                },
            };
        let (venue, symbol) = rest
            .split_once(':')
            .ok_or_else(|| err("no `VENUE:` before the symbol".into()))?;
        let venue = Venue::parse_any(venue).map_err(|e| {
            err(format!(
                "venue `{}` is not a venue id (lowercase a-z, 0-9, `-`): {e}",
                e.0
            ))
        })?;
        let ok = symbol.split_once('/').is_some_and(|(b, q)| {
            !b.is_empty()
                && !q.is_empty()
                && !q.contains('/')
                && symbol
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/')
        });
        if !ok {
            return Err(err(format!(
                "symbol `{symbol}` is not canonical BASE/QUOTE (e.g. BTC/USDT)"
            )));
        }
        Ok(SourceSpec {
            venue,
            symbol: Symbol::from(symbol.to_ascii_uppercase()),
            from_trades,
            price_column,
            path: PathBuf::from(path),
        })
    }
}
