//! Fault injection over real recordings.
//!
//! Every fault used to test feedwatch is made here, by code, from real
//! recorded frames: silence a connection, lose it, drop one book update,
//! cross the best bid and offer, make data arrive late, print one bad trade,
//! shift a venue's prices away from the market. Each function says exactly
//! what it changed, so a test (or a fire drill) can name the fault it
//! injected. Nothing here is presented as recorded data.
//!
//! Frames are edited as text, touching only the field the fault is about, so
//! everything else in an injected frame stays byte for byte as recorded.

use crate::model::{Nanos, Venue};
use crate::record::{Record, RecordKind};
use std::borrow::Cow;

/// Records owned by the caller (the form faults are injected into).
pub type Records = Vec<Record<'static>>;

/// What an injection did, for the test's own assertions and messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// Records removed, changed or moved.
    pub touched: usize,
    /// Receive time of the first touched record.
    pub first_ns: Option<Nanos>,
    /// Receive time of the last touched record.
    pub last_ns: Option<Nanos>,
}

impl Injected {
    fn note(&mut self, t: Nanos) {
        self.touched += 1;
        self.first_ns = Some(self.first_ns.map_or(t, |f| f.min(t)));
        self.last_ns = Some(self.last_ns.map_or(t, |l| l.max(t)));
    }
}

fn empty() -> Injected {
    Injected {
        touched: 0,
        first_ns: None,
        last_ns: None,
    }
}

fn frame_text<'a>(r: &'a Record<'_>) -> Option<&'a str> {
    match &r.kind {
        RecordKind::Frame(t) => Some(t),
        _ => None,
    }
}

/// Silences every connection in `records` from `from` for `dur`: all
/// received frames in `[from, from + dur)` are removed, as if the exchange
/// stopped sending while the socket stayed open.
pub fn silence(records: &mut Records, from: Nanos, dur: Nanos) -> Injected {
    silence_where(records, from, dur, None)
}

/// Silences, in `[from, from + dur)`, only the frames whose text contains
/// `needle` (all frames when `None`): one stream stops while the others on
/// its connection go on.
pub fn silence_where(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: Option<&str>,
) -> Injected {
    let mut inj = empty();
    records.retain(|r| {
        let hit = matches!(r.kind, RecordKind::Frame(_) | RecordKind::Binary(_))
            && r.recv_ns >= from
            && r.recv_ns < from + dur
            && needle.is_none_or(|n| frame_text(r).is_some_and(|t| t.contains(n)));
        if hit {
            inj.note(r.recv_ns);
        }
        !hit
    });
    inj
}

/// A flapping feed: in `[from, from + dur)`, the frames (those containing
/// `needle`, or all) are silenced for `down` at the start of every
/// `period`, and flow the rest of it.
pub fn flap(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    period: Nanos,
    down: Nanos,
    needle: Option<&str>,
) -> Injected {
    let mut inj = empty();
    if period <= 0 || down <= 0 {
        return inj;
    }
    let mut at = from;
    while at < from + dur {
        let part = silence_where(records, at, down.min(from + dur - at), needle);
        inj.touched += part.touched;
        if inj.first_ns.is_none() {
            inj.first_ns = part.first_ns;
        }
        if part.last_ns.is_some() {
            inj.last_ns = part.last_ns;
        }
        at += period;
    }
    inj
}

/// feedwatch itself paused for `dur` from `from` (a process or VM pause):
/// every record received meanwhile is received at `from + dur` instead, in
/// its order, after the `stall` record the live consumer writes when it
/// notices on resuming (see [`RecordKind::Stall`]). Nothing is lost: the
/// kernel held the frames.
pub fn pause(records: &mut Records, from: Nanos, dur: Nanos) -> Injected {
    let mut inj = empty();
    let to = from + dur;
    let mut at = None;
    for (i, r) in records.iter_mut().enumerate() {
        if r.recv_ns >= from && r.recv_ns < to {
            inj.note(r.recv_ns);
            r.recv_ns = to;
            at.get_or_insert(i);
        }
    }
    let Some(i) = at else {
        return inj;
    };
    records.insert(
        i,
        Record {
            recv_ns: to,
            venue: Venue::Other("feedwatch"),
            conn: std::borrow::Cow::Borrowed("process"),
            kind: RecordKind::Stall { from_ns: from },
        },
    );
    inj
}

