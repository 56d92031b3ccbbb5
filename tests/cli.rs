//! The `tollgate` binary as an operator runs it: each test starts it in a
//! fresh working directory, configured through the environment only, and
//! kills it if it outlives its deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    ADMIN_ENV, FIRST_ADMIN, LEDGER_VERIFIED, Server, addr, admin_token, create_provider, data_dir,
    free_port, http, http_ok, login, login_answer, run, tollgate, wait_for_port, workdir,
};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// migrate

#[test]
fn migrate_on_a_fresh_data_dir_creates_the_database_and_can_run_twice() {
    // Arrange
    let dir = workdir();

    // Act
    let first = run(tollgate(&dir).arg("migrate"));
    let second = run(tollgate(&dir).arg("migrate"));

    // Assert
    first.assert_success();
    assert!(first.stdout.contains("database is up to date"), "{first}");
    assert!(data_dir(&dir).join("tollgate.db").is_file(), "{first}");
    second.assert_success();
    assert!(second.stdout.contains("database is up to date"), "{second}");
}

// ---------------------------------------------------------------------------
// admin create-user

#[test]
fn create_user_prints_a_generated_password_once() {
    // Arrange
    let dir = workdir();

    // Act
    let created = run(tollgate(&dir).args(CREATE_ANN));

    // Assert
    created.assert_success();
    assert!(
        created.stdout.contains("created a@example.com"),
        "{created}"
    );
    assert_generated_password(&password_after(&created.stdout, "password: "));
}

#[test]
fn create_user_with_a_taken_email_fails_saying_so() {
    // Arrange
    let dir = workdir();
    run(tollgate(&dir).args(CREATE_ANN)).assert_success();

    // Act
    let again = run(tollgate(&dir).args([
        "admin",
        "create-user",
        "--email",
        "A@Example.com",
        "--name",
        "Another Ann",
    ]));

    // Assert
    assert!(!again.succeeded(), "{again}");
    assert!(
        again.stderr.contains("already exists"),
        "no word of the taken email: {again}"
    );
    assert!(!again.stdout.contains("password"), "{again}");
}

#[test]
fn create_user_uses_the_password_from_the_environment_and_admin_makes_an_admin() {
    // Arrange
    let dir = workdir();
    let password = "boss password from env";

    // Act
    let created = run(tollgate(&dir)
        .args([
            "admin",
            "create-user",
            "--email",
            "boss@example.com",
            "--name",
            "Boss",
            "--admin",
        ])
        .env("TOLLGATE_NEW_PASSWORD", password));

    // Assert
    created.assert_success();
    assert!(
        created.stdout.contains("created boss@example.com"),
        "{created}"
    );
    assert!(!created.stdout.contains("password"), "{created}");
    created.assert_never_shows(password);

    // An admin now exists, so the first start creates none, and the
    // environment's password signs the new admin in.
    let port = free_port();
    let mut server = Server::start(tollgate(&dir).env("TOLLGATE__SERVER__ADDR", addr(port)));
    server.wait_until_ready(port);
    let token = login(port, "boss@example.com", password);
    let (status, me) = http(port, "GET", "/api/users/me", Some(&token), None);
    let output = server.stop();
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["role"], json!("admin"), "{me}");
    assert!(!output.stdout.contains(FIRST_ADMIN), "{output}");
    output.assert_never_shows(password);
}

// ---------------------------------------------------------------------------
// admin reset-password

#[test]
fn reset_password_prints_a_new_password_that_replaces_the_old_one() {
    // Arrange
    let dir = workdir();
    let created = run(tollgate(&dir).args(CREATE_ANN));
    created.assert_success();
    let old = password_after(&created.stdout, "password: ");

    // Act
    let reset = run(tollgate(&dir).args(["admin", "reset-password", "--email", "a@example.com"]));

    // Assert
    reset.assert_success();
    let new = password_after(&reset.stdout, "new password for a@example.com: ");
    assert_generated_password(&new);
    assert_ne!(new, old);

    let port = free_port();
    let mut server = Server::start(tollgate(&dir).env("TOLLGATE__SERVER__ADDR", addr(port)));
    server.wait_until_ready(port);
    let with_old = login_answer(port, "a@example.com", &old);
    let with_new = login_answer(port, "a@example.com", &new);
    server.stop();
    assert_eq!(
        with_old.0, 401,
        "the old password still works: {}",
        with_old.1
    );
    assert_eq!(
        with_new.0, 200,
        "the new password does not work: {}",
        with_new.1
    );
}

#[test]
fn reset_password_for_an_unknown_email_fails_saying_so() {
    // Arrange
    let dir = workdir();

    // Act
    let reset =
        run(tollgate(&dir).args(["admin", "reset-password", "--email", "nobody@example.com"]));

    // Assert
    assert!(!reset.succeeded(), "{reset}");
    assert!(
        reset
            .stderr
            .contains("no user with email nobody@example.com"),
        "unclear failure: {reset}"
    );
    assert!(!reset.stdout.contains("password"), "{reset}");
}

// ---------------------------------------------------------------------------
// admin verify-ledger

