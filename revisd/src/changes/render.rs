//! Text for a new value: how a number, string or boolean is written into a YAML file, a JSON
//! file or a shell command. Only renders; it never decides where the text goes.
//!
//! Floats follow Python's `repr` (shortest text that round-trips) but always carry a `.` and a
//! signed two-digit exponent, because PyYAML (YAML 1.1) reads `1e-5` as a *string*.

use serde_json::Value;

/// Python-compatible float text: `0.003`, `3.0`, `1.0e-05`, `1.5e+16`. `None` for NaN/inf,
/// which neither JSON nor PyYAML's float resolver accept.
pub fn float_text(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some(if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string());
    }
    // `{:e}` is Rust's shortest round-trip form: mantissa digits plus a decimal exponent.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    // Python's repr switches to scientific notation outside [1e-4, 1e16).
    if (-4..16).contains(&exp) {
        let plain = format!("{x}");
        return Some(if plain.contains('.') { plain } else { format!("{plain}.0") });
    }
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    let sign = if exp < 0 { '-' } else { '+' };
    Some(format!("{mantissa}e{sign}{:02}", exp.unsigned_abs()))
}

/// A JSON number as text: integers plainly, floats via [`float_text`].
pub fn number_text(n: &serde_json::Number) -> Option<String> {
    if n.is_i64() || n.is_u64() {
        return Some(n.to_string());
    }
    float_text(n.as_f64()?)
}

/// How the scalar being replaced was quoted in YAML; a quoted string stays quoted the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlQuote {
    Plain,
    Single,
    Double,
}

/// A scalar value as YAML text. `None` for values that are not scalars or not representable.
pub fn yaml_scalar(value: &Value, quote: YamlQuote) -> Option<String> {
    match value {
        Value::Null => Some("null".to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => number_text(n),
        Value::String(s) => Some(match quote {
            YamlQuote::Single if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
            YamlQuote::Double => json_string(s),
            _ if yaml_plain_safe(s) => s.clone(),
            _ => json_string(s),
        }),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A scalar value as JSON text.
pub fn json_scalar(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => number_text(n),
        Value::Array(_) | Value::Object(_) => None,
        other => serde_json::to_string(other).ok(),
    }
}

/// A scalar value as TOML text. A string keeps literal quotes (`'...'`) when it was written that
/// way and can be; otherwise it becomes a basic string. `None` for null (TOML has none) and
/// collections.
pub fn toml_scalar(value: &Value, quote: YamlQuote) -> Option<String> {
    match value {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => number_text(n),
        Value::String(s) => Some(match quote {
            YamlQuote::Single if !s.chars().any(|c| c == '\'' || c.is_control()) => format!("'{s}'"),
            _ => toml_basic_string(s),
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// TOML basic strings escape like JSON, and DEL too (TOML forbids it raw).
fn toml_basic_string(s: &str) -> String {
    json_string(s).replace('\u{7f}', "\\u007f")
}

/// A JSON string literal is also a valid YAML double-quoted scalar.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` reads back as the same string when written unquoted, under YAML 1.1 (PyYAML)
/// and YAML 1.2 alike. Conservative: anything that looks like a number, boolean, null, date or
/// holds an indicator character gets quoted.
fn yaml_plain_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if RESERVED.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

/// A value as a single shell word: integers and floats as text, strings quoted when needed.
/// Booleans are handled by the caller (flag present or absent), never rendered here.
pub fn arg_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => number_text(n),
        Value::String(s) => Some(shell_quote(s)),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Quote `s` for `sh` only when it holds characters the shell would interpret.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=+,@%^".contains(c));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// PyYAML's float resolver (YAML 1.1) without the sexagesimal and `.inf` branches: a `.` is
    /// required and an exponent must be signed. Python's `json` accepts everything matching it.
    fn pyyaml_reads_as_float(text: &str) -> bool {
        let t = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (mantissa, exp) = match t.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e)),
            None => (t, None),
        };
        let Some((int, frac)) = mantissa.split_once('.') else {
            return false;
        };
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        let exp_ok = match exp {
            None => true,
            Some(e) => e.len() >= 2 && (e.starts_with('-') || e.starts_with('+')) && digits(&e[1..]),
        };
        !int.is_empty() && digits(int) && digits(frac) && exp_ok
    }

    #[test]
    fn floats_are_python_compatible_and_round_trip() {
        let cases = [
            (1e-5, "1.0e-05"),
            (0.003, "0.003"),
            (3.0, "3.0"),
            (0.0001, "0.0001"),
            (1.5e16, "1.5e+16"),
            (-2.5e-7, "-2.5e-07"),
            (123456.789, "123456.789"),
            (1e300, "1.0e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (x, want) in cases {
            let text = float_text(x).unwrap_or_default();
            assert_eq!(text, want, "rendering {x}");
            assert!(pyyaml_reads_as_float(&text), "{text} must read as a float");
            assert_eq!(text.parse::<f64>().ok(), Some(x), "{text} must round-trip");
        }
        assert_eq!(float_text(f64::NAN), None);
    }

    #[test]
    fn yaml_strings_are_quoted_only_when_needed() {
        let plain = YamlQuote::Plain;
        assert_eq!(yaml_scalar(&json!("adamw"), plain).as_deref(), Some("adamw"));
        assert_eq!(yaml_scalar(&json!("yes"), plain).as_deref(), Some("\"yes\""));
        assert_eq!(yaml_scalar(&json!("1e-3"), plain).as_deref(), Some("\"1e-3\""));
        assert_eq!(yaml_scalar(&json!("a: b"), plain).as_deref(), Some("\"a: b\""));
        assert_eq!(yaml_scalar(&json!(""), plain).as_deref(), Some("\"\""));
        assert_eq!(yaml_scalar(&json!("it's"), YamlQuote::Single).as_deref(), Some("'it''s'"));
        assert_eq!(yaml_scalar(&json!(64), plain).as_deref(), Some("64"));
        assert_eq!(yaml_scalar(&json!(false), plain).as_deref(), Some("false"));
        assert_eq!(yaml_scalar(&json!([1]), plain), None);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("data/train.csv"), "data/train.csv");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(arg_text(&json!(1e-5)).as_deref(), Some("1.0e-05"));
    }

    #[test]
    fn toml_scalars_keep_literal_quotes_when_possible() {
        assert_eq!(toml_scalar(&json!("sgd"), YamlQuote::Single).as_deref(), Some("'sgd'"));
        assert_eq!(toml_scalar(&json!("it's"), YamlQuote::Single).as_deref(), Some("\"it's\""));
        assert_eq!(toml_scalar(&json!("a\u{7f}\n"), YamlQuote::Plain).as_deref(), Some("\"a\\u007f\\n\""));
        assert_eq!(toml_scalar(&json!(1e-5), YamlQuote::Plain).as_deref(), Some("1.0e-05"));
        assert_eq!(toml_scalar(&json!(null), YamlQuote::Plain), None);
    }
}
