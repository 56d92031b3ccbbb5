//! `tollgate admin prune` as an operator runs it: one pass of retention on
//! the SQLite file of a fresh working directory, one line per table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{LEDGER_VERIFIED, data_dir, run, tollgate, workdir};
use tempfile::TempDir;

/// A timestamp `days` ago, written as Tollgate stores times in SQLite.
fn days_ago(days: u32) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-{days} days')")
}

/// Ann, created by the CLI; returns her id.
fn create_ann(dir: &TempDir) -> String {
    let created = run(tollgate(dir).args([
        "admin",
        "create-user",
        "--email",
        "a@example.com",
        "--name",
        "Ann",
    ]));
    created.assert_success();
    created
        .stdout
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no user id in {created}"))
}

/// Runs SQL statements on the SQLite file of `dir`, with `?` bound to
/// `parameter`, through Python's sqlite3 module.
fn sqlite(dir: &TempDir, statements: &[String], parameter: &str) {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  for statement in sys.argv[3:]:\n    \
                      db.execute(statement, (sys.argv[2],) if '?' in statement else ())\n\
                  db.commit()\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(data_dir(dir).join("tollgate.db"))
        .arg(parameter)
        .args(statements)
        .output()
        .expect("cannot run python3");
    assert!(
        output.status.success(),
        "the SQL failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The number a query answers (one row, one column).
fn sqlite_number(dir: &TempDir, query: &str) -> i64 {
    let script = "import sqlite3, sys\n\
                  print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(data_dir(dir).join("tollgate.db"))
        .arg(query)
        .output()
        .expect("cannot run python3");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{query} answered {text:?}"))
}

/// Ann with three metrics (40 and 31 days old, one from now) and three
/// sessions (expired 8 and 6 days ago, one open).
fn history(dir: &TempDir) {
    let ann = create_ann(dir);
    let metric = |ts: String| {
        format!(
            "INSERT INTO request_metrics (ts, duration_ms, status_code, route) \
             VALUES ({ts}, 3, 200, '/api/health')"
        )
    };
    let session = |jti: &str, expires: String| {
        format!(
            "INSERT INTO sessions (jti, user_id, created_at, expires_at, last_seen_at) \
             VALUES ('{jti}', ?, {expires}, {expires}, {expires})"
        )
    };
    sqlite(
        dir,
        &[
            metric(days_ago(40)),
            metric(days_ago(31)),
            metric(days_ago(0)),
            session("expired-8-days", days_ago(8)),
            session("expired-6-days", days_ago(6)),
            session(
                "open",
                "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+1 day')".to_owned(),
            ),
        ],
        &ann,
    );
}

#[test]
fn prune_deletes_old_metrics_and_long_expired_sessions_and_says_how_many() {
    // Arrange
    let dir = workdir();
    history(&dir);

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
    assert_eq!(
        sqlite_number(&dir, "SELECT COUNT(*) FROM request_metrics"),
        1
    );
    assert_eq!(
        sqlite_number(
            &dir,
            "SELECT COUNT(*) FROM sessions WHERE jti IN ('expired-6-days', 'open')"
        ),
        2
    );
    assert_eq!(sqlite_number(&dir, "SELECT COUNT(*) FROM sessions"), 2);
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
    history(&dir);

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
    assert_eq!(sqlite_number(&dir, "SELECT COUNT(*) FROM sessions"), 1);
}
