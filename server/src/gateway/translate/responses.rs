//! OpenAI's Responses API (`/v1/responses`, which Codex speaks) for models
//! of chat-only providers: a request becomes a chat completion request, and
//! the chat answer (JSON or stream) becomes a response. Chat completions
//! are the hub: an Anthropic provider's request and answer go through
//! [`super::request`], [`super::response`] and [`super::stream`] as well,
//! so this module is all the Responses format adds.
//!
//! Codex's custom tools (its freeform `apply_patch`) become function tools
//! taking one string, `input`, and their calls come back as custom tool
//! calls with that string as their input. What chat cannot carry is
//! refused naming the field, or dropped on purpose where a coding agent
//! sends it with every request and the answer does not depend on it
//! (listed in `docs/translation.md`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    Result, Unexpressible,
    chunk::{OpenAiChunk, OpenAiCounts, OpenAiToolCall},
    wire::{self, Json},
};

/// Top-level fields dropped on purpose: they ask a Responses server to
/// keep, return or tag things a chat completion has no place for.
const DROPPED: [&str; 6] = [
    "store",
    "include",
    "client_metadata",
    "metadata",
    "truncation",
    "service_tier",
];

/// Top-level fields chat takes under the same name.
const KEPT: [&str; 8] = [
    "model",
    "user",
    "stream",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "prompt_cache_key",
    "safety_identifier",
];

/// Hosted tools dropped on purpose: Codex offers them with every request;
/// without them the model answers from what it has.
const DROPPED_TOOLS: [&str; 4] = [
    "web_search",
    "web_search_preview",
    "namespace",
    "local_shell",
];

/// A Responses request as a chat completion request. Returns the request
/// and the names of its custom tools, whose calls come back as custom tool
/// calls.
pub fn request_to_chat(body: Map<String, Value>) -> Result<(Map<String, Value>, Vec<String>)> {
    let mut chat = Map::new();
    let mut messages = Vec::new();
    let mut custom_tools = Vec::new();
    for (field, value) in body {
        match field.as_str() {
            _ if KEPT.contains(&field.as_str()) => {
                chat.insert(field, value);
            }
            _ if DROPPED.contains(&field.as_str()) => {}
            "instructions" => match value {
                Value::Null => {}
                Value::String(text) => {
                    messages.insert(0, json!({ "role": "system", "content": text }));
                }
                _ => {
                    return Err(Unexpressible::new(
                        "instructions",
                        "instructions: must be text",
                    ));
                }
            },
            "input" => messages.extend(input_messages(value)?),
            "tools" => {
                let (tools, custom) = tools(value)?;
                if !tools.is_empty() {
                    chat.insert("tools".to_owned(), Value::Array(tools));
                }
                custom_tools = custom;
            }
            "tool_choice" => {
                chat.insert(field, tool_choice(value)?);
            }
            "max_output_tokens" => {
                chat.insert("max_completion_tokens".to_owned(), value);
            }
            "reasoning" => {
                if let Some(effort) = value.get("effort").filter(|effort| !effort.is_null()) {
                    chat.insert("reasoning_effort".to_owned(), effort.clone());
                }
            }
            "text" => {
                if let Some(format) = response_format(&value)? {
                    chat.insert("response_format".to_owned(), format);
                }
            }
            _ => {
                return Err(Unexpressible::new(
                    field.clone(),
                    format!(
                        "{field}: not supported for a model whose provider speaks only chat completions"
                    ),
                ));
            }
        }
    }
    chat.insert("messages".to_owned(), Value::Array(messages));
    Ok((chat, custom_tools))
}

