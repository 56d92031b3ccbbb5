//! Google's Gemini API (`generateContent` and `streamGenerateContent` of
//! v1beta) through the hub, chat completions: a Gemini request as a chat
//! request and a chat request as a Gemini one, a Gemini answer (JSON or
//! stream) as a chat answer and the reverse. So a Gemini client can call
//! any model, and any client a model of a Gemini provider.
//!
//! Gemini reads request fields in lowerCamelCase or snake_case (Google's
//! own REST examples use both), so requests are read in either and a
//! refusal names the field as the client wrote it; what is written goes
//! out in lowerCamelCase, as Gemini writes it. What the other side cannot
//! express is refused naming the field, or dropped on purpose where the
//! answer does not depend on it (safety settings, labels, earlier
//! reasoning and its signatures).

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    Result, Unexpressible,
    chunk::{OpenAiChunk, OpenAiCounts, OpenAiToolCall},
    plain_text,
    wire::{self, First, Json, List, Object},
};

/// Gemini request fields dropped on purpose: safety thresholds have no
/// chat counterpart (a chat provider applies its own), labels only tag
/// Google's billing.
const GEMINI_DROPPED: [&str; 2] = ["safetySettings", "labels"];

/// `generationConfig` fields dropped on purpose: they tune sampling or
/// what Gemini reports, never what the answer says.
const GENERATION_DROPPED: [&str; 5] = [
    "topK",
    "logprobs",
    "mediaResolution",
    "enableEnhancedCivicAnswers",
    "audioTimestamp",
];

/// Part fields that say something about a part's data rather than carry
/// any: a thought's signature can only be checked by Google, and the rest
/// tune how Gemini reads media.
const PART_METADATA: [&str; 5] = [
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "mediaResolution",
    "partMetadata",
];

/// Chat request fields dropped on purpose: they tune sampling, storage or
/// the stream's usage report (Gemini always reports it), never what the
/// answer says.
const CHAT_DROPPED: [&str; 9] = [
    "stream_options",
    "parallel_tool_calls",
    "user",
    "store",
    "metadata",
    "logit_bias",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// The thought signature Gemini documents for function calls it did not
/// make itself: Gemini 3 refuses a call in the history without one, and a
/// chat conversation keeps none.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// A refusal whose message starts with the field it names.
fn refuse(param: impl Into<String>, why: impl std::fmt::Display) -> Unexpressible {
    let param = param.into();
    let message = format!("{param}: {why}");
    Unexpressible::new(param, message)
}

/// A Gemini field name in lowerCamelCase, however the client wrote it.
fn camel(key: &str) -> Cow<'_, str> {
    if !key.contains('_') {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A field of a Gemini object by its lowerCamelCase name, with the name the
/// client wrote it under; a `null` field is absent, as in Gemini.
fn field<'a>(value: &'a Value, name: &str) -> Option<(&'a str, &'a Value)> {
    value
        .as_object()?
        .iter()
        .find(|(key, value)| !value.is_null() && camel(key) == name)
        .map(|(key, value)| (key.as_str(), value))
}

fn field_str<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    field(value, name).and_then(|(_, value)| value.as_str())
}

/// A repeated field: an array, or one element given bare (as some of
/// Google's REST examples write `parts`); `None` for any other kind of
/// value.
fn list(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(_) => Some(std::slice::from_ref(value)),
        Value::Null => Some(&[]),
        _ => None,
    }
}

/// Tool-call arguments as the object Gemini wants; blank reads as `{}`.
fn arguments_object(arguments: &str) -> Option<Map<String, Value>> {
    if arguments.trim().is_empty() {
        return Some(Map::new());
    }
    match serde_json::from_str(arguments) {
        Ok(Value::Object(args)) => Some(args),
        _ => None,
    }
}

// ---- Gemini request → chat --------------------------------------------

/// A Gemini request (with the `model` and `stream` fields Tollgate's
/// endpoint put there from the URL) as a chat completions request.
pub fn request_to_chat(body: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut chat = Map::new();
    let mut system = String::new();
    let mut contents = None;
    let mut tools = Vec::new();
    let mut tool_config = None;
    let mut stream = false;
    for (key, value) in body {
        let name = camel(&key).into_owned();
        match name.as_str() {
            "model" => {
                chat.insert(name, value);
            }
            "stream" => {
                stream = value.as_bool() == Some(true);
                chat.insert(name, value);
            }
            "systemInstruction" => system = system_text(&key, &value)?,
            "contents" => contents = Some((key, value)),
            "tools" => tools = tools_to_chat(&key, &value)?,
            "toolConfig" => tool_config = Some((key, value)),
            "generationConfig" => generation_to_chat(&key, &value, &mut chat)?,
            "cachedContent" => {
                return Err(refuse(
                    key,
                    "a context cached at Google cannot be read by another provider; send the content itself",
                ));
            }
            dropped if GEMINI_DROPPED.contains(&dropped) => {}
            _ => {
                return Err(refuse(
                    key,
                    "cannot be sent to a model whose provider speaks chat completions",
                ));
            }
        }
    }
    let mut messages = Vec::new();
    if !system.is_empty() {
        messages.push(json!({ "role": "system", "content": system }));
    }
    if let Some((key, contents)) = &contents {
        contents_to_chat(key, contents, &mut messages)?;
    }
    chat.insert("messages".to_owned(), Value::Array(messages));
    let choice = match &tool_config {
        Some((key, config)) => tool_config_to_chat(key, config, &mut tools)?,
        None => None,
    };
    // Chat refuses a tool choice without tools.
    if !tools.is_empty() {
        chat.insert("tools".to_owned(), Value::Array(tools));
        if let Some(choice) = choice {
            chat.insert("tool_choice".to_owned(), choice);
        }
    }
    if stream {
        chat.insert(
            "stream_options".to_owned(),
            json!({ "include_usage": true }),
        );
    }
    Ok(chat)
}

/// `systemInstruction`, a content of text parts or a string: its text,
/// parts joined by blank lines.
fn system_text(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Object(_) => {
            let Some((parts_key, parts)) = field(value, "parts") else {
                return Ok(String::new());
            };
            let parts = list(parts)
                .ok_or_else(|| refuse(format!("{key}.{parts_key}"), "must be an array of parts"))?;
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match read_part(part, &format!("{key}.{parts_key}[{j}]"))? {
                    Some((
                        _,
                        Part::Text {
                            text,
                            thought: false,
                        },
                    )) => texts.push(text),
                    Some((_, Part::Text { thought: true, .. })) | None => {}
                    Some((at, _)) => {
                        return Err(refuse(at, "only text can go in the system instruction"));
                    }
                }
            }
            Ok(texts.join("\n\n"))
        }
        _ => Err(refuse(key, "must be a content of text parts")),
    }
}

/// What a part carries, read from whichever of its fields holds data.
enum Part<'a> {
    Text {
        text: &'a str,
        thought: bool,
    },
    /// An image, as a `data:` URL.
    Image(String),
    Call {
        id: Option<&'a str>,
        name: &'a str,
        arguments: String,
    },
    Response {
        id: Option<&'a str>,
        name: &'a str,
        content: String,
    },
}

/// A part and the path of its data field; `None` for a part with no data
/// (a signature alone, as Gemini streams it).
fn read_part<'a>(part: &'a Value, at: &str) -> Result<Option<(String, Part<'a>)>> {
    let Some(fields) = part.as_object() else {
        return Err(refuse(at, "must be an object"));
    };
    let thought = field(part, "thought").is_some_and(|(_, thought)| thought == &Value::Bool(true));
    let mut read = None;
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        let name = camel(key);
        if PART_METADATA.contains(&name.as_ref()) {
            continue;
        }
        let at = format!("{at}.{key}");
        let part = match name.as_ref() {
            "text" => Part::Text {
                text: value.as_str().ok_or_else(|| refuse(&at, "must be text"))?,
                thought,
            },
            "inlineData" => Part::Image(image_url(&at, value)?),
            "functionCall" => {
                let (id, name) = call_head(&at, value)?;
                let arguments = match field(value, "args") {
                    None => "{}".to_owned(),
                    Some((_, args @ Value::Object(_))) => args.to_string(),
                    Some((args_key, _)) => {
                        return Err(refuse(format!("{at}.{args_key}"), "must be an object"));
                    }
                };
                Part::Call {
                    id,
                    name,
                    arguments,
                }
            }
            "functionResponse" => {
                let (id, name) = call_head(&at, value)?;
                if let Some((parts_key, _)) = field(value, "parts") {
                    return Err(refuse(
                        format!("{at}.{parts_key}"),
                        "a function's media cannot be sent to a chat completions model",
                    ));
                }
                Part::Response {
                    id,
                    name,
                    content: response_content(field(value, "response").map(|(_, r)| r)),
                }
            }
            "fileData" => {
                return Err(refuse(
                    at,
                    "a file stored at Google cannot be read by a chat completions model; send its bytes as inlineData",
                ));
            }
            "executableCode" | "codeExecutionResult" => {
                return Err(refuse(
                    at,
                    "code execution runs at Google; a chat completions model has none",
                ));
            }
            _ => {
                return Err(refuse(at, "cannot be sent to a chat completions model"));
            }
        };
        read = Some((at, part));
    }
    Ok(read)
}

/// A function call's or response's `id` (if any) and `name`.
fn call_head<'a>(at: &str, value: &'a Value) -> Result<(Option<&'a str>, &'a str)> {
    let name = field_str(value, "name")
        .ok_or_else(|| refuse(format!("{at}.name"), "the function's name is required"))?;
    let id = field_str(value, "id").filter(|id| !id.is_empty());
    Ok((id, name))
}

/// A function's response as a tool message's text: the JSON it is, or the
/// bare text when it is only the `{"result": text}` a chat tool message
/// becomes on the way to Gemini.
fn response_content(response: Option<&Value>) -> String {
    let Some(response) = response else {
        return "{}".to_owned();
    };
    if let Some(fields) = response.as_object()
        && fields.len() == 1
        && let Some(Value::String(text)) = fields.get("result")
    {
        return text.clone();
    }
    response.to_string()
}

fn image_url(at: &str, inline: &Value) -> Result<String> {
    let mime = field_str(inline, "mimeType").unwrap_or_default();
    if !mime.starts_with("image/") {
        return Err(refuse(
            at,
            format!("only images can be sent to a chat completions model, not `{mime}`"),
        ));
    }
    let data = field_str(inline, "data")
        .ok_or_else(|| refuse(format!("{at}.data"), "the image's base64 data is required"))?;
    Ok(format!("data:{mime};base64,{data}"))
}

/// The calls of a conversation so far, to give each function response the
/// id of the call it answers.
#[derive(Default)]
struct Calls {
    /// Id, name and whether answered, in order.
    made: Vec<(String, String, bool)>,
}

impl Calls {
    /// Records a call; its id, generated when Gemini gave none.
    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id.map_or_else(|| format!("call_{}", self.made.len()), str::to_owned);
        self.made.push((id.clone(), name.to_owned(), false));
        id
    }

    /// The id of the call a response answers: its own, else the first
    /// unanswered call of that name (Gemini answers parallel calls in
    /// order), else the latest of that name.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let index = match id {
            Some(id) => {
                if let Some(call) = self.made.iter_mut().rev().find(|call| call.0 == id) {
                    call.2 = true;
                }
                return Some(id.to_owned());
            }
            None => self
                .made
                .iter()
                .position(|call| call.1 == name && !call.2)
                .or_else(|| self.made.iter().rposition(|call| call.1 == name))?,
        };
        let call = self.made.get_mut(index)?;
        call.2 = true;
        Some(call.0.clone())
    }
}

fn contents_to_chat(key: &str, contents: &Value, messages: &mut Vec<Value>) -> Result<()> {
    let contents = list(contents).ok_or_else(|| refuse(key, "must be an array of contents"))?;
    let mut calls = Calls::default();
    for (i, content) in contents.iter().enumerate() {
        let at = format!("{key}[{i}]");
        if !content.is_object() {
            return Err(refuse(at, "must be an object"));
        }
        let model = match field(content, "role") {
            None => false,
            Some((_, Value::String(role))) if matches!(role.as_str(), "user" | "" | "function") => {
                false
            }
            Some((_, Value::String(role))) if role == "model" => true,
            Some((role_key, _)) => {
                return Err(refuse(format!("{at}.{role_key}"), "must be user or model"));
            }
        };
        let Some((parts_key, parts)) = field(content, "parts") else {
            continue;
        };
        let at = format!("{at}.{parts_key}");
        let parts = list(parts).ok_or_else(|| refuse(&at, "must be an array of parts"))?;
        if model {
            model_turn(&at, parts, &mut calls, messages)?;
        } else {
            user_turn(&at, parts, &mut calls, messages)?;
        }
    }
    Ok(())
}

