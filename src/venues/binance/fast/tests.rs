//! Tests of the byte scanner against the serde path it shortcuts: every
//! frame of the real recordings in fixtures/ (credited in
//! fixtures/SOURCES.md) must give the same result both ways, most of them
//! through the scanner; injected mutations of real frames (named as such)
//! must too; and the decimal fast path must be bit-identical to
//! `str::parse::<f64>`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use proptest::prelude::*;

use super::super::tests::REAL;
use super::super::wire::{Frame, State};
use super::{decimal, eight_digits, parse, plain_decimal};
use crate::model::{Event, Payload, Venue};
use crate::venues::binance::BinanceAdapter;
use crate::venues::{Adapter, Control, ParseError};

// --- helpers ---------------------------------------------------------------

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Frames of an hftbacktest recording (`<recv_ns> <frame>` gzip lines).
fn hftbacktest_frames(rel: &str) -> Vec<String> {
    let f = std::fs::File::open(fixture(rel)).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| {
            let l = l.unwrap();
            l.split_once(' ').unwrap().1.to_string()
        })
        .collect()
}

/// Received frames of a cryptofeed capture (`<epoch_s>: <frame>` lines).
fn cryptofeed_frames(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with("wss://") && !l.starts_with("https://"))
        .map(|l| l.split_once(": ").unwrap().1.to_string())
        .collect()
}

const HFTBACKTEST: [(&str, Venue); 10] = [
    (
        "binance-hftbacktest/spot/btcusdt_20240808.gz",
        Venue::BinanceSpot,
    ),
    (
        "binance-hftbacktest/spot/btcusdt_20240809.gz",
        Venue::BinanceSpot,
    ),
    (
        "binance-hftbacktest/spot/ethusdt_20240808.gz",
        Venue::BinanceSpot,
    ),
    (
        "binance-hftbacktest/spot/ethusdt_20240809.gz",
        Venue::BinanceSpot,
    ),
    (
        "binance-hftbacktest/usdm/btcusdt_20240808.gz",
        Venue::BinanceUsdm,
    ),
    (
        "binance-hftbacktest/usdm/ethusdt_20240808.gz",
        Venue::BinanceUsdm,
    ),
    (
        "binance-hftbacktest/cm/btcusd_perp_20240808.gz",
        Venue::BinanceCoinm,
    ),
    (
        "binance-hftbacktest/cm/btcusd_perp_20240809.gz",
        Venue::BinanceCoinm,
    ),
    (
        "binance-hftbacktest/cm/ethusd_perp_20240808.gz",
        Venue::BinanceCoinm,
    ),
    (
        "binance-hftbacktest/cm/ethusd_perp_20240809.gz",
        Venue::BinanceCoinm,
    ),
];

/// Every `f64` of a payload, so results can be compared bit for bit
/// (`==` would let `-0.0` pass for `0.0`).
fn float_bits(p: &Payload, out: &mut Vec<u64>) {
    let mut levels = |ls: &[crate::model::Level]| {
        for l in ls {
            out.extend([l.price.to_bits(), l.qty.to_bits()]);
        }
    };
    match p {
        Payload::Trade(t) => levels(&[crate::model::Level {
            price: t.price,
            qty: t.qty,
        }]),
        Payload::Quote(q) => levels(&[q.bid, q.ask]),
        Payload::Depth(d) => {
            levels(&d.bids);
            levels(&d.asks);
        }
        Payload::Snapshot(s) => {
            levels(&s.bids);
            levels(&s.asks);
        }
        Payload::Candle(c) => {
            for x in [c.open, c.high, c.low, c.close, c.volume] {
                out.push(x.to_bits());
            }
            out.extend(c.quote_volume.map(f64::to_bits));
        }
        // Binance frames never carry adapter integrity reports.
        Payload::Integrity(_) => {}
    }
}

fn bits(events: &[Event]) -> Vec<u64> {
    let mut v = Vec::new();
    for e in events {
        float_bits(&e.payload, &mut v);
    }
    v
}

