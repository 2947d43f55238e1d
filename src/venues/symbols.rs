//! Canonical symbol helpers shared by venue adapters: turning a venue's raw
//! instrument name (`BTCUSDT`, `btcusdt`, `BTCUSD_PERP`) into the canonical
//! `BASE/QUOTE` form, and a bounded interning cache so that the hot path
//! costs no allocation per frame for the symbol.
//!
//! Nothing here knows a wire format or does I/O. It must never guess
//! silently: a name it cannot split is an error the caller reports, and the
//! cache never grows past its bound.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::model::Symbol;

/// Quote assets recognised at the end of a concatenated symbol, tried
/// longest first so that `BTCFDUSD` is `BTC/FDUSD` and not `BTCFD/USD`, and
/// `BTCUSDT` is `BTC/USDT` and not `BTCUSD/T`.
///
/// The list covers Binance's stablecoin, fiat and crypto quote assets seen on
/// spot and futures; an instrument quoted in anything else is reported as an
/// error rather than split wrongly.
pub const QUOTE_ASSETS: &[&str] = &[
    // stablecoins
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "USDS", "IDRT", "BIDR", "BVND", "DAI",
    "EURI", // fiat
    "USD", "EUR", "GBP", "TRY", "BRL", "JPY", "AUD", "RUB", "UAH", "NGN", "ZAR", "PLN", "RON",
    "ARS", "MXN", "COP", "CZK", "IDR", "KZT", // crypto
    "BTC", "ETH", "BNB", "XRP", "TRX",
];

/// Longest raw symbol accepted. Real instrument names are far shorter; the
/// bound keeps a hostile frame from making the cache hold large keys.
pub const MAX_RAW_SYMBOL_LEN: usize = 64;

/// Why a raw venue symbol has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolError(pub String);

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SymbolError {}

/// Splits a concatenated symbol (`BTCUSDT`, any ASCII case) into base and
/// quote by the longest matching suffix in [`QUOTE_ASSETS`]. The base must be
/// non-empty.
pub fn split_concatenated(raw: &str) -> Option<(String, &'static str)> {
    let upper = raw.to_ascii_uppercase();
    let mut best: Option<&'static str> = None;
    for q in QUOTE_ASSETS {
        if upper.len() > q.len()
            && upper.ends_with(q)
            && best.is_none_or(|b: &str| q.len() > b.len())
        {
            best = Some(q);
        }
    }
    let quote = best?;
    let base_len = upper.len() - quote.len();
    // `ends_with` on an ASCII suffix guarantees `base_len` is a char boundary.
    let base = upper.get(..base_len)?.to_string();
    Some((base, quote))
}

/// The canonical `BASE/QUOTE` name of a Binance symbol (spot, USD-M or
/// COIN-M; any ASCII case, so the lowercase stream-name form works too).
///
/// - Spot and USD-M perpetual `BTCUSDT` -> `BTC/USDT` (the venue tells them
///   apart, not the symbol).
/// - COIN-M perpetual `BTCUSD_PERP` -> `BTC/USD`.
/// - Dated delivery contracts (`BTCUSD_240927` on COIN-M, `BTCUSDT_240927`
///   on USD-M) map to the same name as the perpetual of their pair
///   (`BTC/USD`, `BTC/USDT`): the canonical form names the asset pair, not
///   the expiry, so detectors compare them with the same market.
///
/// Anything else after `_`, an empty or over-long name, a `/` or whitespace,
/// or a name that ends in no known quote asset is an error naming the input.
pub fn binance_canonical(raw: &str) -> Result<String, SymbolError> {
    let fail = |why: &str| {
        SymbolError(format!(
            "cannot split symbol {raw:?} into base/quote: {why}"
        ))
    };
    if raw.is_empty() {
        return Err(fail("empty"));
    }
    if raw.len() > MAX_RAW_SYMBOL_LEN {
        return Err(fail("too long"));
    }
    if raw
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(fail("contains '/', whitespace or control characters"));
    }
    let pair = match raw.split_once('_') {
        None => raw,
        Some((pair, suffix)) => {
            let dated = suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_digit());
            if !(dated || suffix.eq_ignore_ascii_case("PERP")) {
                return Err(fail("contract suffix is neither PERP nor a YYMMDD date"));
            }
            pair
        }
    };
    let (base, quote) =
        split_concatenated(pair).ok_or_else(|| fail("no known quote asset suffix"))?;
    Ok(format!("{base}/{quote}"))
}

