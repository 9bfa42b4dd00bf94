//! The dashboard's charts as inline SVG, made here as text — no JavaScript, nothing fetched: a
//! sparkline of a project's recent scores and a line chart of its score over time with the
//! analyses whose gate failed marked. Pure functions of numbers; every text put into the SVG
//! is escaped, and each chart is an `<svg role="img">` with an `aria-label` saying what it
//! shows. Colours come from classes styled in `base.html` (`.chart …`).

use std::fmt::Write as _;

/// Text for an SVG attribute or element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

/// Maps `v` from the range `from` onto `to`; a range of no width maps to the middle of `to`.
pub fn scale(v: f64, from: (f64, f64), to: (f64, f64)) -> f64 {
    let span = from.1 - from.0;
    if span.abs() < f64::EPSILON {
        return (to.0 + to.1) / 2.0;
    }
    to.0 + (v - from.0) / span * (to.1 - to.0)
}

/// The score range a sparkline shows: its values' range, widened to at least `min_span` about
/// the middle and kept within 0–100, so that a change of a tenth does not fill the height.
pub fn score_range(values: &[f64], min_span: f64) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 100.0);
    }
    let (mut lo, mut hi) = (lo, hi);
    if hi - lo < min_span {
        let mid = (lo + hi) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    if lo < 0.0 {
        hi -= lo;
        lo = 0.0;
    }
    if hi > 100.0 {
        lo -= hi - 100.0;
        hi = 100.0;
    }
    (lo.max(0.0), hi)
}

/// The `x,y` points of `values` spread evenly over `width` (a single value in the middle),
/// higher values higher up within `height` less `pad` on each side.
pub fn points(
    values: &[f64],
    range: (f64, f64),
    width: f64,
    height: f64,
    pad: f64,
) -> Vec<(f64, f64)> {
    let n = values.len();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = if n == 1 {
                width / 2.0
            } else {
                scale(i as f64, (0.0, (n - 1) as f64), (pad, width - pad))
            };
            let y = scale(*v, range, (height - pad, pad));
            (x, y)
        })
        .collect()
}

fn polyline(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A sparkline of scores, oldest first; empty without any.
pub fn sparkline(values: &[f64]) -> String {
    const W: f64 = 100.0;
    const H: f64 = 24.0;
    let Some(last) = values.last() else {
        return String::new();
    };
    let first = values[0];
    let pts = points(values, score_range(values, 10.0), W, H, 2.0);
    let (lx, ly) = pts[pts.len() - 1];
    let label = if values.len() == 1 {
        format!("Score trend: one analysis, {last:.1}")
    } else {
        format!(
            "Score trend over the last {} analyses: from {first:.1} to {last:.1}",
            values.len()
        )
    };
    format!(
        "<svg class=\"chart spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-label=\"{}\"><polyline class=\"line\" fill=\"none\" stroke-width=\"1.5\" points=\"{}\"/>\
         <circle class=\"dot\" cx=\"{lx:.1}\" cy=\"{ly:.1}\" r=\"2\"/></svg>",
        escape(&label),
        polyline(&pts)
    )
}

/// One analysis on the line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPoint {
    pub score: f64,
    /// The gate failed: the point is marked with a cross.
    pub failed: bool,
    /// The point's tooltip (`<title>`): its commit, date, score, grade, verdict.
    pub title: String,
    /// A short label for the axis (a date); the first and last are shown.
    pub tick: String,
}

