//! The admin's analytics: `/api/admin/llm-usage` and
//! `/api/admin/users/active` (the contract's sections 6 and 7),
//! `/api/admin/stats` and `/api/admin/usage.csv`, all read from the
//! `daily_user_usage` rollup that the usage writer keeps. Usage is made by
//! real requests through the proxy to the mock provider.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method, StatusCode, header};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use http_body_util::BodyExt;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, EntityTrait, QueryOrder,
    sea_query::{Alias, InsertStatement, Query, SimpleExpr},
};
use serde_json::{Value, json};
use server::{
    console::accounts::service::{self as accounts, NewUser},
    gateway::proxy::request::Endpoint,
    platform::entity::{
        daily_user_usage,
        user::{Plan, Role},
    },
};
use tower::ServiceExt;

use crate::helpers::{
    COST, PASSWORD, PROMPT_TOKENS, ProxyApp, REPLY_TOKENS, STARTING_CREDITS, TestApp, assert_error,
    assert_iso_millis, json_request, llm_body, string_at, strings_in,
};

/// Someone besides the [`ProxyApp`]'s own user, with a funded API key.
pub struct Person {
    pub id: String,
    pub key: String,
}

/// Registers `email` and gives them a key and [`STARTING_CREDITS`].
pub async fn person(app: &ProxyApp, email: &str, name: &str) -> Person {
    let (token, id) = app.app.register(email, PASSWORD, name).await;
    let (key, _) = app.app.create_key(&token, json!({ "name": "cli" })).await;
    fund(app, &id).await;
    Person { id, key }
}

/// A person an admin created by name (`POST /api/admin/users`): no session,
/// only a key, funded. Returns the user's id and the key's secret.
pub async fn named_person(app: &ProxyApp, name: &str) -> (String, String) {
    let (status, _, body) = app
        .app
        .post("/api/admin/users", json!({ "name": name }), &app.admin)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = string_at(&body, "/user/id");
    fund(app, &id).await;
    (id, string_at(&body, "/secret"))
}

pub async fn fund(app: &ProxyApp, user_id: &str) {
    let grant = json!({ "user_id": user_id, "amount": STARTING_CREDITS, "reason": "test funds" });
    let (status, _, body) = app
        .app
        .post("/api/admin/credits/grant", grant, &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "granting credits failed: {body}");
}

/// `times` chat completions to `model` with `key`, each answered `expected`.
pub async fn ask(app: &ProxyApp, key: &str, model: &str, times: usize, expected: StatusCode) {
    for _ in 0..times {
        let body = llm_body(Endpoint::ChatCompletions, model, false);
        let (status, _, answer) = app
            .call_with_key(Endpoint::ChatCompletions, Some(key), body)
            .await;
        assert_eq!(status, expected, "asking {model}: {answer}");
    }
}

/// GET `path` as `token`; asserts 200 and returns the body.
pub async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    app.get_ok(path, token).await
}

/// Redacts a timestamp after checking it is ISO 8601 UTC with milliseconds.
pub fn timestamp() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, _| {
        assert_iso_millis(value.as_str().expect("a timestamp is a string"));
        "[timestamp]"
    })
}

/// Replaces known user ids by `[name]`; any other value fails the test.
pub fn user_ids(known: &[(&str, &str)]) -> insta::internals::Redaction {
    let known: Vec<(String, String)> = known
        .iter()
        .map(|(id, name)| ((*id).to_owned(), format!("[{name}]")))
        .collect();
    insta::dynamic_redaction(move |value, _| {
        let id = value.as_str().expect("a user id is a string");
        known
            .iter()
            .find(|(known_id, _)| known_id == id)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| panic!("unexpected user id {id}"))
    })
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(days: i64) -> NaiveDate {
    today() - Duration::days(days)
}

/// Two users and two models: Lena asks `alpha` three times and `beta` once,
/// then Max asks `beta` twice.
struct Scenario {
    app: ProxyApp,
    lena: String,
    max: Person,
}

async fn scenario() -> Scenario {
    let app = ProxyApp::start().await;
    app.route("mock", "alpha").await;
    app.route("mock", "beta").await;
    let lena = app.app.user_id_of(&app.user).await;
    let max = person(&app, "max@example.com", "Max").await;
    ask(&app, &app.key, "alpha", 3, StatusCode::OK).await;
    ask(&app, &app.key, "beta", 1, StatusCode::OK).await;
    ask(&app, &max.key, "beta", 2, StatusCode::OK).await;
    app.usage_rows().await;
    Scenario { app, lena, max }
}

