//! OKX book checksum: a local copy of one instrument's book kept as the exact
//! price and size strings OKX sent, and the CRC32 OKX defines over its top
//! 25 levels (`bid_px:bid_sz:ask_px:ask_sz:...`, interleaved, continuing with
//! the longer side once the shorter one runs out; signed 32-bit on the wire).
//!
//! Used only for books that carry no `seqId` (older OKX v5 pushes, as in
//! real captures from 2022), where the checksum is the only integrity check.
//! It must never compare floats re-formatted as text (that changes the
//! string and so the CRC), and never grow past its level bound.

use std::collections::BTreeMap;

use super::wire::RawLevel;

/// Levels per side OKX covers with the checksum.
pub const CHECKSUM_DEPTH: usize = 25;

/// Most levels kept per side. OKX `books` is 400 deep; the bound keeps a
/// hostile stream from growing the map without limit.
pub const MAX_LEVELS: usize = 1000;

/// Orders positive finite prices by their bit pattern (monotonic for
/// non-negative IEEE doubles); `None` for anything else.
fn key(px: &str) -> Option<u64> {
    let p: f64 = px.parse().ok()?;
    (p.is_finite() && p >= 0.0).then_some(p.to_bits())
}

/// One instrument's book as exact strings.
#[derive(Debug, Default, Clone)]
pub struct StrBook {
    bids: BTreeMap<u64, (String, String)>,
    asks: BTreeMap<u64, (String, String)>,
}

impl StrBook {
    /// A book holding exactly the snapshot's levels.
    pub fn from_snapshot(bids: &[RawLevel<'_>], asks: &[RawLevel<'_>]) -> Self {
        let mut b = StrBook::default();
        b.apply(bids, asks);
        b
    }

    /// Sets (or with size 0, removes) each level. Levels whose price is not
    /// a number are skipped: the adapter has already rejected such frames.
    pub fn apply(&mut self, bids: &[RawLevel<'_>], asks: &[RawLevel<'_>]) {
        set(&mut self.bids, bids, true);
        set(&mut self.asks, asks, false);
    }

    /// Number of (bid, ask) levels held.
    #[cfg(test)]
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// The OKX checksum of the top 25 levels, computed into `buf` (reused
    /// so that no allocation happens per frame once it has grown).
    pub fn checksum(&self, buf: &mut String) -> u32 {
        buf.clear();
        let mut bids = self.bids.values().rev();
        let mut asks = self.asks.values();
        for _ in 0..CHECKSUM_DEPTH {
            let (b, a) = (bids.next(), asks.next());
            if b.is_none() && a.is_none() {
                break;
            }
            for (px, sz) in [b, a].into_iter().flatten() {
                if !buf.is_empty() {
                    buf.push(':');
                }
                buf.push_str(px);
                buf.push(':');
                buf.push_str(sz);
            }
        }
        crc32(buf.as_bytes())
    }
}

fn set(side: &mut BTreeMap<u64, (String, String)>, levels: &[RawLevel<'_>], bids: bool) {
    for l in levels {
        let Some(k) = key(&l.px) else { continue };
        // A size that does not parse is not zero: keep the level (the frame
        // was already rejected by the adapter in that case).
        if l.sz.parse::<f64>().is_ok_and(|s| s == 0.0) {
            side.remove(&k);
        } else {
            side.insert(k, (l.px.to_string(), l.sz.to_string()));
        }
    }
    // Drop the worst levels past the bound (lowest bids, highest asks).
    while side.len() > MAX_LEVELS {
        let worst = if bids {
            side.keys().next().copied()
        } else {
            side.keys().next_back().copied()
        };
        match worst {
            Some(k) => side.remove(&k),
            None => break,
        };
    }
}

/// CRC-32 (IEEE 802.3, the zlib one OKX uses).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(bytes);
    c.sum()
}

/// The checksum as OKX sends it (a signed 32-bit integer in JSON) as the
/// unsigned CRC it stands for; `None` outside the `i32` range.
pub fn wire_to_crc(v: i64) -> Option<u32> {
    i32::try_from(v).ok().map(|x| x as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn lv(px: &'static str, sz: &'static str) -> RawLevel<'static> {
        RawLevel {
            px: Cow::Borrowed(px),
            sz: Cow::Borrowed(sz),
        }
    }

    #[test]
    fn crc32_matches_the_zlib_check_value() {
        // The standard CRC-32 check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn interleaves_and_continues_with_the_longer_side() {
        let b = StrBook::from_snapshot(
            &[lv("3366.1", "7"), lv("3366", "6")],
            &[lv("3366.8", "9"), lv("3368", "8"), lv("3372", "8")],
        );
        let mut buf = String::new();
        let c = b.checksum(&mut buf);
        // The layout OKX documents: bid, ask, bid, ask, then the rest.
        assert_eq!(buf, "3366.1:7:3366.8:9:3366:6:3368:8:3372:8");
        assert_eq!(c, crc32(buf.as_bytes()));
    }

    #[test]
    fn zero_size_deletes_and_exact_strings_are_kept() {
        let mut b = StrBook::from_snapshot(&[lv("10.50", "1.0")], &[lv("11", "2")]);
        b.apply(&[lv("10.5", "0")], &[lv("11.0", "3.000")]);
        let mut buf = String::new();
        b.checksum(&mut buf);
        assert_eq!(buf, "11.0:3.000");
        assert_eq!(b.depth(), (0, 1));
    }

    #[test]
    fn sides_are_bounded() {
        let prices: Vec<String> = (1..=(MAX_LEVELS + 10)).map(|i| i.to_string()).collect();
        let levels: Vec<RawLevel<'_>> = prices
            .iter()
            .map(|p| RawLevel {
                px: Cow::Borrowed(p.as_str()),
                sz: Cow::Borrowed("1"),
            })
            .collect();
        let b = StrBook::from_snapshot(&levels, &levels);
        assert_eq!(b.depth(), (MAX_LEVELS, MAX_LEVELS));
        let mut buf = String::new();
        b.checksum(&mut buf);
        // Best bid is the highest price kept, best ask the lowest.
        assert!(
            buf.starts_with(&format!("{}:1:1:1", MAX_LEVELS + 10)),
            "{buf}"
        );
    }

    #[test]
    fn wire_checksum_is_signed() {
        assert_eq!(wire_to_crc(-1), Some(u32::MAX));
        assert_eq!(wire_to_crc(1_054_815_633), Some(1_054_815_633));
        assert_eq!(wire_to_crc(i64::from(u32::MAX)), None);
    }
}
