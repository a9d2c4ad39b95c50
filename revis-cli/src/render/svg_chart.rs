//! The primary metric over iterations as inline SVG for `revis report`: one mark per
//! iteration (a dot per result, a cross on the x axis per failed run, a ring for a run without
//! a result), the best-so-far as a stepped polyline, min/max and first/last labels.
//! Pure text; nothing external (no fonts, no namespace URL: inline SVG in HTML needs none).

use super::chart::{Point, best_so_far, position, y_range};
use super::html::escape;
use super::value;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;
/// Horizontal resolution positions are rounded to (as in the terminal chart, but finer).
const STEPS: usize = 1000;

struct Frame {
    range: (f64, f64),
    count: usize,
}

impl Frame {
    fn x(&self, index: usize) -> f64 {
        let fraction = position(index, self.count, STEPS + 1) as f64 / STEPS as f64;
        let fraction = if self.count <= 1 { 0.5 } else { fraction };
        LEFT + fraction * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let (lo, hi) = self.range;
        let fraction = if hi > lo { ((hi - value) / (hi - lo)).clamp(0.0, 1.0) } else { 0.5 };
        TOP + fraction * (HEIGHT - TOP - BOTTOM)
    }

    fn axis_y(&self) -> f64 {
        HEIGHT - BOTTOM
    }
}

/// The chart, or a short note in its place when there is no result at all (the SVG is still
/// drawn, so every iteration keeps its mark).
/// A run's curve (step, value) as a small line, for the report's iteration sections.
pub fn curve_svg(history: &[revis_proto::v1::HistoryPoint], metric: &str) -> String {
    const W: f64 = 240.0;
    const H: f64 = 60.0;
    let finite: Vec<(f64, f64)> =
        history.iter().filter(|p| p.step.is_finite() && p.value.is_finite()).map(|p| (p.step, p.value)).collect();
    if finite.len() < 2 {
        return String::new();
    }
    let (x0, x1) = finite.iter().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let (y0, y1) = finite.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    let sx = |x: f64| if x1 > x0 { (x - x0) / (x1 - x0) * (W - 4.0) + 2.0 } else { W / 2.0 };
    let sy = |y: f64| if y1 > y0 { H - 2.0 - (y - y0) / (y1 - y0) * (H - 4.0) } else { H / 2.0 };
    let path: Vec<String> = finite.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
    format!(
        "<svg class=\"curve\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-label=\"{} by step\"><polyline fill=\"none\" stroke=\"currentColor\" points=\"{}\"/></svg>",
        super::html::escape(metric),
        path.join(" ")
    )
}

pub fn svg_chart(points: &[Point], minimize: bool, metric: &str) -> String {
    let range = y_range(points).unwrap_or((0.0, 1.0));
    let frame = Frame { range, count: points.len() };
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
         aria-label=\"{} over iterations\">\n",
        escape(metric)
    );
    let axis = frame.axis_y();
    svg.push_str(&format!("<path class=\"axis\" d=\"M{LEFT} {TOP} V{axis} H{}\"/>\n", WIDTH - RIGHT));
    if y_range(points).is_some() {
        for v in [range.1, range.0] {
            let y = frame.y(v);
            svg.push_str(&format!(
                "<text class=\"label\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                LEFT - 6.0,
                y + 4.0,
                escape(&value::metric(v))
            ));
        }
    }
    svg.push_str(&best_polyline(points, minimize, &frame));
    for (i, p) in points.iter().enumerate() {
        svg.push_str(&mark(p, &frame, frame.x(i)));
    }
    let last = points.len().saturating_sub(1);
    for (i, p) in points.iter().enumerate().filter(|(i, _)| *i == 0 || *i == last) {
        svg.push_str(&format!(
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">#{}</text>\n",
            frame.x(i),
            axis + 18.0,
            p.number
        ));
    }
    let direction = if minimize { "lower is better" } else { "higher is better" };
    svg.push_str(&format!(
        "<text class=\"label\" x=\"{LEFT}\" y=\"{:.1}\">{} ({direction})</text>\n",
        HEIGHT - 6.0,
        escape(metric)
    ));
    svg.push_str("</svg>\n");
    svg
}

/// The best so far as steps: flat until the next iteration improves it.
fn best_polyline(points: &[Point], minimize: bool, frame: &Frame) -> String {
    let best = best_so_far(points, minimize);
    let mut coords: Vec<(f64, f64)> = Vec::new();
    for (i, b) in best.iter().enumerate() {
        let Some(b) = b else { continue };
        let (x, y) = (frame.x(i), frame.y(*b));
        if let Some(&(_, last_y)) = coords.last()
            && last_y != y
        {
            coords.push((x, last_y));
        }
        coords.push((x, y));
    }
    if coords.is_empty() {
        return String::new();
    }
    let text: Vec<String> = coords.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    format!("<polyline class=\"best\" points=\"{}\"/>\n", text.join(" "))
}

fn mark(p: &Point, frame: &Frame, x: f64) -> String {
    let n = p.number;
    match p.value {
        Some(v) => format!(
            "<circle class=\"point\" data-iteration=\"{n}\" cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\"><title>#{n}: {}</title></circle>\n",
            frame.y(v),
            escape(&value::metric(v))
        ),
        None if p.failed => {
            let y = frame.axis_y();
            format!(
                "<path class=\"failed\" data-iteration=\"{n}\" d=\"M{:.1} {:.1} l10 10 m0 -10 l-10 10\"><title>#{n}: failed</title></path>\n",
                x - 5.0,
                y - 5.0
            )
        }
        None => format!(
            "<circle class=\"missing\" data-iteration=\"{n}\" cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\"><title>#{n}: no result</title></circle>\n",
            frame.axis_y()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(number: u32, value: f64) -> Point {
        Point { number, value: Some(value), failed: false }
    }

    #[test]
    fn every_iteration_gets_one_mark_and_the_best_line_steps() {
        let points = vec![ok(0, 2.0), Point { number: 1, value: None, failed: true }, ok(2, 1.0), ok(3, 1.5)];
        let svg = svg_chart(&points, true, "val_loss");
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("data-iteration=").count(), 4, "{svg}");
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert_eq!(svg.matches("class=\"failed\"").count(), 1);
        let polyline = svg.lines().find(|l| l.starts_with("<polyline")).unwrap_or_default();
        // 2.0 at #0 and #1, the corner and the step down at #2, flat to #3: five vertices.
        assert_eq!(polyline.matches(',').count(), 5, "{polyline}");
        assert!(!svg.contains("http"), "no external references: {svg}");
    }

    #[test]
    fn higher_values_sit_higher_and_text_is_escaped() {
        let svg = svg_chart(&[ok(0, 1.0), ok(1, 3.0)], false, "a<b");
        assert!(svg.contains("a&lt;b (higher is better)"), "{svg}");
        let top = format!("cy=\"{TOP:.1}\"");
        assert!(svg.contains(&format!("data-iteration=\"1\" cx=\"{:.1}\" {top}", WIDTH - RIGHT)), "{svg}");
    }

    #[test]
    fn no_results_still_draw_a_mark_per_iteration() {
        let svg = svg_chart(&[Point { number: 0, value: None, failed: true }], true, "m");
        assert_eq!(svg.matches("data-iteration=").count(), 1);
        assert!(!svg.contains("<polyline"));
    }
}
