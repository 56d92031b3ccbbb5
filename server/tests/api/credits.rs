//! The credits ledger: admin grants and adjustments, idempotency keys, the
//! history a user and an admin read, and the proof that every balance is
//! the sum of its ledger.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use server::{
    console::credits::service::{Discrepancy, verify},
    platform::money::Credits,
};

use crate::helpers::{
    Answer, PASSWORD, TestApp, assert_error, assert_fields, assert_iso_millis, assert_refused,
    json_request, send_to, spawn_app, spawn_app_with, string_at,
};

const GRANT: &str = "/api/admin/credits/grant";
const MINE: &str = "/api/users/me/credits";

/// An app with an admin and one user, Lena, who has no credits yet.
struct Ledger {
    app: TestApp,
    /// The admin's token and id.
    admin: String,
    admin_id: String,
    /// Lena's token and id.
    user: String,
    user_id: String,
}

impl Ledger {
    async fn start() -> Self {
        let app = spawn_app().await;
        let admin = app.create_admin().await;
        let admin_id = app.user_id_of(&admin).await;
        let (user, user_id) = app.register("lena@example.com", PASSWORD, "Lena").await;
        Self {
            app,
            admin,
            admin_id,
            user,
            user_id,
        }
    }

    /// POST /api/admin/credits/grant as the admin.
    async fn grant(&self, body: Value) -> Answer {
        self.app.post(GRANT, body, &self.admin).await
    }

    /// POST /api/admin/credits/grant as the admin with a body sent as
    /// typed, for numbers that `json!` would turn into an f64 first.
    async fn grant_raw(&self, body: &str) -> Answer {
        let request = Request::builder()
            .method(Method::POST)
            .uri(GRANT)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin))
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.app.send(request).await
    }

    /// Grants `amount` to Lena with `extra` fields merged into the body;
    /// asserts 200 and returns the answer's body.
    async fn granted(&self, amount: Value, extra: Value) -> Value {
        let mut body = json!({ "user_id": self.user_id, "amount": amount });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let (status, _, answer) = self.grant(body).await;
        assert_eq!(status, StatusCode::OK, "the grant failed: {answer}");
        answer
    }

    /// GET `path` as `token`.
    async fn get(&self, path: &str, token: &str) -> Answer {
        self.app.get(path, token).await
    }

    /// Runs `sql` on the database behind the ledger's back, as a bug or an
    /// operator would.
    async fn tamper(&self, sql: &str) {
        self.app.db().execute_unprepared(sql).await.unwrap();
    }

    /// Asserts that verifying the ledger finds exactly one discrepancy, of
    /// Lena's: her `balance`, the `ledger_sum` and the `broken_entry`.
    async fn assert_lenas_discrepancy(
        &self,
        balance: i64,
        ledger_sum: i64,
        broken_entry: Option<i64>,
    ) {
        let discrepancies = verify(self.app.db()).await.unwrap();
        let expected = Discrepancy {
            user_id: self.user_id.clone(),
            balance,
            ledger_sum,
            broken_entry,
        };
        assert_eq!(discrepancies, [expected]);
    }

    /// Lena's own credits, with `query` (`""` or `?...`); asserts 200.
    async fn mine(&self, query: &str) -> Value {
        self.app.get_ok(&format!("{MINE}{query}"), &self.user).await
    }

    /// Lena's balance in micro-credits and how many entries she has.
    async fn balance_and_count(&self) -> (i64, u64) {
        let body = self.mine("").await;
        (
            body["balance_micro_credits"].as_i64().unwrap(),
            body["total"].as_u64().unwrap(),
        )
    }

    /// Every entry of Lena's ledger, newest first, read page by page.
    async fn all_entries(&self) -> Vec<Value> {
        let mut entries = Vec::new();
        for page in 1.. {
            let body = self.mine(&format!("?per_page=3&page={page}")).await;
            let listed = listed(&body);
            if listed.is_empty() {
                break;
            }
            entries.extend(listed);
        }
        entries
    }
}

fn credits_of(user_id: &str) -> String {
    format!("/api/admin/users/{user_id}/credits")
}

/// The entries of a history body.
fn listed(body: &Value) -> Vec<Value> {
    body["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries array in {body}"))
        .clone()
}

