//! The primary metric over iterations as pictures: the series and its scaling (shared with the
//! SVG chart of `revis report`), a terminal chart for `show`/`watch`, and a one-line sparkline.
//! Pure functions of the iterations; must not print, query the terminal or read the clock.

use revis_proto::v1::{Iteration, IterationState, Outcome, SessionDetail};

use super::color::{Palette, Style};
use super::value;
use crate::states;

/// Rows of the terminal chart's plot area.
const PLOT_HEIGHT: usize = 8;
/// Narrowest plot area worth drawing, whatever the terminal says.
const MIN_PLOT_WIDTH: usize = 10;
const SPARK_LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub const POINT: char = '●';
pub const BEST_LINE: char = '─';
pub const FAILED: char = '✗';

/// One finished iteration on the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub number: u32,
    /// The primary metric; None for failed or interrupted runs.
    pub value: Option<f64>,
    pub failed: bool,
}

/// The chartable iterations in order: the last entry per number (an interrupted run is
/// superseded by its re-run) and nothing still to run or running.
pub fn series(iterations: &[Iteration]) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    for it in iterations {
        let outcome = states::outcome(it);
        let state = it.state();
        let failed = outcome == Some(Outcome::Failed) || state == IterationState::Failed;
        let value = it.primary.filter(|v| v.is_finite() && !failed);
        let finished =
            matches!(state, IterationState::Succeeded | IterationState::Failed | IterationState::Interrupted)
                || outcome.is_some();
        if !finished && value.is_none() {
            continue;
        }
        let point = Point { number: it.number, value, failed };
        match points.iter_mut().find(|p| p.number == it.number) {
            Some(existing) => *existing = point,
            None => points.push(point),
        }
    }
    points.sort_by_key(|p| p.number);
    points
}

/// The best value seen up to and including each point (None before the first result).
pub fn best_so_far(points: &[Point], minimize: bool) -> Vec<Option<f64>> {
    let mut best: Option<f64> = None;
    points
        .iter()
        .map(|p| {
            if let Some(v) = p.value {
                let better = best.is_none_or(|b| if minimize { v < b } else { v > b });
                if better {
                    best = Some(v);
                }
            }
            best
        })
        .collect()
}

/// The value range to plot: the data's min and max, widened when flat so a single value sits
/// mid-chart. None without any value.
pub fn y_range(points: &[Point]) -> Option<(f64, f64)> {
    let mut values = points.iter().filter_map(|p| p.value);
    let first = values.next()?;
    let (lo, hi) = values.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        return Some((lo, hi));
    }
    let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
    Some((lo - pad, hi + pad))
}

/// Where point `index` of `count` lands on an axis of `len` cells (0-based, first and last
/// points at the ends).
pub fn position(index: usize, count: usize, len: usize) -> usize {
    if count <= 1 || len <= 1 {
        return 0;
    }
    let span = (len - 1) as f64 / (count - 1) as f64;
    ((index as f64 * span).round() as usize).min(len - 1)
}

/// The row (0 = top) of `value` on a plot of `height` rows spanning `range`.
pub fn row(value: f64, range: (f64, f64), height: usize) -> usize {
    let (lo, hi) = range;
    if height <= 1 || hi <= lo {
        return 0;
    }
    let fraction = ((hi - value) / (hi - lo)).clamp(0.0, 1.0);
    (fraction * (height - 1) as f64).round() as usize
}

/// The chart of a session's primary metric, as `show` and `watch` print it.
pub fn primary_chart(d: &SessionDetail, palette: &Palette, width: usize) -> Option<String> {
    let s = d.head();
    terminal_chart(&series(&d.iterations), s.minimize, &s.primary_metric, width, palette)
}

type Cell = (char, Option<Style>);

