//! Google's Gemini API, in and out: `POST /v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent` with a Tollgate key as Google's clients send
//! it (`x-goog-api-key` or `?key=`), `:countTokens`, the model list; a
//! Gemini provider kind called in Gemini's format (over HTTP, the mock
//! upstream) from every client; refusals in Google's error shape naming
//! the field. The pairs' common service is in `conformance.rs`.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{
    Answer, PROMPT, PROMPT_TOKENS, ProxyApp, REPLY, assert_google_error, llm_body, read_to_end,
};

const ENDPOINT: Endpoint = Endpoint::GenerateContent;

/// Sends `body` to `path` with `key` where Google's clients put it: the
/// `x-goog-api-key` header, or the URL.
async fn send(
    proxy: &ProxyApp,
    method: Method,
    path: &str,
    key_in_url: bool,
    body: Option<Value>,
) -> Answer {
    let path = if key_in_url {
        let joiner = if path.contains('?') { '&' } else { '?' };
        format!("{path}{joiner}key={}", proxy.key)
    } else {
        path.to_owned()
    };
    let mut request = Request::builder().method(method).uri(path);
    if !key_in_url {
        request = request.header("x-goog-api-key", &proxy.key);
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    proxy.app.send(request.body(body).unwrap()).await
}

fn asking(prompt: &str) -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": prompt }] }] })
}

