//! Coinbase's epoch seconds as a decimal string (candle `start`) into
//! [`Nanos`]. Its RFC 3339 times (`2026-04-07T14:30:00.123456Z`, or with a
//! space as in the heartbeat `current_time`) go through the one RFC 3339
//! parser, [`crate::model::parse_rfc3339`].
//!
//! It never panics and never accepts a result outside `i64` nanoseconds.

use crate::model::{Nanos, SECOND};

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
    fn epoch_seconds_parse_exactly_and_bad_ones_are_none() {
        // Candle bucket start from the schema example.
        assert_eq!(epoch_secs_ns("1775521800"), Some(1_775_521_800 * SECOND));
        for bad in ["", "-1", "1.5", "12345678901234", "abc"] {
            assert_eq!(epoch_secs_ns(bad), None, "{bad:?}");
        }
    }
}