/// The terminal chart: values as dots, the best-so-far as a stepped line, failed iterations
/// as crosses on the x axis, min/max labels on the y axis and iteration numbers below.
/// `width` is the whole chart's width in columns. None when there is nothing to plot.
pub fn terminal_chart(
    points: &[Point],
    minimize: bool,
    metric: &str,
    width: usize,
    palette: &Palette,
) -> Option<String> {
    let range = y_range(points)?;
    let labels = [value::metric(range.1), value::metric((range.0 + range.1) / 2.0), value::metric(range.0)];
    let gutter = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let plot_width = width.saturating_sub(gutter + 2).max(MIN_PLOT_WIDTH);
    let count = points.len();
    let columns: Vec<usize> = (0..count).map(|i| position(i, count, plot_width)).collect();

    let mut grid: Vec<Vec<Cell>> = vec![vec![(' ', None); plot_width]; PLOT_HEIGHT];
    let mut axis: Vec<Cell> = vec![('─', None); plot_width];
    let best = best_so_far(points, minimize);
    // The best-so-far steps: each point's best holds until the next point's column.
    for (i, b) in best.iter().enumerate() {
        let Some(b) = b else { continue };
        let end = columns.get(i + 1).copied().unwrap_or(columns[i] + 1);
        let r = row(*b, range, PLOT_HEIGHT);
        for cell in grid[r].iter_mut().take(end.max(columns[i] + 1)).skip(columns[i]) {
            *cell = (BEST_LINE, Some(Style::Green));
        }
    }
    for (p, &c) in points.iter().zip(&columns) {
        if let Some(v) = p.value {
            grid[row(v, range, PLOT_HEIGHT)][c] = (POINT, None);
        }
        if p.failed {
            axis[c] = (FAILED, Some(Style::Red));
        }
    }

    let direction = if minimize { "minimize" } else { "maximize" };
    let mut legend = format!("{metric} ({direction})   {POINT} result  {BEST_LINE} best so far");
    if points.iter().any(|p| p.failed) {
        legend.push_str(&format!("  {FAILED} failed"));
    }
    let mut lines = vec![palette.paint(Some(Style::Bold), &legend)];
    let middle = PLOT_HEIGHT / 2;
    for (r, cells) in grid.iter().enumerate() {
        let (label, tick) = match r {
            0 => (labels[0].as_str(), '┤'),
            r if r == PLOT_HEIGHT - 1 => (labels[2].as_str(), '┤'),
            r if r == middle => (labels[1].as_str(), '┤'),
            _ => ("", '│'),
        };
        lines.push(format!("{label:>gutter$} {tick}{}", paint_cells(cells, palette)).trim_end().to_string());
    }
    lines.push(format!("{:gutter$} └{}", "", paint_cells(&axis, palette)));
    lines.push(x_labels(points, &columns, gutter, plot_width));
    let mut text = lines.join("\n");
    text.push('\n');
    Some(text)
}

/// First and last iteration numbers under their columns.
fn x_labels(points: &[Point], columns: &[usize], gutter: usize, plot_width: usize) -> String {
    let mut row = vec![' '; plot_width];
    let mut put = |column: usize, text: &str, right_aligned: bool| {
        let len = text.chars().count();
        let start = if right_aligned { (column + 1).saturating_sub(len) } else { column };
        for (offset, ch) in text.chars().enumerate() {
            if let Some(cell) = row.get_mut(start + offset) {
                *cell = ch;
            }
        }
    };
    if let (Some(first), Some(&first_col)) = (points.first(), columns.first()) {
        put(first_col, &format!("#{}", first.number), false);
    }
    if points.len() > 1
        && let (Some(last), Some(&last_col)) = (points.last(), columns.last())
    {
        put(last_col, &format!("#{}", last.number), true);
    }
    let text: String = row.into_iter().collect();
    format!("{:gutter$}  {}", "", text).trim_end().to_string()
}

/// Paints runs of equally styled cells at once, so a plain palette adds nothing.
fn paint_cells(cells: &[Cell], palette: &Palette) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut style: Option<Style> = None;
    for &(ch, s) in cells {
        if s != style && !run.is_empty() {
            out.push_str(&palette.paint(style, &run));
            run.clear();
        }
        style = s;
        run.push(ch);
    }
    out.push_str(&palette.paint(style, &run));
    out
}

/// The last `max` points as one block character each (taller is a larger value), `✗` for a
/// failed run and `·` for one without a result. Empty when there are no points.
/// A run's curve (the progress it reported) as a sparkline of its last `max` points.
pub fn curve_sparkline(history: &[revis_proto::v1::HistoryPoint], max: usize) -> String {
    let points: Vec<Point> =
        history.iter().zip(0..).map(|(p, number)| Point { number, value: Some(p.value), failed: false }).collect();
    sparkline(&points, max)
}

pub fn sparkline(points: &[Point], max: usize) -> String {
    let shown = &points[points.len().saturating_sub(max)..];
    let range = y_range(shown);
    shown
        .iter()
        .map(|p| match (p.value, range) {
            _ if p.failed => FAILED,
            (Some(v), Some(range)) => {
                let level = SPARK_LEVELS.len() - 1 - row(v, range, SPARK_LEVELS.len());
                SPARK_LEVELS[level]
            }
            _ => '·',
        })
        .collect()
}

#[cfg(test)]
mod tests;
