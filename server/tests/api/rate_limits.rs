//! Rate limits: requests and tokens per minute per key and per user, with
//! OpenAI's `x-ratelimit-*` headers on every answer and 429 with
//! `Retry-After` in the client's format at the limit.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use server::{
    gateway::{
        limits::{RateLimits, plans},
        proxy::request::Endpoint,
    },
    platform::{
        cluster::bus::Bus,
        config::RateLimitSettings,
        plan::{Limits, PlanName},
    },
};

use crate::helpers::{
    Answer, ProxyApp, assert_anthropic_error, assert_error, assert_refused, llm_body, llm_request,
    request_id, string_at,
};

const MODEL: &str = "limited-model";

/// A proxy app whose trial plan (the test user's) has `limits`.
async fn app_with(limits: Limits) -> ProxyApp {
    let app = ProxyApp::start_with(|settings| {
        settings.rate_limits = RateLimitSettings::unlimited().with(PlanName::Trial, limits);
    })
    .await;
    app.route("mock", MODEL).await;
    app
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn number(headers: &HeaderMap, name: &str) -> u64 {
    header(headers, name).parse().unwrap()
}

async fn call(app: &ProxyApp, key: &str) -> Answer {
    let body = llm_body(Endpoint::ChatCompletions, MODEL, false);
    app.call_with_key(Endpoint::ChatCompletions, Some(key), body)
        .await
}

/// `POST /v1/messages/count_tokens` with the test key.
async fn count_tokens(app: &ProxyApp) -> Answer {
    let body = json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": "How many?" }],
    });
    let path = "/v1/messages/count_tokens";
    let request = llm_request(
        path,
        Endpoint::Messages,
        Some(&app.key),
        &[],
        body.to_string(),
    );
    app.app.send(request).await
}

/// The test key limited to `requests_per_minute` of its own.
async fn limit_key(app: &ProxyApp, requests_per_minute: u32) {
    app.app
        .patch_ok(
            &format!("/api/keys/{}", app.key_id),
            json!({ "requests_per_minute": requests_per_minute }),
            &app.user,
        )
        .await;
}

/// The tokens a request's usage row says it used.
async fn tokens_of(app: &ProxyApp, headers: &HeaderMap) -> u64 {
    let row = app.usage_row(&request_id(headers)).await;
    let total =
        row.input_tokens + row.output_tokens + row.cache_read_tokens + row.cache_write_tokens;
    u64::try_from(total).unwrap()
}

#[tokio::test]
async fn request_headers_count_down_exactly_then_429_with_retry_after() {
    let app = app_with(Limits::new(3, 0)).await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = call(&app, &app.key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "3");
        seen.push((
            number(&headers, "x-ratelimit-remaining-requests"),
            header(&headers, "x-ratelimit-reset-requests"),
        ));
        // No tokens limit on this plan: no tokens headers.
        assert!(headers.get("x-ratelimit-limit-tokens").is_none());
    }
    // One request comes back every 20 s.
    assert_eq!(
        seen,
        [
            (2, "20s".to_owned()),
            (1, "40s".to_owned()),
            (0, "1m0s".to_owned())
        ]
    );

    let (status, headers, body) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let message = string_at(&body, "/error/message");
    assert!(message.contains("3 requests per minute"), "{message}");
    assert_eq!(header(&headers, "retry-after"), "20");
    let retry_ms = number(&headers, "retry-after-ms");
    assert!((19_000..=20_000).contains(&retry_ms), "{retry_ms}");
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 0);
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "3");

    // The refusal costs nothing, not even a usage row: it is counted.
    assert!(app.has_no_usage_row(&headers).await);
    let counted = app.app.state.counters.refusals();
    assert!(
        counted
            .into_iter()
            .any(|(kind, n)| kind == "rate_limited" && n == 1)
    );
}

