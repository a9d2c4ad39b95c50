//! Aligned plain-text tables: two spaces between columns, no trailing spaces, an optional
//! indented detail line under a row (e.g. why an iteration failed).

use super::color::{Palette, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub style: Option<Style>,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), style: None }
    }
    pub fn styled(text: impl Into<String>, style: Option<Style>) -> Self {
        Self { text: text.into(), style }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::new(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::new(text)
    }
}

struct Row {
    cells: Vec<Cell>,
    detail: Option<Cell>,
}

pub struct Table {
    headers: Vec<&'static str>,
    align: Vec<Align>,
    rows: Vec<Row>,
}

const GAP: &str = "  ";
const DETAIL_INDENT: &str = "    ";

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Self {
        let align = vec![Align::Left; headers.len()];
        Self { headers, align, rows: Vec::new() }
    }

    pub fn align_right(mut self, column: usize) -> Self {
        if let Some(a) = self.align.get_mut(column) {
            *a = Align::Right;
        }
        self
    }

    pub fn push_with_detail(&mut self, cells: Vec<Cell>, detail: Option<Cell>) {
        self.rows.push(Row { cells, detail });
    }

    pub fn render(&self, palette: &Palette) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.cells.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(width(&cell.text));
            }
        }
        let header_cells: Vec<Cell> = self.headers.iter().map(|h| Cell::styled(*h, Some(Style::Bold))).collect();
        let mut out = self.line(&header_cells, &widths, palette);
        for row in &self.rows {
            out.push_str(&self.line(&row.cells, &widths, palette));
            if let Some(detail) = &row.detail {
                out.push_str(DETAIL_INDENT);
                out.push_str(&palette.paint(detail.style, &detail.text));
                out.push('\n');
            }
        }
        out
    }

    fn line(&self, cells: &[Cell], widths: &[usize], palette: &Palette) -> String {
        let mut parts = Vec::with_capacity(widths.len());
        let empty = Cell::default();
        for (i, w) in widths.iter().enumerate() {
            let cell = cells.get(i).unwrap_or(&empty);
            let pad = " ".repeat(w.saturating_sub(width(&cell.text)));
            let painted = palette.paint(cell.style, &cell.text);
            let is_last = i + 1 == widths.len();
            parts.push(match self.align[i] {
                Align::Right => format!("{pad}{painted}"),
                Align::Left if is_last => painted,
                Align::Left => format!("{painted}{pad}"),
            });
        }
        let mut line = parts.join(GAP).trim_end().to_string();
        line.push('\n');
        line
    }
}

/// Display width, counted in chars (good enough for names, numbers and ASCII text).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// Shortens `text` to `max` chars, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    let first_line = text.lines().next().unwrap_or("");
    let cut = first_line.chars().count() > max || text.lines().nth(1).is_some();
    if !cut {
        return first_line.to_string();
    }
    let kept: String = first_line.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let mut t = Table::new(vec!["NAME", "ITER", "NOTE"]).align_right(1);
        t.push_with_detail(vec!["a".into(), "3".into(), "".into()], None);
        t.push_with_detail(vec!["longer-name".into(), "12".into(), "ok".into()], None);
        let text = t.render(&Palette::plain());
        assert_eq!(
            text,
            "NAME         ITER  NOTE\n\
             a               3\n\
             longer-name    12  ok\n"
        );
    }

    #[test]
    fn detail_lines_are_indented_under_their_row() {
        let mut t = Table::new(vec!["#", "OUTCOME"]);
        t.push_with_detail(vec!["1".into(), "failed".into()], Some(Cell::new("exit 3")));
        let text = t.render(&Palette::plain());
        assert_eq!(text, "#  OUTCOME\n1  failed\n    exit 3\n");
    }

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_or_multiline_text() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a very long change", 8), "a very…");
        assert_eq!(truncate("line one\nline two", 40), "line one…");
    }
}
