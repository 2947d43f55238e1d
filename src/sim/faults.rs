//! The simulator's `--faults` specification: which faults to inject into
//! the served (real, recorded) frames and connections, and when.
//!
//! Syntax: comma-separated `name=value` items (values are integers), e.g.
//! `close-after=500,corrupt-every=100,conns=1`. Unknown names and bad values
//! are errors naming the item. Parsing never panics.

use std::str::FromStr;

/// Faults to inject. Frame counts are per connection, 1-based.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// `close-after=N`: send a close frame (1001) after N frames.
    pub close_after: Option<u64>,
    /// `stall-after=N`: after N frames send nothing more, but keep the
    /// socket open and answer pings (a silent feed on a live socket).
    pub stall_after: Option<u64>,
    /// `half-open-after=N`: after N frames stop sending AND reading (pings
    /// go unanswered), keeping the TCP connection open.
    pub half_open_after: Option<u64>,
    /// `drop-every=N`: do not send every Nth frame.
    pub drop_every: Option<u64>,
    /// `corrupt-every=N`: send every Nth frame cut in half with `#corrupt`
    /// appended (invalid JSON).
    pub corrupt_every: Option<u64>,
    /// `oversize-after=N`: after N frames send one 16 MiB text frame.
    pub oversize_after: Option<u64>,
    /// `delay-ms=N`: wait N ms more before every frame.
    pub delay_ms: Option<u64>,
    /// `conns=K`: the per-connection faults above apply only to the first K
    /// served connections (default: all).
    pub conns: Option<u64>,
    /// `refuse-first=N`: close the first N TCP connections before the
    /// handshake.
    pub refuse_first: u64,
    /// `refuse-ms=N`: close every TCP connection arriving in the first N ms
    /// after start, before the handshake.
    pub refuse_ms: u64,
    /// `reject-429=N`: answer the first N handshakes (after refusals) with
    /// HTTP 429 and a `Retry-After`.
    pub reject_429: u64,
    /// `retry-after=S`: the `Retry-After` seconds sent with a 429 (default 1).
    pub retry_after_s: u64,
}

/// The size of the `oversize-after` frame.
pub const OVERSIZE_BYTES: usize = 16 * 1024 * 1024;

impl Faults {
    /// Whether per-connection faults apply to served connection `n` (1-based).
    pub fn applies_to(&self, n: u64) -> bool {
        self.conns.is_none_or(|k| n <= k)
    }
}

impl FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Faults, String> {
        let mut f = Faults {
            retry_after_s: 1,
            ..Faults::default()
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(format!("fault `{item}`: expected name=value"));
            };
            let v: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("fault `{item}`: `{value}` is not a non-negative integer"))?;
            let every = |v: u64| {
                if v == 0 {
                    Err(format!("fault `{item}`: must be at least 1"))
                } else {
                    Ok(Some(v))
                }
            };
            match name.trim() {
                "close-after" => f.close_after = Some(v),
                "stall-after" => f.stall_after = Some(v),
                "half-open-after" => f.half_open_after = Some(v),
                "drop-every" => f.drop_every = every(v)?,
                "corrupt-every" => f.corrupt_every = every(v)?,
                "oversize-after" => f.oversize_after = Some(v),
                "delay-ms" => f.delay_ms = Some(v),
                "conns" => f.conns = Some(v),
                "refuse-first" => f.refuse_first = v,
                "refuse-ms" => f.refuse_ms = v,
                "reject-429" => f.reject_429 = v,
                "retry-after" => f.retry_after_s = v,
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (known: close-after, stall-after, half-open-after, drop-every, corrupt-every, oversize-after, delay-ms, conns, refuse-first, refuse-ms, reject-429, retry-after)"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// The frame cut in half (at a character boundary) with `#corrupt` appended.
pub fn corrupt(text: &str) -> String {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut s = String::with_capacity(cut + 8);
    s.push_str(text.get(..cut).unwrap_or(""));
    s.push_str("#corrupt");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_and_errors_name_the_item() {
        let f: Faults = "close-after=5, corrupt-every=3,conns=1,reject-429=2"
            .parse()
            .unwrap();
        assert_eq!(f.close_after, Some(5));
        assert_eq!(f.corrupt_every, Some(3));
        assert_eq!(f.reject_429, 2);
        assert_eq!(f.retry_after_s, 1);
        assert!(f.applies_to(1) && !f.applies_to(2));
        assert_eq!("".parse::<Faults>().unwrap().close_after, None);
        assert!(
            "explode=1"
                .parse::<Faults>()
                .unwrap_err()
                .contains("explode")
        );
        assert!(
            "close-after"
                .parse::<Faults>()
                .unwrap_err()
                .contains("name=value")
        );
        assert!(
            "drop-every=0"
                .parse::<Faults>()
                .unwrap_err()
                .contains("drop-every")
        );
        assert!(
            "stall-after=-1"
                .parse::<Faults>()
                .unwrap_err()
                .contains("-1")
        );
    }

    #[test]
    fn corruption_cuts_on_a_char_boundary() {
        assert_eq!(corrupt("{\"a\":1}"), "{\"a#corrupt");
        assert_eq!(corrupt("ééé"), "é#corrupt");
        assert_eq!(corrupt(""), "#corrupt");
    }
}
