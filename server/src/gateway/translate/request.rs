//! Requests: an Anthropic Messages request as an OpenAI chat completion, and
//! an OpenAI chat completion as an Anthropic Messages request.

use serde_json::{Map, Value, json};

use super::{Result, Unexpressible, object, plain_text};

/// Anthropic fields with no OpenAI counterpart, dropped on purpose: they
/// tune sampling, reasoning or Anthropic's own context handling, never what
/// the conversation says. (Claude Code sends `context_management` and
/// `output_config` with every request.)
const ANTHROPIC_DROPPED: &[&str] = &[
    "top_k",
    "thinking",
    "service_tier",
    "context_management",
    "output_config",
];

/// OpenAI fields with no Anthropic counterpart, dropped on purpose: they
/// tune sampling or storage, never what the answer is about.
const OPENAI_DROPPED: &[&str] = &[
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "service_tier",
    "store",
    "metadata",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

/// Thinking budgets for OpenAI's `reasoning_effort`.
fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "minimal" | "low" => Some(1_024),
        "medium" => Some(4_096),
        "high" => Some(16_384),
        _ => None,
    }
}

/// An Anthropic `/v1/messages` body as an OpenAI `/v1/chat/completions` one.
pub fn anthropic_to_openai(body: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut system = None;
    let mut messages = Value::Null;
    let mut stream = false;
    for (field, value) in body {
        match field.as_str() {
            "model" | "temperature" | "top_p" | "max_tokens" => {
                out.insert(field, value);
            }
            "stream" => {
                stream = value.as_bool().unwrap_or(false);
                out.insert(field, value);
            }
            "stop_sequences" => {
                out.insert("stop".to_owned(), value);
            }
            "metadata" => {
                if let Some(user) = value.get("user_id").filter(|u| u.is_string()) {
                    out.insert("user".to_owned(), user.clone());
                }
            }
            "system" => system = Some(plain_text(&value, "system")?),
            "messages" => messages = value,
            "tools" => {
                out.insert("tools".to_owned(), tools_to_openai(&value)?);
            }
            "tool_choice" => {
                let (choice, parallel) = tool_choice_to_openai(&value)?;
                out.insert("tool_choice".to_owned(), choice);
                if let Some(parallel) = parallel {
                    out.insert("parallel_tool_calls".to_owned(), Value::Bool(parallel));
                }
            }
            dropped if ANTHROPIC_DROPPED.contains(&dropped) => {}
            other => return Err(not_on_openai(other)),
        }
    }
    let mut chat = Vec::new();
    if let Some(system) = system.filter(|s| !s.is_empty()) {
        chat.push(json!({ "role": "system", "content": system }));
    }
    for (i, message) in messages.as_array().into_iter().flatten().enumerate() {
        anthropic_message(i, message, &mut chat)?;
    }
    out.insert("messages".to_owned(), Value::Array(chat));
    if stream {
        out.insert(
            "stream_options".to_owned(),
            json!({ "include_usage": true }),
        );
    }
    Ok(out)
}

fn not_on_openai(field: &str) -> Unexpressible {
    Unexpressible::new(
        field,
        format!("{field}: cannot be sent to a model of an OpenAI-compatible provider"),
    )
}

fn not_on_anthropic(field: &str) -> Unexpressible {
    Unexpressible::new(
        field,
        format!("{field}: cannot be sent to a model of an Anthropic provider"),
    )
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn anthropic_message(i: usize, message: &Value, chat: &mut Vec<Value>) -> Result<()> {
    let param = format!("messages[{i}]");
    let content = message.get("content").unwrap_or(&Value::Null);
    match message.get("role").and_then(Value::as_str) {
        Some("user") => user_to_openai(&param, content, chat),
        Some("assistant") => assistant_to_openai(&param, content, chat),
        // Claude Code sends system reminders as messages of their own.
        Some("system") => {
            let text = plain_text(content, &format!("{param}.content"))?;
            chat.push(json!({ "role": "system", "content": text }));
            Ok(())
        }
        _ => Err(Unexpressible::new(
            format!("{param}.role"),
            format!("{param}.role: must be user, assistant or system"),
        )),
    }
}

/// The blocks of an Anthropic message; a string content goes over as the
/// message it is, and `None` says so.
fn blocks_of<'a>(
    param: &str,
    role: &str,
    content: &'a Value,
    chat: &mut Vec<Value>,
) -> Result<Option<&'a Vec<Value>>> {
    match content {
        Value::String(text) => {
            chat.push(json!({ "role": role, "content": text }));
            Ok(None)
        }
        Value::Array(blocks) => Ok(Some(blocks)),
        _ => Err(Unexpressible::new(
            format!("{param}.content"),
            format!("{param}.content: must be a string or an array of blocks"),
        )),
    }
}

