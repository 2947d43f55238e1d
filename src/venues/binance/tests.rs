//! Unit tests of the Binance adapter: one or more real frames per message
//! type (copied verbatim from the recordings named beside each constant and
//! credited in fixtures/SOURCES.md), doc-example messages where the
//! recordings have none (named as such), and injected faults.

use super::*;
use proptest::prelude::*;

// --- real frames -----------------------------------------------------------

/// recordings/binance-hftbacktest/spot/btcusdt_20240808.gz, line 2200.
const SPOT_DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161276318,"s":"BTCUSDT","U":50093247956,"u":50093247956,"b":[["61828.09000000","3.61811000"]],"a":[]}}"#;
/// recordings/binance-hftbacktest/spot/btcusdt_20240808.gz, line 3.
const SPOT_BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#;
/// recordings/binance-hftbacktest/spot/btcusdt_20240808.gz, line 4.
const SPOT_TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;
/// recordings/binance-hftbacktest/usdm/btcusdt_20240808.gz, line 93951.
const USDM_DEPTH: &str = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161600370,"T":1723161600319,"s":"BTCUSDT","U":5123134944963,"u":5123134944963,"pu":5123134735497,"b":[["5000.00","2.321"]],"a":[]}}"#;
/// recordings/binance-hftbacktest/usdm/btcusdt_20240808.gz, line 2.
const USDM_BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
/// recordings/binance-hftbacktest/usdm/btcusdt_20240808.gz, line 3.
const USDM_TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#;
/// recordings/binance-hftbacktest/cm/btcusd_perp_20240808.gz, line 15.
const CM_DEPTH: &str = r#"{"stream":"btcusd_perp@depth@0ms","data":{"e":"depthUpdate","E":1723161257592,"T":1723161257584,"s":"BTCUSD_PERP","ps":"BTCUSD","U":1007198633112,"u":1007198633201,"pu":1007198633084,"b":[],"a":[["61802.0","0"]]}}"#;
/// recordings/binance-hftbacktest/cm/btcusd_perp_20240808.gz, line 4.
const CM_BOOK_TICKER: &str = r#"{"stream":"btcusd_perp@bookTicker","data":{"u":1007198632021,"e":"bookTicker","s":"BTCUSD_PERP","ps":"BTCUSD","b":"61804.7","B":"35","a":"61804.8","A":"1645","T":1723161257465,"E":1723161257476}}"#;
/// recordings/binance-hftbacktest/cm/btcusd_perp_20240808.gz, line 21.
const CM_TRADE: &str = r#"{"stream":"btcusd_perp@trade","data":{"e":"trade","E":1723161257687,"T":1723161257679,"s":"BTCUSD_PERP","t":849714402,"p":"61804.8","q":"4","X":"MARKET","m":false}}"#;
/// recordings/cryptofeed/BINANCE.ws.1.0, line 110 (frame part).
const SPOT_AGG_TRADE: &str = r#"{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998523963,"s":"NKNUSDT","a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}}"#;
/// recordings/cryptofeed/BINANCE_FUTURES.ws.1.0, line 22 (frame part).
const USDM_AGG_TRADE: &str = r#"{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}}"#;
/// recordings/cryptofeed/BINANCE_FUTURES.ws.1.0, line 938 (frame part): a closed kline.
const USDM_KLINE_CLOSED: &str = r#"{"stream":"sushiusdt@kline_1m","data":{"e":"kline","E":1626992760203,"s":"SUSHIUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"SUSHIUSDT","i":"1m","f":126902874,"L":126902986,"o":"7.6080","c":"7.6170","h":"7.6180","l":"7.6070","v":"3005","n":113,"x":true,"q":"22875.8590","V":"1900","Q":"14464.6960","B":"0"}}}"#;
/// recordings/cryptofeed/BINANCE.ws.1.0 (frame part of the `lrcbtc@kline_1m` line): an open kline.
const SPOT_KLINE_OPEN: &str = r#"{"stream":"lrcbtc@kline_1m","data":{"e":"kline","E":1633998534486,"s":"LRCBTC","k":{"t":1633998480000,"T":1633998539999,"s":"LRCBTC","i":"1m","f":12368013,"L":12368013,"o":"0.00000638","c":"0.00000638","h":"0.00000638","l":"0.00000638","v":"177.00000000","n":1,"x":false,"q":"0.00112926","V":"177.00000000","Q":"0.00112926","B":"0"}}}"#;

