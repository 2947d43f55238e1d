//! The drawing arithmetic of the report: escaping text for HTML and SVG,
//! linear scales from data to pixels, round axis ticks, and polylines that
//! break where a series has no samples.
//!
//! Pure functions only: no I/O, and nothing here may panic on any number
//! (NaN, infinities, empty or degenerate ranges are all drawn as something
//! sane or not at all).

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities, fit for HTML
/// text and double- or single-quoted attribute values alike.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A linear map from a data range onto a pixel range.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Scale {
    /// Data range start.
    pub d0: f64,
    /// Data range end.
    pub d1: f64,
    /// Pixel at `d0`.
    pub r0: f64,
    /// Pixel at `d1`.
    pub r1: f64,
}

impl Scale {
    /// A scale of `[d0, d1]` onto `[r0, r1]`. A degenerate or non-finite
    /// data range is widened around its value (a flat line is drawn in the
    /// middle rather than divided by zero).
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let (mut d0, mut d1) = match (d0.is_finite(), d1.is_finite()) {
            (true, true) => (d0.min(d1), d0.max(d1)),
            (true, false) => (d0, d0),
            (false, true) => (d1, d1),
            (false, false) => (0.0, 1.0),
        };
        if d1 - d0 <= f64::EPSILON * d0.abs().max(1.0) {
            let pad = (d0.abs() * 0.01).max(0.5);
            d0 -= pad;
            d1 += pad;
        }
        Scale { d0, d1, r0, r1 }
    }

    /// The pixel of `v` (clamped to the pixel range: a value outside the
    /// data range is drawn at the edge, never off the chart).
    pub fn map(&self, v: f64) -> f64 {
        if !v.is_finite() {
            return self.r0;
        }
        let f = ((v - self.d0) / (self.d1 - self.d0)).clamp(0.0, 1.0);
        self.r0 + f * (self.r1 - self.r0)
    }

    /// The data value at pixel `p` (the inverse of [`Scale::map`] inside
    /// the range).
    pub fn invert(&self, p: f64) -> f64 {
        let span = self.r1 - self.r0;
        if span == 0.0 {
            return self.d0;
        }
        self.d0 + (p - self.r0) / span * (self.d1 - self.d0)
    }

    /// Round tick values inside the data range, about `n` of them.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        nice_ticks(self.d0, self.d1, n)
    }
}

/// A step of 1, 2 or 5 times a power of ten that cuts `[lo, hi]` into
/// about `n` parts, as (1, 2 or 5, the power of ten).
fn nice_step_parts(lo: f64, hi: f64, n: usize) -> (f64, i32) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (1.0, 0);
    }
    let raw = span / n.max(1) as f64;
    let mut exp = raw.log10().floor() as i32;
    let f = raw / 10f64.powi(exp);
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        exp += 1;
        1.0
    };
    (m, exp)
}

/// A step of 1, 2 or 5 times a power of ten that cuts `[lo, hi]` into
/// about `n` parts.
pub fn nice_step(lo: f64, hi: f64, n: usize) -> f64 {
    let (m, exp) = nice_step_parts(lo, hi, n);
    m * 10f64.powi(exp)
}

/// Multiples of [`nice_step`] inside `[lo, hi]` (at most 64).
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let (m, exp) = nice_step_parts(lo, hi, n);
    // k * m is a whole number; dividing it by a power of ten (rather than
    // multiplying by 0.1) gives the double nearest the decimal, so labels
    // read `0.3`, not `0.30000000000000004`.
    let at = |k: f64| {
        if exp >= 0 {
            k * m * 10f64.powi(exp)
        } else {
            k * m / 10f64.powi(-exp)
        }
    };
    let step = at(1.0);
    if !step.is_finite() || step <= 0.0 {
        return Vec::new();
    }
    let first = (lo / step).ceil();
    let mut out = Vec::new();
    let mut k = first;
    while out.len() < 64 {
        let v = at(k);
        if v > hi + step * 1e-9 {
            break;
        }
        out.push(v);
        k += 1.0;
    }
    out
}

/// A tick step for a time axis of `span_ms`: seconds, minutes or hours
/// that give about `n` ticks.
pub fn time_step_ms(span_ms: i64, n: usize) -> i64 {
    const STEPS: [i64; 16] = [
        1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
        1_800_000, 3_600_000, 7_200_000, 21_600_000, 86_400_000,
    ];
    let want = span_ms.max(1) / n.max(1) as i64;
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= want)
        .unwrap_or(86_400_000)
}