/// Every connection is lost at `at` and comes back `dur` later: a `close`
/// record with `reason` at `at` on each connection that had records
/// before it, nothing received in `[at, at + dur)`, and a new session (an
/// `open` record, with the URL of the connection's last `open`) at the
/// first record at or after `at + dur`, whose frames are then the new
/// session's. Records are taken to be in receive order.
pub fn lose_connection(records: &mut Records, at: Nanos, dur: Nanos, reason: &str) -> Injected {
    let mut inj = silence(records, at, dur);
    let mut conns: Vec<(Venue, Cow<'static, str>, Cow<'static, str>)> = Vec::new();
    for r in records.iter().filter(|r| r.recv_ns < at) {
        if matches!(r.kind, RecordKind::Stall { .. }) {
            continue;
        }
        let url = match &r.kind {
            RecordKind::Open { url } => Some(url.clone()),
            _ => None,
        };
        match conns.iter_mut().find(|(_, c, _)| *c == r.conn) {
            Some((_, _, u)) => *u = url.unwrap_or_else(|| u.clone()),
            None => conns.push((
                r.venue,
                r.conn.clone(),
                url.unwrap_or(Cow::Borrowed("unknown:injected")),
            )),
        }
    }
    let record = |t, (venue, conn, url): &(Venue, Cow<'static, str>, Cow<'static, str>), open| {
        let kind = if open {
            RecordKind::Open { url: url.clone() }
        } else {
            RecordKind::Close {
                reason: Cow::Owned(reason.to_string()),
            }
        };
        Record {
            recv_ns: t,
            venue: *venue,
            conn: conn.clone(),
            kind,
        }
    };
    let closes = records.partition_point(|r| r.recv_ns < at);
    for (n, c) in conns.iter().enumerate() {
        records.insert(closes + n, record(at, c, false));
        inj.note(at);
    }
    let back = at + dur;
    let opens = records.partition_point(|r| r.recv_ns < back);
    if let Some(t) = records.get(opens).map(|r| r.recv_ns) {
        for (n, c) in conns.iter().enumerate() {
            records.insert(opens + n, record(t, c, true));
            inj.note(t);
        }
    }
    inj
}

/// Removes the first frame at or after `from` whose text contains `needle`
/// (e.g. `"e":"depthUpdate"`).
pub fn drop_first(records: &mut Records, from: Nanos, needle: &str) -> Injected {
    let mut inj = empty();
    if let Some(i) = records
        .iter()
        .position(|r| r.recv_ns >= from && frame_text(r).is_some_and(|t| t.contains(needle)))
    {
        let r = records.remove(i);
        inj.note(r.recv_ns);
    }
    inj
}

/// Replaces the string value of the first `"key":"..."` in `text`.
fn set_string_field(text: &str, key: &str, value: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = text.find(&pat)? + pat.len();
    let len = text.get(start..)?.find('"')?;
    let mut s = String::with_capacity(text.len() + value.len());
    s.push_str(text.get(..start)?);
    s.push_str(value);
    s.push_str(text.get(start + len..)?);
    Some(s)
}

/// Reads the string value of the first `"key":"..."` in `text`.
pub fn string_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let start = text.find(&pat)? + pat.len();
    let len = text.get(start..)?.find('"')?;
    text.get(start..start + len)
}

