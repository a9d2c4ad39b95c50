//! A YAML document as a tree whose every node knows its line and column, built from
//! saphyr-parser events. It owns syntax errors, anchors/aliases and duplicate keys; it does not
//! know the revis.yaml schema (that is `decode.rs`) and does not type scalars beyond "plain or
//! quoted" (typing depends on what the schema asks for).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `plain` is false for quoted and block scalars: those are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The key text, for scalar keys (the only kind revis.yaml uses).
    pub fn as_key(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn size(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { .. } => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            NodeKind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Aliases can multiply a small file into a huge tree ("billion laughs"); a config never needs
/// anywhere near this many nodes.
const MAX_NODES: usize = 100_000;

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

fn pos_of(span: &Span) -> Pos {
    Pos { line: span.start.line(), column: span.start.col() + 1 }
}

/// Where the text ends: the line after its last line break (`\n`, `\r\n` or a lone `\r`), and
/// the column just past that line's last character.
fn end_of(text: &str) -> Pos {
    let breaks = text.match_indices(['\n', '\r']).filter(|(i, c)| !(*c == "\r" && text[i + 1..].starts_with('\n')));
    let (line, start) = breaks.fold((1, 0), |(line, _), (i, _)| (line + 1, i + 1));
    Pos { line, column: text[start..].chars().count() + 1 }
}

/// The parser reports some errors at end of input one line past the text (a line that does not
/// exist in the file); an error must point at a place the user can find.
fn within(pos: Pos, end: Pos) -> Pos {
    if (pos.line, pos.column) > (end.line, end.column) { end } else { pos }
}

/// Parses the first (and only) document. An empty document is a null scalar at 1:1.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let end = end_of(text);
    let mut builder = Builder { stack: Vec::new(), anchors: HashMap::new(), root: None, nodes: 0 };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError {
            pos: within(Pos { line: e.marker().line(), column: e.marker().col() + 1 }, end),
            message: e.info().to_string(),
        })?;
        builder.on_event(event, within(pos_of(&span), end))?;
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, column: 1 },
        kind: NodeKind::Scalar { text: String::new(), plain: true },
    }))
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, pos: Pos) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(_) if self.root.is_some() => {
                Err(SyntaxError { pos, message: "more than one YAML document; revis.yaml holds exactly one".into() })
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let node = Node { pos, kind: NodeKind::Scalar { text: text.into_owned(), plain } };
                self.finish(node, anchor)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.stack.push(Frame::Seq { pos, anchor, items: Vec::new() });
                Ok(())
            }
            Event::MappingStart(anchor, _tag) => {
                self.stack.push(Frame::Map { pos, anchor, entries: Vec::new(), key: None });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => {
                    self.finish(Node { pos, kind: NodeKind::Seq(items) }, anchor)
                }
                Some(Frame::Map { pos, anchor, entries, .. }) => {
                    self.finish(Node { pos, kind: NodeKind::Map(entries) }, anchor)
                }
                None => Ok(()),
            },
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError { pos, message: "alias to an unknown anchor".into() });
                };
                self.finish(node, 0)
            }
            _ => Ok(()),
        }
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        self.nodes += node.size();
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                pos: node.pos,
                message: format!("document too large (more than {MAX_NODES} nodes after aliases)"),
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if let Some(name) = node.as_key()
                        && let Some((first, _)) = entries.iter().find(|(k, _)| k.as_key() == Some(name))
                    {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: format!("duplicate key '{name}' (first defined on line {})", first.pos.line),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_for_keys_and_values() -> Result<(), SyntaxError> {
        let root = parse("a:\n  bb: 3\n  c: {d: x}\n")?;
        let NodeKind::Map(top) = &root.kind else { panic!("map expected") };
        let (a, inner) = &top[0];
        assert_eq!(a.pos, Pos { line: 1, column: 1 });
        let NodeKind::Map(entries) = &inner.kind else { panic!("map expected") };
        assert_eq!(entries[0].0.pos, Pos { line: 2, column: 3 });
        assert_eq!(entries[0].1.pos, Pos { line: 2, column: 7 });
        let NodeKind::Map(flow) = &entries[1].1.kind else { panic!("map expected") };
        assert_eq!(flow[0].0.pos, Pos { line: 3, column: 7 });
        Ok(())
    }

    #[test]
    fn errors_at_the_end_point_inside_the_text() {
        // Found by the `config_load` fuzz target: the parser put this error on line 7 of a
        // 6-line file.
        let text = "entry:\n  entry:\n  train: python t.py\nmetrics:\n  primavyrails:\n  max_run_dur  primavenyt";
        let err = parse(text).err();
        assert_eq!(err.map(|e| e.pos), Some(Pos { line: 6, column: 26 }));
        assert_eq!(end_of(""), Pos { line: 1, column: 1 });
        assert_eq!(end_of("a\r\nb\rcé\n"), Pos { line: 4, column: 1 });
        assert_eq!(end_of("a\r\nb\rcé"), Pos { line: 3, column: 3 });
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").err();
        assert_eq!(err.as_ref().map(|e| e.pos.line), Some(3));
        assert!(err.is_some_and(|e| e.message.contains("line 1")));
    }

    #[test]
    fn aliases_copy_the_anchored_node() -> Result<(), SyntaxError> {
        let root = parse("a: &x [1, 2]\nb: *x\n")?;
        let NodeKind::Map(top) = &root.kind else { panic!("map expected") };
        assert_eq!(top[0].1.kind, top[1].1.kind);
        Ok(())
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").err();
        assert!(err.is_some_and(|e| e.pos.line >= 1 && !e.message.is_empty()));
    }

    #[test]
    fn empty_text_is_a_null_document() -> Result<(), SyntaxError> {
        assert!(parse("")?.is_null());
        assert!(parse("# only a comment\n")?.is_null());
        Ok(())
    }
}