fn user_to_openai(param: &str, content: &Value, chat: &mut Vec<Value>) -> Result<()> {
    let Some(blocks) = blocks_of(param, "user", content, chat)? else {
        return Ok(());
    };
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{param}.content[{j}]");
        match block_type(block) {
            "text" => parts.push(
                json!({ "type": "text", "text": block.get("text").cloned().unwrap_or_default() }),
            ),
            "image" => parts.push(json!({
                "type": "image_url",
                "image_url": { "url": image_url(&at, block)? },
            })),
            // OpenAI wants each tool result as its own message, right after
            // the assistant's calls: before this user message's own parts.
            "tool_result" => {
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Unexpressible::new(
                            format!("{at}.tool_use_id"),
                            format!("{at}.tool_use_id: required"),
                        )
                    })?;
                let content = block.get("content").unwrap_or(&Value::Null);
                let text = plain_text(content, &format!("{at}.content"))?;
                chat.push(json!({ "role": "tool", "tool_call_id": id, "content": text }));
            }
            other => {
                return Err(Unexpressible::new(
                    format!("{at}.type"),
                    format!("{at}: a `{other}` block cannot be sent to an OpenAI-compatible model"),
                ));
            }
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    // Text alone goes as a plain string, which every compatible server reads.
    let content = if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        Value::String(texts.join("\n\n"))
    } else {
        Value::Array(parts)
    };
    chat.push(json!({ "role": "user", "content": content }));
    Ok(())
}

fn image_url(at: &str, block: &Value) -> Result<String> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let field = |name: &str| source.get(name).and_then(Value::as_str);
    match field("type") {
        Some("base64") => match (field("media_type"), field("data")) {
            (Some(media_type), Some(data)) => Ok(format!("data:{media_type};base64,{data}")),
            _ => Err(Unexpressible::new(
                format!("{at}.source"),
                format!("{at}.source: media_type and data are required"),
            )),
        },
        Some("url") => field("url").map(str::to_owned).ok_or_else(|| {
            Unexpressible::new(
                format!("{at}.source.url"),
                format!("{at}.source.url: required"),
            )
        }),
        _ => Err(Unexpressible::new(
            format!("{at}.source.type"),
            format!(
                "{at}.source.type: only base64 and url images can be sent to an OpenAI-compatible model"
            ),
        )),
    }
}

fn assistant_to_openai(param: &str, content: &Value, chat: &mut Vec<Value>) -> Result<()> {
    let Some(blocks) = blocks_of(param, "assistant", content, chat)? else {
        return Ok(());
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match block_type(block) {
            "text" => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "tool_use" => calls.push(json!({
                "id": block.get("id").cloned().unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": block.get("name").cloned().unwrap_or_default(),
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                },
            })),
            // Earlier reasoning has no place in an OpenAI request.
            "thinking" | "redacted_thinking" => {}
            other => {
                let at = format!("{param}.content[{j}]");
                return Err(Unexpressible::new(
                    format!("{at}.type"),
                    format!("{at}: a `{other}` block cannot be sent to an OpenAI-compatible model"),
                ));
            }
        }
    }
    let mut message = json!({ "role": "assistant", "content": text });
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    chat.push(message);
    Ok(())
}

fn tools_to_openai(tools: &Value) -> Result<Value> {
    let mut out = Vec::new();
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        // Anthropic's own server tools (web search, code execution, …)
        // run at Anthropic: no other provider has them.
        if let Some(kind) = tool
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| *k != "custom")
        {
            return Err(Unexpressible::new(
                format!("tools[{i}].type"),
                format!("tools[{i}]: the server tool `{kind}` exists only at Anthropic"),
            ));
        }
        let mut function = Map::new();
        function.insert(
            "name".to_owned(),
            tool.get("name").cloned().unwrap_or_default(),
        );
        if let Some(description) = tool.get("description") {
            function.insert("description".to_owned(), description.clone());
        }
        function.insert(
            "parameters".to_owned(),
            tool.get("input_schema")
                .cloned()
                .unwrap_or(json!({ "type": "object" })),
        );
        out.push(json!({ "type": "function", "function": function }));
    }
    Ok(Value::Array(out))
}

