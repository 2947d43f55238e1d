//! Kraken adapter tests: the v2 documentation examples (copied into
//! `fixtures/kraken/schemas/`), replies and errors, malformed frames, the
//! CRC32 against real recorded Kraken checksums (cryptofeed's v1 capture
//! `fixtures/kraken/KRAKEN.ws.50.0`), faults injected into that real book
//! stream, and never panicking on any input.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::MILLI;

const DOC_BOOK_SNAPSHOT: &str =
    include_str!("../../../fixtures/kraken/schemas/ws_book_snapshot.json");
const DOC_BOOK_UPDATE: &str = include_str!("../../../fixtures/kraken/schemas/ws_book_update.json");
const DOC_TRADE: &str = include_str!("../../../fixtures/kraken/schemas/ws_trade_update.json");
const DOC_TICKER: &str = include_str!("../../../fixtures/kraken/schemas/ws_ticker_snapshot.json");
const DOC_OHLC: &str = include_str!("../../../fixtures/kraken/schemas/ws_ohlc_update.json");
const DOC_PONG: &str = include_str!("../../../fixtures/kraken/schemas/ws_pong.json");
const DOC_SUBSCRIBED: &str =
    include_str!("../../../fixtures/kraken/schemas/ws_subscribe_response.json");

/// CRC32 of the doc snapshot's own three levels a side, and of the same book
/// after the doc update (bid 105944.20 -> 0.250), both computed with
/// Python's `zlib.crc32` over Kraken's formatted strings.
const DOC_SNAPSHOT_CRC: u32 = 1_302_676_013;
const DOC_AFTER_UPDATE_CRC: u32 = 3_213_632_598;

fn parse(a: &mut KrakenAdapter, frame: &str) -> (Result<Control, ParseError>, Vec<Event>) {
    let mut out = Vec::new();
    let r = a.parse_frame(frame, &mut out);
    (r, out)
}

fn malformed_detail(r: Result<Control, ParseError>) -> String {
    match r {
        Err(ParseError::Malformed { detail, .. }) => detail,
        other => panic!("expected malformed, got {other:?}"),
    }
}

fn integrity(events: &[Event]) -> Vec<&Integrity> {
    events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Integrity(i) => Some(i),
            _ => None,
        })
        .collect()
}

/// The doc snapshot with its checksum replaced by the one its levels give.
fn consistent_doc_snapshot() -> String {
    DOC_BOOK_SNAPSHOT.replace("2439117997", &DOC_SNAPSHOT_CRC.to_string())
}

#[test]
fn doc_example_book_snapshot() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, DOC_BOOK_SNAPSHOT);
    assert_eq!(r, Ok(Control::Data));
    let Payload::Snapshot(s) = &ev[0].payload else {
        panic!("{ev:?}")
    };
    assert_eq!(&*ev[0].symbol, "BTC/USD");
    assert_eq!(ev[0].stream, StreamKind::Depth);
    assert_eq!(s.last_id, None);
    assert_eq!(
        s.bids,
        [
            Level {
                price: 105944.2,
                qty: 0.136
            },
            Level {
                price: 105935.4,
                qty: 0.024
            },
            Level {
                price: 105920.1,
                qty: 0.052
            }
        ]
    );
    assert_eq!(
        s.asks[2],
        Level {
            price: 105955.8,
            qty: 0.003
        }
    );
    // 2023-10-06T17:35:55.440295Z; `date -u -d 2023-10-06T17:35:55Z +%s`
    // is 1696613755.
    assert_eq!(s.exch_ns, Some(1_696_613_755_440_295_000));
    // The doc example's checksum was not computed over its three levels a
    // side (the example is a shortened book): the adapter must say so.
    assert_eq!(
        integrity(&ev),
        [&Integrity::Checksum {
            expected: 2_439_117_997,
            computed: DOC_SNAPSHOT_CRC
        }]
    );
}

