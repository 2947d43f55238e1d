//! The `[feed]` configuration section: which venues and symbols the live
//! consumer watches, where it connects, and its queue, backoff, keep-alive
//! and size limits. Every key has a default; validation names the key at
//! fault. It must never accept a value that would make the feed unbounded
//! (zero queue, no message cap) or spin (zero backoff).

use crate::model::Venue;
use crate::venues;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Live consumer settings (`[feed]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// Canonical `BASE/QUOTE` symbols to watch, per venue id. A venue not
    /// listed is not connected to.
    pub symbols: BTreeMap<String, Vec<String>>,
    /// Per-venue WebSocket endpoint override (e.g. the local simulator,
    /// `ws://127.0.0.1:9001/stream`). It replaces the venue's production
    /// endpoint; subscription parameters are still appended.
    pub endpoints: BTreeMap<String, String>,
    /// Per-venue REST base override for book snapshots (e.g.
    /// `http://127.0.0.1:9001`). When a venue's WebSocket endpoint is
    /// overridden and this is not, the same host and port are used
    /// (`ws://` as `http://`, `wss://` as `https://`), which is what the
    /// local simulator serves.
    pub rest_endpoints: BTreeMap<String, String>,
    /// New connections per second to one venue (token bucket; reconnects
    /// after an outage never storm the venue).
    pub connects_per_s: f64,
    /// Connections to one venue that may start at once before the rate
    /// applies.
    pub connect_burst: u32,
    /// REST snapshot requests per second to one venue (Binance weighs a
    /// 1,000-level depth request at 20-50 of 2,400-6,000 per minute).
    pub rest_per_s: f64,
    /// REST snapshot requests to one venue that may start at once.
    pub rest_burst: u32,
    /// Time allowed for one REST snapshot request (ms).
    pub rest_timeout_ms: u64,
    /// A connection to a venue that closes connections at a fixed age
    /// (Binance: 24 h) is replaced this long before that age: the new one
    /// is opened and subscribed before the old one is closed (s).
    pub replace_before_s: u64,
    /// Capacity of the queue from the connections to the engine (records).
    /// When it is full, frames are dropped and counted, never buffered.
    pub queue_capacity: usize,
    /// First reconnect delay bound (ms); the delay is drawn uniformly below
    /// the bound (full jitter) and the bound doubles per failed attempt.
    pub backoff_initial_ms: u64,
    /// Cap on the reconnect delay bound (ms).
    pub backoff_max_ms: u64,
    /// How often a WebSocket ping is sent (ms).
    pub ping_interval_ms: u64,
    /// A connection on which nothing (data, pong, ping) arrives for this
    /// long is dropped as half-open (ms).
    pub ping_timeout_ms: u64,
    /// A connection whose socket is alive (pongs arrive) but that has sent
    /// no message for this long is reconnected: a stalled stream is
    /// resubscribed rather than waited on forever (ms).
    pub data_timeout_ms: u64,
    /// Time allowed for the TCP, TLS and WebSocket handshakes (ms).
    pub connect_timeout_ms: u64,
    /// Largest accepted WebSocket message and frame (bytes); a bigger one
    /// closes the connection before its payload is read.
    pub max_message_bytes: usize,
    /// A recording file is closed and a new one started past this many
    /// uncompressed bytes (MiB).
    pub record_rotate_mib: u64,
    /// ... or when the file is this old (seconds).
    pub record_rotate_s: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        let both = |q: &str| vec![format!("BTC/{q}"), format!("ETH/{q}")];
        // BTC and ETH everywhere, in each venue's main quote.
        let symbols = venues::specs()
            .map(|s| (s.venue.id().to_string(), both(s.main_quote)))
            .collect();
        FeedConfig {
            symbols,
            endpoints: BTreeMap::new(),
            rest_endpoints: BTreeMap::new(),
            connects_per_s: 1.0,
            connect_burst: 10,
            rest_per_s: 1.0,
            rest_burst: 5,
            rest_timeout_ms: 10_000,
            replace_before_s: 600,
            queue_capacity: 65_536,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            ping_interval_ms: 15_000,
            ping_timeout_ms: 45_000,
            data_timeout_ms: 60_000,
            connect_timeout_ms: 10_000,
            max_message_bytes: 4 * 1024 * 1024,
            record_rotate_mib: 1024,
            record_rotate_s: 3600,
        }
    }
}

impl FeedConfig {
    /// The REST base for `venue`'s snapshots: the configured override, else
    /// the host of an overridden WebSocket endpoint, else `production`.
    pub fn rest_base(&self, venue: &str, production: &str) -> String {
        if let Some(b) = self.rest_endpoints.get(venue) {
            return b.trim_end_matches('/').to_string();
        }
        if let Some(ws) = self.endpoints.get(venue) {
            let (scheme, rest) = match ws.split_once("://") {
                Some(("wss", r)) => ("https", r),
                Some((_, r)) => ("http", r),
                None => ("http", ws.as_str()),
            };
            let authority = rest.split('/').next().unwrap_or(rest);
            return format!("{scheme}://{authority}");
        }
        production.to_string()
    }