/// `input` as chat messages: a string is one user message; items in order,
/// a run of calls joined into one assistant message.
fn input_messages(input: Value) -> Result<Vec<Value>> {
    let items = match input {
        Value::String(text) => return Ok(vec![json!({ "role": "user", "content": text })]),
        Value::Array(items) => items,
        _ => {
            return Err(Unexpressible::new(
                "input",
                "input: a string or an array of items",
            ));
        }
    };
    let mut messages: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let param = format!("input[{i}]");
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match kind {
            "message" => messages.push(message(&item, &param)?),
            "function_call" | "custom_tool_call" => {
                let call = tool_call(&item, kind == "custom_tool_call", &param)?;
                let joins = messages.last().is_some_and(|last| {
                    last["role"] == "assistant" && last.get("tool_calls").is_some()
                });
                match messages.last_mut() {
                    Some(Value::Object(last)) if joins => {
                        if let Some(Value::Array(calls)) = last.get_mut("tool_calls") {
                            calls.push(call);
                        }
                    }
                    _ => messages.push(json!({
                        "role": "assistant", "content": null, "tool_calls": [call],
                    })),
                }
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = required_str(&item, "call_id", &param)?;
                let output = output_text(item.get("output"), &format!("{param}.output"))?;
                messages
                    .push(json!({ "role": "tool", "tool_call_id": call_id, "content": output }));
            }
            // Earlier reasoning (often encrypted for its own provider):
            // chat takes none back.
            "reasoning" => {}
            other => {
                return Err(Unexpressible::new(
                    format!("{param}.type"),
                    format!(
                        "{param}: a `{other}` item cannot be sent to a model whose provider speaks only chat completions"
                    ),
                ));
            }
        }
    }
    Ok(messages)
}

/// A message item: its role (a developer's as a system message) and its
/// content, text and images.
fn message(item: &Value, param: &str) -> Result<Value> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") | None => "user",
        Some("assistant") => "assistant",
        Some("system" | "developer") => "system",
        Some(other) => {
            return Err(Unexpressible::new(
                format!("{param}.role"),
                format!("{param}.role: unknown role `{other}`"),
            ));
        }
    };
    let content = match item.get("content") {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(parts)) if role == "user" => user_parts(parts, param)?,
        Some(Value::Array(parts)) => Value::String(texts(parts, param)?),
        _ => {
            return Err(Unexpressible::new(
                format!("{param}.content"),
                format!("{param}.content: text or an array of content parts is required"),
            ));
        }
    };
    Ok(json!({ "role": role, "content": content }))
}

/// A user's parts: text, and images by URL; text alone becomes a string.
fn user_parts(parts: &[Value], param: &str) -> Result<Value> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{param}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => out.push(json!({
                "type": "text",
                "text": part.get("text").and_then(Value::as_str).unwrap_or_default(),
            })),
            Some("input_image") => {
                let url = part
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Unexpressible::new(
                            format!("{at}.image_url"),
                            format!(
                                "{at}: only images given by `image_url` can be sent to this model"
                            ),
                        )
                    })?;
                let mut image = json!({ "url": url });
                if let Some(detail) = part.get("detail") {
                    image["detail"] = detail.clone();
                }
                out.push(json!({ "type": "image_url", "image_url": image }));
            }
            other => {
                return Err(Unexpressible::new(
                    format!("{at}.type"),
                    format!(
                        "{at}: a `{}` part cannot be sent to a model whose provider speaks only chat completions",
                        other.unwrap_or("?")
                    ),
                ));
            }
        }
    }
    if out.iter().all(|part| part["type"] == "text") {
        let text: Vec<&str> = out
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect();
        return Ok(Value::String(text.join("\n\n")));
    }
    Ok(Value::Array(out))
}

/// Text parts joined by blank lines (assistant and system turns).
fn texts(parts: &[Value], param: &str) -> Result<String> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                out.push(part.get("text").and_then(Value::as_str).unwrap_or_default());
            }
            // A refusal the model gave earlier is what it said.
            Some("refusal") => {
                out.push(
                    part.get("refusal")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
            }
            other => {
                return Err(Unexpressible::new(
                    format!("{param}.content[{j}].type"),
                    format!(
                        "{param}.content[{j}]: only text can go here for this model, not `{}`",
                        other.unwrap_or("?")
                    ),
                ));
            }
        }
    }
    Ok(out.join("\n\n"))
}

/// A call item as a chat tool call; a custom tool's input is its one
/// string argument.
fn tool_call(item: &Value, custom: bool, param: &str) -> Result<Value> {
    let call_id = required_str(item, "call_id", param)?;
    let name = required_str(item, "name", param)?;
    let arguments = if custom {
        let input = item
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default();
        json!({ "input": input }).to_string()
    } else {
        item.get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}")
            .to_owned()
    };
    Ok(json!({
        "id": call_id,
        "type": "function",
        "function": { "name": name, "arguments": arguments },
    }))
}

/// A tool's output: text, or text parts joined.
fn output_text(output: Option<&Value>, param: &str) -> Result<String> {
    match output {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => texts(parts, param),
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => Err(Unexpressible::new(param, format!("{param}: must be text"))),
    }
}

fn required_str(item: &Value, field: &str, param: &str) -> Result<String> {
    item.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Unexpressible::new(
                format!("{param}.{field}"),
                format!("{param}.{field}: a string is required"),
            )
        })
}

