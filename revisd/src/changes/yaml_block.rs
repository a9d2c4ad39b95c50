//! Locating a scalar in a YAML document written in block style, line by line: a key is found
//! at the indentation of its mapping, nested mappings are the more-indented lines below it, and
//! a value written in flow style (`{...}`) is handed to the flow scanner.
//!
//! Only the first document of a stream is considered. Forms whose text cannot be replaced as
//! one span (block scalars, multi-line plain scalars, aliases) are reported as unsupported.

use super::locate::{Flow, LocateError, Scalar, decode_key};
use super::render::YamlQuote;

struct Line {
    /// Byte offset of the first character after the indentation.
    start: usize,
    /// Byte offset of the end of the line, before `\r\n` or `\n`.
    end: usize,
    indent: usize,
    /// Blank or comment-only lines never carry a key.
    blank: bool,
}

impl Line {
    fn is_sequence_item(&self, text: &str) -> bool {
        let content = &text[self.start..self.end];
        content == "-" || content.starts_with("- ") || content.starts_with("-\t")
    }
}

/// The lines of the first document (after `---` and directives, up to the next `---`/`...`).
fn document_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut offset = 0;
    let mut in_document = false;
    for raw in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let body = raw.trim_end_matches(['\n', '\r']);
        let is_marker = body == "---" || body.starts_with("--- ");
        if is_marker || body == "..." {
            if in_document {
                break;
            }
            in_document = is_marker;
            continue;
        }
        if body.starts_with('%') && !in_document {
            continue;
        }
        let indent = body.len() - body.trim_start_matches(' ').len();
        let content = body[indent..].trim_end();
        if !content.is_empty() && !content.starts_with('#') {
            in_document = true;
        }
        lines.push(Line {
            start: line_start + indent,
            end: line_start + body.len(),
            indent,
            blank: content.is_empty() || content.starts_with('#'),
        });
    }
    lines
}

/// A block mapping key at the start of `content`: its decoded text and the byte offset just
/// after its `:`.
fn parse_key(content: &str) -> Option<(String, usize)> {
    if content.starts_with(['"', '\'']) {
        let quoted = Flow::new(content, 0, true).scalar_here().ok()?;
        let rest = &content[quoted.end..];
        let after = rest.trim_start_matches([' ', '\t']);
        let colon = content.len() - after.len();
        let ok = after.starts_with(':') && after[1..].chars().next().is_none_or(char::is_whitespace);
        let key = decode_key(&content[..quoted.end], quoted.quote)?;
        return ok.then_some((key, colon + 1));
    }
    if content.starts_with(['?', '-', '{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    let bytes = content.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'#' && i > 0 && matches!(bytes[i - 1], b' ' | b'\t') {
            return None;
        }
        if c == b':' && bytes.get(i + 1).is_none_or(|n| matches!(n, b' ' | b'\t')) {
            let key = content[..i].trim_end();
            return (!key.is_empty()).then(|| (key.to_string(), i + 1));
        }
    }
    None
}

/// Locate the scalar at `path` in a YAML document.
pub fn locate(text: &str, path: &[&str]) -> Result<Scalar, LocateError> {
    let lines = document_lines(text);
    let Some(first) = lines.iter().find(|l| !l.blank) else {
        return Err(LocateError::Missing { level: 0 });
    };
    if text[first.start..].starts_with(['{', '[']) {
        return Flow::new(text, first.start, true).locate(path, 0);
    }
    let mut from = 0;
    let mut parent_indent = None;
    for (level, key) in path.iter().enumerate() {
        let (index, indent, after_colon) = find_key(text, &lines, from, parent_indent, key, level)?;
        let line = &lines[index];
        let last = level + 1 == path.len();
        let rest_start = skip_blanks(text, after_colon, line.end);
        let value_start = skip_properties(text, rest_start, line.end);
        let rest = &text[value_start..line.end];
        let next = lines[index + 1..].iter().find(|l| !l.blank);
        let nested = next.is_some_and(|n| n.indent > indent || (n.indent == indent && n.is_sequence_item(text)));
        if rest.is_empty() || rest.starts_with('#') {
            if !last {
                if !nested {
                    return Err(LocateError::NotMapping { level: level + 1 });
                }
                from = index + 1;
                parent_indent = Some(indent);
                continue;
            }
            if nested {
                return Err(LocateError::NotScalar);
            }
            if value_start != rest_start {
                return Err(LocateError::Unsupported("an anchored or tagged empty value".into()));
            }
            // `key:` with nothing after it: insert the value right after the colon.
            return Ok(Scalar { start: after_colon, end: after_colon, quote: YamlQuote::Plain, needs_space: true });
        }
        if rest.starts_with('{') {
            if last {
                return Err(LocateError::NotScalar);
            }
            return Flow::new(text, value_start, true).locate(&path[level + 1..], level + 1);
        }
        if !last {
            return Err(LocateError::NotMapping { level: level + 1 });
        }
        return block_scalar(text, rest, value_start, line, nested);
    }
    Err(LocateError::NotScalar)
}

