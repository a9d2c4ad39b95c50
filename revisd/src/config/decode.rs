//! A serde `Deserializer` over the positioned tree, so every schema error (unknown key, missing
//! key, wrong type, unknown enum value) carries the dotted key path and the line and column it
//! concerns. It types plain scalars by the YAML 1.2 core schema; it knows nothing of revis.yaml
//! beyond what serde tells it and performs no semantic checks (that is `validate.rs`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Error as _, IntoDeserializer, Visitor};

use super::tree::{Node, NodeKind, Pos};

#[derive(Debug, Clone, PartialEq)]
pub enum DecodeErrorKind {
    UnknownField { field: String, expected: &'static [&'static str], section: String },
    MissingField(&'static str),
    UnknownVariant { value: String, expected: &'static [&'static str] },
    InvalidType { found: String, expected: String },
    Custom(String),
}

/// A schema error; `path` and `pos` are filled in by the innermost node that saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub path: Option<String>,
    pub pos: Option<Pos>,
}

impl DecodeError {
    fn new(kind: DecodeErrorKind) -> Self {
        Self { kind, path: None, pos: None }
    }

    fn locate(mut self, path: &str, pos: Pos) -> Self {
        if self.pos.is_none() {
            self.path = Some(path.to_string());
            self.pos = Some(pos);
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::UnknownField { field, .. } => write!(f, "unknown key '{field}'"),
            DecodeErrorKind::MissingField(field) => write!(f, "missing key '{field}'"),
            DecodeErrorKind::UnknownVariant { value, .. } => write!(f, "unknown value '{value}'"),
            DecodeErrorKind::InvalidType { found, expected } => {
                write!(f, "expected {expected}, found {found}")
            }
            DecodeErrorKind::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for DecodeError {}

/// serde's own names for primitive types read poorly in a config error.
fn friendly_expected(expected: String) -> String {
    match expected.as_str() {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        _ if expected.starts_with("struct ") || expected.starts_with("a map") => "a mapping".into(),
        _ if expected.starts_with("a sequence") => "a list".into(),
        _ => expected,
    }
}

fn friendly_found(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Float(x) => format!("number `{x}`"),
        de::Unexpected::Unit => "nothing (null)".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        other => other.to_string(),
    }
}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(DecodeErrorKind::Custom(msg.to_string()))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(DecodeErrorKind::InvalidType {
            found: friendly_found(&unexp),
            expected: friendly_expected(exp.to_string()),
        })
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(DecodeErrorKind::Custom(format!(
            "invalid value {unexp}, expected {}",
            friendly_expected(exp.to_string())
        )))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DecodeErrorKind::UnknownField { field: field.to_string(), expected, section: String::new() })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DecodeErrorKind::UnknownVariant { value: variant.to_string(), expected })
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(DecodeErrorKind::MissingField(field))
    }
}

/// A plain scalar typed by the YAML 1.2 core schema.
enum Typed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

fn type_plain(text: &str) -> Typed<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Typed::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_or(Typed::Str(text), Typed::UInt);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8).map_or(Typed::Str(text), Typed::UInt);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Typed::Int(n);
        }
        if let Ok(n) = digits.parse::<u64>()
            && !text.starts_with('-')
        {
            return Typed::UInt(n);
        }
    }
    // Rust's float parser also takes "inf"/"nan"/"infinity"; only digit-based forms are YAML floats.
    let float_chars = digits.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
    let starts_well = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if float_chars
        && starts_well
        && digits.bytes().any(|b| b.is_ascii_digit())
        && let Ok(x) = text.parse::<f64>()
    {
        return Typed::Float(x);
    }
    Typed::Str(text)
}

/// True if the node is a plain scalar written as an integer (`3`, not `3.0` or `"3"`).
pub fn is_int_literal(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Scalar { text, plain: true } => {
            matches!(type_plain(text), Typed::Int(_) | Typed::UInt(_))
        }
        _ => false,
    }
}

fn describe(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, plain: true } => match type_plain(text) {
            Typed::Null => "nothing (null)".into(),
            Typed::Bool(b) => format!("boolean `{b}`"),
            Typed::Int(_) | Typed::UInt(_) => format!("integer `{text}`"),
            Typed::Float(_) => format!("number `{text}`"),
            Typed::Str(s) => format!("string \"{s}\""),
        },
        NodeKind::Scalar { text, .. } => format!("string \"{text}\""),
        NodeKind::Seq(_) => "a list".into(),
        NodeKind::Map(_) => "a mapping".into(),
    }
}

