//! The client-facing wire formats, one module each: what the proxy must
//! know of a format to take a request in it and to answer in it. The field
//! that carries the conversation and the fields refused whatever the
//! provider, the fields that cap output, what a stream must ask for to be
//! metered, where usage is (in an answer and in stream events), and the
//! shape of an error. Translation between formats lives in
//! `crate::gateway::translate` (chat completions are the hub); a provider kind's
//! knowledge in `crate::gateway::adapter`.
//!
//! Adding a format: a module here implementing [`WireFormat`], its line in
//! [`ApiFormat::wire`], its translator in `crate::gateway::translate` with
//! its arms in that module's routing table (`request_between`,
//! `answer_between`, `StreamTranslator::between`), and its route.

mod anthropic;
mod embeddings;
pub mod error;
mod gemini;
mod openai_chat;
mod responses;
pub mod usage;

use serde_json::{Map, Value};

pub use error::{ApiFormat, ProxyError};
use usage::{Metering, Verdict};

use crate::platform::pricing::Tokens;

pub trait WireFormat: Sync {
    /// Checks a request for what the proxy needs beyond `model`, `stream`
    /// and the cap: the field carrying the conversation, and the fields
    /// refused whatever the provider; each error names its field.
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError>;

    /// The fields that cap output; the first is the one set when a request
    /// names none. A dot steps into an object (`generationConfig.maxOutputTokens`).
    fn cap_fields(&self) -> &'static [&'static str];

    /// Whether the body names the model and asks for a stream (`model`,
    /// `stream`), or the URL does (Gemini).
    fn model_in_body(&self) -> bool {
        true
    }

    /// The field of an answer that holds its usage.
    fn usage_field(&self) -> &'static str {
        "usage"
    }

    /// Whether a request must name its cap.
    fn cap_required(&self) -> bool {
        false
    }

    /// Whether the client asked for a stream's usage report itself.
    fn wants_usage(&self, _body: &Map<String, Value>) -> bool {
        false
    }

    /// Asks a provider streaming in this format for what the meter needs.
    fn ask_stream_usage(&self, _body: &mut Map<String, Value>) {}

    /// Usage from a whole JSON answer; `None` when it reports none.
    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens>;

    /// Usage from an answer's `usage`, already parsed.
    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens>;

    /// Reads one stream event's data into the stream's metering.
    fn observe(&self, state: &mut Metering, data: &[u8]) -> Verdict;

    /// An error's body in this format.
    fn error_body(&self, error: &ProxyError) -> Value;
}

impl ApiFormat {
    /// What the proxy knows of this format.
    pub fn wire(self) -> &'static dyn WireFormat {
        match self {
            Self::OpenAi => &openai_chat::OpenAiChat,
            Self::Anthropic => &anthropic::Anthropic,
            Self::Responses => &responses::Responses,
            Self::Embeddings => &embeddings::Embeddings,
            Self::Gemini => &gemini::Gemini,
        }
    }
}
