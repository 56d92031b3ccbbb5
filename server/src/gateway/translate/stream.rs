//! Streams: an OpenAI chat completion stream as Anthropic's message events,
//! and Anthropic's message events as an OpenAI chunk stream; every other
//! pair through chat chunks ([`StreamTranslator`]). Each
//! translator takes the provider's events one at a time (the relay cuts
//! them at blank lines) and writes the client's events; `finish` closes a
//! stream the provider ended without its last events.
//!
//! This runs for every event of every translated stream, so events are
//! read into borrowed structs of the fields used ([`wire`]) and written
//! with `serde_json::to_writer` from typed structs straight into the
//! relay's buffer: no `Value` tree either way. The structs' field order is
//! the order clients have always seen.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{
    chunk::{OpenAiChunk, OpenAiCounts},
    gemini::{ChatToGemini, GeminiToChat},
    response::{AnthropicUsage, OpenAiUsage, finish_reason, stop_reason},
    responses::ChatToResponses,
    wire::{self, Json, NULL, Object, event_data},
};
use crate::gateway::format::ApiFormat;

/// A stream's translator: the provider's events to chat chunks (unless it
/// streams chat), then chat chunks to the client's events (unless the
/// client reads chat). Chat is the hub, as for requests and answers.
pub struct StreamTranslator {
    to_chat: Option<ToChat>,
    from_chat: Option<FromChat>,
}

enum ToChat {
    Anthropic(AnthropicToOpenAi),
    Gemini(GeminiToChat),
}

enum FromChat {
    Anthropic(OpenAiToAnthropic),
    Responses(ChatToResponses),
    Gemini(ChatToGemini),
}

impl StreamTranslator {
    /// The translator of a stream from a provider speaking `upstream` to a
    /// client speaking `client`; `None` when they speak the same. `created`
    /// dates the chunks; `wants_usage` is whether an OpenAI client asked for
    /// the usage chunk; `custom_tools` are a Responses client's.
    pub fn between(
        (upstream, client): (ApiFormat, ApiFormat),
        model: &str,
        created: i64,
        wants_usage: bool,
        custom_tools: Vec<String>,
    ) -> Option<Self> {
        if upstream == client {
            return None;
        }
        // Another translator after this one reads the usage chunk.
        let chat_usage = wants_usage || client != ApiFormat::OpenAi;
        let to_chat = match upstream {
            ApiFormat::Anthropic => Some(ToChat::Anthropic(AnthropicToOpenAi::new(
                model, created, chat_usage,
            ))),
            ApiFormat::Gemini => Some(ToChat::Gemini(GeminiToChat::new(
                model, created, chat_usage,
            ))),
            _ => None,
        };
        let from_chat = match client {
            ApiFormat::Anthropic => Some(FromChat::Anthropic(OpenAiToAnthropic::new(model))),
            ApiFormat::Responses => Some(FromChat::Responses(ChatToResponses::new(
                model,
                created,
                custom_tools,
            ))),
            ApiFormat::Gemini => Some(FromChat::Gemini(ChatToGemini::new(model))),
            _ => None,
        };
        (to_chat.is_some() || from_chat.is_some()).then_some(Self { to_chat, from_chat })
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Some(to_chat) = self.to_chat.as_mut() else {
            if let Some(from_chat) = self.from_chat.as_mut() {
                from_chat.event(event, out);
            }
            return;
        };
        let Some(from_chat) = self.from_chat.as_mut() else {
            to_chat.event(event, out);
            return;
        };
        let mut chat = Vec::new();
        to_chat.event(event, &mut chat);
        each_event(&chat, |event| from_chat.event(event, out));
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match (self.to_chat.as_mut(), self.from_chat.as_mut()) {
            (Some(to_chat), None) => to_chat.finish(out),
            (None, Some(from_chat)) => from_chat.finish(out),
            (Some(to_chat), Some(from_chat)) => {
                let mut chat = Vec::new();
                to_chat.finish(&mut chat);
                each_event(&chat, |event| from_chat.event(event, out));
                from_chat.finish(out);
            }
            (None, None) => {}
        }
    }
}

impl ToChat {
    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Anthropic(translator) => translator.event(event, out),
            Self::Gemini(translator) => translator.event(event, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::Anthropic(translator) => translator.finish(out),
            Self::Gemini(translator) => translator.finish(out),
        }
    }
}

