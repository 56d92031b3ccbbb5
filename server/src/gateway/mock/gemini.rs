//! The mock speaking Google's Gemini API: `models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:countTokens`, as Gemini CLI and
//! the `google-genai` SDKs read them. `contents` (text parts, function calls
//! and their responses) and `systemInstruction` in; a candidate with text, or
//! a call of the first declared function, out; `usageMetadata` with cached
//! and thinking tokens (for the `cache` and `reasoning` models); a stream of
//! one chunk per word, the last with the finish reason and the final usage.
//! The model and the method come from the path, as Google's API takes them.
//!
//! It decides what to say as the chat formats do (see the parent module):
//! the request is read into the same [`Reply`].

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{Reply, error, refuse_as_asked, sse, text_of};
use crate::gateway::format::ApiFormat;

const FORMAT: ApiFormat = ApiFormat::Gemini;

/// The model and method of a path (`/v1beta/models/m:generateContent`,
/// `/models/m:streamGenerateContent?alt=sse`).
fn target(path: &str) -> Option<(&str, &str)> {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let (name, method) = path.rsplit_once(':')?;
    let model = name.rsplit_once('/').map_or(name, |(_, model)| model);
    Some((model, method))
}

/// The answer to a request at `path`.
pub async fn answer(path: &str, body: &[u8]) -> Response {
    let Some((model, method)) = target(path) else {
        return error(FORMAT, StatusCode::NOT_FOUND, "no such method");
    };
    let request: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(err) => {
            let message = format!("Invalid JSON payload received: {err}");
            return error(FORMAT, StatusCode::BAD_REQUEST, &message);
        }
    };
    if method != "countTokens" && (request.contains_key("model") || request.contains_key("stream"))
    {
        // Google refuses fields it does not know: a forwarding bug that
        // leaves Tollgate's own fields in shows up here.
        let message = "Invalid JSON payload received. Unknown name \"model\" or \"stream\"";
        return error(FORMAT, StatusCode::BAD_REQUEST, message);
    }
    // `:countTokens` takes the request whole, or its contents alone.
    let request = match request.get("generateContentRequest") {
        Some(Value::Object(whole)) if method == "countTokens" => whole.clone(),
        _ => request,
    };
    let Some(contents) = request.get("contents").and_then(Value::as_array) else {
        return error(
            FORMAT,
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified",
        );
    };
    let messages = messages_of(contents);
    let chat = chat_request(&request);
    if method == "countTokens" {
        let reply = Reply::new(model, &chat, &messages, body);
        return Json(json!({ "totalTokens": reply.input_tokens })).into_response();
    }
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return error(FORMAT, StatusCode::NOT_FOUND, "no such method"),
    };
    if let Some(refused) = refuse_as_asked(FORMAT, model).await {
        return refused;
    }
    let reply = Reply::new(model, &chat, &messages, body);
    let thoughts = request
        .get("generationConfig")
        .and_then(|config| config.pointer("/thinkingConfig/includeThoughts"))
        .and_then(Value::as_bool)
        == Some(true);
    if stream {
        sse(model, reply.gemini_events(thoughts))
    } else {
        Json(reply.gemini_json(thoughts)).into_response()
    }
}

/// The conversation as chat messages: a function's response is a tool
/// message, every other turn its text.
fn messages_of(contents: &[Value]) -> Vec<Value> {
    contents
        .iter()
        .map(|content| {
            let parts = content.get("parts").and_then(Value::as_array);
            let response =
                parts.and_then(|parts| parts.iter().find_map(|part| part.get("functionResponse")));
            match response {
                Some(response) => json!({
                    "role": "tool",
                    "content": response_text(response.get("response")),
                }),
                None => {
                    let role = match content.get("role").and_then(Value::as_str) {
                        Some("model") => "assistant",
                        _ => "user",
                    };
                    json!({ "role": role, "content": text_of(content.get("parts")) })
                }
            }
        })
        .collect()
}

