//! Which frames a simulator client gets, and the synthetic replicas.
//!
//! A [`Router`] decides per recorded frame what one client is sent: the
//! frame itself when its `"stream"` is one the client asked for (byte for
//! byte), and, with replication on, copies of it as *alias symbols*.
//! Replication is **synthetic load made by code from real frames**, not
//! recorded data: frame `k` of `N` copies of a `BTCUSDT` frame names the
//! symbol `BTC0001USDT` .. (`BTC{k:04}USDT`; `btc0001usdt@trade` in the
//! stream name, `"s":"BTC0001USDT"` in the payload), everything else
//! untouched. Aliases keep the quote asset (and a `_PERP` or dated contract
//! suffix), so they split into the canonical `BTC0001/USDT` the consumer
//! subscribes with (see [`alias_canonical`]).
//!
//! It must never alter a frame it serves as the original, never allocate
//! per frame beyond the copies it sends, and never grow without bound
//! (the per-stream table is capped; streams past the cap are still routed,
//! only not remembered).

use crate::venues::symbols::split_concatenated;
use std::collections::{HashMap, HashSet};

/// Most replicas per symbol (the alias number has four digits).
pub const MAX_REPLICAS: u32 = 9999;

/// Distinct recorded stream names whose routing is remembered. Real
/// recordings carry a handful; past the cap routing still works, at the
/// cost of recomputing it per frame, and served streams are not counted.
const MAX_ROUTES: usize = 4096;

/// The canonical name (`BASE/QUOTE`) of replica `k` of the canonical
/// symbol `canonical`: `BTC/USDT`, 7 -> `BTC0007/USDT`. `None` for a name
/// without a `/` or `k` outside `1..=MAX_REPLICAS`.
pub fn alias_canonical(canonical: &str, k: u32) -> Option<String> {
    let (base, quote) = canonical.split_once('/')?;
    ((1..=MAX_REPLICAS).contains(&k)).then(|| format!("{base}{k:04}/{quote}"))
}

/// The raw venue symbol of replica `k` of a Binance raw symbol, in the
/// case of the input: `btcusdt` -> `btc0001usdt`, `BTCUSD_PERP` ->
/// `BTC0001USD_PERP`. `None` when the symbol does not end in a known quote
/// asset (it is then served, but not replicated).
pub fn alias_raw(raw: &str, k: u32) -> Option<String> {
    if !(1..=MAX_REPLICAS).contains(&k) {
        return None;
    }
    let (pair, suffix) = match raw.find('_') {
        Some(i) => (raw.get(..i)?, raw.get(i..)?),
        None => (raw, ""),
    };
    let (_, quote) = split_concatenated(pair)?;
    let base = pair.get(..pair.len() - quote.len())?;
    let quote_raw = pair.get(base.len()..)?;
    Some(format!("{base}{k:04}{quote_raw}{suffix}"))
}

/// The recorded symbol an alias (from [`alias_raw`]) was made from:
/// `BTC0001USDT` -> `BTCUSDT`. `None` when `alias` is no alias.
pub fn original_raw(alias: &str) -> Option<String> {
    let b = alias.as_bytes();
    (0..b.len().saturating_sub(3)).find_map(|i| {
        let digits = b.get(i..i + 4)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let k: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let original = format!("{}{}", alias.get(..i)?, alias.get(i + 4..)?);
        (alias_raw(&original, k).as_deref() == Some(alias)).then_some(original)
    })
}

/// One alias target of a recorded stream.
struct Target {
    /// `"stream":"btc0001usdt@`
    stream_to: String,
    /// `"s":"BTC0001USDT"`
    s_to: String,
    served: bool,
}

/// The routing of one recorded stream name.
struct Route {
    /// The client asked for the recorded stream itself.
    original: bool,
    original_served: bool,
    /// `"stream":"btcusdt@` (empty when nothing is replicated).
    stream_from: String,
    /// `"s":"BTCUSDT"`
    s_from: String,
    /// Only the aliases the client asked for.
    targets: Vec<Target>,
}

/// Routes one client's frames: filter by requested stream, then replicate.
pub struct Router {
    filter: Option<HashSet<String>>,
    replicas: u32,
    routes: HashMap<String, Route>,
}

impl Router {
    /// A router for a client that asked for `filter` (`None`: everything)
    /// with `replicas` aliases per symbol (0: no replication; capped at
    /// [`MAX_REPLICAS`]).
    pub fn new(filter: Option<HashSet<String>>, replicas: u32) -> Router {
        Router {
            filter,
            replicas: replicas.min(MAX_REPLICAS),
            routes: HashMap::new(),
        }
    }