impl FromChat {
    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Anthropic(translator) => translator.event(event, out),
            Self::Responses(translator) => translator.event(event, out),
            Self::Gemini(translator) => translator.event(event, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::Anthropic(translator) => translator.finish(out),
            Self::Responses(translator) => translator.finish(out),
            Self::Gemini(translator) => translator.finish(out),
        }
    }
}

/// Each event (without its blank line) of translated output, which ends
/// every event with one.
fn each_event(bytes: &[u8], mut each: impl FnMut(&[u8])) {
    let mut start = 0;
    for end in memchr::memmem::find_iter(bytes, b"\n\n") {
        if end >= start {
            each(&bytes[start..end]);
            start = end + 2;
        }
    }
}

/// Writes `data` as compact JSON. Serializing these structs into a `Vec`
/// cannot fail (no maps with non-string keys, no I/O).
fn write_json(out: &mut Vec<u8>, data: &impl Serialize) {
    let _ = serde_json::to_writer(&mut *out, data);
}

// ---- OpenAI chunks in ------------------------------------------------------

impl OpenAiCounts<'_> {
    fn to_anthropic(&self) -> AnthropicUsage {
        let count = |value: &Json| value.as_i64().unwrap_or(0);
        let cached = self
            .prompt_tokens_details
            .0
            .as_ref()
            .map_or(0, |details| count(&details.cached_tokens));
        AnthropicUsage::from_openai(
            count(&self.prompt_tokens),
            cached,
            count(&self.completion_tokens),
        )
    }
}

// ---- Anthropic events out --------------------------------------------------

/// An Anthropic event; `type` first, as Anthropic sends it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AnthropicEvent<'a> {
    MessageStart {
        message: MessageStart<'a>,
    },
    Ping,
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: ContentDelta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta,
        usage: FinalUsage,
    },
    MessageStop,
    Error {
        error: AnthropicError<'a>,
    },
}

impl AnthropicEvent<'_> {
    /// The `event:` name, the same as `type`.
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::Ping => "ping",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Error { .. } => "error",
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        write_json(out, self);
        out.extend_from_slice(b"\n\n");
    }
}

#[derive(Serialize)]
struct MessageStart<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: ZeroUsage,
}

/// `{"input_tokens":0,"output_tokens":0}`: what is known before OpenAI's
/// usage chunk, or without one.
#[derive(Serialize, Default)]
struct ZeroUsage {
    input_tokens: u8,
    output_tokens: u8,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
    },
    ToolUse {
        id: &'a Json<'a>,
        name: &'a Json<'a>,
        input: EmptyObject,
    },
}

#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
#[serde(tag = "type")]
enum ContentDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FinalUsage {
    Reported(AnthropicUsage),
    Unknown(ZeroUsage),
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, by OpenAI's `index`.
    Tool(u64),
}

/// OpenAI chunks in, Anthropic events out.
pub struct OpenAiToAnthropic {
    model: String,
    started: bool,
    finished: bool,
    /// The open content block and its Anthropic index.
    open: Option<(Block, usize)>,
    next_index: usize,
    stop_reason: Option<&'static str>,
    /// From the last chunk whose `usage` was an object.
    usage: Option<AnthropicUsage>,
}