/// Rewrites every frame containing `needle` in `[from, from + dur)` with
/// `edit` (`None` leaves the frame as recorded).
fn edit_frames(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    edit: impl Fn(&str) -> Option<String>,
) -> Injected {
    let mut inj = empty();
    for r in records.iter_mut() {
        if r.recv_ns < from || r.recv_ns >= from + dur {
            continue;
        }
        let Some(new) = frame_text(r).filter(|t| t.contains(needle)).and_then(&edit) else {
            continue;
        };
        r.kind = RecordKind::Frame(Cow::Owned(new));
        inj.note(r.recv_ns);
    }
    inj
}

/// Crosses every best-bid-and-offer frame (frames containing `needle`, e.g.
/// `@bookTicker`) in `[from, from + dur)`: the bid is set `bps` basis points
/// above the ask.
pub fn cross_bbo(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    bps: f64,
) -> Injected {
    edit_frames(records, from, dur, needle, |text| {
        let ask = string_field(text, "a")?.parse::<f64>().ok()?;
        set_string_field(text, "b", &format!("{:.8}", ask * (1.0 + bps / 1e4)))
    })
}

/// Makes data arrive late: from `from`, receive times drift linearly later,
/// reaching `max_delay` after `ramp`; then the backlog is delivered at once
/// (the catch-up), and frames after it arrive on time. Receive times stay in
/// order, as they would on a real socket.
pub fn drift_late(records: &mut Records, from: Nanos, ramp: Nanos, max_delay: Nanos) -> Injected {
    let mut inj = empty();
    let catch_up = from + ramp + max_delay;
    let mut last = Nanos::MIN;
    for r in records.iter_mut() {
        let t = r.recv_ns;
        let new = if t < from {
            t
        } else if t < from + ramp {
            let frac = (t - from) as f64 / ramp as f64;
            t + (frac * max_delay as f64) as Nanos
        } else if t < catch_up {
            catch_up
        } else {
            t
        };
        let new = new.max(last);
        if new != t {
            inj.note(t);
        }
        r.recv_ns = new;
        last = new;
    }
    inj
}