/// OpenAI's `tool_choice`, and `parallel_tool_calls` when it must be said.
fn tool_choice_to_openai(choice: &Value) -> Result<(Value, Option<bool>)> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disabled| !disabled);
    let openai = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => json!({
            "type": "function",
            "function": { "name": choice.get("name").cloned().unwrap_or_default() },
        }),
        _ => {
            return Err(Unexpressible::new(
                "tool_choice.type",
                "tool_choice.type: must be auto, any, tool or none",
            ));
        }
    };
    Ok((openai, parallel))
}

/// An OpenAI `/v1/chat/completions` body as an Anthropic `/v1/messages`
/// one. Anthropic requires `max_tokens`: `default_max_tokens` when the
/// request names none.
pub fn openai_to_anthropic(
    body: Map<String, Value>,
    default_max_tokens: u64,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut messages = Value::Null;
    let mut max_tokens = None;
    let mut reasoning = None;
    let mut parallel = None;
    let mut tool_choice = None;
    for (field, value) in body {
        match field.as_str() {
            "model" | "stream" => {
                out.insert(field, value);
            }
            "temperature" | "top_p" => {
                // OpenAI allows temperatures up to 2, Anthropic up to 1.
                if value.as_f64().is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    return Err(Unexpressible::new(
                        field.as_str(),
                        format!("{field}: models of Anthropic providers accept 0 to 1"),
                    ));
                }
                out.insert(field, value);
            }
            "max_tokens" | "max_completion_tokens" => {
                if !value.is_null() {
                    max_tokens = Some(value);
                }
            }
            "stop" => {
                let stops = match value {
                    Value::String(stop) => json!([stop]),
                    Value::Null => continue,
                    list => list,
                };
                out.insert("stop_sequences".to_owned(), stops);
            }
            "user" => {
                out.insert("metadata".to_owned(), json!({ "user_id": value }));
            }
            "messages" => messages = value,
            "tools" => {
                out.insert("tools".to_owned(), tools_to_anthropic(&value)?);
            }
            "tool_choice" => tool_choice = Some(value),
            "parallel_tool_calls" => parallel = value.as_bool(),
            "reasoning_effort" => reasoning = value.as_str().map(str::to_owned),
            "n" if value.as_u64().is_none_or(|n| n == 1) => {}
            "response_format" if value.get("type").and_then(Value::as_str) == Some("text") => {}
            "logprobs" if value.as_bool() != Some(true) => {}
            dropped if OPENAI_DROPPED.contains(&dropped) => {}
            other => return Err(not_on_anthropic(other)),
        }
    }
    let max_tokens = max_tokens.unwrap_or(json!(default_max_tokens));
    if let Some(effort) = reasoning {
        let budget = thinking_budget(&effort).ok_or_else(|| {
            Unexpressible::new(
                "reasoning_effort",
                "reasoning_effort: must be minimal, low, medium or high",
            )
        })?;
        if max_tokens.as_u64().is_none_or(|max| max <= budget) {
            return Err(Unexpressible::new(
                "max_tokens",
                format!(
                    "max_tokens: must be more than {budget}, the thinking budget reasoning_effort `{effort}` asks for"
                ),
            ));
        }
        out.insert(
            "thinking".to_owned(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
    out.insert("max_tokens".to_owned(), max_tokens);
    if let Some(choice) = tool_choice_to_anthropic(tool_choice.as_ref(), parallel)? {
        out.insert("tool_choice".to_owned(), choice);
    }
    let (system, turns) = openai_messages(&messages)?;
    if !system.is_empty() {
        out.insert("system".to_owned(), Value::String(system.join("\n\n")));
    }
    out.insert("messages".to_owned(), Value::Array(turns));
    Ok(out)
}

fn tools_to_anthropic(tools: &Value) -> Result<Value> {
    let mut out = Vec::new();
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Err(Unexpressible::new(
                format!("tools[{i}].type"),
                format!(
                    "tools[{i}]: only function tools can be sent to a model of an Anthropic provider"
                ),
            ));
        }
        let function = tool.get("function").unwrap_or(&Value::Null);
        let mut anthropic = Map::new();
        anthropic.insert(
            "name".to_owned(),
            function.get("name").cloned().unwrap_or_default(),
        );
        if let Some(description) = function.get("description") {
            anthropic.insert("description".to_owned(), description.clone());
        }
        anthropic.insert(
            "input_schema".to_owned(),
            function
                .get("parameters")
                .cloned()
                .unwrap_or(json!({ "type": "object", "properties": {} })),
        );
        out.push(Value::Object(anthropic));
    }
    Ok(Value::Array(out))
}