/// A user turn: its function responses as tool messages (chat wants them
/// right after the calls), then its text and images as one user message.
fn user_turn(
    at: &str,
    parts: &[Value],
    calls: &mut Calls,
    messages: &mut Vec<Value>,
) -> Result<()> {
    let mut content = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let Some((at, part)) = read_part(part, &format!("{at}[{j}]"))? else {
            continue;
        };
        match part {
            Part::Text { text, thought } => {
                if !thought && !text.is_empty() {
                    content.push(json!({ "type": "text", "text": text }));
                }
            }
            Part::Image(url) => {
                content.push(json!({ "type": "image_url", "image_url": { "url": url } }));
            }
            Part::Response {
                id,
                name,
                content: response,
            } => {
                let id = calls.answer(id, name).ok_or_else(|| {
                    refuse(
                        format!("{at}.name"),
                        format!(
                            "no earlier functionCall named `{name}` for this response to answer"
                        ),
                    )
                })?;
                messages.push(json!({ "role": "tool", "tool_call_id": id, "content": response }));
            }
            Part::Call { .. } => {
                return Err(refuse(at, "only a model turn can call a function"));
            }
        }
    }
    if content.is_empty() {
        return Ok(());
    }
    // Text alone goes as a plain string, which every chat server reads.
    let content = if content.iter().all(|part| part["type"] == "text") {
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect();
        Value::String(texts.join("\n\n"))
    } else {
        Value::Array(content)
    };
    messages.push(json!({ "role": "user", "content": content }));
    Ok(())
}

/// A model turn as an assistant message: its text (its thoughts dropped,
/// chat takes no earlier reasoning) and its calls.
fn model_turn(
    at: &str,
    parts: &[Value],
    calls: &mut Calls,
    messages: &mut Vec<Value>,
) -> Result<()> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let Some((at, part)) = read_part(part, &format!("{at}[{j}]"))? else {
            continue;
        };
        match part {
            Part::Text {
                text: piece,
                thought,
            } => {
                if !thought {
                    text.push_str(piece);
                }
            }
            Part::Call {
                id,
                name,
                arguments,
            } => {
                let id = calls.call(id, name);
                tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": { "name": name, "arguments": arguments },
                }));
            }
            Part::Image(_) => {
                return Err(refuse(
                    at,
                    "a model's own images cannot be sent to a chat completions model",
                ));
            }
            Part::Response { .. } => {
                return Err(refuse(at, "a function's response belongs in a user turn"));
            }
        }
    }
    if tool_calls.is_empty() {
        if !text.is_empty() {
            messages.push(json!({ "role": "assistant", "content": text }));
        }
        return Ok(());
    }
    let content = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    messages.push(json!({ "role": "assistant", "content": content, "tool_calls": tool_calls }));
    Ok(())
}

/// Gemini's function declarations as chat function tools; any other tool
/// runs at Google and is refused.
fn tools_to_chat(key: &str, tools: &Value) -> Result<Vec<Value>> {
    let tools = list(tools).ok_or_else(|| refuse(key, "must be an array of tools"))?;
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Some(fields) = tool.as_object() else {
            return Err(refuse(at, "must be an object"));
        };
        for (kind, value) in fields {
            if value.is_null() {
                continue;
            }
            let at = format!("{at}.{kind}");
            if camel(kind) != "functionDeclarations" {
                return Err(refuse(
                    at,
                    "this tool runs at Google; a chat completions model has no such tool",
                ));
            }
            let declarations = list(value)
                .ok_or_else(|| refuse(&at, "must be an array of function declarations"))?;
            for (j, declaration) in declarations.iter().enumerate() {
                out.push(declaration_to_chat(&format!("{at}[{j}]"), declaration)?);
            }
        }
    }
    Ok(out)
}

fn declaration_to_chat(at: &str, declaration: &Value) -> Result<Value> {
    let name = field_str(declaration, "name")
        .ok_or_else(|| refuse(format!("{at}.name"), "the function's name is required"))?;
    let mut function = Map::new();
    function.insert("name".to_owned(), Value::String(name.to_owned()));
    if let Some(description) = field_str(declaration, "description") {
        function.insert(
            "description".to_owned(),
            Value::String(description.to_owned()),
        );
    }
    let parameters = match field(declaration, "parametersJsonSchema") {
        Some((_, schema)) => Some(schema.clone()),
        None => field(declaration, "parameters").map(|(_, schema)| json_schema(schema)),
    };
    if let Some(parameters) = parameters {
        function.insert("parameters".to_owned(), parameters);
    }
    Ok(json!({ "type": "function", "function": function }))
}

/// A Gemini `Schema` (OpenAPI's subset, whose types Google's examples write
/// in capitals and whose `nullable` JSON Schema lacks) as the JSON Schema
/// chat takes.
fn json_schema(schema: &Value) -> Value {
    let Some(fields) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in fields {
        let key = camel(key).into_owned();
        let value = match key.as_str() {
            "type" => match value.as_str() {
                Some("TYPE_UNSPECIFIED") => continue,
                Some(kind) => Value::String(kind.to_ascii_lowercase()),
                None => value.clone(),
            },
            "nullable" => {
                nullable = value == &Value::Bool(true);
                continue;
            }
            // Gemini's own: the order it writes properties in.
            "propertyOrdering" => continue,
            "properties" => match value.as_object() {
                Some(properties) => Value::Object(
                    properties
                        .iter()
                        .map(|(name, schema)| (name.clone(), json_schema(schema)))
                        .collect(),
                ),
                None => value.clone(),
            },
            "items" => json_schema(value),
            "anyOf" => match value.as_array() {
                Some(schemas) => schemas.iter().map(json_schema).collect(),
                None => value.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key, value);
    }
    if nullable {
        if let Some(Value::String(kind)) = out.get("type") {
            let kinds = json!([kind, "null"]);
            out.insert("type".to_owned(), kinds);
        }
        // An enum takes only its values: null must be one of them.
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    Value::Object(out)
}

/// `toolConfig.functionCallingConfig` as chat's `tool_choice`. Gemini's
/// allowed names become the named function when there is one, else the
/// only tools offered: the same choice.
fn tool_config_to_chat(key: &str, config: &Value, tools: &mut Vec<Value>) -> Result<Option<Value>> {
    let Some(fields) = config.as_object() else {
        return Err(refuse(key, "must be an object"));
    };
    let mut choice = None;
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        let at = format!("{key}.{name}");
        match camel(name).as_ref() {
            "functionCallingConfig" => choice = Some(function_calling(&at, value, tools)?),
            // For Google's own grounding tools, refused above.
            "retrievalConfig" => {}
            _ => return Err(refuse(at, "cannot be sent to a chat completions model")),
        }
    }
    Ok(choice)
}

fn function_calling(at: &str, config: &Value, tools: &mut Vec<Value>) -> Result<Value> {
    let mode = match field(config, "mode") {
        None => "AUTO".to_owned(),
        Some((_, Value::String(mode))) => mode.to_ascii_uppercase(),
        Some((mode_key, _)) => {
            return Err(refuse(
                format!("{at}.{mode_key}"),
                "must be AUTO, ANY, NONE or VALIDATED",
            ));
        }
    };
    let names: Vec<&str> = field(config, "allowedFunctionNames")
        .and_then(|(_, names)| names.as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut keep_allowed = || {
        if !names.is_empty() {
            tools.retain(|tool| {
                tool.pointer("/function/name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| names.contains(&name))
            });
        }
    };
    Ok(match mode.as_str() {
        "AUTO" | "MODE_UNSPECIFIED" | "" => json!("auto"),
        "NONE" => json!("none"),
        "ANY" => match names.as_slice() {
            [name] => json!({ "type": "function", "function": { "name": name } }),
            _ => {
                keep_allowed();
                json!("required")
            }
        },
        // Calls checked against their schema, which chat leaves to the
        // provider: otherwise as AUTO.
        "VALIDATED" => {
            keep_allowed();
            json!("auto")
        }
        _ => {
            let mode_key = field(config, "mode").map_or("mode", |(key, _)| key);
            return Err(refuse(
                format!("{at}.{mode_key}"),
                "must be AUTO, ANY, NONE or VALIDATED",
            ));
        }
    })
}

/// `generationConfig` into the chat request's own fields.
fn generation_to_chat(key: &str, config: &Value, chat: &mut Map<String, Value>) -> Result<()> {
    let fields = match config {
        Value::Object(fields) => fields,
        Value::Null => return Ok(()),
        _ => return Err(refuse(key, "must be an object")),
    };
    let mut mime = None;
    let mut schema = None;
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        let at = format!("{key}.{name}");
        let name = camel(name);
        let same = |chat_name: &str, chat: &mut Map<String, Value>| {
            chat.insert(chat_name.to_owned(), value.clone());
        };
        match name.as_ref() {
            "maxOutputTokens" => same("max_completion_tokens", chat),
            "temperature" => same("temperature", chat),
            "topP" => same("top_p", chat),
            "stopSequences" => same("stop", chat),
            "seed" => same("seed", chat),
            "presencePenalty" => same("presence_penalty", chat),
            "frequencyPenalty" => same("frequency_penalty", chat),
            "responseMimeType" => mime = Some((at, value.as_str().unwrap_or_default())),
            "responseSchema" => schema = Some((at, json_schema(value))),
            "responseJsonSchema" => schema = Some((at, value.clone())),
            "thinkingConfig" => {
                if let Some(effort) = reasoning_effort(&at, value)? {
                    chat.insert("reasoning_effort".to_owned(), json!(effort));
                }
            }
            "candidateCount" if value.as_u64().is_none_or(|count| count <= 1) => {}
            "candidateCount" => {
                return Err(refuse(
                    at,
                    "a chat completions model answers with one candidate",
                ));
            }
            "responseLogprobs" if value != &Value::Bool(true) => {}
            "responseModalities" if text_only(value) => {}
            dropped if GENERATION_DROPPED.contains(&dropped) => {}
            _ => return Err(refuse(at, "cannot be sent to a chat completions model")),
        }
    }
    let format = match (mime, schema) {
        (Some((_, "application/json")), None) => Some(json!({ "type": "json_object" })),
        (Some((_, "application/json")), Some((_, schema))) => Some(json!({
            "type": "json_schema",
            "json_schema": { "name": "response", "schema": schema },
        })),
        (Some((_, "text/plain" | "")) | None, None) => None,
        (Some((_, "text/plain" | "")) | None, Some((at, _))) => {
            return Err(refuse(
                at,
                "a response schema needs the responseMimeType application/json",
            ));
        }
        (Some((at, _)), _) => {
            return Err(refuse(
                at,
                "a chat completions model answers in text/plain or application/json only",
            ));
        }
    };
    if let Some(format) = format {
        chat.insert("response_format".to_owned(), format);
    }
    Ok(())
}

/// Whether `responseModalities` asks for text alone.
fn text_only(modalities: &Value) -> bool {
    modalities.as_array().is_some_and(|modalities| {
        modalities.iter().all(|modality| {
            modality
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("text"))
        })
    })
}

/// `thinkingConfig` as chat's `reasoning_effort`: a budget by its size
/// (-1, Gemini's "as much as needed", as high), Gemini 3's level by name.
fn reasoning_effort(at: &str, config: &Value) -> Result<Option<&'static str>> {
    if let Some((key, budget)) = field(config, "thinkingBudget") {
        let budget = budget
            .as_i64()
            .ok_or_else(|| refuse(format!("{at}.{key}"), "must be a whole number"))?;
        return Ok(Some(match budget {
            0 => "minimal",
            1..=2_048 => "low",
            2_049..=16_384 => "medium",
            _ => "high",
        }));
    }
    if let Some((key, level)) = field(config, "thinkingLevel") {
        let level = level.as_str().unwrap_or_default().to_ascii_lowercase();
        return match level.as_str() {
            "minimal" => Ok(Some("minimal")),
            "low" => Ok(Some("low")),
            "medium" => Ok(Some("medium")),
            "high" => Ok(Some("high")),
            "thinking_level_unspecified" => Ok(None),
            _ => Err(refuse(
                format!("{at}.{key}"),
                "must be MINIMAL, LOW, MEDIUM or HIGH",
            )),
        };
    }
    Ok(None)
}

// ---- chat request → Gemini --------------------------------------------

/// A chat completions request as a Gemini `GenerateContentRequest` body,
/// without `model` and `stream` (Gemini takes them in the URL).
pub fn request_from_chat(chat: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut generation = Map::new();
    let mut messages = Value::Null;
    let mut tools = Value::Null;
    let mut tool_choice = Value::Null;
    let mut cap = None;
    for (key, value) in chat {
        // Unset, as chat reads it.
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "stream" => {}
            "messages" => messages = value,
            "tools" => tools = value,
            "tool_choice" => tool_choice = value,
            // The newer name wins over the older, as at OpenAI.
            "max_completion_tokens" => cap = Some(value),
            "max_tokens" => {
                cap.get_or_insert(value);
            }
            "temperature" | "seed" => {
                generation.insert(key, value);
            }
            "top_p" => {
                generation.insert("topP".to_owned(), value);
            }
            "presence_penalty" => {
                generation.insert("presencePenalty".to_owned(), value);
            }
            "frequency_penalty" => {
                generation.insert("frequencyPenalty".to_owned(), value);
            }
            "stop" => {
                let stops = match value {
                    Value::String(stop) => json!([stop]),
                    stops => stops,
                };
                generation.insert("stopSequences".to_owned(), stops);
            }
            "response_format" => response_format_to_gemini(&value, &mut generation)?,
            "reasoning_effort" => {
                generation.insert("thinkingConfig".to_owned(), thinking_config(&value)?);
            }
            "n" if value.as_u64() == Some(1) => {}
            "logprobs" if value != Value::Bool(true) => {}
            "modalities" if text_only(&value) => {}
            dropped if CHAT_DROPPED.contains(&dropped) => {}
            _ => {
                return Err(refuse(
                    key,
                    "cannot be sent to a model of a Gemini provider",
                ));
            }
        }
    }
    if let Some(cap) = cap {
        generation.insert("maxOutputTokens".to_owned(), cap);
    }
    let mut out = Map::new();
    let (system, contents) = messages_to_gemini(&messages)?;
    out.insert("contents".to_owned(), Value::Array(contents));
    if !system.is_empty() {
        out.insert(
            "systemInstruction".to_owned(),
            json!({ "parts": [{ "text": system.join("\n\n") }] }),
        );
    }
    let declarations = tools_to_gemini(&tools)?;
    if !declarations.is_empty() {
        out.insert(
            "tools".to_owned(),
            json!([{ "functionDeclarations": declarations }]),
        );
        if !tool_choice.is_null() {
            out.insert(
                "toolConfig".to_owned(),
                json!({ "functionCallingConfig": tool_choice_to_gemini(&tool_choice)? }),
            );
        }
    }
    if !generation.is_empty() {
        out.insert("generationConfig".to_owned(), Value::Object(generation));
    }
    Ok(out)
}