/// Function and custom tools as chat function tools; the names of the
/// custom ones.
fn tools(tools: Value) -> Result<(Vec<Value>, Vec<String>)> {
    let Value::Array(tools) = tools else {
        return Err(Unexpressible::new("tools", "tools: must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    let mut custom = Vec::new();
    for (i, tool) in tools.into_iter().enumerate() {
        let param = format!("tools[{i}]");
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "function" => {
                let name = required_str(&tool, "name", &param)?;
                let mut function = Map::new();
                function.insert("name".to_owned(), Value::String(name));
                for field in ["description", "parameters", "strict"] {
                    if let Some(value) = tool.get(field).filter(|value| !value.is_null()) {
                        function.insert(field.to_owned(), value.clone());
                    }
                }
                out.push(json!({ "type": "function", "function": function }));
            }
            "custom" => {
                let name = required_str(&tool, "name", &param)?;
                let mut described = tool
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(definition) = tool.pointer("/format/definition").and_then(Value::as_str)
                {
                    described.push_str("\n\nThe input follows this grammar:\n");
                    described.push_str(definition);
                }
                out.push(json!({
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": described,
                        "parameters": {
                            "type": "object",
                            "properties": { "input": { "type": "string", "description": "The tool's whole input, as text." } },
                            "required": ["input"],
                        },
                    },
                }));
                custom.push(name);
            }
            _ if DROPPED_TOOLS.contains(&kind) => {}
            other => {
                return Err(Unexpressible::new(
                    format!("{param}.type"),
                    format!(
                        "{param}: a `{other}` tool cannot be offered to a model whose provider speaks only chat completions"
                    ),
                ));
            }
        }
    }
    Ok((out, custom))
}

fn tool_choice(choice: Value) -> Result<Value> {
    match &choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => Ok(choice),
        Value::Object(named) => {
            let kind = named.get("type").and_then(Value::as_str);
            match (kind, named.get("name").and_then(Value::as_str)) {
                (Some("function" | "custom"), Some(name)) => {
                    Ok(json!({ "type": "function", "function": { "name": name } }))
                }
                _ => Err(Unexpressible::new(
                    "tool_choice",
                    "tool_choice: only `auto`, `none`, `required` or a named function or custom tool",
                )),
            }
        }
        _ => Err(Unexpressible::new(
            "tool_choice",
            "tool_choice: only `auto`, `none`, `required` or a named function or custom tool",
        )),
    }
}

/// `text.format` as chat's `response_format` (`None` for plain text).
fn response_format(text: &Value) -> Result<Option<Value>> {
    let Some(format) = text.get("format").filter(|format| !format.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({ "type": "json_object" }))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for field in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(field).filter(|value| !value.is_null()) {
                    schema.insert(field.to_owned(), value.clone());
                }
            }
            Ok(Some(
                json!({ "type": "json_schema", "json_schema": schema }),
            ))
        }
        _ => Err(Unexpressible::new(
            "text.format.type",
            "text.format.type: `text`, `json_object` or `json_schema`",
        )),
    }
}

// ---- answers ------------------------------------------------------------

/// A chat completion as a response; `None` when it is not one.
pub fn answer_from_chat(
    chat: &Value,
    model: &str,
    created: i64,
    custom_tools: &[String],
) -> Option<Value> {
    let choice = chat.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let id = response_id(chat.get("id").and_then(Value::as_str));
    let bare = id.trim_start_matches("resp_");
    let mut output = Vec::new();
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let refusal = message.get("refusal").and_then(Value::as_str);
    if !text.is_empty() || refusal.is_some() {
        let part = match refusal {
            Some(refusal) if text.is_empty() => json!({ "type": "refusal", "refusal": refusal }),
            _ => text_part(text),
        };
        output.push(message_item(
            &format!("msg_{bare}"),
            vec![part],
            "completed",
        ));
    }
    for (i, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let call_id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        output.push(call_item(
            &format!("fc_{bare}_{i}"),
            call_id,
            name,
            arguments,
            custom_tools,
            "completed",
        ));
    }
    let finish = choice.get("finish_reason").and_then(Value::as_str);
    Some(response(&Done {
        id: &id,
        model,
        created,
        output,
        finish,
        usage: chat.get("usage"),
        failed: None,
    }))
}