/// A bounded cache from a venue's raw symbol (as it appears on the wire) to
/// its interned canonical [`Symbol`].
///
/// A hit costs one hash lookup (or a string compare for the most recent
/// symbol) and an `Arc` clone, no allocation. Upper- and lowercase spellings
/// of one raw name share one `Arc`. Past `capacity` distinct raw names, new
/// names are still resolved but not cached, so memory stays bounded whatever
/// the input.
pub struct SymbolCache {
    // Keys are `Arc<str>` so that remembering the last hit is a refcount
    // bump, not an allocation, on streams that alternate symbols.
    map: HashMap<Arc<str>, Symbol>,
    last: Option<(Arc<str>, Symbol)>,
    capacity: usize,
    canonical: fn(&str) -> Result<String, SymbolError>,
}

impl SymbolCache {
    /// Default bound on cached raw names.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A cache that canonicalises misses with `canonical` and holds at most
    /// `capacity` raw names.
    pub fn new(canonical: fn(&str) -> Result<String, SymbolError>, capacity: usize) -> Self {
        SymbolCache {
            map: HashMap::new(),
            last: None,
            capacity,
            canonical,
        }
    }

    /// Number of raw names cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The canonical symbol for `raw`.
    pub fn get(&mut self, raw: &str) -> Result<Symbol, SymbolError> {
        // Most connections carry one or a few symbols: a compare against the
        // last one avoids hashing on the common path.
        if let Some((k, v)) = &self.last
            && **k == *raw
        {
            return Ok(v.clone());
        }
        if let Some((k, v)) = self.map.get_key_value(raw) {
            self.last = Some((k.clone(), v.clone()));
            return Ok(v.clone());
        }
        self.resolve_miss(raw)
    }

    fn resolve_miss(&mut self, raw: &str) -> Result<Symbol, SymbolError> {
        let upper = raw.to_ascii_uppercase();
        let sym = match self.map.get(upper.as_str()) {
            Some(s) => s.clone(),
            None => {
                let canon: Symbol = Arc::from((self.canonical)(raw)?);
                if self.map.len() < self.capacity {
                    self.map.insert(Arc::from(upper.as_str()), canon.clone());
                }
                canon
            }
        };
        if self.map.len() < self.capacity && !self.map.contains_key(raw) {
            self.map.insert(Arc::from(raw), sym.clone());
        }
        Ok(sym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_binance_names() {
        let cases = [
            ("BTCUSDT", "BTC/USDT"),
            ("btcusdt", "BTC/USDT"),
            ("ETHUSDT", "ETH/USDT"),
            ("BTCUSD_PERP", "BTC/USD"),
            ("ethusd_perp", "ETH/USD"),
            ("BTCUSD_240927", "BTC/USD"),
            ("BTCUSDT_240927", "BTC/USDT"),
            ("BTCFDUSD", "BTC/FDUSD"),
            ("BTCTUSD", "BTC/TUSD"),
            ("USDCUSDT", "USDC/USDT"),
            ("ETHBTC", "ETH/BTC"),
            ("BLZETH", "BLZ/ETH"),
            ("LRCBTC", "LRC/BTC"),
            ("RUNEEUR", "RUNE/EUR"),
            ("NKNUSDT", "NKN/USDT"),
            ("BNBBTC", "BNB/BTC"),
        ];
        for (raw, want) in cases {
            assert_eq!(binance_canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn rejects_unsplittable_names() {
        for raw in [
            "",
            "USDT",
            "BTCXYZ",
            "BTC/USDT",
            "BTC USDT",
            "BTCUSD_QUARTER",
            "BTCUSD_2409",
            "BTC-240927-60000-C",
        ] {
            let err = binance_canonical(raw).unwrap_err();
            assert!(err.0.contains("cannot split symbol"), "{raw}: {err}");
        }
        assert!(binance_canonical(&"A".repeat(65)).is_err());
    }

    #[test]
    fn cache_shares_one_arc_across_cases_and_is_bounded() {
        let mut c = SymbolCache::new(binance_canonical, 4);
        let a = c.get("BTCUSDT").unwrap();
        let b = c.get("btcusdt").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "BTC/USDT");
        let again = c.get("BTCUSDT").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        for s in ["ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"] {
            assert!(c.get(s).is_ok());
        }
        assert!(c.len() <= 4, "cache grew to {}", c.len());
        // Past the bound names still resolve.
        assert_eq!(&*c.get("LINKUSDT").unwrap(), "LINK/USDT");
        assert!(c.get("NOTAQUOTE").is_err());
    }
}
