use super::*;

fn it(number: u32, state: IterationState, outcome: Option<Outcome>, primary: Option<f64>) -> Iteration {
    Iteration { number, state: state as i32, outcome: outcome.map(|o| o as i32), primary, ..Default::default() }
}

fn ok(number: u32, value: f64) -> Point {
    Point { number, value: Some(value), failed: false }
}

fn failed(number: u32) -> Point {
    Point { number, value: None, failed: true }
}

#[test]
fn series_keeps_the_last_run_per_number_and_skips_running_ones() {
    let iterations = vec![
        it(0, IterationState::Succeeded, Some(Outcome::Baseline), Some(2.0)),
        it(1, IterationState::Interrupted, Some(Outcome::Interrupted), None),
        it(1, IterationState::Succeeded, Some(Outcome::Improved), Some(1.5)),
        it(2, IterationState::Failed, Some(Outcome::Failed), Some(9.0)),
        it(3, IterationState::Running, None, None),
        it(4, IterationState::Pending, None, None),
    ];
    assert_eq!(series(&iterations), vec![ok(0, 2.0), ok(1, 1.5), failed(2)]);
}

#[test]
fn best_so_far_follows_the_objective() {
    let points = vec![failed(0), ok(1, 3.0), ok(2, 2.0), failed(3), ok(4, 2.5), ok(5, 1.0)];
    assert_eq!(best_so_far(&points, true), vec![None, Some(3.0), Some(2.0), Some(2.0), Some(2.0), Some(1.0)]);
    assert_eq!(best_so_far(&points, false), vec![None, Some(3.0), Some(3.0), Some(3.0), Some(3.0), Some(3.0)]);
}

#[test]
fn y_range_comes_from_the_data_and_widens_when_flat() {
    assert_eq!(y_range(&[ok(0, 0.5), failed(1), ok(2, 2.5)]), Some((0.5, 2.5)));
    assert_eq!(y_range(&[ok(0, 2.0), ok(1, 2.0)]), Some((1.9, 2.1)));
    assert_eq!(y_range(&[ok(0, 0.0)]), Some((-1.0, 1.0)));
    assert_eq!(y_range(&[failed(0)]), None);
}

#[test]
fn positions_and_rows_span_the_axes() {
    assert_eq!((0..3).map(|i| position(i, 3, 11)).collect::<Vec<_>>(), [0, 5, 10]);
    assert_eq!(position(0, 1, 40), 0);
    assert_eq!(position(99, 100, 10), 9);
    assert_eq!(row(2.5, (0.5, 2.5), 8), 0);
    assert_eq!(row(0.5, (0.5, 2.5), 8), 7);
    assert_eq!(row(1.5, (0.5, 2.5), 9), 4);
    assert_eq!(row(-10.0, (0.5, 2.5), 8), 7, "clamped");
}

#[test]
fn terminal_chart_draws_points_best_line_failures_and_labels() {
    let points = vec![ok(0, 2.0), ok(1, 1.0), failed(2), ok(3, 1.5)];
    let text = terminal_chart(&points, true, "val_loss", 30, &Palette::plain()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + PLOT_HEIGHT + 2, "{text}");
    assert!(lines[0].starts_with("val_loss (minimize)") && lines[0].contains("✗ failed"), "{text}");
    assert!(lines[1].trim_start().starts_with("2 ┤●"), "max label and the baseline at the top: {text}");
    assert!(lines[PLOT_HEIGHT].trim_start().starts_with("1 ┤"), "min label on the bottom row: {text}");
    // The best so far (1.0 from #1 on) runs along the bottom row to the end.
    let bottom: Vec<char> = lines[PLOT_HEIGHT].chars().collect();
    assert_eq!(bottom.last(), Some(&BEST_LINE), "{text}");
    assert_eq!(lines[PLOT_HEIGHT].matches(POINT).count(), 1, "{text}");
    let dots: usize = lines[1..=PLOT_HEIGHT].iter().map(|l| l.matches(POINT).count()).sum();
    assert_eq!(dots, 3, "one dot per result: {text}");
    let axis = lines[PLOT_HEIGHT + 1];
    assert_eq!(axis.matches(FAILED).count(), 1, "{text}");
    assert!(lines[PLOT_HEIGHT + 2].trim_start().starts_with("#0") && lines[PLOT_HEIGHT + 2].ends_with("#3"), "{text}");
    for line in &lines[1..] {
        assert!(line.chars().count() <= 30, "the plot fits the width: {line:?}");
        assert!(!line.contains('\x1b'), "a plain palette adds no escapes");
    }
}

#[test]
fn terminal_chart_colours_only_with_a_colouring_palette() {
    let points = vec![ok(0, 2.0), failed(1), ok(2, 1.0)];
    let text = terminal_chart(&points, true, "m", 40, &Palette::decide_for_test()).unwrap_or_default();
    assert!(text.contains("\x1b[31m✗"), "{text}");
    assert!(text.contains("\x1b[32m─"), "{text}");
}

#[test]
fn terminal_chart_needs_a_value_and_survives_tiny_widths() {
    assert_eq!(terminal_chart(&[failed(0)], true, "m", 60, &Palette::plain()), None);
    let many: Vec<Point> = (0..200).map(|n| ok(n, f64::from(n % 7))).collect();
    let text = terminal_chart(&many, false, "acc", 5, &Palette::plain()).unwrap_or_default();
    assert!(text.contains("#199"), "{text}");
}

#[test]
fn sparkline_scales_the_last_points() {
    let points = vec![ok(0, 0.0), ok(1, 1.0), failed(2), ok(3, 0.5), Point { number: 4, value: None, failed: false }];
    assert_eq!(sparkline(&points, 10), "▁█✗▄·");
    assert_eq!(sparkline(&points, 2), "▄·");
    assert_eq!(sparkline(&[], 5), "");
}