/// A line chart of scores over analyses (one step per analysis, oldest left) on a fixed
/// 0–100 axis, each point with a tooltip, the failed ones marked; empty without points.
pub fn line_chart(points_in: &[ChartPoint], label: &str) -> String {
    const W: f64 = 480.0;
    const H: f64 = 200.0;
    const LEFT: f64 = 34.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 26.0;
    if points_in.is_empty() {
        return String::new();
    }
    let y_of = |score: f64| scale(score, (0.0, 100.0), (H - BOTTOM, TOP));
    let n = points_in.len();
    let x_of = |i: usize| {
        if n == 1 {
            (LEFT + W - RIGHT) / 2.0
        } else {
            scale(
                i as f64,
                (0.0, (n - 1) as f64),
                (LEFT + 8.0, W - RIGHT - 8.0),
            )
        }
    };
    let mut svg = String::new();
    let failed = points_in.iter().filter(|p| p.failed).count();
    let _ = write!(
        svg,
        "<svg class=\"chart history\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        escape(&format!(
            "{label}: {n} analyses, {failed} with the gate failed (marked with a cross)"
        ))
    );
    for tick in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = y_of(tick);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let pts: Vec<(f64, f64)> = points_in
        .iter()
        .enumerate()
        .map(|(i, p)| (x_of(i), y_of(p.score.clamp(0.0, 100.0))))
        .collect();
    let _ = write!(
        svg,
        "<polyline class=\"line\" fill=\"none\" stroke-width=\"2\" points=\"{}\"/>",
        polyline(&pts)
    );
    for (p, (x, y)) in points_in.iter().zip(&pts) {
        let title = escape(&p.title);
        if p.failed {
            let _ = write!(
                svg,
                "<g class=\"fail-mark\"><title>{title}</title>\
                 <path d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\" stroke-width=\"2.5\"/></g>",
                x - 5.0,
                y - 5.0,
                x + 5.0,
                y + 5.0,
                x - 5.0,
                y + 5.0,
                x + 5.0,
                y - 5.0
            );
        } else {
            let _ = write!(
                svg,
                "<g class=\"pass-mark\"><title>{title}</title>\
                 <circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\"/></g>"
            );
        }
    }
    let ticks = if n == 1 { vec![0] } else { vec![0, n - 1] };
    for i in ticks {
        let anchor = if n == 1 {
            "middle"
        } else if i == 0 {
            "start"
        } else {
            "end"
        };
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            x_of(i),
            H - 8.0,
            escape(&points_in[i].tick)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_maps_ends_and_flat_ranges() {
        assert_eq!(scale(0.0, (0.0, 100.0), (200.0, 10.0)), 200.0);
        assert_eq!(scale(100.0, (0.0, 100.0), (200.0, 10.0)), 10.0);
        assert_eq!(scale(50.0, (0.0, 100.0), (0.0, 10.0)), 5.0);
        assert_eq!(scale(7.0, (7.0, 7.0), (0.0, 10.0)), 5.0);
    }

    #[test]
    fn score_ranges_are_widened_and_kept_within_0_to_100() {
        assert_eq!(score_range(&[50.0, 51.0], 10.0), (45.5, 55.5));
        assert_eq!(score_range(&[99.0, 100.0], 10.0), (90.0, 100.0));
        assert_eq!(score_range(&[0.0, 2.0], 10.0), (0.0, 10.0));
        assert_eq!(score_range(&[20.0, 80.0], 10.0), (20.0, 80.0));
        assert_eq!(score_range(&[], 10.0), (0.0, 100.0));
    }

    #[test]
    fn sparkline_draws_one_point_per_score_higher_is_up() {
        assert_eq!(sparkline(&[]), "");
        let svg = sparkline(&[60.0, 80.0, 70.0]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(
            svg.contains("aria-label=\"Score trend over the last 3 analyses: from 60.0 to 70.0\"")
        );
        let pts = points(&[60.0, 80.0, 70.0], (60.0, 80.0), 100.0, 24.0, 2.0);
        assert_eq!(pts, vec![(2.0, 22.0), (50.0, 2.0), (98.0, 12.0)]);
        assert!(
            svg.contains("points=\"2.0,22.0 50.0,2.0 98.0,12.0\""),
            "{svg}"
        );
        let one = sparkline(&[42.0]);
        assert!(one.contains("points=\"50.0,12.0\""), "{one}");
        assert!(one.contains("one analysis, 42.0"));
    }

    #[test]
    fn line_chart_marks_failures_with_escaped_tooltips() {
        assert_eq!(line_chart(&[], "x"), "");
        let p = |score, failed, title: &str| ChartPoint {
            score,
            failed,
            title: title.into(),
            tick: format!("day {score}"),
        };
        let svg = line_chart(
            &[
                p(90.0, false, "abc1234 <ok>"),
                p(40.0, true, "def5678 \"failed\""),
                p(100.0, false, "0123456"),
            ],
            "Score of acme/w",
        );
        assert!(svg.contains(
            "role=\"img\" aria-label=\"Score of acme/w: 3 analyses, 1 with the gate failed (marked with a cross)\""
        ));
        assert_eq!(svg.matches("class=\"fail-mark\"").count(), 1);
        assert_eq!(svg.matches("class=\"pass-mark\"").count(), 2);
        assert!(svg.contains("<title>abc1234 &lt;ok&gt;</title>"));
        assert!(svg.contains("<title>def5678 &quot;failed&quot;</title>"));
        assert!(!svg.contains("<ok>"));
        // 0–100 maps onto the plot's height: 100 at the top (10), 0 at the bottom (174).
        assert!(svg.contains("cy=\"10.0\""), "{svg}");
        assert!(svg.contains(">day 90</text>") && svg.contains(">day 100</text>"));
        assert!(
            !svg.contains(">day 40</text>"),
            "only the first and last ticks"
        );
        let single = line_chart(&[p(50.0, false, "one")], "s");
        assert!(single.contains("cx=\"251.0\" cy=\"92.0\""), "{single}");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
