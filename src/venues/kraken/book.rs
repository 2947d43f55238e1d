//! Kraken's book checksum and the small per-symbol book the adapter keeps
//! to compute it.
//!
//! Kraken's CRC32 is taken over the exact decimal text of the top 10 asks
//! (low to high) then the top 10 bids (high to low), each price then qty
//! with the `.` removed and leading zeros stripped. The same rule holds for
//! WebSocket v1 (`"c"`) and v2 (`checksum`), so it can be verified against
//! real v1 captures. Because the text matters (`0.136` and `0.1360` hash
//! differently), levels are kept as the strings the venue sent, not as
//! floats.
//!
//! This module must never allocate per level or per frame on the hot path
//! (texts are stored inline), never hold more than the subscribed depth per
//! side, and never panic on any text: bad decimals are reported by the
//! caller as malformed before they reach the book.

/// Levels per side the checksum covers.
pub const CHECKSUM_LEVELS: usize = 10;

/// Longest decimal text kept for a price or quantity. Kraken's longest are
/// about 20 characters (`12345678.12345678`); anything longer is rejected as
/// malformed rather than truncated, which would corrupt the checksum.
pub const MAX_DECIMAL_LEN: usize = 32;

/// The book depths Kraken v2 accepts in a `book` subscription.
pub const VALID_DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// Feeds one decimal text into the hasher with `.` removed and leading
/// zeros stripped (Kraken's formatting rule), without building a string.
fn feed(h: &mut crc32fast::Hasher, text: &[u8]) {
    let mut leading = true;
    for &b in text {
        if b == b'.' {
            continue;
        }
        if leading && b == b'0' {
            continue;
        }
        leading = false;
        h.update(&[b]);
    }
}

/// Kraken's book checksum over `(price, qty)` texts exactly as the venue
/// sent them: `asks` best (lowest) first, `bids` best (highest) first. Only
/// the first [`CHECKSUM_LEVELS`] of each are used.
pub fn checksum<'a>(
    asks: impl IntoIterator<Item = (&'a str, &'a str)>,
    bids: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (p, q) in asks.into_iter().take(CHECKSUM_LEVELS) {
        feed(&mut h, p.as_bytes());
        feed(&mut h, q.as_bytes());
    }
    for (p, q) in bids.into_iter().take(CHECKSUM_LEVELS) {
        feed(&mut h, p.as_bytes());
        feed(&mut h, q.as_bytes());
    }
    h.finalize()
}

/// A decimal's text stored inline (no heap).
#[derive(Clone, Copy)]
pub struct Text {
    len: u8,
    buf: [u8; MAX_DECIMAL_LEN],
}

impl Text {
    /// Stores `s` if it is a plain decimal (`digits[.digits]`) of at most
    /// [`MAX_DECIMAL_LEN`] bytes; `None` otherwise.
    pub fn new(s: &str) -> Option<Text> {
        if !is_plain_decimal(s) || s.len() > MAX_DECIMAL_LEN {
            return None;
        }
        let mut buf = [0u8; MAX_DECIMAL_LEN];
        buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(Text {
            len: u8::try_from(s.len()).ok()?,
            buf,
        })
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and '.' are ever stored, so this cannot fail.
        self.buf
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// Whether `s` is `digits` or `digits.digits` (ASCII only, at least one
/// digit on each side of the point): the only form whose checksum text is
/// unambiguous. Signs, exponents and whitespace are not.
pub fn is_plain_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// One price level: the price as a number (for ordering) and both texts.
#[derive(Clone, Copy)]
pub struct TextLevel {
    /// Price, for ordering and matching.
    pub price: f64,
    /// Price text as sent.
    pub price_text: Text,
    /// Quantity text as sent.
    pub qty_text: Text,
}

/// One symbol's book as the venue's texts, best first on each side, at most
/// `depth` levels per side.
pub struct TextBook {
    depth: usize,
    asks: Vec<TextLevel>,
    bids: Vec<TextLevel>,
    /// Set after a checksum mismatch: the book is known wrong until the next
    /// snapshot, so no further checks are made (one fault, one report).
    pub broken: bool,
}

/// Which side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookSide {
    /// Bids: best is highest.
    Bid,
    /// Asks: best is lowest.
    Ask,
}

impl TextBook {
    /// An empty book holding at most `depth` levels per side.
    pub fn new(depth: usize) -> Self {
        TextBook {
            depth: depth.max(1),
            asks: Vec::new(),
            bids: Vec::new(),
            broken: false,
        }
    }

    /// The depth this book is truncated to.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Empties the book for a snapshot, keeping its buffers, with a new depth.
    pub fn reset(&mut self, depth: usize) {
        self.depth = depth.max(1);
        self.asks.clear();
        self.bids.clear();
        self.broken = false;
    }

    /// Levels held on one side.
    #[cfg(test)]
    pub fn len(&self, side: BookSide) -> usize {
        match side {
            BookSide::Bid => self.bids.len(),
            BookSide::Ask => self.asks.len(),
        }
    }