/// Prints one bad trade: the first trade frame (containing `needle`, e.g.
/// `@trade`) at or after `at` gets its price moved by `pct` percent.
pub fn bad_print(records: &mut Records, at: Nanos, needle: &str, pct: f64) -> Injected {
    let mut inj = empty();
    for r in records.iter_mut() {
        if r.recv_ns < at {
            continue;
        }
        let Some(text) = frame_text(r).filter(|t| t.contains(needle)) else {
            continue;
        };
        let Some(p) = string_field(text, "p").and_then(|p| p.parse::<f64>().ok()) else {
            continue;
        };
        let price = format!("{:.8}", p * (1.0 + pct / 100.0));
        if let Some(new) = set_string_field(text, "p", &price) {
            r.kind = RecordKind::Frame(Cow::Owned(new));
            inj.note(r.recv_ns);
            break;
        }
    }
    inj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SECOND, Venue};

    fn frame(t: Nanos, text: &str) -> Record<'static> {
        Record {
            recv_ns: t,
            venue: Venue::BinanceSpot,
            conn: Cow::Borrowed("c"),
            kind: RecordKind::Frame(Cow::Owned(text.to_string())),
        }
    }

    // Frame shapes from the Binance spot recording (prices shortened).
    const BBO: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"100.0","B":"1","a":"100.5","A":"2"}}"#;
    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":2,"p":"100.00","q":"0.1","T":1,"m":true,"M":true}}"#;

    #[test]
    fn cross_sets_bid_above_ask_and_nothing_else() {
        let mut r = vec![frame(0, BBO), frame(SECOND, BBO), frame(5 * SECOND, BBO)];
        let inj = cross_bbo(&mut r, SECOND, 3 * SECOND, "@bookTicker", 1.0);
        assert_eq!(inj.touched, 1);
        let t = frame_text(&r[1]).unwrap();
        assert_eq!(string_field(t, "b"), Some("100.51005000"));
        assert_eq!(t.replace("100.51005000", "100.0"), BBO);
        assert_eq!(frame_text(&r[0]).unwrap(), BBO);
    }

    #[test]
    fn drift_keeps_order_and_catches_up() {
        let mut r: Records = (0..200).map(|i| frame(i * SECOND, TRADE)).collect();
        drift_late(&mut r, 10 * SECOND, 60 * SECOND, 15 * SECOND);
        assert!(r.windows(2).all(|w| w[0].recv_ns <= w[1].recv_ns));
        assert_eq!(r[40].recv_ns, 40 * SECOND + 7_500_000_000);
        assert_eq!(r[75].recv_ns, 85 * SECOND);
        assert_eq!(r[100].recv_ns, 100 * SECOND);
    }

    #[test]
    fn bad_print_moves_one_price() {
        let mut r = vec![
            frame(0, TRADE),
            frame(SECOND, TRADE),
            frame(2 * SECOND, TRADE),
        ];
        let inj = bad_print(&mut r, SECOND, "@trade", 6.0);
        assert_eq!(inj.touched, 1);
        assert_eq!(
            string_field(frame_text(&r[1]).unwrap(), "p"),
            Some("106.00000000")
        );
        assert_eq!(frame_text(&r[2]).unwrap(), TRADE);
    }

    #[test]
    fn a_lost_connection_closes_goes_quiet_and_opens_a_new_session() {
        let mut r: Records = (0..10).map(|i| frame(i * SECOND, TRADE)).collect();
        let inj = lose_connection(&mut r, 3 * SECOND, 4 * SECOND, "1006 abnormal closure");
        // Frames at 3, 4, 5 and 6 s removed, a close and an open added.
        assert_eq!(inj.touched, 6);
        let kinds: Vec<(Nanos, &str)> = r
            .iter()
            .map(|r| {
                let k = match &r.kind {
                    RecordKind::Close { reason } => reason.as_ref(),
                    RecordKind::Open { url } => url.as_ref(),
                    _ => "frame",
                };
                (r.recv_ns / SECOND, k)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (0, "frame"),
                (1, "frame"),
                (2, "frame"),
                (3, "1006 abnormal closure"),
                (7, "unknown:injected"),
                (7, "frame"),
                (8, "frame"),
                (9, "frame"),
            ]
        );
        assert!(r.iter().all(|r| r.conn == "c"));
    }

    #[test]
    fn silence_and_drop_remove_frames() {
        let mut r: Records = (0..10).map(|i| frame(i * SECOND, TRADE)).collect();
        assert_eq!(silence(&mut r, 2 * SECOND, 3 * SECOND).touched, 3);
        assert_eq!(r.len(), 7);
        assert_eq!(
            drop_first(&mut r, 6 * SECOND, "trade").first_ns,
            Some(6 * SECOND)
        );
        assert_eq!(r.len(), 6);
    }
}

/// The raw value token of the first `"key":` in `text`: a string with its
/// quotes, or a number (up to the next `,` or `}`). Arrays and objects are
/// not read.
fn raw_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = text.find(&pat)? + pat.len();
    let rest = text.get(start..)?;
    let len = if rest.starts_with('"') {
        rest.get(1..)?.find('"')? + 2
    } else if rest.starts_with(['[', '{']) {
        return None;
    } else {
        rest.find([',', '}'])?
    };
    rest.get(..len)
}

/// Replaces the raw value token of the first `"key":` in `text`.
fn set_raw_field(text: &str, key: &str, value: &str) -> Option<String> {
    let old = raw_field(text, key)?;
    let pat = format!("\"{key}\":");
    let start = text.find(&pat)? + pat.len();
    let mut s = String::with_capacity(text.len() + value.len());
    s.push_str(text.get(..start)?);
    s.push_str(value);
    s.push_str(text.get(start + old.len()..)?);
    Some(s)
}