/// The adapter's result (events included) and the serde-only result for
/// `text`, each from a fresh adapter.
type Outcome = (Result<Control, ParseError>, Vec<Event>);

fn both(venue: Venue, text: &str) -> (Outcome, Outcome) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let ra = BinanceAdapter::new(venue).parse_frame(text, &mut a);
    let rb = BinanceAdapter::new(venue).parse_frame_serde(text, &mut b);
    ((ra, a), (rb, b))
}

/// Whether the scanner takes `text` (on a throwaway state).
fn handled(text: &str) -> bool {
    let mut st = State::default();
    let mut fr = Frame::default();
    parse(text, &mut st, &mut fr).is_some()
}

/// Runs `frames` through one adapter and one serde-only adapter (state
/// carried across frames, as in replay) and asserts identical results;
/// returns how many frames the scanner handled.
fn differential(what: &str, venue: Venue, frames: &[String]) -> usize {
    let mut adapter = BinanceAdapter::new(venue);
    let mut reference = BinanceAdapter::new(venue);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (n, f) in frames.iter().enumerate() {
        a.clear();
        b.clear();
        let ra = adapter.parse_frame(f, &mut a);
        let rb = reference.parse_frame_serde(f, &mut b);
        assert_eq!(ra, rb, "{what} frame {}", n + 1);
        assert_eq!(a, b, "{what} frame {}", n + 1);
        assert_eq!(bits(&a), bits(&b), "{what} frame {}", n + 1);
    }
    assert_eq!(reference.fast_frames, 0);
    adapter.fast_frames
}

/// The floats of a parsed frame and its level buffers, bit for bit.
fn frame_bits(fr: &Frame<'_>, st: &State) -> Vec<u64> {
    use super::super::wire::Side;
    let b = &fr.body;
    let mut v: Vec<u64> = [b.bid_qty, b.ask_qty, b.price, b.qty]
        .into_iter()
        .map(|x| x.map_or(1, f64::to_bits))
        .collect();
    for side in [b.b, b.a] {
        if let Side::Price(p) = side {
            v.push(p.to_bits());
        }
    }
    for l in st.bids.iter().chain(&st.asks) {
        v.extend([l.price.to_bits(), l.qty.to_bits()]);
    }
    v
}

/// For every frame: when the scanner takes it, serde must read the same
/// frame and level buffers (bit for bit), which makes the adapter's result
/// the same too since both go through one interpretation (the adapter-level
/// comparison runs on the cryptofeed captures and on mutated frames; this
/// frame-level one halves the time of the half-million-frame check in an
/// unoptimized test build). Returns how many frames the scanner took, and
/// the ones it refused.
fn differential_frames(what: &str, frames: &[String]) -> (usize, Vec<String>) {
    let (mut st_fast, mut st_serde) = (State::default(), State::default());
    let mut n_handled = 0;
    let mut refused = Vec::new();
    for (n, f) in frames.iter().enumerate() {
        let mut fast = Frame::default();
        if parse(f, &mut st_fast, &mut fast).is_none() {
            refused.push(f.clone());
            continue;
        }
        n_handled += 1;
        let mut serde = Frame::default();
        let r = super::super::wire::parse(f, &mut st_serde, &mut serde);
        assert!(r.is_ok(), "{what} frame {}: {r:?}", n + 1);
        assert_eq!(fast, serde, "{what} frame {}", n + 1);
        if !matches!(fast.body.b, super::super::wire::Side::Levels) {
            st_fast.bids.clear();
            st_serde.bids.clear();
        }
        if !matches!(fast.body.a, super::super::wire::Side::Levels) {
            st_fast.asks.clear();
            st_serde.asks.clear();
        }
        assert_eq!(st_fast.bids, st_serde.bids, "{what} frame {}", n + 1);
        assert_eq!(st_fast.asks, st_serde.asks, "{what} frame {}", n + 1);
        assert_eq!(
            frame_bits(&fast, &st_fast),
            frame_bits(&serde, &st_serde),
            "{what} frame {}",
            n + 1
        );
    }
    (n_handled, refused)
}