pub struct NodeDeserializer<'a> {
    node: &'a Node,
    path: String,
    /// Where the key holding this node was written: a missing key is reported at its section.
    key_pos: Option<Pos>,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node) -> Self {
        Self { node, path: String::new(), key_pos: None }
    }

    fn child(&self, node: &'a Node, segment: &str, key_pos: Option<Pos>) -> Self {
        let path = if self.path.is_empty() { segment.to_string() } else { format!("{}.{segment}", self.path) };
        Self { node, path, key_pos }
    }

    fn wrong_type(&self, expected: &dyn de::Expected) -> DecodeError {
        DecodeError::new(DecodeErrorKind::InvalidType {
            found: describe(self.node),
            expected: friendly_expected(expected.to_string()),
        })
        .locate(&self.path, self.node.pos)
    }

    fn locate<T>(&self, result: Result<T, DecodeError>) -> Result<T, DecodeError> {
        result.map_err(|e| {
            let pos = match e.kind {
                DecodeErrorKind::MissingField(_) => self.key_pos.unwrap_or(self.node.pos),
                _ => self.node.pos,
            };
            e.locate(&self.path, pos)
        })
    }
}

struct Entries<'a> {
    parent: &'a NodeDeserializer<'a>,
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<(&'a Node, String, Pos)>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let name = match &key.kind {
            NodeKind::Scalar { text, .. } => text.clone(),
            _ => {
                return Err(DecodeError::custom("keys must be plain names").locate(&self.parent.path, key.pos));
            }
        };
        let key_de = self.parent.child(key, &name, None);
        let result = seed.deserialize(StrKey(&name)).map_err(|mut e| {
            if let DecodeErrorKind::UnknownField { section, .. } = &mut e.kind {
                *section = self.parent.path.clone();
            }
            e.locate(&key_de.path, key.pos)
        });
        self.value = Some((value, name, key.pos));
        result.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let Some((value, name, key_pos)) = self.value.take() else {
            return Err(DecodeError::custom("value requested before its key"));
        };
        seed.deserialize(self.parent.child(value, &name, Some(key_pos)))
    }
}

/// Keys are always strings, even `1:` or `true:`; the schema decides whether the name is known.
struct StrKey<'a>(&'a str);

impl<'de> de::Deserializer<'de> for StrKey<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct Items<'a> {
    parent: &'a NodeDeserializer<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        let Some((i, item)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{i}]", self.parent.path);
        seed.deserialize(NodeDeserializer { node: item, path, key_pos: Some(item.pos) }).map(Some)
    }
}

const EMPTY_ENTRIES: &[(Node, Node)] = &[];

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match &self.node.kind {
            NodeKind::Scalar { text, plain: true } => match type_plain(text) {
                Typed::Null => visitor.visit_unit(),
                Typed::Bool(b) => visitor.visit_bool(b),
                Typed::Int(n) => visitor.visit_i64(n),
                Typed::UInt(n) => visitor.visit_u64(n),
                Typed::Float(x) => visitor.visit_f64(x),
                Typed::Str(s) => visitor.visit_str(s),
            },
            NodeKind::Scalar { text, .. } => visitor.visit_str(text),
            NodeKind::Seq(items) => visitor.visit_seq(Items { parent: &self, items: items.iter().enumerate() }),
            NodeKind::Map(entries) => {
                visitor.visit_map(Entries { parent: &self, entries: entries.iter(), value: None })
            }
        };
        self.locate(result)
    }

    /// Python's YAML 1.1 writer and habits (`yes`, `off`) are accepted where a boolean is expected.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if let NodeKind::Scalar { text, plain: true } = &self.node.kind {
            let lenient = match text.to_ascii_lowercase().as_str() {
                "yes" | "on" => Some(true),
                "no" | "off" => Some(false),
                _ => None,
            };
            if let Some(b) = lenient {
                return self.locate(visitor.visit_bool(b));
            }
        }
        self.deserialize_any(visitor)
    }

    /// Any non-null scalar reads as its text, so `project: 2024` is the string "2024".
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } if !self.node.is_null() => self.locate(visitor.visit_str(text)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.node.is_null() { self.locate(visitor.visit_none()) } else { visitor.visit_some(self) }
    }

    /// An empty value (`deny:`) is an empty list, as the earlier implementation wrote.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => {
                let result = visitor.visit_seq(Items { parent: &self, items: items.iter().enumerate() });
                self.locate(result)
            }
            _ if self.node.is_null() => {
                let empty: &[Node] = &[];
                let result = visitor.visit_seq(Items { parent: &self, items: empty.iter().enumerate() });
                self.locate(result)
            }
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    /// An empty section (`executor:`) means "all defaults".
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let entries = match &self.node.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            _ if self.node.is_null() => EMPTY_ENTRIES,
            _ => return Err(self.wrong_type(&visitor)),
        };
        let result = visitor.visit_map(Entries { parent: &self, entries: entries.iter(), value: None });
        self.locate(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } if !self.node.is_null() => {
                let access: de::value::StrDeserializer<'_, DecodeError> = text.as_str().into_deserializer();
                self.locate(visitor.visit_enum(access))
            }
            _ => Err(self.wrong_type(&format!("one of: {}", variants.join(", ")).as_str())),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct tuple tuple_struct identifier
    }
}