/// Requests answered before they hold (an unknown model, a bad body)
/// take from the window too: with Redis their windows are taken alone,
/// not with a hold; a full window answers 429 instead of their error, as
/// when the windows are taken before the body is read.
#[tokio::test]
async fn requests_refused_before_they_hold_count_and_a_full_window_answers_first() {
    let app = app_with(Limits::new(3, 0)).await;
    let unknown = llm_body(Endpoint::ChatCompletions, "no-such-model", false);
    let (status, headers, _) = app
        .call_with_key(Endpoint::ChatCompletions, Some(&app.key), unknown.clone())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 2);
    let request = llm_request(
        Endpoint::ChatCompletions.path(),
        Endpoint::ChatCompletions,
        Some(&app.key),
        &[],
        "{not json".to_owned(),
    );
    let (status, headers, _) = app.app.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 1);
    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 0);

    // Full: the unknown model and the priced one both get the 429.
    let (status, _, body) = app
        .call_with_key(Endpoint::ChatCompletions, Some(&app.key), unknown)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, headers, body) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(header(&headers, "retry-after"), "20");
    // Refused by the window: counted, not recorded.
    assert!(app.has_no_usage_row(&headers).await);
}

#[tokio::test]
async fn anthropic_clients_get_a_429_in_their_own_format() {
    let app = app_with(Limits::new(1, 0)).await;
    let body = llm_body(Endpoint::Messages, MODEL, false);
    let (status, headers, _) = app.call(Endpoint::Messages, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 0);

    let (status, headers, body) = app.call(Endpoint::Messages, body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(header(&headers, "retry-after"), "60");
}

#[tokio::test]
async fn count_tokens_is_refused_past_the_keys_limit_in_anthropics_shape() {
    let app = app_with(Limits::NONE).await;
    limit_key(&app, 3).await;

    for expected in [2, 1, 0] {
        let (status, headers, body) = count_tokens(&app).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["input_tokens"].as_u64().is_some_and(|n| n > 0),
            "{body}"
        );
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "3");
        assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), expected);
    }

    let answer = count_tokens(&app).await;
    let message =
        assert_anthropic_error(&answer, StatusCode::TOO_MANY_REQUESTS, "rate_limit_error");
    assert!(message.contains("this API key"), "{message}");
    assert!(message.contains("3 requests per minute"), "{message}");
    let headers = &answer.1;
    assert_eq!(header(headers, "retry-after"), "20");
    assert_eq!(header(headers, "x-ratelimit-limit-requests"), "3");
    assert_eq!(number(headers, "x-ratelimit-remaining-requests"), 0);
    assert!(
        app.usage_rows().await.is_empty(),
        "counting is not a request, refused or not"
    );
}

#[tokio::test]
async fn count_tokens_and_messages_take_from_the_same_window() {
    let app = app_with(Limits::NONE).await;
    limit_key(&app, 2).await;
    let messages = || app.ask(Endpoint::Messages, MODEL);

    let (status, headers, body) = count_tokens(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 1);
    let (status, headers, body) = messages().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 0);

    // Either endpoint now finds the window used up by both.
    let answer = count_tokens(&app).await;
    assert_anthropic_error(&answer, StatusCode::TOO_MANY_REQUESTS, "rate_limit_error");
    let answer = messages().await;
    assert_anthropic_error(&answer, StatusCode::TOO_MANY_REQUESTS, "rate_limit_error");
}

#[tokio::test]
async fn the_window_comes_back_after_the_wait_it_announced() {
    // One request a second.
    let app = app_with(Limits::new(60, 0)).await;
    let mut answered = 0;
    let refused = loop {
        let (status, headers, _) = call(&app, &app.key).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break headers;
        }
        assert_eq!(status, StatusCode::OK);
        answered += 1;
        assert!(answered <= 70, "the limit never bit");
    };
    assert!(answered >= 60, "only {answered} of 60 were let in");
    let wait = number(&refused, "retry-after-ms");
    assert!(wait <= 1_000, "{wait}");

    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), 0);
}

