//! A small POSIX-shell lexer for training commands: words with their byte spans and unquoted
//! text, control operators (`;`, `&&`, `|`, ...) and redirections. Enough to find and replace a
//! CLI argument without disturbing the rest of the command; it never expands or runs anything.

/// One token of a command line. `start..end` is the raw text in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: TokenKind,
    /// For words: the text after quote removal (`$VAR` and `$(..)` are kept verbatim).
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    /// The target of a redirection (`> log.txt`): not an argument.
    RedirectTarget,
    /// `;`, `&`, `&&`, `|`, `||`, newline, `(`, `)`: separates commands.
    Control,
    /// `<`, `>`, `>>`, `2>`, `&>`, `>&`, ...
    Redirect,
}

/// Split `command` into tokens. Fails only on an unterminated quote or substitution.
pub fn tokenize(command: &str) -> Result<Vec<Token>, String> {
    let bytes = command.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        match c {
            b' ' | b'\t' | b'\r' => pos += 1,
            b'\\' if bytes.get(pos + 1) == Some(&b'\n') => pos += 2,
            b'#' => {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            b'\n' | b';' | b'(' | b')' => {
                tokens.push(op(pos, pos + 1, TokenKind::Control));
                pos += 1;
            }
            b'&' | b'|' => {
                let next = bytes.get(pos + 1).copied();
                let (len, kind) = match (c, next) {
                    (b'&', Some(b'>')) => (if bytes.get(pos + 2) == Some(&b'>') { 3 } else { 2 }, TokenKind::Redirect),
                    (_, Some(n)) if n == c => (2, TokenKind::Control),
                    _ => (1, TokenKind::Control),
                };
                tokens.push(op(pos, pos + len, kind));
                pos += len;
            }
            b'<' | b'>' => {
                let len = redirect_len(&bytes[pos..]);
                tokens.push(op(pos, pos + len, TokenKind::Redirect));
                pos += len;
            }
            _ => {
                let (end, text) = word(command, pos)?;
                // `2>file`: digits directly before a redirection are its file descriptor.
                if text.bytes().all(|b| b.is_ascii_digit())
                    && end == pos + text.len()
                    && matches!(bytes.get(end), Some(b'<' | b'>'))
                {
                    let len = redirect_len(&bytes[end..]);
                    tokens.push(op(pos, end + len, TokenKind::Redirect));
                    pos = end + len;
                    continue;
                }
                let kind = match tokens.last() {
                    Some(t) if t.kind == TokenKind::Redirect => TokenKind::RedirectTarget,
                    _ => TokenKind::Word,
                };
                tokens.push(Token { start: pos, end, kind, text });
                pos = end;
            }
        }
    }
    Ok(tokens)
}

fn op(start: usize, end: usize, kind: TokenKind) -> Token {
    Token { start, end, kind, text: String::new() }
}

/// Length of a redirection operator at the start of `rest` (`>`, `>>`, `>&`, `<<`, `<&`, `>|`).
fn redirect_len(rest: &[u8]) -> usize {
    match rest.get(1) {
        Some(b'>' | b'&' | b'|') if rest[0] == b'>' => 2,
        Some(b'<' | b'&' | b'>') if rest[0] == b'<' => 2,
        _ => 1,
    }
}

/// One word starting at `start`: its end and its unquoted text.
fn word(command: &str, start: usize) -> Result<(usize, String), String> {
    let bytes = command.as_bytes();
    let mut pos = start;
    let mut text = String::new();
    let unterminated = |what: &str| format!("unterminated {what} starting at byte {start}");
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
            b'\\' => {
                match command[pos + 1..].chars().next() {
                    Some('\n') => {}
                    Some(c) => text.push(c),
                    None => {}
                }
                pos += 1 + command[pos + 1..].chars().next().map_or(0, char::len_utf8);
            }
            b'\'' => {
                let close = command[pos + 1..].find('\'').ok_or_else(|| unterminated("single quote"))?;
                text.push_str(&command[pos + 1..pos + 1 + close]);
                pos += close + 2;
            }
            b'"' => {
                pos += 1;
                loop {
                    let Some(c) = command[pos..].chars().next() else {
                        return Err(unterminated("double quote"));
                    };
                    match c {
                        '"' => {
                            pos += 1;
                            break;
                        }
                        '\\' => match command[pos + 1..].chars().next() {
                            Some(n @ ('$' | '`' | '"' | '\\')) => {
                                text.push(n);
                                pos += 2;
                            }
                            Some('\n') => pos += 2,
                            _ => {
                                text.push('\\');
                                pos += 1;
                            }
                        },
                        c => {
                            text.push(c);
                            pos += c.len_utf8();
                        }
                    }
                }
            }
            b'$' if matches!(bytes.get(pos + 1), Some(b'(' | b'{')) => {
                let end = substitution_end(command, pos + 1).ok_or_else(|| unterminated("`$(`"))?;
                text.push_str(&command[pos..end]);
                pos = end;
            }
            b'`' => {
                let close = command[pos + 1..].find('`').ok_or_else(|| unterminated("backquote"))?;
                text.push_str(&command[pos..pos + close + 2]);
                pos += close + 2;
            }
            _ => {
                let c = command[pos..].chars().next().unwrap_or(' ');
                text.push(c);
                pos += c.len_utf8();
            }
        }
    }
    Ok((pos, text))
}

/// End of a `$(...)` or `${...}` whose opening bracket is at `open`, honouring nesting and quotes.
fn substitution_end(command: &str, open: usize) -> Option<usize> {
    let bytes = command.as_bytes();
    let (opening, closing) = if bytes[open] == b'(' { (b'(', b')') } else { (b'{', b'}') };
    let mut depth = 0usize;
    let mut pos = open;
    while pos < bytes.len() {
        match bytes[pos] {
            b'\\' => pos += 1,
            b'\'' => pos += command[pos + 1..].find('\'')? + 1,
            c if c == opening => depth += 1,
            c if c == closing => {
                depth -= 1;
                if depth == 0 {
                    return Some(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(command: &str) -> Vec<(TokenKind, String)> {
        tokenize(command)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|t| {
                let text = if t.kind == TokenKind::Word || t.kind == TokenKind::RedirectTarget {
                    t.text
                } else {
                    command[t.start..t.end].to_string()
                };
                (t.kind, text)
            })
            .collect()
    }

    #[test]
    fn splits_words_quotes_and_operators() {
        use TokenKind::*;
        let got = words(r#"cd src && python "train x.py" --name='a b' --x=\"q\" 2>&1 | tee log"#);
        let want = [
            (Word, "cd"),
            (Word, "src"),
            (Control, "&&"),
            (Word, "python"),
            (Word, "train x.py"),
            (Word, "--name=a b"),
            (Word, "--x=\"q\""),
            (Redirect, "2>&"),
            (RedirectTarget, "1"),
            (Control, "|"),
            (Word, "tee"),
            (Word, "log"),
        ];
        let want: Vec<(TokenKind, String)> = want.iter().map(|(k, t)| (*k, (*t).to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn keeps_substitutions_and_skips_comments() {
        let got = words("python t.py --out $(dirname \"$X\")/o ${HOME} # note");
        let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["python", "t.py", "--out", "$(dirname \"$X\")/o", "${HOME}"]);
        assert!(tokenize("python 'unterminated").is_err());
    }
}
