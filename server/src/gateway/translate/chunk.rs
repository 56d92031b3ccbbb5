//! OpenAI's chat completion chunks as the stream translators read them:
//! the fields read, each as `Value::get` would find it (see [`super::wire`]).

use serde::Deserialize;

use super::wire::{self, First, Json, List, Object};

/// An OpenAI chunk: the fields read, each as `Value::get` would find it.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiChunk<'a> {
    #[serde(borrow)]
    pub(super) id: Json<'a>,
    /// Present, even as `null`, it makes the chunk an error.
    #[serde(borrow, deserialize_with = "wire::present")]
    pub(super) error: Option<Object<OpenAiError<'a>>>,
    #[serde(borrow)]
    pub(super) usage: Object<OpenAiCounts<'a>>,
    #[serde(borrow)]
    pub(super) choices: First<Object<OpenAiChoice<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiError<'a> {
    #[serde(borrow)]
    pub(super) message: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiCounts<'a> {
    #[serde(borrow)]
    pub(super) prompt_tokens: Json<'a>,
    #[serde(borrow)]
    pub(super) completion_tokens: Json<'a>,
    #[serde(borrow)]
    pub(super) prompt_tokens_details: Object<CachedCount<'a>>,
    #[serde(borrow)]
    pub(super) completion_tokens_details: Object<ReasoningCount<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct ReasoningCount<'a> {
    #[serde(borrow)]
    pub(super) reasoning_tokens: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct CachedCount<'a> {
    #[serde(borrow)]
    pub(super) cached_tokens: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiChoice<'a> {
    #[serde(borrow)]
    pub(super) delta: Object<OpenAiDelta<'a>>,
    #[serde(borrow)]
    pub(super) finish_reason: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiDelta<'a> {
    #[serde(borrow)]
    pub(super) reasoning_content: Json<'a>,
    #[serde(borrow)]
    pub(super) content: Json<'a>,
    #[serde(borrow)]
    pub(super) tool_calls: List<Object<OpenAiToolCall<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiToolCall<'a> {
    #[serde(borrow)]
    pub(super) index: Json<'a>,
    #[serde(borrow)]
    pub(super) id: Json<'a>,
    #[serde(borrow)]
    pub(super) function: Object<OpenAiFunction<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiFunction<'a> {
    #[serde(borrow)]
    pub(super) name: Json<'a>,
    #[serde(borrow)]
    pub(super) arguments: Json<'a>,
}
