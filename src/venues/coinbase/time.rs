//! Exact, allocation-free parsing of Coinbase time strings into [`Nanos`]:
//! RFC 3339 (`2026-04-07T14:30:00.123456Z`, any fraction length up to
//! nanoseconds, `Z` or a `±HH:MM` offset; a space instead of `T` as in the
//! heartbeat `current_time`) and epoch seconds as a decimal string (candle
//! `start`).
//!
//! It never panics, never rounds (digits past nanoseconds are an error, not
//! truncated silently) and never accepts an out-of-range field or a result
//! outside `i64` nanoseconds.

use crate::model::{Nanos, SECOND};

/// Parses `n` ASCII digits at `s[at..at + n]`.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at.checked_add(n)?)?;
    let mut v: i64 = 0;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`); inputs are already range-checked.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An RFC 3339 time to nanoseconds since the epoch, or `None` if it is not
/// one (or does not fit).
pub fn rfc3339_ns(text: &str) -> Option<Nanos> {
    let s = text.as_bytes();
    let year = digits(s, 0, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    if s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60 would be a leap second, which Coinbase does not send.
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(b) = s.get(i).filter(|b| b.is_ascii_digit()) {
            if i - start >= 9 {
                return None;
            }
            frac = frac * 10 + i64::from(b - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset_secs = match s.get(i) {
        Some(b'Z' | b'z') if s.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if s.len() == i + 6 && s.get(i + 3) == Some(&b':') => {
            let oh = digits(s, i + 1, 2)?;
            let om = digits(s, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(SECOND)?.checked_add(frac)
}

/// Epoch seconds as a decimal string (`"1775521800"`) to nanoseconds.
pub fn epoch_secs_ns(text: &str) -> Option<Nanos> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()?.checked_mul(SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants_exactly() {
        // 2024-08-08T23:54:13.937Z is 1_723_161_253_937 ms (the model's own
        // formatter test uses the same instant).
        assert_eq!(
            rfc3339_ns("2024-08-08T23:54:13.937Z"),
            Some(1_723_161_253_937_000_000)
        );
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_ns("1970-01-01T00:00:00.000000001Z"),
            Some(1),
            "nanosecond digit kept"
        );
        // 2000-02-29 is 951_782_400 s.
        assert_eq!(
            rfc3339_ns("2000-02-29T00:00:00.5Z"),
            Some(951_782_400 * SECOND + 500_000_000)
        );
        // Offsets move the instant; the heartbeat form uses a space.
        assert_eq!(
            rfc3339_ns("2000-02-29 01:30:00.000000000+01:30"),
            Some(951_782_400 * SECOND)
        );
        assert_eq!(
            rfc3339_ns("1969-12-31T23:59:59-00:00"),
            Some(-SECOND),
            "before the epoch is negative, not an error"
        );
        // Candle bucket start from the schema example.
        assert_eq!(epoch_secs_ns("1775521800"), Some(1_775_521_800 * SECOND));
    }

    #[test]
    fn rejects_bad_times() {
        for bad in [
            "",
            "2024-08-08",
            "2024-08-08T23:54:13",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-08-08T24:00:00Z",
            "2024-08-08T23:60:00Z",
            "2024-08-08T23:54:13.Z",
            "2024-08-08T23:54:13.1234567890Z",
            "2024-08-08T23:54:13.937",
            "2024-08-08T23:54:13.937Zx",
            "2024-08-08T23:54:13+0100",
            "2024/08/08T23:54:13Z",
            "9999-12-31T23:59:59Z",
            "+024-08-08T23:54:13Z",
        ] {
            assert_eq!(rfc3339_ns(bad), None, "{bad:?}");
        }
        for bad in ["", "-1", "1.5", "12345678901234", "abc"] {
            assert_eq!(epoch_secs_ns(bad), None, "{bad:?}");
        }
    }
}
