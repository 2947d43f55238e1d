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

/// A price for a summary: thousands separated above 1,000, four
/// significant digits below.
pub fn fmt_price(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v.abs() < 1000.0 {
        return format!("{}", round_sig(v));
    }
    let digits = format!("{:.0}", v.abs());
    let mut s = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0.0 {
        s.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    s
}