/// Freezes a stream: every frame containing `needle` in `[from, from + dur)`
/// keeps arriving, but its `keys` (e.g. `b`, `B`, `a`, `A` of a bookTicker;
/// `t`, `p`, `q`, `T` of a trade) repeat the values of the last such frame
/// before `from`, as a venue that stopped updating its cache would send.
/// Other fields (update ids, event times) stay as recorded.
pub fn freeze(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    keys: &[&str],
) -> Injected {
    let mut inj = empty();
    let Some(reference) = records
        .iter()
        .filter(|r| r.recv_ns < from)
        .filter_map(frame_text)
        .rfind(|t| t.contains(needle))
        .map(str::to_string)
    else {
        return inj;
    };
    let values: Vec<(&str, &str)> = keys
        .iter()
        .filter_map(|k| Some((*k, raw_field(&reference, k)?)))
        .collect();
    for r in records.iter_mut() {
        if r.recv_ns < from || r.recv_ns >= from + dur {
            continue;
        }
        let Some(text) = frame_text(r).filter(|t| t.contains(needle)) else {
            continue;
        };
        let mut new = text.to_string();
        for (k, v) in &values {
            if let Some(n) = set_raw_field(&new, k, v) {
                new = n;
            }
        }
        if new != text {
            r.kind = RecordKind::Frame(Cow::Owned(new));
        }
        // A frame already equal to the frozen values is frozen too.
        inj.note(r.recv_ns);
    }
    inj
}

/// Widens the spread of every best-bid-and-offer frame (containing
/// `needle`, e.g. `@bookTicker`) in `[from, from + dur)`: the ask is set
/// `bps` basis points above the bid.
pub fn widen_spread(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    bps: f64,
) -> Injected {
    edit_frames(records, from, dur, needle, |text| {
        let bid = string_field(text, "b")?.parse::<f64>().ok()?;
        set_string_field(text, "a", &format!("{:.8}", bid * (1.0 + bps / 1e4)))
    })
}

/// Thins a book: in every depth frame (containing `needle`, e.g.
/// `"e":"depthUpdate"`) in `[from, from + dur)`, each level's quantity
/// (`["price","qty"]`) is multiplied by `factor`. Deletions (quantity 0)
/// stay deletions; levels not updated in the window keep their size.
pub fn thin_book(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    factor: f64,
) -> Injected {
    edit_frames(records, from, dur, needle, |text| {
        scale_levels(text, factor)
    })
}

/// Multiplies the quantity of every `["price","qty"]` pair in `text`.
fn scale_levels(text: &str, factor: f64) -> Option<String> {
    scale_levels_by(text, |p, q| Some((p, q * factor)))
}