// --- doc examples (written from Binance's documentation, not recorded) -----

/// Doc example: spot partial depth payload from web-socket-streams.md
/// ("Partial Book Depth Streams"), wrapped in a combined-stream envelope.
const DOC_SPOT_PARTIAL: &str = r#"{"stream":"bnbbtc@depth5@100ms","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}}"#;
/// Doc example: futures partial depth, the depthUpdate shape of
/// schemas/binance/futures/market_data_json/depth_update_stream.json on a
/// `@depth5` stream.
const DOC_USDM_PARTIAL: &str = r#"{"stream":"btcusdt@depth5","data":{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}"#;
/// Doc example: raw (un-enveloped) spot aggTrade from web-socket-streams.md.
const DOC_RAW_AGG_TRADE: &str = r#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#;
/// Doc example: raw spot kline from web-socket-streams.md.
const DOC_RAW_KLINE: &str = r#"{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#;
/// Doc example: raw spot bookTicker from web-socket-streams.md.
const DOC_RAW_BOOK_TICKER: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
/// Doc example: REST depth response (schemas/binance/spot/http_json/depth_response.json).
const DOC_REST_DEPTH: &str = r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#;

fn parse(venue: Venue, frame: &str) -> Result<(Control, Vec<Event>), ParseError> {
    let mut a = BinanceAdapter::new(venue);
    let mut out = Vec::new();
    let c = a.parse_frame(frame, &mut out)?;
    Ok((c, out))
}

fn one(venue: Venue, frame: &str) -> Event {
    let (c, out) = parse(venue, frame).unwrap();
    assert_eq!(c, Control::Data);
    assert_eq!(out.len(), 1);
    out.into_iter().next().unwrap()
}

fn malformed(venue: Venue, frame: &str) -> String {
    match parse(venue, frame) {
        Err(ParseError::Malformed { detail, .. }) => detail,
        other => panic!("expected Malformed for {frame}, got {other:?}"),
    }
}

fn unknown(venue: Venue, frame: &str) -> String {
    match parse(venue, frame) {
        Err(ParseError::Unknown { detail, .. }) => detail,
        other => panic!("expected Unknown for {frame}, got {other:?}"),
    }
}

fn lv(price: f64, qty: f64) -> Level {
    Level { price, qty }
}

#[test]
fn spot_depth_diff() {
    let ev = one(Venue::BinanceSpot, SPOT_DEPTH);
    assert_eq!(&*ev.symbol, "BTC/USDT");
    assert_eq!(ev.stream, StreamKind::Depth);
    assert_eq!(
        ev.payload,
        Payload::Depth(DepthDiff {
            first_id: 50093247956,
            last_id: 50093247956,
            prev_last_id: None,
            bids: vec![lv(61828.09, 3.61811)],
            asks: vec![],
            exch_ns: Some(1_723_161_276_318_000_000),
        })
    );
}

#[test]
fn futures_depth_diff_carries_pu_and_uses_event_time() {
    let ev = one(Venue::BinanceUsdm, USDM_DEPTH);
    assert_eq!(&*ev.symbol, "BTC/USDT");
    let Payload::Depth(d) = ev.payload else {
        panic!()
    };
    assert_eq!(d.first_id, 5123134944963);
    assert_eq!(d.last_id, 5123134944963);
    assert_eq!(d.prev_last_id, Some(5123134735497));
    assert_eq!(d.bids, vec![lv(5000.0, 2.321)]);
    assert!(d.asks.is_empty());
    // E (1723161600370), not T (1723161600319).
    assert_eq!(d.exch_ns, Some(1_723_161_600_370_000_000));

    let ev = one(Venue::BinanceCoinm, CM_DEPTH);
    assert_eq!(&*ev.symbol, "BTC/USD");
    let Payload::Depth(d) = ev.payload else {
        panic!()
    };
    assert_eq!(d.prev_last_id, Some(1007198633084));
    assert_eq!(d.asks, vec![lv(61802.0, 0.0)]);
}