const LLM_USAGE: &str = "/api/admin/llm-usage";
const ACTIVE: &str = "/api/admin/users/active";
const STATS: &str = "/api/admin/stats";
const CSV: &str = "/api/admin/usage.csv";

#[tokio::test]
async fn llm_usage_splits_requests_by_user_and_model_in_the_contract_shape() {
    // Arrange
    let Scenario { app, lena, max } = scenario().await;
    let (from, to) = (days_ago(2), today());

    // Act
    let body = app
        .admin_get(&format!("{LLM_USAGE}?from={from}&to={to}"))
        .await;

    // Assert
    assert_eq!(
        body["sparkline"]["dates"],
        json!([from.to_string(), days_ago(1).to_string(), to.to_string()])
    );
    insta::assert_json_snapshot!(body, {
        ".by_user[].user_id" => user_ids(&[(&lena, "lena"), (&max.id, "max")]),
        ".by_user[].last_used_at" => timestamp(),
        ".sparkline.dates[]" => "[date]",
    }, @r#"
    {
      "success": true,
      "totals": {
        "requests": 6,
        "users": 2
      },
      "by_user": [
        {
          "user_id": "[lena]",
          "email": "lena@example.com",
          "model": "alpha",
          "count": 3,
          "last_used_at": "[timestamp]"
        },
        {
          "user_id": "[max]",
          "email": "max@example.com",
          "model": "beta",
          "count": 2,
          "last_used_at": "[timestamp]"
        },
        {
          "user_id": "[lena]",
          "email": "lena@example.com",
          "model": "beta",
          "count": 1,
          "last_used_at": "[timestamp]"
        }
      ],
      "sparkline": {
        "dates": [
          "[date]",
          "[date]",
          "[date]"
        ],
        "values": [
          0,
          0,
          6
        ]
      }
    }
    "#);
    // Each pair's last use is its latest request.
    let rows = app.usage_rows().await;
    let latest = |user: &str, model: &str| {
        rows.iter()
            .filter(|row| row.user_id == user && row.model == model)
            .map(|row| row.created_at)
            .max()
            .map(|at| server::platform::time::iso(&at))
    };
    for entry in body["by_user"].as_array().unwrap() {
        let (user, model) = (string_at(entry, "/user_id"), string_at(entry, "/model"));
        assert_eq!(
            entry["last_used_at"].as_str().map(str::to_owned),
            latest(&user, &model),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn llm_usage_defaults_to_the_last_30_days_with_a_zero_for_every_quiet_day() {
    // Arrange: the scenario's six requests today, and one of Lena's three
    // days ago (a row handed to the usage writer like the proxy does).
    let Scenario { app, lena, .. } = scenario().await;
    let mut old = app
        .usage_rows()
        .await
        .into_iter()
        .find(|row| row.user_id == lena && row.model == "alpha")
        .unwrap();
    old.id = "req_0000000000000001".into();
    old.created_at -= Duration::days(3);
    old.charged = 0;
    let _ = app.app.state.usage.record(old);
    app.app.state.usage.flush().await;

    // Act
    let all = app.admin_get(LLM_USAGE).await;
    let beta = app.admin_get(&format!("{LLM_USAGE}?model=beta")).await;
    let back_then = days_ago(3);
    let one_day = app
        .admin_get(&format!("{LLM_USAGE}?from={back_then}&to={back_then}"))
        .await;
    let unknown = app.admin_get(&format!("{LLM_USAGE}?model=nope")).await;

    // Assert
    let dates: Vec<String> = (0..30).rev().map(|d| days_ago(d).to_string()).collect();
    let mut values = vec![0; 30];
    values[26] = 1;
    values[29] = 6;
    assert_eq!(
        all["sparkline"],
        json!({ "dates": dates, "values": values })
    );
    assert_eq!(all["totals"], json!({ "requests": 7, "users": 2 }));
    assert_eq!(all["by_user"][0]["count"], json!(4), "{all}");

    assert_eq!(beta["totals"], json!({ "requests": 3, "users": 2 }));
    let split: Vec<(String, i64)> = beta["by_user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (string_at(e, "/model"), e["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(split, [("beta".into(), 2), ("beta".into(), 1)]);
    assert_eq!(beta["sparkline"]["values"][29], json!(3));

    assert_eq!(one_day["totals"], json!({ "requests": 1, "users": 1 }));
    assert_eq!(one_day["by_user"][0]["user_id"], json!(lena));
    assert_eq!(
        one_day["sparkline"],
        json!({ "dates": [back_then.to_string()], "values": [1] })
    );

    assert_eq!(unknown["totals"], json!({ "requests": 0, "users": 0 }));
    assert_eq!(unknown["by_user"], json!([]));
    assert_eq!(unknown["sparkline"]["values"], json!(vec![0; 30]));
}

#[tokio::test]
async fn date_ranges_that_are_malformed_reversed_or_too_long_are_400s() {
    // Arrange
    let app = ProxyApp::start().await;
    let longest = format!("from={}&to={}", today() - Duration::days(365), today());
    let too_long = format!("from={}&to={}", today() - Duration::days(366), today());
    let reversed = format!("from={}&to={}", today(), days_ago(1));

    for path in [LLM_USAGE, STATS, CSV] {
        for query in [
            "from=2025-13-01",
            "to=yesterday",
            "from=2025-1-05",
            "to=2025-10-28T00:00:00Z",
            reversed.as_str(),
            too_long.as_str(),
        ] {
            // Act
            let answer = app.app.get(&format!("{path}?{query}"), &app.admin).await;

            // Assert
            let message = assert_error(&answer, StatusCode::BAD_REQUEST);
            assert!(
                message.contains("from") || message.contains("to") || message.contains("366"),
                "{path}?{query}: {message}"
            );
        }
        let (status, _, body) = text(&app.app, &format!("{path}?{longest}"), &app.admin).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "366 days are allowed on {path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_admin_analytics_need_a_signed_in_admin() {
    let app = ProxyApp::start().await;
    for path in [LLM_USAGE, ACTIVE, STATS, CSV] {
        let anonymous = app.app.request(Method::GET, path, None, None).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED);
        let user = app.app.get(path, &app.user).await;
        assert_error(&user, StatusCode::FORBIDDEN);
        // Not one of the paths an API key may read.
        let request = axum::http::Request::builder()
            .uri(path)
            .header("x-api-key", &app.key)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_error(&app.app.send(request).await, StatusCode::UNAUTHORIZED);
    }
}

/// `(date, user, model)` → requests, tokens, cost, errors and last use.
type Rollup =
    BTreeMap<(String, String, String), (i64, i64, i64, i64, i64, i64, i64, DateTime<Utc>)>;

#[tokio::test]
async fn the_rollup_equals_a_count_of_the_usage_records_across_batches() {
    // Arrange: requests in two batches (the second upserts onto the
    // first's rows), an upstream error, and a model that does not exist.
    let Scenario { app, max, .. } = scenario().await;
    app.route("mock", "error-500").await;
    ask(&app, &app.key, "alpha", 2, StatusCode::OK).await;
    ask(
        &app,
        &max.key,
        "error-500",
        2,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    ask(&app, &max.key, "no-such-model", 1, StatusCode::NOT_FOUND).await;

    // Act
    let records = app.usage_rows().await;
    let rollup: Rollup = daily_user_usage::Entity::find()
        .order_by_asc(daily_user_usage::Column::Id)
        .all(app.app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (r.date, r.user_id, r.model),
                (
                    r.requests,
                    r.input_tokens,
                    r.output_tokens,
                    r.cache_read_tokens,
                    r.cache_write_tokens,
                    r.cost,
                    r.errors,
                    r.last_used_at,
                ),
            )
        })
        .collect();

    // Assert
    let mut counted: Rollup = BTreeMap::new();
    for row in records.iter().filter(|row| row.model_id.is_some()) {
        let key = (
            row.created_at.format("%Y-%m-%d").to_string(),
            row.user_id.clone(),
            row.model.clone(),
        );
        let sum = counted
            .entry(key)
            .or_insert((0, 0, 0, 0, 0, 0, 0, DateTime::<Utc>::MIN_UTC));
        sum.0 += 1;
        sum.1 += row.input_tokens;
        sum.2 += row.output_tokens;
        sum.3 += row.cache_read_tokens;
        sum.4 += row.cache_write_tokens;
        sum.5 += row.cost;
        sum.6 += i64::from(row.status_code >= 400);
        sum.7 = sum.7.max(row.created_at);
    }
    assert_eq!(rollup, counted);
    assert!(
        records.iter().all(|row| row.model != "no-such-model"),
        "an unknown model is counted in memory, not recorded"
    );
    let errors: i64 = rollup.values().map(|sum| sum.6).sum();
    assert_eq!(errors, 2);
    let requests: i64 = rollup.values().map(|sum| sum.0).sum();
    assert_eq!(requests, 10);
}

#[tokio::test]
async fn active_users_are_the_users_seen_latest_with_today_usage_and_grants() {
    // Arrange: the admin signed in first, then Lena and Max were seen
    // through their requests (Max's last). Someone created by name and
    // never seen is not listed.
    let Scenario { app, lena, max } = scenario().await;
    let admin_id = app.app.user_id_of(&app.admin).await;
    named_person(&app, "Nobody Yet").await;
    let before = app.admin_get(ACTIVE).await;
    let grant = json!({ "user_id": lena, "label": "Pro — Lifetime", "source": "beta_comp" });
    let (status, _, body) = app.app.post("/api/admin/grants", grant, &app.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Act
    let after = app.admin_get(ACTIVE).await;

    // Assert
    assert_eq!(before["users"][1]["has_grant"], json!(false), "{before}");
    insta::assert_json_snapshot!(after, {
        ".users[].user_id" => user_ids(&[(&lena, "lena"), (&max.id, "max"), (&admin_id, "admin")]),
        ".users[].last_seen_at" => timestamp(),
    }, @r#"
    {
      "success": true,
      "users": [
        {
          "user_id": "[max]",
          "email": "max@example.com",
          "plan": "trial",
          "status": "active",
          "last_seen_at": "[timestamp]",
          "titles_generated_today": 2,
          "models_used": [
            {
              "model": "beta",
              "count": 2
            }
          ],
          "has_grant": false
        },
        {
          "user_id": "[lena]",
          "email": "lena@example.com",
          "plan": "trial",
          "status": "active",
          "last_seen_at": "[timestamp]",
          "titles_generated_today": 4,
          "models_used": [
            {
              "model": "alpha",
              "count": 3
            },
            {
              "model": "beta",
              "count": 1
            }
          ],
          "has_grant": true
        },
        {
          "user_id": "[admin]",
          "email": "admin@example.com",
          "plan": "pro",
          "status": "active",
          "last_seen_at": "[timestamp]",
          "titles_generated_today": 0,
          "models_used": [],
          "has_grant": false
        }
      ]
    }
    "#);
    let seen = strings_in(&after["users"], "/last_seen_at");
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "{seen:?}");
    let rows = app.usage_rows().await;
    let max_last = rows
        .iter()
        .filter(|row| row.user_id == max.id)
        .map(|row| row.created_at)
        .max()
        .unwrap();
    assert_eq!(seen[0], server::platform::time::iso(&max_last));
}

#[tokio::test]
async fn active_users_default_to_50_cap_at_200_and_refuse_a_bad_limit() {
    // Arrange: 205 users seen by heartbeats a second apart.
    let app = ProxyApp::start().await;
    let start = server::platform::time::now() - Duration::minutes(10);
    let mut ids = Vec::new();
    for i in 0..205 {
        let user = accounts::create_user(
            app.app.db(),
            NewUser {
                name: format!("Hacker {i}"),
                email: None,
                password: None,
                role: Role::User,
                plan: Plan::Free,
            },
        )
        .await
        .unwrap();
        app.app
            .state
            .presence
            .beat(&user.id, start + Duration::seconds(i));
        ids.push(user.id);
    }

    // Act
    let default = app.admin_get(ACTIVE).await;
    let capped = app.admin_get(&format!("{ACTIVE}?limit=500")).await;
    let three = app.admin_get(&format!("{ACTIVE}?limit=3")).await;

    // Assert
    let listed = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| string_at(u, "/user_id"))
            .collect()
    };
    assert_eq!(listed(&default).len(), 50);
    assert_eq!(listed(&capped).len(), 200);
    // The admin and Lena signed in just now; then the latest heartbeats.
    assert_eq!(listed(&three)[2], ids[204]);
    assert_eq!(listed(&capped)[199], ids[7]);
    assert_eq!(three["users"][2]["plan"], json!("free"));
    for bad in ["0", "-1", "abc", "1.5", ""] {
        let answer = app
            .app
            .get(&format!("{ACTIVE}?limit={bad}"), &app.admin)
            .await;
        if bad.is_empty() {
            assert_eq!(answer.0, StatusCode::OK, "an empty limit is the default");
            continue;
        }
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains("limit"), "{message}");
    }
}

#[tokio::test]
async fn platform_stats_add_up_usage_credits_signups_and_errors() {
    // Arrange
    let Scenario { app, lena, max } = scenario().await;
    app.route("mock", "error-500").await;
    ask(
        &app,
        &max.key,
        "error-500",
        2,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    app.usage_rows().await;
    let (from, to) = (days_ago(1), today());

    // Act
    let body = app.admin_get(&format!("{STATS}?from={from}&to={to}")).await;

    // Assert
    assert_eq!(body["from"], json!(from.to_string()));
    assert_eq!(body["to"], json!(to.to_string()));
    insta::assert_json_snapshot!(body, {
        ".from" => "[date]",
        ".to" => "[date]",
        ".users.new_per_day[].date" => "[date]",
        ".usage_per_day[].date" => "[date]",
        ".top_users[].user_id" => user_ids(&[(&lena, "lena"), (&max.id, "max")]),
    }, @r#"
    {
      "success": true,
      "from": "[date]",
      "to": "[date]",
      "users": {
        "total": 3,
        "new_per_day": [
          {
            "date": "[date]",
            "count": 0
          },
          {
            "date": "[date]",
            "count": 3
          }
        ]
      },
      "usage_per_day": [
        {
          "date": "[date]",
          "requests": 0,
          "errors": 0,
          "input_tokens": 0,
          "output_tokens": 0,
          "cache_read_tokens": 0,
          "cache_write_tokens": 0,
          "cost_micro_credits": 0,
          "cost_credits": "0.000000"
        },
        {
          "date": "[date]",
          "requests": 8,
          "errors": 2,
          "input_tokens": 30,
          "output_tokens": 72,
          "cache_read_tokens": 0,
          "cache_write_tokens": 0,
          "cost_micro_credits": 1170,
          "cost_credits": "0.001170"
        }
      ],
      "models": [
        {
          "model": "alpha",
          "requests": 3,
          "errors": 0,
          "input_tokens": 15,
          "output_tokens": 36,
          "cache_read_tokens": 0,
          "cache_write_tokens": 0,
          "cost_micro_credits": 585,
          "cost_credits": "0.000585"
        },
        {
          "model": "beta",
          "requests": 3,
          "errors": 0,
          "input_tokens": 15,
          "output_tokens": 36,
          "cache_read_tokens": 0,
          "cache_write_tokens": 0,
          "cost_micro_credits": 585,
          "cost_credits": "0.000585"
        },
        {
          "model": "error-500",
          "requests": 2,
          "errors": 2,
          "input_tokens": 0,
          "output_tokens": 0,
          "cache_read_tokens": 0,
          "cache_write_tokens": 0,
          "cost_micro_credits": 0,
          "cost_credits": "0.000000"
        }
      ],
      "credits": {
        "granted_micro_credits": 2000000000,
        "granted_credits": "2000.000000",
        "spent_micro_credits": 1170,
        "spent_credits": "0.001170",
        "refunded_micro_credits": 0,
        "refunded_credits": "0.000000",
        "adjusted_micro_credits": 0,
        "adjusted_credits": "0.000000"
      },
      "top_users": [
        {
          "user_id": "[lena]",
          "name": "Lena",
          "email": "lena@example.com",
          "requests": 4,
          "cost_micro_credits": 780,
          "cost_credits": "0.000780"
        },
        {
          "user_id": "[max]",
          "name": "Max",
          "email": "max@example.com",
          "requests": 4,
          "cost_micro_credits": 390,
          "cost_credits": "0.000390"
        }
      ],
      "error_rate": {
        "requests": 8,
        "errors": 2,
        "error_rate_pct": 25.0
      }
    }
    "#);
    // The figures the snapshot pins, from their own definitions.
    assert_eq!(
        body["usage_per_day"][1]["input_tokens"],
        json!(6 * PROMPT_TOKENS)
    );
    assert_eq!(
        body["usage_per_day"][1]["output_tokens"],
        json!(6 * REPLY_TOKENS)
    );
    assert_eq!(
        body["usage_per_day"][1]["cost_micro_credits"],
        json!(6 * COST)
    );
    assert_eq!(body["credits"]["spent_micro_credits"], json!(6 * COST));
    assert_eq!(
        body["credits"]["granted_micro_credits"],
        json!(2 * STARTING_CREDITS * 1_000_000)
    );
}

/// GET `path` as `token`, the body as text.
async fn text(app: &TestApp, path: &str, token: &str) -> (StatusCode, HeaderMap, String) {
    let response = app
        .router
        .clone()
        .oneshot(json_request(Method::GET, path, None, Some(token)))
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

const CSV_HEADER: &str = "date,user_id,email,name,model,requests,input_tokens,output_tokens,\
    cache_read_tokens,cache_write_tokens,cost_micro_credits,cost_credits,errors,last_used_at";

#[tokio::test]
async fn the_usage_csv_has_a_header_one_row_per_day_user_and_model_and_defuses_formulas() {
    // Arrange: someone whose name a spreadsheet would run as a formula.
    let Scenario { app, lena, max } = scenario().await;
    let (evil, evil_key) = named_person(&app, "=HYPERLINK(\"http://evil.example\",\"x\")").await;
    ask(&app, &evil_key, "alpha", 1, StatusCode::OK).await;
    let rows = app.usage_rows().await;
    let last = |user: &str, model: &str| {
        let at = rows
            .iter()
            .filter(|r| r.user_id == user && r.model == model)
            .map(|r| r.created_at)
            .max()
            .unwrap();
        server::platform::time::iso(&at)
    };

    // Act
    let (status, headers, body) = text(&app.app, CSV, &app.admin).await;
    let (_, _, only_beta) = text(&app.app, &format!("{CSV}?model=beta"), &app.admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert_eq!(
        disposition,
        format!(
            "attachment; filename=\"tollgate-usage-by-user-{}-{}.csv\"",
            days_ago(29),
            today()
        )
    );
    assert!(body.ends_with("\r\n"), "RFC 4180 lines end in CRLF");
    let day = today();
    let mut expected = vec![
        CSV_HEADER.to_owned(),
        format!(
            "{day},{lena},lena@example.com,Lena,alpha,3,15,36,0,0,585,0.000585,0,{}",
            last(&lena, "alpha")
        ),
        format!(
            "{day},{lena},lena@example.com,Lena,beta,1,5,12,0,0,195,0.000195,0,{}",
            last(&lena, "beta")
        ),
        format!(
            "{day},{},max@example.com,Max,beta,2,10,24,0,0,390,0.000390,0,{}",
            max.id,
            last(&max.id, "beta")
        ),
        format!(
            "{day},{evil},,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",alpha,1,5,12,0,0,195,0.000195,0,{}",
            last(&evil, "alpha")
        ),
    ];
    // Rows come by date, then user id (ids start with their creation time).
    expected[1..].sort_by_key(|line| line.split(',').nth(1).unwrap().to_owned());
    let lines: Vec<&str> = body.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(lines, expected);
    // And a CSV reader gets the name back with the quote in front.
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|record| record.unwrap()[3].to_owned())
        .collect();
    assert!(
        names.contains(&"'=HYPERLINK(\"http://evil.example\",\"x\")".to_owned()),
        "{names:?}"
    );
    let beta_lines: Vec<&str> = only_beta.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(beta_lines.len(), 3, "{only_beta}");
    assert!(beta_lines[1..].iter().all(|line| line.contains(",beta,")));
}

#[tokio::test]
async fn the_usage_csv_pages_through_long_exports_without_gaps_or_repeats() {
    // Arrange: 1,100 rollup rows (more than two pages), written directly.
    let app = ProxyApp::start().await;
    let lena = app.app.user_id_of(&app.user).await;
    let now = server::platform::time::now();
    let rows: Vec<daily_user_usage::ActiveModel> = (0..10)
        .flat_map(|day| (0..110).map(move |model| (day, model)))
        .map(|(day, model)| {
            use sea_orm::Set;
            daily_user_usage::ActiveModel {
                date: Set(days_ago(day).to_string()),
                user_id: Set(lena.clone()),
                model: Set(format!("model-{model:03}")),
                requests: Set(1),
                input_tokens: Set(0),
                output_tokens: Set(0),
                cache_read_tokens: Set(0),
                cache_write_tokens: Set(0),
                cost: Set(0),
                errors: Set(0),
                last_used_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    for chunk in rows.chunks(100) {
        daily_user_usage::Entity::insert_many(chunk.to_vec())
            .exec(app.app.db())
            .await
            .unwrap();
    }

    // Act
    let (status, _, body) = text(&app.app, CSV, &app.admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<(String, String)> = body
        .split("\r\n")
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0].to_owned(), cells[4].to_owned())
        })
        .collect();
    assert_eq!(keys.len(), 1_100);
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "in order, each row once");
}

/// An empty database: a SQLite file in `dir`, or a new database on the
/// test PostgreSQL server when the tests run there.
async fn empty_database(dir: &std::path::Path) -> sea_orm::DatabaseConnection {
    use sea_orm::ConnectionTrait;
    let url = match std::env::var("TOLLGATE_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let name = format!(
                "test_backfill_{}_{}",
                std::process::id(),
                Utc::now().timestamp_nanos_opt().unwrap_or_default()
            );
            let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            format!("{base}/{name}")
        }
        Err(_) => format!("sqlite://{}?mode=rwc", dir.join("backfill.db").display()),
    };
    sea_orm::Database::connect(&url).await.unwrap()
}

/// An INSERT into `table` of an older schema, which no entity describes
/// any more.
fn insert_into(table: &str, values: Vec<(&str, SimpleExpr)>) -> InsertStatement {
    let (columns, values): (Vec<_>, Vec<_>) = values
        .into_iter()
        .map(|(column, value)| (Alias::new(column), value))
        .unzip();
    Query::insert()
        .into_table(Alias::new(table))
        .columns(columns)
        .values_panic(values)
        .to_owned()
}

/// The user and key of the migration tests, written before the rollups.
const EARLY_USER: &str = "user_1_0000000000000001";
const EARLY_KEY: &str = "key_0000000000000001";

/// A database at the schema of its first `migrations`, holding the early
/// user and their key as that schema kept them.
async fn database_with_an_early_user(
    dir: &std::path::Path,
    migrations: u32,
) -> sea_orm::DatabaseConnection {
    let db = empty_database(dir).await;
    Migrator::up(&db, Some(migrations)).await.unwrap();
    let created: DateTime<Utc> = "2025-10-01T00:00:00Z".parse().unwrap();
    for statement in [
        insert_into(
            "users",
            vec![
                ("id", EARLY_USER.into()),
                ("name", "Early".into()),
                ("role", "user".into()),
                ("plan", "trial".into()),
                ("status", "active".into()),
                ("created_at", created.into()),
                ("updated_at", created.into()),
            ],
        ),
        insert_into(
            "api_keys",
            vec![
                ("id", EARLY_KEY.into()),
                ("user_id", EARLY_USER.into()),
                ("name", "cli".into()),
                ("prefix", "tg-early".into()),
                ("secret_hash", "0".repeat(64).into()),
                ("models", "[]".into()),
                ("created_at", created.into()),
                ("updated_at", created.into()),
            ],
        ),
    ] {
        db.execute(&statement).await.unwrap();
    }
    db
}

/// A usage row of the early key for `alpha` (five input and twelve output
/// tokens, no reasoning, 7 ms), with `rest`: its status, cost, cache tokens
/// and time.
fn early_usage(id: &str, model_id: Option<&str>, rest: Vec<(&str, SimpleExpr)>) -> InsertStatement {
    let mut values = vec![
        ("id", id.into()),
        ("user_id", EARLY_USER.into()),
        ("api_key_id", EARLY_KEY.into()),
        ("model", "alpha".into()),
        ("model_id", model_id.into()),
        ("upstream_model", "alpha".into()),
        ("endpoint", "chat_completions".into()),
        ("streamed", false.into()),
        ("input_tokens", 5i64.into()),
        ("output_tokens", 12i64.into()),
        ("reasoning_tokens", 0i64.into()),
        ("duration_ms", 7.into()),
    ];
    values.extend(rest);
    insert_into("usage_records", values)
}

#[tokio::test]
async fn the_migration_rolls_up_the_usage_recorded_before_it() {
    // Arrange: the schema as it was before the rollup (ten migrations),
    // with a user, a key and four usage rows written as they were then.
    let dir = tempfile::tempdir().unwrap();
    let db = database_with_an_early_user(dir.path(), 10).await;
    let at = |text: &str| -> DateTime<Utc> { text.parse().unwrap() };
    let usage = [
        ("req_1", Some("model_1"), 200, "2025-10-27T10:00:00.123Z"),
        ("req_2", Some("model_1"), 500, "2025-10-27T23:59:59.999Z"),
        ("req_3", Some("model_1"), 200, "2025-10-28T00:00:00Z"),
        ("req_4", None, 404, "2025-10-28T08:00:00Z"),
    ];
    for (id, model_id, status, created_at) in usage {
        let row = early_usage(
            id,
            model_id,
            vec![
                ("status_code", status.into()),
                ("cache_read_tokens", 1i64.into()),
                ("cache_write_tokens", 2i64.into()),
                ("cost", 195i64.into()),
                ("created_at", at(created_at).into()),
            ],
        );
        db.execute(&row).await.unwrap();
    }

    // Act
    Migrator::up(&db, None).await.unwrap();

    // Assert
    let rows: Vec<_> = daily_user_usage::Entity::find()
        .order_by_asc(daily_user_usage::Column::Date)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.date,
                r.model,
                r.requests,
                r.input_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_write_tokens,
                r.cost,
                r.errors,
                server::platform::time::iso(&r.last_used_at),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "2025-10-27".to_owned(),
                "alpha".to_owned(),
                2,
                10,
                24,
                2,
                4,
                390,
                1,
                "2025-10-27T23:59:59.999Z".to_owned()
            ),
            (
                "2025-10-28".to_owned(),
                "alpha".to_owned(),
                1,
                5,
                12,
                1,
                2,
                195,
                0,
                "2025-10-28T00:00:00.000Z".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn the_daily_rollup_counts_errors_and_what_the_ledger_charged() {
    // Arrange: the scenario's priced requests, then two upstream errors.
    let Scenario { app, max, .. } = scenario().await;
    app.route("mock", "error-500").await;
    ask(
        &app,
        &max.key,
        "error-500",
        2,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;

    // Act
    let records = app.usage_rows().await;
    let days = server::platform::entity::daily_usage::Entity::find()
        .all(app.app.db())
        .await
        .unwrap();
    let charges: i64 = server::platform::entity::credit_entry::Entity::find()
        .all(app.app.db())
        .await
        .unwrap()
        .iter()
        .filter(|entry| entry.kind == server::platform::entity::credit_entry::EntryKind::Charge)
        .map(|entry| -entry.amount)
        .sum();

    // Assert: per day and model, as counted from the rows.
    let mut counted: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for row in records.iter().filter(|row| row.model_id.is_some()) {
        let day = row.created_at.format("%Y-%m-%d").to_string();
        let sum = counted.entry((day, row.model.clone())).or_default();
        sum.0 += i64::from(row.status_code >= 400);
        sum.1 += row.charged;
    }
    let rolled: BTreeMap<(String, String), (i64, i64)> = days
        .into_iter()
        .map(|d| ((d.date, d.model), (d.errors, d.charged)))
        .collect();
    assert_eq!(rolled, counted);
    let charged: i64 = rolled.values().map(|sum| sum.1).sum();
    assert_eq!(charged, 6 * COST);
    assert_eq!(charged, charges, "the rollup and the ledger disagree");
    assert_eq!(rolled.values().map(|sum| sum.0).sum::<i64>(), 2);
}

#[tokio::test]
async fn the_analytics_migration_fills_errors_and_charges_of_the_daily_rollup() {
    // Arrange: the schema before it (twelve migrations), with a user, a
    // key, usage on two days and the daily rollup the writer kept of it.
    let dir = tempfile::tempdir().unwrap();
    let db = database_with_an_early_user(dir.path(), 12).await;
    let at = |text: &str| -> DateTime<Utc> { text.parse().unwrap() };
    let usage = [
        (
            "req_1",
            Some("model_1"),
            200,
            195,
            "2025-10-27T10:00:00.123Z",
        ),
        ("req_2", Some("model_1"), 500, 0, "2025-10-27T23:59:59.999Z"),
        (
            "req_3",
            Some("model_1"),
            200,
            190,
            "2025-10-27T23:59:59.999Z",
        ),
        ("req_4", Some("model_1"), 429, 0, "2025-10-28T00:00:00Z"),
        ("req_5", None, 404, 0, "2025-10-28T08:00:00Z"),
    ];
    for (id, model_id, status, charged, created_at) in usage {
        let row = early_usage(
            id,
            model_id,
            vec![
                ("status_code", status.into()),
                ("cache_read_tokens", 0i64.into()),
                ("cache_write_tokens", 0i64.into()),
                ("cost", charged.into()),
                ("charged", charged.into()),
                ("created_at", at(created_at).into()),
            ],
        );
        db.execute(&row).await.unwrap();
    }
    for (date, requests, cost) in [("2025-10-27", 3i64, 385i64), ("2025-10-28", 1, 0)] {
        db.execute(&insert_into(
            "daily_usage",
            vec![
                ("date", date.into()),
                ("model", "alpha".into()),
                ("total_requests", requests.into()),
                ("input_tokens", (5 * requests).into()),
                ("output_tokens", (12 * requests).into()),
                ("cache_read_tokens", 0i64.into()),
                ("cache_write_tokens", 0i64.into()),
                ("cost", cost.into()),
            ],
        ))
        .await
        .unwrap();
    }

    // Act
    Migrator::up(&db, None).await.unwrap();

    // Assert
    let rows: Vec<_> = server::platform::entity::daily_usage::Entity::find()
        .order_by_asc(server::platform::entity::daily_usage::Column::Date)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.date, d.total_requests, d.errors, d.charged))
        .collect();
    assert_eq!(
        rows,
        [
            ("2025-10-27".to_owned(), 3, 1, 385),
            ("2025-10-28".to_owned(), 1, 1, 0),
        ]
    );
}