#[test]
fn verify_ledger_on_a_fresh_database_succeeds() {
    // Arrange
    let dir = workdir();

    // Act
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

#[test]
fn verify_ledger_after_grants_through_the_api_succeeds() {
    // Arrange
    let dir = workdir();
    grant_to_ann_through_the_api(&dir);

    // Act
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

#[test]
fn verify_ledger_after_the_database_was_tampered_with_fails_naming_the_user() {
    // Arrange: Ann's balance raised by one micro-credit in the SQLite file,
    // behind the ledger's back.
    let dir = workdir();
    let ann = grant_to_ann_through_the_api(&dir);
    sqlite(
        &dir,
        "UPDATE credit_balances SET balance = balance + 1 WHERE user_id = ?",
        &ann,
    );

    // Act
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    assert!(!verified.succeeded(), "{verified}");
    assert!(!verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
    assert!(
        verified.stdout.contains(&format!(
            "user {ann}: balance 12500001 µc, ledger sums to 12500000 µc"
        )),
        "the user is not named: {verified}"
    );
    assert_eq!(verified.stdout.lines().count(), 1, "{verified}");
    assert!(
        verified.stderr.contains("does not match 1 balance"),
        "{verified}"
    );
}

#[test]
fn verify_ledger_names_the_first_entry_whose_amount_was_changed() {
    // Arrange: the amount of Ann's first entry changed in the SQLite file.
    let dir = workdir();
    let ann = grant_to_ann_through_the_api(&dir);
    sqlite(
        &dir,
        "UPDATE credit_ledger SET amount = amount + 1 \
         WHERE id = (SELECT MIN(id) FROM credit_ledger WHERE user_id = ?)",
        &ann,
    );

    // Act
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    assert!(!verified.succeeded(), "{verified}");
    assert!(
        verified.stdout.contains(&format!(
            "user {ann}: balance 12500000 µc, ledger sums to 12500001 µc, \
             first inconsistent entry #1"
        )),
        "{verified}"
    );
}

// ---------------------------------------------------------------------------
// admin prune

/// Tollgate's text for a time in SQLite, at `modifier` from now (`-40 days`).
const STORED_TIME: &str = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', ?)";

/// Ann with three metrics (40 and 31 days old, one from now) and three
/// sessions (expired 8 and 6 days ago, one open).
fn prune_history(dir: &TempDir) {
    let created = run(tollgate(dir).args(CREATE_ANN));
    created.assert_success();
    let ann = created
        .stdout
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no user id in {created}"));
    let metric = format!(
        "INSERT INTO request_metrics (ts, duration_ms, status_code, route) \
         VALUES ({STORED_TIME}, 3, 200, '/api/health')"
    );
    for age in ["-40 days", "-31 days", "+0 days"] {
        sqlite(dir, &metric, age);
    }
    for (jti, expires) in [
        ("expired-8-days", "-8 days"),
        ("expired-6-days", "-6 days"),
        ("open", "+1 day"),
    ] {
        let at = STORED_TIME.replace('?', &format!("'{expires}'"));
        sqlite(
            dir,
            &format!(
                "INSERT INTO sessions (jti, user_id, created_at, expires_at, last_seen_at) \
                 VALUES ('{jti}', ?, {at}, {at}, {at})"
            ),
            &ann,
        );
    }
}

#[test]
fn prune_deletes_old_metrics_and_long_expired_sessions_and_says_how_many() {
    // Arrange
    let dir = workdir();
    prune_history(&dir);

    // Act
    let pruned = run(tollgate(&dir).args(["admin", "prune"]));
    let again = run(tollgate(&dir).args(["admin", "prune"]));
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    pruned.assert_success();
    assert_eq!(
        pruned.stdout,
        "request_metrics: deleted 2 rows older than 30 days\n\
         sessions: deleted 1 row expired more than 7 days\n\
         usage_records: kept forever (retention.usage_days = 0)\n",
        "{pruned}"
    );
    let count = |sql: &str| sqlite_number(&dir, sql);
    assert_eq!(count("SELECT COUNT(*) FROM request_metrics"), 1);
    assert_eq!(
        sqlite_rows(&dir, "SELECT jti FROM sessions ORDER BY jti"),
        "expired-6-days\nopen\n"
    );
    again.assert_success();
    assert!(
        again
            .stdout
            .contains("request_metrics: deleted 0 rows older than 30 days"),
        "{again}"
    );
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

#[test]
fn prune_follows_the_retention_settings_of_the_environment() {
    // Arrange
    let dir = workdir();
    prune_history(&dir);

    // Act: metrics kept forever, sessions five days after expiry.
    let pruned = run(tollgate(&dir)
        .args(["admin", "prune"])
        .env("TOLLGATE__RETENTION__REQUEST_METRICS_DAYS", "0")
        .env("TOLLGATE__RETENTION__EXPIRED_SESSIONS_DAYS", "5")
        .env("TOLLGATE__RETENTION__USAGE_DAYS", "90"));

    // Assert
    pruned.assert_success();
    assert_eq!(
        pruned.stdout,
        "request_metrics: kept forever (retention.request_metrics_days = 0)\n\
         sessions: deleted 2 rows expired more than 5 days\n\
         usage_records: deleted 0 rows older than 90 days\n",
        "{pruned}"
    );
    assert_eq!(
        sqlite_number(&dir, "SELECT COUNT(*) FROM request_metrics"),
        3
    );
    assert_eq!(sqlite_rows(&dir, "SELECT jti FROM sessions"), "open\n");
}

// ---------------------------------------------------------------------------
// admin seed

const SEED_SMALL: [&str; 8] = [
    "admin",
    "seed",
    "--users",
    "50",
    "--requests",
    "2000",
    "--days",
    "10",
];

#[test]
fn seed_fills_a_fresh_database_whose_rollups_and_ledger_agree_and_refuses_a_second_run() {
    // Arrange
    let dir = workdir();

    // Act
    let seeded = run(tollgate(&dir).args(SEED_SMALL));
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));
    let again = run(tollgate(&dir).args(SEED_SMALL));

    // Assert
    seeded.assert_success();
    assert!(seeded.stdout.contains(FIRST_ADMIN), "{seeded}");
    assert!(
        seeded.stdout.contains("seeded 50 users, 2000 requests"),
        "{seeded}"
    );
    let count = |sql: &str| sqlite_number(&dir, sql);
    assert_eq!(count("SELECT COUNT(*) FROM users WHERE role = 'user'"), 50);
    assert_eq!(count("SELECT COUNT(*) FROM api_keys"), 50);
    assert_eq!(count("SELECT COUNT(*) FROM usage_records"), 2000);
    assert_eq!(count("SELECT SUM(requests) FROM daily_user_usage"), 2000);
    assert_eq!(count("SELECT SUM(total_requests) FROM daily_usage"), 2000);
    assert_eq!(count("SELECT SUM(count) FROM llm_usage"), 2000);
    assert_eq!(
        count("SELECT SUM(errors) FROM daily_user_usage"),
        count("SELECT COUNT(*) FROM usage_records WHERE status_code >= 400")
    );
    assert!(count("SELECT COUNT(*) FROM usage_records WHERE status_code >= 400") > 0);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM usage_records WHERE julianday(created_at) < julianday('now', '-10 days')"
        ),
        0,
        "usage older than --days"
    );
    // Every charge is in the ledger and on its key.
    let charged = count("SELECT SUM(charged) FROM usage_records");
    assert!(charged > 0);
    assert_eq!(
        count("SELECT -SUM(amount) FROM credit_ledger WHERE kind = 'charge'"),
        charged
    );
    assert_eq!(count("SELECT SUM(quota_used) FROM api_keys"), charged);
    assert!(count("SELECT COUNT(*) FROM sessions") > 0);
    assert!(count("SELECT COUNT(*) FROM request_metrics") > 0);
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
    assert!(!again.succeeded(), "{again}");
    assert!(again.stderr.contains("--force"), "{again}");
    assert_eq!(count("SELECT COUNT(*) FROM usage_records"), 2000);
}

#[test]
fn seed_with_force_adds_a_second_history_and_the_ledger_still_verifies() {
    // Arrange
    let dir = workdir();
    run(tollgate(&dir).args(SEED_SMALL)).assert_success();

    // Act
    let forced = run(tollgate(&dir).args(SEED_SMALL).arg("--force"));
    let verified = run(tollgate(&dir).args(["admin", "verify-ledger"]));

    // Assert
    forced.assert_success();
    assert!(!forced.stdout.contains(FIRST_ADMIN), "{forced}");
    let count = |sql: &str| sqlite_number(&dir, sql);
    assert_eq!(count("SELECT COUNT(*) FROM users WHERE role = 'user'"), 100);
    assert_eq!(count("SELECT COUNT(*) FROM usage_records"), 4000);
    assert_eq!(count("SELECT SUM(requests) FROM daily_user_usage"), 4000);
    assert_eq!(
        count("SELECT COUNT(*) FROM models"),
        7,
        "models found by name"
    );
    verified.assert_success();
}

#[test]
fn seed_makes_the_same_history_from_the_same_seed() {
    // Arrange
    let (first, second, other) = (workdir(), workdir(), workdir());
    let small = [
        "admin",
        "seed",
        "--users",
        "20",
        "--requests",
        "300",
        "--days",
        "5",
    ];

    // Act
    run(tollgate(&first).args(small)).assert_success();
    run(tollgate(&second).args(small)).assert_success();
    run(tollgate(&other).args(small).args(["--seed", "7"])).assert_success();

    // Assert: who, on which model, with what outcome, tokens and cost, in
    // the same order (times and ids differ between runs).
    let history = "SELECT u.email, u.plan, r.model, r.status_code, r.streamed, r.input_tokens, \
                   r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cost \
                   FROM usage_records r JOIN users u ON u.id = r.user_id \
                   ORDER BY r.created_at, u.email";
    let first = sqlite_rows(&first, history);
    assert_eq!(first.lines().count(), 300);
    assert_eq!(first, sqlite_rows(&second, history));
    assert_ne!(first, sqlite_rows(&other, history));
}

