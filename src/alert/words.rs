//! Small helpers the checks share to word alerts: percentages and
//! quantities rounded for a sentence. Pure formatting of numbers; nothing
//! here judges anything.

/// `part` as a percentage of `whole`.
pub fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// A quantity for a summary: four significant digits.
pub fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let p = 10f64.powi(digits);
    (v * p).round() / p
}