/// `resp_` and the provider's id, without its own prefix.
fn response_id(chat_id: Option<&str>) -> String {
    let id = chat_id.unwrap_or("tollgate");
    let id = id
        .trim_start_matches("chatcmpl-")
        .trim_start_matches("msg_");
    format!("resp_{id}")
}

fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [] })
}

fn message_item(id: &str, content: Vec<Value>, status: &str) -> Value {
    json!({ "type": "message", "id": id, "status": status, "role": "assistant", "content": content })
}

/// A function call, or a custom tool call with the `input` it was given.
fn call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    custom_tools: &[String],
    status: &str,
) -> Value {
    if custom_tools.iter().any(|custom| custom == name) {
        json!({
            "type": "custom_tool_call", "id": id, "status": status, "call_id": call_id,
            "name": name, "input": custom_input(arguments),
        })
    } else {
        json!({
            "type": "function_call", "id": id, "status": status, "call_id": call_id,
            "name": name, "arguments": arguments,
        })
    }
}

/// A custom tool's input from the arguments it was called with: their
/// `input`, or the arguments themselves when the model wrote no such field.
fn custom_input(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|args| args.get("input").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| arguments.to_owned())
}

/// Chat usage in the Responses API's terms.
fn usage(chat: &Value) -> Value {
    let count = |pointer: &str| chat.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let (input, output) = (count("/prompt_tokens"), count("/completion_tokens"));
    json!({
        "input_tokens": input,
        "input_tokens_details": { "cached_tokens": count("/prompt_tokens_details/cached_tokens") },
        "output_tokens": output,
        "output_tokens_details": { "reasoning_tokens": count("/completion_tokens_details/reasoning_tokens") },
        "total_tokens": input.saturating_add(output),
    })
}

/// A response as it ends.
struct Done<'a> {
    id: &'a str,
    model: &'a str,
    created: i64,
    output: Vec<Value>,
    /// The chat finish reason: `length` and `content_filter` leave it
    /// incomplete.
    finish: Option<&'a str>,
    usage: Option<&'a Value>,
    /// Why it failed, if it did.
    failed: Option<Value>,
}

fn response(done: &Done) -> Value {
    let incomplete = match done.finish {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    };
    let status = if done.failed.is_some() {
        "failed"
    } else if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    let mut value = shell(done.id, done.model, done.created, status);
    value["output"] = Value::Array(done.output.clone());
    value["incomplete_details"] =
        incomplete.map_or(Value::Null, |reason| json!({ "reason": reason }));
    value["error"] = done.failed.clone().unwrap_or(Value::Null);
    value["usage"] = done
        .usage
        .filter(|usage| usage.is_object())
        .map_or(Value::Null, usage);
    value
}

/// The fields every response object has, as it starts.
fn shell(id: &str, model: &str, created: i64, status: &str) -> Value {
    json!({
        "id": id, "object": "response", "created_at": created, "status": status,
        "error": null, "incomplete_details": null, "instructions": null, "model": model,
        "output": [], "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "usage": null,
    })
}

// ---- streams ------------------------------------------------------------

/// Chat completion chunks in, Responses events out, numbered from 0.
pub struct ChatToResponses {
    model: String,
    created: i64,
    id: Option<String>,
    custom_tools: Vec<String>,
    sequence: u64,
    /// Every output item, by output index, as it stands.
    items: Vec<Building>,
    /// The message item being written, if any.
    message: Option<usize>,
    /// Output index of each chat tool call, by its chat index.
    calls: BTreeMap<u64, usize>,
    finish: Option<String>,
    usage: Option<Value>,
    error: Option<Value>,
    finished: bool,
}

/// An output item while it streams.
enum Building {
    Message {
        id: String,
        text: String,
        done: bool,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        done: bool,
    },
}