// ---------------------------------------------------------------------------
// configuration

#[test]
fn a_bad_value_in_the_environment_stops_the_start_naming_the_key() {
    // Arrange
    let dir = workdir();

    // Act
    let refused = run(tollgate(&dir)
        .arg("migrate")
        .env("TOLLGATE__AUTH__SESSION_TTL_HOURS", "abc"));

    // Assert
    refused.assert_refused_naming("session_ttl_hours");
    assert!(!data_dir(&dir).exists(), "{refused}");
}

#[test]
fn an_unknown_key_in_the_environment_stops_the_start_naming_it() {
    // Arrange
    let dir = workdir();

    // Act
    let refused = run(tollgate(&dir)
        .arg("migrate")
        .env("TOLLGATE__SERVER__BOGUS", "1"));

    // Assert
    refused.assert_refused_naming("bogus");
    assert!(!data_dir(&dir).exists(), "{refused}");
}

#[test]
fn a_config_file_in_the_working_dir_is_read_and_checked() {
    // Arrange
    let dir = workdir();
    std::fs::write(
        dir.path().join("tollgate.toml"),
        "[auth]\nsession_ttl_hours = 0\n",
    )
    .unwrap();

    // Act
    let refused = run(tollgate(&dir).arg("migrate"));

    // Assert
    refused.assert_refused_naming("session_ttl_hours");
    assert!(!data_dir(&dir).exists(), "{refused}");
}

#[test]
fn a_missing_config_file_given_explicitly_is_refused() {
    // Arrange
    let dir = workdir();

    // Act
    let refused = run(tollgate(&dir).args(["--config", "missing.toml", "migrate"]));

    // Assert
    refused.assert_refused_naming("missing.toml");
    assert!(!data_dir(&dir).exists(), "{refused}");
}

#[test]
fn an_unsupported_database_url_is_refused_without_echoing_it() {
    // Arrange
    let dir = workdir();

    // Act
    let refused = run(tollgate(&dir)
        .arg("migrate")
        .env("DATABASE_URL", "mysql://tollgate:hunter2-db@x/tollgate"));

    // Assert
    refused.assert_refused_naming("DATABASE_URL");
    refused.assert_never_shows("hunter2-db");
    assert!(!data_dir(&dir).exists(), "{refused}");
}

// ---------------------------------------------------------------------------
// admin rotate-encryption-key

const ROTATED_UPSTREAM_KEY: &str = "sk-upstream-key-sealed-across-rotations";