/// A number for an SVG attribute: one decimal, no `-0.0`, and `0` for
/// anything non-finite.
pub fn px(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".into()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A value for an axis label or a title: few digits, no float noise.
pub fn label(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    let s = if a >= 1000.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The `points` attribute values of polylines through `pts` (time in ms,
/// value), broken into separate lines wherever two neighbours are more
/// than `max_gap_ms` apart (no samples there: a line would invent them).
pub fn polylines(pts: &[(i64, f64)], x: &Scale, y: &Scale, max_gap_ms: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<i64> = None;
    for &(t, v) in pts {
        if !v.is_finite() {
            continue;
        }
        if prev.is_some_and(|p| t.saturating_sub(p) > max_gap_ms) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        let _ = write!(cur, "{},{}", px(x.map(t as f64)), px(y.map(v)));
        prev = Some(t);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(escape("binance-spot"), "binance-spot");
        assert!(matches!(escape("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        // Already escaped text is escaped again (shown as written).
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("BTC/USDT ≥ 5 %"), "BTC/USDT ≥ 5 %");
    }

    #[test]
    fn a_scale_maps_inverts_and_clamps() {
        // Pixels grow downwards on a y axis: 0 at the bottom (200).
        let y = Scale::new(0.0, 100.0, 200.0, 0.0);
        assert_eq!(y.map(0.0), 200.0);
        assert_eq!(y.map(100.0), 0.0);
        assert_eq!(y.map(25.0), 150.0);
        assert_eq!(y.invert(150.0), 25.0);
        assert_eq!(y.map(1e9), 0.0, "clamped to the top");
        assert_eq!(y.map(-5.0), 200.0, "clamped to the bottom");
        assert_eq!(y.map(f64::NAN), 200.0);
        // Reversed data ranges are put in order.
        assert_eq!(Scale::new(100.0, 0.0, 200.0, 0.0), y);
    }

    #[test]
    fn a_flat_or_broken_range_is_widened() {
        let s = Scale::new(61_000.0, 61_000.0, 0.0, 100.0);
        assert!(s.d0 < 61_000.0 && s.d1 > 61_000.0);
        assert_eq!(s.map(61_000.0), 50.0, "a flat line is drawn mid-chart");
        let z = Scale::new(0.0, 0.0, 0.0, 100.0);
        assert_eq!(z.map(0.0), 50.0);
        let n = Scale::new(f64::NAN, f64::INFINITY, 0.0, 10.0);
        assert!(n.d0.is_finite() && n.d1 > n.d0);
        let h = Scale::new(f64::NAN, 3.0, 0.0, 10.0);
        assert!(h.d0 < 3.0 && h.d1 > 3.0);
    }

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.5, 1.0]);
        assert_eq!(nice_ticks(0.0, 0.3, 3), vec![0.0, 0.1, 0.2, 0.3]);
        let t = nice_ticks(61_234.0, 61_987.0, 5);
        assert_eq!(t, vec![61_400.0, 61_600.0, 61_800.0]);
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
        assert!(nice_ticks(0.0, 1e300, 5).len() <= 64);
        assert_eq!(nice_step(0.0, 0.0, 5), 1.0);
    }

    #[test]
    fn time_steps_are_whole_units() {
        assert_eq!(time_step_ms(360_000, 6), 60_000);
        assert_eq!(time_step_ms(10_000, 5), 2_000);
        assert_eq!(time_step_ms(0, 5), 1_000);
        assert_eq!(time_step_ms(30 * 86_400_000, 6), 86_400_000);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(px(12.345), "12.3");
        assert_eq!(px(-0.01), "0");
        assert_eq!(px(40.0), "40");
        assert_eq!(px(f64::NAN), "0");
        assert_eq!(label(61_234.7), "61235");
        assert_eq!(label(59.95), "60");
        assert_eq!(label(1.5), "1.5");
        assert_eq!(label(0.0), "0");
        assert_eq!(label(0.0123), "0.0123");
    }

    #[test]
    fn polylines_break_at_gaps() {
        let x = Scale::new(0.0, 10_000.0, 0.0, 100.0);
        let y = Scale::new(0.0, 10.0, 100.0, 0.0);
        let pts = [
            (0, 0.0),
            (1000, 1.0),
            (2000, f64::NAN),
            (6000, 5.0),
            (7000, 10.0),
        ];
        assert_eq!(
            polylines(&pts, &x, &y, 3000),
            vec!["0,100 10,90".to_string(), "60,50 70,0".to_string()]
        );
        assert!(polylines(&[], &x, &y, 3000).is_empty());
    }
}