#[test]
fn book_tickers() {
    let ev = one(Venue::BinanceSpot, SPOT_BOOK_TICKER);
    assert_eq!(ev.stream, StreamKind::Bbo);
    assert_eq!(
        ev.payload,
        Payload::Quote(Quote {
            bid: lv(61837.63, 3.78826),
            ask: lv(61837.64, 1.54698),
            update_id: Some(50093239212),
            exch_ns: None,
        })
    );
    let ev = one(Venue::BinanceUsdm, USDM_BOOK_TICKER);
    let Payload::Quote(q) = ev.payload else {
        panic!()
    };
    assert_eq!(q.bid, lv(61800.2, 2.507));
    assert_eq!(q.ask, lv(61800.3, 2.51));
    assert_eq!(q.exch_ns, Some(1_723_161_256_313_000_000));
    let ev = one(Venue::BinanceCoinm, CM_BOOK_TICKER);
    assert_eq!(&*ev.symbol, "BTC/USD");
    let Payload::Quote(q) = ev.payload else {
        panic!()
    };
    assert_eq!(q.ask, lv(61804.8, 1645.0));
    assert_eq!(q.update_id, Some(1007198632021));
    assert_eq!(q.exch_ns, Some(1_723_161_257_476_000_000));
}

#[test]
fn trades() {
    let ev = one(Venue::BinanceSpot, SPOT_TRADE);
    assert_eq!(ev.stream, StreamKind::Trade);
    assert_eq!(
        ev.payload,
        Payload::Trade(Trade {
            price: 61837.63,
            qty: 0.02,
            id: Some(3735683259),
            exch_ns: Some(1_723_161_255_342_000_000),
            event_ns: Some(1_723_161_255_343_000_000),
        })
    );
    let ev = one(Venue::BinanceUsdm, USDM_TRADE);
    let Payload::Trade(t) = ev.payload else {
        panic!()
    };
    assert_eq!((t.price, t.qty, t.id), (61800.3, 0.006, Some(5266583935)));
    let ev = one(Venue::BinanceCoinm, CM_TRADE);
    assert_eq!(&*ev.symbol, "BTC/USD");
    let Payload::Trade(t) = ev.payload else {
        panic!()
    };
    assert_eq!((t.price, t.qty, t.id), (61804.8, 4.0, Some(849714402)));
    assert_eq!(t.exch_ns, Some(1_723_161_257_679_000_000));
}

#[test]
fn agg_trades() {
    let ev = one(Venue::BinanceSpot, SPOT_AGG_TRADE);
    assert_eq!(&*ev.symbol, "NKN/USDT");
    assert_eq!(ev.stream, StreamKind::AggTrade);
    assert_eq!(
        ev.payload,
        Payload::Trade(Trade {
            price: 0.3528,
            qty: 58.0,
            id: Some(15683430),
            exch_ns: Some(1_633_998_523_963_000_000),
            event_ns: Some(1_633_998_523_963_000_000),
        })
    );
    let ev = one(Venue::BinanceUsdm, USDM_AGG_TRADE);
    assert_eq!(&*ev.symbol, "CTK/USDT");
    let Payload::Trade(t) = ev.payload else {
        panic!()
    };
    assert_eq!(t.id, Some(16599292));
    assert_eq!(t.exch_ns, Some(1_626_992_741_421_000_000));
    assert_eq!(t.event_ns, Some(1_626_992_741_575_000_000));
    let ev = one(Venue::BinanceSpot, DOC_RAW_AGG_TRADE);
    assert_eq!(&*ev.symbol, "BNB/BTC");
    assert_eq!(ev.stream, StreamKind::AggTrade);
}

#[test]
fn klines() {
    let ev = one(Venue::BinanceUsdm, USDM_KLINE_CLOSED);
    assert_eq!(&*ev.symbol, "SUSHI/USDT");
    assert_eq!(ev.stream, StreamKind::Kline(60));
    assert_eq!(
        ev.payload,
        Payload::Candle(Candle {
            open_ns: 1_626_992_700_000_000_000,
            interval_secs: 60,
            open: 7.608,
            high: 7.618,
            low: 7.607,
            close: 7.617,
            volume: 3005.0,
            quote_volume: Some(22875.859),
            trades: Some(113),
            first_trade_id: Some(126902874),
            last_trade_id: Some(126902986),
            closed: true,
            exch_ns: Some(1_626_992_760_203_000_000),
        })
    );
    let ev = one(Venue::BinanceSpot, SPOT_KLINE_OPEN);
    assert_eq!(&*ev.symbol, "LRC/BTC");
    let Payload::Candle(c) = ev.payload else {
        panic!()
    };
    assert!(!c.closed);
    assert_eq!(c.open, 0.00000638);
    let ev = one(Venue::BinanceSpot, DOC_RAW_KLINE);
    let Payload::Candle(c) = ev.payload else {
        panic!()
    };
    assert_eq!(
        (c.open, c.high, c.low, c.close),
        (0.001, 0.0025, 0.0015, 0.002)
    );
    assert_eq!(c.first_trade_id, Some(100));
}