#[test]
fn rotating_the_generated_encryption_key_reseals_the_upstream_key_which_the_old_key_no_longer_opens()
 {
    // Arrange: an upstream key sealed with the generated key.
    let dir = workdir();
    let mock_port = free_port();
    let _mock = Server::start(tollgate(&dir).args(["mock-upstream", "--addr", &addr(mock_port)]));
    wait_for_port(mock_port);
    let (server, port) = serve_on_a_free_port(&dir, &[]);
    let key = openai_provider_at(port, &admin_token(port), mock_port, ROTATED_UPSTREAM_KEY);
    assert_eq!(ask_local_model(port, &key).0, 200);
    server.stop();
    let key_file = data_dir(&dir).join("encryption_key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    // Act
    let rotated = run(tollgate(&dir).args(["admin", "rotate-encryption-key"]));

    // Assert: a new key in the same private file, never shown...
    rotated.assert_success();
    assert!(rotated.stdout.contains("Resealed 1 value(s)"), "{rotated}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(new_key.len(), 64, "{new_key:?}");
    assert_eq!(mode(&key_file), 0o600);
    assert!(!data_dir(&dir).join("encryption_key.next").exists());
    rotated.assert_never_shows(&new_key);
    rotated.assert_never_shows(&old_key);
    rotated.assert_never_shows(ROTATED_UPSTREAM_KEY);
    // ...with which the server still reaches the provider (the mock
    // upstream wants a key: a 200 means it was opened and sent)...
    let (server, port) = serve_on_a_free_port(&dir, &[]);
    let (status, answer) = ask_local_model(port, &key);
    server.stop().assert_never_shows(ROTATED_UPSTREAM_KEY);
    assert_eq!(status, 200, "{answer}");
    // ...and which the old key does not open: its provider fails alone.
    let (server, port) =
        serve_on_a_free_port(&dir, &[("TOLLGATE__SECRETS__ENCRYPTION_KEY", &old_key)]);
    let (status, answer) = ask_local_model(port, &key);
    server.stop();
    assert_eq!(status, 502, "{answer}");
    assert!(answer.contains("misconfigured"), "{answer}");
    // The key in use is refused as the next one.
    let same = dir.path().join("same_key");
    std::fs::write(&same, &new_key).unwrap();
    run(tollgate(&dir)
        .args(["admin", "rotate-encryption-key", "--new-key-file"])
        .arg(&same))
    .assert_refused_naming("the new key is the current key");
}

#[test]
fn rotating_a_configured_encryption_key_prints_the_new_key_to_put_in_place_and_writes_no_file() {
    // Arrange: an upstream key sealed with the key from the environment.
    let configured = "5e".repeat(32);
    let dir = workdir();
    let mock_port = free_port();
    let _mock = Server::start(tollgate(&dir).args(["mock-upstream", "--addr", &addr(mock_port)]));
    wait_for_port(mock_port);
    let env = [("TOLLGATE__SECRETS__ENCRYPTION_KEY", configured.as_str())];
    let (server, port) = serve_on_a_free_port(&dir, &env);
    let key = openai_provider_at(port, &admin_token(port), mock_port, ROTATED_UPSTREAM_KEY);
    server.stop();

    // Act
    let rotated = run(tollgate(&dir)
        .envs(env)
        .args(["admin", "rotate-encryption-key"]));

    // Assert: the new key is printed, with where to put it, and no file.
    rotated.assert_success();
    let new_key = rotated
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("New encryption key: "))
        .unwrap_or_else(|| panic!("no new key printed:{rotated}"))
        .trim()
        .to_owned();
    assert_eq!(new_key.len(), 64, "{new_key:?}");
    assert_ne!(new_key, configured);
    assert!(
        rotated.stdout.contains("secrets.encryption_key"),
        "{rotated}"
    );
    rotated.assert_never_shows(&configured);
    assert!(!data_dir(&dir).join("encryption_key").exists());
    let (server, port) =
        serve_on_a_free_port(&dir, &[("TOLLGATE__SECRETS__ENCRYPTION_KEY", &new_key)]);
    let (status, answer) = ask_local_model(port, &key);
    server.stop();
    assert_eq!(status, 200, "{answer}");
}

/// `serve` on a free port with the first admin of [`ADMIN_ENV`] and `env`,
/// once it is ready.
fn serve_on_a_free_port(dir: &TempDir, env: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let mut server = Server::start(
        tollgate(dir)
            .envs(ADMIN_ENV)
            .envs(env.iter().copied())
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    (server, port)
}

/// An OpenAI-kind provider at the mock upstream on `mock_port` holding
/// `upstream_key`, with a free model `gpt-local`; returns a new API key of
/// the admin's for it.
fn openai_provider_at(port: u16, admin: &str, mock_port: u16, upstream_key: &str) -> String {
    let provider = json!({
        "name": "local", "kind": "openai",
        "base_url": format!("http://127.0.0.1:{mock_port}/v1"),
        "api_keys": [upstream_key],
    });
    let provider_id = create_provider(port, admin, &provider);
    let model = json!({
        "public_name": "gpt-local", "provider_id": provider_id,
        "upstream_model": "gpt-local", "input_price": 0, "output_price": 0,
    });
    key_for_new_model(port, admin, &model)
}

/// Asks `gpt-local` for a completion with `key`: the status and the body.
fn ask_local_model(port: u16, key: &str) -> (u16, String) {
    let body = r#"{"model":"gpt-local","messages":[{"role":"user","content":"hi"}]}"#;
    raw_http(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {key}"))],
        body,
    )
}

// ---------------------------------------------------------------------------
// serve

#[test]
fn the_first_start_creates_an_admin_once_and_shows_its_password() {
    // Arrange
    let dir = workdir();
    let port = free_port();

    // Act
    let mut first = Server::start(tollgate(&dir).env("TOLLGATE__SERVER__ADDR", addr(port)));
    first.wait_until_ready(port);
    let token = login(
        port,
        "admin@localhost",
        &first_admin_password(&first.stdout()),
    );
    let first = first.stop();

    let mut second = Server::start(
        tollgate(&dir)
            .arg("serve")
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    second.wait_until_ready(port);
    let second = second.stop();

    // Assert
    assert!(!token.is_empty(), "{first}");
    assert_eq!(first.stdout.matches(FIRST_ADMIN).count(), 1, "{first}");
    assert!(first.stdout.contains("admin@localhost"), "{first}");
    assert!(!second.stdout.contains(FIRST_ADMIN), "{second}");
}

#[test]
fn the_first_admin_comes_from_the_environment_without_showing_its_password() {
    // Arrange
    let dir = workdir();
    let port = free_port();
    let password = "boss password 12345";

    // Act
    let mut server = Server::start(
        tollgate(&dir)
            .env("TOLLGATE__SERVER__ADDR", addr(port))
            .env("TOLLGATE_ADMIN_EMAIL", "boss@example.com")
            .env("TOLLGATE_ADMIN_PASSWORD", password),
    );
    server.wait_until_ready(port);
    let token = login(port, "boss@example.com", password);
    let output = server.stop();

    // Assert
    assert!(!token.is_empty());
    assert!(
        output
            .stdout
            .contains("Created the first admin: boss@example.com"),
        "{output}"
    );
    assert!(
        output
            .stdout
            .contains("password from TOLLGATE_ADMIN_PASSWORD"),
        "{output}"
    );
    assert!(!output.stdout.contains("admin@localhost"), "{output}");
    output.assert_never_shows(password);
}

#[test]
fn serve_never_prints_the_configured_jwt_secret() {
    // Arrange
    let dir = workdir();
    let port = free_port();
    let secret = "jwt-secret-that-no-log-may-ever-show-000";
    assert_eq!(secret.len(), 40);

    // Act
    let mut server = Server::start(
        tollgate(&dir)
            .env("TOLLGATE__SERVER__ADDR", addr(port))
            .env("TOLLGATE__AUTH__JWT_SECRET", secret),
    );
    server.wait_until_ready(port);
    let password = first_admin_password(&server.stdout());
    login(port, "admin@localhost", &password);
    let output = server.stop();

    // Assert
    output.assert_never_shows(secret);
    assert!(
        !data_dir(&dir).join("jwt_secret").exists(),
        "a configured secret must not be replaced by a generated one"
    );
}

#[test]
fn the_generated_jwt_secret_and_the_data_dir_are_private_to_the_owner() {
    // Arrange
    let dir = workdir();
    let port = free_port();

    // Act
    let mut server = Server::start(tollgate(&dir).env("TOLLGATE__SERVER__ADDR", addr(port)));
    server.wait_until_ready(port);
    let output = server.stop();

    // Assert
    let data = data_dir(&dir);
    assert_eq!(mode(&data), 0o700, "{output}");
    let secret = data.join("jwt_secret");
    assert_eq!(mode(&secret), 0o600, "{output}");
    let contents = std::fs::read_to_string(&secret).unwrap();
    assert!(contents.trim().len() >= 32);
    output.assert_never_shows(contents.trim());
}

#[test]
fn a_hundred_and_fifty_concurrent_logins_stay_within_a_memory_bound() {
    // Arrange: a throttle loose enough that every login reaches Argon2
    // (19 MiB each): without a cap, 150 at once took 1.5 GB more.
    let dir = workdir();
    let port = free_port();
    let mut server = Server::start(
        tollgate(&dir)
            .envs(ADMIN_ENV)
            .env("TOLLGATE__AUTH__LOGIN_MAX_FAILURES", "1000")
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    let pid = server.child.id();
    let before = memory_kib(pid, "VmRSS");

    // Act
    let logins: Vec<_> = (0..150)
        .map(|_| thread::spawn(move || login_answer(port, ADMIN_ENV[0].1, ADMIN_ENV[1].1).0))
        .collect();
    let statuses: Vec<u16> = logins.into_iter().map(|t| t.join().unwrap()).collect();
    let peak = memory_kib(pid, "VmHWM");
    server.stop();

    // Assert
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    // One hash per core at once, 19 MiB each, plus room for the rest.
    let cores = thread::available_parallelism().map_or(2, std::num::NonZero::get) as u64;
    let bound_mib = 150 + 25 * cores;
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("150 concurrent logins: peak memory {grown_mib} MiB above the idle server's");
    assert!(
        grown_mib < bound_mib,
        "150 concurrent logins grew the peak memory by {grown_mib} MiB (bound {bound_mib} MiB)"
    );
}

/// A memory figure of a process, in KiB (`VmRSS` now, `VmHWM` at its peak).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------
// the proxy, as a fresh install serves it

#[test]
fn a_fresh_install_answers_with_the_seeded_mock_model_and_never_logs_a_key() {
    // Arrange: debug logs, to catch a key in any of them.
    let dir = workdir();
    let port = free_port();
    let mut server = Server::start(
        tollgate(&dir)
            .envs(ADMIN_ENV)
            .env("RUST_LOG", "debug")
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    let key = new_api_key(port, &admin_token(port));
    let body = r#"{"model":"tollgate-mock","messages":[{"role":"user","content":"ping pong"}]}"#;

    // Act
    let (status, answer) = raw_http(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {key}"))],
        body,
    );
    let (refused, refusal) = raw_http(
        port,
        "POST",
        "/v1/messages",
        &[("x-api-key", &format!("{key}x"))],
        body,
    );
    let output = server.stop();

    // Assert
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(json_body(&answer)).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        json!("Hello from the Tollgate mock. You said: ping pong"),
        "{answer}"
    );
    assert_eq!(answer["usage"]["prompt_tokens"], json!(2), "{answer}");
    assert_eq!(refused, 401, "{refusal}");
    assert!(!refusal.contains(&key), "{refusal}");
    output.assert_never_shows(&key);
    output.assert_never_shows(&key[3..]);
}

#[test]
fn json_logs_are_one_object_a_line_and_a_proxied_request_s_lines_name_it() {
    // Arrange: a model whose provider cannot be reached, so that the
    // request logs a warning.
    let dir = workdir();
    let (server, port) = serve_on_a_free_port(&dir, &[("TOLLGATE__LOG__FORMAT", "json")]);
    let admin = admin_token(port);
    let provider = json!({
        "name": "gone", "kind": "openai",
        "base_url": format!("http://127.0.0.1:{}/v1", free_port()),
        "api_keys": ["sk-gone"],
    });
    let provider_id = create_provider(port, &admin, &provider);
    let model = json!({
        "public_name": "gone-model", "provider_id": provider_id,
        "upstream_model": "gone", "input_price": 0, "output_price": 0,
    });
    let key = key_for_new_model(port, &admin, &model);

    // Act
    let body = r#"{"model":"gone-model","messages":[{"role":"user","content":"hi"}]}"#;
    let (status, answer) = raw_http(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {key}"))],
        body,
    );
    let output = server.stop();

    // Assert
    assert_eq!(status, 502, "{answer}");
    let lines: Vec<Value> = output
        .stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line["level"].is_string() && line["timestamp"].is_string())
    );
    let unreachable = lines
        .iter()
        .find(|line| line["fields"]["message"] == "provider unreachable")
        .unwrap_or_else(|| panic!("no line about the provider:{output}"));
    let request_id = unreachable["span"]["request_id"]
        .as_str()
        .unwrap_or_default();
    assert!(request_id.starts_with("req_"), "{unreachable}");
    output.assert_never_shows(&key);
}

#[test]
fn an_upstream_key_crosses_http_to_the_mock_upstream_and_is_never_logged() {
    // Arrange: the mock upstream as its own process, an OpenAI-kind provider
    // on it, and the most talkative logs (hyper and reqwest included).
    let dir = workdir();
    let (port, mock_port) = (free_port(), free_port());
    let _mock = Server::start(tollgate(&dir).args(["mock-upstream", "--addr", &addr(mock_port)]));
    wait_for_port(mock_port);
    let mut server = Server::start(
        tollgate(&dir)
            .envs(ADMIN_ENV)
            .env("RUST_LOG", "trace")
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    let admin = admin_token(port);
    let upstream_key = "sk-upstream-secret-that-must-stay-hidden";
    let key = openai_provider_at(port, &admin, mock_port, upstream_key);
    let body = r#"{"model":"gpt-local","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

    // Act
    let (status, streamed) = raw_http(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {key}"))],
        body,
    );
    let (_, providers) = http(port, "GET", "/api/admin/providers", Some(&admin), None);
    let output = server.stop();

    // Assert: the mock demands a key, so a 200 means it was sent.
    assert_eq!(status, 200, "{streamed}");
    assert!(streamed.contains("data: [DONE]"), "{streamed}");
    assert!(!providers.to_string().contains(upstream_key), "{providers}");
    output.assert_never_shows(upstream_key);
    output.assert_never_shows(&key);
}

#[test]
fn a_client_that_hangs_up_mid_stream_is_charged_for_what_it_received() {
    // Arrange: a model that streams one event every 50 ms.
    let dir = workdir();
    let port = free_port();
    let mut server = Server::start(
        tollgate(&dir)
            .envs(ADMIN_ENV)
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    let admin = admin_token(port);
    let (_, providers) = http(port, "GET", "/api/admin/providers", Some(&admin), None);
    let model = json!({
        "public_name": "dripping", "provider_id": providers["providers"][0]["id"],
        "upstream_model": "mock-drip", "input_price": 1_000_000, "output_price": 2_000_000,
    });
    let key = key_for_new_model(port, &admin, &model);
    let body = json!({
        "model": "dripping", "max_tokens": 100, "stream": true,
        "messages": [{ "role": "user", "content": "a b c d e f g h i j k l m n o p q r s t" }],
    })
    .to_string();

    // Act: read until the third word has arrived, then close the socket.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    while String::from_utf8_lossy(&received)
        .matches("content_block_delta")
        .count()
        < 6
    {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "the stream ended early");
        received.extend_from_slice(&buffer[..read]);
    }
    drop(stream);
    // The usage row is written within the writer's 50 ms window.
    let deadline = Instant::now() + Duration::from_secs(10);
    let used = loop {
        let (_, keys) = http(port, "GET", "/api/keys", Some(&admin), None);
        let used = keys["keys"][0]["quota_used_micro_credits"]
            .as_i64()
            .unwrap_or(0);
        if used > 0 || Instant::now() > deadline {
            break used;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let output = server.stop();

    // Assert: 20 input tokens (from message_start) at 1 µc, and 2 µc for
    // each word delivered before the hang-up: fewer than the 27 of a whole
    // answer, at least the 3 seen.
    let output_tokens = (used - 20) / 2;
    assert!(used > 20, "nothing was charged: {used}\n{output}");
    assert_eq!((used - 20) % 2, 0, "{used}");
    assert!(
        (3..27).contains(&output_tokens),
        "charged for {output_tokens} output tokens:{output}"
    );
}

#[test]
fn sigterm_lets_a_stream_finish_and_writes_its_usage_before_exit() {
    // Arrange: a model that streams one event every 50 ms (about a second).
    let dir = workdir();
    let port = free_port();
    let start = || {
        let mut server = Server::start(
            tollgate(&dir)
                .envs(ADMIN_ENV)
                .env("TOLLGATE__SERVER__ADDR", addr(port)),
        );
        server.wait_until_ready(port);
        server
    };
    let mut server = start();
    let admin = admin_token(port);
    let (_, providers) = http(port, "GET", "/api/admin/providers", Some(&admin), None);
    let mock = providers["providers"][0]["id"].as_str().unwrap().to_owned();
    let model = json!({
        "public_name": "slow-stream", "provider_id": mock, "upstream_model": "mock-drip",
        "input_price": 1_000_000, "output_price": 2_000_000,
    });
    let key = key_for_new_model(port, &admin, &model);
    let words = "one two three four five six seven eight nine ten eleven twelve";
    let body = json!({
        "model": "slow-stream", "max_tokens": 100, "stream": true,
        "messages": [{ "role": "user", "content": words }],
    })
    .to_string();

    // Act: SIGTERM while the stream is running.
    let stream = {
        let key = key.clone();
        thread::spawn(move || raw_http(port, "POST", "/v1/messages", &[("x-api-key", &key)], &body))
    };
    thread::sleep(Duration::from_millis(300));
    let signalled = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    let exited = server.wait_for_exit(Duration::from_secs(30));
    let (status, streamed) = stream.join().unwrap();
    // Everything reached the database: the spool has nothing left to replay.
    let spooled: Vec<_> = std::fs::read_dir(data_dir(&dir).join("spool"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    let mut restarted = start();
    let (_, keys) = http(port, "GET", "/api/keys", Some(&admin_token(port)), None);
    restarted.child.kill().ok();

    // Assert: the stream ran to its end, the process exited cleanly, and
    // the request's cost was stored (it moves with the usage row).
    assert!(signalled.success());
    assert!(
        exited.is_some_and(|status| status.success()),
        "exit: {exited:?}"
    );
    assert_eq!(status, 200, "{streamed}");
    assert!(streamed.contains("event: message_stop"), "{streamed}");
    let used = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == json!("cli-test"))
        .unwrap_or_else(|| panic!("no key in {keys}"));
    // 12 input words + 19 output words (7 of greeting, 12 echoed) at 1 and 2
    // micro-credits a token (1 and 2 credits per million).
    assert_eq!(
        used["quota_used_micro_credits"],
        json!(12 + 2 * 19),
        "{used}"
    );
    assert!(used["last_used_at"].is_string(), "{used}");
    assert!(spooled.is_empty(), "left in the spool: {spooled:?}");
}

#[test]
fn mock_upstream_serves_both_formats_and_wants_a_provider_key() {
    // Arrange
    let dir = workdir();
    let port = free_port();
    let mut mock = Server::start(tollgate(&dir).args(["mock-upstream", "--addr", &addr(port)]));
    wait_for_port(port);
    let body = r#"{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}"#;

    // Act
    let (anthropic, message) = raw_http(
        port,
        "POST",
        "/v1/messages",
        &[("x-api-key", "sk-test")],
        body,
    );
    let (openai, completion) = raw_http(
        port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer sk-test")],
        body,
    );
    let (keyless, refusal) = raw_http(port, "POST", "/v1/messages", &[], body);
    mock.child.kill().ok();

    // Assert
    assert_eq!(anthropic, 200, "{message}");
    let message: Value = serde_json::from_str(json_body(&message)).unwrap();
    assert_eq!(message["content"][0]["text"], json!("Hello from the"));
    assert_eq!(message["stop_reason"], json!("max_tokens"));
    assert_eq!(openai, 200, "{completion}");
    let completion: Value = serde_json::from_str(json_body(&completion)).unwrap();
    assert_eq!(completion["object"], json!("chat.completion"));
    assert_eq!(keyless, 401, "{refusal}");
    assert!(refusal.contains("authentication_error"), "{refusal}");
}

// ---------------------------------------------------------------------------
// helpers

const CREATE_ANN: [&str; 6] = [
    "admin",
    "create-user",
    "--email",
    "a@example.com",
    "--name",
    "Ann",
];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("cannot stat {}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The password printed after `label` on a line of `stdout`.
fn password_after(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no line starting with {label:?} in:\n{stdout}"))
        .trim()
        .to_owned()
}

fn first_admin_password(stdout: &str) -> String {
    let password = password_after(stdout, "password: ");
    assert_generated_password(&password);
    password
}

fn assert_generated_password(password: &str) {
    assert_eq!(password.len(), 20, "not 20 characters: {password:?}");
    assert!(
        password.bytes().all(|b| b.is_ascii_alphanumeric()),
        "not alphanumeric: {password:?}"
    );
}

/// Creates `model` as the admin, funds the admin with one credit and returns
/// a new API key of theirs.
fn key_for_new_model(port: u16, admin: &str, model: &Value) -> String {
    http_ok(port, "POST", "/api/admin/models", admin, Some(model), 201);
    grant_self(port, admin, "1");
    new_api_key(port, admin)
}

/// Grants the signed-in admin `amount` credits (requests need a balance).
fn grant_self(port: u16, token: &str, amount: &str) {
    let (_, me) = http(port, "GET", "/api/users/me", Some(token), None);
    let grant = json!({ "user_id": me["user"]["id"], "amount": amount, "reason": "test" });
    http_ok(
        port,
        "POST",
        "/api/admin/credits/grant",
        token,
        Some(&grant),
        200,
    );
}

/// Creates an API key named `cli-test` and returns its secret.
fn new_api_key(port: u16, token: &str) -> String {
    let body = http_ok(
        port,
        "POST",
        "/api/keys",
        token,
        Some(&json!({ "name": "cli-test" })),
        201,
    );
    body["secret"].as_str().unwrap().to_owned()
}

/// Creates Ann with the CLI, then has the server grant her 10 credits,
/// another 3.5, and take 1 back; stops the server and returns her id.
fn grant_to_ann_through_the_api(dir: &TempDir) -> String {
    let created = run(tollgate(dir)
        .args(CREATE_ANN)
        .env("TOLLGATE_NEW_PASSWORD", "ann password 12345"));
    created.assert_success();
    let ann = created
        .stdout
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no user id in {created}"));
    let port = free_port();
    let mut server = Server::start(
        tollgate(dir)
            .envs(ADMIN_ENV)
            .env("TOLLGATE__SERVER__ADDR", addr(port)),
    );
    server.wait_until_ready(port);
    let admin = admin_token(port);
    for grant in [
        json!({ "user_id": ann, "amount": 10 }),
        json!({ "user_id": ann, "amount": "3.5" }),
        json!({ "user_id": ann, "amount": -1, "reason": "correction" }),
    ] {
        let (status, body) = http(
            port,
            "POST",
            "/api/admin/credits/grant",
            Some(&admin),
            Some(&grant),
        );
        assert_eq!(status, 200, "{grant}: {body}");
    }
    let (_, credits) = http(
        port,
        "GET",
        &format!("/api/admin/users/{ann}/credits"),
        Some(&admin),
        None,
    );
    server.stop();
    assert_eq!(
        credits["balance_micro_credits"],
        json!(12_500_000),
        "{credits}"
    );
    ann
}

/// Runs one SQL statement with one parameter on the SQLite file of `dir`,
/// through Python's sqlite3 module (the `sqlite3` shell is not always
/// installed, and the tests take no database driver of their own).
fn sqlite(dir: &TempDir, statement: &str, parameter: &str) {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  changed = db.execute(sys.argv[2], (sys.argv[3],)).rowcount\n\
                  db.commit()\n\
                  db.close()\n\
                  assert changed == 1, f'{changed} rows changed'\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(data_dir(dir).join("tollgate.db"))
        .args([statement, parameter])
        .output()
        .expect("cannot run python3");
    assert!(
        output.status.success(),
        "the SQL statement failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The number a query answers (one row, one column), on the SQLite file of
/// `dir`, through Python's sqlite3 module like [`sqlite`].
fn sqlite_number(dir: &TempDir, query: &str) -> i64 {
    let rows = sqlite_rows(dir, query);
    rows.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{query} answered {rows:?}"))
}

/// Every row a query answers, one line each (`|` between columns).
fn sqlite_rows(dir: &TempDir, query: &str) -> String {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  for row in db.execute(sys.argv[2]):\n    \
                      print('|'.join(str(cell) for cell in row))\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(data_dir(dir).join("tollgate.db"))
        .arg(query)
        .output()
        .expect("cannot run python3");
    assert!(
        output.status.success(),
        "the query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the answer is not UTF-8")
}

/// One HTTP/1.1 POST-or-other with extra headers, read to the end of the
/// connection: the status and the raw body (chunk sizes included, when the
/// answer is chunked).
fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("cannot connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// The JSON of a body that has a `Content-Length` (not chunked).
fn json_body(body: &str) -> &str {
    body.trim()
}

// ---------------------------------------------------------------------------
// the catalog as code

/// A provider (its key from `CATALOG_UPSTREAM_KEY`), two models (the first
/// falling back to the second) and the `pro` plan's rate limits.
const CATALOG: &str = r#"
[[providers]]
name = "declared"
kind = "openai"
base_url = "http://127.0.0.1:9/v1/"
api_key_env = ["CATALOG_UPSTREAM_KEY"]

[[models]]
public_name = "declared-main"
provider = "declared"
upstream_model = "gpt-main"
input_price = 1000000
output_price = 2000000
fallbacks = ["declared-spare"]

[[models]]
public_name = "declared-spare"
deployments = [{ provider = "declared", upstream_model = "gpt-spare", weight = 3 }]
input_price = 0
output_price = 0
plans = ["pro"]

[rate_limits.pro]
requests_per_minute = 321
tokens_per_minute = 654321
"#;
const CATALOG_KEY: &str = "sk-catalog-upstream-key-0123456789";

/// The catalog file `catalog.toml` and its key (ending with a newline, as
/// a secret file often does: the base URL's trailing `/` and the newline
/// must not count as changes).
fn catalog_env() -> [(&'static str, String); 2] {
    [
        ("TOLLGATE__CATALOG__FILE", "catalog.toml".to_owned()),
        ("CATALOG_UPSTREAM_KEY", format!("{CATALOG_KEY}\n")),
    ]
}

/// `tollgate` in `dir` with the catalog file and its key.
fn with_catalog(dir: &TempDir) -> Command {
    let mut command = tollgate(dir);
    command.envs(catalog_env());
    command
}

/// `serve` with the catalog file, ready.
fn serve_with_catalog(dir: &TempDir) -> (Server, u16) {
    let env = catalog_env();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    serve_on_a_free_port(dir, &env)
}

/// The admin API's models by public name.
fn models_by_name(port: u16, admin: &str) -> std::collections::BTreeMap<String, Value> {
    let listed = http_ok(port, "GET", "/api/admin/models", admin, None, 200);
    listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| {
            (
                model["public_name"].as_str().unwrap().to_owned(),
                model.clone(),
            )
        })
        .collect()
}

#[test]
fn the_catalog_file_applies_once_and_then_only_what_changed_and_its_items_refuse_admin_edits() {
    // Arrange
    let dir = workdir();
    std::fs::write(dir.path().join("catalog.toml"), CATALOG).unwrap();

    // Act: check, a dry run (twice), an apply (twice).
    let checked = run(with_catalog(&dir).args(["config", "check"]));
    let dry = run(with_catalog(&dir).args(["config", "apply", "--dry-run"]));
    let dry_again = run(with_catalog(&dir).args(["config", "apply", "--dry-run"]));
    let applied = run(with_catalog(&dir).args(["config", "apply"]));
    let again = run(with_catalog(&dir).args(["config", "apply"]));

    // Assert
    checked.assert_success();
    assert!(
        checked
            .stdout
            .contains("1 providers, 2 models and 1 plans' rate limits"),
        "{checked}"
    );
    for output in [&dry, &dry_again, &applied] {
        output.assert_success();
        for line in [
            "+ provider declared",
            "+ model declared-main",
            "+ model declared-spare",
            "~ rate limits pro: 321 requests and 654321 tokens a minute",
        ] {
            assert!(output.stdout.contains(line), "no {line:?}: {output}");
        }
    }
    assert!(dry.stdout.contains("would change 4 item(s)"), "{dry}");
    assert!(applied.stdout.contains("changed 4 item(s)"), "{applied}");
    again.assert_success();
    assert!(again.stdout.contains("catalog.toml: no changes"), "{again}");

    // Act: the server shows the items as managed and refuses edits.
    let (server, port) = serve_with_catalog(&dir);
    let admin = admin_token(port);
    let models = models_by_name(port, &admin);
    let main = &models["declared-main"];
    let edit = json!({ "output_price": 1 });
    let path = format!("/api/admin/models/{}", main["id"].as_str().unwrap());
    let (edited, refusal) = http(port, "PATCH", &path, Some(&admin), Some(&edit));
    let (deleted, _) = http(port, "DELETE", &path, Some(&admin), None);
    let provider_path = format!(
        "/api/admin/providers/{}",
        main["provider_id"].as_str().unwrap()
    );
    let (provider_edited, _) = http(
        port,
        "PATCH",
        &provider_path,
        Some(&admin),
        Some(&json!({ "base_url": "http://127.0.0.1:8/v1" })),
    );
    let (_, plans) = http(port, "GET", "/api/admin/rate-limits", Some(&admin), None);
    let limits = json!({ "requests_per_minute": 1, "tokens_per_minute": 1 });
    let (limits_set, _) = http(
        port,
        "PUT",
        "/api/admin/rate-limits/pro",
        Some(&admin),
        Some(&limits),
    );
    let output = server.stop();

    // Assert
    assert_eq!(main["managed_by"], json!("catalog.toml"), "{main}");
    assert_eq!(
        main["output_price"]["micro_credits_per_mtok"],
        json!(2_000_000),
        "{main}"
    );
    assert_eq!(main["fallbacks"], json!(["declared-spare"]), "{main}");
    let spare = &models["declared-spare"];
    assert_eq!(spare["deployments"][0]["weight"], json!(3), "{spare}");
    assert_eq!(spare["plans"], json!(["pro"]), "{spare}");
    assert_eq!(edited, 409, "{refusal}");
    let message = refusal["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("catalog.toml") && message.contains("tollgate config apply"),
        "{refusal}"
    );
    assert_eq!((deleted, provider_edited, limits_set), (409, 409, 409));
    let pro = plans["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plan| plan["plan"] == "pro")
        .unwrap();
    assert_eq!(
        (
            &pro["requests_per_minute"],
            &pro["source"],
            &pro["managed_by"]
        ),
        (&json!(321), &json!("catalog"), &json!("catalog.toml")),
        "{pro}"
    );
    assert!(
        models["tollgate-mock"]["managed_by"].is_null(),
        "an admin's model stays editable"
    );
    output.assert_never_shows(CATALOG_KEY);

    // Act: the file changes (a price, a model removed); a restart applies it.
    let edited_catalog = CATALOG
        .replace("output_price = 2000000", "output_price = 3000000")
        .replace("fallbacks = [\"declared-spare\"]", "")
        .split("[[models]]\npublic_name = \"declared-spare\"")
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(dir.path().join("catalog.toml"), edited_catalog).unwrap();
    let (server, port) = serve_with_catalog(&dir);
    let models = models_by_name(port, &admin_token(port));
    let output = server.stop();

    // Assert
    assert_eq!(
        models["declared-main"]["output_price"]["micro_credits_per_mtok"],
        json!(3_000_000)
    );
    assert_eq!(models["declared-main"]["fallbacks"], json!([]));
    assert!(!models.contains_key("declared-spare"), "{models:?}");
    assert!(output.stderr.contains("- model declared-spare"), "{output}");
    assert!(
        output
            .stderr
            .contains("- rate limits pro: the config file's again"),
        "{output}"
    );
}

#[test]
fn a_catalog_key_variable_that_is_not_set_is_named_by_check_and_stops_the_start() {
    // Arrange
    let dir = workdir();
    std::fs::write(dir.path().join("catalog.toml"), CATALOG).unwrap();
    let without_key = || {
        let mut command = tollgate(&dir);
        command.env("TOLLGATE__CATALOG__FILE", "catalog.toml");
        command
    };

    // Act
    let checked = run(without_key().args(["config", "check"]));
    let served = run(without_key()
        .envs(ADMIN_ENV)
        .env("TOLLGATE__SERVER__ADDR", addr(free_port()))
        .arg("serve"));

    // Assert
    checked.assert_refused_naming("CATALOG_UPSTREAM_KEY");
    served.assert_refused_naming("CATALOG_UPSTREAM_KEY");
}

// ---------------------------------------------------------------------------
// OpenTelemetry traces

#[test]
fn each_proxied_request_is_one_span_with_the_genai_attributes_at_the_otlp_endpoint() {
    // Arrange: a receiver of OTLP/HTTP in JSON, and a server exporting to it.
    let receiver = OtlpReceiver::start();
    let dir = workdir();
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let (server, port) = serve_on_a_free_port(
        &dir,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "tollgate-under-test"),
        ],
    );
    let key = new_api_key(port, &admin_token(port));
    let mut client = support::Client::new(port);
    let ask = |client: &mut support::Client, path: &str, header: (&str, &str), body: &str| {
        let answer = client.post(path, &[header], body).expect("no answer");
        let usage: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        (answer.status, answer.request_id(), usage)
    };
    let bearer = format!("Bearer {key}");

    // Act: one OpenAI and one Anthropic request, and one for a model that
    // does not exist (refused before any provider is called).
    let chat = ask(
        &mut client,
        "/v1/chat/completions",
        ("Authorization", &bearer),
        r#"{"model":"tollgate-mock","messages":[{"role":"user","content":"one two three"}]}"#,
    );
    let messages = ask(
        &mut client,
        "/v1/messages",
        ("x-api-key", &key),
        r#"{"model":"tollgate-mock","max_tokens":50,"messages":[{"role":"user","content":"four five"}]}"#,
    );
    let unknown = ask(
        &mut client,
        "/v1/chat/completions",
        ("Authorization", &bearer),
        r#"{"model":"no-such-model","messages":[{"role":"user","content":"six"}]}"#,
    );
    let spans = receiver.spans_within(2, Duration::from_secs(15));
    let output = server.terminate(Duration::from_secs(10));

    // Assert
    assert_eq!((chat.0, messages.0, unknown.0), (200, 200, 404));
    let resource = &receiver.requests()[0]["resourceSpans"][0]["resource"];
    assert_eq!(
        attribute(resource, "service.name"),
        json!("tollgate-under-test"),
        "{resource}"
    );
    assert_eq!(spans.len(), 2, "one span per answered request: {spans:#?}");
    for (sent, input, output_tokens, endpoint) in [
        (
            &chat,
            &chat.2["usage"]["prompt_tokens"],
            &chat.2["usage"]["completion_tokens"],
            "chat_completions",
        ),
        (
            &messages,
            &messages.2["usage"]["input_tokens"],
            &messages.2["usage"]["output_tokens"],
            "messages",
        ),
    ] {
        let request_id = sent.1.clone().expect("an answer without x-request-id");
        let span = spans
            .iter()
            .find(|span| attribute(span, "tollgate.request_id") == json!(request_id))
            .unwrap_or_else(|| panic!("no span for {request_id}: {spans:#?}"));
        assert_eq!(span["name"], json!("chat tollgate-mock"), "{span}");
        assert_eq!(attribute(span, "gen_ai.operation.name"), json!("chat"));
        assert_eq!(
            attribute(span, "gen_ai.request.model"),
            json!("tollgate-mock")
        );
        assert_eq!(
            attribute(span, "gen_ai.provider.name"),
            json!("tollgate.mock")
        );
        assert_eq!(attribute(span, "tollgate.endpoint"), json!(endpoint));
        assert_eq!(attribute(span, "http.response.status_code"), json!(200));
        assert!(
            input.as_i64().is_some_and(|tokens| tokens > 0),
            "{}",
            sent.2
        );
        assert_eq!(
            &attribute(span, "gen_ai.usage.input_tokens"),
            input,
            "{span}"
        );
        assert_eq!(
            &attribute(span, "gen_ai.usage.output_tokens"),
            output_tokens,
            "{span}"
        );
        let nanos = |field: &str| span[field].as_str().and_then(|n| n.parse::<u64>().ok());
        assert!(
            nanos("startTimeUnixNano") < nanos("endTimeUnixNano"),
            "{span}"
        );
    }
    output.assert_never_shows(&key);
}

#[test]
fn an_otlp_protocol_tollgate_cannot_send_stops_the_start_naming_the_variable() {
    // Arrange
    let dir = workdir();

    // Act
    let refused = run(tollgate(&dir)
        .arg("serve")
        .env("TOLLGATE__SERVER__ADDR", addr(free_port()))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"));

    // Assert
    refused.assert_refused_naming("OTEL_EXPORTER_OTLP_PROTOCOL=grpc");
}

/// A span's (or a resource's) attribute, as JSON: OTLP/JSON writes 64-bit
/// integers as strings.
fn attribute(item: &Value, key: &str) -> Value {
    let Some(value) = item["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|attribute| attribute["key"] == key)
        .map(|attribute| &attribute["value"])
    else {
        return Value::Null;
    };
    match (
        &value["intValue"],
        &value["stringValue"],
        &value["boolValue"],
    ) {
        (Value::String(int), _, _) => json!(int.parse::<i64>().unwrap()),
        (Value::Number(int), _, _) => json!(int),
        (_, Value::String(text), _) => json!(text),
        (_, _, Value::Bool(flag)) => json!(flag),
        _ => value.clone(),
    }
}

/// An OTLP/HTTP endpoint on 127.0.0.1 that keeps every JSON export it
/// receives and answers each with success.
struct OtlpReceiver {
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl OtlpReceiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = received.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let kept = kept.clone();
                thread::spawn(move || Self::serve(stream, &kept));
            }
        });
        Self { port, received }
    }

    /// Reads requests on one connection (kept alive) until it closes.
    fn serve(stream: TcpStream, kept: &std::sync::Mutex<Vec<Value>>) {
        use std::io::BufRead;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = std::io::BufReader::new(stream);
        loop {
            let mut length = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let answer =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
            reader.get_mut().write_all(answer.as_bytes()).unwrap();
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for request in self.requests() {
            for resource in request["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        spans
    }

    /// The spans received once there are `count`, or after `deadline`
    /// (and a moment more, for any beyond `count`).
    fn spans_within(&self, count: usize, deadline: Duration) -> Vec<Value> {
        let until = Instant::now() + deadline;
        while self.spans().len() < count && Instant::now() < until {
            thread::sleep(Duration::from_millis(50));
        }
        thread::sleep(Duration::from_millis(500));
        self.spans()
    }
}

// ---------------------------------------------------------------------------
// health (the container image's HEALTHCHECK)

#[test]
fn health_exits_zero_while_the_configured_server_answers_and_one_once_it_is_gone() {
    // Arrange
    let dir = workdir();
    let (server, port) = serve_on_a_free_port(&dir, &[]);
    let addr = format!("0.0.0.0:{port}");

    // Act
    let serving = run(tollgate(&dir)
        .arg("health")
        .env("TOLLGATE__SERVER__ADDR", &addr));
    server.stop();
    let stopped = run(tollgate(&dir)
        .arg("health")
        .env("TOLLGATE__SERVER__ADDR", &addr));

    // Assert: asked on loopback, as a container's health check is.
    serving.assert_success();
    assert!(serving.stdout.contains("healthy"), "{serving}");
    assert_eq!(stopped.status.and_then(|s| s.code()), Some(1), "{stopped}");
    assert!(stopped.stderr.contains("/api/health"), "{stopped}");
}