/// A function's response as text: its `result` or `output` when that is
/// all it says, else its JSON.
fn response_text(response: Option<&Value>) -> String {
    let Some(Value::Object(fields)) = response else {
        return response.map(Value::to_string).unwrap_or_default();
    };
    match fields.iter().next() {
        Some((name, Value::String(text)))
            if fields.len() == 1 && (name == "result" || name == "output") =>
        {
            text.clone()
        }
        _ => Value::Object(fields.clone()).to_string(),
    }
}

/// The request as the chat formats would send it, for [`Reply::new`]: the
/// system text, the first declared function, whether calls are off, the cap.
fn chat_request(request: &Map<String, Value>) -> Map<String, Value> {
    let mut chat = Map::new();
    if let Some(system) = request.get("systemInstruction") {
        let text = match system {
            Value::String(text) => text.clone(),
            system => text_of(system.get("parts")),
        };
        chat.insert("system".to_owned(), json!(text));
    }
    let first_function = request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| tool.get("functionDeclarations")?.as_array()?.first())
        .find_map(|function| function.get("name"));
    if let Some(name) = first_function {
        chat.insert("tools".to_owned(), json!([{ "name": name }]));
    }
    let mode = request
        .get("toolConfig")
        .and_then(|config| config.pointer("/functionCallingConfig/mode"))
        .and_then(Value::as_str);
    if mode == Some("NONE") {
        chat.insert("tool_choice".to_owned(), json!("none"));
    }
    if let Some(cap) = request
        .get("generationConfig")
        .and_then(|config| config.get("maxOutputTokens"))
    {
        chat.insert("max_tokens".to_owned(), cap.clone());
    }
    chat
}

