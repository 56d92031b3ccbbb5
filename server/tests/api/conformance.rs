//! The conformance suite: every client format (chat completions, messages,
//! responses, Gemini's generateContent) against every provider kind
//! (OpenAI-compatible, OpenAI with Responses, Anthropic, Gemini, the
//! built-in mock) must give the same service:
//! text, a stream, a tool call's round trip, usage and its charge, errors
//! in the client's shape, a stream the provider cuts and a client that
//! leaves, each charged exactly once. A pair is passed through or
//! translated; the client cannot tell.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{
    Answer, COST, PROMPT, PROMPT_TOKENS, ProxyApp, REPLY, REPLY_TOKENS, assert_anthropic_error,
    assert_google_error, assert_openai_error, llm_body, request_id, streamed_text,
};

const ENDPOINTS: [Endpoint; 4] = [
    Endpoint::ChatCompletions,
    Endpoint::Messages,
    Endpoint::Responses,
    Endpoint::GenerateContent,
];
const KINDS: [&str; 5] = ["openai", "openai_responses", "anthropic", "gemini", "mock"];

/// Runs `check` on a fresh app for every pair, naming the pair on failure.
async fn for_every_pair<F, Fut>(model: &str, check: F)
where
    F: Fn(ProxyApp, Endpoint, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for endpoint in ENDPOINTS {
        for kind in KINDS {
            let proxy = ProxyApp::start().await;
            proxy.route(kind, model).await;
            eprintln!("conformance: {endpoint:?} client, {kind} provider");
            check(proxy, endpoint, kind).await;
        }
    }
}