fn tool_choice_to_anthropic(
    choice: Option<&Value>,
    parallel: Option<bool>,
) -> Result<Option<Value>> {
    let mut anthropic = match choice {
        None if parallel == Some(false) => json!({ "type": "auto" }),
        None => return Ok(None),
        Some(Value::String(choice)) => match choice.as_str() {
            "auto" => json!({ "type": "auto" }),
            "required" => json!({ "type": "any" }),
            "none" => json!({ "type": "none" }),
            _ => {
                return Err(Unexpressible::new(
                    "tool_choice",
                    "tool_choice: must be auto, required, none or a function",
                ));
            }
        },
        Some(choice) => match choice.get("function").and_then(|f| f.get("name")) {
            Some(name) => json!({ "type": "tool", "name": name }),
            None => {
                return Err(Unexpressible::new(
                    "tool_choice",
                    "tool_choice: a function choice needs function.name",
                ));
            }
        },
    };
    if parallel == Some(false) && anthropic["type"] != "none" {
        anthropic["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Ok(Some(anthropic))
}

/// The system prompts and the turns of an OpenAI conversation. Tool results
/// become `tool_result` blocks of a user turn; consecutive turns of one
/// role are merged, as Anthropic wants them alternating.
fn openai_messages(messages: &Value) -> Result<(Vec<String>, Vec<Value>)> {
    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for (i, message) in messages.as_array().into_iter().flatten().enumerate() {
        let param = format!("messages[{i}]");
        let content = message.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => {
                system.push(plain_text(content, &format!("{param}.content"))?);
                continue;
            }
            Some("user") => ("user", user_blocks(&param, content)?),
            Some("assistant") => ("assistant", assistant_blocks(&param, message)?),
            Some("tool") => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Unexpressible::new(
                            format!("{param}.tool_call_id"),
                            format!("{param}.tool_call_id: required"),
                        )
                    })?;
                let text = plain_text(content, &format!("{param}.content"))?;
                (
                    "user",
                    vec![json!({ "type": "tool_result", "tool_use_id": id, "content": text })],
                )
            }
            _ => {
                return Err(Unexpressible::new(
                    format!("{param}.role"),
                    format!("{param}.role: must be system, developer, user, assistant or tool"),
                ));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, previous)) if last == role => previous.extend(blocks),
            _ => turns.push((role.to_owned(), blocks)),
        }
    }
    let turns = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    Ok((system, turns))
}

fn user_blocks(param: &str, content: &Value) -> Result<Vec<Value>> {
    let parts = match content {
        Value::String(text) => return Ok(vec![json!({ "type": "text", "text": text })]),
        Value::Array(parts) => parts,
        _ => {
            return Err(Unexpressible::new(
                format!("{param}.content"),
                format!("{param}.content: must be a string or an array of parts"),
            ));
        }
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{param}.content[{j}]");
        match block_type(part) {
            "text" => blocks.push(
                json!({ "type": "text", "text": part.get("text").cloned().unwrap_or_default() }),
            ),
            "image_url" => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                blocks.push(json!({ "type": "image", "source": image_source(&at, url)? }));
            }
            other => {
                return Err(Unexpressible::new(
                    format!("{at}.type"),
                    format!(
                        "{at}: a `{other}` part cannot be sent to a model of an Anthropic provider"
                    ),
                ));
            }
        }
    }
    Ok(blocks)
}

fn image_source(at: &str, url: &str) -> Result<Value> {
    if let Some(data_url) = url.strip_prefix("data:") {
        if let Some((media_type, data)) = data_url.split_once(";base64,") {
            return Ok(json!({ "type": "base64", "media_type": media_type, "data": data }));
        }
    } else if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({ "type": "url", "url": url }));
    }
    Err(Unexpressible::new(
        format!("{at}.image_url.url"),
        format!("{at}.image_url.url: must be an http(s) URL or a base64 data URL"),
    ))
}