fn ids(entries: &[Value]) -> Vec<i64> {
    entries.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

fn micro(value: &Value, field: &str) -> i64 {
    value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer {field} in {value}"))
}

/// Asserts a 400 whose message names `field`.
fn assert_refused_naming(answer: &Answer, field: &str) {
    let message = assert_error(answer, StatusCode::BAD_REQUEST);
    assert!(
        message.contains(field),
        "the refusal does not name {field}: {message}"
    );
}

/// Asserts that entries sorted oldest first form a chain from zero: each
/// `balance_after` is the one before plus the entry's amount.
fn assert_chain(entries: &[Value]) {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| micro(e, "id"));
    let mut running = 0;
    for entry in &sorted {
        running += micro(entry, "amount_micro_credits");
        assert_eq!(
            micro(entry, "balance_after_micro_credits"),
            running,
            "the chain breaks at {entry}; all: {sorted:?}"
        );
    }
}

// --- grants -----------------------------------------------------------------

#[tokio::test]
async fn granting_credits_answers_the_new_balance_and_the_entry() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act
    let (status, _, body) = ledger
        .grant(json!({
            "user_id": ledger.user_id,
            "amount": 12.5,
            "reason": "hackathon prize",
        }))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_fields(
        &body,
        json!({
            "success": true, "applied": true, "user_id": ledger.user_id,
            "balance_micro_credits": 12_500_000, "balance_credits": "12.500000"
        }),
    );
    let entry = &body["entry"];
    assert!(entry["id"].is_i64(), "{body}");
    assert_fields(
        entry,
        json!({
            "kind": "grant", "amount_micro_credits": 12_500_000, "amount_credits": "12.500000",
            "balance_after_micro_credits": 12_500_000, "balance_after_credits": "12.500000",
            "reference": ledger.admin_id, "reason": "hackathon prize"
        }),
    );
    assert_iso_millis(&string_at(entry, "/created_at"));
}

#[tokio::test]
async fn an_amount_given_as_a_string_is_exact_to_the_micro_credit() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act
    let body = ledger.granted(json!("0.000001"), json!({})).await;

    // Assert
    assert_eq!(body["entry"]["amount_micro_credits"], json!(1), "{body}");
    assert_eq!(body["entry"]["amount_credits"], json!("0.000001"), "{body}");
    assert_eq!(body["balance_micro_credits"], json!(1), "{body}");
}

#[tokio::test]
async fn an_amount_given_as_a_number_is_exact_to_the_micro_credit() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act: serde_json reads 0.000001 as an f64, which prints as `1e-6`.
    let (status, _, body) = ledger
        .grant(json!({ "user_id": ledger.user_id, "amount": 0.000001 }))
        .await;

    // Assert
    assert_eq!(
        status,
        StatusCode::OK,
        "the JSON number 0.000001 (six decimals) is refused: {body}"
    );
    assert_eq!(body["entry"]["amount_micro_credits"], json!(1), "{body}");
}

#[tokio::test]
async fn a_number_with_more_digits_than_a_float_holds_is_never_another_amount() {
    // Arrange: as JSON numbers, these go through an f64, whose nearest
    // values print as 10000000000.000002 and 10000000000.0.
    let ledger = Ledger::start().await;

    for (typed, exact) in [
        ("10000000000.000001", Some(10_000_000_000_000_001_i64)),
        ("10000000000.0000001", None),
    ] {
        // Act
        let answer = ledger
            .grant_raw(&format!(
                r#"{{"user_id": "{}", "amount": {typed}}}"#,
                ledger.user_id
            ))
            .await;

        // Assert: exactly what was typed, or a refusal naming `amount`.
        match (answer.0, exact) {
            (StatusCode::OK, Some(exact)) => assert_eq!(
                answer.2["entry"]["amount_micro_credits"],
                json!(exact),
                "the typed amount {typed} was stored as another: {}",
                answer.2
            ),
            (StatusCode::OK, None) => panic!(
                "{typed} has seven decimals, yet was granted as {}",
                answer.2["entry"]["amount_credits"]
            ),
            _ => assert_refused_naming(&answer, "amount"),
        }
    }
}