    fn wants(&self, stream: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.contains(stream))
    }

    fn route_for(&self, stream: &str) -> Route {
        let mut r = Route {
            original: self.wants(stream),
            original_served: false,
            stream_from: String::new(),
            s_from: String::new(),
            targets: Vec::new(),
        };
        if self.replicas == 0 {
            return r;
        }
        let Some((raw, channel)) = stream.split_once('@') else {
            return r;
        };
        if raw.is_empty() {
            return r;
        }
        r.stream_from = format!("\"stream\":\"{raw}@");
        r.s_from = format!("\"s\":\"{}\"", raw.to_ascii_uppercase());
        for k in 1..=self.replicas {
            let Some(alias) = alias_raw(raw, k) else {
                return r; // not a splittable symbol: served, not replicated
            };
            if self.wants(&format!("{alias}@{channel}")) {
                r.targets.push(Target {
                    stream_to: format!("\"stream\":\"{alias}@"),
                    s_to: format!("\"s\":\"{}\"", alias.to_ascii_uppercase()),
                    served: false,
                });
            }
        }
        r
    }

    /// Appends to `out` what the client gets for the recorded text frame
    /// `text`: the frame itself (untouched) if asked for, then its aliases
    /// the client asked for. Returns how many streams got their first
    /// frame now.
    pub fn route(&mut self, text: &str, out: &mut Vec<String>) -> u64 {
        let stream = crate::scenario::inject::string_field(text, "stream").unwrap_or("");
        if self.replicas == 0 {
            // The plain filter: no table needed.
            if self.wants(stream) {
                out.push(text.to_string());
            }
            return 0;
        }
        let mut fresh = 0;
        let mut uncached;
        let route = match self.routes.contains_key(stream) {
            true => self.routes.get_mut(stream),
            false if self.routes.len() < MAX_ROUTES => {
                let r = self.route_for(stream);
                Some(self.routes.entry(stream.to_string()).or_insert(r))
            }
            false => None,
        };
        let route = match route {
            Some(r) => r,
            None => {
                uncached = self.route_for(stream);
                // Not remembered: count nothing as served.
                uncached.original_served = true;
                uncached.targets.iter_mut().for_each(|t| t.served = true);
                &mut uncached
            }
        };
        if route.original {
            out.push(text.to_string());
            if !route.original_served {
                route.original_served = true;
                fresh += 1;
            }
        }
        for t in &mut route.targets {
            let mut s = text.replacen(&route.stream_from, &t.stream_to, 1);
            if s.contains(&route.s_from) {
                s = s.replace(&route.s_from, &t.s_to);
            }
            out.push(s);
            if !t.served {
                t.served = true;
                fresh += 1;
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn aliases_map_back_to_their_recording() {
        for raw in ["BTCUSDT", "BTCUSD_PERP", "1000PEPEUSDT", "ETHUSDT"] {
            for k in [1, 42, 9999] {
                let a = alias_raw(raw, k).unwrap();
                assert_eq!(original_raw(&a).as_deref(), Some(raw), "{a}");
            }
        }
        assert_eq!(original_raw("BTCUSDT"), None);
        assert_eq!(original_raw("1000PEPEUSDT"), None);
        assert_eq!(original_raw(""), None);
    }

    use super::*;
    use crate::venues::symbols::binance_canonical;

    // Frames modelled on the recorded ones in fixtures/replay/ (shortened).
    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#;
    const COINM: &str = r#"{"stream":"btcusd_perp@depth@0ms","data":{"e":"depthUpdate","E":1723161257460,"s":"BTCUSD_PERP","ps":"BTCUSD","U":1,"u":2,"pu":0,"b":[],"a":[]}}"#;

    #[test]
    fn aliases_split_into_the_canonical_alias() {
        assert_eq!(alias_raw("btcusdt", 1).as_deref(), Some("btc0001usdt"));
        assert_eq!(
            alias_raw("BTCUSD_PERP", 42).as_deref(),
            Some("BTC0042USD_PERP")
        );
        assert_eq!(alias_raw("btcxyz", 1), None);
        assert_eq!(alias_raw("btcusdt", 0), None);
        for (raw, canon) in [("btcusdt", "BTC/USDT"), ("BTCUSD_PERP", "BTC/USD")] {
            for k in [1, 500, MAX_REPLICAS] {
                let a = alias_raw(raw, k).unwrap();
                assert_eq!(binance_canonical(&a).ok(), alias_canonical(canon, k), "{a}");
            }
        }
        assert_eq!(alias_canonical("BTC/USDT", MAX_REPLICAS + 1), None);
    }

    #[test]
    fn unreplicated_frames_pass_untouched_and_filtered() {
        let mut r = Router::new(Some(["btcusdt@trade".to_string()].into()), 0);
        let mut out = Vec::new();
        r.route(TRADE, &mut out);
        r.route(COINM, &mut out);
        assert_eq!(out, [TRADE]);
        let mut all = Router::new(None, 0);
        out.clear();
        all.route(COINM, &mut out);
        assert_eq!(out, [COINM]);
    }

    #[test]
    fn replicas_rewrite_stream_and_symbol_only_for_requested_aliases() {
        let want: HashSet<String> = ["btcusdt@trade", "btc0002usdt@trade", "btc0003usdt@trade"]
            .map(String::from)
            .into();
        let mut r = Router::new(Some(want), 3);
        let mut out = Vec::new();
        assert_eq!(r.route(TRADE, &mut out), 3, "three streams served first");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], TRADE);
        assert_eq!(
            out[1],
            TRADE
                .replace("btcusdt@", "btc0002usdt@")
                .replace("\"BTCUSDT\"", "\"BTC0002USDT\"")
        );
        assert!(out[2].contains(r#""stream":"btc0003usdt@trade""#));
        assert!(out[2].contains(r#""s":"BTC0003USDT""#));
        out.clear();
        assert_eq!(r.route(TRADE, &mut out), 0, "no stream is new");
        assert_eq!(out.len(), 3);
        out.clear();
        assert_eq!(r.route(COINM, &mut out), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn coinm_replicas_keep_the_contract_suffix_and_other_fields() {
        let mut r = Router::new(None, 2);
        let mut out = Vec::new();
        assert_eq!(r.route(COINM, &mut out), 3);
        assert_eq!(out[0], COINM);
        assert!(out[2].starts_with(r#"{"stream":"btc0002usd_perp@depth@0ms""#));
        assert!(out[2].contains(r#""s":"BTC0002USD_PERP","ps":"BTCUSD""#));
        assert_eq!(out[2].len(), COINM.len() + 8);
    }
}
