//! A user's own usage: `GET /api/users/me/usage` (totals, a series with
//! every day, the split by model and by key, a page of requests) and the
//! streamed CSV of `GET /api/users/me/usage.csv`, against the usage rows
//! that real proxied requests left.

use axum::http::{HeaderMap, Method, StatusCode, header};
use chrono::{DateTime, Days, NaiveDate, Utc};
use http_body_util::BodyExt;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use server::{gateway::proxy::request::Endpoint, platform::entity::usage_record};
use tower::ServiceExt;

use crate::helpers::{
    Answer, PASSWORD, ProxyApp, assert_error, json_request, request_id, strings_in,
};

const USAGE: &str = "/api/users/me/usage";
const CSV: &str = "/api/users/me/usage.csv";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(days: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(days)).unwrap()
}

/// One request with `key` to `model`; returns its request id.
async fn call(proxy: &ProxyApp, key: &str, model: &str) -> String {
    let (status, headers, body) = proxy
        .ask_with_key(Endpoint::ChatCompletions, Some(key), model)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    request_id(&headers)
}

/// Moves a usage row to noon of `date` (the writer stamps rows now).
async fn move_to(proxy: &ProxyApp, id: &str, date: NaiveDate) {
    proxy.app.state.usage.flush().await;
    let at: DateTime<Utc> = date.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let done = usage_record::Entity::update_many()
        .col_expr(usage_record::Column::CreatedAt, Expr::value(at))
        .filter(usage_record::Column::Id.eq(id))
        .exec(proxy.app.db())
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
}

/// The caller's report for `query` (`from=…&to=…`), flushed first.
async fn report(proxy: &ProxyApp, token: &str, query: &str) -> Answer {
    proxy.app.state.usage.flush().await;
    proxy.app.get(&format!("{USAGE}?{query}"), token).await
}

async fn report_ok(proxy: &ProxyApp, token: &str, query: &str) -> Value {
    let (status, _, body) = report(proxy, token, query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true, "{body}");
    body
}

fn range(from: NaiveDate, to: NaiveDate) -> String {
    format!("from={from}&to={to}")
}

/// Sums of a field over rows.
fn sum(rows: &[&usage_record::Model], field: fn(&usage_record::Model) -> i64) -> i64 {
    rows.iter().map(|row| field(row)).sum()
}

/// A second user with credits and a key; returns their token and key.
async fn second_user(proxy: &ProxyApp) -> (String, String, String) {
    let (token, user_id) = proxy
        .app
        .register("otto@example.com", PASSWORD, "Otto")
        .await;
    let grant = json!({ "user_id": user_id, "amount": 100, "reason": "test funds" });
    let (status, _, body) = proxy
        .app
        .post("/api/admin/credits/grant", grant, &proxy.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (key, key_id) = proxy
        .app
        .create_key(&token, json!({ "name": "otto's" }))
        .await;
    (token, key, key_id)
}

/// A proxy with two models, `alpha` and `beta`, and a second key of the
/// test user named `ci`; returns the proxy and that key's secret and id.
async fn alpha_beta_and_a_ci_key() -> (ProxyApp, String, String) {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "alpha").await;
    proxy.route("mock", "beta").await;
    let (ci_key, ci_key_id) = proxy.create_key(json!({ "name": "ci" })).await;
    (proxy, ci_key, ci_key_id)
}