// --- real recordings -------------------------------------------------------

#[test]
fn hftbacktest_recordings_same_as_serde_and_mostly_fast() {
    // Two threads: the recordings are half a million frames and the test
    // build is unoptimized.
    let (left, right) = HFTBACKTEST.split_at(HFTBACKTEST.len() / 2);
    let run = |part: &[(&'static str, Venue)]| {
        let mut totals = Vec::new();
        for &(rel, venue) in part {
            let frames = hftbacktest_frames(rel);
            let (h, refused) = differential_frames(rel, &frames);
            // Adapter-level comparison over the frames the scanner refused
            // (they take the serde path) and over the first 2,000 frames.
            differential(rel, venue, &refused);
            let head = &frames[..2000];
            let taken = differential(rel, venue, head);
            assert_eq!(taken, head.iter().filter(|f| !refused.contains(f)).count());
            totals.push((rel, frames.len(), h));
        }
        totals
    };
    let totals = std::thread::scope(|s| {
        let l = s.spawn(|| run(left));
        let r = run(right);
        let mut t = l.join().unwrap();
        t.extend(r);
        t
    });
    let (mut frames, mut fast) = (0, 0);
    for (rel, n, h) in totals {
        assert!(n > 30_000, "{rel}: only {n} frames");
        // Each recording alone: only the REST snapshot line (one in the
        // 0808 files) is not a hot-shape stream frame.
        let rest = usize::from(rel.ends_with("0808.gz"));
        assert_eq!(h, n - rest, "{rel}: {h} of {n} frames through the scanner");
        frames += n;
        fast += h;
    }
    assert!(frames > 500_000);
    assert!(fast * 100 >= frames * 99, "{fast} of {frames}");
}

#[test]
fn cryptofeed_captures_same_as_serde() {
    for (rel, venue) in [
        ("cryptofeed/BINANCE.ws.1.0", Venue::BinanceSpot),
        ("cryptofeed/BINANCE_FUTURES.ws.1.0", Venue::BinanceUsdm),
    ] {
        let frames = cryptofeed_frames(rel);
        let h = differential(rel, venue, &frames);
        // Klines are left to the serde path; every other frame is a hot shape.
        let klines = frames.iter().filter(|f| f.contains("@kline_")).count();
        assert!(klines > 0 && frames.len() > 200, "{rel}");
        assert_eq!(h, frames.len() - klines, "{rel}");
    }
}

#[test]
fn hot_real_frames_are_handled_and_klines_are_not() {
    for f in REAL {
        assert_eq!(handled(f), !f.contains("@kline_"), "{f}");
        let ((ra, a), (rb, b)) = both(Venue::BinanceUsdm, f);
        assert_eq!(ra, Ok(Control::Data));
        assert_eq!((ra, &a), (rb, &b));
    }
}

// --- injected faults: each must fall back, and match serde -----------------

/// Real frame (spot bookTicker, hftbacktest spot btcusdt_20240808 line 3)
/// with one injected change each; the scanner must refuse every one.
#[test]
fn odd_frames_fall_back() {
    let base = r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#;
    assert!(handled(base));
    let cases = [
        // whitespace
        base.replace(r#""u":"#, r#""u": "#),
        format!("{base}\n"),
        format!(" {base}"),
        // escapes and control characters in strings
        base.replace("BTCUSDT", r"BTC\u0055SDT"),
        base.replace("BTCUSDT", "BTC\u{1}USDT"),
        base.replace(r#""s":"#, r#""\u0073":"#),
        // unknown and duplicate keys
        base.replace(r#""u":"#, r#""x":1,"u":"#),
        base.replace(r#""u":"#, r#""s":"BTCUSDT","u":"#),
        base.replace(r#""stream""#, r#""id":1,"stream""#),
        format!("{},\"data\":{{}}}}", &base[..base.len() - 1]),
        // numbers where strings belong and the reverse
        base.replace(r#""61837.63000000""#, "61837.63"),
        base.replace("50093239212", r#""50093239212""#),
        // non-canonical or out-of-range integers, floats for integers
        base.replace("50093239212", "050093239212"),
        base.replace("50093239212", "-50093239212"),
        base.replace("50093239212", "50093239212.0"),
        base.replace("50093239212", "5e10"),
        base.replace("50093239212", "18446744073709551616"),
        // decimals serde rejects
        base.replace("3.78826000", "-3.78826000"),
        base.replace("3.78826000", "NaN"),
        base.replace("3.78826000", "inf"),
        base.replace("3.78826000", ""),
        // structure
        format!("{base}x"),
        format!("{base}{{}}"),
        base.replace(r#""data":{"#, r#""data":[{"#)
            .replace("}}", "}]}"),
        base.replace(r#""stream":"btcusdt@bookTicker","#, ""),
        r#"{"data":{"u":1}}"#.to_string(),
        base[..base.len() - 1].to_string(),
    ];
    for c in &cases {
        assert!(!handled(c), "scanner took {c}");
        for venue in [Venue::BinanceSpot, Venue::BinanceCoinm] {
            let (fast, serde) = both(venue, c);
            assert_eq!(fast, serde, "{c}");
        }
    }
    // A few of those are still fine frames for serde; the fallback keeps them.
    let ((r, _), _) = both(Venue::BinanceSpot, &cases[0]);
    assert_eq!(r, Ok(Control::Data));
    let ((r, _), _) = both(Venue::BinanceSpot, &cases[3]);
    assert_eq!(r, Ok(Control::Data));
}

/// Values that serde would reject inside the hot payloads, on real frames
/// (injected): U after u, negative level, level with three entries.
#[test]
fn validation_errors_keep_serde_messages() {
    let depth = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161276318,"s":"BTCUSDT","U":50093247956,"u":50093247956,"b":[["61828.09000000","3.61811000"]],"a":[]}}"#;
    let cases = [
        (
            depth.replace(r#""U":50093247956"#, r#""U":50093247957"#),
            "field `U`: first update id 50093247957 is after last update id 50093247956",
            true,
        ),
        (
            depth.replace("3.61811000", "-3.61811000"),
            "field `b`: invalid value: string \"-3.61811000\"",
            false,
        ),
        (
            depth.replace(r#""3.61811000"]"#, r#""3.61811000","1"]"#),
            "field `b`: invalid length 3",
            false,
        ),
    ];
    for (c, want, scanned) in &cases {
        // U > u is a meaning error, not a syntax one: the scanner reads it
        // and the shared interpretation rejects it.
        assert_eq!(handled(c), *scanned, "{c}");
        let ((ra, a), (rb, _)) = both(Venue::BinanceSpot, c);
        assert_eq!(ra, rb);
        assert!(a.is_empty());
        match ra {
            Err(ParseError::Malformed { detail, .. }) => {
                assert!(detail.starts_with(want), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
}

// --- decimals ---------------------------------------------------------------

/// Reference: what the serde path accepts and returns.
fn reference(s: &str) -> Option<u64> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Some(x.to_bits()),
        _ => None,
    }
}

#[test]
fn decimal_fast_path_takes_binance_decimals() {
    for s in [
        "61837.63000000",
        "3.78826000",
        "0.00000638",
        "5000.00",
        "0",
        "0.000",
        "35",
        "1645",
        "9007199254740991",
        "0.1",
        "900719925474099.1",
        "0.0000000000000000000001",
    ] {
        let fast = plain_decimal(s.as_bytes()).map(f64::to_bits);
        assert!(fast.is_some(), "{s} missed the fast path");
        assert_eq!(fast, reference(s), "{s}");
    }
    // Outside the fast path, the answer is still the reference one.
    for s in [
        "9007199254740993",
        "12345678901234567890",
        "0.00000000000000000000001",
        "1.",
        ".5",
        "+1",
        "1e5",
        "-0",
        "-1",
        "inf",
        "NaN",
        "",
        "1.2.3",
        "0x10",
    ] {
        assert!(plain_decimal(s.as_bytes()).is_none(), "{s}");
        assert_eq!(decimal(s).map(f64::to_bits), reference(s), "{s}");
    }
}

/// Reference for the SWAR digit reader: byte by byte.
fn eight_digits_naive(b: &[u8]) -> Option<u64> {
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |v, d| v * 10 + u64::from(d - b'0')))
}

#[test]
fn eight_digits_matches_naive_on_every_single_byte_change() {
    for base in [*b"00000000", *b"99999999", *b"63000000", *b"12345678"] {
        assert_eq!(eight_digits(Some(&base)), eight_digits_naive(&base));
        for pos in 0..8 {
            for byte in 0..=255u8 {
                let mut b = base;
                b[pos] = byte;
                assert_eq!(eight_digits(Some(&b)), eight_digits_naive(&b), "{b:?}");
            }
        }
    }
    assert_eq!(eight_digits(Some(b"1234567")), None);
    assert_eq!(eight_digits(None), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn eight_digits_matches_naive(b in prop::array::uniform8(any::<u8>()), digits in prop::array::uniform8(b'0'..=b'9'), mask in any::<u8>()) {
        prop_assert_eq!(eight_digits(Some(&b)), eight_digits_naive(&b));
        // Mostly digits with a few arbitrary bytes: near the boundary.
        let mut mixed = digits;
        for (i, m) in mixed.iter_mut().enumerate() {
            if mask & (1 << i) != 0 && b[i] % 4 == 0 {
                *m = b[i];
            }
        }
        prop_assert_eq!(eight_digits(Some(&mixed)), eight_digits_naive(&mixed));
    }

    #[test]
    fn decimal_is_bit_identical_to_str_parse(
        s in "[0-9]{1,20}(\\.[0-9]{0,24})?|[0-9]{0,3}\\.?[0-9]{0,3}[eE]?[-+]?[0-9]{0,3}",
    ) {
        prop_assert_eq!(decimal(&s).map(f64::to_bits), reference(&s), "{}", s);
    }

    #[test]
    fn decimal_fast_path_edges(m in 0u64..(1 << 53), k in 0usize..23, zeros in 0usize..6) {
        // Mantissas up to 2^53 at every scale, with trailing zeros.
        let digits = m.to_string();
        let s = if k == 0 {
            digits
        } else {
            let padded = format!("{digits:0>width$}", width = k + 1);
            let (int, frac) = padded.split_at(padded.len() - k);
            format!("{int}.{frac}{}", "0".repeat(zeros))
        };
        prop_assert_eq!(decimal(&s).map(f64::to_bits), reference(&s), "{}", s);
    }
}

// --- mutated real frames ----------------------------------------------------

/// Splits the inside of a JSON object (no braces) at its top-level commas.
/// Real frames have no escapes, so quotes toggle string state.
fn split_pairs(inner: &str) -> Vec<&str> {
    let (mut depth, mut in_str, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    for (i, c) in inner.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '{' | '[' if !in_str => depth += 1,
            '}' | ']' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        out.push(&inner[start..]);
    }
    out
}

/// Injected: the envelope's and the payload's keys permuted by `order`,
/// optionally with the payload pair `dup` repeated.
fn reorder(frame: &str, order: &[u32], swap_envelope: bool, dup: Option<usize>) -> String {
    let outer = split_pairs(&frame[1..frame.len() - 1]);
    let mut parts: Vec<String> = Vec::new();
    for pair in outer {
        if let Some(obj) = pair.strip_prefix(r#""data":"#) {
            let mut pairs = split_pairs(&obj[1..obj.len() - 1]);
            if let Some(d) = dup {
                let p = pairs[d % pairs.len()];
                pairs.push(p);
            }
            let mut keyed: Vec<(u32, &str)> = pairs
                .into_iter()
                .enumerate()
                .map(|(i, p)| (order.get(i).copied().unwrap_or(0), p))
                .collect();
            keyed.sort_by_key(|&(k, _)| k);
            let body: Vec<&str> = keyed.into_iter().map(|(_, p)| p).collect();
            parts.push(format!(r#""data":{{{}}}"#, body.join(",")));
        } else {
            parts.push(pair.to_string());
        }
    }
    if swap_envelope {
        parts.reverse();
    }
    format!("{{{}}}", parts.join(","))
}

/// Snippets an injected insertion puts into a real frame.
const SNIPPETS: &[&str] = &[
    " ",
    "\n",
    "\t",
    "\\u0030",
    "\\\"",
    "\\",
    "-",
    "0",
    "00",
    ".",
    "e9",
    "E-2",
    "99999999999999999999",
    ",\"m\":true",
    ",\"x\":1",
    ",\"b\":\"1\"",
    ",\"s\":\"X\"",
    ",\"E\":1",
    "null",
    "\"\"",
    "[]",
    "{}",
    "[\"1\",\"2\"]",
    "\u{7f}",
    "é",
    "\u{1}",
    "\"",
    ",",
    ":",
    "}",
    "]",
    "{",
    "[",
];

/// Applies one injected edit to `b`.
fn mutate(b: &mut Vec<u8>, op: usize, pos: usize, arg: usize) {
    if b.is_empty() {
        return;
    }
    let p = pos % b.len();
    match op {
        // byte replaced by an arbitrary byte
        0 => b[p] = arg as u8,
        1 => b.truncate(p),
        2 => {
            let s = SNIPPETS[arg % SNIPPETS.len()].as_bytes();
            b.splice(p..p, s.iter().copied());
        }
        3 => {
            b.remove(p);
        }
        // an ASCII letter or digit written as a \u escape
        _ => {
            if b[p].is_ascii_alphanumeric() {
                let esc = format!("\\u{:04x}", b[p]);
                b.splice(p..=p, esc.bytes());
            }
        }
    }
}

fn venue_strategy() -> impl Strategy<Value = Venue> {
    prop::sample::select(vec![
        Venue::BinanceSpot,
        Venue::BinanceUsdm,
        Venue::BinanceCoinm,
    ])
}

fn assert_same(venue: Venue, text: &str) -> Result<(), TestCaseError> {
    let ((ra, a), (rb, b)) = both(venue, text);
    prop_assert_eq!(&ra, &rb, "{}", text);
    prop_assert_eq!(&a, &b, "{}", text);
    prop_assert_eq!(bits(&a), bits(&b), "{}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_real_frames_same_as_serde(
        idx in 0..REAL.len(),
        venue in venue_strategy(),
        edits in prop::collection::vec((0usize..5, any::<usize>(), any::<usize>()), 1..4),
    ) {
        let mut b = REAL[idx].as_bytes().to_vec();
        for (op, pos, arg) in edits {
            mutate(&mut b, op, pos, arg);
        }
        assert_same(venue, &String::from_utf8_lossy(&b))?;
    }

    #[test]
    fn reordered_real_frames_same_as_serde(
        idx in 0..REAL.len(),
        venue in venue_strategy(),
        order in prop::collection::vec(any::<u32>(), 16),
        swap in any::<bool>(),
        dup in prop::option::weighted(0.2, any::<usize>()),
    ) {
        let f = REAL[idx];
        let text = reorder(f, &order, swap, dup);
        assert_same(venue, &text)?;
        if dup.is_none() {
            // Key order changes nothing: same events as the frame as sent,
            // and the scanner still takes every hot shape.
            let (orig, _) = both(venue, f);
            let (now, _) = both(venue, &text);
            prop_assert_eq!(now, orig);
            prop_assert_eq!(handled(&text), handled(f), "{}", text);
        } else {
            prop_assert!(!handled(&text), "duplicate key taken: {}", text);
        }
    }
}