#[tokio::test]
async fn tokens_per_minute_count_the_tokens_really_used() {
    // 100 tokens a minute: one comes back every 600 ms, slower than the test.
    let app = app_with(Limits::new(0, 100)).await;

    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-ratelimit-limit-tokens"), "100");
    // A request is let in with one token; its usage is counted after.
    assert_eq!(number(&headers, "x-ratelimit-remaining-tokens"), 99);
    assert!(headers.get("x-ratelimit-limit-requests").is_none());
    let first = tokens_of(&app, &headers).await;
    assert!(first > 1 && first < 50, "the mock's usage changed: {first}");

    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        number(&headers, "x-ratelimit-remaining-tokens"),
        100 - first - 1
    );

    // Until the minute's tokens are used up.
    let mut used = first + tokens_of(&app, &headers).await;
    let refused = loop {
        let (status, headers, body) = call(&app, &app.key).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break (headers, body);
        }
        assert_eq!(status, StatusCode::OK);
        // Let in only while the tokens used so far left some over.
        assert!(used < 100, "let in after {used} tokens");
        used += tokens_of(&app, &headers).await;
    };
    assert!(used >= 100, "refused after only {used} tokens");
    let (headers, body) = refused;
    let message = string_at(&body, "/error/message");
    assert!(message.contains("100 tokens per minute"), "{message}");
    // What was used beyond the limit is owed: 600 ms for each token.
    let owed = used - 100;
    let wait = number(&headers, "retry-after-ms");
    assert!(
        wait > owed * 600 && wait <= (owed + 1) * 600 + 600,
        "{wait} ms for {owed} tokens owed"
    );
    assert_eq!(number(&headers, "x-ratelimit-remaining-tokens"), 0);
}

#[tokio::test]
async fn streamed_answers_carry_the_headers_and_count_their_tokens() {
    let app = app_with(Limits::new(10, 1_000)).await;
    let streamed = app.ask_streamed(Endpoint::ChatCompletions, MODEL).await;
    assert_eq!(streamed.status, StatusCode::OK);
    assert_eq!(
        number(&streamed.headers, "x-ratelimit-remaining-requests"),
        9
    );
    assert_eq!(
        number(&streamed.headers, "x-ratelimit-remaining-tokens"),
        999
    );
    let used = tokens_of(&app, &streamed.headers).await;
    assert!(used > 1);

    let (_, headers, _) = call(&app, &app.key).await;
    // 60 ms a token: the few milliseconds between the requests may give
    // one back.
    let remaining = number(&headers, "x-ratelimit-remaining-tokens");
    let expected = 1_000 - used - 1;
    assert!(
        remaining == expected || remaining == expected + 1,
        "{remaining}, expected {expected}"
    );
}

#[tokio::test]
async fn a_keys_own_limit_binds_and_the_users_limit_spans_every_key() {
    let app = app_with(Limits::new(5, 0)).await;
    let body = app
        .app
        .patch_ok(
            &format!("/api/keys/{}", app.key_id),
            json!({ "requests_per_minute": 2 }),
            &app.user,
        )
        .await;
    assert_eq!(body["key"]["requests_per_minute"], 2);

    for expected in [1, 0] {
        let (status, headers, _) = call(&app, &app.key).await;
        assert_eq!(status, StatusCode::OK);
        // The key's window is the tighter one.
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "2");
        assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), expected);
    }
    let (status, _, body) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(string_at(&body, "/error/message").contains("this API key"));

    // Another key of the same user: its own window is fresh, the user's
    // has 2 of 5 used (the refused request was stopped by the key's).
    let (other, _) = app.create_key(json!({ "name": "other" })).await;
    for expected in [2, 1, 0] {
        let (status, headers, _) = call(&app, &other).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "5");
        assert_eq!(number(&headers, "x-ratelimit-remaining-requests"), expected);
    }
    let (status, _, body) = call(&app, &other).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(string_at(&body, "/error/message").contains("your account"));
}