#[tokio::test]
async fn the_report_adds_up_the_callers_requests_by_day_model_and_key() {
    // Arrange: two models, two keys, requests on two days, and another
    // user's request that must not count.
    let (proxy, ci_key, ci_key_id) = alpha_beta_and_a_ci_key().await;
    let old = call(&proxy, &proxy.key, "alpha").await;
    call(&proxy, &proxy.key, "alpha").await;
    call(&proxy, &ci_key, "beta").await;
    call(&proxy, &ci_key, "beta").await;
    call(&proxy, &ci_key, "alpha").await;
    let (_, otto_key, _) = second_user(&proxy).await;
    call(&proxy, &otto_key, "alpha").await;
    move_to(&proxy, &old, days_ago(2)).await;
    let all = proxy.usage_rows().await;
    let user_id = proxy.app.user_id_of(&proxy.user).await;
    let mine: Vec<&usage_record::Model> = all.iter().filter(|r| r.user_id == user_id).collect();
    assert_eq!(mine.len(), 5);

    // Act
    let body = report_ok(&proxy, &proxy.user, &range(days_ago(3), today())).await;

    // Assert: totals are the sums of the caller's rows.
    let totals = &body["totals"];
    assert_eq!(totals["requests"], 5, "{body}");
    assert_eq!(totals["input_tokens"], sum(&mine, |r| r.input_tokens));
    assert_eq!(totals["output_tokens"], sum(&mine, |r| r.output_tokens));
    assert_eq!(
        totals["cache_read_tokens"],
        sum(&mine, |r| r.cache_read_tokens)
    );
    assert_eq!(
        totals["cache_write_tokens"],
        sum(&mine, |r| r.cache_write_tokens)
    );
    let cost = sum(&mine, |r| r.cost);
    assert!(cost > 0, "the test models are priced");
    assert_eq!(totals["cost_micro_credits"], cost);
    assert_eq!(
        totals["cost_credits"],
        server::platform::money::format_credits(cost).as_str()
    );
    assert_eq!(body["from"], days_ago(3).to_string().as_str());
    assert_eq!(body["to"], today().to_string().as_str());
    assert_eq!(body["total"], 5);

    // One entry per day, zeros included.
    let series = body["series"].as_array().unwrap();
    let dates: Vec<&str> = series.iter().map(|d| d["date"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..=3).rev().map(|n| days_ago(n).to_string()).collect();
    assert_eq!(dates, expected);
    let old_row = mine.iter().find(|r| r.id == old).unwrap();
    let requests: Vec<i64> = series
        .iter()
        .map(|d| d["requests"].as_i64().unwrap())
        .collect();
    assert_eq!(requests, [0, 1, 0, 4], "{series:?}");
    assert_eq!(series[1]["cost_micro_credits"], old_row.cost);
    assert_eq!(series[1]["input_tokens"], old_row.input_tokens);
    assert_eq!(series[0]["cost_micro_credits"], 0);
    assert_eq!(series[0]["cost_credits"], "0.000000");
    assert_eq!(series[3]["cost_micro_credits"], cost - old_row.cost);

    // Split by model and by key.
    let by_model = body["by_model"].as_array().unwrap();
    assert_eq!(by_model.len(), 2, "{body}");
    for entry in by_model {
        let model = entry["model"].as_str().unwrap();
        let rows: Vec<&usage_record::Model> =
            mine.iter().copied().filter(|r| r.model == model).collect();
        assert_eq!(entry["requests"], rows.len(), "{entry}");
        assert_eq!(entry["cost_micro_credits"], sum(&rows, |r| r.cost));
        assert_eq!(entry["output_tokens"], sum(&rows, |r| r.output_tokens));
    }
    let alpha = by_model.iter().find(|e| e["model"] == "alpha").unwrap();
    assert_eq!(alpha["requests"], 3);
    let by_key = body["by_key"].as_array().unwrap();
    assert_eq!(by_key.len(), 2, "{body}");
    let ci = by_key
        .iter()
        .find(|e| e["key_id"] == ci_key_id.as_str())
        .unwrap();
    assert_eq!(ci["key_name"], "ci");
    assert_eq!(ci["requests"], 3);
    let cli = by_key
        .iter()
        .find(|e| e["key_id"] == proxy.key_id.as_str())
        .unwrap();
    assert_eq!(cli["key_name"], "cli");
    assert_eq!(cli["requests"], 2);
    assert_eq!(
        ci["cost_micro_credits"].as_i64().unwrap() + cli["cost_micro_credits"].as_i64().unwrap(),
        cost
    );

    // The requests, newest first, with their key names and money.
    let listed = body["requests"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[4]["id"], old.as_str(), "the moved row is the oldest");
    let first = &listed[0];
    let row = mine
        .iter()
        .find(|r| r.id == first["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(first["model"], row.model.as_str());
    assert_eq!(first["key_id"], row.api_key_id.as_str());
    assert_eq!(first["endpoint"], "chat_completions");
    assert_eq!(first["status_code"], 200);
    assert_eq!(first["streamed"], false);
    assert_eq!(first["cost_micro_credits"], row.cost);
    assert_eq!(first["charged_micro_credits"], row.charged);
    assert_eq!(first["input_tokens"], row.input_tokens);
    assert!(first["error_kind"].is_null());
    crate::helpers::assert_iso_millis(first["created_at"].as_str().unwrap());
}

#[tokio::test]
async fn the_report_filters_by_key_and_model_and_pages_newest_first() {
    let (proxy, ci_key, ci_key_id) = alpha_beta_and_a_ci_key().await;
    let mut ids = Vec::new();
    for (key, model) in [
        (&proxy.key, "alpha"),
        (&ci_key, "alpha"),
        (&proxy.key, "beta"),
        (&ci_key, "beta"),
        (&ci_key, "beta"),
    ] {
        ids.push(call(&proxy, key, model).await);
    }
    // Distinct days, so that the order is certain: ids[0] oldest.
    for (n, id) in ids.iter().enumerate() {
        move_to(&proxy, id, days_ago(5 - n as u64)).await;
    }
    let base = range(days_ago(10), today());

    // Pages of two, newest first, with the total of every page.
    let page = |p: u32| format!("{base}&per_page=2&page={p}");
    let mut listed = Vec::new();
    for p in 1..=3 {
        let body = report_ok(&proxy, &proxy.user, &page(p)).await;
        assert_eq!(body["total"], 5);
        assert_eq!(body["page"], p);
        assert_eq!(body["per_page"], 2);
        assert_eq!(body["totals"]["requests"], 5, "totals cover every page");
        let rows = body["requests"].as_array().unwrap();
        assert_eq!(rows.len(), if p < 3 { 2 } else { 1 });
        listed.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    let beyond = report_ok(&proxy, &proxy.user, &page(4)).await;
    assert_eq!(beyond["requests"], json!([]));
    assert_eq!(beyond["total"], 5);

    // The key filter: only the ci key's requests, in every part.
    let body = report_ok(&proxy, &proxy.user, &format!("{base}&key_id={ci_key_id}")).await;
    assert_eq!(body["totals"]["requests"], 3);
    assert_eq!(body["total"], 3);
    assert_eq!(body["by_key"].as_array().unwrap().len(), 1);
    assert_eq!(body["by_key"][0]["key_id"], ci_key_id.as_str());
    let listed = strings_in(&body["requests"], "/key_id");
    assert_eq!(listed, [ci_key_id.as_str(); 3]);

    // The model filter, and both together.
    let body = report_ok(&proxy, &proxy.user, &format!("{base}&model=beta")).await;
    assert_eq!(body["totals"]["requests"], 3);
    assert_eq!(body["by_model"].as_array().unwrap().len(), 1);
    assert_eq!(body["by_model"][0]["model"], "beta");
    let both = format!("{base}&model=beta&key_id={ci_key_id}");
    let body = report_ok(&proxy, &proxy.user, &both).await;
    assert_eq!(body["totals"]["requests"], 2);
    let days_with_usage = body["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["requests"] != 0)
        .count();
    assert_eq!(days_with_usage, 2);

    // A narrower range leaves the older rows out.
    let body = report_ok(&proxy, &proxy.user, &range(days_ago(2), days_ago(1))).await;
    assert_eq!(body["totals"]["requests"], 2);
    assert_eq!(body["series"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_default_range_is_the_last_thirty_days_with_today() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "alpha").await;
    let inside = call(&proxy, &proxy.key, "alpha").await;
    let outside = call(&proxy, &proxy.key, "alpha").await;
    call(&proxy, &proxy.key, "alpha").await;
    move_to(&proxy, &inside, days_ago(29)).await;
    move_to(&proxy, &outside, days_ago(30)).await;

    let body = report_ok(&proxy, &proxy.user, "").await;

    assert_eq!(body["from"], days_ago(29).to_string().as_str());
    assert_eq!(body["to"], today().to_string().as_str());
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 30);
    assert_eq!(series[0]["requests"], 1, "29 days ago is in the range");
    assert_eq!(series[29]["requests"], 1, "today is in the range");
    assert_eq!(body["totals"]["requests"], 2, "30 days ago is not");
    assert_eq!(body["per_page"], 50);
    assert_eq!(body["page"], 1);
}

#[tokio::test]
async fn someone_elses_key_is_not_found_and_bad_queries_are_refused() {
    let proxy = ProxyApp::start().await;
    let (otto, _, otto_key_id) = second_user(&proxy).await;

    let answer = report(&proxy, &proxy.user, &format!("key_id={otto_key_id}")).await;
    assert_error(&answer, StatusCode::NOT_FOUND);
    let answer = report(&proxy, &proxy.user, "key_id=key_0000000000000000").await;
    assert_error(&answer, StatusCode::NOT_FOUND);
    // Otto's own key is fine for Otto.
    report_ok(&proxy, &otto, &format!("key_id={otto_key_id}")).await;

    for query in [
        "from=2025-13-01",
        "from=2025-1-1",
        "to=yesterday",
        "from=2025-10-02&to=2025-10-01",
        // 367 days, both ends counted.
        "from=2024-01-01&to=2025-01-01",
        "per_page=201",
        "per_page=0",
        "page=0",
        "page=abc",
        "colour=red",
    ] {
        let answer = report(&proxy, &proxy.user, query).await;
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(!message.is_empty(), "{query}");
    }
    // 366 days is the longest range.
    report_ok(&proxy, &proxy.user, "from=2024-01-02&to=2025-01-01").await;

    let anonymous = proxy.app.request(Method::GET, USAGE, None, None).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED);
    let anonymous = proxy.app.request(Method::GET, CSV, None, None).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED);
}

/// The CSV answer: status, headers and the body as text.
async fn csv(proxy: &ProxyApp, token: &str, query: &str) -> (StatusCode, HeaderMap, String) {
    proxy.app.state.usage.flush().await;
    let request = json_request(Method::GET, &format!("{CSV}?{query}"), None, Some(token));
    let response = proxy.app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

fn records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn the_csv_has_a_header_and_one_quoted_guarded_row_per_request() {
    // Arrange: keys whose names a spreadsheet would misread.
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "alpha").await;
    let formula = r#"=HYPERLINK("x")"#;
    let awkward = r#"Team "A", west"#;
    let (formula_key, formula_key_id) = proxy.create_key(json!({ "name": formula })).await;
    let (awkward_key, _) = proxy.create_key(json!({ "name": awkward })).await;
    let first = call(&proxy, &formula_key, "alpha").await;
    call(&proxy, &awkward_key, "alpha").await;
    call(&proxy, &proxy.key, "alpha").await;
    let rows = proxy.usage_rows().await;
    let from = days_ago(1);

    // Act
    let (status, headers, text) = csv(&proxy, &proxy.user, &range(from, today())).await;

    // Assert: the headers of a download.
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!(
            "attachment; filename=\"tollgate-usage-{from}-{}.csv\"",
            today()
        )
        .as_str()
    );
    // RFC 4180 on the wire: CRLF, quotes doubled inside quoted cells.
    assert!(
        text.starts_with("id,created_at,model,key_id,key_name,"),
        "{text}"
    );
    assert!(text.ends_with("\r\n"));
    assert!(text.contains(r#","'=HYPERLINK(""x"")","#), "{text}");
    assert!(text.contains(r#","Team ""A"", west","#), "{text}");

    let parsed = records(&text);
    assert_eq!(parsed.len(), 1 + rows.len(), "{text}");
    let header = &parsed[0];
    assert_eq!(header.len(), 19);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let by_id = |id: &str| parsed.iter().find(|r| r[0] == id).unwrap();
    let formula_row = by_id(&first);
    assert_eq!(formula_row[column("key_name")], format!("'{formula}"));
    assert_eq!(formula_row[column("key_id")], formula_key_id);
    assert_eq!(formula_row[column("model")], "alpha");
    let row = rows.iter().find(|r| r.id == first).unwrap();
    assert_eq!(
        formula_row[column("cost_micro_credits")],
        row.cost.to_string()
    );
    assert_eq!(
        formula_row[column("input_tokens")],
        row.input_tokens.to_string()
    );
    assert_eq!(formula_row[column("status_code")], "200");
    let names: Vec<&str> = parsed[1..]
        .iter()
        .map(|r| r[column("key_name")].as_str())
        .collect();
    assert!(names.contains(&awkward), "{names:?}");
    assert!(names.contains(&"cli"), "{names:?}");

    // The same filters as the report.
    let (_, _, only) = csv(
        &proxy,
        &proxy.user,
        &format!("key_id={formula_key_id}&model=alpha"),
    )
    .await;
    assert_eq!(records(&only).len(), 2, "{only}");
    let (_, _, none) = csv(&proxy, &proxy.user, "model=nothing").await;
    assert_eq!(records(&none).len(), 1, "the header alone: {none}");
}

#[tokio::test]
async fn the_csv_pages_through_more_rows_than_one_chunk_without_losing_or_repeating_one() {
    // Arrange: 2,345 rows, many sharing one timestamp, so that the keyset
    // must break ties by id.
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "alpha").await;
    let template = proxy
        .usage_row(&call(&proxy, &proxy.key, "alpha").await)
        .await;
    let early = today().and_hms_opt(0, 0, 1).unwrap().and_utc();
    let mut ids = vec![template.id.clone()];
    let copies: Vec<usage_record::Model> = (0..2_344)
        .map(|n| usage_record::Model {
            id: format!("req_bulk{n:012}"),
            created_at: early + chrono::Duration::milliseconds(n / 7),
            ..template.clone()
        })
        .collect();
    ids.extend(copies.iter().map(|row| row.id.clone()));
    for chunk in copies.chunks(50) {
        usage_record::Entity::insert_many(chunk.iter().map(|row| row.clone().into_active_model()))
            .exec_without_returning(proxy.app.db())
            .await
            .unwrap();
    }

    let (status, _, text) = csv(&proxy, &proxy.user, &range(today(), today())).await;

    assert_eq!(status, StatusCode::OK);
    let records = records(&text);
    let mut listed: Vec<String> = records[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(listed.len(), 2_345);
    // Oldest first.
    let created: Vec<&String> = records[1..].iter().map(|r| &r[1]).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    listed.sort();
    listed.dedup();
    ids.sort();
    assert_eq!(listed, ids);
    // And the JSON report agrees.
    let body = report_ok(&proxy, &proxy.user, &range(today(), today())).await;
    assert_eq!(body["total"], 2_345);
    assert_eq!(body["totals"]["cost_micro_credits"], template.cost * 2_345);
}

#[tokio::test]
async fn the_csv_refuses_bad_queries_and_other_peoples_keys_before_it_starts() {
    let proxy = ProxyApp::start().await;
    let (_, _, otto_key_id) = second_user(&proxy).await;
    let (status, headers, text) = csv(&proxy, &proxy.user, &format!("key_id={otto_key_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let (status, _, text) = csv(&proxy, &proxy.user, "from=2025-10-02&to=2025-10-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _, text) = csv(&proxy, &proxy.user, "from=2020-01-01&to=2025-01-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}