#[tokio::test]
async fn the_history_lists_grants_newest_first_with_a_balance_after_chain() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(12.5), json!({})).await;
    ledger.granted(json!("0.000001"), json!({})).await;
    ledger
        .granted(json!(3), json!({ "reason": "welcome" }))
        .await;

    // Act
    let body = ledger.mine("").await;

    // Assert
    assert_fields(
        &body,
        json!({
            "success": true, "balance_micro_credits": 15_500_001, "balance_credits": "15.500001",
            "total": 3, "page": 1, "per_page": 20
        }),
    );
    let entries = listed(&body);
    let amounts: Vec<i64> = entries
        .iter()
        .map(|e| micro(e, "amount_micro_credits"))
        .collect();
    assert_eq!(amounts, [3_000_000, 1, 12_500_000]);
    let after: Vec<i64> = entries
        .iter()
        .map(|e| micro(e, "balance_after_micro_credits"))
        .collect();
    assert_eq!(after, [15_500_001, 12_500_001, 12_500_000]);
    let credits: Vec<&str> = entries
        .iter()
        .map(|e| e["balance_after_credits"].as_str().unwrap())
        .collect();
    assert_eq!(credits, ["15.500001", "12.500001", "12.500000"]);
    let ids = ids(&entries);
    assert!(
        ids[0] > ids[1] && ids[1] > ids[2],
        "not newest first: {ids:?}"
    );
    for entry in &entries {
        assert_eq!(entry["kind"], json!("grant"), "{entry}");
        assert_eq!(entry["reference"], json!(ledger.admin_id), "{entry}");
    }
    assert_eq!(entries[0]["reason"], json!("welcome"));
    assert_eq!(entries[1]["reason"], json!(null));
}

#[tokio::test]
async fn the_history_shows_an_entry_exactly_as_the_grant_answered_it() {
    // Arrange
    let ledger = Ledger::start().await;
    let granted = ledger
        .granted(json!("7.25"), json!({ "reason": "bug bounty" }))
        .await;

    // Act
    let body = ledger.mine("").await;

    // Assert
    assert_eq!(listed(&body), [granted["entry"].clone()]);
}

#[tokio::test]
async fn a_user_without_entries_has_a_balance_of_zero() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act
    let body = ledger.mine("").await;

    // Assert
    assert_fields(
        &body,
        json!({
            "balance_micro_credits": 0, "balance_credits": "0.000000", "entries": [], "total": 0
        }),
    );
}

// --- adjustments ------------------------------------------------------------

#[tokio::test]
async fn a_negative_adjustment_with_a_reason_lowers_the_balance() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(10), json!({})).await;

    // Act
    let (status, _, body) = ledger
        .grant(json!({
            "user_id": ledger.user_id,
            "amount": -3,
            "reason": "refund of a double grant",
        }))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["balance_micro_credits"], json!(7_000_000));
    assert_eq!(body["balance_credits"], json!("7.000000"));
    let entry = &body["entry"];
    assert_fields(
        entry,
        json!({
            "kind": "adjustment", "amount_micro_credits": -3_000_000, "amount_credits": "-3.000000",
            "balance_after_micro_credits": 7_000_000, "reason": "refund of a double grant",
            "reference": ledger.admin_id
        }),
    );
}

#[tokio::test]
async fn a_negative_adjustment_given_as_a_string_is_exact() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(1), json!({})).await;

    // Act
    let body = ledger
        .granted(json!("-0.000001"), json!({ "reason": "rounding" }))
        .await;

    // Assert
    assert_eq!(body["entry"]["amount_micro_credits"], json!(-1));
    assert_eq!(body["entry"]["amount_credits"], json!("-0.000001"));
    assert_eq!(body["balance_micro_credits"], json!(999_999));
}

#[tokio::test]
async fn a_negative_adjustment_without_a_reason_is_refused_and_writes_nothing() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(10), json!({})).await;

    // Act
    let missing = ledger
        .grant(json!({ "user_id": ledger.user_id, "amount": -3 }))
        .await;
    let blank = ledger
        .grant(json!({ "user_id": ledger.user_id, "amount": -3, "reason": "  " }))
        .await;

    // Assert
    assert_refused_naming(&missing, "reason");
    assert_refused_naming(&blank, "reason");
    assert_eq!(ledger.balance_and_count().await, (10_000_000, 1));
}

