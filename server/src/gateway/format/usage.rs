//! What the formats' usage readers share: the stream's running state, and
//! lenient readers of counts.
//!
//! Each event is parsed into small structs naming only the fields read;
//! serde skips the rest without building it. An event's kind thus comes
//! from its own `type` or `choices`, never from text a model wrote inside
//! it (a `stop_sequence` of `"content_block_delta"` is only text).

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer},
};
use serde_json::Value;

use crate::platform::pricing::Tokens;

/// The `usage` object of an answer: serde skips the rest without building
/// it. Only an object is an answer: a struct derive alone would also read
/// an array, by position (`[{"prompt_tokens":0}]` reported zero usage
/// instead of none).
pub(in crate::gateway) fn usage_of_answer<'a, U: Deserialize<'a> + Default>(
    body: &'a [u8],
) -> Option<U> {
    #[derive(Deserialize)]
    struct Answer<U> {
        #[serde(default)]
        usage: Object<U>,
    }
    serde_json::from_slice::<Object<Answer<U>>>(body)
        .ok()?
        .0?
        .usage
        .0
}

/// A parsed `usage` object read as `U`, if it is an object.
pub(in crate::gateway) fn usage_of_value<'a, U: Deserialize<'a>>(usage: &'a Value) -> Option<U> {
    Object::deserialize(usage).ok()?.0
}

/// What to do with one stream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Relay,
    /// OpenAI's usage-only chunk, which the client did not ask for.
    Drop,
}

/// What a stream has shown so far; each format's reader moves it.
#[derive(Debug, Default)]
pub struct Metering {
    /// Whether the client asked OpenAI for the usage chunk itself.
    pub(in crate::gateway) client_wants_usage: bool,
    pub(in crate::gateway) tokens: Tokens,
    /// The provider reported input (OpenAI's usage chunk, Anthropic's
    /// `message_start`, the Responses API's last event).
    pub(in crate::gateway) reported: bool,
    /// The provider reported final output.
    pub(in crate::gateway) finished: bool,
    /// The provider sent its last event (OpenAI's `[DONE]`, Anthropic's
    /// `message_stop`, `response.completed` and its kind).
    pub(in crate::gateway) ended: bool,
    /// Content events relayed: what was delivered when nothing was reported.
    pub(in crate::gateway) content_events: i64,
}

/// A token count: a non-negative integer, or absent.
#[derive(Debug, Default, Clone, Copy)]
pub(in crate::gateway) struct Count(pub(in crate::gateway) Option<i64>);

impl Count {
    pub(in crate::gateway) fn or_zero(self) -> i64 {
        self.0.unwrap_or(0)
    }
}

/// A field read as `T` when it is an object, absent otherwise (`null`
/// included).
#[derive(Debug)]
pub(in crate::gateway) struct Object<T>(pub(in crate::gateway) Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Self(None)
    }
}

/// How a [`Count`] or an [`Object`] takes the one kind of value it wants.
/// Any other kind is skipped and reads as absent, so that a provider's odd
/// field costs that field, not the whole event.
trait OneKind<'de>: Default {
    fn number(_: u64) -> Self {
        Self::default()
    }

    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

/// The most tokens one report may count: far beyond any real answer, and
/// small enough that its cost at any price still fits the ledger's integers.
const MAX_COUNT: u64 = 1 << 40;

impl OneKind<'_> for Count {
    fn number(n: u64) -> Self {
        Self(i64::try_from(n.min(MAX_COUNT)).ok())
    }
}

impl<'de, T: Deserialize<'de>> OneKind<'de> for Object<T> {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Self(Some(t)))
    }
}

struct OneKindVisitor<T>(PhantomData<T>);

impl<'de, T: OneKind<'de>> Visitor<'de> for OneKindVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E>(self, n: u64) -> Result<T, E> {
        Ok(T::number(n))
    }
    /// serde_json gives only negative integers as `i64`.
    fn visit_i64<E>(self, n: i64) -> Result<T, E> {
        Ok(u64::try_from(n).map_or_else(|_| T::default(), T::number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneKindVisitor(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneKindVisitor(PhantomData))
    }
}

/// Whether a delta's field carries output: a non-empty string or array.
/// Any other kind of value but `null` makes the chunk unreadable.
#[derive(Default)]
pub(in crate::gateway) struct Output(pub(in crate::gateway) bool);

impl<'de> Deserialize<'de> for Output {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(OutputVisitor)
    }
}

struct OutputVisitor;

impl<'de> Visitor<'de> for OutputVisitor {
    type Value = Output;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, an array or null")
    }
    fn visit_none<E>(self) -> Result<Output, E> {
        Ok(Output(false))
    }
    /// Read as bytes: serde_json then neither checks them as UTF-8 nor
    /// rejects a lone surrogate escape, so no text a model writes can make
    /// its event unreadable, and so uncounted.
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Output, D::Error> {
        deserializer.deserialize_bytes(self)
    }
    fn visit_bytes<E>(self, text: &[u8]) -> Result<Output, E> {
        Ok(Output(!text.is_empty()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Output, A::Error> {
        let first = seq.next_element::<IgnoredAny>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Output(first.is_some()))
    }
}