#[test]
fn doc_example_book_update_applies_and_is_checked() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, &consistent_doc_snapshot());
    assert_eq!(r, Ok(Control::Data));
    assert!(integrity(&ev).is_empty(), "{ev:?}");
    // The doc update, with the checksum its effect really gives.
    let update = DOC_BOOK_UPDATE.replace("2114181697", &DOC_AFTER_UPDATE_CRC.to_string());
    let (r, ev) = parse(&mut a, &update);
    assert_eq!(r, Ok(Control::Data));
    assert_eq!(ev.len(), 1, "{ev:?}");
    let Payload::Depth(d) = &ev[0].payload else {
        panic!("{ev:?}")
    };
    assert_eq!((d.first_id, d.last_id, d.prev_last_id), (0, 0, None));
    assert_eq!(
        d.bids,
        [Level {
            price: 105944.2,
            qty: 0.25
        }]
    );
    assert!(d.asks.is_empty());
    // The doc update as published carries a checksum that fits neither
    // book: reported once, then checks pause until the next snapshot.
    let mut a = KrakenAdapter::new();
    let _ = parse(&mut a, &consistent_doc_snapshot());
    let (_, ev) = parse(&mut a, DOC_BOOK_UPDATE);
    assert_eq!(
        integrity(&ev),
        [&Integrity::Checksum {
            expected: 2_114_181_697,
            computed: DOC_AFTER_UPDATE_CRC
        }]
    );
    let (_, ev) = parse(&mut a, DOC_BOOK_UPDATE);
    assert!(integrity(&ev).is_empty());
    assert_eq!(ev.len(), 1);
    let (_, ev) = parse(&mut a, &consistent_doc_snapshot());
    assert!(integrity(&ev).is_empty());
}

#[test]
fn book_update_before_any_snapshot_is_passed_on_unchecked() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, DOC_BOOK_UPDATE);
    assert_eq!(r, Ok(Control::Data));
    assert_eq!(ev.len(), 1);
    assert!(matches!(ev[0].payload, Payload::Depth(_)));
}

#[test]
fn checksums_can_be_turned_off() {
    let mut a = KrakenAdapter::new().verify_checksums(false);
    let (_, ev) = parse(&mut a, DOC_BOOK_SNAPSHOT);
    assert_eq!(ev.len(), 1);
    assert_eq!(a.book_depth("BTC/USD"), None);
}

#[test]
fn book_subscribe_reply_sets_the_truncation_depth() {
    // Modelled on the doc subscribe reply, for the book channel.
    let ack = r#"{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z","req_id":1}"#;
    let mut a = KrakenAdapter::new();
    assert_eq!(parse(&mut a, ack).0, Ok(Control::Ack));
    let _ = parse(&mut a, &consistent_doc_snapshot());
    assert_eq!(a.book_depth("BTC/USD"), Some(25));
    // Without a reply, the configured depth; a bigger snapshot raises it.
    let mut a = KrakenAdapter::with_book_depth(10);
    let _ = parse(&mut a, &consistent_doc_snapshot());
    assert_eq!(a.book_depth("BTC/USD"), Some(10));
    let bad = ack.replace("\"depth\":25", "\"depth\":7");
    let d = malformed_detail(parse(&mut a, &bad).0);
    assert!(d.contains("result.depth"), "{d}");
}

