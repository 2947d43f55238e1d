//! Connection plans: which connections the live feed opens, built from
//! `[feed]` (symbols split to the venue's stream limit, endpoint overrides
//! applied, venues or symbols that cannot be served reported and skipped).
//!
//! Planning is pure: it must never open a socket, spawn a task or sleep.

use super::{CHANNELS, FeedConfig, FeedError};
use crate::model::Venue;
use crate::net::limit::RateLimit;
use crate::venues::{self, Protocol};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One planned connection: a venue and the symbols it carries.
#[derive(Clone)]
pub(crate) struct Plan {
    pub venue: Venue,
    pub url: String,
    pub subscribe: Vec<String>,
    pub app_ping: Option<(Duration, String)>,
    pub proto: Arc<dyn Protocol>,
    /// REST base for snapshots (production, or the override).
    pub rest_base: String,
    /// New connections to this venue (shared by its connections).
    pub connect_limit: Arc<RateLimit>,
    /// REST requests to this venue (shared by its connections).
    pub rest_limit: Arc<RateLimit>,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("venue", &self.venue)
            .field("url", &self.url)
            .field("subscribe", &self.subscribe)
            .finish_non_exhaustive()
    }
}

/// Builds the connection plans from `[feed]`: symbols split so no
/// connection carries more streams than the venue allows; endpoint
/// overrides applied. Venues without a protocol are reported and skipped.
pub(super) fn plans(cfg: &FeedConfig) -> Result<Vec<Plan>, FeedError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (id, symbols) in &cfg.symbols {
        let Ok(venue) = Venue::parse(id) else {
            skipped.push(format!("{id} (unknown venue)"));
            continue;
        };
        let Some(proto) = venues::protocol_for(venue).map(Arc::<dyn Protocol>::from) else {
            tracing::error!(venue = id, "no live protocol for this venue yet; skipped");
            skipped.push(format!("{id} (no protocol)"));
            continue;
        };
        let per_conn = (proto.max_streams_per_connection() / CHANNELS.len()).max(1);
        // A symbol the venue cannot express is reported and left out; a
        // venue left with none is not connected to.
        let syms: Vec<&str> = symbols
            .iter()
            .map(String::as_str)
            .filter(|s| {
                let ok = proto.venue_symbol(s).is_some();
                if !ok {
                    tracing::error!(
                        venue = id,
                        symbol = s,
                        "symbol not listed on this venue; skipped"
                    );
                    skipped.push(format!("{id} {s} (not a symbol of this venue)"));
                }
                ok
            })
            .collect();
        let connect_limit = Arc::new(RateLimit::new(cfg.connects_per_s, cfg.connect_burst));
        let rest_limit = Arc::new(RateLimit::new(cfg.rest_per_s, cfg.rest_burst));
        let rest_base = match proto.resync("BTC/USDT").or_else(|| proto.resync("BTC/USD")) {
            Some(venues::Resync::Rest { base, .. }) => cfg.rest_base(id, &base),
            _ => String::new(),
        };
        for chunk in syms.chunks(per_conn) {
            for group in proto.connection_groups(&CHANNELS) {
                let mut url = proto.url_for(chunk, &group);
                if let Some(base) = cfg.endpoints.get(id) {
                    // The override replaces the production endpoint; what
                    // the protocol appended (the subscription) is kept.
                    url = match url.strip_prefix(&proto.url()) {
                        Some(rest) => format!("{base}{rest}"),
                        None => base.clone(),
                    };
                }
                out.push(Plan {
                    venue,
                    url,
                    subscribe: proto.subscribe(chunk, &group),
                    app_ping: proto.ping(),
                    proto: proto.clone(),
                    rest_base: rest_base.clone(),
                    connect_limit: connect_limit.clone(),
                    rest_limit: rest_limit.clone(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(FeedError::NoVenues(if skipped.is_empty() {
            "feed.symbols is empty".into()
        } else {
            skipped.join(", ")
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_apply_endpoint_overrides_and_skip_unknown_protocols() {
        let mut cfg = FeedConfig::default();
        cfg.endpoints
            .insert("binance-usdm".into(), "ws://127.0.0.1:9001/stream".into());
        cfg.symbols.insert("kraken".into(), vec!["BTC/USD".into()]);
        cfg.symbols.insert("gemini".into(), vec!["BTC/USD".into()]);
        let p = plans(&cfg).unwrap();
        // One connection per venue, OKX two (candles are on /business);
        // gemini is no venue of ours and is skipped.
        assert_eq!(p.len(), 9, "{p:?}");
        let okx: Vec<&str> = p
            .iter()
            .filter(|p| p.venue == Venue::Okx)
            .map(|p| p.url.as_str())
            .collect();
        assert_eq!(
            okx,
            [
                "wss://ws.okx.com:8443/ws/v5/public",
                "wss://ws.okx.com:8443/ws/v5/business"
            ]
        );
        let usdm = p.iter().find(|p| p.venue == Venue::BinanceUsdm).unwrap();
        assert_eq!(usdm.rest_base, "http://127.0.0.1:9001");
        let spot = p.iter().find(|p| p.venue == Venue::BinanceSpot).unwrap();
        assert_eq!(spot.rest_base, "https://api.binance.com");
        assert!(
            p.iter()
                .filter(|p| !p.venue.id().starts_with("binance"))
                .all(|p| p.rest_base.is_empty())
        );
        let kraken = p.iter().find(|p| p.venue == Venue::Kraken).unwrap();
        assert_eq!(kraken.url, "wss://ws.kraken.com/v2");
        assert!(!kraken.subscribe.is_empty(), "kraken subscribes by frames");
        let usdm = p.iter().find(|p| p.venue == Venue::BinanceUsdm).unwrap();
        assert_eq!(
            usdm.url,
            "ws://127.0.0.1:9001/stream?streams=btcusdt@trade/btcusdt@bookTicker/btcusdt@depth@0ms/btcusdt@kline_1m/ethusdt@trade/ethusdt@bookTicker/ethusdt@depth@0ms/ethusdt@kline_1m"
        );
        let spot = p.iter().find(|p| p.venue == Venue::BinanceSpot).unwrap();
        assert!(
            spot.url
                .starts_with("wss://stream.binance.com:9443/stream?streams=btcusdt@trade/")
        );
    }

    #[test]
    fn symbols_a_venue_cannot_express_are_left_out() {
        let cfg = FeedConfig {
            symbols: [
                (
                    "binance-coinm".to_string(),
                    vec!["BTC/USDT".to_string(), "ETH/USD".to_string()],
                ),
                ("binance-spot".to_string(), vec![]),
            ]
            .into(),
            ..FeedConfig::default()
        };
        let p = plans(&cfg).unwrap();
        assert_eq!(p.len(), 1, "spot has no symbols: no connection");
        assert_eq!(
            p[0].url,
            "wss://dstream.binance.com/stream?streams=ethusd_perp@trade/ethusd_perp@bookTicker/ethusd_perp@depth@0ms/ethusd_perp@kline_1m"
        );
        let only_bad = FeedConfig {
            symbols: [("binance-coinm".to_string(), vec!["BTC/USDT".to_string()])].into(),
            ..FeedConfig::default()
        };
        let e = plans(&only_bad).unwrap_err().to_string();
        assert!(e.contains("BTC/USDT"), "{e}");
    }

    #[test]
    fn no_connectable_venue_is_an_error_naming_them() {
        let cfg = FeedConfig {
            symbols: [("gemini".to_string(), vec!["BTC/USD".to_string()])].into(),
            ..FeedConfig::default()
        };
        let e = plans(&cfg).unwrap_err().to_string();
        assert!(e.contains("gemini"), "{e}");
    }
}
