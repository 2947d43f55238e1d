//! Single-pass byte scanner for the hot Binance frame shapes: the
//! combined-stream envelope `{"stream":"..","data":{..}}` whose payload is a
//! `bookTicker`, `trade`, `aggTrade` or `depthUpdate` (spot and futures).
//!
//! It fills the very same [`Frame`] that [`super::wire::parse`] would fill
//! for that text, so the adapter interprets both alike and no result can
//! differ. It is deliberately narrow and conservative: it accepts only
//! frames that the serde path would also parse without error into exactly
//! that frame, and answers "not handled" (`None`) on anything else —
//! whitespace, escapes or control characters in strings, keys it does not
//! know, duplicate keys, numbers where strings are expected (or the
//! reverse), non-canonical integers, integer overflow, decimals that are
//! negative, NaN or infinite, a non-object `data`, a missing `stream` or
//! `data`, trailing bytes. Those frames go to the serde path, which keeps
//! today's results and error messages.
//!
//! It must never panic, never allocate beyond the adapter's reusable level
//! buffers, and never decide what a message means (that stays in the
//! adapter's `interpret`).

use std::borrow::Cow;

use super::wire::{Body, Data, Frame, Side, State};
use crate::model::Level;

/// Parses `text` into `fr` (which must be `Frame::default()`) and `st`'s
/// level buffers when it has one of the handled shapes. `None` means "not
/// handled": `fr` and the level buffers may then hold partial results and
/// must be discarded; the caller parses the frame with the serde path.
pub(super) fn parse<'a>(text: &'a str, st: &mut State, fr: &mut Frame<'a>) -> Option<()> {
    let mut c = Cursor {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    c.eat(b'{')?;
    let (mut have_stream, mut have_data) = (false, false);
    loop {
        match c.string()? {
            "stream" if !have_stream => {
                c.eat(b':')?;
                fr.stream = Some(Cow::Borrowed(c.string()?));
                have_stream = true;
            }
            "data" if !have_data => {
                c.eat(b':')?;
                body(&mut c, st, &mut fr.body)?;
                fr.data = Data::Object;
                have_data = true;
            }
            _ => return None,
        }
        match c.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    // A lone `stream` or `data` is an error or a raw payload: serde's job.
    if !(have_stream && have_data) || c.pos != c.bytes.len() {
        return None;
    }
    st.field = "";
    Some(())
}

/// One bit per payload key, to refuse duplicates (serde would let the last
/// one win, and with level buffers that is not worth imitating).
mod seen {
    pub const E_TYPE: u32 = 1 << 0;
    pub const E_TIME: u32 = 1 << 1;
    pub const T_TIME: u32 = 1 << 2;
    pub const SYM: u32 = 1 << 3;
    pub const FIRST: u32 = 1 << 4;
    pub const LAST: u32 = 1 << 5;
    pub const PREV: u32 = 1 << 6;
    pub const B: u32 = 1 << 7;
    pub const A: u32 = 1 << 8;
    pub const BID_QTY: u32 = 1 << 9;
    pub const ASK_QTY: u32 = 1 << 10;
    pub const PRICE: u32 = 1 << 11;
    pub const QTY: u32 = 1 << 12;
    pub const TRADE_ID: u32 = 1 << 13;
    pub const BUYER_MAKER: u32 = 1 << 14;
    pub const BEST_MATCH: u32 = 1 << 15;
    pub const ORDER_TYPE: u32 = 1 << 16;
    pub const PAIR: u32 = 1 << 17;
    pub const FIRST_TRADE: u32 = 1 << 18;
    pub const LAST_TRADE: u32 = 1 << 19;
}

/// The `data` object: any order of the keys the four hot payloads carry.
fn body<'a>(c: &mut Cursor<'a>, st: &mut State, b: &mut Body<'a>) -> Option<()> {
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        c.pos += 1;
        return Some(());
    }
    let mut mask = 0u32;
    loop {
        let key = c.key()?;
        let bit = match key {
            b"e" => {
                b.event = Some(Cow::Borrowed(c.string()?));
                seen::E_TYPE
            }
            b"E" => {
                b.event_ms = Some(c.uint()?);
                seen::E_TIME
            }
            b"T" => {
                b.trade_ms = Some(c.uint()?);
                seen::T_TIME
            }
            b"s" => {
                b.symbol = Some(Cow::Borrowed(c.string()?));
                seen::SYM
            }
            b"U" => {
                b.first_id = Some(c.uint()?);
                seen::FIRST
            }
            b"u" => {
                b.last_id = Some(c.uint()?);
                seen::LAST
            }
            b"pu" => {
                b.prev_id = Some(c.uint()?);
                seen::PREV
            }
            b"b" => {
                b.b = side(c, &mut st.bids)?;
                seen::B
            }
            b"a" => {
                b.a = side(c, &mut st.asks)?;
                seen::A
            }
            b"B" => {
                b.bid_qty = Some(c.decimal()?);
                seen::BID_QTY
            }
            b"A" => {
                b.ask_qty = Some(c.decimal()?);
                seen::ASK_QTY
            }
            b"p" => {
                b.price = Some(c.decimal()?);
                seen::PRICE
            }
            b"q" => {
                b.qty = Some(c.decimal()?);
                seen::QTY
            }
            b"t" => {
                b.trade_id = Some(c.uint()?);
                seen::TRADE_ID
            }
            // Keys the adapter ignores, with the value shapes Binance sends.
            b"m" => c.boolean().map(|_| seen::BUYER_MAKER)?,
            b"M" => c.boolean().map(|_| seen::BEST_MATCH)?,
            b"X" => c.string().map(|_| seen::ORDER_TYPE)?,
            b"ps" => c.string().map(|_| seen::PAIR)?,
            b"f" => c.uint().map(|_| seen::FIRST_TRADE)?,
            b"l" => c.uint().map(|_| seen::LAST_TRADE)?,
            _ => return None,
        };
        if mask & bit != 0 {
            return None;
        }
        mask |= bit;
        match c.next()? {
            b',' => continue,
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

/// `b` / `a`: a price string (bookTicker), a level array (depth) or an id
/// (aggTrade `a`), as the serde path's `SideSeed` reads them.
fn side(c: &mut Cursor<'_>, levels: &mut Vec<Level>) -> Option<Side> {
    match c.peek()? {
        b'"' => c.decimal().map(Side::Price),
        b'[' => {
            c.levels(levels)?;
            Some(Side::Levels)
        }
        b'0'..=b'9' => c.uint().map(Side::Id),
        _ => None,
    }
}

/// Position in the frame; every method returns `None` on anything it does
/// not expect, leaving the frame to the serde path.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A payload key and its `:`. One- and two-byte keys (all the payload
    /// keys) are matched in place; a `\\` or control byte there is no key
    /// the caller knows, so it falls back. Longer keys go through
    /// [`Cursor::string`].
    #[inline]
    fn key(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.pos..)?;
        match rest {
            [b'"', _, b'"', b':', ..] => {
                self.pos += 4;
                rest.get(1..2)
            }
            [b'"', _, _, b'"', b':', ..] => {
                self.pos += 5;
                rest.get(1..3)
            }
            _ => {
                let k = self.string()?;
                self.eat(b':')?;
                Some(k.as_bytes())
            }
        }
    }

    /// A JSON string without escapes or control characters, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let len = rest.iter().position(|&b| STRING_STOP[usize::from(b)])?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends are ASCII quotes, hence char boundaries.
        self.text.get(start..start + len)
    }

    /// A JSON integer that fits `u64`, in canonical form (no sign, no
    /// leading zero), not followed by a fraction or exponent.
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let first = self.peek()?;
        if !first.is_ascii_digit() {
            return None;
        }
        let start = self.pos;
        // Binance times and ids have 9 to 13 digits: take eight at once
        // (below 10^8, so no overflow check is needed yet).
        let mut v = match eight_digits(self.bytes.get(start..start + 8)) {
            Some(v) => {
                self.pos += 8;
                v
            }
            None => 0,
        };
        while let Some(d) = self.bytes.get(self.pos).map(|b| b.wrapping_sub(b'0')) {
            if d > 9 {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
            self.pos += 1;
        }
        if first == b'0' && self.pos - start > 1 {
            return None;
        }
        // `.`/`e`/`E` after the digits make a float: not a u64 to serde.
        match self.peek() {
            Some(b',' | b'}' | b']') => Some(v),
            _ => None,
        }
    }

    /// `true` or `false`.
    #[inline]
    fn boolean(&mut self) -> Option<bool> {
        let rest = self.bytes.get(self.pos..)?;
        if rest.starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// A decimal string the serde path accepts (finite, not negative).
    #[inline]
    fn decimal(&mut self) -> Option<f64> {
        match self.plain_decimal_in_place() {
            Some(v) => Some(v),
            None => decimal(self.string()?),
        }
    }

    /// The common case of [`Cursor::decimal`] in one pass over the bytes:
    /// `"digits[.digits]"` with at most 19 digits, a mantissa below 2^53
    /// and at most 22 fractional digits (see [`decimal`] for why `m / 10^k`
    /// is then exact to the last bit). Trailing zeros need no stripping
    /// here: `m` and `10^k` are both exact, so the quotient is the same
    /// correctly rounded value. `None` (position unchanged) otherwise.
    #[inline]
    fn plain_decimal_in_place(&mut self) -> Option<f64> {
        let rest = self.bytes.get(self.pos..)?;
        if rest.first() != Some(&b'"') {
            return None;
        }
        let mut i = 1;
        let mut m: u64 = 0;
        // Wrapping: with more than 19 digits the value is discarded below.
        while let Some(d) = rest.get(i).map(|b| b.wrapping_sub(b'0')) {
            if d > 9 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let int_digits = i - 1;
        if int_digits == 0 {
            return None;
        }
        let mut k = 0;
        if rest.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            // Binance spot sends eight fractional digits: take them at once.
            if let Some(v) = eight_digits(rest.get(i..i + 8)) {
                m = m.wrapping_mul(100_000_000).wrapping_add(v);
                i += 8;
            }
            while let Some(d) = rest.get(i).map(|b| b.wrapping_sub(b'0')) {
                if d > 9 {
                    break;
                }
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
            k = i - frac_start;
            if k == 0 {
                return None;
            }
        }
        if rest.get(i) != Some(&b'"') || int_digits + k > 19 || m >= MAX_EXACT {
            return None;
        }
        let scale = POW10.get(k)?;
        self.pos += i + 1;
        // `m < 2^53`: the conversion is exact.
        Some(m as f64 / scale)
    }

    /// `[["price","qty"], ...]` into `out` (cleared first).
    fn levels(&mut self, out: &mut Vec<Level>) -> Option<()> {
        self.eat(b'[')?;
        out.clear();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let price = self.decimal()?;
            self.eat(b',')?;
            let qty = self.decimal()?;
            self.eat(b']')?;
            out.push(Level { price, qty });
            match self.next()? {
                b',' => continue,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }
}

/// The value of eight ASCII digits, `None` unless all eight are digits
/// (SWAR: one load, a digit check on all lanes, three multiplications).
#[inline]
fn eight_digits(bytes: Option<&[u8]>) -> Option<u64> {
    let arr: [u8; 8] = bytes?.try_into().ok()?;
    let v = u64::from_le_bytes(arr);
    // A lane is a digit iff it is >= b'0' (no borrow out of `v - 0x30`)
    // and <= b'9' (no carry into the top bit of `v + 0x46`).
    let below = v.wrapping_sub(0x3030_3030_3030_3030);
    let above = v.wrapping_add(0x4646_4646_4646_4646);
    if (below | above) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    // Pairs, then quads, then the eight digits (first byte most significant).
    let v = below;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let lo = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    Some(lo.wrapping_add(hi) >> 32)
}

/// Integers from 0 up to this bound convert to `f64` exactly.
const MAX_EXACT: u64 = 1 << 53;

/// Bytes that end the borrowed-string fast path: the closing quote, and the
/// escape and control characters it leaves to serde.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Exact powers of ten as `f64` (every one up to 1e22 is representable).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The value of a decimal string, bit-identical to the serde path's
/// `str::parse::<f64>` followed by its finite and non-negative check; `None`
/// where that check fails (the serde path then reports the error).
///
/// Plain decimals (`digits[.digits]`, at most 19 digits) take Clinger's fast
/// path: with trailing fractional zeros stripped, a mantissa `m < 2^53` and
/// `k <= 22` fractional digits, both `m` and `10^k` are exact `f64`s, so the
/// one correctly rounded division `m / 10^k` equals the correctly rounded
/// value of the decimal, which is what `str::parse` returns. Anything else
/// goes through `str::parse` itself.
#[inline]
pub(super) fn decimal(s: &str) -> Option<f64> {
    match plain_decimal(s.as_bytes()) {
        Some(v) => Some(v),
        None => match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
            _ => None,
        },
    }
}

/// Clinger's fast path for `digits[.digits]`; `None` when it does not apply.
#[inline]
fn plain_decimal(s: &[u8]) -> Option<f64> {
    let mut m: u64 = 0;
    let mut digits = 0usize;
    let mut significant = 0usize;
    let mut frac: Option<usize> = None;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                // Leading zeros leave `m` at 0; 19 significant digits always
                // fit in u64, more go to `str::parse`.
                if m != 0 || b != b'0' {
                    significant += 1;
                    if significant > 19 {
                        return None;
                    }
                }
                m = m * 10 + u64::from(b - b'0');
                if let Some(k) = frac.as_mut() {
                    *k += 1;
                }
            }
            b'.' if frac.is_none() && digits > 0 => frac = Some(0),
            _ => return None,
        }
    }
    let mut k = match frac {
        None if digits > 0 => 0,
        Some(k) if k > 0 => k,
        _ => return None,
    };
    while k > 0 && m.is_multiple_of(10) {
        m /= 10;
        k -= 1;
    }
    if m >= MAX_EXACT {
        return None;
    }
    let scale = POW10.get(k)?;
    // `m < 2^53`: the conversion is exact.
    Some(m as f64 / scale)
}

#[cfg(test)]
mod tests;