#[test]
fn levels_falling_out_of_the_subscribed_depth_leave_the_book() {
    // Hand-made frames modelled on the doc book messages, depth 10: an
    // insert at the top pushes the 10th bid (91.5) out of scope, so after
    // the top bid is deleted only 9 bids remain (Kraken sends no delete for
    // 91.5). Expected checksums from Python zlib.crc32 over the books
    // described here; 175008236 would be the book that kept 91.5.
    let bids: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"price":{}.5,"qty":1.0}}"#, 100 - i))
        .collect();
    let snap = format!(
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"ETH/USD","bids":[{}],"asks":[{{"price":101.0,"qty":2.0}}],"checksum":2751440542}}]}}"#,
        bids.join(",")
    );
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, &snap);
    assert_eq!(r, Ok(Control::Data));
    assert!(integrity(&ev).is_empty(), "{ev:?}");
    let upd = |bids: &str, crc: u32| {
        format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"ETH/USD","bids":[{bids}],"asks":[],"checksum":{crc},"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}"#
        )
    };
    let (r, ev) = parse(&mut a, &upd(r#"{"price":100.7,"qty":3.0}"#, 1_299_383_290));
    assert_eq!(r, Ok(Control::Data));
    assert!(integrity(&ev).is_empty(), "{ev:?}");
    let (r, ev) = parse(&mut a, &upd(r#"{"price":100.5,"qty":0.0}"#, 1_763_192_785));
    assert_eq!(r, Ok(Control::Data));
    assert!(integrity(&ev).is_empty(), "{ev:?}");
}

#[test]
fn doc_example_trade_update() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, DOC_TRADE);
    assert_eq!(r, Ok(Control::Data));
    assert_eq!(ev.len(), 2);
    let trades: Vec<&Trade> = ev
        .iter()
        .map(|e| match &e.payload {
            Payload::Trade(t) => t,
            p => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(ev[0].stream, StreamKind::Trade);
    assert_eq!(trades[0].price, 105944.2);
    assert_eq!(trades[0].qty, 0.00027625);
    assert_eq!(trades[0].id, Some(10_218_208));
    assert_eq!(trades[1].id, Some(10_218_209));
    assert_eq!(trades[0].exch_ns, Some(1_696_613_755_440_295_000));
    assert_eq!(trades[1].exch_ns, Some(1_696_613_756_123_456_000));
    // The snapshot of past trades is history: acknowledged, not emitted.
    let snap = DOC_TRADE.replace("\"update\"", "\"snapshot\"");
    assert_eq!(parse(&mut a, &snap), (Ok(Control::Ack), vec![]));
}

#[test]
fn doc_example_ticker_snapshot() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, DOC_TICKER);
    assert_eq!(r, Ok(Control::Data));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].stream, StreamKind::Bbo);
    let Payload::Quote(q) = &ev[0].payload else {
        panic!("{ev:?}")
    };
    assert_eq!(
        q.bid,
        Level {
            price: 105944.2,
            qty: 2.5
        }
    );
    assert_eq!(
        q.ask,
        Level {
            price: 105944.3,
            qty: 3.2
        }
    );
    // 2022-12-25T09:30:59Z is 1671960659 s.
    assert_eq!(q.exch_ns, Some(1_671_960_659_123_456_000));
}

fn candles(ev: &[Event]) -> Vec<&Candle> {
    ev.iter()
        .map(|e| match &e.payload {
            Payload::Candle(c) => c,
            p => panic!("{p:?}"),
        })
        .collect()
}

#[test]
fn doc_example_ohlc_update_is_forming_until_a_later_interval_starts() {
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, DOC_OHLC);
    assert_eq!(r, Ok(Control::Data));
    assert_eq!(ev[0].stream, StreamKind::Kline(60));
    let c = candles(&ev);
    assert_eq!(c.len(), 1);
    // 2023-10-04T16:25:00Z is 1696436700 s.
    assert_eq!(c[0].open_ns, 1_696_436_700 * SECOND);
    assert_eq!(c[0].interval_secs, 60);
    assert_eq!(
        (c[0].open, c[0].high, c[0].low, c[0].close),
        (106038.2, 106044.3, 106038.1, 106040.1)
    );
    assert_eq!(c[0].volume, 30927.68066226);
    assert_eq!(c[0].trades, Some(12));
    assert_eq!(c[0].quote_volume, Some(106039.6 * 30927.68066226));
    assert!(!c[0].closed);
    // Same interval again (hand-edited close): still forming, no close.
    let again = DOC_OHLC.replace("\"close\": 106040.1", "\"close\": 106041.0");
    let (_, ev) = parse(&mut a, &again);
    let c = candles(&ev);
    assert_eq!(c.len(), 1);
    assert!(!c[0].closed);
    // The next minute starts: the last values of 16:25 close first.
    let next = DOC_OHLC.replace("16:25:00", "16:26:00");
    let (_, ev) = parse(&mut a, &next);
    let c = candles(&ev);
    assert_eq!(c.len(), 2);
    assert!(c[0].closed);
    assert_eq!(c[0].open_ns, 1_696_436_700 * SECOND);
    assert_eq!(c[0].close, 106041.0);
    assert!(!c[1].closed);
    assert_eq!(c[1].open_ns, 1_696_436_760 * SECOND);
    // A late update of the closed 16:25 candle is passed on as closed.
    let (_, ev) = parse(&mut a, DOC_OHLC);
    let c = candles(&ev);
    assert_eq!(c.len(), 1);
    assert!(c[0].closed);
    assert_eq!(c[0].open_ns, 1_696_436_700 * SECOND);
}