#[tokio::test]
async fn a_keys_own_limits_are_validated_and_can_be_removed() {
    let app = app_with(Limits::new(5, 0)).await;
    let path = format!("/api/keys/{}", app.key_id);
    for bad in [
        json!({ "requests_per_minute": 0 }),
        json!({ "tokens_per_minute": -3 }),
    ] {
        let answer = app.app.patch(&path, bad, &app.user).await;
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(
            message.contains("_per_minute must be between 1"),
            "{message}"
        );
    }
    let answer = app
        .app
        .post(
            "/api/keys",
            json!({ "name": "slow", "requests_per_minute": "a lot" }),
            &app.user,
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST);

    let (status, _, body) = app
        .app
        .post(
            "/api/keys",
            json!({ "name": "slow", "requests_per_minute": 1, "tokens_per_minute": 500 }),
            &app.user,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key"]["requests_per_minute"], 1);
    assert_eq!(body["key"]["tokens_per_minute"], 500);
    let id = string_at(&body, "/key/id");
    let body = app
        .app
        .patch_ok(
            &format!("/api/keys/{id}"),
            json!({ "requests_per_minute": null }),
            &app.user,
        )
        .await;
    assert_eq!(body["key"]["requests_per_minute"], Value::Null);
    assert_eq!(body["key"]["tokens_per_minute"], 500);
}

#[tokio::test]
async fn admins_change_a_plans_limits_at_run_time_and_they_are_kept() {
    let app = app_with(Limits::new(50, 0)).await;
    let (status, _, body) = app.app.get("/api/admin/rate-limits", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    let plans = body["plans"].as_array().unwrap();
    let names: Vec<&str> = plans.iter().map(|p| p["plan"].as_str().unwrap()).collect();
    assert_eq!(names, ["trial", "free", "pro", "pro_lifetime"]);
    assert_eq!(plans[0]["requests_per_minute"], 50);
    assert_eq!(plans[0]["source"], "config");

    let (_, headers, _) = call(&app, &app.key).await;
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "50");

    let (status, _, body) = app
        .app
        .put(
            "/api/admin/rate-limits/trial",
            json!({ "requests_per_minute": 1, "tokens_per_minute": 0 }),
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["plan"]["source"], "admin");
    assert_eq!(body["plan"]["requests_per_minute"], 1);
    let admin_id = app.app.user_id_of(&app.admin).await;
    assert_eq!(body["plan"]["updated_by"], admin_id.as_str());

    // The next request sees the new limit (a fresh window).
    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "1");
    let (status, _, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Kept: a new instance on the same database loads them.
    let fresh = RateLimits::new(RateLimitSettings::unlimited().by_plan(), Bus::default());
    plans::load(app.app.db(), &fresh).await.unwrap();
    assert_eq!(fresh.plan(PlanName::Trial), Limits::new(1, 0));
    assert_eq!(fresh.plan(PlanName::Free), Limits::NONE);
}

#[tokio::test]
async fn the_rate_limit_admin_api_checks_its_input_and_its_caller() {
    let app = app_with(Limits::new(50, 0)).await;
    let good = json!({ "requests_per_minute": 5, "tokens_per_minute": 0 });
    let negative = json!({ "requests_per_minute": -1, "tokens_per_minute": 0 });
    let (admin, user) = (Some(app.admin.as_str()), Some(app.user.as_str()));
    let (gold, free) = ("/api/admin/rate-limits/gold", "/api/admin/rate-limits/free");
    #[rustfmt::skip]
    let cases = [
        ("an unknown plan", gold, good.clone(), admin, StatusCode::NOT_FOUND, None),
        ("no token limit", free, json!({ "requests_per_minute": 5 }), admin, StatusCode::BAD_REQUEST, Some("tokens_per_minute")),
        ("a negative limit", free, negative, admin, StatusCode::BAD_REQUEST, None),
        ("a non-admin", free, good.clone(), user, StatusCode::FORBIDDEN, None),
        ("no token", free, good, None, StatusCode::UNAUTHORIZED, None),
    ];
    for (case, path, body, bearer, expected, named) in cases {
        let answer = app.app.request(Method::PUT, path, Some(body), bearer).await;
        assert_refused(case, &answer, expected, named);
    }
    let answer = app.app.get("/api/admin/rate-limits", &app.user).await;
    assert_error(&answer, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_limits_there_are_no_rate_limit_headers() {
    let app = app_with(Limits::NONE).await;
    let (status, headers, _) = call(&app, &app.key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .keys()
            .all(|name| !name.as_str().starts_with("x-ratelimit"))
    );
}