#[tokio::test]
async fn an_adjustment_may_bring_the_balance_to_zero_but_not_below() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(2), json!({})).await;

    // Act: one micro-credit too much, then exactly the balance.
    let below = json!({ "user_id": ledger.user_id, "amount": "-2.000001", "reason": "too much" });
    let refused = ledger.grant(below).await;
    let written = ledger.balance_and_count().await;
    let to_zero = ledger
        .granted(json!(-2), json!({ "reason": "account closed" }))
        .await;

    // Assert: the first wrote nothing, the second left nothing.
    assert_refused_naming(&refused, "below zero");
    assert_eq!(written, (2_000_000, 1));
    assert_eq!(to_zero["balance_micro_credits"], json!(0));
    assert_eq!(ledger.balance_and_count().await, (0, 2));
}

// --- bad input --------------------------------------------------------------

#[tokio::test]
async fn a_grant_with_bad_input_is_refused_naming_the_field_and_writes_nothing() {
    // Arrange
    let ledger = Ledger::start().await;
    let to_lena = |amount: Value| json!({ "user_id": ledger.user_id, "amount": amount });
    let noted =
        |amount: Value| json!({ "user_id": ledger.user_id, "amount": amount, "reason": "r" });
    let bad_amounts = [
        ("seven decimals", noted(json!(1.0000001))),
        ("seven decimals as text", noted(json!("1.0000001"))),
        ("a negative seventh decimal", noted(json!("-0.0000001"))),
        ("letters", to_lena(json!("abc"))),
        ("an empty string", to_lena(json!(""))),
        ("a decimal comma", to_lena(json!("1,5"))),
        ("a boolean", to_lena(json!(true))),
        ("null", to_lena(json!(null))),
        ("zero", to_lena(json!(0))),
        ("zero as text", to_lena(json!("0"))),
        ("zero with decimals", to_lena(json!("0.000000"))),
        ("minus zero", to_lena(json!("-0"))),
    ];
    let other_fields = [
        ("no user id", json!({ "amount": 5 }), "user_id"),
        (
            "an unknown field",
            json!({ "user_id": ledger.user_id, "amount": 5, "currency": "EUR" }),
            "currency",
        ),
    ];
    let cases = bad_amounts
        .into_iter()
        .map(|(case, body)| (case, body, "amount"))
        .chain(other_fields);

    for (case, body, field) in cases {
        // Act
        let answer = ledger.grant(body).await;

        // Assert
        assert_refused(case, &answer, StatusCode::BAD_REQUEST, Some(field));
        assert_eq!(ledger.balance_and_count().await, (0, 0), "{case}");
    }
}

#[tokio::test]
async fn a_grant_is_refused_for_an_unknown_user_without_a_token_and_to_a_non_admin() {
    // Arrange
    let ledger = Ledger::start().await;
    let to_lena = json!({ "user_id": ledger.user_id, "amount": 5 });
    let cases = [
        (
            "an unknown user",
            Some(ledger.admin.as_str()),
            json!({ "user_id": "user_1_0123456789abcdef", "amount": 5 }),
            StatusCode::NOT_FOUND,
        ),
        ("no token", None, to_lena.clone(), StatusCode::UNAUTHORIZED),
        // Lena tries to grant herself credits.
        (
            "a non-admin",
            Some(ledger.user.as_str()),
            to_lena,
            StatusCode::FORBIDDEN,
        ),
    ];

    for (case, bearer, body, expected) in cases {
        // Act
        let answer = ledger
            .app
            .request(Method::POST, GRANT, Some(body), bearer)
            .await;

        // Assert
        assert_refused(case, &answer, expected, None);
        assert_eq!(ledger.balance_and_count().await, (0, 0), "{case}");
    }
}

