//! Reading and changing one CLI argument of the training command (`--name value`,
//! `--name=value`, or a bare `--name` flag), keeping every other byte of the command as written.
//!
//! A word after `--name` counts as its value unless it looks like another option; negative
//! numbers are values. When an argument appears several times, the last one is the one that
//! counts (as with argparse), so it is the one read and replaced.

use serde_json::Value;

use super::ChangeError;
use super::render::arg_text;
use super::shell::{Token, TokenKind, tokenize};

/// The value of an argument as written in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// Present without a value.
    Flag,
    /// The value's text after quote removal.
    Value(String),
}

/// Where one occurrence of the argument is.
#[derive(Debug, Clone, Copy)]
struct Occurrence {
    name: usize,
    value: Option<ValueAt>,
}

#[derive(Debug, Clone, Copy)]
enum ValueAt {
    /// The next token.
    Separate(usize),
    /// After `=` in the name's own token, from this byte offset.
    Inline(usize),
}

/// The current value of argument `name` (e.g. `--batch-size`), `None` when it is absent.
pub fn read_arg(command: &str, name: &str) -> Result<Option<ArgValue>, ChangeError> {
    check_name(name)?;
    let tokens = lex(command)?;
    let Some(last) = occurrences(command, &tokens, name).pop() else {
        return Ok(None);
    };
    Ok(Some(match last.value {
        None => ArgValue::Flag,
        Some(ValueAt::Separate(index)) => ArgValue::Value(tokens[index].text.clone()),
        Some(ValueAt::Inline(_)) => {
            let text = &tokens[last.name].text;
            ArgValue::Value(text[name.len() + 1..].to_string())
        }
    }))
}

/// The command with argument `name` set to `value`: replaced in place, appended when absent,
/// removed for `None` or `false`; `true` makes it a bare flag.
pub fn set_arg(command: &str, name: &str, value: Option<&Value>) -> Result<String, ChangeError> {
    check_name(name)?;
    let tokens = lex(command)?;
    let found = occurrences(command, &tokens, name);
    match value {
        None | Some(Value::Bool(false)) => Ok(remove_all(command, &tokens, &found)),
        Some(Value::Bool(true)) => Ok(match found.last() {
            None => insert(command, &tokens, name),
            Some(last) => {
                let token = &tokens[last.name];
                match last.value {
                    None => command.to_string(),
                    Some(ValueAt::Separate(index)) => splice(command, token.end, tokens[index].end, ""),
                    Some(ValueAt::Inline(from)) if from <= token.end => splice(command, from - 1, token.end, ""),
                    Some(ValueAt::Inline(_)) => splice(command, token.start, token.end, name),
                }
            }
        }),
        Some(other) => {
            let text = arg_text(other).ok_or_else(|| ChangeError::TypeMismatch {
                target: name.to_string(),
                reason: format!("{other} cannot be written as an argument value"),
            })?;
            Ok(match found.last() {
                None => insert(command, &tokens, &format!("{name} {text}")),
                Some(Occurrence { name: at, value: None }) => {
                    splice(command, tokens[*at].end, tokens[*at].end, &format!(" {text}"))
                }
                Some(Occurrence { value: Some(ValueAt::Separate(index)), .. }) => {
                    splice(command, tokens[*index].start, tokens[*index].end, &text)
                }
                Some(Occurrence { name: at, value: Some(ValueAt::Inline(from)) }) => {
                    let token = &tokens[*at];
                    if *from <= token.end {
                        splice(command, *from, token.end, &text)
                    } else {
                        splice(command, token.start, token.end, &format!("{name}={text}"))
                    }
                }
            })
        }
    }
}

fn check_name(name: &str) -> Result<(), ChangeError> {
    let valid = name.starts_with('-')
        && name.len() > 1
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid { Ok(()) } else { Err(ChangeError::BadArgName { name: name.to_string() }) }
}

fn lex(command: &str) -> Result<Vec<Token>, ChangeError> {
    tokenize(command).map_err(|reason| ChangeError::Shell { command: command.to_string(), reason })
}

