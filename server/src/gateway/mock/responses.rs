//! The mock speaking OpenAI's Responses API (`POST /v1/responses`), JSON and
//! SSE, as Codex and the SDKs' `responses.create` read it: `instructions`
//! and `input` (a string, or items: messages, `function_call_output`,
//! `custom_tool_call_output`) in, `output` items out (a `reasoning` item for
//! the `reasoning` models, then a `message`, a `function_call` of the first
//! function tool, or a `custom_tool_call` of the first custom tool with its
//! input as plain text), usage with cached and reasoning tokens, and the
//! stream's real event sequence with sequence numbers.
//!
//! It decides what to say as the chat formats do (see the parent module):
//! the request is read into the same [`Reply`].

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{Reply, error, read_request, sse, text_of};
use crate::gateway::format::ApiFormat;

/// The answer to a Responses request body.
pub async fn answer(body: &[u8]) -> Response {
    // Responses errors have OpenAI's shape.
    let format = ApiFormat::OpenAi;
    let (request, model) = match read_request(body) {
        Ok(read) => read,
        Err(message) => return error(format, StatusCode::BAD_REQUEST, &message),
    };
    let model = model.as_str();
    let messages = match messages_of(request.get("input")) {
        Ok(messages) => messages,
        Err(message) => return error(format, StatusCode::BAD_REQUEST, &message),
    };
    if let Some(refused) = super::refuse_as_asked(format, model).await {
        return refused;
    }
    let chat = chat_request(&request, &messages);
    let reply = Reply::new(model, &chat, &messages, body);
    let custom = first_tool_is_custom(&request);
    let answer = Answer::of(&reply, custom);
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        sse(model, answer.events())
    } else {
        Json(reply.without_usage_unless_reported(answer.body(true))).into_response()
    }
}

/// The conversation as chat messages: a string is one user message; items
/// are messages, and tool outputs become tool messages.
fn messages_of(input: Option<&Value>) -> Result<Vec<Value>, String> {
    match input {
        Some(Value::String(text)) => Ok(vec![json!({ "role": "user", "content": text })]),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|item| {
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                match kind {
                    "message" => Some(json!({
                        "role": item.get("role").cloned().unwrap_or(json!("user")),
                        "content": text_of(item.get("content")),
                    })),
                    "function_call_output" | "custom_tool_call_output" => Some(json!({
                        "role": "tool",
                        "content": text_of(item.get("output")),
                    })),
                    _ => None,
                }
            })
            .collect()),
        _ => Err("input: a string or an array of input items is required".to_owned()),
    }
}

/// The request as the chat formats would send it, for [`Reply::new`].
fn chat_request(request: &Map<String, Value>, messages: &[Value]) -> Map<String, Value> {
    let mut chat = Map::new();
    for (from, to) in [
        ("instructions", "system"),
        ("tools", "tools"),
        ("tool_choice", "tool_choice"),
        ("max_output_tokens", "max_tokens"),
    ] {
        if let Some(value) = request.get(from) {
            chat.insert(to.to_owned(), value.clone());
        }
    }
    chat.insert("messages".to_owned(), Value::Array(messages.to_vec()));
    chat
}

fn first_tool_is_custom(request: &Map<String, Value>) -> bool {
    request
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|tools| tools.first())
        .and_then(|tool| tool.get("type"))
        .and_then(Value::as_str)
        == Some("custom")
}

/// One answer as Responses items, ready to be sent whole or streamed.
struct Answer<'a> {
    reply: &'a Reply,
    items: Vec<Item>,
}

