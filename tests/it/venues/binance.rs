//! End-to-end parsing of real Binance recordings (fixtures/binance-hftbacktest
//! and fixtures/cryptofeed, credited in fixtures/SOURCES.md): every frame must
//! parse, event counts must equal stream-name counts found by plain string
//! search, depth diffs must chain without a break (the recordings are known to
//! have none), and REST snapshots must line up with the diff stream.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use crate::util::fixture;
use feedwatch::model::{Event, Payload, StreamKind, Venue};
use feedwatch::venues::binance::BinanceAdapter;
use feedwatch::venues::{Adapter, Control};

/// Lines of a gzip fixture.
fn gz_lines(rel: &str) -> Vec<String> {
    let f = std::fs::File::open(fixture(rel)).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| l.unwrap())
        .collect()
}

/// Number of lines containing `needle`, counted independently of the parser.
fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

fn kind_name(k: StreamKind) -> &'static str {
    match k {
        StreamKind::Trade => "trade",
        StreamKind::AggTrade => "aggTrade",
        StreamKind::Bbo => "bookTicker",
        StreamKind::Depth => "depth",
        StreamKind::PartialDepth => "partial",
        StreamKind::Kline(_) => "kline",
        StreamKind::TradeCandles => "trade_candles",
    }
}

struct Recording {
    path: &'static str,
    venue: Venue,
    /// Lowercase stream-name symbol.
    stream_sym: &'static str,
    /// Canonical symbol every event must carry.
    symbol: &'static str,
    /// REST path the snapshot would have been fetched from.
    rest: &'static str,
}

const RECORDINGS: [Recording; 10] = [
    Recording {
        path: "binance-hftbacktest/spot/btcusdt_20240808.gz",
        venue: Venue::BinanceSpot,
        stream_sym: "btcusdt",
        symbol: "BTC/USDT",
        rest: "/api/v3/depth",
    },
    Recording {
        path: "binance-hftbacktest/spot/btcusdt_20240809.gz",
        venue: Venue::BinanceSpot,
        stream_sym: "btcusdt",
        symbol: "BTC/USDT",
        rest: "/api/v3/depth",
    },
    Recording {
        path: "binance-hftbacktest/spot/ethusdt_20240808.gz",
        venue: Venue::BinanceSpot,
        stream_sym: "ethusdt",
        symbol: "ETH/USDT",
        rest: "/api/v3/depth",
    },
    Recording {
        path: "binance-hftbacktest/spot/ethusdt_20240809.gz",
        venue: Venue::BinanceSpot,
        stream_sym: "ethusdt",
        symbol: "ETH/USDT",
        rest: "/api/v3/depth",
    },
    Recording {
        path: "binance-hftbacktest/usdm/btcusdt_20240808.gz",
        venue: Venue::BinanceUsdm,
        stream_sym: "btcusdt",
        symbol: "BTC/USDT",
        rest: "/fapi/v1/depth",
    },
    Recording {
        path: "binance-hftbacktest/usdm/ethusdt_20240808.gz",
        venue: Venue::BinanceUsdm,
        stream_sym: "ethusdt",
        symbol: "ETH/USDT",
        rest: "/fapi/v1/depth",
    },
    Recording {
        path: "binance-hftbacktest/cm/btcusd_perp_20240808.gz",
        venue: Venue::BinanceCoinm,
        stream_sym: "btcusd_perp",
        symbol: "BTC/USD",
        rest: "/dapi/v1/depth",
    },
    Recording {
        path: "binance-hftbacktest/cm/btcusd_perp_20240809.gz",
        venue: Venue::BinanceCoinm,
        stream_sym: "btcusd_perp",
        symbol: "BTC/USD",
        rest: "/dapi/v1/depth",
    },
    Recording {
        path: "binance-hftbacktest/cm/ethusd_perp_20240808.gz",
        venue: Venue::BinanceCoinm,
        stream_sym: "ethusd_perp",
        symbol: "ETH/USD",
        rest: "/dapi/v1/depth",
    },
    Recording {
        path: "binance-hftbacktest/cm/ethusd_perp_20240809.gz",
        venue: Venue::BinanceCoinm,
        stream_sym: "ethusd_perp",
        symbol: "ETH/USD",
        rest: "/dapi/v1/depth",
    },
];

