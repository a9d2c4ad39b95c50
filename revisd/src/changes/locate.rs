//! Finding the byte span of one scalar in a config file, so an edit replaces exactly that text.
//! `flow` scans JSON and YAML flow collections (`{a: 1, b: [2]}`); `yaml_block` walks YAML block
//! mappings line by line and hands over to `flow` when a value is written in flow style.
//!
//! The locators never decide what a value *means*: the caller parses the file with a real parser
//! and re-parses the edited text to verify that only the intended value changed.

use super::render::YamlQuote;

/// Where the scalar is and how it was quoted. An empty span means "no value written"
/// (`key:` at the end of a line), in which case `needs_space` asks for a separating blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalar {
    pub start: usize,
    pub end: usize,
    pub quote: YamlQuote,
    pub needs_space: bool,
}

/// Why the scalar could not be located. `level` is the number of key components that were
/// found before the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocateError {
    Missing {
        level: usize,
    },
    NotMapping {
        level: usize,
    },
    NotScalar,
    /// A form this editor does not rewrite (multi-line scalars, aliases, block scalars, ...).
    Unsupported(String),
    Syntax(String),
}

/// Scanner for JSON and YAML flow style. With `yaml`, plain scalars, single quotes, comments,
/// anchors and tags are understood too.
pub struct Flow<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    yaml: bool,
}

impl<'a> Flow<'a> {
    pub fn new(text: &'a str, pos: usize, yaml: bool) -> Self {
        Self { s: text.as_bytes(), text, pos, yaml }
    }

    /// Locate `path` in the value starting at the current position.
    pub fn locate(mut self, path: &[&str], level: usize) -> Result<Scalar, LocateError> {
        match self.value(path, level, true)? {
            Some(found) => Ok(found),
            None => Err(LocateError::Missing { level }),
        }
    }

    /// The quoted or plain scalar at the current position (for keys and quoted block values).
    pub fn scalar_here(mut self) -> Result<Scalar, LocateError> {
        self.scalar()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn syntax(&self, what: &str) -> LocateError {
        LocateError::Syntax(format!("{what} at byte {}", self.pos))
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' if self.yaml => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Consume one value. With `want`, return the scalar at `path` below it (or an error when
    /// `path` cannot be followed); without, only skip it.
    fn value(&mut self, path: &[&str], level: usize, want: bool) -> Result<Option<Scalar>, LocateError> {
        self.skip_ws();
        if self.yaml {
            self.skip_properties(want && path.is_empty())?;
        }
        let found = match self.peek() {
            None => return Err(self.syntax("unexpected end of input")),
            Some(b'{') => {
                let found = self.mapping(path, level, want)?;
                if want && path.is_empty() {
                    return Err(LocateError::NotScalar);
                }
                found
            }
            Some(b'[') => {
                self.sequence()?;
                if want {
                    return Err(if path.is_empty() {
                        LocateError::NotScalar
                    } else {
                        LocateError::NotMapping { level }
                    });
                }
                None
            }
            Some(_) => {
                let scalar = self.scalar()?;
                if want && !path.is_empty() {
                    return Err(LocateError::NotMapping { level });
                }
                want.then_some(scalar)
            }
        };
        Ok(found)
    }

    /// Anchors and tags before a value are kept; an alias cannot be edited in place.
    fn skip_properties(&mut self, target: bool) -> Result<(), LocateError> {
        loop {
            match self.peek() {
                Some(b'&' | b'!') => {
                    while self.peek().is_some_and(|c| !b" \t\r\n,[]{}".contains(&c)) {
                        self.pos += 1;
                    }
                    self.skip_ws();
                }
                Some(b'*') if target => {
                    return Err(LocateError::Unsupported("the value is an alias".into()));
                }
                _ => return Ok(()),
            }
        }
    }

    fn mapping(&mut self, path: &[&str], level: usize, want: bool) -> Result<Option<Scalar>, LocateError> {
        self.pos += 1;
        let mut found = None;
        let mut seen = false;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.syntax("unterminated mapping")),
                _ => {}
            }
            let key_span = self.scalar()?;
            let key = decode_key(&self.text[key_span.start..key_span.end], key_span.quote);
            self.skip_ws();
            let here = want && !path.is_empty() && key.as_deref() == Some(path[0]);
            if self.peek() == Some(b':') {
                self.pos += 1;
                let rest = if here { &path[1..] } else { &[][..] };
                let value = self.value(rest, level + 1, here)?;
                // Parsers keep the last of duplicated keys; so does the edit.
                if here {
                    found = value;
                    seen = true;
                }
            } else if here {
                return Err(LocateError::Unsupported(format!("`{}` has no value", path[0])));
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
        if want && !path.is_empty() && !seen {
            return Err(LocateError::Missing { level });
        }
        Ok(found)
    }

    fn sequence(&mut self) -> Result<(), LocateError> {
        self.pos += 1;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                None => return Err(self.syntax("unterminated sequence")),
                _ => {}
            }
            self.value(&[], 0, false)?;
            self.skip_ws();
            // YAML allows single-pair mappings inside sequences: `[a: 1]`.
            if self.yaml && self.peek() == Some(b':') {
                self.pos += 1;
                self.value(&[], 0, false)?;
                self.skip_ws();
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
    }

    /// A quoted string or a plain scalar; nested collections are skipped by `value`.
    fn scalar(&mut self) -> Result<Scalar, LocateError> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => return Err(self.syntax("unterminated string")),
                        Some(b'\\') => self.pos += 2,
                        Some(b'"') => break,
                        Some(_) => self.pos += 1,
                    }
                }
                self.pos += 1;
                YamlQuote::Double
            }
            Some(b'\'') if self.yaml => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => return Err(self.syntax("unterminated string")),
                        Some(b'\'') if self.s.get(self.pos + 1) == Some(&b'\'') => self.pos += 2,
                        Some(b'\'') => break,
                        Some(_) => self.pos += 1,
                    }
                }
                self.pos += 1;
                YamlQuote::Single
            }
            Some(b'{' | b'[') => {
                self.value(&[], 0, false)?;
                return Ok(Scalar { start, end: self.pos, quote: YamlQuote::Plain, needs_space: false });
            }
            _ => {
                let mut end = self.pos;
                while let Some(c) = self.peek() {
                    let next = self.s.get(self.pos + 1).copied();
                    let ends_key = c == b':' && (!self.yaml || next.is_none_or(|n| b" \t\r\n,[]{}".contains(&n)));
                    if b",]}\n\r".contains(&c) || ends_key {
                        break;
                    }
                    if self.yaml && c == b'#' && self.pos > start && self.s[self.pos - 1] == b' ' {
                        break;
                    }
                    self.pos += 1;
                    if c != b' ' && c != b'\t' {
                        end = self.pos;
                    }
                }
                if end == start {
                    return Err(self.syntax("expected a value"));
                }
                return Ok(Scalar { start, end, quote: YamlQuote::Plain, needs_space: false });
            }
        };
        Ok(Scalar { start, end: self.pos, quote, needs_space: false })
    }
}