    /// Sets one level (quantity zero removes it), then truncates the side to
    /// the depth: Kraken sends no delete for levels that fall out of scope.
    pub fn set(&mut self, side: BookSide, level: TextLevel, qty_is_zero: bool) {
        let (levels, bid) = match side {
            BookSide::Bid => (&mut self.bids, true),
            BookSide::Ask => (&mut self.asks, false),
        };
        // Best first: bids descending, asks ascending. `total_cmp` keeps
        // the search total even for values the caller never lets in (NaN).
        let pos = levels.binary_search_by(|l| {
            if bid {
                level.price.total_cmp(&l.price)
            } else {
                l.price.total_cmp(&level.price)
            }
        });
        match (pos, qty_is_zero) {
            (Ok(i), true) => {
                levels.remove(i);
            }
            (Ok(i), false) => {
                if let Some(l) = levels.get_mut(i) {
                    *l = level;
                }
            }
            (Err(_), true) => {}
            (Err(i), false) => {
                if i < self.depth {
                    levels.insert(i, level);
                }
            }
        }
        levels.truncate(self.depth);
    }

    /// The checksum over the current top of book.
    pub fn checksum(&self) -> u32 {
        checksum(
            self.asks
                .iter()
                .map(|l| (l.price_text.as_str(), l.qty_text.as_str())),
            self.bids
                .iter()
                .map(|l| (l.price_text.as_str(), l.qty_text.as_str())),
        )
    }
}

/// The smallest valid Kraken depth that holds `levels` levels (a snapshot
/// never has more levels than the subscribed depth), capped at the largest.
pub fn depth_for(levels: usize) -> usize {
    VALID_DEPTHS
        .iter()
        .copied()
        .find(|&d| d >= levels)
        .unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvl(p: &str, q: &str) -> TextLevel {
        TextLevel {
            price: p.parse().unwrap(),
            price_text: Text::new(p).unwrap(),
            qty_text: Text::new(q).unwrap(),
        }
    }

    #[test]
    fn doc_example_formatting_of_one_level() {
        // Kraken's v2 guide: price "45285.2" -> "452852", qty "0.00100000"
        // -> "100000", concatenated "452852100000". CRC32 of that string
        // by the IEEE polynomial (computed with Python's zlib.crc32).
        assert_eq!(checksum([("45285.2", "0.00100000")], []), 2_099_347_975);
    }

    #[test]
    fn trailing_zeros_count_and_leading_zeros_do_not() {
        let a = checksum([("0.05000", "0.00000304")], []);
        let b = checksum([("5.000", "304")], []);
        assert_eq!(a, b, "both format as \"5000304\"");
        assert_ne!(
            checksum([("0.136", "1")], []),
            checksum([("0.1360", "1")], [])
        );
    }

    #[test]
    fn only_ten_levels_per_side_count() {
        let asks: Vec<(String, String)> = (0..12)
            .map(|i| (format!("{}.5", 100 + i), "1.0".to_string()))
            .collect();
        let all = checksum(asks.iter().map(|(p, q)| (p.as_str(), q.as_str())), []);
        let ten = checksum(
            asks.iter().take(10).map(|(p, q)| (p.as_str(), q.as_str())),
            [],
        );
        assert_eq!(all, ten);
    }

    #[test]
    fn plain_decimals_only() {
        for ok in ["0", "1.5", "0.00000304", "105944.20"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for bad in ["", ".", "1.", ".5", "-1", "1e5", "1.2.3", " 1", "+1", "１"] {
            assert!(!is_plain_decimal(bad), "{bad}");
        }
        assert!(Text::new(&"1".repeat(MAX_DECIMAL_LEN + 1)).is_none());
        assert_eq!(Text::new("12.50").unwrap().as_str(), "12.50");
    }

    #[test]
    fn book_orders_replaces_deletes_and_truncates() {
        let mut b = TextBook::new(3);
        for p in ["10.0", "12.0", "11.0", "9.0"] {
            b.set(BookSide::Bid, lvl(p, "1"), false);
        }
        // Depth 3: 9.0 fell out of scope.
        assert_eq!(b.len(BookSide::Bid), 3);
        let texts: Vec<&str> = b.bids.iter().map(|l| l.price_text.as_str()).collect();
        assert_eq!(texts, ["12.0", "11.0", "10.0"]);
        b.set(BookSide::Bid, lvl("11.0", "2"), false);
        assert_eq!(b.bids[1].qty_text.as_str(), "2");
        b.set(BookSide::Bid, lvl("12.0", "0"), true);
        b.set(BookSide::Bid, lvl("5.0", "0"), true);
        assert_eq!(b.len(BookSide::Bid), 2);
        for p in ["3.0", "1.0", "2.0"] {
            b.set(BookSide::Ask, lvl(p, "1"), false);
        }
        let texts: Vec<&str> = b.asks.iter().map(|l| l.price_text.as_str()).collect();
        assert_eq!(texts, ["1.0", "2.0", "3.0"]);
        // An insert below the worst held level of a full side is out of scope.
        b.set(BookSide::Ask, lvl("4.0", "1"), false);
        assert_eq!(b.len(BookSide::Ask), 3);
    }

    #[test]
    fn depth_rounds_up_to_a_valid_subscription() {
        assert_eq!(depth_for(0), 10);
        assert_eq!(depth_for(10), 10);
        assert_eq!(depth_for(11), 25);
        assert_eq!(depth_for(1000), 1000);
        assert_eq!(depth_for(5000), 1000);
    }
}
