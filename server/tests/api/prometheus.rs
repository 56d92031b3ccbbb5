//! `GET /metrics`: Prometheus's text format, checked by Prometheus's own
//! `promtool`, with counts equal to what was sent and what the usage rows
//! say.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::json;
use server::gateway::proxy::request::Endpoint;
use tower::ServiceExt;

use crate::helpers::{ProxyApp, llm_body, spawn_app};

const TOKEN: &str = "scrape-token-0123456789";

/// `GET /metrics` with `token`; the status and the body.
async fn scrape(proxy: &ProxyApp, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::builder().uri("/metrics");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = proxy
        .app
        .router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The sum of the samples of `name` whose labels include every one of
/// `labels` (`key="value"`).
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|label| rest.contains(label)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[tokio::test]
async fn metrics_need_their_token_and_are_off_without_one() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.metrics.token = Some(TOKEN.to_owned().into());
    })
    .await;
    for token in [
        None,
        Some("wrong-token-0123456789"),
        Some(proxy.key.as_str()),
    ] {
        let (status, _, _) = scrape(&proxy, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let (status, content_type, _) = scrape(&proxy, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    let off = spawn_app().await;
    let response = off
        .router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn after_a_mixed_load_promtool_passes_and_the_counts_are_exact() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.metrics.token = Some(TOKEN.to_owned().into());
    })
    .await;
    proxy.route("mock", "meter").await;
    // A deployment where nothing listens, before one that answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let dead = proxy
        .provider_with(json!({
            "name": "dead", "kind": "openai", "base_url": closed, "api_keys": ["sk-dead"],
        }))
        .await;
    let live = proxy.provider("mock").await;
    proxy
        .model_with(json!({
            "public_name": "spare", "input_price": 1_000_000, "output_price": 2_000_000,
            "deployments": [
                { "provider_id": dead, "upstream_model": "gone", "priority": 0 },
                { "provider_id": live, "upstream_model": "spare", "priority": 1 },
            ],
        }))
        .await;

    let mut sent = 0;
    for (endpoint, stream) in [
        (Endpoint::ChatCompletions, false),
        (Endpoint::ChatCompletions, true),
        (Endpoint::Messages, false),
        (Endpoint::Messages, true),
        (Endpoint::Responses, false),
    ] {
        for model in ["meter", "spare"] {
            let body = llm_body(endpoint, model, stream);
            let status = if stream {
                proxy.stream(endpoint, body).await.status
            } else {
                proxy.call(endpoint, body).await.0
            };
            assert_eq!(status, StatusCode::OK, "{} {model}", endpoint.label());
            sent += 1;
        }
    }
    let (status, _, _) = proxy.ask(Endpoint::ChatCompletions, "no-such-model").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let rows = proxy.usage_rows().await;
    assert_eq!(rows.len(), sent);
    let (status, _, text) = scrape(&proxy, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);

    // Prometheus's own checker reads it without a complaint.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let checked = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file.path()).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; scripts/bootstrap.sh test installs it)");
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // The counts are what was sent, and what the usage rows say.
    let total = |name: &str, labels: &[&str]| sum(&text, name, labels);
    assert_eq!(total("tollgate_llm_requests_total", &[]), sent as f64);
    assert_eq!(
        total(
            "tollgate_llm_requests_total",
            &["model=\"spare\"", "status=\"200\""]
        ),
        5.0
    );
    let column = |get: fn(&server::platform::entity::usage_record::Model) -> i64| {
        rows.iter().map(get).sum::<i64>() as f64
    };
    assert_eq!(
        total("tollgate_llm_tokens_total", &["kind=\"input\""]),
        column(|r| r.input_tokens)
    );
    assert_eq!(
        total("tollgate_llm_tokens_total", &["kind=\"output\""]),
        column(|r| r.output_tokens)
    );
    let charged = column(|r| r.charged);
    assert!(charged > 0.0);
    assert_eq!(
        total("tollgate_llm_charged_micro_credits_total", &[]),
        charged
    );
    assert_eq!(
        total("tollgate_llm_request_duration_seconds_count", &[]),
        sent as f64
    );
    // The first three requests for `spare` called the dead provider, then
    // the live one; then the dead one was cooling down and skipped.
    assert_eq!(
        total("tollgate_llm_upstream_attempts_total", &["model=\"spare\""]),
        8.0
    );
    assert_eq!(
        total(
            "tollgate_upstream_calls_total",
            &["provider=\"dead\"", "result=\"unreachable\""]
        ),
        3.0,
        "three failures, then the deployment cooled down and was skipped\n{text}"
    );
    assert_eq!(
        total(
            "tollgate_upstream_cooldowns_total",
            &["target=\"deployment\""]
        ),
        1.0
    );
    assert_eq!(total("tollgate_upstream_cooling", &[]), 1.0);
    assert_eq!(
        total(
            "tollgate_refused_requests_total",
            &["reason=\"model_not_found\""]
        ),
        1.0
    );
    assert_eq!(total("tollgate_holds_open", &[]), 0.0);
    assert_eq!(total("tollgate_holds_micro_credits", &[]), 0.0);
    assert!(total("tollgate_key_cache_lookups_total", &["result=\"hit\""]) >= sent as f64 - 1.0);
    assert_eq!(total("tollgate_build_info", &[]), 1.0);
}