impl ChatToResponses {
    pub fn new(model: &str, created: i64, custom_tools: Vec<String>) -> Self {
        Self {
            model: model.to_owned(),
            created,
            id: None,
            custom_tools,
            sequence: 0,
            items: Vec::new(),
            message: None,
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
            error: None,
            finished: false,
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let data = wire::event_data(event);
        if wire::is_done(&data) {
            self.finish(out);
            return;
        }
        let mut spare = None;
        let Some(chunk) = wire::read::<OpenAiChunk>(&data, &mut spare) else {
            return;
        };
        self.start(chunk.id.as_str(), out);
        if let Some(error) = &chunk.error {
            let message = error
                .0
                .as_ref()
                .and_then(|error| error.message.as_str())
                .unwrap_or("the provider failed")
                .to_owned();
            self.emit(
                out,
                "error",
                json!({ "code": "server_error", "message": message, "param": null }),
            );
            self.error = Some(json!({ "code": "server_error", "message": message }));
            return;
        }
        if let Some(usage) = &chunk.usage.0 {
            self.usage = Some(chat_usage(usage));
        }
        let Some(choice) = chunk.choices.0.and_then(|choice| choice.0) else {
            return;
        };
        if let Some(delta) = &choice.delta.0 {
            if let Some(text) = delta.content.as_str().filter(|text| !text.is_empty()) {
                self.text(text, out);
            }
            for call in delta.tool_calls.0.iter().filter_map(|call| call.0.as_ref()) {
                self.call(call, out);
            }
        }
        if let Some(reason) = choice.finish_reason.as_str() {
            self.finish = Some(reason.to_owned());
        }
    }

    /// Ends the response: every open item done, then `response.completed`
    /// (or `.incomplete`), or `response.failed` when the provider failed or
    /// stopped before it finished.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start(None, out);
        self.finished = true;
        for index in 0..self.items.len() {
            self.close(index, out);
        }
        let output: Vec<Value> = (0..self.items.len())
            .map(|index| self.item(index, "completed"))
            .collect();
        let failed = self.error.clone().or_else(|| {
            self.finish.is_none().then(|| {
                json!({ "code": "server_error", "message": "the provider's stream ended before the response was complete" })
            })
        });
        let kind = match (&failed, self.finish.as_deref()) {
            (Some(_), _) => "response.failed",
            (None, Some("length" | "content_filter")) => "response.incomplete",
            (None, _) => "response.completed",
        };
        let id = self.id.clone().unwrap_or_default();
        let response = response(&Done {
            id: &id,
            model: &self.model,
            created: self.created,
            output,
            finish: self.finish.as_deref(),
            usage: self.usage.as_ref(),
            failed,
        });
        self.emit(out, kind, json!({ "response": response }));
    }