#[tokio::test]
async fn granting_to_a_deleted_user_is_not_found() {
    // Arrange
    let ledger = Ledger::start().await;
    let path = format!("/api/admin/users/{}", ledger.user_id);
    let (status, _, body) = ledger.app.delete(&path, &ledger.admin).await;
    assert!(status.is_success(), "deleting the user failed: {body}");

    // Act
    let answer = ledger
        .grant(json!({ "user_id": ledger.user_id, "amount": 5 }))
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

// --- idempotency ------------------------------------------------------------

#[tokio::test]
async fn a_repeated_idempotency_key_applies_the_grant_once() {
    // Arrange
    let ledger = Ledger::start().await;
    let body =
        json!({ "user_id": ledger.user_id, "amount": "4.5", "idempotency_key": "invoice-17" });

    // Act
    let (first_status, _, first) = ledger.grant(body.clone()).await;
    let (second_status, _, second) = ledger.grant(body).await;

    // Assert
    assert_eq!(first_status, StatusCode::OK, "{first}");
    assert_eq!(second_status, StatusCode::OK, "{second}");
    assert_eq!(first["applied"], json!(true));
    assert_eq!(second["applied"], json!(false));
    assert_eq!(first["balance_micro_credits"], json!(4_500_000));
    assert_eq!(second["balance_micro_credits"], json!(4_500_000));
    assert_eq!(second["balance_credits"], first["balance_credits"]);
    assert_eq!(second["entry"], first["entry"]);
    assert_eq!(ledger.balance_and_count().await, (4_500_000, 1));
}

#[tokio::test]
async fn a_repeated_key_answers_the_first_result_even_after_later_grants() {
    // Arrange
    let ledger = Ledger::start().await;
    let keyed = json!({ "user_id": ledger.user_id, "amount": 1, "idempotency_key": "k-1" });
    let (_, _, first) = ledger.grant(keyed.clone()).await;
    ledger.granted(json!(2), json!({})).await;

    // Act
    let (status, _, repeat) = ledger.grant(keyed).await;

    // Assert: the first answer, not today's balance.
    assert_eq!(status, StatusCode::OK, "{repeat}");
    assert_eq!(repeat["applied"], json!(false));
    assert_eq!(repeat["balance_micro_credits"], json!(1_000_000));
    assert_eq!(repeat["entry"], first["entry"]);
    assert_eq!(ledger.balance_and_count().await, (3_000_000, 2));
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_amount_conflicts() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger
        .granted(json!(5), json!({ "idempotency_key": "invoice-18" }))
        .await;

    // Act
    let answer = ledger
        .grant(json!({ "user_id": ledger.user_id, "amount": 6, "idempotency_key": "invoice-18" }))
        .await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
    assert_eq!(ledger.balance_and_count().await, (5_000_000, 1));
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_user_conflicts() {
    // Arrange
    let ledger = Ledger::start().await;
    let (_, bob_id) = ledger
        .app
        .register("bob@example.com", PASSWORD, "Bob")
        .await;
    ledger
        .granted(json!(5), json!({ "idempotency_key": "invoice-19" }))
        .await;

    // Act
    let answer = ledger
        .grant(json!({ "user_id": bob_id, "amount": 5, "idempotency_key": "invoice-19" }))
        .await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
    let bob = ledger.app.get_ok(&credits_of(&bob_id), &ledger.admin).await;
    assert_eq!(bob["balance_micro_credits"], json!(0));
    assert_eq!(bob["total"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_of_a_keyed_grant_apply_it_once() {
    // Arrange
    let ledger = Ledger::start().await;
    let body = json!({ "user_id": ledger.user_id, "amount": "2.5", "idempotency_key": "burst" });

    // Act
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let router = ledger.app.router.clone();
        let request = json_request(Method::POST, GRANT, Some(body.clone()), Some(&ledger.admin));
        requests.spawn(async move { send_to(&router, request).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = requests.join_next().await {
        answers.push(answer.unwrap());
    }

    // Assert: every repeat got the first answer; one of them applied it.
    let mut applied = 0;
    for (status, _, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["balance_micro_credits"], json!(2_500_000), "{body}");
        assert_eq!(body["entry"], answers[0].2["entry"], "{body}");
        if body["applied"] == json!(true) {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "applied {applied} times");
    assert_eq!(ledger.balance_and_count().await, (2_500_000, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grants_with_different_keys_all_add_up_in_one_chain() {
    // Arrange: 1, 2, ..., 20 credits, 210 in all.
    let ledger = Ledger::start().await;

    // Act
    let mut requests = tokio::task::JoinSet::new();
    for i in 1..=20 {
        let router = ledger.app.router.clone();
        let body = json!({
            "user_id": ledger.user_id,
            "amount": i,
            "idempotency_key": format!("batch-{i}"),
        });
        let request = json_request(Method::POST, GRANT, Some(body), Some(&ledger.admin));
        requests.spawn(async move { send_to(&router, request).await });
    }
    while let Some(answer) = requests.join_next().await {
        let (status, _, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["applied"], json!(true), "{body}");
    }

    // Assert
    let entries = ledger.all_entries().await;
    assert_eq!(entries.len(), 20);
    assert_chain(&entries);
    assert_eq!(ledger.balance_and_count().await, (210_000_000, 20));
    assert_eq!(verify(ledger.app.db()).await.unwrap(), []);
}

// --- history ----------------------------------------------------------------

#[tokio::test]
async fn the_history_pages_through_the_entries() {
    // Arrange: five grants of 1..=5 credits.
    let ledger = Ledger::start().await;
    for amount in 1..=5 {
        ledger.granted(json!(amount), json!({})).await;
    }

    // Act
    let pages = [
        ledger.mine("?per_page=2").await,
        ledger.mine("?per_page=2&page=2").await,
        ledger.mine("?per_page=2&page=3").await,
        ledger.mine("?per_page=2&page=4").await,
    ];

    // Assert
    let amounts: Vec<Vec<i64>> = pages
        .iter()
        .map(|page| {
            listed(page)
                .iter()
                .map(|e| micro(e, "amount_micro_credits"))
                .collect()
        })
        .collect();
    assert_eq!(
        amounts,
        [
            vec![5_000_000, 4_000_000],
            vec![3_000_000, 2_000_000],
            vec![1_000_000],
            vec![],
        ]
    );
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page["total"], json!(5), "{page}");
        assert_eq!(page["page"], json!(i + 1), "{page}");
        assert_eq!(page["per_page"], json!(2), "{page}");
        assert_eq!(page["balance_micro_credits"], json!(15_000_000), "{page}");
    }
}

#[tokio::test]
async fn the_history_filters_by_kind() {
    // Arrange: two grants and one adjustment.
    let ledger = Ledger::start().await;
    ledger.granted(json!(5), json!({})).await;
    ledger
        .granted(json!(-1), json!({ "reason": "correction" }))
        .await;
    ledger.granted(json!(2), json!({})).await;

    // Act
    let grants = ledger.mine("?kind=grant").await;
    let adjustments = ledger.mine("?kind=adjustment").await;
    let charges = ledger.mine("?kind=charge").await;

    // Assert
    assert_eq!(grants["total"], json!(2));
    let amounts: Vec<i64> = listed(&grants)
        .iter()
        .map(|e| micro(e, "amount_micro_credits"))
        .collect();
    assert_eq!(amounts, [2_000_000, 5_000_000]);
    assert_eq!(adjustments["total"], json!(1));
    assert_eq!(
        listed(&adjustments)[0]["amount_micro_credits"],
        json!(-1_000_000)
    );
    assert_eq!(listed(&adjustments)[0]["kind"], json!("adjustment"));
    assert_eq!(charges["total"], json!(0));
    assert_eq!(charges["entries"], json!([]));
    // The balance is the whole balance, whatever the filter.
    for body in [&grants, &adjustments, &charges] {
        assert_eq!(body["balance_micro_credits"], json!(6_000_000), "{body}");
    }
}

#[tokio::test]
async fn a_history_query_out_of_range_is_refused_naming_the_parameter() {
    // Arrange
    let ledger = Ledger::start().await;
    let cases = [
        ("an unknown kind", "?kind=bonus", "kind"),
        ("per_page under one", "?per_page=0", "per_page"),
        ("per_page over a hundred", "?per_page=101", "per_page"),
        ("per_page not a number", "?per_page=abc", "per_page"),
        ("page zero", "?page=0", "page"),
    ];

    for (case, query, field) in cases {
        // Act
        let answer = ledger.get(&format!("{MINE}{query}"), &ledger.user).await;

        // Assert
        assert_refused(case, &answer, StatusCode::BAD_REQUEST, Some(field));
    }
}

#[tokio::test]
async fn per_page_of_one_and_of_a_hundred_are_accepted() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(1), json!({})).await;
    ledger.granted(json!(2), json!({})).await;

    // Act
    let one = ledger.mine("?per_page=1").await;
    let hundred = ledger.mine("?per_page=100").await;

    // Assert
    assert_eq!(listed(&one).len(), 1);
    assert_eq!(listed(&hundred).len(), 2);
}

#[tokio::test]
async fn the_own_history_needs_a_signed_in_user() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act
    let answer = ledger.app.request(Method::GET, MINE, None, None).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

// --- what an admin reads ----------------------------------------------------

#[tokio::test]
async fn an_admin_reads_another_users_credits() {
    // Arrange
    let ledger = Ledger::start().await;
    ledger.granted(json!(8), json!({})).await;
    ledger
        .granted(json!("-0.5"), json!({ "reason": "typo" }))
        .await;

    // Act
    let body = ledger
        .app
        .get_ok(
            &format!("{}?per_page=1", credits_of(&ledger.user_id)),
            &ledger.admin,
        )
        .await;

    // Assert: what Lena sees herself.
    assert_eq!(body, ledger.mine("?per_page=1").await);
    assert_eq!(body["balance_micro_credits"], json!(7_500_000));
    assert_eq!(body["total"], json!(2));
    assert_eq!(listed(&body)[0]["amount_micro_credits"], json!(-500_000));
}

#[tokio::test]
async fn a_non_admin_cannot_read_another_users_credits() {
    // Arrange
    let ledger = Ledger::start().await;
    let (bob, _) = ledger
        .app
        .register("bob@example.com", PASSWORD, "Bob")
        .await;

    // Act: Bob reads Lena's, and Lena her own through the admin path.
    let bob_reads = ledger.get(&credits_of(&ledger.user_id), &bob).await;
    let lena_reads = ledger.get(&credits_of(&ledger.user_id), &ledger.user).await;

    // Assert
    assert_error(&bob_reads, StatusCode::FORBIDDEN);
    assert_error(&lena_reads, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reading_the_credits_of_an_unknown_user_is_not_found() {
    // Arrange
    let ledger = Ledger::start().await;

    // Act
    let answer = ledger
        .get(&credits_of("user_1_0123456789abcdef"), &ledger.admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

// --- the ledger proves the balance ------------------------------------------

#[tokio::test]
async fn the_balance_always_equals_the_sum_of_the_ledger() {
    // Arrange: grants and adjustments in a mix, some keyed and repeated.
    let ledger = Ledger::start().await;
    let steps = [
        (json!(10), json!({})),
        (json!("0.333333"), json!({ "idempotency_key": "a" })),
        (json!("0.333333"), json!({ "idempotency_key": "a" })),
        (json!(-4), json!({ "reason": "correction" })),
        (json!(2.75), json!({})),
        (json!("-0.000001"), json!({ "reason": "rounding" })),
        (json!("123.456789"), json!({ "idempotency_key": "b" })),
        (json!(-100), json!({ "reason": "clawback" })),
    ];
    for (amount, extra) in steps {
        ledger.granted(amount, extra).await;
    }

    // Act
    let entries = ledger.all_entries().await;
    let (balance, total) = ledger.balance_and_count().await;
    let discrepancies = verify(ledger.app.db()).await.unwrap();

    // Assert
    let sum: i64 = entries
        .iter()
        .map(|e| micro(e, "amount_micro_credits"))
        .sum();
    assert_eq!(entries.len(), 7);
    assert_eq!(total, 7);
    assert_eq!(sum, 32_540_121);
    assert_eq!(balance, sum);
    assert_chain(&entries);
    assert_eq!(discrepancies, []);
}

#[tokio::test]
async fn verify_on_an_empty_ledger_finds_nothing() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let discrepancies = verify(app.db()).await.unwrap();

    // Assert
    assert_eq!(discrepancies, []);
}

#[tokio::test]
async fn verify_names_the_user_whose_balance_was_changed_behind_the_ledger() {
    // Arrange: Lena and Bob have credits; Lena's balance is then raised
    // by one micro-credit in the database, without a ledger entry.
    let ledger = Ledger::start().await;
    let (_, bob_id) = ledger
        .app
        .register("bob@example.com", PASSWORD, "Bob")
        .await;
    ledger.granted(json!(3), json!({})).await;
    ledger.granted(json!(4), json!({})).await;
    let (status, _, body) = ledger
        .grant(json!({ "user_id": bob_id, "amount": 9 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ledger
        .tamper(&format!(
            "UPDATE credit_balances SET balance = balance + 1 WHERE user_id = '{}'",
            ledger.user_id
        ))
        .await;

    // Act and assert
    ledger
        .assert_lenas_discrepancy(7_000_001, 7_000_000, None)
        .await;
}

#[tokio::test]
async fn verify_names_the_entry_whose_amount_was_changed() {
    // Arrange: three grants; the second one's amount is then changed in
    // the database.
    let ledger = Ledger::start().await;
    ledger.granted(json!(1), json!({})).await;
    let second = ledger.granted(json!(2), json!({})).await;
    ledger.granted(json!(3), json!({})).await;
    let second_id = micro(&second["entry"], "id");
    ledger
        .tamper(&format!(
            "UPDATE credit_ledger SET amount = 2000001 WHERE id = {second_id}"
        ))
        .await;

    // Act and assert
    ledger
        .assert_lenas_discrepancy(6_000_000, 6_000_001, Some(second_id))
        .await;
}

#[tokio::test]
async fn verify_names_the_entry_after_a_deleted_one() {
    // Arrange: grants of 1, 2 and 3 credits; the 2 is then deleted and
    // the balance lowered to match the sum, so only the chain shows it.
    let ledger = Ledger::start().await;
    ledger.granted(json!(1), json!({})).await;
    let second = ledger.granted(json!(2), json!({})).await;
    let third = ledger.granted(json!(3), json!({})).await;
    let second_id = micro(&second["entry"], "id");
    ledger
        .tamper(&format!("DELETE FROM credit_ledger WHERE id = {second_id}"))
        .await;
    ledger
        .tamper("UPDATE credit_balances SET balance = 4000000")
        .await;

    // Act and assert: the third entry says 6 after it, but 1 + 3 is 4.
    let third_id = micro(&third["entry"], "id");
    ledger
        .assert_lenas_discrepancy(4_000_000, 4_000_000, Some(third_id))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_while_grants_are_being_committed_finds_nothing() {
    // Arrange: 60 grants of one credit, committed one after another in the
    // background.
    let ledger = Ledger::start().await;
    let router = ledger.app.router.clone();
    let (admin, user_id) = (ledger.admin.clone(), ledger.user_id.clone());
    let granting = tokio::spawn(async move {
        for _ in 0..60 {
            let body = json!({ "user_id": user_id, "amount": 1 });
            let request = json_request(Method::POST, GRANT, Some(body), Some(&admin));
            let (status, _, body) = send_to(&router, request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    });

    // Act: verify over and over while they land.
    let mut found = Vec::new();
    while !granting.is_finished() {
        found.extend(verify(ledger.app.db()).await.unwrap());
    }
    granting.await.unwrap();

    // Assert: one read transaction sees a ledger and balances that agree.
    assert!(
        found.is_empty(),
        "verify reported a consistent ledger as wrong {} times while grants were \
         committed; the first: {:?}",
        found.len(),
        found.first()
    );
    assert_eq!(ledger.balance_and_count().await, (60_000_000, 60));
}

// ---------------------------------------------------------------------------
// the starting grant

/// An app whose new users start with 5 credits.
async fn app_with_starting_grant() -> TestApp {
    spawn_app_with(|settings| settings.credits.starting_grant = Credits(5_000_000)).await
}

#[tokio::test]
async fn a_new_user_starts_with_the_configured_grant_in_the_ledger() {
    // Arrange
    let app = app_with_starting_grant().await;

    // Act
    let (token, _) = app.register("new@example.com", PASSWORD, "New").await;
    let body = app.get_ok("/api/users/me/credits", &token).await;

    // Assert
    assert_eq!(body["balance_micro_credits"], json!(5_000_000), "{body}");
    assert_eq!(body["balance_credits"], json!("5.000000"));
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["kind"], json!("grant"));
    assert_eq!(entries[0]["reason"], json!("starting grant"));
    assert_eq!(verify(app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_person_created_by_an_admin_starts_with_the_grant_too() {
    // Arrange
    let app = app_with_starting_grant().await;
    let admin = app.create_admin().await;

    // Act
    let (status, _, created) = app
        .post("/api/admin/users", json!({ "name": "Hacker" }), &admin)
        .await;
    let id = string_at(&created, "/user/id");
    let (_, _, body) = app
        .get(&format!("/api/admin/users/{id}/credits"), &admin)
        .await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(body["balance_micro_credits"], json!(5_000_000), "{body}");
}

#[tokio::test]
async fn without_a_starting_grant_a_new_user_has_no_ledger_entry() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (token, _) = app.register("new@example.com", PASSWORD, "New").await;
    let (_, _, body) = app.get("/api/users/me/credits", &token).await;

    // Assert
    assert_eq!(body["balance_micro_credits"], json!(0), "{body}");
    assert_eq!(body["total"], json!(0), "{body}");
}