/// The answer's text, in the client's format.
fn text_of(endpoint: Endpoint, answer: &Value) -> String {
    let text = match endpoint {
        Endpoint::ChatCompletions => answer.pointer("/choices/0/message/content"),
        Endpoint::Messages => answer["content"]
            .as_array()
            .and_then(|blocks| blocks.iter().find(|block| block["type"] == "text"))
            .and_then(|block| block.get("text")),
        Endpoint::Responses => answer["output"]
            .as_array()
            .and_then(|items| items.iter().find(|item| item["type"] == "message"))
            .and_then(|item| item.pointer("/content/0/text")),
        Endpoint::Embeddings => None,
        Endpoint::GenerateContent => answer
            .pointer("/candidates/0/content/parts")
            .and_then(Value::as_array)
            .and_then(|parts| {
                parts
                    .iter()
                    .find(|part| part["thought"] != true && part.get("text").is_some())
            })
            .and_then(|part| part.get("text")),
    };
    text.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Input and output tokens as the client is told them.
fn reported(endpoint: Endpoint, answer: &Value) -> (i64, i64) {
    let count = |pointer: &str| {
        answer
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    };
    match endpoint {
        Endpoint::ChatCompletions => (
            count("/usage/prompt_tokens"),
            count("/usage/completion_tokens"),
        ),
        Endpoint::Embeddings => (count("/usage/prompt_tokens"), 0),
        Endpoint::Messages | Endpoint::Responses => {
            (count("/usage/input_tokens"), count("/usage/output_tokens"))
        }
        Endpoint::GenerateContent => (
            count("/usageMetadata/promptTokenCount"),
            count("/usageMetadata/candidatesTokenCount"),
        ),
    }
}

/// A request offering one function tool, `lookup`, in the client's format.
fn with_tool(endpoint: Endpoint, model: &str) -> Value {
    let parameters = json!({ "type": "object", "properties": { "query": { "type": "string" } } });
    let mut body = llm_body(endpoint, model, false);
    body["tools"] = match endpoint {
        Endpoint::ChatCompletions => json!([{ "type": "function",
            "function": { "name": "lookup", "parameters": parameters } }]),
        Endpoint::Messages => json!([{ "name": "lookup", "input_schema": parameters }]),
        Endpoint::Responses => {
            json!([{ "type": "function", "name": "lookup", "parameters": parameters }])
        }
        Endpoint::Embeddings => panic!("embeddings take no tools"),
        Endpoint::GenerateContent => {
            json!([{ "functionDeclarations": [{ "name": "lookup", "parameters": parameters }] }])
        }
    };
    body
}

/// The answer's tool call: its id, name and arguments (as JSON).
fn tool_call_of(endpoint: Endpoint, answer: &Value) -> Option<(String, String, Value)> {
    let (id, name, arguments) = match endpoint {
        Endpoint::ChatCompletions => {
            let call = answer.pointer("/choices/0/message/tool_calls/0")?;
            let arguments = call.pointer("/function/arguments")?.as_str()?;
            (
                &call["id"],
                &call["function"]["name"],
                serde_json::from_str(arguments).ok()?,
            )
        }
        Endpoint::Messages => {
            let call = answer["content"]
                .as_array()?
                .iter()
                .find(|b| b["type"] == "tool_use")?;
            (&call["id"], &call["name"], call["input"].clone())
        }
        Endpoint::Responses => {
            let call = answer["output"]
                .as_array()?
                .iter()
                .find(|i| i["type"] == "function_call")?;
            let arguments = call["arguments"].as_str()?;
            (
                &call["call_id"],
                &call["name"],
                serde_json::from_str(arguments).ok()?,
            )
        }
        Endpoint::Embeddings => return None,
        Endpoint::GenerateContent => {
            let call = answer
                .pointer("/candidates/0/content/parts")?
                .as_array()?
                .iter()
                .find_map(|part| part.get("functionCall"))?;
            (&call["id"], &call["name"], call["args"].clone())
        }
    };
    Some((
        id.as_str()?.to_owned(),
        name.as_str()?.to_owned(),
        arguments,
    ))
}

/// The conversation so far with the tool's `result`, in the client's format.
fn with_tool_result(
    endpoint: Endpoint,
    model: &str,
    (id, name, arguments): &(String, String, Value),
    result: &str,
) -> Value {
    let mut body = with_tool(endpoint, model);
    let user = json!({ "role": "user", "content": PROMPT });
    match endpoint {
        Endpoint::ChatCompletions => {
            body["messages"] = json!([user,
                { "role": "assistant", "content": null, "tool_calls": [{ "id": id, "type": "function",
                    "function": { "name": name, "arguments": arguments.to_string() } }] },
                { "role": "tool", "tool_call_id": id, "content": result }]);
        }
        Endpoint::Messages => {
            body["messages"] = json!([user,
                { "role": "assistant", "content": [{ "type": "tool_use", "id": id, "name": name, "input": arguments }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": id, "content": result }] }]);
        }
        Endpoint::Responses => {
            body["input"] = json!([user,
                { "type": "function_call", "call_id": id, "name": name, "arguments": arguments.to_string() },
                { "type": "function_call_output", "call_id": id, "output": result }]);
        }
        Endpoint::Embeddings => panic!("embeddings take no tools"),
        Endpoint::GenerateContent => {
            body["contents"] = json!([{ "role": "user", "parts": [{ "text": PROMPT }] },
                { "role": "model", "parts": [{ "functionCall": { "id": id, "name": name, "args": arguments } }] },
                { "role": "user", "parts": [{ "functionResponse": { "id": id, "name": name,
                    "response": { "result": result } } }] }]);
        }
    }
    body
}

/// An error answer in the client's own shape; its message.
fn assert_shaped_error(endpoint: Endpoint, answer: &Answer, status: StatusCode) -> String {
    match endpoint {
        Endpoint::Messages => assert_anthropic_error(answer, status, "api_error"),
        Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
            assert_openai_error(answer, status, "server_error", None, None)
        }
        Endpoint::GenerateContent => assert_google_error(answer, status, "INTERNAL"),
    }
}

#[tokio::test]
async fn every_pair_answers_text_and_charges_the_usage_it_reports() {
    for_every_pair("gpt-mock", |proxy, endpoint, kind| async move {
        let (status, headers, answer) = proxy.ask(endpoint, "gpt-mock").await;

        assert_eq!(status, StatusCode::OK, "{endpoint:?} on {kind}: {answer}");
        assert_eq!(
            text_of(endpoint, &answer),
            REPLY,
            "{endpoint:?} on {kind}: {answer}"
        );
        assert_eq!(
            reported(endpoint, &answer),
            (PROMPT_TOKENS, REPLY_TOKENS),
            "{endpoint:?} on {kind}"
        );
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(
            (row.input_tokens, row.output_tokens),
            (PROMPT_TOKENS, REPLY_TOKENS)
        );
        assert_eq!(
            (row.endpoint.as_str(), row.charged),
            (endpoint.label(), COST),
            "{endpoint:?} on {kind}"
        );
    })
    .await;
}

#[tokio::test]
async fn every_pair_streams_the_text_and_charges_it_once() {
    for_every_pair("gpt-mock", |proxy, endpoint, kind| async move {
        let mut body = llm_body(endpoint, "gpt-mock", true);
        if endpoint == Endpoint::ChatCompletions {
            body["stream_options"] = json!({ "include_usage": true });
        }
        let streamed = proxy.stream(endpoint, body).await;

        assert_eq!(
            streamed.status,
            StatusCode::OK,
            "{endpoint:?} on {kind}: {}",
            streamed.text
        );
        assert_eq!(
            streamed_text(endpoint, &streamed.text),
            REPLY,
            "{endpoint:?} on {kind}"
        );
        let row = proxy.usage_row_of(&streamed.headers).await;
        assert!(row.streamed);
        assert_eq!(
            (row.input_tokens, row.output_tokens),
            (PROMPT_TOKENS, REPLY_TOKENS),
            "{endpoint:?} on {kind}"
        );
        assert_eq!(row.charged, COST, "{endpoint:?} on {kind}");
    })
    .await;
}

#[tokio::test]
async fn every_pair_makes_a_tool_calls_round_trip() {
    for_every_pair("gpt-mock", |proxy, endpoint, kind| async move {
        let (status, _, first) = proxy.call(endpoint, with_tool(endpoint, "gpt-mock")).await;
        assert_eq!(status, StatusCode::OK, "{endpoint:?} on {kind}: {first}");
        let call = tool_call_of(endpoint, &first)
            .unwrap_or_else(|| panic!("{endpoint:?} on {kind}: no tool call in {first}"));
        assert_eq!(call.1, "lookup");
        assert!(
            call.2["query"].is_string(),
            "{endpoint:?} on {kind}: {first}"
        );

        let (status, _, second) = proxy
            .call(
                endpoint,
                with_tool_result(endpoint, "gpt-mock", &call, "a small bird"),
            )
            .await;

        assert_eq!(status, StatusCode::OK, "{endpoint:?} on {kind}: {second}");
        assert_eq!(
            text_of(endpoint, &second),
            "The tool said: a small bird",
            "{endpoint:?} on {kind}"
        );
        let rows = proxy.usage_rows().await;
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|row| row.charged > 0 && row.charged == row.cost),
            "{rows:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn every_pair_passes_a_provider_error_on_in_the_clients_shape_and_charges_nothing() {
    for_every_pair("gpt-error-500", |proxy, endpoint, kind| async move {
        let answer = proxy.ask(endpoint, "gpt-error-500").await;

        let message = assert_shaped_error(endpoint, &answer, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            message.contains("provider"),
            "{endpoint:?} on {kind}: {message}"
        );
        let row = proxy.usage_row_of(&answer.1).await;
        assert_eq!(
            (row.status_code, row.charged),
            (500, 0),
            "{endpoint:?} on {kind}"
        );
    })
    .await;
}

#[tokio::test]
async fn every_pair_charges_a_cut_stream_and_a_client_that_leaves_once() {
    for model in ["mock-drip-stream-cut", "mock-drip"] {
        for_every_pair(model, |proxy, endpoint, kind| async move {
            let response = proxy.open_stream(endpoint, model).await;
            let id = request_id(response.headers());
            let mut stream = response.into_body();
            let expected = if model.ends_with("cut") {
                while let Some(Ok(_)) = stream.frame().await {}
                "upstream_stream_error"
            } else {
                stream.frame().await.unwrap().unwrap();
                drop(stream);
                "client_disconnected"
            };

            let case = format!("{endpoint:?} on {kind}");
            proxy
                .assert_cut_and_charged_once(&id, expected, &case)
                .await;
        })
        .await;
    }
}