fn check_recording(rec: &Recording) {
    let lines = gz_lines(rec.path);
    assert!(!lines.is_empty(), "{}: empty", rec.path);
    let mut adapter = BinanceAdapter::new(rec.venue);
    let request = format!(
        "{}?symbol={}&limit=1000",
        rec.rest,
        rec.stream_sym.to_ascii_uppercase()
    );
    let mut events: Vec<Event> = Vec::new();
    let mut snapshots = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        let (recv, frame) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("{}:{}: no receive time", rec.path, n + 1));
        assert!(recv.parse::<i64>().is_ok(), "{}:{}", rec.path, n + 1);
        let mut out = Vec::new();
        if frame.starts_with(r#"{"lastUpdateId""#) {
            let c = adapter
                .parse_rest(&request, frame, &mut out)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", rec.path, n + 1));
            assert_eq!(c, Control::Data);
            assert_eq!(out.len(), 1);
            let ev = out.pop().unwrap();
            assert_eq!(ev.stream, StreamKind::Depth);
            assert_eq!(&*ev.symbol, rec.symbol);
            let Payload::Snapshot(s) = ev.payload else {
                panic!("{}:{}: REST line is not a snapshot", rec.path, n + 1)
            };
            snapshots.push(s);
            continue;
        }
        let c = adapter
            .parse_frame(frame, &mut out)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", rec.path, n + 1));
        assert_eq!(c, Control::Data, "{}:{}", rec.path, n + 1);
        assert_eq!(out.len(), 1, "{}:{}", rec.path, n + 1);
        for ev in out {
            assert_eq!(&*ev.symbol, rec.symbol, "{}:{}", rec.path, n + 1);
            *counts.entry(kind_name(ev.stream)).or_default() += 1;
            events.push(ev);
        }
    }

    // Counts per stream type equal stream-name counts in the raw text.
    let s = rec.stream_sym;
    let mut want: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, needle) in [
        ("bookTicker", format!(r#""stream":"{s}@bookTicker""#)),
        ("trade", format!(r#""stream":"{s}@trade""#)),
        ("depth", format!(r#""stream":"{s}@depth@"#)),
    ] {
        let c = count(&lines, &needle);
        if c > 0 {
            want.insert(name, c);
        }
    }
    assert_eq!(counts, want, "{}", rec.path);
    // Every line that is not a stream frame is a REST snapshot.
    let rest_lines = lines.len() - count(&lines, r#""stream":""#);
    assert_eq!(snapshots.len(), rest_lines, "{}", rec.path);
    assert_eq!(
        snapshots.len(),
        usize::from(rec.path.ends_with("0808.gz")),
        "{}: one REST snapshot in each 0808 file",
        rec.path
    );

    // Depth continuity: spot chains U = previous u + 1; futures chain pu =
    // previous u.
    let diffs: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Depth(d) => Some(d),
            _ => None,
        })
        .collect();
    assert!(
        diffs.len() > 100,
        "{}: only {} diffs",
        rec.path,
        diffs.len()
    );
    let futures = rec.venue != Venue::BinanceSpot;
    for w in diffs.windows(2) {
        let (prev, next) = (w[0], w[1]);
        assert!(next.first_id <= next.last_id);
        if futures {
            assert_eq!(next.prev_last_id, Some(prev.last_id), "{}", rec.path);
        } else {
            assert_eq!(next.prev_last_id, None);
            assert_eq!(next.first_id, prev.last_id + 1, "{}", rec.path);
        }
    }

    // Each REST snapshot lines up with one diff (Binance's sync rule).
    for snap in &snapshots {
        let lid = snap.last_id.unwrap();
        let fits = diffs.iter().any(|d| {
            if futures {
                d.first_id <= lid && lid <= d.last_id
            } else {
                d.first_id <= lid + 1 && lid < d.last_id
            }
        });
        assert!(fits, "{}: snapshot {lid} fits no diff", rec.path);
        assert!(snap.bids.len() > 100 && snap.asks.len() > 100);
        assert!(snap.bids.windows(2).all(|w| w[0].price > w[1].price));
        assert!(snap.asks.windows(2).all(|w| w[0].price < w[1].price));
        assert!(snap.bids[0].price < snap.asks[0].price);
    }

    // Best bid never above best ask; trades have positive size.
    for ev in &events {
        match &ev.payload {
            Payload::Quote(q) => assert!(q.bid.price <= q.ask.price, "{}", rec.path),
            Payload::Trade(t) => assert!(t.qty > 0.0 && t.price > 0.0, "{}", rec.path),
            _ => {}
        }
    }
}

#[test]
fn hftbacktest_spot_recordings_parse_completely() {
    for rec in RECORDINGS.iter().filter(|r| r.venue == Venue::BinanceSpot) {
        check_recording(rec);
    }
}

#[test]
fn hftbacktest_usdm_recordings_parse_completely() {
    for rec in RECORDINGS.iter().filter(|r| r.venue == Venue::BinanceUsdm) {
        check_recording(rec);
    }
}

#[test]
fn hftbacktest_coinm_recordings_parse_completely() {
    for rec in RECORDINGS.iter().filter(|r| r.venue == Venue::BinanceCoinm) {
        check_recording(rec);
    }
}

/// Received frames of a cryptofeed capture: `<epoch_s>: <frame>` lines
/// (connection-open `<->` and sent `<-` lines, and blank lines, are skipped).
fn cryptofeed_frames(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with("wss://") && !l.starts_with("https://"))
        .map(|l| l.split_once(": ").unwrap().1.to_string())
        .collect()
}

fn check_cryptofeed(rel: &str, venue: Venue, symbols: &[(&str, &str)]) -> Vec<Event> {
    let frames = cryptofeed_frames(rel);
    let mut adapter = BinanceAdapter::new(venue);
    let mut events = Vec::new();
    for (n, f) in frames.iter().enumerate() {
        let c = adapter
            .parse_frame(f, &mut events)
            .unwrap_or_else(|e| panic!("{rel} frame {}: {e}", n + 1));
        assert_eq!(c, Control::Data);
    }
    assert_eq!(events.len(), frames.len());
    for (kind, suffix) in [
        ("bookTicker", "@bookTicker\""),
        ("aggTrade", "@aggTrade\""),
        ("depth", "@depth@100ms\""),
        ("kline", "@kline_1m\""),
    ] {
        let want = frames
            .iter()
            .filter(|f| f.starts_with(r#"{"stream":""#) && f.contains(suffix))
            .count();
        let got = events
            .iter()
            .filter(|e| kind_name(e.stream) == kind)
            .count();
        assert_eq!(got, want, "{rel}: {kind}");
    }
    // Each event's symbol is the canonical form of its stream's symbol.
    for (f, ev) in frames.iter().zip(&events) {
        let stream_sym = &f[r#"{"stream":""#.len()..f.find('@').unwrap()];
        let canon = symbols
            .iter()
            .find(|(raw, _)| *raw == stream_sym)
            .unwrap_or_else(|| panic!("{rel}: unexpected symbol {stream_sym}"))
            .1;
        assert_eq!(&*ev.symbol, canon);
    }
    events
}

#[test]
fn cryptofeed_binance_spot_capture() {
    let events = check_cryptofeed(
        "cryptofeed/BINANCE.ws.1.0",
        Venue::BinanceSpot,
        &[
            ("nknusdt", "NKN/USDT"),
            ("blzeth", "BLZ/ETH"),
            ("lrcbtc", "LRC/BTC"),
            ("runeeur", "RUNE/EUR"),
        ],
    );
    check_klines("cryptofeed/BINANCE.ws.1.0", &events);
}

#[test]
fn cryptofeed_binance_futures_capture() {
    let events = check_cryptofeed(
        "cryptofeed/BINANCE_FUTURES.ws.1.0",
        Venue::BinanceUsdm,
        &[
            ("sushiusdt", "SUSHI/USDT"),
            ("akrousdt", "AKRO/USDT"),
            ("keepusdt", "KEEP/USDT"),
            ("ctkusdt", "CTK/USDT"),
        ],
    );
    check_klines("cryptofeed/BINANCE_FUTURES.ws.1.0", &events);
}

/// Klines are 1m, and closed exactly when the file says `"x":true`; a closed
/// candle's event time is at or after its close, an open one's before it.
fn check_klines(rel: &str, events: &[Event]) {
    let frames = cryptofeed_frames(rel);
    let want_closed = count(&frames, r#""x":true"#);
    let want_open = count(&frames, r#""x":false"#);
    let mut closed = 0;
    let mut open = 0;
    for ev in events {
        let Payload::Candle(c) = &ev.payload else {
            continue;
        };
        assert_eq!(ev.stream, StreamKind::Kline(60));
        assert_eq!(c.interval_secs, 60);
        assert_eq!(c.open_ns % 60_000_000_000, 0);
        assert!(c.low <= c.open && c.open <= c.high && c.low <= c.close && c.close <= c.high);
        let e = c.exch_ns.unwrap();
        if c.closed {
            closed += 1;
            assert!(e >= c.close_ns(), "{rel}: closed candle before its end");
        } else {
            open += 1;
            assert!(e < c.close_ns(), "{rel}: open candle after its end");
        }
    }
    assert_eq!((closed, open), (want_closed, want_open), "{rel}");
    assert!(open > 0);
}
