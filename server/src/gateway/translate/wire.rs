//! Reading a provider's stream events without building a `serde_json::Value`
//! tree for each: small borrowed structs take only the fields a translator
//! reads, skip the rest unparsed, and borrow strings that have no escapes.
//!
//! They read fields exactly as `Value`'s accessors do (`get`, `as_str`,
//! `as_u64`, `as_i64`), so the translators behave as they did over
//! `Value`: a field of an unexpected kind reads as absent, never as an
//! error, and a body that is not an object reads as one without fields.
//! One difference, on purpose: serde_json checks only the syntax of what it
//! skips, so a number beyond `f64`, a lone surrogate escape or nesting past
//! 128 levels in an unread field no longer makes a whole event unreadable.

use std::{borrow::Cow, fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{
        IgnoredAny, MapAccess, SeqAccess, Visitor,
        value::{MapAccessDeserializer, SeqAccessDeserializer},
    },
};
use serde_json::{Number, Value};

/// The `data:` payload of one server-sent event, its data lines joined by
/// newlines (an `event:` line or any other is skipped). Borrowed when there
/// is one data line, as providers send.
pub fn event_data(event: &[u8]) -> Cow<'_, [u8]> {
    let mut first: Option<&[u8]> = None;
    let mut joined: Option<Vec<u8>> = None;
    let mut start = 0;
    while start <= event.len() {
        let rest = &event[start..];
        // As `str::lines`: a CR is part of the line ending only before a LF.
        let line = match memchr::memchr(b'\n', rest) {
            Some(end) => {
                start += end + 1;
                rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end])
            }
            None => {
                start = event.len() + 1;
                rest
            }
        };
        let Some(value) = line.strip_prefix(b"data:") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match (&mut joined, first) {
            (Some(joined), _) => {
                joined.push(b'\n');
                joined.extend_from_slice(value);
            }
            (None, Some(previous)) => {
                let mut both = Vec::with_capacity(previous.len() + 1 + value.len());
                both.extend_from_slice(previous);
                both.push(b'\n');
                both.extend_from_slice(value);
                joined = Some(both);
            }
            (None, None) => first = Some(value),
        }
    }
    match joined {
        Some(joined) => Cow::Owned(joined),
        None => Cow::Borrowed(first.unwrap_or_default()),
    }
}

/// Whether `data` is OpenAI's `[DONE]`, blank space around it allowed.
pub fn is_done(data: &[u8]) -> bool {
    // A chunk (an object) cannot be: only other payloads are decoded and
    // trimmed.
    first_byte(data) != Some(b'{') && String::from_utf8_lossy(data).trim() == "[DONE]"
}

/// The first byte of `data` that is not JSON's blank space.
fn first_byte(data: &[u8]) -> Option<u8> {
    data.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// `data` read as `T`; `None` when it is not JSON. A JSON value that is not
/// an object reads as `T::default()`.
///
/// The translators used to decode an event as UTF-8 (bad bytes replaced)
/// and parse it into a `Value`; this reads the same. A body that is not
/// UTF-8, or that gives a key twice (a struct derive rejects it, `Value`
/// keeps the last), is read again through a `Value` of the decoded text,
/// kept in `spare`.
pub fn read<'a, T>(data: &'a [u8], spare: &'a mut Option<Value>) -> Option<T>
where
    T: Deserialize<'a> + Default,
{
    if first_byte(data) != Some(b'{') {
        // A struct derive would also read an array, by position. Bad bytes
        // in a string are no syntax error, as after replacement.
        return serde_json::from_slice::<IgnoredAny>(data)
            .ok()
            .map(|_| T::default());
    }
    // One UTF-8 check of the whole payload is cheaper than serde_json's
    // check of each string in it (keys included).
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(value) = serde_json::from_str(text)
    {
        return Some(value);
    }
    let text = String::from_utf8_lossy(data);
    let value: &'a Value = spare.insert(serde_json::from_str(&text).ok()?);
    T::deserialize(value).ok()
}

/// A JSON value as `Value` holds it, except that a string is borrowed from
/// the input when it can be, and arrays and objects (which no field read
/// here should hold) are boxed to keep the structs small. Absent reads as
/// `null`, as `value.get(..).cloned().unwrap_or_default()` did.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Other(Box<Value>),
}

/// `null`, for a field an event does not have.
pub static NULL: Json<'static> = Json::Null;