enum Item {
    Reasoning {
        id: String,
        summary: String,
    },
    Message {
        id: String,
        pieces: Vec<String>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    CustomToolCall {
        id: String,
        call_id: String,
        name: String,
        input: String,
    },
}

impl<'a> Answer<'a> {
    fn of(reply: &'a Reply, custom: bool) -> Self {
        let id = &reply.id;
        let mut items = Vec::new();
        if reply.reasoning > 0 {
            items.push(Item::Reasoning {
                id: format!("rs_mock{id}"),
                summary: "Thinking it over.".to_owned(),
            });
        }
        items.push(match &reply.tool_call {
            Some(call) if custom => Item::CustomToolCall {
                id: format!("ctc_mock{id}"),
                call_id: format!("call_mock{id}"),
                name: call.name.clone(),
                input: call.arguments["query"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            Some(call) => Item::FunctionCall {
                id: format!("fc_mock{id}"),
                call_id: format!("call_mock{id}"),
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
            },
            None => Item::Message {
                id: format!("msg_mock{id}"),
                pieces: reply.pieces().collect(),
            },
        });
        Self { reply, items }
    }

    /// `completed`, or `incomplete` when the output cap cut it short.
    fn status(&self) -> &'static str {
        if self.reply.truncated && self.reply.tool_call.is_none() {
            "incomplete"
        } else {
            "completed"
        }
    }

    /// The response object; `done: false` is how it looks when it starts.
    fn body(&self, done: bool) -> Value {
        let reply = self.reply;
        let output: Vec<Value> = if done {
            self.items.iter().map(|item| item.value(true)).collect()
        } else {
            Vec::new()
        };
        let incomplete = (done && self.status() == "incomplete")
            .then(|| json!({ "reason": "max_output_tokens" }));
        json!({
            "id": format!("resp_mock{}", reply.id),
            "object": "response",
            "created_at": reply.created,
            "status": if done { self.status() } else { "in_progress" },
            "error": null,
            "incomplete_details": incomplete,
            "instructions": null,
            "model": reply.model,
            "output": output,
            "parallel_tool_calls": true,
            "tool_choice": "auto",
            "tools": [],
            "usage": if done { self.usage() } else { Value::Null },
        })
    }

    /// Cached tokens are counted inside `input_tokens`, reasoning inside
    /// `output_tokens`, as OpenAI counts them.
    fn usage(&self) -> Value {
        let reply = self.reply;
        let input = reply.input_tokens + reply.cache_read;
        let output = reply.output_tokens();
        json!({
            "input_tokens": input,
            "input_tokens_details": { "cached_tokens": reply.cache_read },
            "output_tokens": output,
            "output_tokens_details": { "reasoning_tokens": reply.reasoning },
            "total_tokens": input + output,
        })
    }

    /// The stream: created, in progress, each item added, its deltas and
    /// done, then completed (or incomplete), numbered from 0.
    fn events(&self) -> Vec<String> {
        let mut events = Events::default();
        events.push("response.created", json!({ "response": self.body(false) }));
        events.push(
            "response.in_progress",
            json!({ "response": self.body(false) }),
        );
        for (index, item) in self.items.iter().enumerate() {
            item.stream(index, &mut events);
        }
        let last = match self.status() {
            "incomplete" => "response.incomplete",
            _ => "response.completed",
        };
        events.push(last, json!({ "response": self.body(true) }));
        events.0
    }
}

impl Item {
    fn id(&self) -> &str {
        match self {
            Self::Reasoning { id, .. }
            | Self::Message { id, .. }
            | Self::FunctionCall { id, .. }
            | Self::CustomToolCall { id, .. } => id,
        }
    }

    /// The item whole (`done`), or as it is announced before its deltas.
    fn value(&self, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match self {
            Self::Reasoning { id, summary } => json!({
                "type": "reasoning", "id": id,
                "summary": if done { json!([{ "type": "summary_text", "text": summary }]) } else { json!([]) },
            }),
            Self::Message { id, pieces } => json!({
                "type": "message", "id": id, "status": status, "role": "assistant",
                "content": if done { json!([output_text(&pieces.concat())]) } else { json!([]) },
            }),
            Self::FunctionCall {
                id,
                call_id,
                name,
                arguments,
            } => json!({
                "type": "function_call", "id": id, "call_id": call_id, "name": name,
                "arguments": if done { arguments.as_str() } else { "" }, "status": status,
            }),
            Self::CustomToolCall {
                id,
                call_id,
                name,
                input,
            } => json!({
                "type": "custom_tool_call", "id": id, "call_id": call_id, "name": name,
                "input": if done { input.as_str() } else { "" },
            }),
        }
    }

    fn stream(&self, output_index: usize, events: &mut Events) {
        let item_id = self.id();
        events.push(
            "response.output_item.added",
            json!({ "output_index": output_index, "item": self.value(false) }),
        );
        match self {
            Self::Reasoning { summary, .. } => {
                let at =
                    json!({ "item_id": item_id, "output_index": output_index, "summary_index": 0 });
                events.push(
                    "response.reasoning_summary_part.added",
                    with(&at, "part", json!({ "type": "summary_text", "text": "" })),
                );
                events.push(
                    "response.reasoning_summary_text.delta",
                    with(&at, "delta", json!(summary)),
                );
                events.push(
                    "response.reasoning_summary_text.done",
                    with(&at, "text", json!(summary)),
                );
                events.push(
                    "response.reasoning_summary_part.done",
                    with(
                        &at,
                        "part",
                        json!({ "type": "summary_text", "text": summary }),
                    ),
                );
            }
            Self::Message { pieces, .. } => {
                let at =
                    json!({ "item_id": item_id, "output_index": output_index, "content_index": 0 });
                events.push(
                    "response.content_part.added",
                    with(&at, "part", output_text("")),
                );
                for piece in pieces {
                    let delta = with(&at, "delta", json!(piece));
                    events.push(
                        "response.output_text.delta",
                        with(&delta, "logprobs", json!([])),
                    );
                }
                let text = pieces.concat();
                let done = with(&at, "text", json!(text));
                events.push(
                    "response.output_text.done",
                    with(&done, "logprobs", json!([])),
                );
                events.push(
                    "response.content_part.done",
                    with(&at, "part", output_text(&text)),
                );
            }
            Self::FunctionCall { arguments, .. } => {
                let at = json!({ "item_id": item_id, "output_index": output_index });
                let (first, second) = arguments.split_at(arguments.len() / 2);
                for piece in [first, second] {
                    events.push(
                        "response.function_call_arguments.delta",
                        with(&at, "delta", json!(piece)),
                    );
                }
                events.push(
                    "response.function_call_arguments.done",
                    with(&at, "arguments", json!(arguments)),
                );
            }
            Self::CustomToolCall { input, .. } => {
                let at = json!({ "item_id": item_id, "output_index": output_index });
                events.push(
                    "response.custom_tool_call_input.delta",
                    with(&at, "delta", json!(input)),
                );
                events.push(
                    "response.custom_tool_call_input.done",
                    with(&at, "input", json!(input)),
                );
            }
        }
        events.push(
            "response.output_item.done",
            json!({ "output_index": output_index, "item": self.value(true) }),
        );
    }
}

fn output_text(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [] })
}