impl OpenAiToAnthropic {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            started: false,
            finished: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            usage: None,
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let data = event_data(event);
        if wire::is_done(&data) {
            self.finish(out);
            return;
        }
        let mut spare = None;
        let Some(chunk) = wire::read::<OpenAiChunk>(&data, &mut spare) else {
            return;
        };
        if let Some(error) = chunk.error {
            let message = error
                .0
                .as_ref()
                .and_then(|error| error.message.as_str())
                .unwrap_or("provider error");
            AnthropicEvent::Error {
                error: AnthropicError {
                    kind: "api_error",
                    message,
                },
            }
            .write(out);
            return;
        }
        self.start(chunk.id.as_str().unwrap_or_default(), out);
        if let Some(usage) = &chunk.usage.0 {
            self.usage = Some(usage.to_anthropic());
        }
        let Some(choice) = chunk.choices.0.and_then(|choice| choice.0) else {
            return;
        };
        if let Some(delta) = &choice.delta.0 {
            // Reasoning, then text: each opens its own block.
            for (piece, block) in [
                (&delta.reasoning_content, Block::Thinking),
                (&delta.content, Block::Text),
            ] {
                let Some(piece) = piece.as_str().filter(|t| !t.is_empty()) else {
                    continue;
                };
                let index = self.open_block(block, None, out);
                let delta = match block {
                    Block::Thinking => ContentDelta::Thinking { thinking: piece },
                    _ => ContentDelta::Text { text: piece },
                };
                AnthropicEvent::ContentBlockDelta { index, delta }.write(out);
            }
            for call in &delta.tool_calls.0 {
                let call = call.0.as_ref();
                let tool = call.and_then(|c| c.index.as_u64()).unwrap_or(0);
                let function = call.and_then(|c| c.function.0.as_ref());
                let head = (
                    call.map_or(&NULL, |c| &c.id),
                    function.map_or(&NULL, |f| &f.name),
                );
                let index = self.open_block(Block::Tool(tool), Some(head), out);
                let arguments = function
                    .and_then(|f| f.arguments.as_str())
                    .unwrap_or_default();
                if !arguments.is_empty() {
                    AnthropicEvent::ContentBlockDelta {
                        index,
                        delta: ContentDelta::InputJson {
                            partial_json: arguments,
                        },
                    }
                    .write(out);
                }
            }
        }
        if let Some(finish) = choice.finish_reason.as_str() {
            self.stop_reason = Some(stop_reason(finish));
        }
    }

    /// Closes the stream: the open block, the stop reason and usage, the end.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start("", out);
        self.close_block(out);
        AnthropicEvent::MessageDelta {
            delta: StopDelta {
                stop_reason: self.stop_reason.unwrap_or("end_turn"),
                stop_sequence: None,
            },
            usage: match self.usage {
                Some(usage) => FinalUsage::Reported(usage),
                None => FinalUsage::Unknown(ZeroUsage::default()),
            },
        }
        .write(out);
        AnthropicEvent::MessageStop.write(out);
        self.finished = true;
    }

    /// `message_start` and a `ping`, before the first event of the stream.
    fn start(&mut self, id: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = format!("msg_{}", id.trim_start_matches("chatcmpl-"));
        AnthropicEvent::MessageStart {
            message: MessageStart {
                id: &id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                // OpenAI reports usage only at the end: see message_delta.
                usage: ZeroUsage::default(),
            },
        }
        .write(out);
        AnthropicEvent::Ping.write(out);
    }

    /// The index of `block`, opening it (and closing another) if needed. A
    /// tool block opens with its call's `id` and `name`.
    fn open_block(
        &mut self,
        block: Block,
        tool: Option<(&Json, &Json)>,
        out: &mut Vec<u8>,
    ) -> usize {
        if let Some((open, index)) = self.open
            && open == block
        {
            return index;
        }
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        let content_block = match block {
            Block::Text => ContentBlock::Text { text: "" },
            Block::Thinking => ContentBlock::Thinking { thinking: "" },
            Block::Tool(_) => {
                let (id, name) = tool.unwrap_or((&NULL, &NULL));
                ContentBlock::ToolUse {
                    id,
                    name,
                    input: EmptyObject {},
                }
            }
        };
        AnthropicEvent::ContentBlockStart {
            index,
            content_block,
        }
        .write(out);
        self.open = Some((block, index));
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            AnthropicEvent::ContentBlockStop { index }.write(out);
        }
    }
}

// ---- Anthropic events in ---------------------------------------------------

/// An Anthropic event: the fields any event type uses, each as
/// `Value::get` would find it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct AnthropicIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Json<'a>,
    #[serde(borrow)]
    message: Object<MessageIn<'a>>,
    #[serde(borrow)]
    index: Json<'a>,
    #[serde(borrow)]
    content_block: Object<BlockIn<'a>>,
    #[serde(borrow)]
    delta: Object<DeltaIn<'a>>,
    #[serde(borrow)]
    usage: Object<AnthropicCounts<'a>>,
    #[serde(borrow)]
    error: Object<ErrorIn<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct MessageIn<'a> {
    #[serde(borrow)]
    id: Json<'a>,
    #[serde(borrow)]
    usage: Object<AnthropicCounts<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct BlockIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Json<'a>,
    #[serde(borrow)]
    id: Json<'a>,
    #[serde(borrow)]
    name: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DeltaIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Json<'a>,
    #[serde(borrow)]
    text: Json<'a>,
    #[serde(borrow)]
    thinking: Json<'a>,
    #[serde(borrow)]
    partial_json: Json<'a>,
    #[serde(borrow)]
    stop_reason: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ErrorIn<'a> {
    #[serde(borrow)]
    message: Json<'a>,
    #[serde(borrow, rename = "type")]
    kind: Json<'a>,
}