fn response_format_to_gemini(format: &Value, generation: &mut Map<String, Value>) -> Result<()> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            generation.insert("responseMimeType".to_owned(), json!("application/json"));
        }
        Some("json_schema") => {
            generation.insert("responseMimeType".to_owned(), json!("application/json"));
            if let Some(schema) = format.pointer("/json_schema/schema") {
                generation.insert("responseJsonSchema".to_owned(), schema.clone());
            }
        }
        _ => {
            return Err(refuse(
                "response_format.type",
                "must be text, json_object or json_schema",
            ));
        }
    }
    Ok(())
}

/// `reasoning_effort` as a thinking budget, thoughts shown (chat streams
/// them as `reasoning_content`); `none` turns thinking off.
fn thinking_config(effort: &Value) -> Result<Value> {
    let budget = match effort.as_str() {
        Some("none") => return Ok(json!({ "thinkingBudget": 0 })),
        Some("minimal") => 512,
        Some("low") => 1_024,
        Some("medium") => 8_192,
        Some("high") => 24_576,
        _ => {
            return Err(refuse(
                "reasoning_effort",
                "must be none, minimal, low, medium or high",
            ));
        }
    };
    Ok(json!({ "thinkingBudget": budget, "includeThoughts": true }))
}

fn tools_to_gemini(tools: &Value) -> Result<Vec<Value>> {
    let tools = match tools {
        Value::Array(tools) => tools.as_slice(),
        Value::Null => &[],
        _ => return Err(refuse("tools", "must be an array of tools")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str);
        if kind != Some("function") {
            return Err(refuse(
                format!("tools[{i}].type"),
                format!(
                    "a `{}` tool cannot be offered to a model of a Gemini provider",
                    kind.unwrap_or("?")
                ),
            ));
        }
        let function = tool.get("function").unwrap_or(&Value::Null);
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                refuse(
                    format!("tools[{i}].function.name"),
                    "the function's name is required",
                )
            })?;
        let mut declaration = Map::new();
        declaration.insert("name".to_owned(), json!(name));
        if let Some(description) = function.get("description").filter(|d| !d.is_null()) {
            declaration.insert("description".to_owned(), description.clone());
        }
        if let Some(parameters) = function.get("parameters").filter(|p| !p.is_null()) {
            declaration.insert("parametersJsonSchema".to_owned(), parameters.clone());
        }
        out.push(Value::Object(declaration));
    }
    Ok(out)
}

fn tool_choice_to_gemini(choice: &Value) -> Result<Value> {
    let named = choice
        .get("type")
        .and_then(Value::as_str)
        .filter(|kind| *kind == "function")
        .and_then(|_| choice.pointer("/function/name"))
        .and_then(Value::as_str);
    match (choice.as_str(), named) {
        (Some("auto"), _) => Ok(json!({ "mode": "AUTO" })),
        (Some("none"), _) => Ok(json!({ "mode": "NONE" })),
        (Some("required"), _) => Ok(json!({ "mode": "ANY" })),
        (_, Some(name)) => Ok(json!({ "mode": "ANY", "allowedFunctionNames": [name] })),
        _ => Err(refuse(
            "tool_choice",
            "must be auto, none, required or a named function",
        )),
    }
}

/// The system text, and the conversation as Gemini contents: consecutive
/// turns of one role joined (tool results are a user turn at Gemini).
fn messages_to_gemini(messages: &Value) -> Result<(Vec<String>, Vec<Value>)> {
    let messages = match messages {
        Value::Array(messages) => messages.as_slice(),
        Value::Null => &[],
        _ => return Err(refuse("messages", "must be an array of messages")),
    };
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // The function name of each tool call id, for the results.
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let content = message.get("content").unwrap_or(&Value::Null);
        let (role, parts) = match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => {
                let text = plain_text(content, &format!("{at}.content"))?;
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Some("user") => ("user", user_parts(&at, content)?),
            Some("assistant") => ("model", model_parts(&at, message, &mut names)?),
            Some("tool") => ("user", vec![function_response(&at, message, &names)?]),
            _ => {
                return Err(refuse(
                    format!("{at}.role"),
                    "must be system, developer, user, assistant or tool",
                ));
            }
        };
        // Gemini refuses a content without parts.
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, so_far)) if *last == role => so_far.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect();
    Ok((system, contents))
}

/// `{ "inlineData": … }` from a `data:<mime>;base64,<data>` URL.
fn inline_data(url: &str) -> Option<Value> {
    let (mime, data) = url.strip_prefix("data:")?.split_once(";base64,")?;
    Some(json!({ "inlineData": { "mimeType": mime, "data": data } }))
}

/// A user's content as parts: text, and media given as base64 (Gemini
/// cannot fetch a URL).
fn user_parts(at: &str, content: &Value) -> Result<Vec<Value>> {
    let parts = match content {
        Value::String(text) if text.is_empty() => return Ok(Vec::new()),
        Value::String(text) => return Ok(vec![json!({ "text": text })]),
        Value::Null => return Ok(Vec::new()),
        Value::Array(parts) => parts,
        _ => {
            return Err(refuse(
                format!("{at}.content"),
                "must be a string or an array of parts",
            ));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = part
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|text| !text.is_empty())
                {
                    out.push(json!({ "text": text }));
                }
            }
            Some("image_url") => {
                let image = part.get("image_url").unwrap_or(&Value::Null);
                let url = image
                    .as_str()
                    .or_else(|| image.get("url").and_then(Value::as_str))
                    .unwrap_or_default();
                out.push(inline_data(url).ok_or_else(|| {
                    refuse(
                        format!("{at}.image_url"),
                        "a Gemini model takes images as base64 data URLs only",
                    )
                })?);
            }
            Some("input_audio") => {
                let audio = part.get("input_audio").unwrap_or(&Value::Null);
                let data = audio.get("data").and_then(Value::as_str).ok_or_else(|| {
                    refuse(
                        format!("{at}.input_audio.data"),
                        "the audio's base64 data is required",
                    )
                })?;
                let format = audio.get("format").and_then(Value::as_str).unwrap_or("wav");
                out.push(json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } }));
            }
            Some("file") => {
                let file = part
                    .pointer("/file/file_data")
                    .and_then(Value::as_str)
                    .and_then(inline_data)
                    .ok_or_else(|| {
                        refuse(
                            format!("{at}.file"),
                            "a Gemini model takes files as base64 data URLs in file_data only",
                        )
                    })?;
                out.push(file);
            }
            other => {
                return Err(refuse(
                    format!("{at}.type"),
                    format!(
                        "a `{}` part cannot be sent to a model of a Gemini provider",
                        other.unwrap_or("?")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// An assistant message as a model turn's parts: its text and its calls,
/// the first call signed so that Gemini 3 takes it.
fn model_parts(
    at: &str,
    message: &Value,
    names: &mut HashMap<String, String>,
) -> Result<Vec<Value>> {
    let mut parts = Vec::new();
    let content = message.get("content").unwrap_or(&Value::Null);
    let text = plain_text(content, &format!("{at}.content"))?;
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    }
    let calls = match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(refuse(format!("{at}.tool_calls"), "must be an array")),
    };
    for (j, call) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        if let Some(kind) = call
            .get("type")
            .and_then(Value::as_str)
            .filter(|kind| *kind != "function")
        {
            return Err(refuse(
                format!("{at}.type"),
                format!("a `{kind}` tool call cannot be sent to a model of a Gemini provider"),
            ));
        }
        let function = call.get("function").unwrap_or(&Value::Null);
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                refuse(
                    format!("{at}.function.name"),
                    "the function's name is required",
                )
            })?;
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let args = arguments_object(arguments)
            .ok_or_else(|| refuse(format!("{at}.function.arguments"), "must be a JSON object"))?;
        let mut function_call = Map::new();
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            function_call.insert("id".to_owned(), json!(id));
            names.insert(id.to_owned(), name.to_owned());
        }
        function_call.insert("name".to_owned(), json!(name));
        function_call.insert("args".to_owned(), Value::Object(args));
        let mut part = json!({ "functionCall": function_call });
        if j == 0 {
            part["thoughtSignature"] = json!(SKIP_SIGNATURE);
        }
        parts.push(part);
    }
    Ok(parts)
}

/// A tool message as a function response named after its call: the
/// content itself when it is a JSON object, else as `{"result": text}`
/// (Gemini takes an object).
fn function_response(at: &str, message: &Value, names: &HashMap<String, String>) -> Result<Value> {
    let id = message
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(format!("{at}.tool_call_id"), "required"))?;
    let name = names.get(id).ok_or_else(|| {
        refuse(
            format!("{at}.tool_call_id"),
            format!("no earlier tool call has the id `{id}`"),
        )
    })?;
    let content = message.get("content").unwrap_or(&Value::Null);
    let text = plain_text(content, &format!("{at}.content"))?;
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(response @ Value::Object(_)) => response,
        _ => json!({ "result": text }),
    };
    Ok(json!({ "functionResponse": { "id": id, "name": name, "response": response } }))
}

// ---- answers ------------------------------------------------------------

/// Gemini's `finishReason` as chat's `finish_reason`; a stop with calls
/// asks the client to run them.
fn finish_to_chat(reason: &str, called: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if called => "tool_calls",
        _ => "stop",
    }
}

/// Chat's `finish_reason` as Gemini's `finishReason` (Gemini stops to let
/// the client run calls).
fn finish_from_chat(reason: &str) -> &'static str {
    match reason {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "STOP",
    }
}

/// Gemini's counts; any figure may be anything, so the arithmetic on them
/// saturates.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct GeminiCounts {
    prompt: i64,
    /// Tool results Gemini fetched itself: input too.
    tool_use: i64,
    candidates: i64,
    thoughts: i64,
    cached: i64,
}

impl GeminiCounts {
    fn of(usage: Option<&Value>) -> Self {
        let count = |name: &str| {
            usage
                .and_then(|usage| usage.get(name))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        Self {
            prompt: count("promptTokenCount"),
            tool_use: count("toolUsePromptTokenCount"),
            candidates: count("candidatesTokenCount"),
            thoughts: count("thoughtsTokenCount"),
            cached: count("cachedContentTokenCount"),
        }
    }

    /// In chat's terms: thoughts are output, and cached input is input.
    fn to_chat(self) -> ChatUsage {
        let prompt = self.prompt.saturating_add(self.tool_use);
        let completion = self.candidates.saturating_add(self.thoughts);
        ChatUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: CachedTokens {
                cached_tokens: self.cached,
            },
            completion_tokens_details: ReasoningTokens {
                reasoning_tokens: self.thoughts,
            },
        }
    }
}