fn assistant_blocks(param: &str, message: &Value) -> Result<Vec<Value>> {
    let content = message.get("content").unwrap_or(&Value::Null);
    let mut blocks = Vec::new();
    let text = plain_text(content, &format!("{param}.content"))?;
    if !text.is_empty() {
        blocks.push(json!({ "type": "text", "text": text }));
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (j, call) in calls.into_iter().flatten().enumerate() {
        let at = format!("{param}.tool_calls[{j}].function.arguments");
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let input: Value = serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        })
        .map_err(|_| Unexpressible::new(at.clone(), format!("{at}: must be a JSON object")))?;
        blocks.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or_default(),
            "name": function.get("name").cloned().unwrap_or_default(),
            "input": object(input),
        }));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        object(value)
    }

    #[test]
    fn an_anthropic_conversation_with_tools_and_images_becomes_openai_chat() {
        let request = json!({
            "model": "claude-sonnet",
            "max_tokens": 1024,
            "system": [{ "type": "text", "text": "Be brief." }, { "type": "text", "text": "Use tools." }],
            "messages": [
                { "role": "user", "content": [
                    { "type": "text", "text": "What is in this picture, and the weather?" },
                    { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBOR" } },
                    { "type": "image", "source": { "type": "url", "url": "https://example.com/a.jpg" } },
                ] },
                { "role": "assistant", "content": [
                    { "type": "thinking", "thinking": "hmm", "signature": "s" },
                    { "type": "text", "text": "A cat. Checking the weather." },
                    { "type": "tool_use", "id": "toolu_1", "name": "weather", "input": { "city": "Oslo" } },
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "toolu_1", "content": [{ "type": "text", "text": "-3 °C" }] },
                    { "type": "text", "text": "Thanks" },
                ] },
            ],
            "tools": [{ "name": "weather", "description": "Weather now", "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } }],
            "tool_choice": { "type": "tool", "name": "weather", "disable_parallel_tool_use": true },
            "stop_sequences": ["END"],
            "temperature": 0.2,
            "top_k": 5,
            "metadata": { "user_id": "u-1" },
            "stream": true,
        });

        let openai = anthropic_to_openai(map(request)).unwrap();

        assert_eq!(
            Value::Object(openai),
            json!({
                "model": "claude-sonnet",
                "max_tokens": 1024,
                "tools": [{ "type": "function", "function": {
                    "name": "weather",
                    "description": "Weather now",
                    "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
                } }],
                "tool_choice": { "type": "function", "function": { "name": "weather" } },
                "parallel_tool_calls": false,
                "stop": ["END"],
                "temperature": 0.2,
                "user": "u-1",
                "stream": true,
                "messages": [
                    { "role": "system", "content": "Be brief.\n\nUse tools." },
                    { "role": "user", "content": [
                        { "type": "text", "text": "What is in this picture, and the weather?" },
                        { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBOR" } },
                        { "type": "image_url", "image_url": { "url": "https://example.com/a.jpg" } },
                    ] },
                    { "role": "assistant", "content": "A cat. Checking the weather.", "tool_calls": [
                        { "id": "toolu_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                    ] },
                    { "role": "tool", "tool_call_id": "toolu_1", "content": "-3 °C" },
                    { "role": "user", "content": "Thanks" },
                ],
                "stream_options": { "include_usage": true },
            })
        );
    }

    #[test]
    fn an_openai_conversation_with_tools_becomes_anthropic_messages() {
        let request = json!({
            "model": "gpt-x",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "developer", "content": [{ "type": "text", "text": "Use tools." }] },
                { "role": "user", "content": [
                    { "type": "text", "text": "Weather in Oslo and Rome?" },
                    { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/" } },
                    { "type": "image_url", "image_url": { "url": "https://example.com/map.png" } },
                ] },
                { "role": "assistant", "content": null, "tool_calls": [
                    { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                    { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                ] },
                { "role": "tool", "tool_call_id": "call_1", "content": "-3 °C" },
                { "role": "tool", "tool_call_id": "call_2", "content": "14 °C" },
                { "role": "user", "content": "Which is warmer?" },
            ],
            "tools": [{ "type": "function", "function": { "name": "weather", "parameters": { "type": "object" } } }],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "max_completion_tokens": 300,
            "stop": "END",
            "user": "u-1",
            "temperature": 0.5,
            "seed": 7,
        });

        let anthropic = openai_to_anthropic(map(request), 4096).unwrap();

        assert_eq!(
            Value::Object(anthropic),
            json!({
                "model": "gpt-x",
                "tools": [{ "name": "weather", "input_schema": { "type": "object" } }],
                "stop_sequences": ["END"],
                "metadata": { "user_id": "u-1" },
                "temperature": 0.5,
                "max_tokens": 300,
                "tool_choice": { "type": "any", "disable_parallel_tool_use": true },
                "system": "Be brief.\n\nUse tools.",
                "messages": [
                    { "role": "user", "content": [
                        { "type": "text", "text": "Weather in Oslo and Rome?" },
                        { "type": "image", "source": { "type": "base64", "media_type": "image/jpeg", "data": "/9j/" } },
                        { "type": "image", "source": { "type": "url", "url": "https://example.com/map.png" } },
                    ] },
                    { "role": "assistant", "content": [
                        { "type": "tool_use", "id": "call_1", "name": "weather", "input": { "city": "Oslo" } },
                        { "type": "tool_use", "id": "call_2", "name": "weather", "input": { "city": "Rome" } },
                    ] },
                    { "role": "user", "content": [
                        { "type": "tool_result", "tool_use_id": "call_1", "content": "-3 °C" },
                        { "type": "tool_result", "tool_use_id": "call_2", "content": "14 °C" },
                        { "type": "text", "text": "Which is warmer?" },
                    ] },
                ],
            })
        );
    }

    #[test]
    fn claude_codes_extra_fields_are_dropped_and_its_system_messages_kept() {
        let request = json!({
            "model": "m",
            "max_tokens": 100,
            "context_management": { "edits": [] },
            "output_config": { "effort": "high" },
            "messages": [
                { "role": "user", "content": "hi" },
                { "role": "system", "content": [{ "type": "text", "text": "Reminder." }] },
            ],
        });
        let openai = anthropic_to_openai(map(request)).unwrap();
        assert_eq!(
            Value::Object(openai),
            json!({
                "model": "m",
                "max_tokens": 100,
                "messages": [
                    { "role": "user", "content": "hi" },
                    { "role": "system", "content": "Reminder." },
                ],
            })
        );
    }

    #[test]
    fn anthropic_needs_max_tokens_so_the_default_is_sent() {
        let request = json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] });
        let anthropic = openai_to_anthropic(map(request), 4096).unwrap();
        assert_eq!(anthropic["max_tokens"], 4096);
    }

    #[test]
    fn reasoning_effort_becomes_a_thinking_budget_below_max_tokens() {
        let request = json!({ "model": "m", "messages": [], "reasoning_effort": "medium", "max_tokens": 8000 });
        let anthropic = openai_to_anthropic(map(request), 4096).unwrap();
        assert_eq!(
            anthropic["thinking"],
            json!({ "type": "enabled", "budget_tokens": 4096 })
        );

        let request =
            json!({ "model": "m", "messages": [], "reasoning_effort": "high", "max_tokens": 8000 });
        let err = openai_to_anthropic(map(request), 4096).unwrap_err();
        assert_eq!(err.param, "max_tokens");
    }

    #[test]
    fn what_the_other_side_cannot_express_is_refused_naming_the_field() {
        let to_openai = [
            (
                json!({ "model": "m", "messages": [], "tools": [{ "type": "web_search_20250305", "name": "web_search" }] }),
                "tools[0].type",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "user", "content": [{ "type": "document", "source": {} }] }] }),
                "messages[0].content[0].type",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "t", "content": [{ "type": "image" }] }] }] }),
                "messages[0].content[0].content[0].type",
            ),
            (
                json!({ "model": "m", "messages": [], "container": "c" }),
                "container",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "tool", "content": "x" }] }),
                "messages[0].role",
            ),
        ];
        for (request, param) in to_openai {
            let err = anthropic_to_openai(map(request.clone())).unwrap_err();
            assert_eq!(err.param, param, "{request}");
        }
        let to_anthropic = [
            (
                json!({ "model": "m", "messages": [], "temperature": 1.5 }),
                "temperature",
            ),
            (json!({ "model": "m", "messages": [], "n": 2 }), "n"),
            (
                json!({ "model": "m", "messages": [], "response_format": { "type": "json_schema" } }),
                "response_format",
            ),
            (
                json!({ "model": "m", "messages": [], "logprobs": true }),
                "logprobs",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "assistant", "tool_calls": [{ "id": "c", "function": { "name": "f", "arguments": "{not json" } }] }] }),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "user", "content": [{ "type": "input_audio" }] }] }),
                "messages[0].content[0].type",
            ),
            (
                json!({ "model": "m", "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "ftp://x" } }] }] }),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({ "model": "m", "messages": [], "tools": [{ "type": "custom", "custom": {} }] }),
                "tools[0].type",
            ),
            (
                json!({ "model": "m", "messages": [], "functions": [] }),
                "functions",
            ),
        ];
        for (request, param) in to_anthropic {
            let err = openai_to_anthropic(map(request.clone()), 4096).unwrap_err();
            assert_eq!(err.param, param, "{request}");
        }
    }
}