/// The counts of an Anthropic `usage` object.
#[derive(Default, Deserialize)]
#[serde(default)]
struct AnthropicCounts<'a> {
    #[serde(borrow)]
    input_tokens: Json<'a>,
    #[serde(borrow)]
    output_tokens: Json<'a>,
    #[serde(borrow)]
    cache_read_input_tokens: Json<'a>,
    #[serde(borrow)]
    cache_creation_input_tokens: Json<'a>,
}

/// The latest figure of each count; one that is a number but not an
/// integer (or too large) reads as 0, as `Value::as_i64` did.
#[derive(Debug, Default, Clone, Copy)]
struct UsageTotal {
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
}

// ---- OpenAI chunks out -----------------------------------------------------

#[derive(Serialize)]
struct OpenAiChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u8,
    delta: DeltaOut<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DeltaOut<'a> {
    Role {
        role: &'static str,
        content: &'static str,
    },
    Content {
        content: &'a Json<'a>,
    },
    Reasoning {
        reasoning_content: &'a Json<'a>,
    },
    ToolCalls {
        tool_calls: [ToolCallOut<'a>; 1],
    },
    Empty {},
}

#[derive(Serialize)]
#[serde(untagged)]
enum ToolCallOut<'a> {
    Head {
        index: u64,
        id: &'a Json<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
        function: FunctionHead<'a>,
    },
    Arguments {
        index: u64,
        function: FunctionArguments<'a>,
    },
}

#[derive(Serialize)]
struct FunctionHead<'a> {
    name: &'a Json<'a>,
    arguments: &'static str,
}

#[derive(Serialize)]
struct FunctionArguments<'a> {
    arguments: &'a Json<'a>,
}

/// The last chunk, when the client asked for usage.
#[derive(Serialize)]
struct UsageChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [(); 0],
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct OpenAiErrorOut<'a> {
    error: OpenAiErrorBody<'a>,
}

#[derive(Serialize)]
struct OpenAiErrorBody<'a> {
    message: &'a Json<'a>,
    #[serde(rename = "type")]
    kind: &'a Json<'a>,
}

fn write_openai(out: &mut Vec<u8>, data: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    write_json(out, data);
    out.extend_from_slice(b"\n\n");
}

/// Anthropic events in, OpenAI chunks out.
pub struct AnthropicToOpenAi {
    model: String,
    created: i64,
    /// Whether the client asked for the final usage chunk.
    wants_usage: bool,
    id: String,
    finished: bool,
    /// OpenAI tool-call index by Anthropic block index.
    tools: HashMap<u64, u64>,
    usage: UsageTotal,
}