/// Chat's `usage`, as the answer and the stream write it.
#[derive(Debug, Clone, Copy, Serialize)]
struct ChatUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: CachedTokens,
    completion_tokens_details: ReasoningTokens,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct CachedTokens {
    cached_tokens: i64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct ReasoningTokens {
    reasoning_tokens: i64,
}

/// Chat's counts, where `completion` includes the `reasoning` tokens and
/// `prompt` the `cached` ones.
#[derive(Debug, Default, Clone, Copy)]
struct ChatCounts {
    prompt: i64,
    completion: i64,
    cached: i64,
    reasoning: i64,
}

impl ChatCounts {
    fn of(usage: Option<&Value>) -> Self {
        let count = |pointer: &str| {
            usage
                .and_then(|usage| usage.pointer(pointer))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        Self {
            prompt: count("/prompt_tokens"),
            completion: count("/completion_tokens"),
            cached: count("/prompt_tokens_details/cached_tokens"),
            reasoning: count("/completion_tokens_details/reasoning_tokens"),
        }
    }

    fn of_chunk(counts: &OpenAiCounts) -> Self {
        let count = |value: &Json| value.as_i64().unwrap_or(0);
        Self {
            prompt: count(&counts.prompt_tokens),
            completion: count(&counts.completion_tokens),
            cached: counts
                .prompt_tokens_details
                .0
                .as_ref()
                .map_or(0, |details| count(&details.cached_tokens)),
            reasoning: counts
                .completion_tokens_details
                .0
                .as_ref()
                .map_or(0, |details| count(&details.reasoning_tokens)),
        }
    }

    /// In Gemini's terms: thoughts apart from the candidates.
    fn to_gemini(self) -> UsageMetadata {
        let thoughts = self.reasoning.clamp(0, self.completion.max(0));
        UsageMetadata {
            prompt_token_count: self.prompt,
            candidates_token_count: self.completion.saturating_sub(thoughts),
            thoughts_token_count: thoughts,
            cached_content_token_count: self.cached,
            total_token_count: self.prompt.saturating_add(self.completion),
        }
    }
}

/// Gemini's `usageMetadata`, as the answer and the stream write it.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: i64,
    candidates_token_count: i64,
    #[serde(skip_serializing_if = "not_positive")]
    thoughts_token_count: i64,
    #[serde(skip_serializing_if = "not_positive")]
    cached_content_token_count: i64,
    total_token_count: i64,
}

fn not_positive(count: &i64) -> bool {
    *count <= 0
}

/// A Gemini `GenerateContentResponse` as a chat completion, `created` at
/// that Unix time. `None` when it is not a Gemini answer.
pub fn answer_to_chat(answer: &Value, model: &str, created: i64) -> Option<Value> {
    answer.as_object()?;
    let candidates = answer
        .get("candidates")
        .and_then(Value::as_array)
        .filter(|candidates| !candidates.is_empty());
    let feedback = answer.get("promptFeedback").filter(|f| !f.is_null());
    let choices: Vec<Value> = match (candidates, feedback) {
        (Some(candidates), _) => candidates
            .iter()
            .enumerate()
            .map(|(index, candidate)| choice_to_chat(index, candidate))
            .collect(),
        // The prompt itself was blocked: nothing was generated.
        (None, Some(feedback)) => {
            let blocked = feedback.get("blockReason").is_some_and(|r| !r.is_null());
            vec![json!({
                "index": 0,
                "message": { "role": "assistant", "content": "" },
                "finish_reason": if blocked { "content_filter" } else { "stop" },
                "logprobs": null,
            })]
        }
        (None, None) => return None,
    };
    let usage = GeminiCounts::of(answer.get("usageMetadata")).to_chat();
    Some(json!({
        "id": chat_id(answer.get("responseId").and_then(Value::as_str), created),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": serde_json::to_value(usage).unwrap_or_default(),
    }))
}

/// `chatcmpl-` and Gemini's response id, or a fixed one when it gave none.
fn chat_id(response_id: Option<&str>, created: i64) -> String {
    match response_id {
        Some(id) => format!("chatcmpl-{id}"),
        None => format!("chatcmpl-tollgate-{created}"),
    }
}

fn choice_to_chat(index: usize, candidate: &Value) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let parts = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        if let Some(call) = part.get("functionCall") {
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{}", calls.len()), str::to_owned);
            let arguments = call
                .get("args")
                .filter(|args| !args.is_null())
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            calls.push(json!({
                "id": id,
                "type": "function",
                "function": {
                    "name": call.get("name").and_then(Value::as_str).unwrap_or_default(),
                    "arguments": arguments,
                },
            }));
        } else if let Some(piece) = part.get("text").and_then(Value::as_str) {
            if part.get("thought") == Some(&Value::Bool(true)) {
                reasoning.push_str(piece);
            } else {
                text.push_str(piece);
            }
        }
    }
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    let finish = finish_to_chat(finish, !calls.is_empty());
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
    });
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({ "index": index, "message": message, "finish_reason": finish, "logprobs": null })
}

/// A chat completion as a Gemini `GenerateContentResponse`. `None` when it
/// is not a chat completion.
pub fn answer_from_chat(chat: &Value, model: &str) -> Option<Value> {
    let choices = chat.get("choices")?.as_array()?;
    choices.first()?.get("message")?;
    let candidates: Vec<Value> = choices
        .iter()
        .enumerate()
        .filter_map(|(index, choice)| candidate_from_chat(index, choice))
        .collect();
    let usage = ChatCounts::of(chat.get("usage")).to_gemini();
    Some(json!({
        "candidates": candidates,
        "usageMetadata": serde_json::to_value(usage).unwrap_or_default(),
        "modelVersion": model,
        "responseId": response_id(chat.get("id").and_then(Value::as_str)),
    }))
}

/// The chat id without its `chatcmpl-`, which `answer_to_chat` adds.
fn response_id(chat_id: Option<&str>) -> String {
    let id = chat_id.unwrap_or_default().trim_start_matches("chatcmpl-");
    if id.is_empty() {
        "tollgate".to_owned()
    } else {
        id.to_owned()
    }
}

fn candidate_from_chat(index: usize, choice: &Value) -> Option<Value> {
    let message = choice.get("message")?;
    let mut parts = Vec::new();
    if let Some(reasoning) = message
        .get("reasoning_content")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        parts.push(json!({ "text": reasoning, "thought": true }));
    }
    let content = message.get("content").unwrap_or(&Value::Null);
    let text = plain_text(content, "content").unwrap_or_default();
    let refusal = message.get("refusal").and_then(Value::as_str);
    match refusal {
        Some(refusal) if text.is_empty() && !refusal.is_empty() => {
            parts.push(json!({ "text": refusal }));
        }
        _ if !text.is_empty() => parts.push(json!({ "text": text })),
        _ => {}
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut function_call = Map::new();
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            function_call.insert("id".to_owned(), json!(id));
        }
        function_call.insert(
            "name".to_owned(),
            function.get("name").cloned().unwrap_or_default(),
        );
        function_call.insert(
            "args".to_owned(),
            Value::Object(arguments_object(arguments).unwrap_or_default()),
        );
        parts.push(json!({ "functionCall": function_call }));
    }
    // Clients read `parts[0]`: never leave it out.
    if parts.is_empty() {
        parts.push(json!({ "text": "" }));
    }
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    Some(json!({
        "content": { "role": "model", "parts": parts },
        "finishReason": finish_from_chat(finish),
        "index": index,
    }))
}

// ---- Gemini events in, chat chunks out ------------------------------------

/// A Gemini stream event: the fields read, each as `Value::get` would find
/// it.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GeminiChunk<'a> {
    #[serde(borrow)]
    candidates: First<Object<CandidateIn<'a>>>,
    #[serde(borrow)]
    usage_metadata: Object<CountsIn<'a>>,
    #[serde(borrow)]
    response_id: Json<'a>,
    #[serde(borrow)]
    prompt_feedback: Object<FeedbackIn<'a>>,
    /// Present, even as `null`, it makes the event an error.
    #[serde(borrow, deserialize_with = "wire::present")]
    error: Option<Object<ErrorIn<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CandidateIn<'a> {
    #[serde(borrow)]
    content: Object<ContentIn<'a>>,
    #[serde(borrow)]
    finish_reason: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ContentIn<'a> {
    #[serde(borrow)]
    parts: List<Object<PartIn<'a>>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PartIn<'a> {
    #[serde(borrow)]
    text: Json<'a>,
    #[serde(borrow)]
    thought: Json<'a>,
    #[serde(borrow)]
    function_call: Object<CallIn<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CallIn<'a> {
    #[serde(borrow)]
    id: Json<'a>,
    #[serde(borrow)]
    name: Json<'a>,
    #[serde(borrow)]
    args: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CountsIn<'a> {
    #[serde(borrow)]
    prompt_token_count: Json<'a>,
    #[serde(borrow)]
    tool_use_prompt_token_count: Json<'a>,
    #[serde(borrow)]
    candidates_token_count: Json<'a>,
    #[serde(borrow)]
    thoughts_token_count: Json<'a>,
    #[serde(borrow)]
    cached_content_token_count: Json<'a>,
}

impl CountsIn<'_> {
    fn read(&self) -> GeminiCounts {
        let count = |value: &Json| value.as_i64().unwrap_or(0);
        GeminiCounts {
            prompt: count(&self.prompt_token_count),
            tool_use: count(&self.tool_use_prompt_token_count),
            candidates: count(&self.candidates_token_count),
            thoughts: count(&self.thoughts_token_count),
            cached: count(&self.cached_content_token_count),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct FeedbackIn<'a> {
    #[serde(borrow)]
    block_reason: Json<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ErrorIn<'a> {
    #[serde(borrow)]
    code: Json<'a>,
    #[serde(borrow)]
    message: Json<'a>,
    #[serde(borrow)]
    status: Json<'a>,
}

/// A chat chunk of one choice.
#[derive(Serialize)]
struct ChatChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChatChoiceOut<'a>; 1],
}

#[derive(Serialize)]
struct ChatChoiceOut<'a> {
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
        content: &'a str,
    },
    Reasoning {
        reasoning_content: &'a str,
    },
    ToolCall {
        tool_calls: [ToolCallOut<'a>; 1],
    },
    Empty {},
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    index: u64,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// The last chunk, when the client asked for usage.
#[derive(Serialize)]
struct ChatUsageChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [(); 0],
    usage: ChatUsage,
}

/// One chat event; serializing these types into a `Vec` cannot fail.
fn write_chat(out: &mut Vec<u8>, data: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

/// Gemini events in, chat completion chunks out.
pub struct GeminiToChat {
    model: String,
    created: i64,
    /// Whether the client asked for the final usage chunk.
    wants_usage: bool,
    /// Set with the first chunk written.
    id: Option<String>,
    /// Calls sent so far: the next one's index.
    calls: u64,
    /// Whether the chunk with the finish reason was sent.
    closed: bool,
    /// The provider failed: no finish reason to give.
    failed: bool,
    /// From the latest event with `usageMetadata` (Gemini's are cumulative).
    usage: Option<GeminiCounts>,
    finished: bool,
}

impl GeminiToChat {
    pub fn new(model: &str, created: i64, wants_usage: bool) -> Self {
        Self {
            model: model.to_owned(),
            created,
            wants_usage,
            id: None,
            calls: 0,
            closed: false,
            failed: false,
            usage: None,
            finished: false,
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let data = wire::event_data(event);
        // Gemini sends no `[DONE]`; a proxy in between might.
        if wire::is_done(&data) {
            self.finish(out);
            return;
        }
        let mut spare = None;
        let Some(chunk) = wire::read::<GeminiChunk>(&data, &mut spare) else {
            return;
        };
        if let Some(error) = &chunk.error {
            self.fail(error.0.as_ref(), out);
            return;
        }
        self.start(chunk.response_id.as_str(), out);
        if let Some(counts) = &chunk.usage_metadata.0 {
            self.usage = Some(counts.read());
        }
        let mut finish = None;
        match chunk.candidates.0.and_then(|candidate| candidate.0) {
            Some(candidate) => {
                let parts = candidate.content.0.map(|content| content.parts.0);
                for part in parts.iter().flatten().filter_map(|part| part.0.as_ref()) {
                    self.part(part, out);
                }
                if let Some(reason) = candidate.finish_reason.as_str() {
                    finish = Some(finish_to_chat(reason, self.calls > 0));
                }
            }
            None => {
                let blocked = chunk
                    .prompt_feedback
                    .0
                    .as_ref()
                    .is_some_and(|feedback| feedback.block_reason != Json::Null);
                if blocked {
                    finish = Some("content_filter");
                }
            }
        }
        // Gemini's last event is the one with the finish reason.
        if let Some(reason) = finish {
            self.close(reason, out);
            self.end(out);
        }
    }

    /// Ends a stream the provider cut short: the finish chunk if none was
    /// sent, the usage if known and asked for, `[DONE]`; nothing when it
    /// ended already.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        if !self.failed {
            self.start(None, out);
            self.close("stop", out);
        }
        self.end(out);
    }

    /// The role chunk, before anything else.
    fn start(&mut self, response_id: Option<&str>, out: &mut Vec<u8>) {
        if self.id.is_some() {
            return;
        }
        self.id = Some(chat_id(response_id, self.created));
        let delta = DeltaOut::Role {
            role: "assistant",
            content: "",
        };
        self.chunk(out, delta, None);
    }

    fn part(&mut self, part: &PartIn, out: &mut Vec<u8>) {
        if let Some(call) = &part.function_call.0 {
            let index = self.calls;
            self.calls += 1;
            let id = call
                .id
                .as_str()
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{index}"), str::to_owned);
            let arguments = match &call.args {
                Json::Null => "{}".to_owned(),
                args => serde_json::to_string(args).unwrap_or_default(),
            };
            let call = ToolCallOut {
                index,
                id: &id,
                kind: "function",
                function: FunctionOut {
                    name: call.name.as_str().unwrap_or_default(),
                    arguments: &arguments,
                },
            };
            self.chunk(out, DeltaOut::ToolCall { tool_calls: [call] }, None);
            return;
        }
        let Some(text) = part.text.as_str().filter(|text| !text.is_empty()) else {
            return;
        };
        let delta = if part.thought == Json::Bool(true) {
            DeltaOut::Reasoning {
                reasoning_content: text,
            }
        } else {
            DeltaOut::Content { content: text }
        };
        self.chunk(out, delta, None);
    }

    /// The chunk with the finish reason, once.
    fn close(&mut self, reason: &'static str, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.chunk(out, DeltaOut::Empty {}, Some(reason));
    }

    /// The usage chunk if asked for and known, then `[DONE]`.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.finished = true;
        if self.wants_usage
            && let Some(usage) = self.usage
        {
            let chunk = ChatUsageChunkOut {
                id: self.id.as_deref().unwrap_or_default(),
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: [],
                usage: usage.to_chat(),
            };
            write_chat(out, &chunk);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Gemini's error in chat's shape; the stream ends after it.
    fn fail(&mut self, error: Option<&ErrorIn>, out: &mut Vec<u8>) {
        self.failed = true;
        let message = error
            .and_then(|error| error.message.as_str())
            .unwrap_or("the provider failed");
        let kind = error
            .and_then(|error| error.status.as_str())
            .unwrap_or("server_error");
        let code = error.map_or(&Json::Null, |error| &error.code);
        write_chat(
            out,
            &json!({ "error": { "message": message, "type": kind, "code": code } }),
        );
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: DeltaOut, finish: Option<&'static str>) {
        let chunk = ChatChunkOut {
            id: self.id.as_deref().unwrap_or_default(),
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChatChoiceOut {
                index: 0,
                delta,
                finish_reason: finish,
            }],
        };
        write_chat(out, &chunk);
    }
}

