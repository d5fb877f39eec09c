//! Charts of a score over time, drawn as SVG on the server: the bands as
//! shaded, labelled stripes (readable without colour: each stripe is named
//! in text and drawn with its own pattern of lightness), the values as
//! points joined by a line, each point labelled with its value. A table
//! beside the chart carries the same numbers for screen readers.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::fmt::Write;

use super::value::fmt_num;

/// One point: a date as text and the value.
pub struct Point {
    pub label: String,
    pub value: Decimal,
}

/// A band: where it starts and its name.
pub struct Stripe {
    pub from: Decimal,
    pub name: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an SVG element. `range` is the score's possible range
/// (else the values' own); `title` names it for assistive technology.
pub fn svg(
    title: &str,
    points: &[Point],
    range: Option<(Decimal, Decimal)>,
    bands: &[Stripe],
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 44.0, 150.0, 16.0, 40.0);
    let vals: Vec<f64> = points.iter().filter_map(|p| p.value.to_f64()).collect();
    let (mut lo, mut hi) = match range {
        Some((a, b)) => (a.to_f64().unwrap_or(0.0), b.to_f64().unwrap_or(1.0)),
        None => (
            vals.iter().copied().fold(f64::INFINITY, f64::min),
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
    };
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (hi - lo));
    let x = |i: usize| {
        if points.len() <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title" class="chart" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"##,
        esc(title)
    );
    // Bands: stripes of alternating lightness, each named at the right.
    for (i, b) in bands.iter().enumerate() {
        let from = b.from.to_f64().unwrap_or(lo).max(lo);
        let to = bands
            .get(i + 1)
            .and_then(|n| n.from.to_f64())
            .unwrap_or(hi)
            .min(hi);
        if to <= from && i + 1 < bands.len() {
            continue;
        }
        let (y0, y1) = (y(to.max(from)), y(from));
        let fill = if i % 2 == 0 { "#f2f2f2" } else { "#dcdcdc" };
        let _ = write!(
            s,
            r##"<rect x="{left}" y="{y0:.1}" width="{plot_w}" height="{:.1}" fill="{fill}"/><text x="{:.1}" y="{:.1}" font-size="13" fill="#1a1a1a">{}</text>"##,
            (y1 - y0).max(0.0),
            left + plot_w + 8.0,
            (y0 + y1) / 2.0 + 4.0,
            esc(&b.name)
        );
    }
    // Axis: the lowest and highest possible values.
    for v in [lo, hi] {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#1a1a1a">{}</text>"##,
            left - 6.0,
            y(v) + 4.0,
            fmt_num(Decimal::from_f64_retain(v).unwrap_or_default().round_dp(2))
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="#1a1a1a"/><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1a1a1a"/>"##,
        top + plot_h,
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    let coords: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.value.to_f64().map(|v| (x(i), y(v))))
        .collect();
    if coords.len() > 1 {
        let path: Vec<String> = coords
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#0b4f9c" stroke-width="2"/>"##,
            path.join(" ")
        );
    }
    for ((px, py), p) in coords.iter().zip(points) {
        let _ = write!(
            s,
            r##"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="#0b4f9c"/><text x="{px:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#1a1a1a">{}</text>"##,
            py - 8.0,
            fmt_num(p.value)
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            s,
            r##"<text x="{left}" y="{:.1}" font-size="12" fill="#1a1a1a">{}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#1a1a1a">{}</text>"##,
            h - 12.0,
            esc(&first.label),
            left + plot_w,
            h - 12.0,
            esc(&last.label)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_names_its_bands_and_labels_its_values() {
        let pts = vec![
            Point {
                label: "2026-01-01".into(),
                value: Decimal::from(3),
            },
            Point {
                label: "2026-02-01".into(),
                value: Decimal::from(12),
            },
        ];
        let bands = vec![
            Stripe {
                from: Decimal::ZERO,
                name: "Minimal".into(),
            },
            Stripe {
                from: Decimal::from(10),
                name: "Moderat <x>".into(),
            },
        ];
        let s = svg(
            "PHQ-9",
            &pts,
            Some((Decimal::ZERO, Decimal::from(27))),
            &bands,
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("<title id=\"chart-title\">PHQ-9</title>"));
        assert!(s.contains(">Minimal<") && s.contains("Moderat &lt;x&gt;"));
        assert!(s.contains(">3<") && s.contains(">12<"));
        assert_eq!(s.matches("<circle").count(), 2);
    }
}