/// Rewrites every `["price","qty"]` pair in `text` with `edit` (both
/// written with 8 decimals); `None` when there is none.
fn scale_levels_by(text: &str, edit: impl Fn(f64, f64) -> Option<(f64, f64)>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find("[\"") {
        let (head, tail) = rest.split_at(open);
        out.push_str(head);
        let pair = tail.find("\"]").map(|end| tail.get(..end + 2));
        let Some(Some(pair)) = pair else {
            out.push_str(tail);
            return changed.then_some(out);
        };
        let inner = pair.get(2..pair.len() - 2).unwrap_or("");
        match inner.split_once("\",\"") {
            Some((p, q)) if !p.contains('"') && !q.contains('"') => {
                let (np, nq) = edit(p.parse::<f64>().ok()?, q.parse::<f64>().ok()?)?;
                // Unchanged numbers keep their recorded text.
                let np = if p.parse::<f64>().ok() == Some(np) {
                    p.to_string()
                } else {
                    format!("{np:.8}")
                };
                let nq = if q.parse::<f64>().ok() == Some(nq) {
                    q.to_string()
                } else {
                    format!("{nq:.8}")
                };
                out.push_str(&format!("[\"{np}\",\"{nq}\"]"));
                changed = true;
            }
            _ => out.push_str(pair),
        }
        rest = tail.get(pair.len()..).unwrap_or("");
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Makes a best-bid-and-offer stream stale against the trades: every frame
/// containing `needle` (e.g. `@bookTicker`) in `[from, from + dur)` has bid
/// and ask moved `bps` basis points down (the spread is kept), as a book
/// left behind by the market would show while trades print at the real
/// price.
pub fn stale_book(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    bps: f64,
) -> Injected {
    let shift = 1.0 - bps / 1e4;
    edit_frames(records, from, dur, needle, |text| {
        let mut new = text.to_string();
        for key in ["b", "a"] {
            let Some(v) = string_field(&new, key).and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            if let Some(n) = set_string_field(&new, key, &format!("{:.8}", v * shift)) {
                new = n;
            }
        }
        (new != text).then_some(new)
    })
}

/// Shifts a venue's prices: in every frame containing `needle` in
/// `[from, from + dur)`, the best bid and ask (`b`, `a`) and the trade price
/// (`p`) are multiplied by `1 + pct / 100`, as a venue whose prices drifted
/// away from the market would send them. Quantities, ids and times stay as
/// recorded; depth levels are left alone (shifting diffs without a shifted
/// snapshot would cross the local book), so a synced L2 book of the venue
/// keeps the market's prices.
pub fn shift_price(
    records: &mut Records,
    from: Nanos,
    dur: Nanos,
    needle: &str,
    pct: f64,
) -> Injected {
    let factor = 1.0 + pct / 100.0;
    edit_frames(records, from, dur, needle, |text| {
        // Depth frames carry `b`/`a` as arrays, which `string_field` does
        // not read: only bookTicker and trade frames change.
        let new = scale_quote_and_trade(text.to_string(), factor);
        (new != text).then_some(new)
    })
}

/// A stablecoin quote off its peg (`quote_depeg`): from `from` on, every
/// price of the frames containing `needle` (the markets of one quote, e.g.
/// `usdt@` for Binance's BTCUSDT streams) is multiplied by `1 + pct / 100`:
/// best bid and ask (`b`, `a`), trade prices (`p`), and every price level
/// of depth diffs and of REST depth snapshots (`["price","qty"]`), so each
/// venue's own data stays consistent (its book, its trades and its
/// candles move together) while the whole quote sits off the other quotes
/// of its family. A REST snapshot is matched on its request path (which
/// names the symbol, `symbol=BTCUSDT`) against `needle` without its
/// trailing `@`, case-insensitively. Quantities, ids and times stay as
/// recorded. Injected, never recorded: the real recordings held their peg.
pub fn depeg_quote(records: &mut Records, from: Nanos, needle: &str, pct: f64) -> Injected {
    let factor = 1.0 + pct / 100.0;
    let symbol = needle.trim_end_matches('@').to_ascii_lowercase();
    let mut inj = empty();
    for r in records.iter_mut() {
        if r.recv_ns < from {
            continue;
        }
        let new = match &r.kind {
            RecordKind::Frame(t) if t.contains(needle) => {
                scale_prices(t, factor).map(|t| RecordKind::Frame(Cow::Owned(t)))
            }
            RecordKind::Rest { request, body }
                if !symbol.is_empty() && request.to_ascii_lowercase().contains(&symbol) =>
            {
                scale_levels_by(body, |p, q| Some((p * factor, q))).map(|b| RecordKind::Rest {
                    request: request.clone(),
                    body: Cow::Owned(b),
                })
            }
            _ => None,
        };
        if let Some(k) = new {
            r.kind = k;
            inj.note(r.recv_ns);
        }
    }
    inj
}

/// `text` with its bid, ask and trade prices and its level prices
/// multiplied by `factor`; `None` when it has none.
fn scale_prices(text: &str, factor: f64) -> Option<String> {
    let levels =
        scale_levels_by(text, |p, q| Some((p * factor, q))).unwrap_or_else(|| text.to_string());
    let new = scale_quote_and_trade(levels, factor);
    (new != text).then_some(new)
}

/// `text` with its string-valued best bid and ask (`b`, `a`) and trade
/// price (`p`) multiplied by `factor` (depth arrays are not read).
fn scale_quote_and_trade(mut text: String, factor: f64) -> String {
    for key in ["b", "a", "p"] {
        let Some(v) = string_field(&text, key).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        if let Some(n) = set_string_field(&text, key, &format!("{:.8}", v * factor)) {
            text = n;
        }
    }
    text
}

#[cfg(test)]
mod health_fault_tests {
    use super::*;
    use crate::model::{SECOND, Venue};

    fn frame(t: Nanos, text: &str) -> Record<'static> {
        Record {
            recv_ns: t,
            venue: Venue::BinanceSpot,
            conn: Cow::Borrowed("c"),
            kind: RecordKind::Frame(Cow::Owned(text.to_string())),
        }
    }

    fn text<'a>(r: &'a Record<'_>) -> &'a str {
        frame_text(r).unwrap()
    }

    // Frame shapes from the Binance spot recording (prices shortened).
    const BBO1: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"100.0","B":"1","a":"100.5","A":"2"}}"#;
    const BBO2: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":2,"s":"BTCUSDT","b":"101.0","B":"3","a":"101.5","A":"4"}}"#;
    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":2,"p":"100.00","q":"0.1","T":1,"m":true,"M":true}}"#;
    const DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.0","2.0"],["99.0","0.00000000"]],"a":[["101.0","4.0"]]}}"#;

    #[test]
    fn freeze_repeats_the_last_values_and_keeps_the_rest() {
        let mut r = vec![frame(0, BBO1), frame(SECOND, BBO2), frame(3 * SECOND, BBO2)];
        let inj = freeze(&mut r, SECOND, SECOND, "@bookTicker", &["b", "B", "a", "A"]);
        assert_eq!(inj.touched, 1);
        assert_eq!(
            text(&r[1]),
            r#"{"stream":"btcusdt@bookTicker","data":{"u":2,"s":"BTCUSDT","b":"100.0","B":"1","a":"100.5","A":"2"}}"#
        );
        assert_eq!(text(&r[2]), BBO2);
        // Numbers too (trade ids and times).
        let other = TRADE
            .replace("\"t\":2", "\"t\":3")
            .replace("100.00", "100.50");
        let mut r = vec![frame(0, TRADE), frame(SECOND, &other)];
        freeze(&mut r, SECOND, SECOND, "@trade", &["t", "p", "q", "T"]);
        assert_eq!(text(&r[1]), TRADE);
        // Nothing before the window: nothing to repeat.
        let mut r = vec![frame(SECOND, BBO1)];
        assert_eq!(
            freeze(&mut r, 0, 5 * SECOND, "@bookTicker", &["b"]).touched,
            0
        );
    }

    #[test]
    fn widen_and_stale_move_only_prices() {
        let mut r = vec![frame(0, BBO1)];
        assert_eq!(
            widen_spread(&mut r, 0, SECOND, "@bookTicker", 100.0).touched,
            1
        );
        assert_eq!(string_field(text(&r[0]), "a"), Some("101.00000000"));
        assert_eq!(string_field(text(&r[0]), "b"), Some("100.0"));
        let mut r = vec![frame(0, BBO1)];
        assert_eq!(
            stale_book(&mut r, 0, SECOND, "@bookTicker", 100.0).touched,
            1
        );
        assert_eq!(string_field(text(&r[0]), "b"), Some("99.00000000"));
        assert_eq!(string_field(text(&r[0]), "a"), Some("99.49500000"));
        assert_eq!(string_field(text(&r[0]), "B"), Some("1"));
    }

    #[test]
    fn shift_moves_bbo_and_trade_prices_only_in_the_window() {
        let mut r = vec![
            frame(0, BBO1),
            frame(SECOND, BBO1),
            frame(SECOND, TRADE),
            frame(SECOND, DEPTH),
            frame(3 * SECOND, TRADE),
        ];
        let inj = shift_price(&mut r, SECOND, 2 * SECOND, "btcusdt@", 2.0);
        assert_eq!(inj.touched, 2, "bbo and trade, not depth");
        assert_eq!(text(&r[0]), BBO1);
        assert_eq!(string_field(text(&r[1]), "b"), Some("102.00000000"));
        assert_eq!(string_field(text(&r[1]), "a"), Some("102.51000000"));
        assert_eq!(string_field(text(&r[1]), "B"), Some("1"));
        assert_eq!(string_field(text(&r[2]), "p"), Some("102.00000000"));
        assert_eq!(string_field(text(&r[2]), "q"), Some("0.1"));
        assert_eq!(text(&r[3]), DEPTH);
        assert_eq!(text(&r[4]), TRADE);
    }

    #[test]
    fn a_depeg_scales_every_price_of_the_quote_and_nothing_else() {
        const SNAP: &str = r#"{"lastUpdateId":1,"bids":[["100.0","2.0"]],"asks":[["101.0","1"]]}"#;
        let rest = |t: Nanos, request: &'static str| Record {
            recv_ns: t,
            venue: Venue::BinanceSpot,
            conn: Cow::Borrowed("c"),
            kind: RecordKind::Rest {
                request: Cow::Borrowed(request),
                body: Cow::Borrowed(SNAP),
            },
        };
        let usd = BBO1.replace("btcusdt@", "btcusd_perp@");
        let mut r = vec![
            frame(0, BBO1),
            rest(SECOND, "/api/v3/depth?symbol=BTCUSDT&limit=1000"),
            frame(SECOND, DEPTH),
            frame(SECOND, TRADE),
            frame(SECOND, BBO1),
            frame(SECOND, &usd),
            rest(SECOND, "/dapi/v1/depth?symbol=BTCUSD_PERP"),
        ];
        let inj = depeg_quote(&mut r, SECOND, "usdt@", 3.0);
        assert_eq!(inj.touched, 4, "snapshot, depth, trade, bbo");
        assert_eq!(text(&r[0]), BBO1, "before the depeg");
        let RecordKind::Rest { body, .. } = &r[1].kind else {
            panic!("not a rest record")
        };
        assert_eq!(
            body,
            r#"{"lastUpdateId":1,"bids":[["103.00000000","2.0"]],"asks":[["104.03000000","1"]]}"#
        );
        assert_eq!(
            text(&r[2]),
            r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["103.00000000","2.0"],["101.97000000","0.00000000"]],"a":[["104.03000000","4.0"]]}}"#
        );
        assert_eq!(string_field(text(&r[3]), "p"), Some("103.00000000"));
        assert_eq!(string_field(text(&r[3]), "q"), Some("0.1"));
        assert_eq!(string_field(text(&r[4]), "b"), Some("103.00000000"));
        assert_eq!(string_field(text(&r[4]), "A"), Some("2"));
        // The other quote's markets are left as recorded.
        assert_eq!(text(&r[5]), usd);
        let RecordKind::Rest { body, .. } = &r[6].kind else {
            panic!("not a rest record")
        };
        assert_eq!(body, SNAP);
    }

    #[test]
    fn thin_scales_every_level_and_keeps_deletions() {
        let mut r = vec![frame(0, DEPTH), frame(SECOND, DEPTH)];
        let inj = thin_book(&mut r, 0, SECOND, "depthUpdate", 0.01);
        assert_eq!(inj.touched, 1);
        assert_eq!(
            text(&r[0]),
            r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.0","0.02000000"],["99.0","0.00000000"]],"a":[["101.0","0.04000000"]]}}"#
        );
        assert_eq!(text(&r[1]), DEPTH);
    }
}
