//! End to end for OKX: records built from the real 2022 OKX v5 capture
//! (`fixtures/okx/OKX.ws.1.0`, cryptofeed) and from the OKX docs' example
//! book messages (`fixtures/okx/schemas/`) run through the engine; book
//! breaks injected by code (a dropped real update, a broken `prevSeqId`
//! chain) raise `book_checksum` and `book_gap`.

use std::borrow::Cow;

use crate::util::{capture_records, drive, opened};
use feedwatch::alert::Kind;
use feedwatch::model::{MILLI, Nanos, Venue};
use feedwatch::record::{Record, RecordKind};

const REAL: &str = include_str!("../../../fixtures/okx/OKX.ws.1.0");
const DOC_SNAPSHOT: &str = include_str!("../../../fixtures/okx/schemas/ws_books_snapshot.json");
const DOC_UPDATE: &str = include_str!("../../../fixtures/okx/schemas/ws_books_update.json");

fn rec(recv_ns: Nanos, kind: RecordKind<'static>) -> Record<'static> {
    Record {
        recv_ns,
        venue: Venue::Okx,
        conn: Cow::Borrowed("okx-1"),
        kind,
    }
}

/// The capture as records: opened, sent and received lines.
fn real_records() -> Vec<Record<'static>> {
    capture_records(REAL, Venue::Okx, "okx-1")
}

#[test]
fn real_okx_capture_reaches_the_engine() {
    let recs = real_records();
    let (e, alerts) = drive(&recs);
    let s = e.stats();
    assert_eq!(s.frames, 410);
    assert_eq!(s.control_records, 4);
    assert_eq!(s.events.get("trade"), Some(&74));
    assert_eq!(s.events.get("snapshot"), Some(&3));
    assert_eq!(s.events.get("depth"), Some(&287));
    assert_eq!(s.events.get("integrity"), None);
    assert_eq!(s.acks, 18);
    assert_eq!(s.unknown, 28, "tickers: {:?}", s.error_samples);
    assert_eq!(s.malformed, 0, "{:?}", s.error_samples);
    assert!(opened(&alerts, Kind::BookChecksum).is_empty());
    assert!(opened(&alerts, Kind::BookGap).is_empty());
}

#[test]
fn injected_dropped_real_book_update_raises_book_checksum() {
    let mut recs = real_records();
    let victim = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(&r.kind, RecordKind::Frame(f)
                if f.contains("\"instId\":\"BTC-USDT\"") && f.contains("\"action\":\"update\""))
        })
        .nth(10)
        .map(|(i, _)| i)
        .unwrap();
    let dropped_at = recs[victim].recv_ns;
    recs.remove(victim); // injected: one update lost
    let (_, alerts) = drive(&recs);
    let bad = opened(&alerts, Kind::BookChecksum);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].symbol.as_deref(), Some("BTC/USDT"));
    assert_eq!(bad[0].stream.as_deref(), Some("depth"));
    assert!(bad[0].at >= dropped_at);
    assert!(opened(&alerts, Kind::BookGap).is_empty());
}

/// Doc example updates re-sequenced by code: `seqId` `123457 + k` chaining on
/// `prevSeqId`, plus an unchanged-book update (`prevSeqId == seqId`).
fn doc_chain(n: u64, t0: Nanos) -> Vec<Record<'static>> {
    let mut recs = vec![rec(t0, RecordKind::Frame(Cow::Borrowed(DOC_SNAPSHOT)))];
    for k in 0..n {
        let (prev, seq) = (123_456 + k, 123_457 + k);
        let f = DOC_UPDATE
            .replace("\"prevSeqId\": 123456", &format!("\"prevSeqId\": {prev}"))
            .replace("\"seqId\": 123457", &format!("\"seqId\": {seq}"));
        let t = t0 + (k as i64 + 1) * 100 * MILLI;
        recs.push(rec(t, RecordKind::Frame(Cow::Owned(f))));
    }
    let last = 123_456 + n;
    let same = DOC_UPDATE
        .replace("\"prevSeqId\": 123456", &format!("\"prevSeqId\": {last}"))
        .replace("\"seqId\": 123457", &format!("\"seqId\": {last}"));
    let t = t0 + (n as i64 + 1) * 100 * MILLI;
    recs.push(rec(t, RecordKind::Frame(Cow::Owned(same))));
    recs
}