    /// `response.created` and `.in_progress`, before anything else.
    fn start(&mut self, chat_id: Option<&str>, out: &mut Vec<u8>) {
        if self.id.is_some() {
            return;
        }
        let id = response_id(chat_id);
        let response = shell(&id, &self.model, self.created, "in_progress");
        self.id = Some(id);
        self.emit(out, "response.created", json!({ "response": response }));
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        let index = match self.message {
            Some(index) => index,
            None => {
                let index = self.items.len();
                let id = format!("msg_{}_{index}", self.response_id());
                self.items.push(Building::Message {
                    id: id.clone(),
                    text: String::new(),
                    done: false,
                });
                self.message = Some(index);
                let item = self.item(index, "in_progress");
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({ "output_index": index, "item": item }),
                );
                self.emit(out, "response.content_part.added", json!({
                    "item_id": id, "output_index": index, "content_index": 0, "part": text_part(""),
                }));
                index
            }
        };
        if let Some(Building::Message {
            id, text: so_far, ..
        }) = self.items.get_mut(index)
        {
            so_far.push_str(text);
            // The most frequent event, written without building a tree.
            let delta = TextDelta {
                kind: "response.output_text.delta",
                sequence_number: self.sequence,
                item_id: id,
                output_index: index,
                content_index: 0,
                delta: text,
                logprobs: [],
            };
            write_event(out, delta.kind, &delta);
            self.sequence += 1;
        }
    }

    fn call(&mut self, call: &OpenAiToolCall, out: &mut Vec<u8>) {
        let chat_index = call.index.as_u64().unwrap_or(0);
        let function = call.function.0.as_ref();
        let index = match self.calls.get(&chat_index) {
            Some(index) => *index,
            None => {
                // A call after text: the message is complete.
                if let Some(message) = self.message.take() {
                    self.close(message, out);
                }
                let index = self.items.len();
                let call_id = call.id.as_str().unwrap_or_default().to_owned();
                let name = function
                    .and_then(|function| function.name.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let id = format!("fc_{}_{index}", self.response_id());
                self.items.push(Building::Call {
                    id,
                    call_id,
                    name,
                    arguments: String::new(),
                    done: false,
                });
                self.calls.insert(chat_index, index);
                let item = self.item(index, "in_progress");
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({ "output_index": index, "item": item }),
                );
                index
            }
        };
        let Some(piece) = function
            .and_then(|function| function.arguments.as_str())
            .filter(|piece| !piece.is_empty())
        else {
            return;
        };
        let custom = self.is_custom(index);
        if let Some(Building::Call { id, arguments, .. }) = self.items.get_mut(index) {
            arguments.push_str(piece);
            // A custom tool's input is known once its arguments are whole.
            if !custom {
                let delta = ArgumentsDelta {
                    kind: "response.function_call_arguments.delta",
                    sequence_number: self.sequence,
                    item_id: id,
                    output_index: index,
                    delta: piece,
                };
                write_event(out, delta.kind, &delta);
                self.sequence += 1;
            }
        }
    }

    /// The `….done` events of an item, once.
    fn close(&mut self, index: usize, out: &mut Vec<u8>) {
        let custom = self.is_custom(index);
        let (id, closing) = match self.items.get_mut(index) {
            Some(Building::Message {
                id,
                text,
                done: done @ false,
            }) => {
                *done = true;
                (id.clone(), Closing::Text(text.clone()))
            }
            Some(Building::Call {
                id,
                arguments,
                done: done @ false,
                ..
            }) => {
                *done = true;
                (id.clone(), Closing::Call(arguments.clone()))
            }
            _ => return,
        };
        match closing {
            Closing::Text(text) => {
                self.emit(out, "response.output_text.done", json!({
                    "item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": [],
                }));
                self.emit(out, "response.content_part.done", json!({
                    "item_id": id, "output_index": index, "content_index": 0, "part": text_part(&text),
                }));
            }
            Closing::Call(arguments) if custom => {
                let input = custom_input(&arguments);
                self.emit(
                    out,
                    "response.custom_tool_call_input.delta",
                    json!({
                        "item_id": id, "output_index": index, "delta": input,
                    }),
                );
                self.emit(
                    out,
                    "response.custom_tool_call_input.done",
                    json!({
                        "item_id": id, "output_index": index, "input": input,
                    }),
                );
            }
            Closing::Call(arguments) => {
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({
                        "item_id": id, "output_index": index, "arguments": arguments,
                    }),
                );
            }
        }
        let item = self.item(index, "completed");
        self.emit(
            out,
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
    }

    fn is_custom(&self, index: usize) -> bool {
        matches!(self.items.get(index), Some(Building::Call { name, .. }) if self.custom_tools.contains(name))
    }

    fn item(&self, index: usize, status: &str) -> Value {
        match self.items.get(index) {
            Some(Building::Message { id, text, .. }) => {
                let content = if status == "in_progress" {
                    Vec::new()
                } else {
                    vec![text_part(text)]
                };
                message_item(id, content, status)
            }
            Some(Building::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            }) => {
                let arguments = if status == "in_progress" {
                    ""
                } else {
                    arguments
                };
                call_item(id, call_id, name, arguments, &self.custom_tools, status)
            }
            None => Value::Null,
        }
    }

    fn response_id(&self) -> String {
        self.id
            .as_deref()
            .unwrap_or("resp_tollgate")
            .trim_start_matches("resp_")
            .to_owned()
    }

    /// One event: `event:` names its type, `data:` carries it with its
    /// number.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        if let Value::Object(fields) = &mut data {
            fields.insert("type".to_owned(), Value::String(kind.to_owned()));
            fields.insert("sequence_number".to_owned(), json!(self.sequence));
        }
        self.sequence += 1;
        write_event(out, kind, &data);
    }
}

/// `event: <kind>` and `data: <data>`, then the blank line.
fn write_event(out: &mut Vec<u8>, kind: &str, data: &impl Serialize) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u8,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct ArgumentsDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

/// A stream chunk's usage as chat reports it (turned into the Responses
/// API's terms with the rest of the response, at the end).
fn chat_usage(counts: &OpenAiCounts) -> Value {
    let count = |value: &Json| value.as_i64().unwrap_or(0);
    let cached = counts
        .prompt_tokens_details
        .0
        .as_ref()
        .map_or(0, |details| count(&details.cached_tokens));
    let reasoning = counts
        .completion_tokens_details
        .0
        .as_ref()
        .map_or(0, |details| count(&details.reasoning_tokens));
    json!({
        "prompt_tokens": count(&counts.prompt_tokens),
        "completion_tokens": count(&counts.completion_tokens),
        "prompt_tokens_details": { "cached_tokens": cached },
        "completion_tokens_details": { "reasoning_tokens": reasoning },
    })
}

/// What an item's closing events carry.
enum Closing {
    Text(String),
    Call(String),
}