impl Json<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Self::Number(_))
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::Str(text) => serializer.serialize_str(text),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Json::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Json::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Json::Str(Cow::Owned(text)))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
                // As `Value` does: a float JSON cannot write is null.
                Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Json::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(Json::Other(Box::new(value)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Json::Other(Box::new(value)))
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// A field that must be an object, read as `T`; `None` when it is absent or
/// any other kind of value.
#[derive(Debug)]
pub struct Object<T>(pub Option<T>);

/// A field that must be an array: its elements. Empty when it is absent or
/// any other kind of value.
#[derive(Debug)]
pub struct List<T>(pub Vec<T>);

/// A field that must be an array: its first element only, the rest
/// skipped (as `value.get(0)`).
#[derive(Debug)]
pub struct First<T>(pub Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Default for First<T> {
    fn default() -> Self {
        Self(None)
    }
}

/// How an [`Object`], [`List`] or [`First`] reads the kind it takes; every
/// other kind of value is skipped and reads as the default.
trait OneKind<'de>: Default {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }

    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

impl<'de, T: Deserialize<'de>> OneKind<'de> for Object<T> {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Self(Some(t)))
    }
}

impl<'de, T: Deserialize<'de>> OneKind<'de> for List<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Self(items))
    }
}

impl<'de, T: Deserialize<'de>> OneKind<'de> for First<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let first = seq.next_element()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self(first))
    }
}

struct OneKindVisitor<T>(PhantomData<T>);

impl<'de, T: OneKind<'de>> Visitor<'de> for OneKindVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

macro_rules! deserialize_one_kind {
    ($($kind:ident),*) => {$(
        impl<'de, T: Deserialize<'de>> Deserialize<'de> for $kind<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(OneKindVisitor(PhantomData))
            }
        }
    )*};
}

deserialize_one_kind!(Object, List, First);

/// For `#[serde(deserialize_with)]` on an `Option` field whose presence
/// matters even when it is `null` (as `value.get(..).is_some()`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Probe<'a> {
        #[serde(borrow)]
        text: Json<'a>,
        #[serde(borrow)]
        inner: Object<Inner<'a>>,
        #[serde(borrow)]
        list: List<Json<'a>>,
        #[serde(borrow)]
        first: First<Json<'a>>,
        #[serde(borrow, deserialize_with = "present")]
        here: Option<Json<'a>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Inner<'a> {
        #[serde(borrow)]
        name: Json<'a>,
    }

    fn probe(data: &str, check: impl FnOnce(&Probe)) {
        let mut spare = None;
        let probe: Probe = read(data.as_bytes(), &mut spare).unwrap();
        check(&probe);
    }

    #[test]
    fn fields_read_as_value_reads_them() {
        probe(
            r#"{"text":"a\"b","inner":{"name":5},"list":[1,"x"],"first":[true,2],"here":null,"skip":[{}]}"#,
            |p| {
                assert_eq!(p.text.as_str(), Some("a\"b"));
                let inner = p.inner.0.as_ref().unwrap();
                assert_eq!((inner.name.as_u64(), inner.name.as_str()), (Some(5), None));
                assert_eq!(p.list.0, [Json::Number(1.into()), Json::Str("x".into())]);
                assert_eq!(p.first.0, Some(Json::Bool(true)));
                assert_eq!(p.here, Some(Json::Null));
            },
        );
        // The wrong kind of value is no error: it reads as absent.
        probe(
            r#"{"text":{"a":[1]},"inner":"no","list":{},"first":7}"#,
            |p| {
                assert_eq!(p.text, Json::Other(Box::new(json!({ "a": [1] }))));
                assert!(p.inner.0.is_none() && p.list.0.is_empty() && p.first.0.is_none());
                assert_eq!(p.here, None);
            },
        );
    }

    #[test]
    fn bodies_read_as_value_reads_them() {
        // The last of two keys wins, as in `Value`.
        probe(r#"{"text":"one","text":"two"}"#, |p| {
            assert_eq!(p.text.as_str(), Some("two"));
        });
        // Not an object: no fields, even from an array.
        probe(r#"["x"]"#, |p| assert_eq!(p.text, NULL));
        let mut spare = None;
        assert!(read::<Probe>(br#"{"text":"#, &mut spare).is_none());
        assert!(read::<Probe>(b"", &mut spare).is_none());
        // Bytes that are not UTF-8 read as replaced.
        let mut spare = None;
        let probe: Probe = read(b"{\"text\":\"\xffa\"}", &mut spare).unwrap();
        assert_eq!(probe.text.as_str(), Some("\u{fffd}a"));
    }

    #[test]
    fn event_data_joins_data_lines() {
        let data = |event: &[u8]| event_data(event).into_owned();
        assert_eq!(data(b"event: x\r\ndata: {}\r\n"), b"{}");
        assert_eq!(data(b"data: a\ndata:b\ndata:  c"), b"a\nb\n c");
        assert_eq!(data(b"data: a\r"), b"a\r");
        assert_eq!(data(b": comment"), b"");
        assert!(is_done(b" [DONE]\r") && !is_done(b"\"[DONE]\""));
    }
}