/// The text of a mapping key, unquoted. `None` when it cannot be decoded (it then matches nothing).
pub fn decode_key(raw: &str, quote: YamlQuote) -> Option<String> {
    match quote {
        YamlQuote::Plain => Some(raw.trim().to_string()),
        YamlQuote::Double => serde_json::from_str::<String>(raw).ok(),
        YamlQuote::Single => {
            let inner = raw.strip_prefix('\'')?.strip_suffix('\'')?;
            Some(inner.replace("''", "'"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<'a>(text: &'a str, key: &str, yaml: bool) -> Result<&'a str, LocateError> {
        let path: Vec<&str> = key.split('.').collect();
        let found = Flow::new(text, 0, yaml).locate(&path, 0)?;
        Ok(&text[found.start..found.end])
    }

    #[test]
    fn finds_json_scalars() {
        let text = r#"{"a": {"b": 1.5, "c": [1, {"d": 2}]}, "e": "x\"y", "f": null}"#;
        assert_eq!(span(text, "a.b", false), Ok("1.5"));
        assert_eq!(span(text, "e", false), Ok(r#""x\"y""#));
        assert_eq!(span(text, "f", false), Ok("null"));
        assert_eq!(span(text, "a.c", false), Err(LocateError::NotScalar));
        assert_eq!(span(text, "a", false), Err(LocateError::NotScalar));
        assert_eq!(span(text, "a.z", false), Err(LocateError::Missing { level: 1 }));
        assert_eq!(span(text, "e.z", false), Err(LocateError::NotMapping { level: 1 }));
    }

    #[test]
    fn finds_yaml_flow_scalars() {
        let text = "{lr: 1.0e-3, 'name': 'it''s', nested: {k: v w}, list: [a: 1, b]} # c";
        assert_eq!(span(text, "lr", true), Ok("1.0e-3"));
        assert_eq!(span(text, "name", true), Ok("'it''s'"));
        assert_eq!(span(text, "nested.k", true), Ok("v w"));
        assert_eq!(span(text, "list", true), Err(LocateError::NotScalar));
    }
}
