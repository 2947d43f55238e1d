//! Fault injection over real recordings.
//!
//! Every fault used to test feedwatch is made here, by code, from real
//! recorded frames: silence a connection, drop one book update, cross the
//! best bid and offer, make data arrive late, print one bad trade. Each
//! function says exactly what it changed, so a test (or a fire drill) can
//! name the fault it injected. Nothing here is presented as recorded data.
//!
//! Frames are edited as text, touching only the field the fault is about, so
//! everything else in an injected frame stays byte for byte as recorded.

use crate::fixture::{Record, RecordKind};
use crate::model::Nanos;
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
    let mut inj = empty();
    records.retain(|r| {
        let hit = matches!(r.kind, RecordKind::Frame(_) | RecordKind::Binary(_))
            && r.recv_ns >= from
            && r.recv_ns < from + dur;
        if hit {
            inj.note(r.recv_ns);
        }
        !hit
    });
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
    let mut inj = empty();
    for r in records.iter_mut() {
        if r.recv_ns < from || r.recv_ns >= from + dur {
            continue;
        }
        let Some(text) = frame_text(r).filter(|t| t.contains(needle)) else {
            continue;
        };
        let Some(ask) = string_field(text, "a").and_then(|a| a.parse::<f64>().ok()) else {
            continue;
        };
        let bid = format!("{:.8}", ask * (1.0 + bps / 1e4));
        if let Some(new) = set_string_field(text, "b", &bid) {
            r.kind = RecordKind::Frame(Cow::Owned(new));
            inj.note(r.recv_ns);
        }
    }
    inj
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