    /// Checks ranges and names; the message names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        for (venue, syms) in &self.symbols {
            Venue::parse(venue).map_err(|e| format!("feed.symbols: {e}"))?;
            for s in syms {
                let ok = s.split_once('/').is_some_and(|(b, q)| {
                    !b.is_empty()
                        && !q.is_empty()
                        && b.bytes().all(|c| c.is_ascii_alphanumeric())
                        && q.bytes().all(|c| c.is_ascii_alphanumeric())
                });
                if !ok {
                    return Err(format!(
                        "feed.symbols.{venue}: invalid symbol `{s}` (use BASE/QUOTE, e.g. BTC/USDT)"
                    ));
                }
            }
        }
        for (venue, url) in &self.endpoints {
            Venue::parse(venue).map_err(|e| format!("feed.endpoints: {e}"))?;
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return Err(format!(
                    "feed.endpoints.{venue}: `{url}` is not a ws:// or wss:// URL"
                ));
            }
        }
        for (venue, url) in &self.rest_endpoints {
            Venue::parse(venue).map_err(|e| format!("feed.rest_endpoints: {e}"))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "feed.rest_endpoints.{venue}: `{url}` is not an http:// or https:// URL"
                ));
            }
        }
        for (name, v) in [
            ("connects_per_s", self.connects_per_s),
            ("rest_per_s", self.rest_per_s),
        ] {
            if !(v.is_finite() && (0.001..=1000.0).contains(&v)) {
                return Err(format!("feed.{name} must be 0.001..=1000, got {v}"));
            }
        }
        let ranges: [(&str, u64, u64, u64); 14] = [
            ("data_timeout_ms", self.data_timeout_ms, 10, 86_400_000),
            ("replace_before_s", self.replace_before_s, 0, 86_399),
            ("connect_burst", u64::from(self.connect_burst), 1, 10_000),
            ("rest_burst", u64::from(self.rest_burst), 1, 10_000),
            ("rest_timeout_ms", self.rest_timeout_ms, 10, 3_600_000),
            ("queue_capacity", self.queue_capacity as u64, 1, 1 << 24),
            ("backoff_initial_ms", self.backoff_initial_ms, 1, 3_600_000),
            ("backoff_max_ms", self.backoff_max_ms, 1, 3_600_000),
            ("ping_interval_ms", self.ping_interval_ms, 10, 3_600_000),
            ("ping_timeout_ms", self.ping_timeout_ms, 10, 3_600_000),
            ("connect_timeout_ms", self.connect_timeout_ms, 10, 3_600_000),
            (
                "max_message_bytes",
                self.max_message_bytes as u64,
                1024,
                1 << 30,
            ),
            ("record_rotate_mib", self.record_rotate_mib, 1, 1 << 20),
            ("record_rotate_s", self.record_rotate_s, 1, 7 * 86_400),
        ];
        for (name, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(format!("feed.{name} must be {lo}..={hi}, got {v}"));
            }
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            return Err("feed.backoff_initial_ms must not exceed feed.backoff_max_ms".into());
        }
        if self.ping_timeout_ms < self.ping_interval_ms {
            return Err("feed.ping_timeout_ms must be at least feed.ping_interval_ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_watch_every_venue() {
        let c = FeedConfig::default();
        c.validate().unwrap();
        assert_eq!(c.symbols.len(), 8);
        for v in crate::model::KNOWN_VENUES {
            assert_eq!(c.symbols[v.id()].len(), 2, "{v}");
        }
        assert_eq!(c.symbols["binance-coinm"], ["BTC/USD", "ETH/USD"]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = FeedConfig {
            queue_capacity: 0,
            ..FeedConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("feed.queue_capacity"));
        c = FeedConfig::default();
        c.endpoints
            .insert("binance-spot".into(), "http://127.0.0.1:1".into());
        assert!(
            c.validate()
                .unwrap_err()
                .contains("feed.endpoints.binance-spot")
        );
        c = FeedConfig::default();
        c.symbols
            .insert("binance-spot".into(), vec!["BTCUSDT".into()]);
        assert!(c.validate().unwrap_err().contains("BTCUSDT"));
        c = FeedConfig::default();
        c.symbols.insert("nowhere".into(), vec![]);
        assert!(c.validate().unwrap_err().contains("nowhere"));
        c = FeedConfig::default();
        c.rest_endpoints
            .insert("binance-spot".into(), "ws://127.0.0.1:1".into());
        assert!(c.validate().unwrap_err().contains("feed.rest_endpoints"));
        for bad in [0.0, f64::NAN, f64::INFINITY, -1.0] {
            c = FeedConfig {
                connects_per_s: bad,
                ..FeedConfig::default()
            };
            assert!(c.validate().unwrap_err().contains("feed.connects_per_s"));
        }
        c = FeedConfig {
            connect_burst: 0,
            ..FeedConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("feed.connect_burst"));
    }

    #[test]
    fn rest_base_follows_an_overridden_websocket_endpoint() {
        let mut c = FeedConfig::default();
        let prod = "https://api.binance.com";
        assert_eq!(c.rest_base("binance-spot", prod), prod);
        c.endpoints
            .insert("binance-spot".into(), "ws://127.0.0.1:9001/stream".into());
        assert_eq!(c.rest_base("binance-spot", prod), "http://127.0.0.1:9001");
        c.endpoints
            .insert("binance-usdm".into(), "wss://example.test/ws".into());
        assert_eq!(c.rest_base("binance-usdm", prod), "https://example.test");
        c.rest_endpoints
            .insert("binance-spot".into(), "http://127.0.0.1:8080/".into());
        assert_eq!(c.rest_base("binance-spot", prod), "http://127.0.0.1:8080");
        c = FeedConfig {
            backoff_initial_ms: 10_000,
            backoff_max_ms: 1_000,
            ..FeedConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("backoff_initial_ms"));
    }
}