/// `fields` with one more.
fn with(fields: &Value, name: &str, value: Value) -> Value {
    let mut fields = fields.clone();
    fields[name] = value;
    fields
}

/// SSE events with their type and sequence number.
#[derive(Default)]
struct Events(Vec<String>);

impl Events {
    fn push(&mut self, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.0.len());
        self.0.push(format!("event: {kind}\ndata: {data}\n\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_of(body: Value) -> (StatusCode, String) {
        let response = answer(body.to_string().as_bytes()).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn events_of(text: &str) -> Vec<Value> {
        text.split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                let (head, data) = event.split_once('\n').unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(head.strip_prefix("event: "), data["type"].as_str());
                data
            })
            .collect()
    }

    #[tokio::test]
    async fn a_text_answer_counts_the_instructions_and_input_and_says_the_last_user_text() {
        let (status, text) = answer_of(json!({
            "model": "m", "instructions": "be brief", "input": "one two three",
        }))
        .await;

        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["object"], "response");
        assert_eq!(body["status"], "completed");
        let said = body["output"][0]["content"][0]["text"].as_str().unwrap();
        assert!(said.ends_with("one two three"), "{said}");
        assert_eq!(body["usage"]["input_tokens"], 5);
        assert_eq!(
            body["usage"]["output_tokens"],
            said.split_whitespace().count()
        );
        assert_eq!(
            body["usage"]["total_tokens"],
            5 + said.split_whitespace().count()
        );
    }

    #[tokio::test]
    async fn the_stream_numbers_its_events_and_ends_with_the_whole_response_and_usage() {
        let (_, text) = answer_of(json!({
            "model": "m-reasoning", "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "a b" }] }],
            "stream": true,
        }))
        .await;

        let events = events_of(&text);
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            &kinds[..3],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added"
            ]
        );
        assert_eq!(kinds.last(), Some(&"response.completed"));
        for (number, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], number);
        }
        let deltas: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        let done = &events.last().unwrap()["response"];
        assert_eq!(done["output"][0]["type"], "reasoning");
        assert_eq!(done["output"][1]["content"][0]["text"], deltas.as_str());
        assert_eq!(
            done["usage"]["output_tokens_details"]["reasoning_tokens"],
            8
        );
    }

    #[tokio::test]
    async fn a_function_tool_is_called_and_its_output_answered() {
        let tools =
            json!([{ "type": "function", "name": "lookup", "parameters": { "type": "object" } }]);
        let (_, first) =
            answer_of(json!({ "model": "m", "input": "find it", "tools": tools })).await;
        let first: Value = serde_json::from_str(&first).unwrap();
        let call = &first["output"][0];
        assert_eq!(call["type"], "function_call");
        assert_eq!(call["name"], "lookup");
        assert_eq!(call["arguments"], json!({ "query": "find it" }).to_string());

        let (_, second) = answer_of(json!({
            "model": "m", "tools": tools,
            "input": [
                { "role": "user", "content": "find it" },
                call,
                { "type": "function_call_output", "call_id": call["call_id"], "output": "42" },
            ],
        }))
        .await;
        let second: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(
            second["output"][0]["content"][0]["text"],
            "The tool said: 42"
        );
    }

    #[tokio::test]
    async fn a_custom_tool_gets_its_input_as_text_in_the_stream() {
        let (_, text) = answer_of(json!({
            "model": "m", "input": "*** Begin Patch", "stream": true,
            "tools": [{ "type": "custom", "name": "apply_patch" }],
        }))
        .await;

        let events = events_of(&text);
        let input: String = events
            .iter()
            .filter(|e| e["type"] == "response.custom_tool_call_input.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(input, "*** Begin Patch");
        let item = &events.last().unwrap()["response"]["output"][0];
        assert_eq!(item["type"], "custom_tool_call");
        assert_eq!(item["input"], "*** Begin Patch");
    }

    #[tokio::test]
    async fn an_output_cap_makes_the_response_incomplete_and_bad_input_is_400() {
        let (_, text) =
            answer_of(json!({ "model": "m", "input": "hi", "max_output_tokens": 2 })).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "incomplete");
        assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(body["usage"]["output_tokens"], 2);

        let (status, text) = answer_of(json!({ "model": "m", "input": 7 })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("input"), "{text}");
    }
}