impl AnthropicToOpenAi {
    pub fn new(model: &str, created: i64, wants_usage: bool) -> Self {
        Self {
            model: model.to_owned(),
            created,
            wants_usage,
            id: "chatcmpl-tollgate".to_owned(),
            finished: false,
            tools: HashMap::new(),
            usage: UsageTotal::default(),
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let data = event_data(event);
        let mut spare = None;
        let Some(data) = wire::read::<AnthropicIn>(&data, &mut spare) else {
            return;
        };
        match data.kind.as_str() {
            Some("message_start") => {
                if let Some(message) = &data.message.0 {
                    if let Some(id) = message.id.as_str() {
                        self.id = format!("chatcmpl-{}", id.trim_start_matches("msg_"));
                    }
                    self.add_usage(&message.usage);
                }
                let delta = DeltaOut::Role {
                    role: "assistant",
                    content: "",
                };
                self.chunk(out, delta, None);
            }
            Some("content_block_start") => {
                let Some(block) = &data.content_block.0 else {
                    return;
                };
                if block.kind.as_str() == Some("tool_use") {
                    let index = data.index.as_u64().unwrap_or(0);
                    let tool = u64::try_from(self.tools.len()).unwrap_or(0);
                    self.tools.insert(index, tool);
                    let call = ToolCallOut::Head {
                        index: tool,
                        id: &block.id,
                        kind: "function",
                        function: FunctionHead {
                            name: &block.name,
                            arguments: "",
                        },
                    };
                    self.chunk(out, DeltaOut::ToolCalls { tool_calls: [call] }, None);
                }
            }
            Some("content_block_delta") => {
                let Some(delta) = &data.delta.0 else {
                    return;
                };
                match delta.kind.as_str() {
                    Some("text_delta") => {
                        let content = &delta.text;
                        self.chunk(out, DeltaOut::Content { content }, None);
                    }
                    Some("thinking_delta") => {
                        let reasoning_content = &delta.thinking;
                        self.chunk(out, DeltaOut::Reasoning { reasoning_content }, None);
                    }
                    Some("input_json_delta") => {
                        let index = data.index.as_u64().unwrap_or(0);
                        let tool = self.tools.get(&index).copied().unwrap_or(0);
                        let call = ToolCallOut::Arguments {
                            index: tool,
                            function: FunctionArguments {
                                arguments: &delta.partial_json,
                            },
                        };
                        self.chunk(out, DeltaOut::ToolCalls { tool_calls: [call] }, None);
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                self.add_usage(&data.usage);
                let stop = data
                    .delta
                    .0
                    .as_ref()
                    .and_then(|delta| delta.stop_reason.as_str())
                    .unwrap_or("end_turn");
                self.chunk(out, DeltaOut::Empty {}, Some(finish_reason(stop)));
            }
            Some("message_stop") => self.finish(out),
            Some("error") => {
                let error = data.error.0.as_ref();
                let body = OpenAiErrorBody {
                    message: error.map_or(&NULL, |e| &e.message),
                    kind: error.map_or(&NULL, |e| &e.kind),
                };
                write_openai(out, &OpenAiErrorOut { error: body });
            }
            _ => {}
        }
    }

    /// Ends the stream: the usage chunk if the client asked for it, then
    /// `[DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.wants_usage {
            let total = self.usage;
            write_openai(
                out,
                &UsageChunkOut {
                    id: &self.id,
                    object: "chat.completion.chunk",
                    created: self.created,
                    model: &self.model,
                    choices: [],
                    usage: OpenAiUsage::from_anthropic(
                        total.input,
                        total.output,
                        total.cache_read,
                        total.cache_write,
                    ),
                },
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Anthropic reports input in `message_start` and output (sometimes
    /// input again) in `message_delta`: the latest figure of each wins.
    fn add_usage(&mut self, usage: &Object<AnthropicCounts<'_>>) {
        let Some(counts) = &usage.0 else {
            return;
        };
        for (count, total) in [
            (&counts.input_tokens, &mut self.usage.input),
            (&counts.output_tokens, &mut self.usage.output),
            (&counts.cache_read_input_tokens, &mut self.usage.cache_read),
            (
                &counts.cache_creation_input_tokens,
                &mut self.usage.cache_write,
            ),
        ] {
            if count.is_number() {
                *total = count.as_i64().unwrap_or(0);
            }
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: DeltaOut, finish: Option<&'static str>) {
        write_openai(
            out,
            &OpenAiChunkOut {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: [ChoiceOut {
                    index: 0,
                    delta,
                    finish_reason: finish,
                }],
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use serde_json::{Value, json};

    use super::*;

    /// One server-sent event: its `event:` name and its `data:` lines joined.
    fn parse_event(event: &[u8]) -> (Option<String>, String) {
        let text = String::from_utf8_lossy(event);
        let name = text
            .lines()
            .find_map(|line| line.strip_prefix("event:"))
            .map(|name| name.trim().to_owned());
        let data = String::from_utf8_lossy(&event_data(event)).into_owned();
        (name, data)
    }

    /// The events of an SSE text as (name, data), data parsed when JSON.
    fn events(bytes: &[u8]) -> Vec<(Option<String>, Value)> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = parse_event(e.as_bytes());
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                (name, data)
            })
            .collect()
    }

    fn run_to_anthropic(input: &[&str]) -> Vec<(Option<String>, Value)> {
        let mut translator = OpenAiToAnthropic::new("public-gpt");
        let mut out = Vec::new();
        for event in input {
            translator.event(event.as_bytes(), &mut out);
        }
        translator.finish(&mut out);
        events(&out)
    }

    #[test]
    fn an_openai_stream_with_text_and_a_tool_call_becomes_anthropic_events() {
        let chunk = |delta: Value, finish: Value| {
            format!(
                "data: {}",
                json!({ "id": "chatcmpl-9", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
            )
        };
        let input = [
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(json!({ "content": "Let me " }), Value::Null),
            chunk(json!({ "content": "check." }), Value::Null),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Oslo\"}" } }] }),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            format!(
                "data: {}",
                json!({ "id": "chatcmpl-9", "choices": [], "usage": { "prompt_tokens": 50, "completion_tokens": 20, "prompt_tokens_details": { "cached_tokens": 40 } } })
            ),
            "data: [DONE]".to_owned(),
        ];
        let input: Vec<&str> = input.iter().map(String::as_str).collect();

        let out = run_to_anthropic(&input);

        let expected = [
            json!({ "type": "message_start", "message": { "id": "msg_9", "type": "message", "role": "assistant", "model": "public-gpt", "content": [], "stop_reason": null, "stop_sequence": null, "usage": { "input_tokens": 0, "output_tokens": 0 } } }),
            json!({ "type": "ping" }),
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me " } }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "check." } }),
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "call_1", "name": "weather", "input": {} } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"city\":" } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "\"Oslo\"}" } }),
            json!({ "type": "content_block_stop", "index": 1 }),
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 0 } }),
            json!({ "type": "message_stop" }),
        ];
        let names: Vec<Option<String>> = expected
            .iter()
            .map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            out.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            names
        );
        assert_eq!(
            out.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn an_openai_stream_cut_before_done_is_still_closed() {
        let out = run_to_anthropic(&[
            "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
        ]);
        let types: Vec<&str> = out.iter().filter_map(|(_, d)| d["type"].as_str()).collect();
        assert_eq!(
            types,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(out[5].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn an_anthropic_stream_with_thinking_text_and_a_tool_becomes_openai_chunks() {
        let event =
            |data: Value| format!("event: {}\ndata: {data}", data["type"].as_str().unwrap());
        let input = [
            event(
                json!({ "type": "message_start", "message": { "id": "msg_7", "type": "message", "role": "assistant", "content": [], "model": "claude-up", "usage": { "input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 1 } } }),
            ),
            event(json!({ "type": "ping" })),
            event(
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "thinking", "thinking": "" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "Cold?" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": "s" } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 0 })),
            event(
                json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "text", "text": "" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "text_delta", "text": "Checking." } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 1 })),
            event(
                json!({ "type": "content_block_start", "index": 2, "content_block": { "type": "tool_use", "id": "toolu_1", "name": "weather", "input": {} } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 2, "delta": { "type": "input_json_delta", "partial_json": "{\"city\":\"Oslo\"}" } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 2 })),
            event(
                json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 30 } }),
            ),
            event(json!({ "type": "message_stop" })),
        ];
        let mut translator = AnthropicToOpenAi::new("public-claude", 1_700_000_000, true);
        let mut out = Vec::new();
        for event in &input {
            translator.event(event.as_bytes(), &mut out);
        }
        translator.finish(&mut out);

        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "public-claude",
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        };
        let expected = vec![
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(json!({ "reasoning_content": "Cold?" }), Value::Null),
            chunk(json!({ "content": "Checking." }), Value::Null),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "toolu_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":\"Oslo\"}" } }] }),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            json!({
                "id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "public-claude", "choices": [],
                "usage": { "prompt_tokens": 112, "completion_tokens": 30, "total_tokens": 142, "prompt_tokens_details": { "cached_tokens": 100 } },
            }),
            Value::String("[DONE]".to_owned()),
        ];
        let out: Vec<Value> = events(&out).into_iter().map(|(_, d)| d).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn no_usage_chunk_unless_the_client_asked_for_one() {
        let mut translator = AnthropicToOpenAi::new("m", 0, false);
        let mut out = Vec::new();
        translator.event(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}",
            &mut out,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "data: [DONE]\n\n");
    }

    /// The exact bytes clients get (the golden tests above compare parsed
    /// JSON): key order, escapes and blank lines as they have always been.
    #[test]
    fn translated_streams_are_written_byte_for_byte() {
        const OPENAI_STREAM: &[&str] = &[
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"reasoning_content":"Hm."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"Say \"hi\"\n\u00e9 \u2028"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Oslo\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
            r#"data: {"id":"chatcmpl-42","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70,"prompt_tokens_details":{"cached_tokens":40}}}"#,
            "data: [DONE]",
        ];

        const ANTHROPIC_STREAM: &[&str] = &[
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_42\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}",
            "event: ping\ndata: {\"type\":\"ping\"}",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hm.\"}}",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Say \\\"hi\\\"\\n\\u00e9 \\u2028\"}}",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{}}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":30}}",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}",
        ];

        let mut to_anthropic = OpenAiToAnthropic::new("public-gpt");
        let mut out = Vec::new();
        for event in OPENAI_STREAM {
            to_anthropic.event(event.as_bytes(), &mut out);
        }
        to_anthropic.finish(&mut out);
        let expected = [
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_42\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"public-gpt\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hm.\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Say \\\"hi\\\"\\né \u{2028}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"weather\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":10,\"output_tokens\":20,\"cache_read_input_tokens\":40,\"cache_creation_input_tokens\":0}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ];
        assert_eq!(String::from_utf8(out).unwrap(), expected.concat());

        let mut to_openai = AnthropicToOpenAi::new("public-claude", 1_700_000_000, true);
        let mut out = Vec::new();
        for event in ANTHROPIC_STREAM {
            to_openai.event(event.as_bytes(), &mut out);
        }
        to_openai.finish(&mut out);
        let expected = [
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Hm.\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Say \\\"hi\\\"\\né \u{2028}\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"chatcmpl-42\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"public-claude\",\"choices\":[],\"usage\":{\"prompt_tokens\":112,\"completion_tokens\":30,\"total_tokens\":142,\"prompt_tokens_details\":{\"cached_tokens\":100}}}\n\n",
            "data: [DONE]\n\n",
        ];
        assert_eq!(String::from_utf8(out).unwrap(), expected.concat());
    }

    /// No input, however broken, panics a translator: random bytes, and
    /// real events with bytes flipped, cut or repeated.
    #[test]
    fn no_input_panics_the_stream_translators() {
        let samples = [
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{\"}}]},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":-4}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":99,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":7}}",
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":5,\"usage\":[]}}",
            "data: [DONE]",
            "event: error\ndata: {\"type\":\"error\",\"error\":null}",
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..3_000 {
            let mut bytes: Vec<u8> = samples[round % samples.len()].as_bytes().to_vec();
            match round % 3 {
                0 => {
                    for _ in 0..rng.random_range(1..6) {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                }
                1 => bytes.truncate(rng.random_range(0..bytes.len())),
                _ => bytes = (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            }
            let mut out = Vec::new();
            let mut to_anthropic = OpenAiToAnthropic::new("m");
            let mut to_openai = AnthropicToOpenAi::new("m", 0, true);
            for _ in 0..2 {
                to_anthropic.event(&bytes, &mut out);
                to_openai.event(&bytes, &mut out);
            }
            to_anthropic.finish(&mut out);
            to_openai.finish(&mut out);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::{
            gateway::{format::ApiFormat, metering::reader::StreamMeter},
            platform::arbitrary,
        };

        /// The events of a stream, cut at its blank lines (`\n\n` or
        /// `\r\n\r\n`), as the relay cuts them.
        fn cut(bytes: &[u8]) -> Vec<&[u8]> {
            let mut events = Vec::new();
            let mut start = 0;
            loop {
                let rest = &bytes[start..];
                let lf = rest.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2));
                let crlf = rest
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|at| (at, 4));
                let Some((at, len)) = [lf, crlf].into_iter().flatten().min_by_key(|(at, _)| *at)
                else {
                    events.push(rest);
                    return events;
                };
                events.push(&rest[..at]);
                start += at + len;
            }
        }

        /// Translates a whole stream, `finish` included.
        fn translate(translator: &mut StreamTranslator, bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for event in cut(bytes) {
                translator.event(event, &mut out);
            }
            translator.finish(&mut out);
            out
        }

        /// The client's stream is well formed: each event ends with a blank
        /// line, and its data is JSON or `[DONE]`.
        fn well_formed(out: &[u8]) -> Result<(), TestCaseError> {
            prop_assert!(out.is_empty() || out.ends_with(b"\n\n"));
            for event in cut(out).into_iter().filter(|event| !event.is_empty()) {
                let data = event_data(event);
                prop_assert!(
                    &data[..] == b"[DONE]"
                        || serde_json::from_slice::<serde_json::Value>(&data).is_ok(),
                    "{}",
                    String::from_utf8_lossy(event)
                );
            }
            Ok(())
        }

        /// A Responses client's translators: from chat chunks, and from
        /// Anthropic events through them.
        fn responses_translators() -> [StreamTranslator; 2] {
            let to_responses = |upstream| {
                StreamTranslator::between(
                    (upstream, ApiFormat::Responses),
                    "m",
                    0,
                    false,
                    vec!["patch".into()],
                )
                .unwrap()
            };
            [
                to_responses(ApiFormat::OpenAi),
                to_responses(ApiFormat::Anthropic),
            ]
        }

        /// Responses events numbered 0, 1, 2… with exactly one terminal
        /// event, the last.
        fn numbered_to_one_end(out: &[u8]) -> Result<(), TestCaseError> {
            let events: Vec<serde_json::Value> = cut(out)
                .into_iter()
                .filter(|event| !event.is_empty())
                .map(|event| serde_json::from_slice(&event_data(event)).unwrap_or_default())
                .collect();
            for (number, event) in events.iter().enumerate() {
                prop_assert_eq!(event["sequence_number"].as_u64(), Some(number as u64));
            }
            let terminal = |event: &serde_json::Value| {
                matches!(
                    event["type"].as_str(),
                    Some("response.completed" | "response.incomplete" | "response.failed")
                )
            };
            prop_assert_eq!(events.iter().filter(|event| terminal(event)).count(), 1);
            prop_assert!(events.last().is_some_and(terminal));
            Ok(())
        }

        fn metered(format: ApiFormat, bytes: &[u8]) -> crate::platform::pricing::Tokens {
            let mut meter = StreamMeter::new(format, true);
            for event in cut(bytes) {
                meter.observe(event);
            }
            meter.tokens(0)
        }

        proptest! {
            #![proptest_config(arbitrary::config(256))]

            /// Any events from the provider: no panic, and what the client
            /// gets is a well-formed stream.
            #[test]
            fn prop_any_events_translate_to_a_well_formed_stream(
                bytes in arbitrary::sse_bytes(),
                wants_usage in any::<bool>(),
            ) {
                let mut to_anthropic = StreamTranslator::between((ApiFormat::OpenAi, ApiFormat::Anthropic), "m", 0, false, Vec::new()).unwrap();
                well_formed(&translate(&mut to_anthropic, &bytes))?;
                let mut to_openai = StreamTranslator::between((ApiFormat::Anthropic, ApiFormat::OpenAi), "m", 0, wants_usage, Vec::new()).unwrap();
                well_formed(&translate(&mut to_openai, &bytes))?;
                for mut to_responses in responses_translators() {
                    let out = translate(&mut to_responses, &bytes);
                    well_formed(&out)?;
                    numbered_to_one_end(&out)?;
                }
            }

            /// The client is told the usage the provider reported, as the
            /// meter reads both streams (OpenAI has no cache writes: they
            /// are input there).
            #[test]
            fn prop_a_translated_stream_reports_the_providers_usage(
                openai in arbitrary::openai_stream(),
                anthropic in arbitrary::anthropic_stream(),
            ) {
                let mut to_anthropic = StreamTranslator::between((ApiFormat::OpenAi, ApiFormat::Anthropic), "m", 0, false, Vec::new()).unwrap();
                let out = translate(&mut to_anthropic, &openai.bytes);
                well_formed(&out)?;
                if let Some(reported) = openai.reported {
                    prop_assert_eq!(metered(ApiFormat::Anthropic, &out), reported);
                }
                let mut to_openai = StreamTranslator::between((ApiFormat::Anthropic, ApiFormat::OpenAi), "m", 0, true, Vec::new()).unwrap();
                let out = translate(&mut to_openai, &anthropic.bytes);
                well_formed(&out)?;
                if let Some(given) = anthropic.reported {
                    let read = metered(ApiFormat::OpenAi, &out);
                    prop_assert_eq!(
                        (read.input, read.output, read.cache_read, read.cache_write),
                        (given.input + given.cache_write, given.output, given.cache_read, 0),
                    );
                }
                let [mut from_openai, mut from_anthropic] = responses_translators();
                let out = translate(&mut from_openai, &openai.bytes);
                numbered_to_one_end(&out)?;
                if let Some(reported) = openai.reported {
                    prop_assert_eq!(metered(ApiFormat::Responses, &out), reported);
                }
                let out = translate(&mut from_anthropic, &anthropic.bytes);
                numbered_to_one_end(&out)?;
                if let Some(given) = anthropic.reported {
                    let read = metered(ApiFormat::Responses, &out);
                    prop_assert_eq!(
                        (read.input, read.output, read.cache_read, read.cache_write),
                        (given.input + given.cache_write, given.output, given.cache_read, 0),
                    );
                }
            }
        }
    }
}