#[tokio::test]
async fn a_key_is_read_from_googles_header_or_the_url_and_nothing_else_gets_in() {
    let proxy = ProxyApp::start().await;
    proxy.route("gemini", "gemini-mock").await;
    let path = "/v1beta/models/gemini-mock:generateContent";
    for key_in_url in [false, true] {
        let (status, headers, answer) =
            send(&proxy, Method::POST, path, key_in_url, Some(asking(PROMPT))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer.pointer("/candidates/0/content/parts/0/text"),
            Some(&json!(REPLY))
        );
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(row.endpoint, "generate_content");
    }
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(asking(PROMPT).to_string()))
        .unwrap();
    let refused = proxy.app.send(request).await;
    assert_google_error(&refused, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let wrong = Request::post(format!("{path}?key=tg-not-a-key"))
        .body(Body::from(asking(PROMPT).to_string()))
        .unwrap();
    assert_google_error(
        &proxy.app.send(wrong).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn the_model_list_names_the_chat_models_the_key_may_call_as_gemini_lists_them() {
    let proxy = ProxyApp::start().await;
    proxy.route("gemini", "gemini-mock").await;
    let provider = proxy.provider("openai").await;
    proxy
        .model_with(json!({ "public_name": "embedder", "kind": "embedding",
            "provider_id": provider, "upstream_model": "embedder",
            "input_price": 1, "output_price": 0 }))
        .await;

    let (status, _, listed) = send(&proxy, Method::GET, "/v1beta/models", false, None).await;

    assert_eq!(status, StatusCode::OK, "{listed}");
    let names: Vec<&str> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|model| model["name"].as_str())
        .collect();
    assert_eq!(names, ["models/gemini-mock"], "{listed}");
    let (status, _, one) = send(
        &proxy,
        Method::GET,
        "/v1beta/models/gemini-mock",
        true,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["supportedGenerationMethods"][0], "generateContent");
    let missing = send(&proxy, Method::GET, "/v1beta/models/embedder", false, None).await;
    assert_google_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn count_tokens_asks_a_gemini_provider_estimates_the_others_and_charges_nothing() {
    let proxy = ProxyApp::start().await;
    proxy.route("gemini", "gemini-mock").await;
    proxy.route("openai", "gpt-mock").await;
    let before = proxy.balance().await;
    let mut body = asking(PROMPT);
    body["systemInstruction"] = json!({ "parts": [{ "text": "be brief" }] });
    let path = |model: &str| format!("/v1beta/models/{model}:countTokens");

    let (status, _, counted) = send(
        &proxy,
        Method::POST,
        &path("gemini-mock"),
        false,
        Some(body.clone()),
    )
    .await;
    let (estimated_status, _, estimated) =
        send(&proxy, Method::POST, &path("gpt-mock"), false, Some(body)).await;

    // The provider's tokenizer (the mock's: a token a word, the system
    // instruction included), for the whole request.
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(counted["totalTokens"], PROMPT_TOKENS + 2, "{counted}");
    // Four bytes a token of the system instruction's and contents' JSON.
    assert_eq!(estimated_status, StatusCode::OK, "{estimated}");
    let body = asking(PROMPT);
    let read = body["contents"].to_string().len()
        + json!({ "parts": [{ "text": "be brief" }] })
            .to_string()
            .len();
    assert_eq!(estimated["totalTokens"], read.div_ceil(4), "{estimated}");
    assert!(proxy.usage_rows().await.is_empty());
    assert_eq!(proxy.balance().await, before);
    let unknown = send(
        &proxy,
        Method::POST,
        "/v1beta/models/nope:countTokens",
        false,
        Some(asking(PROMPT)),
    )
    .await;
    assert_google_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn bad_gemini_requests_are_refused_in_googles_shape_naming_the_field() {
    let proxy = ProxyApp::start().await;
    proxy.route("gemini", "gemini-mock").await;
    let path = "/v1beta/models/gemini-mock:generateContent";
    let with = |field: &str, value: Value| {
        let mut body = asking(PROMPT);
        body[field] = value;
        body
    };
    let cases = [
        (json!({ "systemInstruction": { "parts": [] } }), "contents"),
        (
            with("generationConfig", json!({ "candidateCount": 2 })),
            "generationConfig.candidateCount",
        ),
        (
            with("generationConfig", json!({ "maxOutputTokens": 0 })),
            "generationConfig.maxOutputTokens",
        ),
        (
            with("generationConfig", json!({ "maxOutputTokens": 10_000_000 })),
            "generationConfig.maxOutputTokens",
        ),
        (
            with("cachedContent", json!("cachedContents/abc")),
            "cachedContent",
        ),
        // Google reads snake_case too, which would slip past the checks.
        (
            with("generationConfig", json!({ "candidate_count": 8 })),
            "generationConfig.candidate_count",
        ),
        (
            with("cached_content", json!("cachedContents/abc")),
            "cached_content",
        ),
        (with("stream_", json!(false)), "stream_"),
        (
            json!({ "contents": [{ "role": "user", "parts": [{ "fileData": {
                "mimeType": "video/mp4", "fileUri": "https://www.youtube.com/watch?v=x" } }] }] }),
            "contents[0].parts[0].fileData",
        ),
        (
            with("tools", json!([{ "urlContext": {} }])),
            "tools[0].urlContext",
        ),
    ];
    for (body, field) in cases {
        let answer = send(&proxy, Method::POST, path, false, Some(body.clone())).await;
        let message = assert_google_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
        assert!(message.starts_with(field), "{field}: {message}");
        let violation = &answer.2["error"]["details"][0]["fieldViolations"][0]["field"];
        assert_eq!(violation, field, "{body}");
    }
    assert!(proxy.usage_rows().await.iter().all(|row| row.charged == 0));
    let (status, _, _) = send(
        &proxy,
        Method::POST,
        "/v1beta/models/gemini-mock:explode",
        false,
        Some(asking(PROMPT)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let request = Request::post(path)
        .header("x-goog-api-key", &proxy.key)
        .body(Body::from("{not json"))
        .unwrap();
    assert_google_error(
        &proxy.app.send(request).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn the_output_cap_is_held_and_sent_where_each_provider_reads_it() {
    let proxy = ProxyApp::start().await;
    for kind in ["gemini", "openai", "anthropic", "mock"] {
        let name = format!("capped-{kind}");
        proxy.route(kind, &name).await;
        let mut body = llm_body(ENDPOINT, &name, false);
        body["generationConfig"] = json!({ "maxOutputTokens": 3 });

        let (status, headers, answer) = proxy.call(ENDPOINT, body).await;

        assert_eq!(status, StatusCode::OK, "{kind}: {answer}");
        let candidate = &answer["candidates"][0];
        assert_eq!(candidate["finishReason"], "MAX_TOKENS", "{kind}: {answer}");
        assert_eq!(
            candidate["content"]["parts"][0]["text"], "Hello from the",
            "{kind}"
        );
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(
            (row.input_tokens, row.output_tokens),
            (PROMPT_TOKENS, 3),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_gemini_provider_reports_cached_and_thinking_tokens_to_every_client() {
    let proxy = ProxyApp::start().await;
    proxy.route("gemini", "gemini-cache-reasoning").await;
    for endpoint in [
        Endpoint::GenerateContent,
        Endpoint::ChatCompletions,
        Endpoint::Messages,
    ] {
        let (status, headers, answer) = proxy.ask(endpoint, "gemini-cache-reasoning").await;
        assert_eq!(status, StatusCode::OK, "{endpoint:?}: {answer}");
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(row.input_tokens, PROMPT_TOKENS, "{endpoint:?}");
        assert_eq!(row.cache_read_tokens, 100, "{endpoint:?}");
        assert_eq!(row.reasoning_tokens, 8, "{endpoint:?}");
        assert!(row.charged > 0 && row.charged == row.cost, "{row:?}");
    }
}

#[tokio::test]
async fn what_chat_cannot_express_is_refused_naming_the_field_and_gemini_passes_it_through() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-mock").await;
    proxy.route("gemini", "gemini-mock").await;
    let mut body = llm_body(ENDPOINT, "gpt-mock", false);
    body["tools"] = json!([{ "googleSearch": {} }]);

    let answer = proxy.call(ENDPOINT, body.clone()).await;

    let message = assert_google_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(message.starts_with("tools[0].googleSearch"), "{message}");
    // Refused for a Gemini provider too: Google's own tools bring in input
    // and fees no hold covers.
    body["model"] = json!("gemini-mock");
    let answer = proxy.call(ENDPOINT, body.clone()).await;
    let message = assert_google_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(message.starts_with("tools[0].googleSearch"), "{message}");
    body.as_object_mut().unwrap().remove("tools");
    body["safetySettings"] =
        json!([{ "category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE" }]);
    let (status, _, passed) = proxy.call(ENDPOINT, body).await;
    assert_eq!(status, StatusCode::OK, "{passed}");
}

#[tokio::test]
async fn gemini_methods_answer_under_v1_too_and_stream_as_server_sent_events() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-mock").await;
    let path = "/v1/models/gpt-mock:streamGenerateContent?alt=sse";
    let request = Request::post(path)
        .header("x-goog-api-key", &proxy.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(asking(PROMPT).to_string()))
        .unwrap();
    let response = proxy.open_request(request).await;
    let (status, headers, bytes) = read_to_end(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(
        crate::helpers::streamed_text(ENDPOINT, &text),
        REPLY,
        "{text}"
    );
    let row = proxy.usage_row_of(&headers).await;
    assert!(row.streamed);
    assert_eq!(row.endpoint, "generate_content");
}