#[test]
fn doc_example_seq_chain_is_clean_and_injected_break_is_a_book_gap() {
    // Receive times just after the doc example's book time.
    let t0 = 1_597_026_383_085 * MILLI + 5 * MILLI;
    let clean = doc_chain(20, t0);
    let (e, alerts) = drive(&clean);
    assert_eq!(e.stats().events.get("depth"), Some(&21));
    assert_eq!(e.stats().events.get("snapshot"), Some(&1));
    assert_eq!(e.stats().malformed, 0);
    assert!(opened(&alerts, Kind::BookGap).is_empty(), "{alerts:?}");

    // Injected: one update in the middle is lost, so the next one's
    // prevSeqId names an id the book never saw.
    let mut broken = doc_chain(20, t0);
    broken.remove(10);
    let (_, alerts) = drive(&broken);
    let gaps = opened(&alerts, Kind::BookGap);
    assert_eq!(gaps.len(), 1, "{alerts:?}");
    assert_eq!(gaps[0].symbol.as_deref(), Some("BTC/USDT"));
    assert_eq!(gaps[0].stream.as_deref(), Some("depth"));
}

const DOC_REST_BOOK: &str = include_str!("../../../fixtures/okx/schemas/http_get_order_book.json");

/// A doc example update re-sequenced by code.
fn update(prev: u64, seq: u64, t: Nanos) -> Record<'static> {
    let f = DOC_UPDATE
        .replace("\"prevSeqId\": 123456", &format!("\"prevSeqId\": {prev}"))
        .replace("\"seqId\": 123457", &format!("\"seqId\": {seq}"));
    rec(t, RecordKind::Frame(Cow::Owned(f)))
}

/// OKX's REST sync procedure (for when the WebSocket sends no initial
/// snapshot): buffer updates, fetch `GET /api/v5/market/books` (its `seqId`
/// added by code to the docs' example, which predates the field), and the
/// first buffered update must satisfy `prevSeqId <= snapshot seqId < seqId`.
fn rest_sync() -> Vec<Record<'static>> {
    let t0 = 1_597_026_383_085 * MILLI;
    let body = DOC_REST_BOOK.replace(
        "\"ts\": \"1704067200000\"",
        "\"ts\": \"1597026383100\", \"seqId\": 123460",
    );
    vec![
        update(123_450, 123_455, t0),
        update(123_455, 123_462, t0 + 10 * MILLI),
        rec(
            t0 + 20 * MILLI,
            RecordKind::Rest {
                request: Cow::Borrowed("/api/v5/market/books?instId=BTC-USDT&sz=400"),
                body: Cow::Owned(body),
            },
        ),
        update(123_462, 123_463, t0 + 30 * MILLI),
    ]
}

#[test]
fn rest_snapshot_bridges_on_okx_rule_and_injected_straddle_break_is_a_gap() {
    let mut recs = rest_sync();
    let (e, alerts) = drive(&recs);
    assert_eq!(e.stats().rest, 1);
    assert_eq!(e.stats().events.get("snapshot"), Some(&1));
    assert_eq!(e.stats().events.get("depth"), Some(&3));
    assert_eq!(e.stats().malformed, 0, "{:?}", e.stats().error_samples);
    assert!(opened(&alerts, Kind::BookGap).is_empty(), "{alerts:?}");

    // Injected: the update that should straddle the snapshot starts after
    // it (prevSeqId 123461 > snapshot seqId 123460): updates were lost.
    recs[1] = update(123_461, 123_462, recs[1].recv_ns);
    let (_, alerts) = drive(&recs);
    let gaps = opened(&alerts, Kind::BookGap);
    assert_eq!(gaps.len(), 1, "{alerts:?}");
    assert_eq!(gaps[0].symbol.as_deref(), Some("BTC/USDT"));
}