/// The value after `key:` on a line, when it is the last component of the path.
fn block_scalar(text: &str, rest: &str, start: usize, line: &Line, continued: bool) -> Result<Scalar, LocateError> {
    if rest.starts_with('[') {
        return Err(LocateError::NotScalar);
    }
    if rest.starts_with('*') {
        return Err(LocateError::Unsupported("the value is an alias".into()));
    }
    if rest.starts_with(['|', '>']) {
        return Err(LocateError::Unsupported("block scalars (`|`, `>`) are not edited".into()));
    }
    if rest.starts_with(['"', '\'']) {
        let quoted = Flow::new(text, start, true).scalar_here()?;
        if quoted.end > line.end {
            return Err(LocateError::Unsupported("a quoted value over several lines".into()));
        }
        return Ok(quoted);
    }
    if continued {
        return Err(LocateError::Unsupported("a plain value over several lines".into()));
    }
    let bytes = rest.as_bytes();
    let mut len = rest.len();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && matches!(bytes[i - 1], b' ' | b'\t') {
            len = i;
            break;
        }
    }
    let value = rest[..len].trim_end();
    Ok(Scalar { start, end: start + value.len(), quote: YamlQuote::Plain, needs_space: false })
}

fn skip_blanks(text: &str, mut pos: usize, end: usize) -> usize {
    while pos < end && matches!(text.as_bytes()[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// Skip `&anchor` and `!tag` before a value; they stay untouched.
fn skip_properties(text: &str, mut pos: usize, end: usize) -> usize {
    while pos < end && matches!(text.as_bytes()[pos], b'&' | b'!') {
        while pos < end && !matches!(text.as_bytes()[pos], b' ' | b'\t') {
            pos += 1;
        }
        pos = skip_blanks(text, pos, end);
    }
    pos
}

/// The line holding `key` in the mapping that starts at line `from` and is indented more than
/// `parent_indent`: its index, its indentation and the offset just after the `:`.
fn find_key(
    text: &str,
    lines: &[Line],
    from: usize,
    parent_indent: Option<usize>,
    key: &str,
    level: usize,
) -> Result<(usize, usize, usize), LocateError> {
    let mut indent = None;
    for (index, line) in lines.iter().enumerate().skip(from) {
        if line.blank {
            continue;
        }
        if parent_indent.is_some_and(|parent| line.indent <= parent) {
            break;
        }
        let first = indent.is_none();
        let mapping_indent = *indent.get_or_insert(line.indent);
        if line.indent < mapping_indent {
            break;
        }
        if line.indent > mapping_indent {
            continue;
        }
        if line.is_sequence_item(text) {
            // `key:` followed by `- item` lines at the key's own indentation is a list value;
            // a region that *starts* with an item is a list, not a mapping.
            if first {
                return Err(LocateError::NotMapping { level });
            }
            continue;
        }
        if let Some((found, colon)) = parse_key(&text[line.start..line.end])
            && found == key
        {
            return Ok((index, line.indent, line.start + colon));
        }
    }
    Err(LocateError::Missing { level })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<'a>(text: &'a str, key: &str) -> Result<&'a str, LocateError> {
        let path: Vec<&str> = key.split('.').collect();
        let found = locate(text, &path)?;
        Ok(&text[found.start..found.end])
    }

    const DOC: &str = "\
# top comment
---
model:
  name: resnet  # the backbone
  layers: [1, 2, 3]
  head: {dropout: 0.1, act: 'gelu'}
optimizer:

  # learning rate
  lr: &lr 1.0e-3
  \"beta key\": 0.9
  note: |
    text: not a key
  empty:
plain: a b c
items:
- a
- b
";

    #[test]
    fn finds_block_scalars() {
        assert_eq!(span(DOC, "model.name"), Ok("resnet"));
        assert_eq!(span(DOC, "optimizer.lr"), Ok("1.0e-3"));
        assert_eq!(span(DOC, "optimizer.beta key"), Ok("0.9"));
        assert_eq!(span(DOC, "model.head.dropout"), Ok("0.1"));
        assert_eq!(span(DOC, "model.head.act"), Ok("'gelu'"));
        assert_eq!(span(DOC, "plain"), Ok("a b c"));
        assert_eq!(span(DOC, "optimizer.empty"), Ok(""));
    }

    #[test]
    fn reports_what_cannot_be_edited() {
        assert_eq!(span(DOC, "model"), Err(LocateError::NotScalar));
        assert_eq!(span(DOC, "model.layers"), Err(LocateError::NotScalar));
        assert_eq!(span(DOC, "items"), Err(LocateError::NotScalar));
        assert_eq!(span(DOC, "model.missing"), Err(LocateError::Missing { level: 1 }));
        assert_eq!(span(DOC, "text"), Err(LocateError::Missing { level: 0 }));
        assert_eq!(span(DOC, "plain.x"), Err(LocateError::NotMapping { level: 1 }));
        assert!(matches!(span(DOC, "optimizer.note"), Err(LocateError::Unsupported(_))));
    }
}