// ---- chat chunks in, Gemini events out ------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GeminiChunkOut<'a> {
    candidates: [CandidateOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateOut<'a> {
    content: ContentOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u8,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    role: &'static str,
    parts: Vec<PartOut<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PartOut<'a> {
    Text {
        text: &'a str,
    },
    Thought {
        text: &'a str,
        thought: bool,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: CallOut<'a>,
    },
}

#[derive(Serialize)]
struct CallOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    name: &'a str,
    args: Map<String, Value>,
}

/// One Gemini event, with the CRLF line ends Gemini writes.
fn write_gemini(out: &mut Vec<u8>, data: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\r\n\r\n");
}

/// A tool call as its deltas build it.
#[derive(Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// Chat completion chunks in, Gemini events out.
pub struct ChatToGemini {
    model: String,
    /// The chat id without `chatcmpl-`, from the first chunk.
    id: Option<String>,
    /// Tool calls by chat index, sent whole in the last event.
    calls: BTreeMap<u64, PendingCall>,
    /// Gemini's finish reason, once chat gave one: the last event waits for
    /// the usage chunk that follows.
    finish: Option<&'static str>,
    usage: Option<ChatCounts>,
    finished: bool,
}

impl ChatToGemini {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            id: None,
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
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
        if self.id.is_none()
            && let Some(id) = chunk.id.as_str()
        {
            self.id = Some(response_id(Some(id)));
        }
        if let Some(error) = &chunk.error {
            let message = error
                .0
                .as_ref()
                .and_then(|error| error.message.as_str())
                .unwrap_or("the provider failed");
            write_gemini(
                out,
                &json!({ "error": { "code": 500, "message": message, "status": "INTERNAL" } }),
            );
            // Gemini ends a stream with its error.
            self.finished = true;
            return;
        }
        let reported = chunk.usage.0.as_ref().map(ChatCounts::of_chunk);
        if reported.is_some() {
            self.usage = reported;
        }
        if let Some(choice) = chunk.choices.0.and_then(|choice| choice.0) {
            if let Some(delta) = &choice.delta.0 {
                if let Some(reasoning) = delta.reasoning_content.as_str().filter(|r| !r.is_empty())
                {
                    let part = PartOut::Thought {
                        text: reasoning,
                        thought: true,
                    };
                    self.write(out, vec![part], None);
                }
                if let Some(text) = delta.content.as_str().filter(|t| !t.is_empty()) {
                    self.write(out, vec![PartOut::Text { text }], None);
                }
                for call in delta.tool_calls.0.iter().filter_map(|call| call.0.as_ref()) {
                    self.gather(call);
                }
            }
            if let Some(reason) = choice.finish_reason.as_str() {
                self.finish = Some(finish_from_chat(reason));
            }
        }
        // OpenAI's usage chunk follows the finish reason.
        if self.finish.is_some() && reported.is_some() {
            self.finish(out);
        }
    }

    /// The last event: the calls, whole, the finish reason and the usage
    /// when known; nothing when it was sent already.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let calls = std::mem::take(&mut self.calls);
        let mut parts: Vec<PartOut> = calls
            .values()
            .map(|call| PartOut::Call {
                function_call: CallOut {
                    id: &call.id,
                    name: &call.name,
                    args: arguments_object(&call.arguments).unwrap_or_default(),
                },
            })
            .collect();
        // Clients read `parts[0]`: never leave it out.
        if parts.is_empty() {
            parts.push(PartOut::Text { text: "" });
        }
        let finish = self.finish.unwrap_or("STOP");
        let usage = self.usage.map(ChatCounts::to_gemini);
        self.write_with(out, parts, Some(finish), usage);
    }

    fn gather(&mut self, call: &OpenAiToolCall) {
        let pending = self
            .calls
            .entry(call.index.as_u64().unwrap_or(0))
            .or_default();
        if let Some(id) = call.id.as_str().filter(|id| !id.is_empty()) {
            id.clone_into(&mut pending.id);
        }
        let Some(function) = &call.function.0 else {
            return;
        };
        if let Some(name) = function.name.as_str().filter(|name| !name.is_empty()) {
            name.clone_into(&mut pending.name);
        }
        if let Some(piece) = function.arguments.as_str() {
            pending.arguments.push_str(piece);
        }
    }

    fn write(&self, out: &mut Vec<u8>, parts: Vec<PartOut>, finish: Option<&'static str>) {
        self.write_with(out, parts, finish, None);
    }

    fn write_with(
        &self,
        out: &mut Vec<u8>,
        parts: Vec<PartOut>,
        finish: Option<&'static str>,
        usage: Option<UsageMetadata>,
    ) {
        let chunk = GeminiChunkOut {
            candidates: [CandidateOut {
                content: ContentOut {
                    role: "model",
                    parts,
                },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: usage,
            model_version: &self.model,
            response_id: self.id.as_deref().unwrap_or("tollgate"),
        };
        write_gemini(out, &chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        super::super::object(value)
    }

    /// The data of each event a translator wrote, parsed (`[DONE]` as a
    /// string), the events ending with `end`.
    fn events(out: &[u8], end: &str) -> Vec<Value> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .split(end)
            .filter(|event| !event.is_empty())
            .map(|event| {
                let data = event.strip_prefix("data: ").unwrap();
                serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()))
            })
            .collect()
    }

    fn data(value: &Value) -> String {
        format!("data: {value}")
    }

    // ---- requests -------------------------------------------------------

    #[test]
    fn a_gemini_conversation_with_tools_images_and_config_becomes_a_chat_request() {
        let request = json!({
            "model": "gemini-2.5-pro",
            "stream": true,
            "systemInstruction": { "parts": [{ "text": "Be brief." }, { "text": "Use tools." }] },
            "contents": [
                { "role": "user", "parts": [
                    { "text": "What is in this picture, and the weather in Oslo and Rome?" },
                    { "inlineData": { "mimeType": "image/png", "data": "iVBOR" } },
                ] },
                { "role": "model", "parts": [
                    { "text": "Cats like warmth.", "thought": true },
                    { "text": "A cat. " },
                    { "text": "Checking the weather." },
                    { "functionCall": { "name": "weather", "args": { "city": "Oslo" } }, "thoughtSignature": "c2ln" },
                    { "functionCall": { "name": "weather", "args": { "city": "Rome" } } },
                ] },
                { "role": "user", "parts": [
                    { "functionResponse": { "name": "weather", "response": { "celsius": -3 } } },
                    { "functionResponse": { "name": "weather", "response": { "celsius": 14 } } },
                    { "text": "Which is warmer?" },
                ] },
                { "parts": [{ "text": "One word." }] },
            ],
            "tools": [{ "functionDeclarations": [
                { "name": "weather", "description": "Weather now", "parameters": {
                    "type": "OBJECT",
                    "properties": {
                        "city": { "type": "STRING" },
                        "unit": { "type": "STRING", "enum": ["C", "F"], "nullable": true },
                    },
                    "required": ["city"],
                    "propertyOrdering": ["city", "unit"],
                } },
                { "name": "clock", "parametersJsonSchema": { "type": "object", "additionalProperties": false } },
            ] }],
            "toolConfig": { "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["weather"] } },
            "generationConfig": {
                "maxOutputTokens": 300, "temperature": 0.2, "topP": 0.9, "topK": 40,
                "stopSequences": ["END"], "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                "responseMimeType": "application/json",
                "responseSchema": { "type": "OBJECT", "properties": { "warmer": { "type": "STRING" } } },
                "thinkingConfig": { "thinkingBudget": 1024, "includeThoughts": true },
                "candidateCount": 1,
            },
            "safetySettings": [{ "category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE" }],
            "labels": { "team": "search" },
        });

        let chat = request_to_chat(map(request)).unwrap();

        assert_eq!(
            Value::Object(chat),
            json!({
                "model": "gemini-2.5-pro",
                "stream": true,
                "max_completion_tokens": 300, "temperature": 0.2, "top_p": 0.9, "stop": ["END"],
                "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
                "reasoning_effort": "low",
                "response_format": { "type": "json_schema", "json_schema": {
                    "name": "response",
                    "schema": { "type": "object", "properties": { "warmer": { "type": "string" } } },
                } },
                "messages": [
                    { "role": "system", "content": "Be brief.\n\nUse tools." },
                    { "role": "user", "content": [
                        { "type": "text", "text": "What is in this picture, and the weather in Oslo and Rome?" },
                        { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBOR" } },
                    ] },
                    { "role": "assistant", "content": "A cat. Checking the weather.", "tool_calls": [
                        { "id": "call_0", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                        { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                    ] },
                    { "role": "tool", "tool_call_id": "call_0", "content": "{\"celsius\":-3}" },
                    { "role": "tool", "tool_call_id": "call_1", "content": "{\"celsius\":14}" },
                    { "role": "user", "content": "Which is warmer?" },
                    { "role": "user", "content": "One word." },
                ],
                "tools": [
                    { "type": "function", "function": {
                        "name": "weather",
                        "description": "Weather now",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "city": { "type": "string" },
                                "unit": { "type": ["string", "null"], "enum": ["C", "F", null] },
                            },
                            "required": ["city"],
                        },
                    } },
                    { "type": "function", "function": {
                        "name": "clock",
                        "parameters": { "type": "object", "additionalProperties": false },
                    } },
                ],
                "tool_choice": { "type": "function", "function": { "name": "weather" } },
                "stream_options": { "include_usage": true },
            })
        );
    }

    #[test]
    fn snake_case_fields_are_read_as_gemini_reads_them() {
        let request = json!({
            "model": "m",
            "system_instruction": { "parts": { "text": "Be brief." } },
            "contents": [{ "role": "user", "parts": [
                { "inline_data": { "mime_type": "image/jpeg", "data": "/9j/" } },
                { "text": "What is it?" },
            ] }],
            "tools": [{ "function_declarations": [
                { "name": "look", "parameters": { "type": "OBJECT", "any_of": [{ "type": "STRING" }] } },
            ] }],
            "tool_config": { "function_calling_config": { "mode": "none" } },
            "generation_config": {
                "max_output_tokens": 100,
                "thinking_config": { "thinking_budget": -1 },
                "response_mime_type": "application/json",
            },
        });

        let chat = request_to_chat(map(request)).unwrap();

        assert_eq!(
            Value::Object(chat),
            json!({
                "model": "m",
                "max_completion_tokens": 100,
                "reasoning_effort": "high",
                "response_format": { "type": "json_object" },
                "messages": [
                    { "role": "system", "content": "Be brief." },
                    { "role": "user", "content": [
                        { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/" } },
                        { "type": "text", "text": "What is it?" },
                    ] },
                ],
                "tools": [{ "type": "function", "function": {
                    "name": "look", "parameters": { "type": "object", "anyOf": [{ "type": "string" }] },
                } }],
                "tool_choice": "none",
            })
        );
    }

    #[test]
    fn a_chat_conversation_with_tools_and_images_becomes_a_gemini_request() {
        let request = json!({
            "model": "gpt-x",
            "stream": true,
            "stream_options": { "include_usage": true },
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "developer", "content": [{ "type": "text", "text": "Use tools." }] },
                { "role": "user", "content": [
                    { "type": "text", "text": "Weather in Oslo and Rome?" },
                    { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/" } },
                ] },
                { "role": "assistant", "content": "Checking.", "tool_calls": [
                    { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                    { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                ] },
                { "role": "tool", "tool_call_id": "call_1", "content": "{\"celsius\":-3}" },
                { "role": "tool", "tool_call_id": "call_2", "content": "14 °C" },
                { "role": "user", "content": "Which is warmer?" },
            ],
            "tools": [{ "type": "function", "function": {
                "name": "weather", "description": "Weather now", "strict": true,
                "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
            } }],
            "tool_choice": { "type": "function", "function": { "name": "weather" } },
            "parallel_tool_calls": true,
            "max_tokens": 100,
            "max_completion_tokens": 300,
            "temperature": 0.5, "top_p": 0.9, "stop": "END", "seed": 7,
            "presence_penalty": 0.1, "frequency_penalty": 0.2,
            "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "strict": true, "schema": { "type": "object" } } },
            "reasoning_effort": "medium",
            "n": 1,
            "user": "u-1",
        });

        let gemini = request_from_chat(map(request)).unwrap();

        assert_eq!(
            Value::Object(gemini),
            json!({
                "contents": [
                    { "role": "user", "parts": [
                        { "text": "Weather in Oslo and Rome?" },
                        { "inlineData": { "mimeType": "image/jpeg", "data": "/9j/" } },
                    ] },
                    { "role": "model", "parts": [
                        { "text": "Checking." },
                        { "functionCall": { "id": "call_1", "name": "weather", "args": { "city": "Oslo" } },
                          "thoughtSignature": "skip_thought_signature_validator" },
                        { "functionCall": { "id": "call_2", "name": "weather", "args": { "city": "Rome" } } },
                    ] },
                    { "role": "user", "parts": [
                        { "functionResponse": { "id": "call_1", "name": "weather", "response": { "celsius": -3 } } },
                        { "functionResponse": { "id": "call_2", "name": "weather", "response": { "result": "14 °C" } } },
                        { "text": "Which is warmer?" },
                    ] },
                ],
                "systemInstruction": { "parts": [{ "text": "Be brief.\n\nUse tools." }] },
                "tools": [{ "functionDeclarations": [{
                    "name": "weather", "description": "Weather now",
                    "parametersJsonSchema": { "type": "object", "properties": { "city": { "type": "string" } } },
                }] }],
                "toolConfig": { "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["weather"] } },
                "generationConfig": {
                    "maxOutputTokens": 300, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                    "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                    "responseMimeType": "application/json", "responseJsonSchema": { "type": "object" },
                    "thinkingConfig": { "thinkingBudget": 8192, "includeThoughts": true },
                },
            })
        );
    }

    #[test]
    fn tool_choices_map_both_ways() {
        let tools = json!([{ "functionDeclarations": [{ "name": "weather" }, { "name": "clock" }, { "name": "search" }] }]);
        let to_chat = |config: Value| {
            let request = json!({ "contents": [], "tools": tools, "toolConfig": { "functionCallingConfig": config } });
            let chat = request_to_chat(map(request)).unwrap();
            let names: Vec<Value> = chat["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|tool| tool["function"]["name"].clone())
                .collect();
            (chat["tool_choice"].clone(), names)
        };
        let all = vec![json!("weather"), json!("clock"), json!("search")];
        assert_eq!(
            to_chat(json!({ "mode": "AUTO" })),
            (json!("auto"), all.clone())
        );
        assert_eq!(
            to_chat(json!({ "mode": "NONE" })),
            (json!("none"), all.clone())
        );
        assert_eq!(
            to_chat(json!({ "mode": "ANY" })),
            (json!("required"), all.clone())
        );
        assert_eq!(
            to_chat(json!({ "mode": "ANY", "allowedFunctionNames": ["clock"] })),
            (
                json!({ "type": "function", "function": { "name": "clock" } }),
                all.clone()
            )
        );
        assert_eq!(
            to_chat(json!({ "mode": "ANY", "allowedFunctionNames": ["weather", "clock"] })),
            (json!("required"), vec![json!("weather"), json!("clock")])
        );
        assert_eq!(
            to_chat(json!({ "mode": "VALIDATED", "allowedFunctionNames": ["search"] })),
            (json!("auto"), vec![json!("search")])
        );
        // No tools, no choice: chat refuses a choice without tools.
        let request =
            json!({ "contents": [], "toolConfig": { "functionCallingConfig": { "mode": "ANY" } } });
        assert!(
            request_to_chat(map(request))
                .unwrap()
                .get("tool_choice")
                .is_none()
        );

        let to_gemini = |choice: Value| {
            let request = json!({
                "messages": [],
                "tools": [{ "type": "function", "function": { "name": "weather" } }],
                "tool_choice": choice,
            });
            request_from_chat(map(request)).unwrap()["toolConfig"]["functionCallingConfig"].clone()
        };
        assert_eq!(to_gemini(json!("auto")), json!({ "mode": "AUTO" }));
        assert_eq!(to_gemini(json!("none")), json!({ "mode": "NONE" }));
        assert_eq!(to_gemini(json!("required")), json!({ "mode": "ANY" }));
        assert_eq!(
            to_gemini(json!({ "type": "function", "function": { "name": "weather" } })),
            json!({ "mode": "ANY", "allowedFunctionNames": ["weather"] })
        );
    }

    #[test]
    fn thinking_budgets_and_reasoning_efforts_map_both_ways() {
        let effort = |thinking: Value| {
            let request =
                json!({ "contents": [], "generationConfig": { "thinkingConfig": thinking } });
            request_to_chat(map(request))
                .unwrap()
                .get("reasoning_effort")
                .cloned()
        };
        for (budget, expected) in [
            (0, "minimal"),
            (1, "low"),
            (2_048, "low"),
            (2_049, "medium"),
            (16_384, "medium"),
            (16_385, "high"),
            (-1, "high"),
        ] {
            assert_eq!(
                effort(json!({ "thinkingBudget": budget })),
                Some(json!(expected)),
                "{budget}"
            );
        }
        assert_eq!(
            effort(json!({ "thinkingLevel": "LOW" })),
            Some(json!("low"))
        );
        assert_eq!(effort(json!({ "includeThoughts": true })), None);

        let thinking = |effort: &str| {
            let request = json!({ "messages": [], "reasoning_effort": effort });
            request_from_chat(map(request)).unwrap()["generationConfig"]["thinkingConfig"].clone()
        };
        assert_eq!(thinking("none"), json!({ "thinkingBudget": 0 }));
        for (effort, budget) in [
            ("minimal", 512),
            ("low", 1_024),
            ("medium", 8_192),
            ("high", 24_576),
        ] {
            assert_eq!(
                thinking(effort),
                json!({ "thinkingBudget": budget, "includeThoughts": true })
            );
        }
    }

    #[test]
    fn what_the_other_side_cannot_express_is_refused_naming_the_field() {
        let user = |parts: Value| json!({ "contents": [{ "role": "user", "parts": parts }] });
        let to_chat = [
            (
                user(json!([{ "inlineData": { "mimeType": "audio/wav", "data": "UklG" } }])),
                "contents[0].parts[0].inlineData",
            ),
            (
                user(json!([{ "file_data": { "file_uri": "gs://b/a.pdf" } }])),
                "contents[0].parts[0].file_data",
            ),
            (
                json!({ "contents": [{ "role": "user", "parts": [{ "text": "run it" }] },
                    { "role": "model", "parts": [{ "executableCode": { "language": "PYTHON", "code": "1" } }] }] }),
                "contents[1].parts[0].executableCode",
            ),
            (
                user(json!([{ "codeExecutionResult": { "outcome": "OUTCOME_OK" } }])),
                "contents[0].parts[0].codeExecutionResult",
            ),
            (
                user(json!([{ "functionResponse": { "name": "weather", "response": {} } }])),
                "contents[0].parts[0].functionResponse.name",
            ),
            (
                user(json!([{ "functionCall": { "name": "weather" } }])),
                "contents[0].parts[0].functionCall",
            ),
            (
                json!({ "contents": [{ "role": "system", "parts": [] }] }),
                "contents[0].role",
            ),
            (
                json!({ "contents": [], "tools": [{ "googleSearch": {} }] }),
                "tools[0].googleSearch",
            ),
            (
                json!({ "contents": [], "tools": [{ "functionDeclarations": [{ "name": "f" }] }, { "codeExecution": {} }] }),
                "tools[1].codeExecution",
            ),
            (
                json!({ "contents": [], "generationConfig": { "candidateCount": 2 } }),
                "generationConfig.candidateCount",
            ),
            (
                json!({ "contents": [], "generationConfig": { "responseMimeType": "text/x.enum" } }),
                "generationConfig.responseMimeType",
            ),
            (
                json!({ "contents": [], "generationConfig": { "speechConfig": {} } }),
                "generationConfig.speechConfig",
            ),
            (
                json!({ "contents": [], "toolConfig": { "functionCallingConfig": { "mode": "SOMETIMES" } } }),
                "toolConfig.functionCallingConfig.mode",
            ),
            (
                json!({ "contents": [], "cachedContent": "cachedContents/abc" }),
                "cachedContent",
            ),
            (json!({ "contents": [], "extra": 1 }), "extra"),
        ];
        for (request, param) in to_chat {
            let err = request_to_chat(map(request.clone())).unwrap_err();
            assert_eq!(err.param, param, "{request}");
            assert!(
                err.message.starts_with(&format!("{param}: ")),
                "{}",
                err.message
            );
        }

        let message = |message: Value| json!({ "messages": [message] });
        let to_gemini = [
            (
                message(
                    json!({ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "https://example.com/a.png" } }] }),
                ),
                "messages[0].content[0].image_url",
            ),
            (
                message(json!({ "role": "user", "content": [{ "type": "video_url" }] })),
                "messages[0].content[0].type",
            ),
            (
                message(
                    json!({ "role": "assistant", "tool_calls": [{ "id": "c", "type": "function", "function": { "name": "f", "arguments": "{not json" } }] }),
                ),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                message(json!({ "role": "tool", "tool_call_id": "nobody", "content": "x" })),
                "messages[0].tool_call_id",
            ),
            (
                json!({ "messages": [], "tools": [{ "type": "custom", "custom": { "name": "patch" } }] }),
                "tools[0].type",
            ),
            (
                json!({ "messages": [], "audio": { "voice": "alloy" } }),
                "audio",
            ),
            (
                json!({ "messages": [], "modalities": ["text", "audio"] }),
                "modalities",
            ),
            (json!({ "messages": [], "n": 2 }), "n"),
            (json!({ "messages": [], "logprobs": true }), "logprobs"),
            (
                json!({ "messages": [], "reasoning_effort": "extreme" }),
                "reasoning_effort",
            ),
            (
                json!({ "messages": [], "response_format": { "type": "grammar" } }),
                "response_format.type",
            ),
            (
                json!({ "messages": [], "tools": [{ "type": "function", "function": { "name": "f" } }], "tool_choice": { "type": "allowed_tools" } }),
                "tool_choice",
            ),
            (json!({ "messages": [], "functions": [] }), "functions"),
        ];
        for (request, param) in to_gemini {
            let err = request_from_chat(map(request.clone())).unwrap_err();
            assert_eq!(err.param, param, "{request}");
            assert!(
                err.message.starts_with(&format!("{param}: ")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn a_chat_request_keeps_its_messages_tools_and_caps_through_gemini() {
        let chat = json!({
            "model": "m",
            "stream": false,
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": [
                    { "type": "text", "text": "Weather here?" },
                    { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBOR" } },
                ] },
                { "role": "assistant", "content": null, "tool_calls": [
                    { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                    { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                ] },
                { "role": "tool", "tool_call_id": "call_1", "content": "{\"celsius\":-3}" },
                { "role": "tool", "tool_call_id": "call_2", "content": "14 °C" },
                { "role": "assistant", "content": "Rome is warmer." },
                { "role": "user", "content": "Thanks" },
            ],
            "tools": [{ "type": "function", "function": {
                "name": "weather", "description": "Weather now",
                "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
            } }],
            "tool_choice": "required",
            "max_completion_tokens": 300,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END"],
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "response_format": { "type": "json_schema", "json_schema": { "name": "response", "schema": { "type": "object" } } },
            "reasoning_effort": "medium",
        });

        let mut gemini = request_from_chat(map(chat.clone())).unwrap();
        assert!(gemini.get("model").is_none() && gemini.get("stream").is_none());
        // As the endpoint does, from the URL.
        gemini.insert("model".to_owned(), json!("m"));
        gemini.insert("stream".to_owned(), json!(false));
        let back = request_to_chat(gemini).unwrap();

        assert_eq!(Value::Object(back), chat);
    }

    // ---- answers --------------------------------------------------------

    #[test]
    fn a_gemini_answer_with_thoughts_text_and_calls_becomes_a_chat_completion() {
        let answer = json!({
            "candidates": [{
                "content": { "role": "model", "parts": [
                    { "text": "Oslo is cold.", "thought": true },
                    { "text": "Checking " },
                    { "text": "both." },
                    { "functionCall": { "name": "weather", "args": { "city": "Oslo" } }, "thoughtSignature": "c2ln" },
                    { "functionCall": { "id": "fc_7", "name": "weather", "args": { "city": "Rome" } } },
                ] },
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": [],
            }],
            "usageMetadata": {
                "promptTokenCount": 100, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 20,
                "thoughtsTokenCount": 30, "cachedContentTokenCount": 60, "totalTokenCount": 155,
            },
            "modelVersion": "gemini-2.5-pro",
            "responseId": "abc",
        });

        assert_eq!(
            answer_to_chat(&answer, "public-gemini", 1_700_000_000).unwrap(),
            json!({
                "id": "chatcmpl-abc",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "public-gemini",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Checking both.",
                        "reasoning_content": "Oslo is cold.",
                        "tool_calls": [
                            { "id": "call_0", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                            { "id": "fc_7", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                        ],
                    },
                    "finish_reason": "tool_calls",
                    "logprobs": null,
                }],
                "usage": {
                    "prompt_tokens": 105, "completion_tokens": 50, "total_tokens": 155,
                    "prompt_tokens_details": { "cached_tokens": 60 },
                    "completion_tokens_details": { "reasoning_tokens": 30 },
                },
            })
        );

        let calls_only = json!({ "candidates": [{ "content": { "parts": [
            { "functionCall": { "name": "clock" } },
        ] }, "finishReason": "STOP" }] });
        let chat = answer_to_chat(&calls_only, "m", 5).unwrap();
        assert_eq!(chat["id"], "chatcmpl-tollgate-5");
        assert_eq!(chat["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            chat["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }

    #[test]
    fn gemini_finish_reasons_read_as_chat_ones() {
        for (reason, expected) in [
            ("STOP", "stop"),
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("BLOCKLIST", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
            ("SPII", "content_filter"),
            ("IMAGE_SAFETY", "content_filter"),
            ("MALFORMED_FUNCTION_CALL", "stop"),
            ("OTHER", "stop"),
        ] {
            let answer = json!({ "candidates": [{ "content": { "parts": [{ "text": "x" }] }, "finishReason": reason }] });
            let chat = answer_to_chat(&answer, "m", 0).unwrap();
            assert_eq!(chat["choices"][0]["finish_reason"], expected, "{reason}");
        }
        for (finish, expected) in [
            ("stop", "STOP"),
            ("length", "MAX_TOKENS"),
            ("tool_calls", "STOP"),
            ("content_filter", "SAFETY"),
        ] {
            let chat =
                json!({ "choices": [{ "message": { "content": "x" }, "finish_reason": finish }] });
            let gemini = answer_from_chat(&chat, "m").unwrap();
            assert_eq!(
                gemini["candidates"][0]["finishReason"], expected,
                "{finish}"
            );
        }
    }

    #[test]
    fn a_blocked_prompt_becomes_a_filtered_empty_completion() {
        let answer = json!({
            "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": [] },
            "usageMetadata": { "promptTokenCount": 8, "totalTokenCount": 8 },
            "responseId": "b",
        });
        let chat = answer_to_chat(&answer, "m", 0).unwrap();
        assert_eq!(
            chat["choices"],
            json!([{ "index": 0, "message": { "role": "assistant", "content": "" }, "finish_reason": "content_filter", "logprobs": null }])
        );
        assert_eq!(chat["usage"]["prompt_tokens"], 8);
    }

    #[test]
    fn a_chat_completion_with_reasoning_and_a_call_becomes_a_gemini_answer() {
        let completion = json!({
            "id": "chatcmpl-xyz",
            "object": "chat.completion",
            "created": 1,
            "model": "upstream",
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "Cold up north.",
                "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }],
            } }],
            "usage": {
                "prompt_tokens": 120, "completion_tokens": 50, "total_tokens": 170,
                "prompt_tokens_details": { "cached_tokens": 100 },
                "completion_tokens_details": { "reasoning_tokens": 20 },
            },
        });

        assert_eq!(
            answer_from_chat(&completion, "public-gemini").unwrap(),
            json!({
                "candidates": [{
                    "content": { "role": "model", "parts": [
                        { "text": "Cold up north.", "thought": true },
                        { "text": "Checking." },
                        { "functionCall": { "id": "call_1", "name": "weather", "args": { "city": "Oslo" } } },
                    ] },
                    "finishReason": "STOP",
                    "index": 0,
                }],
                "usageMetadata": {
                    "promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 20,
                    "cachedContentTokenCount": 100, "totalTokenCount": 170,
                },
                "modelVersion": "public-gemini",
                "responseId": "xyz",
            })
        );

        let plain = json!({ "id": "chatcmpl-1", "choices": [{ "message": { "content": null }, "finish_reason": "length" }],
            "usage": { "prompt_tokens": 3, "completion_tokens": 4 } });
        assert_eq!(
            answer_from_chat(&plain, "m").unwrap(),
            json!({
                "candidates": [{ "content": { "role": "model", "parts": [{ "text": "" }] }, "finishReason": "MAX_TOKENS", "index": 0 }],
                "usageMetadata": { "promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7 },
                "modelVersion": "m",
                "responseId": "1",
            })
        );
    }

    #[test]
    fn bodies_that_are_not_answers_are_not_translated() {
        let error =
            json!({ "error": { "code": 400, "message": "bad", "status": "INVALID_ARGUMENT" } });
        assert!(answer_to_chat(&error, "m", 0).is_none());
        assert!(answer_to_chat(&json!("text"), "m", 0).is_none());
        assert!(answer_to_chat(&json!({ "candidates": [] }), "m", 0).is_none());
        assert!(answer_from_chat(&json!({ "error": { "message": "bad" } }), "m").is_none());
        assert!(answer_from_chat(&json!({ "choices": [] }), "m").is_none());
        assert!(answer_from_chat(&json!({ "candidates": [{}] }), "m").is_none());
    }

    /// The counts of a Gemini `usageMetadata`: input (tool use included),
    /// candidates, thoughts, cached, total.
    fn gemini_usage(answer: &Value) -> (i64, i64, i64, i64, i64) {
        let usage = &answer["usageMetadata"];
        let count = |name: &str| usage.get(name).and_then(Value::as_i64).unwrap_or(0);
        (
            count("promptTokenCount") + count("toolUsePromptTokenCount"),
            count("candidatesTokenCount"),
            count("thoughtsTokenCount"),
            count("cachedContentTokenCount"),
            count("totalTokenCount"),
        )
    }

    /// The counts of a chat `usage`: prompt, completion, cached, reasoning,
    /// total.
    fn chat_usage(completion: &Value) -> (i64, i64, i64, i64, i64) {
        let usage = &completion["usage"];
        let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
        (
            count("/prompt_tokens"),
            count("/completion_tokens"),
            count("/prompt_tokens_details/cached_tokens"),
            count("/completion_tokens_details/reasoning_tokens"),
            count("/total_tokens"),
        )
    }

    fn gemini_answer_with(usage: Value) -> Value {
        json!({
            "candidates": [{ "content": { "role": "model", "parts": [{ "text": "hi" }] }, "finishReason": "STOP" }],
            "usageMetadata": usage,
            "responseId": "r",
        })
    }

    #[test]
    fn usage_read_back_through_chat_is_the_usage_given() {
        let answer = gemini_answer_with(json!({
            "promptTokenCount": 100, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30, "cachedContentTokenCount": 60, "totalTokenCount": 155,
        }));
        let chat = answer_to_chat(&answer, "m", 0).unwrap();
        let back = answer_from_chat(&chat, "m").unwrap();
        assert_eq!(gemini_usage(&back), gemini_usage(&answer));
        assert_eq!(gemini_usage(&back), (105, 20, 30, 60, 155));
        assert_eq!(
            answer_to_chat(&back, "m", 0).map(|again| chat_usage(&again)),
            Some(chat_usage(&chat))
        );
    }

    /// A provider's figures may be anything: sums and differences
    /// saturate, and a count never goes below zero.
    #[test]
    fn usage_at_the_limits_of_i64_saturates_instead_of_overflowing() {
        let answer = gemini_answer_with(json!({
            "promptTokenCount": i64::MAX, "toolUsePromptTokenCount": i64::MAX,
            "candidatesTokenCount": i64::MAX, "thoughtsTokenCount": i64::MAX,
        }));
        let chat = answer_to_chat(&answer, "m", 0).unwrap();
        assert_eq!(chat_usage(&chat).4, i64::MAX);
        let strange = json!({ "choices": [{ "message": {} }], "usage": {
            "prompt_tokens": i64::MIN, "completion_tokens": 5,
            "completion_tokens_details": { "reasoning_tokens": i64::MAX },
        } });
        let gemini = answer_from_chat(&strange, "m").unwrap();
        assert_eq!(gemini["usageMetadata"]["candidatesTokenCount"], 0);
        assert_eq!(gemini["usageMetadata"]["thoughtsTokenCount"], 5);
    }

    // ---- streams --------------------------------------------------------

    fn run_to_chat(input: &[Value], wants_usage: bool) -> Vec<Value> {
        let mut translator = GeminiToChat::new("public-gemini", 7, wants_usage);
        let mut out = Vec::new();
        for event in input {
            translator.event(data(event).as_bytes(), &mut out);
        }
        translator.finish(&mut out);
        translator.finish(&mut out);
        events(&out, "\n\n")
    }

    fn chat_chunk(delta: Value, finish: Value) -> Value {
        json!({
            "id": "chatcmpl-r1", "object": "chat.completion.chunk", "created": 7, "model": "public-gemini",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    }

    #[test]
    fn a_gemini_stream_with_thoughts_text_a_call_and_usage_becomes_chat_chunks() {
        let input = [
            json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "Weighing it.", "thought": true }] }, "index": 0 }],
                "usageMetadata": { "promptTokenCount": 10, "totalTokenCount": 10 }, "modelVersion": "gemini-2.5-pro", "responseId": "r1" }),
            json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "Let me " }, { "text": "check." }] }, "index": 0 }],
                "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 3, "thoughtsTokenCount": 4, "totalTokenCount": 17 }, "responseId": "r1" }),
            json!({ "candidates": [{ "content": { "role": "model", "parts": [
                    { "functionCall": { "name": "weather", "args": { "city": "Oslo" } }, "thoughtSignature": "c2ln" },
                ] }, "finishReason": "STOP", "index": 0 }],
                "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 8, "thoughtsTokenCount": 4,
                    "cachedContentTokenCount": 6, "totalTokenCount": 22 },
                "responseId": "r1" }),
            // After the last event: nothing.
            json!({ "candidates": [{ "content": { "parts": [{ "text": "late" }] } }] }),
        ];

        let out = run_to_chat(&input, true);

        assert_eq!(
            out,
            [
                chat_chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
                chat_chunk(json!({ "reasoning_content": "Weighing it." }), Value::Null),
                chat_chunk(json!({ "content": "Let me " }), Value::Null),
                chat_chunk(json!({ "content": "check." }), Value::Null),
                chat_chunk(
                    json!({ "tool_calls": [{ "index": 0, "id": "call_0", "type": "function",
                        "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }] }),
                    Value::Null,
                ),
                chat_chunk(json!({}), json!("tool_calls")),
                json!({
                    "id": "chatcmpl-r1", "object": "chat.completion.chunk", "created": 7, "model": "public-gemini",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22,
                        "prompt_tokens_details": { "cached_tokens": 6 },
                        "completion_tokens_details": { "reasoning_tokens": 4 },
                    },
                }),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn a_gemini_stream_cut_short_is_closed_once() {
        let first = json!({ "candidates": [{ "content": { "parts": [{ "text": "Hel" }] } }],
            "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 1 }, "responseId": "r1" });

        let out = run_to_chat(std::slice::from_ref(&first), true);
        assert_eq!(out.len(), 5);
        assert_eq!(out[1], chat_chunk(json!({ "content": "Hel" }), Value::Null));
        assert_eq!(out[2], chat_chunk(json!({}), json!("stop")));
        assert_eq!(out[3]["usage"]["total_tokens"], 11);
        assert_eq!(out[4], json!("[DONE]"));

        // Without usage asked for, none is sent.
        let out = run_to_chat(&[first], false);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3], json!("[DONE]"));

        // Nothing at all still makes a whole chat stream.
        let out = run_to_chat(&[], true);
        assert_eq!(
            out,
            [
                json!({ "id": "chatcmpl-tollgate-7", "object": "chat.completion.chunk", "created": 7, "model": "public-gemini",
                    "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": null }] }),
                json!({ "id": "chatcmpl-tollgate-7", "object": "chat.completion.chunk", "created": 7, "model": "public-gemini",
                    "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn a_blocked_prompt_in_a_gemini_stream_ends_it_filtered() {
        let blocked = json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" },
            "usageMetadata": { "promptTokenCount": 4, "totalTokenCount": 4 }, "responseId": "r1" });
        let out = run_to_chat(&[blocked], false);
        assert_eq!(
            out,
            [
                chat_chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
                chat_chunk(json!({}), json!("content_filter")),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn a_gemini_stream_error_passes_as_a_chat_error() {
        let error = json!({ "error": { "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED" } });
        let out = run_to_chat(&[error], true);
        assert_eq!(
            out,
            [
                json!({ "error": { "message": "Quota exceeded", "type": "RESOURCE_EXHAUSTED", "code": 429 } }),
                json!("[DONE]"),
            ]
        );
    }

    fn gemini_event(parts: Value, rest: Value) -> Value {
        let mut event = json!({
            "candidates": [{ "content": { "role": "model", "parts": parts }, "index": 0 }],
            "modelVersion": "public-gemini",
            "responseId": "9",
        });
        if let (Some(event), Value::Object(rest)) = (event.as_object_mut(), rest) {
            for (key, value) in rest {
                match key.as_str() {
                    "finishReason" => {
                        event["candidates"][0]["finishReason"] = value;
                    }
                    _ => {
                        event.insert(key, value);
                    }
                }
            }
        }
        event
    }

    fn openai_chunk(delta: Value, finish: Value) -> Value {
        json!({ "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
    }

    #[test]
    fn a_chat_stream_with_thoughts_text_a_call_and_usage_becomes_gemini_events() {
        let input = [
            openai_chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            openai_chunk(json!({ "reasoning_content": "Hmm." }), Value::Null),
            openai_chunk(json!({ "content": "Let me " }), Value::Null),
            openai_chunk(json!({ "content": "check." }), Value::Null),
            openai_chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
                Value::Null,
            ),
            openai_chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":" } }] }),
                Value::Null,
            ),
            openai_chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Oslo\"}" } }] }),
                Value::Null,
            ),
            openai_chunk(json!({}), json!("tool_calls")),
        ];
        let usage = json!({ "id": "chatcmpl-9", "choices": [], "usage": {
            "prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
            "prompt_tokens_details": { "cached_tokens": 40 },
            "completion_tokens_details": { "reasoning_tokens": 5 },
        } });
        let mut translator = ChatToGemini::new("public-gemini");
        let mut out = Vec::new();
        for event in &input {
            translator.event(data(event).as_bytes(), &mut out);
        }
        let before_usage = events(&out, "\r\n\r\n").len();
        translator.event(data(&usage).as_bytes(), &mut out);
        let with_usage = out.len();
        translator.event(b"data: [DONE]", &mut out);
        translator.finish(&mut out);
        assert_eq!(out.len(), with_usage, "the last event is sent once");
        assert!(out.ends_with(b"\r\n\r\n") && !String::from_utf8_lossy(&out).contains("[DONE]"));

        let out = events(&out, "\r\n\r\n");
        assert_eq!(before_usage, 3, "the last event waits for the usage");
        assert_eq!(
            out,
            [
                gemini_event(json!([{ "text": "Hmm.", "thought": true }]), json!({})),
                gemini_event(json!([{ "text": "Let me " }]), json!({})),
                gemini_event(json!([{ "text": "check." }]), json!({})),
                gemini_event(
                    json!([{ "functionCall": { "id": "call_1", "name": "weather", "args": { "city": "Oslo" } } }]),
                    json!({
                        "finishReason": "STOP",
                        "usageMetadata": {
                            "promptTokenCount": 50, "candidatesTokenCount": 15, "thoughtsTokenCount": 5,
                            "cachedContentTokenCount": 40, "totalTokenCount": 70,
                        },
                    }),
                ),
            ]
        );
    }

    #[test]
    fn a_chat_stream_without_usage_ends_at_done_or_at_its_end() {
        let run = |input: &[Value], done: bool| {
            let mut translator = ChatToGemini::new("public-gemini");
            let mut out = Vec::new();
            for event in input {
                translator.event(data(event).as_bytes(), &mut out);
            }
            if done {
                translator.event(b"data: [DONE]", &mut out);
            }
            let at_done = out.len();
            translator.finish(&mut out);
            (events(&out, "\r\n\r\n"), at_done == out.len())
        };
        let text = openai_chunk(json!({ "content": "Hi" }), Value::Null);
        let last =
            |finish: &str| gemini_event(json!([{ "text": "" }]), json!({ "finishReason": finish }));

        let (out, ended_at_done) = run(
            &[text.clone(), openai_chunk(json!({}), json!("length"))],
            true,
        );
        assert!(ended_at_done);
        assert_eq!(
            out,
            [
                gemini_event(json!([{ "text": "Hi" }]), json!({})),
                last("MAX_TOKENS")
            ]
        );

        // Cut short: closed by `finish`, as a stop.
        let (out, ended_at_done) = run(std::slice::from_ref(&text), false);
        assert!(!ended_at_done);
        assert_eq!(
            out,
            [
                gemini_event(json!([{ "text": "Hi" }]), json!({})),
                last("STOP")
            ]
        );

        // Arguments that are not JSON are sent as no arguments.
        let broken = openai_chunk(
            json!({ "tool_calls": [{ "index": 0, "id": "c", "function": { "name": "f", "arguments": "{\"a\":" } }] }),
            json!("tool_calls"),
        );
        let (out, _) = run(&[broken], true);
        assert_eq!(
            out,
            [gemini_event(
                json!([{ "functionCall": { "id": "c", "name": "f", "args": {} } }]),
                json!({ "finishReason": "STOP" }),
            )]
        );
    }

    #[test]
    fn a_chat_stream_error_passes_as_a_gemini_error() {
        let mut translator = ChatToGemini::new("public-gemini");
        let mut out = Vec::new();
        translator.event(
            data(&openai_chunk(json!({ "content": "Hi" }), Value::Null)).as_bytes(),
            &mut out,
        );
        translator.event(
            br#"data: {"error":{"message":"overloaded","type":"server_error"}}"#,
            &mut out,
        );
        translator.finish(&mut out);
        let out = events(&out, "\r\n\r\n");
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1],
            json!({ "error": { "code": 500, "message": "overloaded", "status": "INTERNAL" } })
        );
    }

    // ---- properties -------------------------------------------------------

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::{super::*, chat_usage, gemini_answer_with, gemini_usage, map};
        use crate::platform::arbitrary;

        /// Keys Gemini's readers look for, so that arbitrary objects often
        /// hold them.
        const KEYS: &[&str] = &[
            "contents",
            "role",
            "parts",
            "text",
            "thought",
            "thoughtSignature",
            "inlineData",
            "inline_data",
            "mimeType",
            "data",
            "fileData",
            "functionCall",
            "functionResponse",
            "name",
            "args",
            "id",
            "response",
            "systemInstruction",
            "system_instruction",
            "tools",
            "functionDeclarations",
            "parameters",
            "parametersJsonSchema",
            "type",
            "nullable",
            "enum",
            "properties",
            "items",
            "anyOf",
            "toolConfig",
            "functionCallingConfig",
            "mode",
            "allowedFunctionNames",
            "generationConfig",
            "maxOutputTokens",
            "stopSequences",
            "responseMimeType",
            "responseSchema",
            "responseJsonSchema",
            "thinkingConfig",
            "thinkingBudget",
            "thinkingLevel",
            "candidateCount",
            "candidates",
            "content",
            "finishReason",
            "usageMetadata",
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "cachedContentTokenCount",
            "toolUsePromptTokenCount",
            "totalTokenCount",
            "promptFeedback",
            "blockReason",
            "responseId",
            "error",
            "message",
            "code",
            "status",
            "model",
            "stream",
        ];

        /// Strings Gemini's readers compare against.
        const WORDS: &[&str] = &[
            "user",
            "model",
            "function",
            "STOP",
            "MAX_TOKENS",
            "SAFETY",
            "AUTO",
            "ANY",
            "NONE",
            "VALIDATED",
            "application/json",
            "text/plain",
            "image/png",
            "audio/wav",
            "OBJECT",
            "STRING",
            "minimal",
            "low",
            "high",
            "weather",
            "[DONE]",
            "",
        ];

        /// Any JSON value, leaning toward Gemini's fields and words.
        fn gemini_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                arbitrary::scalar(),
                prop::sample::select(WORDS).prop_map(Value::from),
            ];
            let key = prop_oneof![
                4 => prop::sample::select(KEYS).prop_map(str::to_owned),
                1 => arbitrary::key(),
            ];
            leaf.prop_recursive(5, 64, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((key.clone(), inner), 0..8)
                        .prop_map(|fields| Value::Object(fields.into_iter().collect())),
                ]
            })
        }

        /// One part of a Gemini content, often well formed.
        fn part() -> impl Strategy<Value = Value> {
            let name = prop::sample::select(&["weather", "clock"][..]);
            prop_oneof![
                any::<String>().prop_map(|text| json!({ "text": text })),
                any::<String>().prop_map(|text| json!({ "text": text, "thought": true })),
                (prop::sample::select(WORDS), any::<String>()).prop_map(
                    |(mime, data)| json!({ "inlineData": { "mimeType": mime, "data": data } })
                ),
                (name.clone(), gemini_json())
                    .prop_map(|(name, args)| json!({ "functionCall": { "name": name, "args": args } })),
                (name, gemini_json()).prop_map(
                    |(name, response)| json!({ "functionResponse": { "name": name, "response": response } })
                ),
                gemini_json(),
            ]
        }

        /// A Gemini request or answer event, often well formed, with
        /// arbitrary values where the readers expect one.
        fn gemini_body() -> impl Strategy<Value = Value> {
            let role = prop::sample::select(&["user", "model", "system"][..]);
            let content = (role, prop::collection::vec(part(), 0..4))
                .prop_map(|(role, parts)| json!({ "role": role, "parts": parts }));
            (
                prop::collection::vec(content, 0..5),
                prop::option::of(gemini_json()),
                prop::option::of(gemini_json()),
                prop::option::of(gemini_json()),
                prop::option::of(gemini_json()),
            )
                .prop_map(|(contents, tools, config, usage, finish)| {
                    let mut body = json!({
                        "model": "m",
                        "contents": contents,
                        "candidates": contents.iter().map(|content| json!({ "content": content, "finishReason": finish })).collect::<Vec<_>>(),
                    });
                    for (field, value) in [
                        ("tools", tools),
                        ("generationConfig", config),
                        ("usageMetadata", usage),
                    ] {
                        if let Some(value) = value {
                            body[field] = value;
                        }
                    }
                    body
                })
        }

        /// Each event (without its blank line) of `bytes`.
        fn cut(bytes: &[u8]) -> Vec<&[u8]> {
            let mut events = Vec::new();
            let mut start = 0;
            for end in memchr::memmem::find_iter(bytes, b"\n\n") {
                if end >= start {
                    events.push(&bytes[start..end]);
                    start = end + 2;
                }
            }
            events.push(&bytes[start..]);
            events
        }

        /// Whether each event is a `data:` line of JSON (or `[DONE]`, when
        /// `done` allows it), ended by `end`.
        fn whole_events(out: &[u8], end: &str, done: bool) -> bool {
            let out = String::from_utf8_lossy(out);
            out.is_empty()
                || out.ends_with(end)
                    && out
                        .split(end)
                        .filter(|event| !event.is_empty())
                        .all(|event| {
                            event.strip_prefix("data: ").is_some_and(|data| {
                                (done && data == "[DONE]")
                                    || serde_json::from_str::<Value>(data).is_ok()
                            })
                        })
        }

        proptest! {
            #![proptest_config(arbitrary::config(256))]

            /// No request or answer, whatever its values, panics a
            /// translator.
            #[test]
            fn prop_no_body_panics_a_gemini_translator(
                value in prop_oneof![
                    arbitrary::json(),
                    arbitrary::request_body().prop_map(Value::Object),
                    gemini_json(),
                    gemini_body(),
                ],
                created in any::<i64>(),
            ) {
                let _ = request_to_chat(map(value.clone()));
                let _ = request_from_chat(map(value.clone()));
                let _ = answer_to_chat(&value, "m", created);
                let _ = answer_from_chat(&value, "m");
            }

            /// No stream, whatever its bytes or events, panics a stream
            /// translator, and each writes whole events: chat's end with
            /// one `[DONE]`, Gemini's with none.
            #[test]
            fn prop_no_stream_panics_a_gemini_stream_translator(
                bytes in arbitrary::sse_bytes(),
                values in prop::collection::vec(prop_oneof![gemini_json(), gemini_body(), arbitrary::json()], 0..8),
                wants_usage in any::<bool>(),
            ) {
                let events: Vec<String> = values.iter().map(|value| format!("data: {value}")).collect();
                let mut to_chat = GeminiToChat::new("m", 0, wants_usage);
                let mut from_chat = ChatToGemini::new("m");
                let (mut chat, mut gemini) = (Vec::new(), Vec::new());
                for event in cut(&bytes).into_iter().chain(events.iter().map(String::as_bytes)) {
                    to_chat.event(event, &mut chat);
                    from_chat.event(event, &mut gemini);
                }
                to_chat.finish(&mut chat);
                from_chat.finish(&mut gemini);
                to_chat.finish(&mut chat);
                from_chat.finish(&mut gemini);
                let done = memchr::memmem::find_iter(&chat, b"data: [DONE]\n\n").count();
                prop_assert_eq!(done, 1);
                prop_assert!(chat.ends_with(b"data: [DONE]\n\n"));
                prop_assert!(whole_events(&chat, "\n\n", true));
                prop_assert!(whole_events(&gemini, "\r\n\r\n", false));
            }

            /// Usage read back after a round trip through the other format
            /// is the usage given (counts below 2^38, so that their sums
            /// stay exact).
            #[test]
            fn prop_usage_read_back_after_a_round_trip_is_the_usage_given(
                (prompt, tool_use, candidates, thoughts, cached) in (0_i64..1 << 38, 0_i64..1 << 38, 0_i64..1 << 38, 0_i64..1 << 38, 0_i64..1 << 38),
            ) {
                let answer = gemini_answer_with(json!({
                    "promptTokenCount": prompt, "toolUsePromptTokenCount": tool_use,
                    "candidatesTokenCount": candidates, "thoughtsTokenCount": thoughts,
                    "cachedContentTokenCount": cached,
                    "totalTokenCount": prompt + tool_use + candidates + thoughts,
                }));
                let chat = answer_to_chat(&answer, "m", 0).unwrap();
                let back = answer_from_chat(&chat, "m").unwrap();
                prop_assert_eq!(gemini_usage(&back), gemini_usage(&answer));

                // And a chat answer's, through Gemini.
                let completion = json!({
                    "choices": [{ "message": { "content": "hi" }, "finish_reason": "stop" }],
                    "usage": {
                        "prompt_tokens": prompt, "completion_tokens": candidates + thoughts,
                        "total_tokens": prompt + candidates + thoughts,
                        "prompt_tokens_details": { "cached_tokens": cached.min(prompt) },
                        "completion_tokens_details": { "reasoning_tokens": thoughts },
                    },
                });
                let gemini = answer_from_chat(&completion, "m").unwrap();
                let again = answer_to_chat(&gemini, "m", 0).unwrap();
                prop_assert_eq!(chat_usage(&again), chat_usage(&completion));
            }
        }
    }
}