#[test]
fn ohlc_snapshot_closes_all_but_the_newest_interval() {
    // Two doc ohlc items (the second moved to 16:26) as a snapshot.
    let item = DOC_OHLC
        .split_once('[')
        .and_then(|(_, r)| r.rsplit_once(']'))
        .map(|(i, _)| i.to_string())
        .unwrap();
    let later = item.replace("16:25:00", "16:26:00");
    let snap = format!(r#"{{"channel":"ohlc","type":"snapshot","data":[{item},{later}]}}"#);
    let mut a = KrakenAdapter::new();
    let (r, ev) = parse(&mut a, &snap);
    assert_eq!(r, Ok(Control::Data));
    let c = candles(&ev);
    assert_eq!(c.len(), 2);
    assert!(c[0].closed && c[0].open_ns == 1_696_436_700 * SECOND);
    assert!(!c[1].closed && c[1].open_ns == 1_696_436_760 * SECOND);
    // The newest was remembered: the next interval closes it.
    let (_, ev) = parse(&mut a, &DOC_OHLC.replace("16:25:00", "16:27:00"));
    let c = candles(&ev);
    assert_eq!(c.len(), 2);
    assert!(c[0].closed && c[0].open_ns == 1_696_436_760 * SECOND);
}

#[test]
fn doc_example_control_messages() {
    let mut a = KrakenAdapter::new();
    assert_eq!(parse(&mut a, DOC_PONG), (Ok(Control::Heartbeat), vec![]));
    assert_eq!(parse(&mut a, DOC_SUBSCRIBED), (Ok(Control::Ack), vec![]));
    // Modelled on the docs: heartbeat, status, unsubscribe reply.
    assert_eq!(
        parse(&mut a, r#"{"channel":"heartbeat"}"#),
        (Ok(Control::Heartbeat), vec![])
    );
    let status = r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.4"}]}"#;
    assert_eq!(parse(&mut a, status), (Ok(Control::Ack), vec![]));
    let unsub = r#"{"method":"unsubscribe","result":{"channel":"ticker","symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#;
    assert_eq!(parse(&mut a, unsub), (Ok(Control::Ack), vec![]));
}

#[test]
fn error_replies_are_unknown_with_the_venue_message() {
    // Modelled on Kraken's documented subscribe error reply.
    let mut a = KrakenAdapter::new();
    let err = r#"{"error":"Currency pair not supported FOO/USD","method":"subscribe","success":false,"symbol":"FOO/USD","time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#;
    match parse(&mut a, err).0 {
        Err(ParseError::Unknown { detail, .. }) => {
            assert!(
                detail.contains("Currency pair not supported FOO/USD"),
                "{detail}"
            );
            assert!(detail.contains("subscribe"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let bad_ping = r#"{"error":"Malformed request","method":"ping","success":false}"#;
    assert!(
        matches!(parse(&mut a, bad_ping).0, Err(ParseError::Unknown { detail, .. }) if detail.contains("Malformed request"))
    );
    let other_channel =
        r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[]}}"#;
    assert!(
        matches!(parse(&mut a, other_channel).0, Err(ParseError::Unknown { detail, .. }) if detail.contains("instrument"))
    );
    assert!(matches!(
        parse(&mut a, "{}").0,
        Err(ParseError::Unknown { .. })
    ));
    assert!(matches!(
        a.parse_rest("/0/public/Depth?pair=XBTUSD", "{}", &mut vec![]),
        Err(ParseError::Unknown { .. })
    ));
}

#[test]
fn malformed_frames_name_the_field() {
    let mut a = KrakenAdapter::new();
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "expected ident"),
        (
            DOC_BOOK_UPDATE.replace("\"type\": \"update\",", ""),
            "`type`",
        ),
        (DOC_BOOK_UPDATE.replace("\"update\"", "\"delta\""), "`type`"),
        (
            DOC_BOOK_UPDATE.replace("\"price\": 105944.20", "\"price\": -105944.20"),
            "`data[0].bids[0].price`",
        ),
        (
            DOC_BOOK_UPDATE.replace("\"qty\": 0.250", "\"qty\": 2.5e-1"),
            "`data[0].bids[0].qty`",
        ),
        (
            DOC_BOOK_UPDATE.replace("\"qty\": 0.250", "\"qty\": \"abc\""),
            "`data[0].bids[0].qty`",
        ),
        (
            DOC_BOOK_UPDATE.replace("\"price\": 105944.20, ", ""),
            "`price`",
        ),
        (DOC_BOOK_UPDATE.replace("2114181697", "-1"), "`checksum`"),
        (
            DOC_BOOK_UPDATE.replace("2023-10-06T17:35:55.440295Z", "yesterday"),
            "`data[0].timestamp`",
        ),
        (
            DOC_BOOK_UPDATE.replace("BTC/USD", "BTCUSD"),
            "`data[0].symbol`",
        ),
        (
            DOC_TRADE.replace("\"trade_id\": 10218209", "\"trade_id\": \"x\""),
            "`trade_id`",
        ),
        (
            DOC_TRADE.replace("\"price\": 105910.50", "\"price\": true"),
            "`price`",
        ),
        (
            DOC_TRADE.replace("\"trade_id\": 10218209,", ""),
            "`trade_id`",
        ),
        (
            DOC_TICKER.replace("\"bid_qty\": 2.5", "\"bid_qty\": null"),
            "`bid_qty`",
        ),
        (
            DOC_OHLC.replace("\"interval\": 1", "\"interval\": 0"),
            "`data[0].interval`",
        ),
        (
            DOC_OHLC.replace("2023-10-04T16:25:00.000000000Z", "2023-10-04"),
            "`data[0].interval_begin`",
        ),
        (r#"{"channel":"book","type":"update"}"#.into(), "`data`"),
        (
            r#"{"channel":"book","type":"update","data":{}}"#.into(),
            "`book` data",
        ),
    ];
    for (frame, field) in &cases {
        let docs = [DOC_BOOK_UPDATE, DOC_TRADE, DOC_TICKER, DOC_OHLC];
        assert!(
            !docs.contains(&frame.as_str()),
            "{field}: the edit did not apply"
        );
        let d = malformed_detail(parse(&mut a, frame).0);
        assert!(d.contains(field), "{field}: {d}");
    }
    // Nothing was pushed, and a failed frame did not touch the book.
    let mut a = KrakenAdapter::new();
    let _ = parse(&mut a, &consistent_doc_snapshot());
    let two = DOC_BOOK_UPDATE.replace(
        "\"data\": [",
        "\"data\": [{\"symbol\":\"BTC/USD\",\"bids\":[{\"price\":105935.40,\"qty\":0}],\"checksum\":1},",
    );
    let two = two.replace("\"qty\": 0.250", "\"qty\": \"bad\"");
    let mut out = Vec::new();
    assert!(a.parse_frame(&two, &mut out).is_err());
    assert!(out.is_empty());
    let update = DOC_BOOK_UPDATE.replace("2114181697", &DOC_AFTER_UPDATE_CRC.to_string());
    let (_, ev) = parse(&mut a, &update);
    assert!(
        integrity(&ev).is_empty(),
        "the failed frame changed the book: {ev:?}"
    );
}

// ---- Real Kraken checksums (cryptofeed v1 capture, 2021-04-17) ----

fn v1_capture() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/kraken/KRAKEN.ws.50.0"
    );
    std::fs::read_to_string(path).unwrap()
}

/// The received frames of a cryptofeed capture: (receive time, frame).
fn received(capture: &str) -> Vec<(f64, &str)> {
    capture
        .lines()
        .filter(|l| !l.starts_with("wss://") && !l.trim().is_empty())
        .map(|l| {
            let (t, f) = l.split_once(": ").unwrap();
            (t.parse().unwrap(), f)
        })
        .collect()
}

/// One v1 book message: pair, whether a snapshot, asks and bids as
/// (price, qty) texts in wire order, and the checksum if any.
struct V1Book {
    pair: String,
    snapshot: bool,
    asks: Vec<(String, String)>,
    bids: Vec<(String, String)>,
    checksum: Option<u32>,
}

fn v1_book(frame: &str) -> Option<V1Book> {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    let arr = v.as_array()?;
    let name = arr.get(arr.len().checked_sub(2)?)?.as_str()?;
    if !name.starts_with("book") {
        return None;
    }
    let mut b = V1Book {
        pair: arr.last()?.as_str()?.to_string(),
        snapshot: false,
        asks: vec![],
        bids: vec![],
        checksum: None,
    };
    let levels = |x: &serde_json::Value| -> Vec<(String, String)> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let l = l.as_array().unwrap();
                (
                    l[0].as_str().unwrap().to_string(),
                    l[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    for part in &arr[1..arr.len() - 2] {
        let o = part.as_object().unwrap();
        for (k, x) in o {
            match k.as_str() {
                "as" => {
                    b.snapshot = true;
                    b.asks = levels(x);
                }
                "bs" => {
                    b.snapshot = true;
                    b.bids = levels(x);
                }
                "a" => b.asks.extend(levels(x)),
                "b" => b.bids.extend(levels(x)),
                "c" => b.checksum = Some(x.as_str().unwrap().parse().unwrap()),
                other => panic!("v1 book key {other}"),
            }
        }
    }
    Some(b)
}

/// A test-side book, independent of the adapter's: price text keyed by
/// a decimal-exact sort key, truncated to the recording's depth (1000).
#[derive(Default)]
struct RefBook {
    asks: BTreeMap<(u64, u64), (String, String)>,
    bids: BTreeMap<(u64, u64), (String, String)>,
}

/// (integer part, fraction scaled to 18 digits): exact order for decimals.
fn key(p: &str) -> (u64, u64) {
    let (i, f) = p.split_once('.').unwrap_or((p, ""));
    let f = format!("{f:0<18}");
    (i.parse().unwrap(), f[..18].parse().unwrap())
}

impl RefBook {
    fn apply(&mut self, b: &V1Book) {
        if b.snapshot {
            *self = RefBook::default();
        }
        for (side, levels, ask) in [
            (&mut self.asks, &b.asks, true),
            (&mut self.bids, &b.bids, false),
        ] {
            for (p, q) in levels {
                if q.bytes().all(|c| c == b'0' || c == b'.') {
                    side.remove(&key(p));
                } else {
                    side.insert(key(p), (p.clone(), q.clone()));
                }
                while side.len() > 1000 {
                    let worst = if ask {
                        *side.keys().next_back().unwrap()
                    } else {
                        *side.keys().next().unwrap()
                    };
                    side.remove(&worst);
                }
            }
        }
    }

    fn crc(&self) -> u32 {
        checksum(
            self.asks.values().map(|(p, q)| (p.as_str(), q.as_str())),
            self.bids
                .values()
                .rev()
                .map(|(p, q)| (p.as_str(), q.as_str())),
        )
    }
}

#[test]
fn real_v1_checksums_match_books_rebuilt_from_the_recording() {
    let capture = v1_capture();
    let mut books: BTreeMap<String, RefBook> = BTreeMap::new();
    let (mut checked, mut snapshots) = (0, 0);
    for (_, frame) in received(&capture) {
        let Some(b) = v1_book(frame) else { continue };
        snapshots += usize::from(b.snapshot);
        let book = books.entry(b.pair.clone()).or_default();
        book.apply(&b);
        if let Some(c) = b.checksum {
            assert_eq!(book.crc(), c, "{} after {frame}", b.pair);
            checked += 1;
        }
    }
    assert_eq!(snapshots, 10);
    assert_eq!(
        checked, 4269,
        "every real checksum in the capture is checked"
    );
}

/// A v1 book message as the v2 `book` message carrying the same levels,
/// texts unchanged (as JSON numbers), and the same checksum.
fn to_v2(b: &V1Book, recv_s: f64) -> String {
    let side = |levels: &[(String, String)]| {
        levels
            .iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let checksum = b
        .checksum
        .map(|c| format!(r#","checksum":{c}"#))
        .unwrap_or_default();
    let ts = crate::model::format_rfc3339_ms((recv_s * 1000.0) as i64 * MILLI);
    format!(
        r#"{{"channel":"book","type":"{}","data":[{{"symbol":"{}","bids":[{}],"asks":[{}]{checksum},"timestamp":"{ts}"}}]}}"#,
        if b.snapshot { "snapshot" } else { "update" },
        b.pair,
        side(&b.bids),
        side(&b.asks),
    )
}

/// The real capture's book stream as v2 frames, after a v2 subscribe reply
/// for its depth (1000) per pair.
fn v2_stream() -> Vec<(String, Option<u32>)> {
    let capture = v1_capture();
    let books: Vec<(V1Book, f64)> = received(&capture)
        .into_iter()
        .filter_map(|(t, f)| v1_book(f).map(|b| (b, t)))
        .collect();
    let mut frames = Vec::new();
    for (b, _) in books.iter().filter(|(b, _)| b.snapshot) {
        frames.push((
            format!(
                r#"{{"method":"subscribe","result":{{"channel":"book","depth":1000,"snapshot":true,"symbol":"{}"}},"success":true}}"#,
                b.pair
            ),
            None,
        ));
    }
    for (b, t) in &books {
        frames.push((to_v2(b, *t), b.checksum));
    }
    frames
}

#[test]
fn real_book_stream_as_v2_passes_every_checksum() {
    let mut a = KrakenAdapter::new();
    let mut out = Vec::new();
    let (mut diffs, mut snaps) = (0, 0);
    for (frame, _) in v2_stream() {
        out.clear();
        a.parse_frame(&frame, &mut out).unwrap();
        assert!(integrity(&out).is_empty(), "{frame}");
        for e in &out {
            match e.payload {
                Payload::Depth(_) => diffs += 1,
                Payload::Snapshot(_) => snaps += 1,
                _ => {}
            }
        }
    }
    assert_eq!((snaps, diffs), (10, 4269));
    assert_eq!(a.book_depth("BTC/CHF"), Some(1000));
    assert_eq!(a.book_depth("ADA/BTC"), Some(1000));
}

/// Faults injected by code into the real stream: the check must catch them.
#[test]
fn injected_qty_change_and_dropped_update_fail_the_checksum() {
    let frames = v2_stream();
    // Injected: one real update's first quantity altered by one digit.
    let at = frames
        .iter()
        .position(|(f, c)| {
            c.is_some() && f.contains("XMR/USD") && f.contains(r#""qty":5.00000000"#)
        })
        .unwrap();
    let mut a = KrakenAdapter::new();
    let mut faults = Vec::new();
    for (i, (frame, _)) in frames.iter().enumerate() {
        let frame = if i == at {
            frame.replacen(r#""qty":5.00000000"#, r#""qty":5.00000001"#, 1)
        } else {
            frame.clone()
        };
        let mut out = Vec::new();
        a.parse_frame(&frame, &mut out).unwrap();
        for e in &out {
            if let Payload::Integrity(f) = &e.payload {
                faults.push((i, e.symbol.to_string(), f.clone()));
            }
        }
    }
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!((faults[0].0, faults[0].1.as_str()), (at, "XMR/USD"));
    assert!(
        matches!(faults[0].2, Integrity::Checksum { expected, computed } if Some(expected) == frames[at].1 && computed != expected)
    );

    // Injected: one real update dropped (every 100th). Only the dropped
    // update's pair is replayed: books of other pairs are independent.
    let (mut caught, mut dropped, mut visibles) = (0, 0, 0);
    let checked: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, (_, c))| c.is_some())
        .map(|(i, _)| i)
        .collect();
    for &drop in checked.iter().step_by(250) {
        dropped += 1;
        let pair = pair_of(&frames[drop].0);
        // Whether the dropped update changed the top 10, seen from the real
        // checksums alone: the pair's previous checksum differs from it.
        let previous = frames[..drop]
            .iter()
            .rev()
            .find(|(f, c)| c.is_some() && pair_of(f) == pair)
            .and_then(|(_, c)| *c);
        let visible = previous.is_some() && previous != frames[drop].1;
        visibles += usize::from(visible);
        let mut a = KrakenAdapter::new();
        let mut first = None;
        for (i, (frame, _)) in frames.iter().enumerate() {
            if i == drop || pair_of(frame) != pair {
                continue;
            }
            let mut out = Vec::new();
            a.parse_frame(frame, &mut out).unwrap();
            if first.is_none() && !integrity(&out).is_empty() {
                first = Some(i);
            }
        }
        // Caught at the pair's next update, unless the dropped update only
        // touched levels below the top 10 (which the checksum cannot see).
        if let Some(i) = first {
            assert!(i > drop);
            caught += 1;
        }
        assert!(
            first.is_some() || !visible,
            "dropped frame {drop} changed the top 10 unseen"
        );
    }
    assert_eq!(dropped, 18);
    assert!(
        visibles >= 10,
        "only {visibles} of {dropped} drops change the top 10"
    );
    assert!(caught >= visibles, "{caught} caught, {visibles} visible");
}

/// The `symbol` of a v2 book frame or subscribe reply built above.
fn pair_of(frame: &str) -> &str {
    frame
        .split_once(r#""symbol":""#)
        .and_then(|(_, r)| r.split_once('"'))
        .map_or("", |(p, _)| p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&bytes);
        let mut a = KrakenAdapter::new();
        let mut out = Vec::new();
        let _ = a.parse_frame(&s, &mut out);
    }

    #[test]
    fn mutated_doc_and_real_frames_never_panic(
        which in 0usize..9,
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let real = r#"{"channel":"book","type":"update","data":[{"symbol":"XMR/USD","bids":[{"price":354.15000000,"qty":5.00000000}],"asks":[],"checksum":2583817756,"timestamp":"2021-04-17T16:48:54.213Z"}]}"#;
        let docs = [DOC_BOOK_SNAPSHOT, DOC_BOOK_UPDATE, DOC_TRADE, DOC_TICKER, DOC_OHLC, DOC_PONG, DOC_SUBSCRIBED, real, r#"{"channel":"heartbeat"}"#];
        let base = docs[which].as_bytes();
        let mut m = base.to_vec();
        let i = at.index(m.len());
        m[i] = byte;
        m.truncate(cut.index(m.len() + 1).max(1));
        let s = String::from_utf8_lossy(&m);
        let mut a = KrakenAdapter::new();
        let mut out = Vec::new();
        let _ = a.parse_frame(&consistent_doc_snapshot(), &mut out);
        let _ = a.parse_frame(&s, &mut out);
        let _ = a.parse_frame(DOC_BOOK_UPDATE, &mut out);
    }
}