/// Whether a word is an option rather than a value: `-x`, `--x`, but not `-1` or `-.5`.
fn looks_like_option(text: &str) -> bool {
    text.starts_with('-') && text.len() > 1 && text.parse::<f64>().is_err()
}

fn occurrences(command: &str, tokens: &[Token], name: &str) -> Vec<Occurrence> {
    let inline_prefix = format!("{name}=");
    let mut found = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.kind != TokenKind::Word {
            continue;
        }
        if token.text == name {
            let value = tokens
                .get(index + 1)
                .filter(|next| next.kind == TokenKind::Word && !looks_like_option(&next.text))
                .map(|_| ValueAt::Separate(index + 1));
            found.push(Occurrence { name: index, value });
        } else if token.text.starts_with(&inline_prefix) {
            // The raw text only starts with `name=` when the name itself is unquoted; otherwise
            // the whole token is rewritten (signalled by an offset past its end).
            let raw = &command[token.start..token.end];
            let from = if raw.starts_with(&inline_prefix) { token.start + inline_prefix.len() } else { usize::MAX };
            found.push(Occurrence { name: index, value: Some(ValueAt::Inline(from)) });
        }
    }
    found
}

fn splice(command: &str, start: usize, end: usize, text: &str) -> String {
    format!("{}{text}{}", &command[..start], &command[end..])
}

/// Remove every occurrence with its value and the blanks before it.
fn remove_all(command: &str, tokens: &[Token], found: &[Occurrence]) -> String {
    let mut out = command.to_string();
    for occurrence in found.iter().rev() {
        let start = tokens[occurrence.name].start;
        let end = match occurrence.value {
            Some(ValueAt::Separate(index)) => tokens[index].end,
            _ => tokens[occurrence.name].end,
        };
        let before = out[..start].trim_end_matches([' ', '\t']).len();
        let (from, to) = if before == 0 || out[..before].ends_with('\n') {
            (start, end + (out[end..].len() - out[end..].trim_start_matches([' ', '\t']).len()))
        } else {
            (before, end)
        };
        out.replace_range(from..to, "");
    }
    out
}

/// Commands that prepare or post-process rather than train: never where a new argument goes.
const SETUP_COMMANDS: &[&str] = &[
    "cd", "export", "source", ".", "set", "mkdir", "echo", "tee", "sleep", "rm", "cp", "mv", "cat", "grep", "head",
    "tail", "true", "false", "pushd", "popd", "unset", "ulimit",
];

/// Insert ` {text}` after the last word of the command that most looks like the training
/// command: not a setup command, carrying options, running a script; later ones win ties.
fn insert(command: &str, tokens: &[Token], text: &str) -> String {
    let mut segments: Vec<&[Token]> = Vec::new();
    let mut begin = 0;
    for (index, token) in tokens.iter().enumerate() {
        if token.kind == TokenKind::Control {
            segments.push(&tokens[begin..index]);
            begin = index + 1;
        }
    }
    segments.push(&tokens[begin..]);
    let best = segments
        .iter()
        .filter_map(|segment| {
            let words: Vec<&Token> = segment.iter().filter(|t| t.kind == TokenKind::Word).collect();
            let last = words.last()?;
            let program = words.iter().find(|t| !is_assignment(&t.text)).map(|t| t.text.as_str());
            let setup = program.is_some_and(|p| SETUP_COMMANDS.contains(&p));
            let options = words.iter().any(|t| looks_like_option(&t.text));
            let script =
                words.iter().any(|t| t.text.ends_with(".py") || t.text.ends_with(".sh") || t.text.contains("python"));
            Some(((!setup, options, script), last.end))
        })
        .enumerate()
        .max_by_key(|(index, (score, _))| (*score, *index))
        .map(|(_, (_, end))| end);
    match best {
        Some(end) => splice(command, end, end, &format!(" {text}")),
        None => {
            let trimmed = command.trim_end();
            let sep = if trimmed.is_empty() { "" } else { " " };
            format!("{trimmed}{sep}{text}{}", &command[trimmed.len()..])
        }
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}