impl Reply {
    fn gemini_finish(&self) -> &'static str {
        if self.truncated { "MAX_TOKENS" } else { "STOP" }
    }

    /// Gemini counts cached input inside `promptTokenCount` and thinking
    /// apart from the answer.
    fn gemini_usage(&self) -> Value {
        let prompt = self.input_tokens + self.cache_read;
        let output = self.output_tokens();
        let mut usage = json!({
            "promptTokenCount": prompt,
            "candidatesTokenCount": output - self.reasoning,
            "totalTokenCount": prompt + output,
        });
        if self.cache_read > 0 {
            usage["cachedContentTokenCount"] = json!(self.cache_read);
        }
        if self.reasoning > 0 {
            usage["thoughtsTokenCount"] = json!(self.reasoning);
        }
        usage
    }

    /// The answer's parts: the thinking when asked for, then the words or
    /// the call.
    fn gemini_parts(&self, thoughts: bool) -> Vec<Value> {
        let mut parts = Vec::new();
        if thoughts && self.reasoning > 0 {
            parts.push(json!({ "text": "Thinking it over.", "thought": true }));
        }
        match &self.tool_call {
            Some(call) => parts.push(json!({ "functionCall": {
                "id": format!("call_mock{}", self.id),
                "name": call.name,
                "args": call.arguments,
            } })),
            None => parts.push(json!({ "text": self.text() })),
        }
        parts
    }

    fn gemini_chunk(&self, parts: Vec<Value>, last: bool) -> Value {
        let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
        let mut chunk = json!({
            "candidates": [],
            "modelVersion": self.model,
            "responseId": format!("mock{}", self.id),
        });
        if last {
            candidate["finishReason"] = json!(self.gemini_finish());
        }
        chunk["candidates"] = json!([candidate]);
        if self.reports_usage {
            chunk["usageMetadata"] = if last {
                self.gemini_usage()
            } else {
                let prompt = self.input_tokens + self.cache_read;
                json!({ "promptTokenCount": prompt, "totalTokenCount": prompt })
            };
        }
        chunk
    }

    fn gemini_json(&self, thoughts: bool) -> Value {
        self.gemini_chunk(self.gemini_parts(thoughts), true)
    }

    /// One chunk per word; the last carries the finish reason and usage. A
    /// call comes whole, in the last chunk, as Gemini sends it.
    fn gemini_events(&self, thoughts: bool) -> Vec<String> {
        let event = |chunk: Value| format!("data: {chunk}\r\n\r\n");
        let mut events = Vec::new();
        if thoughts && self.reasoning > 0 {
            let thought = json!({ "text": "Thinking it over.", "thought": true });
            events.push(event(self.gemini_chunk(vec![thought], false)));
        }
        if self.tool_call.is_some() {
            let call = self.gemini_parts(false);
            events.push(event(self.gemini_chunk(call, true)));
            return events;
        }
        let pieces: Vec<String> = self.pieces().collect();
        let Some((last, firsts)) = pieces.split_last() else {
            events.push(event(self.gemini_chunk(vec![json!({ "text": "" })], true)));
            return events;
        };
        for piece in firsts {
            events.push(event(
                self.gemini_chunk(vec![json!({ "text": piece })], false),
            ));
        }
        events.push(event(
            self.gemini_chunk(vec![json!({ "text": last })], true),
        ));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn json_of(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn a_text_answer_counts_words_and_reports_googles_usage() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"one two three"}]}],
            "generationConfig":{"maxOutputTokens":100}}"#;
        let (status, answer) = json_of(answer("/models/m-cache:generateContent", body).await).await;
        assert_eq!(status, StatusCode::OK);
        let candidate = &answer["candidates"][0];
        assert_eq!(candidate["finishReason"], "STOP");
        let text = candidate["content"]["parts"][0]["text"].as_str().unwrap();
        assert!(text.ends_with("one two three"), "{text}");
        let usage = &answer["usageMetadata"];
        assert_eq!(usage["promptTokenCount"], 3 + 100);
        assert_eq!(usage["cachedContentTokenCount"], 100);
        assert_eq!(
            usage["candidatesTokenCount"],
            text.split_whitespace().count()
        );
    }

    #[tokio::test]
    async fn a_declared_function_is_called_then_its_response_is_read_back() {
        let tools = r#""tools":[{"functionDeclarations":[{"name":"lookup","parameters":{"type":"object"}}]}]"#;
        let ask = format!(
            r#"{{"contents":[{{"role":"user","parts":[{{"text":"the weather"}}]}}],{tools}}}"#
        );
        let (_, called) =
            json_of(answer("/v1beta/models/m:generateContent", ask.as_bytes()).await).await;
        let call = &called["candidates"][0]["content"]["parts"][0]["functionCall"];
        assert_eq!(call["name"], "lookup");
        assert_eq!(call["args"], json!({ "query": "the weather" }));
        let back = format!(
            r#"{{"contents":[{{"role":"user","parts":[{{"text":"the weather"}}]}},
                {{"role":"model","parts":[{{"functionCall":{call}}}]}},
                {{"role":"user","parts":[{{"functionResponse":{{"name":"lookup","response":{{"sunny":true}}}}}}]}}],{tools}}}"#
        );
        let (_, answered) =
            json_of(answer("/models/m:generateContent", back.as_bytes()).await).await;
        let text = answered["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap();
        assert!(text.starts_with("The tool said:"), "{text}");
    }

    #[tokio::test]
    async fn a_stream_sends_a_chunk_a_word_and_its_usage_last() {
        let body = br#"{"contents":[{"parts":[{"text":"a b"}]}]}"#;
        let response = answer("/models/m:streamGenerateContent?alt=sse", body).await;
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let chunks: Vec<Value> = text
            .split("\r\n\r\n")
            .filter(|event| !event.is_empty())
            .map(|event| serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        let last = chunks.last().unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        let said: String = chunks
            .iter()
            .map(|chunk| {
                chunk["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            last["usageMetadata"]["candidatesTokenCount"],
            said.split_whitespace().count()
        );
        assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
    }

    #[tokio::test]
    async fn fields_google_does_not_know_and_unknown_methods_are_refused() {
        let body = br#"{"model":"m","contents":[]}"#;
        let (status, refused) = json_of(answer("/models/m:generateContent", body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(refused["error"]["status"], "INVALID_ARGUMENT");
        let (status, _) = json_of(answer("/models/m:explode", b"{\"contents\":[]}").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, counted) = json_of(
            answer(
                "/models/m:countTokens",
                br#"{"contents":[{"parts":[{"text":"a b c"}]}]}"#,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, counted["totalTokens"].clone()),
            (StatusCode::OK, json!(3))
        );
    }
}