#[test]
fn kline_without_trades_has_no_trade_ids() {
    // Injected: the doc kline with Binance's -1 "no trade" ids.
    let frame = DOC_RAW_KLINE
        .replace(r#""f":100"#, r#""f":-1"#)
        .replace(r#""L":200"#, r#""L":-1"#);
    let Payload::Candle(c) = one(Venue::BinanceSpot, &frame).payload else {
        panic!()
    };
    assert_eq!((c.first_trade_id, c.last_trade_id), (None, None));
}

#[test]
fn partial_depth_spot_and_futures() {
    let ev = one(Venue::BinanceSpot, DOC_SPOT_PARTIAL);
    assert_eq!(&*ev.symbol, "BNB/BTC");
    assert_eq!(ev.stream, StreamKind::PartialDepth);
    assert_eq!(
        ev.payload,
        Payload::Snapshot(DepthSnapshot {
            last_id: Some(160),
            bids: vec![lv(0.0024, 10.0)],
            asks: vec![lv(0.0026, 100.0)],
            exch_ns: None,
        })
    );
    let ev = one(Venue::BinanceUsdm, DOC_USDM_PARTIAL);
    assert_eq!(ev.stream, StreamKind::PartialDepth);
    assert_eq!(
        ev.payload,
        Payload::Snapshot(DepthSnapshot {
            last_id: Some(160),
            bids: vec![lv(0.0024, 10.0)],
            asks: vec![lv(0.0026, 100.0)],
            exch_ns: Some(123_456_789_000_000),
        })
    );
    // Without a stream name a spot partial depth payload has no symbol.
    let raw = r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[]}"#;
    assert!(malformed(Venue::BinanceSpot, raw).contains("symbol"));
}

#[test]
fn raw_book_ticker_without_envelope() {
    let ev = one(Venue::BinanceSpot, DOC_RAW_BOOK_TICKER);
    assert_eq!(&*ev.symbol, "BNB/USDT");
    assert_eq!(ev.stream, StreamKind::Bbo);
}

#[test]
fn envelope_field_order_does_not_matter() {
    // Injected: the real spot trade with `data` before `stream`.
    let inner = SPOT_TRADE
        .strip_prefix(r#"{"stream":"btcusdt@trade","data":"#)
        .unwrap()
        .strip_suffix('}')
        .unwrap();
    let swapped = format!(r#"{{"data":{inner},"stream":"btcusdt@trade"}}"#);
    assert_eq!(
        one(Venue::BinanceSpot, &swapped),
        one(Venue::BinanceSpot, SPOT_TRADE)
    );
}

#[test]
fn control_replies() {
    assert_eq!(
        parse(Venue::BinanceSpot, r#"{"result":null,"id":1}"#).unwrap(),
        (Control::Ack, vec![])
    );
    assert_eq!(
        parse(
            Venue::BinanceSpot,
            r#"{"result":["btcusdt@aggTrade"],"id":3}"#
        )
        .unwrap()
        .0,
        Control::Ack
    );
    let d = unknown(
        Venue::BinanceSpot,
        r#"{"code": 2, "msg": "Invalid request: property name must be a string"}"#,
    );
    assert!(
        d.contains("code 2") && d.contains("property name must be a string"),
        "{d}"
    );
}

#[test]
fn unknown_messages_name_their_type() {
    let mark = r#"{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000,"st":1}"#;
    assert!(unknown(Venue::BinanceUsdm, mark).contains("markPriceUpdate"));
    let env = format!(r#"{{"stream":"btcusdt@markPrice","data":{mark}}}"#);
    assert!(unknown(Venue::BinanceUsdm, &env).contains("btcusdt@markPrice"));
    let ticker =
        r#"{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1672515782136,"s":"BTCUSDT"}}"#;
    assert!(unknown(Venue::BinanceUsdm, ticker).contains("btcusdt@ticker"));
    let cont = r#"{"stream":"btcusdt_perpetual@continuousKline_1m","data":{"e":"continuous_kline","E":1607443058651}}"#;
    assert!(unknown(Venue::BinanceUsdm, cont).contains("continuousKline"));
    assert!(
        unknown(
            Venue::BinanceSpot,
            r#"{"e":"serverShutdown","E":1770123456789}"#
        )
        .contains("serverShutdown")
    );
    let arr = r#"{"stream":"!ticker@arr","data":[]}"#;
    assert!(unknown(Venue::BinanceSpot, arr).contains("!ticker@arr"));
    let month = DOC_RAW_KLINE.replace(r#""i":"1m""#, r#""i":"1M""#);
    assert!(unknown(Venue::BinanceSpot, &month).contains("1M"));
}

#[test]
fn malformed_frames_name_the_field() {
    let v = Venue::BinanceSpot;
    // Injected faults over real frames.
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""p":"61837.63000000""#, r#""p":"abc""#),
    );
    assert!(d.contains("`p`"), "{d}");
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""q":"0.02000000""#, r#""q":"-0.02""#),
    );
    assert!(d.contains("`q`"), "{d}");
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""q":"0.02000000""#, r#""q":"NaN""#),
    );
    assert!(d.contains("`q`"), "{d}");
    let d = malformed(v, &SPOT_TRADE.replace(r#""t":3735683259,"#, ""));
    assert!(d.contains("`t`"), "{d}");
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""t":3735683259"#, r#""t":"3735683259""#),
    );
    assert!(d.contains("`t`"), "{d}");
    let d = malformed(
        v,
        &SPOT_DEPTH.replace(r#""U":50093247956"#, r#""U":50093247957"#),
    );
    assert!(d.contains("`U`"), "{d}");
    let d = malformed(
        v,
        &SPOT_DEPTH.replace(r#""b":[["61828.09000000","3.61811000"]]"#, r#""b":"1""#),
    );
    assert!(d.contains("`b`"), "{d}");
    let d = malformed(
        v,
        &SPOT_BOOK_TICKER.replace(r#""A":"1.54698000""#, r#""A":null"#),
    );
    assert!(d.contains("`A`"), "{d}");
    let d = malformed(v, &SPOT_TRADE.replace("1723161255343", "99999999999999999"));
    assert!(d.contains("`E`") && d.contains("out of range"), "{d}");
    let d = malformed(v, &SPOT_TRADE.replace("1723161255343", "-1"));
    assert!(d.contains("`E`"), "{d}");
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""s":"BTCUSDT""#, r#""s":"BTCXYZ""#),
    );
    assert!(d.contains("cannot split symbol"), "{d}");
    let d = malformed(
        v,
        &SPOT_TRADE.replace(r#""e":"trade""#, r#""e":"aggTrade""#),
    );
    assert!(d.contains("`e`"), "{d}");
    let d = malformed(v, &SPOT_KLINE_OPEN.replace(r#""i":"1m""#, r#""i":"7x""#));
    assert!(d.contains("k.i"), "{d}");
    let d = malformed(v, &SPOT_KLINE_OPEN.replace(r#""o":"0.00000638","#, ""));
    assert!(d.contains("k.o"), "{d}");
    assert!(matches!(
        parse(v, "not json"),
        Err(ParseError::Malformed { .. })
    ));
    assert!(matches!(parse(v, ""), Err(ParseError::Malformed { .. })));
    assert!(matches!(
        parse(v, &SPOT_TRADE[..50]),
        Err(ParseError::Malformed { .. })
    ));
}

#[test]
fn errors_push_no_events() {
    let mut a = BinanceAdapter::new(Venue::BinanceSpot);
    let mut out = Vec::new();
    let bad = SPOT_DEPTH.replace("3.61811000", "x");
    assert!(a.parse_frame(&bad, &mut out).is_err());
    assert!(out.is_empty());
    // The adapter still works after an error.
    assert_eq!(a.parse_frame(SPOT_DEPTH, &mut out), Ok(Control::Data));
    assert_eq!(out.len(), 1);
}

#[test]
fn symbols_are_interned_across_frames_and_cases() {
    let mut a = BinanceAdapter::new(Venue::BinanceSpot);
    let mut out = Vec::new();
    a.parse_frame(SPOT_TRADE, &mut out).unwrap();
    a.parse_frame(SPOT_DEPTH, &mut out).unwrap();
    a.parse_frame(DOC_SPOT_PARTIAL, &mut out).unwrap(); // from stream name `bnbbtc`
    a.parse_frame(SPOT_TRADE, &mut out).unwrap();
    assert!(std::sync::Arc::ptr_eq(&out[0].symbol, &out[1].symbol));
    assert!(std::sync::Arc::ptr_eq(&out[0].symbol, &out[3].symbol));
    assert_eq!(&*out[2].symbol, "BNB/BTC");
}

#[test]
fn rest_snapshots() {
    let mut a = BinanceAdapter::new(Venue::BinanceSpot);
    let mut out = Vec::new();
    let c = a
        .parse_rest(
            "/api/v3/depth?symbol=BNBBTC&limit=1000",
            DOC_REST_DEPTH,
            &mut out,
        )
        .unwrap();
    assert_eq!(c, Control::Data);
    assert_eq!(out.len(), 1);
    assert_eq!(&*out[0].symbol, "BNB/BTC");
    assert_eq!(out[0].stream, StreamKind::Depth);
    assert_eq!(
        out[0].payload,
        Payload::Snapshot(DepthSnapshot {
            last_id: Some(1027024),
            bids: vec![lv(4.0, 431.0)],
            asks: vec![lv(4.000002, 12.0)],
            exch_ns: None,
        })
    );
    // Symbol from the body (COIN-M shape) when the request has none.
    let body = r#"{"lastUpdateId":7,"E":1723161257835,"T":1723161257823,"symbol":"BTCUSD_PERP","pair":"BTCUSD","bids":[],"asks":[["61804.8","1"]]}"#;
    out.clear();
    let mut cm = BinanceAdapter::new(Venue::BinanceCoinm);
    cm.parse_rest("/dapi/v1/depth", body, &mut out).unwrap();
    assert_eq!(&*out[0].symbol, "BTC/USD");
    let Payload::Snapshot(s) = &out[0].payload else {
        panic!()
    };
    assert_eq!(s.exch_ns, Some(1_723_161_257_835_000_000));
    // Neither -> Malformed.
    let err = a
        .parse_rest("/api/v3/depth", DOC_REST_DEPTH, &mut out)
        .unwrap_err();
    assert!(matches!(err, ParseError::Malformed { ref detail, .. } if detail.contains("symbol")));
    // Error body.
    let err = a
        .parse_rest(
            "/api/v3/depth?symbol=X",
            r#"{"code":-1121,"msg":"Invalid symbol."}"#,
            &mut out,
        )
        .unwrap_err();
    assert!(
        matches!(err, ParseError::Unknown { ref detail, .. } if detail.contains("Invalid symbol."))
    );
    // Missing asks.
    let err = a
        .parse_rest(
            "/api/v3/depth?symbol=BNBBTC",
            r#"{"lastUpdateId":1,"bids":[]}"#,
            &mut out,
        )
        .unwrap_err();
    assert!(matches!(err, ParseError::Malformed { ref detail, .. } if detail.contains("asks")));
}

#[test]
fn stream_names_classify() {
    assert_eq!(
        classify_stream("btcusdt@depth"),
        Some(("btcusdt", StreamType::DiffDepth))
    );
    assert_eq!(
        classify_stream("btcusdt@depth@0ms"),
        Some(("btcusdt", StreamType::DiffDepth))
    );
    assert_eq!(
        classify_stream("btcusdt@depth20"),
        Some(("btcusdt", StreamType::PartialDepth))
    );
    assert_eq!(
        classify_stream("btcusdt@depth10@500ms"),
        Some(("btcusdt", StreamType::PartialDepth))
    );
    assert_eq!(classify_stream("btcusdt@depth7"), None);
    assert_eq!(classify_stream("btcusdt@depth@fast"), None);
    assert_eq!(
        classify_stream("btcusdt@kline_1m"),
        Some(("btcusdt", StreamType::Kline))
    );
    assert_eq!(classify_stream("btcusdt@markPrice@1s"), None);
    assert_eq!(classify_stream("!bookTicker"), None);
    assert_eq!(classify_stream("@trade"), None);
}

#[test]
fn query_symbol_extraction() {
    assert_eq!(
        query_symbol("/api/v3/depth?symbol=BTCUSDT&limit=1000"),
        Some("BTCUSDT")
    );
    assert_eq!(
        query_symbol("/fapi/v1/depth?limit=1000&symbol=ETHUSDT"),
        Some("ETHUSDT")
    );
    assert_eq!(query_symbol("/api/v3/depth?limit=5"), None);
    assert_eq!(query_symbol("/api/v3/depth?symbol="), None);
}

// --- property tests ----------------------------------------------------------

pub(super) const REAL: &[&str] = &[
    SPOT_DEPTH,
    SPOT_BOOK_TICKER,
    SPOT_TRADE,
    USDM_DEPTH,
    USDM_BOOK_TICKER,
    USDM_TRADE,
    CM_DEPTH,
    CM_BOOK_TICKER,
    CM_TRADE,
    SPOT_AGG_TRADE,
    USDM_AGG_TRADE,
    USDM_KLINE_CLOSED,
    SPOT_KLINE_OPEN,
];

/// Parses with every venue and checks the contract: events only on success.
fn check_total(text: &str) {
    for venue in [Venue::BinanceSpot, Venue::BinanceUsdm, Venue::BinanceCoinm] {
        let mut a = BinanceAdapter::new(venue);
        let mut out = Vec::new();
        match a.parse_frame(text, &mut out) {
            Ok(Control::Data) => assert_eq!(out.len(), 1),
            Ok(_) | Err(_) => assert!(out.is_empty()),
        }
        let mut out = Vec::new();
        if a.parse_rest("/api/v3/depth?symbol=BTCUSDT", text, &mut out)
            .is_err()
        {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn non_ascii_kline_interval_is_an_error_not_a_panic() {
    // Injected: the real closed kline with its interval's unit replaced by
    // a multi-byte character (once made `model::parse_interval` panic).
    let f = USDM_KLINE_CLOSED.replace(r#""i":"1m""#, r#""i":"1é""#);
    assert_eq!(
        malformed(Venue::BinanceUsdm, &f),
        "field `k.i`: bad interval `1é`"
    );
    let f = USDM_KLINE_CLOSED.replace(r#""i":"1m""#, r#""i":"éM""#);
    assert_eq!(unknown(Venue::BinanceUsdm, &f), "kline interval `éM`");
}

#[test]
fn every_prefix_of_every_real_frame_is_an_error() {
    // Injected: each real frame cut at every byte position (all ASCII).
    for f in REAL {
        let mut a = BinanceAdapter::new(Venue::BinanceUsdm);
        let mut out = Vec::new();
        for p in 0..f.len() {
            let prefix = f.get(..p).unwrap();
            assert!(a.parse_frame(prefix, &mut out).is_err(), "{prefix}");
            assert!(out.is_empty());
        }
        assert_eq!(a.parse_frame(f, &mut out), Ok(Control::Data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_total(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_real_frames_never_panic(
        idx in 0..REAL.len(),
        edits in proptest::collection::vec((0usize..4, any::<usize>(), any::<u8>()), 1..6),
    ) {
        // Injected faults: byte replacement, truncation, duplication and
        // deletion at random positions of a real frame.
        let mut b = REAL[idx].as_bytes().to_vec();
        for (op, pos, byte) in edits {
            if b.is_empty() { break; }
            let p = pos % b.len();
            match op {
                0 => b[p] = byte,
                1 => b.truncate(p),
                2 => { let c = b[p]; b.insert(p, c); }
                _ => { b.remove(p); }
            }
        }
        check_total(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn every_truncation_of_real_frames_is_an_error(idx in 0..REAL.len(), cut in any::<usize>()) {
        let f = REAL[idx];
        let p = cut % f.len();
        let mut a = BinanceAdapter::new(Venue::BinanceSpot);
        let mut out = Vec::new();
        prop_assert!(a.parse_frame(&f[..p], &mut out).is_err());
        prop_assert!(out.is_empty());
    }

    #[test]
    fn structural_characters_swapped(idx in 0..REAL.len(), pos in any::<usize>(), c in prop::sample::select(vec![b'{', b'}', b'[', b']', b'"', b',', b':', b'\\', b'-', b'0', b'e'])) {
        let mut b = REAL[idx].as_bytes().to_vec();
        let p = pos % b.len();
        b[p] = c;
        check_total(&String::from_utf8_lossy(&b));
    }
}
