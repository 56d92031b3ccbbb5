//! Charges survive what operators meet, with the real binary, on SQLite and
//! on PostgreSQL: a `kill -9` under load, the database locked or stopped for
//! a minute, and a flood of rate-limited requests while it is slow. Every request a client saw
//! answered must end as exactly one usage row and one ledger charge, and
//! the ledger must verify; refusals must cost no row and stall nobody.
//!
//! Each test starts its own gateway (and upstream, and PostgreSQL) on
//! 127.0.0.1, bounds every wait with a deadline, stops what it started and
//! prints its figures. They run one at a time: they load the machine and
//! measure latency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::HashMap,
    io::Write,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::json;
use support::{
    ADMIN_ENV, Answer, Client, Collected, LEDGER_VERIFIED, Output, Server, addr, admin_token,
    collect, create_provider, data_dir, free_port, http, http_ok, login_with_key,
    postgres::Postgres, run, tollgate, wait_for_port, workdir,
};
use tempfile::TempDir;

/// How long the proxy waits for room in the usage writer's queue before it
/// answers 503 (set explicitly, so the bound below is the configured one).
const ADMISSION_WAIT: Duration = Duration::from_millis(2_000);
/// What an answer or a refusal may take beyond that wait on a busy machine.
const MARGIN: Duration = Duration::from_secs(3);
/// How long the database is away in the outage tests.
const OUTAGE: Duration = Duration::from_secs(60);
/// How long usage rows may take to reach the database once it is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a graceful stop may take (the writer waits 10 s at most).
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// The priced model, on the mock upstream over HTTP.
const MODEL: &str = "priced";
/// Credits each test user is granted: far more than any test spends.
const GRANT: &str = "1000";
const GRANT_MICRO_CREDITS: i64 = 1_000_000_000;

/// The tests load the machine and measure latency: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// one instance per PostgreSQL database

#[test]
fn a_second_instance_on_one_postgres_refuses_to_start_naming_redis() {
    let _serial = one_at_a_time();
    on_postgres(a_second_instance_refuses_to_start);
}

/// Two `serve` processes on one database would each keep balances and
/// caches in memory: the second must refuse, and may start once the first
/// has stopped.
fn a_second_instance_refuses_to_start(database: Database) {
    // Arrange
    let (first_dir, second_dir) = (workdir(), workdir());
    let first = serve(&first_dir, &database, free_port());

    // Act
    let mut command = tollgate(&second_dir);
    command
        .arg("serve")
        .env("TOLLGATE__SERVER__ADDR", addr(free_port()));
    if let Some(url) = database.url() {
        command.env("DATABASE_URL", url);
    }
    let mut second = Server::start(&mut command);
    let refused = second.wait_for_exit(Duration::from_secs(30));
    let said = second.stop();
    first.stop();
    let after_the_first = serve(&second_dir, &database, free_port());

    // Assert
    assert!(
        refused.is_some_and(|status| !status.success()),
        "a second instance kept running: {said}"
    );
    let stderr = format!("{said}");
    assert!(stderr.contains("another Tollgate instance"), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
    after_the_first.stop();
}

// ---------------------------------------------------------------------------
// kill -9

#[test]
fn kill_9_under_load_loses_no_charge() {
    let _serial = one_at_a_time();
    kill_9_under_load(Database::Sqlite);
}

#[test]
fn kill_9_under_load_on_postgres_loses_no_charge() {
    let _serial = one_at_a_time();
    on_postgres(kill_9_under_load);
}

/// SIGKILL two seconds into three seconds of load from eight threads, then
/// a restart on the same data directory and database (which replays the
/// spool) and a graceful stop.
fn kill_9_under_load(database: Database) {
    let started = Instant::now();
    let name = database.name();

    // Arrange
    let mut gateway = Gateway::start(database);
    let loader = gateway.user("loader");
    let stop = Arc::new(AtomicBool::new(false));

    // Act: SIGKILL two seconds into three of load.
    let load_started = Instant::now();
    let threads = load(gateway.port, &loader.secret, 8, &stop);
    thread::sleep(Duration::from_secs(2));
    let killed = gateway.kill();
    thread::sleep(Duration::from_secs(3).saturating_sub(load_started.elapsed()));
    stop.store(true, Ordering::Relaxed);
    let sent = join(threads);
    let answered = ids(sent.iter().filter(|sent| sent.answered));
    let stored_at_kill = gateway.stored();
    let restarted = gateway.restart_and_stop();
    let stored = gateway.stored();
    let verified = gateway.verify_ledger();

    // Assert
    let not_stored_at_kill = stored_at_kill.missing(&answered);
    let replayed = restarted
        .stderr
        .lines()
        .find(|line| line.contains("replayed usage rows from the spool"))
        .unwrap_or_default()
        .to_owned();
    println!(
        "kill -9 under load on {name}: {} requests sent, {} answered (by kind: {:?}), {} of them not \
         yet in the database at the kill; after the restart {} usage rows and {} charges; restart \
         log: {replayed:?}; {:.1} s",
        sent.len(),
        answered.len(),
        by_kind(sent.iter().filter(|sent| sent.answered)),
        not_stored_at_kill,
        stored.rows.len(),
        stored.charges.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        killed.status.and_then(|status| status.signal()),
        Some(9),
        "the server was not running at the kill:{killed}"
    );
    assert!(
        answered.len() >= 50,
        "too little load to prove anything: {} answers",
        answered.len()
    );
    let errors: Vec<_> = sent
        .iter()
        .filter(|sent| sent.status.is_some_and(|status| status >= 500))
        .collect();
    assert!(errors.is_empty(), "server errors under load: {errors:?}");
    restarted.assert_success();
    assert!(
        !replayed.is_empty(),
        "the restart replayed nothing:{restarted}"
    );
    stored.assert_charged_once(&answered);
    stored.assert_ledger_matches_rows();
    gateway.assert_money_adds_up(&loader);
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

// ---------------------------------------------------------------------------
// a minute without the database

#[test]
fn sqlite_locked_for_60_seconds_loses_no_charge_and_keeps_answering() {
    let _serial = one_at_a_time();
    a_minute_without_the_database(Database::Sqlite);
}

#[test]
fn postgres_stopped_for_60_seconds_loses_no_charge_and_keeps_answering() {
    let _serial = one_at_a_time();
    on_postgres(a_minute_without_the_database);
}

/// The database goes away for [`OUTAGE`] (SQLite locked by another process,
/// PostgreSQL stopped) while user A sends requests from four threads and
/// user B one every 500 ms.
fn a_minute_without_the_database(database: Database) {
    let started = Instant::now();
    let name = database.name();

    // Arrange: both users' keys, wallets and plans cached by one request.
    let mut gateway = Gateway::start(database);
    let (a, b) = (gateway.user("a"), gateway.user("b"));
    let warm: Vec<Sent> = [&a, &b]
        .iter()
        .map(|caller| Kind::ChatJson.send(&mut Client::new(gateway.port), &caller.secret))
        .collect();
    assert!(warm.iter().all(|sent| sent.answered), "{warm:?}");
    let stop = Arc::new(AtomicBool::new(false));

    // Act
    let away = gateway.database.take_away(&gateway.dir);
    let away_at = Instant::now();
    let how = away.how();
    let a_threads = load(gateway.port, &a.secret, 4, &stop);
    let b_thread = probe(gateway.port, &b.secret, Duration::from_millis(500), &stop);
    away.give_back(away_at + OUTAGE);
    let back_at = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let a_sent = join(a_threads);
    let b_sent = b_thread.join().expect("user B's thread panicked");
    let all: Vec<&Sent> = warm.iter().chain(&a_sent).chain(&b_sent).collect();
    let answered = ids(all.iter().copied().filter(|sent| sent.answered));
    let refused = ids(all.iter().copied().filter(|sent| sent.status == Some(503)));
    let recovered_in = gateway.wait_for_rows(&answered, RECOVERY_DEADLINE);
    let output = gateway.stop();
    let stored = gateway.stored();
    let verified = gateway.verify_ledger();

    // Assert
    let during = |sent: &&Sent| sent.started >= away_at && sent.started < back_at;
    let count = |sent: &[Sent], status: u16| {
        sent.iter()
            .filter(during)
            .filter(|sent| sent.status == Some(status))
            .count()
    };
    let b_latencies = latencies(b_sent.iter().filter(during));
    let answered_during = a_sent
        .iter()
        .chain(&b_sent)
        .filter(during)
        .filter(|sent| sent.answered)
        .count();
    println!(
        "{name} {how} for {:.1} s: A sent {} (200: {}, 503: {}), B sent {} (200: {}, 503: {}), \
         answered during the outage {answered_during}, B latency p50 {:?} max {:?}; every answer \
         stored {:?} after the database came back; {} usage rows, {} charges; {:.1} s",
        (back_at - away_at).as_secs_f64(),
        a_sent.len(),
        count(&a_sent, 200),
        count(&a_sent, 503),
        b_sent.len(),
        count(&b_sent, 200),
        count(&b_sent, 503),
        percentile(&b_latencies, 50),
        b_latencies.last().copied().unwrap_or_default(),
        recovered_in,
        stored.rows.len(),
        stored.charges.len(),
        started.elapsed().as_secs_f64()
    );
    let slow_or_wrong: Vec<_> = b_sent
        .iter()
        .filter(|sent| {
            !matches!(sent.status, Some(200 | 503)) || sent.latency > ADMISSION_WAIT + MARGIN
        })
        .collect();
    assert!(
        slow_or_wrong.is_empty(),
        "B was not answered (200) or refused (503) within {:?}: {slow_or_wrong:?}",
        ADMISSION_WAIT + MARGIN
    );
    let wrong: Vec<_> = a_sent
        .iter()
        .filter(|sent| !matches!(sent.status, Some(200 | 503)))
        .collect();
    assert!(wrong.is_empty(), "A got neither 200 nor 503: {wrong:?}");
    assert!(
        answered_during > 0,
        "nothing was answered while the database was away"
    );
    assert!(
        recovered_in.is_some(),
        "answered requests still without a usage row {RECOVERY_DEADLINE:?} after the database \
         came back: {} of {}",
        gateway.stored().missing(&answered),
        answered.len()
    );
    output.assert_success();
    assert!(
        writer_retried(&output),
        "the usage writer never met the outage:{output}"
    );
    assert_no_usage_lost(&output);
    stored.assert_charged_once(&answered);
    assert_eq!(
        stored.present(&refused),
        0,
        "a 503 (refused before admission) left a usage row"
    );
    stored.assert_ledger_matches_rows();
    gateway.assert_money_adds_up(&a);
    gateway.assert_money_adds_up(&b);
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

// ---------------------------------------------------------------------------
// a flood of refusals while the database is slow

#[test]
fn a_flood_of_rate_limited_requests_while_the_database_is_slow_costs_no_rows_and_stalls_nobody() {
    let _serial = one_at_a_time();
    a_flood_while_the_database_is_slow(Database::Sqlite);
}

#[test]
fn a_flood_of_rate_limited_requests_while_postgres_is_slow_costs_no_rows_and_stalls_nobody() {
    let _serial = one_at_a_time();
    on_postgres(a_flood_while_the_database_is_slow);
}

/// 10,000 requests of a key limited to 5 a minute while another process
/// holds a lock the usage writer needs for at least 20 s (SQLite's write
/// lock, or `usage_records` in PostgreSQL), and another key sends one
/// every 20 ms.
fn a_flood_while_the_database_is_slow(database: Database) {
    const FLOOD: usize = 10_000;
    const FLOOD_THREADS: usize = 4;
    const LIMIT: usize = 5;
    /// A window of 5 a minute gets a cell back every 12 s.
    const REFILL: Duration = Duration::from_secs(12);
    const LOCKED_AT_LEAST: Duration = Duration::from_secs(20);
    let started = Instant::now();
    let name = database.name();

    // Arrange: both wallets warm, then the owner limits their key (a fresh
    // window, all five cells in it).
    let mut gateway = Gateway::start(database);
    let (limited, other) = (gateway.user("limited"), gateway.user("other"));
    let warm: Vec<Sent> = [&limited, &other]
        .iter()
        .map(|caller| Kind::ChatJson.send(&mut Client::new(gateway.port), &caller.secret))
        .collect();
    assert!(warm.iter().all(|sent| sent.answered), "{warm:?}");
    let owner = login_with_key(gateway.port, &limited.secret);
    let (status, changed) = http(
        gateway.port,
        "PATCH",
        &format!("/api/keys/{}", limited.key_id),
        Some(&owner),
        Some(&json!({ "requests_per_minute": LIMIT })),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["key"]["requests_per_minute"],
        json!(LIMIT),
        "{changed}"
    );
    let stop = Arc::new(AtomicBool::new(false));

    // Act
    let mut lock = gateway
        .database
        .lock(&gateway.dir, Duration::from_secs(120));
    let locked_at = Instant::now();
    let other_thread = probe(
        gateway.port,
        &other.secret,
        Duration::from_millis(20),
        &stop,
    );
    let flood_threads: Vec<JoinHandle<Vec<Sent>>> = (0..FLOOD_THREADS)
        .map(|_| {
            let (port, secret) = (gateway.port, limited.secret.clone());
            thread::spawn(move || {
                let mut client = Client::new(port);
                let deadline = Instant::now() + Duration::from_secs(120);
                (0..FLOOD / FLOOD_THREADS)
                    .map_while(|_| {
                        (Instant::now() < deadline)
                            .then(|| Kind::ChatJson.send(&mut client, &secret))
                    })
                    .collect()
            })
        })
        .collect();
    let flood = join(flood_threads);
    let flood_took = locked_at.elapsed();
    thread::sleep(LOCKED_AT_LEAST.saturating_sub(locked_at.elapsed()));
    let releasing_at = Instant::now();
    lock.release();
    lock.wait_released(Duration::from_secs(30));
    let released_at = Instant::now();
    let stored_at_release = lock.stored_at_release();
    stop.store(true, Ordering::Relaxed);
    let other_sent = other_thread
        .join()
        .expect("the other key's thread panicked");
    let admitted: Vec<&Sent> = flood
        .iter()
        .filter(|sent| sent.status != Some(429))
        .collect();
    let answered = ids(warm
        .iter()
        .chain(&flood)
        .chain(&other_sent)
        .filter(|sent| sent.answered));
    let answered_while_locked = flood
        .iter()
        .chain(&other_sent)
        .filter(|sent| sent.answered && sent.started + sent.latency < releasing_at)
        .count();
    let recovered_in = gateway.wait_for_rows(&answered, RECOVERY_DEADLINE);
    let output = gateway.stop();
    let stored = gateway.stored();
    let verified = gateway.verify_ledger();

    // Assert
    let refusals = flood.iter().filter(|sent| sent.status == Some(429)).count();
    let other_latencies = latencies(other_sent.iter());
    let limited_rows = stored.rows_of_key(&limited.key_id);
    let allowed = LIMIT + (flood_took.as_secs_f64() / REFILL.as_secs_f64()) as usize;
    println!(
        "flood of {} requests in {:.1} s ({:.0}/s) during a {:.1} s lock of {name}: {refusals} \
         refused (429), {} admitted (at most {allowed}); other key: {} requests, p50 {:?}, p99 \
         {:?}, max {:?}; limited key's usage rows: {limited_rows} (1 of them the warm-up); usage \
         rows stored when the lock was released: {} (of {answered_while_locked} answered by \
         then); every answer stored {:?} after the lock; {:.1} s",
        flood.len(),
        flood_took.as_secs_f64(),
        flood.len() as f64 / flood_took.as_secs_f64(),
        (released_at - locked_at).as_secs_f64(),
        admitted.len(),
        other_sent.len(),
        percentile(&other_latencies, 50),
        percentile(&other_latencies, 99),
        other_latencies.last().copied().unwrap_or_default(),
        stored_at_release,
        recovered_in,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(flood.len(), FLOOD, "the flood did not finish in time");
    let wrong: Vec<_> = flood
        .iter()
        .filter(|sent| !matches!(sent.status, Some(200 | 429)))
        .collect();
    assert!(
        wrong.is_empty(),
        "the flood got neither 200 nor 429: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        (LIMIT..=allowed).contains(&admitted.len()),
        "{} of the limited key's requests were let in, not {LIMIT} to {allowed}",
        admitted.len()
    );
    let stalled: Vec<_> = other_sent
        .iter()
        .filter(|sent| sent.status != Some(200))
        .collect();
    assert!(
        stalled.is_empty(),
        "the other key was refused (the writer's queue filled): {:?}",
        &stalled[..stalled.len().min(5)]
    );
    assert!(
        other_sent.len() >= 100,
        "the other key sent only {}",
        other_sent.len()
    );
    assert!(
        percentile(&other_latencies, 99) < ADMISSION_WAIT + MARGIN,
        "the other key's p99 is {:?}",
        percentile(&other_latencies, 99)
    );
    // The writer waited for the lock: nothing answered while it was held
    // reached the database before it was released (the warm-up's rows may
    // have), and SQLite's busy timeout made it try again.
    assert!(
        answered_while_locked > 0,
        "nothing was answered while locked"
    );
    assert!(
        stored_at_release <= warm.len(),
        "{stored_at_release} usage rows were stored while the lock was held"
    );
    assert!(
        recovered_in.is_some(),
        "answered requests still without a usage row {RECOVERY_DEADLINE:?} after the lock: {} of {}",
        gateway.stored().missing(&answered),
        answered.len()
    );
    output.assert_success();
    assert!(
        matches!(gateway.database, Database::Postgres(_)) || writer_retried(&output),
        "the usage writer never met the lock:{output}"
    );
    assert_no_usage_lost(&output);
    // One row per request let in (the warm-up's and the admitted ones):
    // none for a refusal.
    assert_eq!(limited_rows, 1 + admitted.len());
    let refused = ids(flood.iter().filter(|sent| sent.status == Some(429)));
    assert_eq!(stored.present(&refused), 0, "a 429 left a usage row");
    stored.assert_charged_once(&answered);
    stored.assert_ledger_matches_rows();
    gateway.assert_money_adds_up(&limited);
    gateway.assert_money_adds_up(&other);
    verified.assert_success();
}

// ---------------------------------------------------------------------------
// clients

/// What the load sends: chat completions and messages, JSON twice as often
/// as streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ChatJson,
    MessagesJson,
    ChatStream,
    MessagesStream,
}

impl Kind {
    const MIX: [Kind; 6] = [
        Kind::ChatJson,
        Kind::MessagesJson,
        Kind::ChatStream,
        Kind::ChatJson,
        Kind::MessagesJson,
        Kind::MessagesStream,
    ];

    fn send(self, client: &mut Client, secret: &str) -> Sent {
        let stream = matches!(self, Kind::ChatStream | Kind::MessagesStream);
        let body = json!({
            "model": MODEL, "max_tokens": 16, "stream": stream,
            "messages": [{ "role": "user", "content": "charge this once" }],
        })
        .to_string();
        let started = Instant::now();
        let answer = match self {
            Kind::ChatJson | Kind::ChatStream => client.post(
                "/v1/chat/completions",
                &[("Authorization", &format!("Bearer {secret}"))],
                &body,
            ),
            Kind::MessagesJson | Kind::MessagesStream => {
                client.post("/v1/messages", &[("x-api-key", secret)], &body)
            }
        };
        let latency = started.elapsed();
        let answered = answer.as_ref().is_ok_and(|answer| self.answered(answer));
        let answer = answer.ok();
        Sent {
            kind: self,
            status: answer.as_ref().map(|answer| answer.status),
            answered,
            request_id: answer.as_ref().and_then(Answer::request_id),
            started,
            latency,
        }
    }

    /// A complete answer: the whole JSON body, or a stream that reached its
    /// terminal event (which the proxy holds back until the charge is on
    /// disk).
    fn answered(self, answer: &Answer) -> bool {
        answer.status == 200
            && match self {
                Kind::ChatJson | Kind::MessagesJson => answer.complete,
                Kind::ChatStream => answer.body.contains("data: [DONE]"),
                Kind::MessagesStream => answer.body.contains("event: message_stop"),
            }
    }
}

/// One request as its client saw it.
#[derive(Debug, Clone)]
struct Sent {
    kind: Kind,
    /// `None`: no answer at all (the server was gone).
    status: Option<u16>,
    answered: bool,
    request_id: Option<String>,
    started: Instant,
    latency: Duration,
}

/// `threads` threads sending [`Kind::MIX`] on kept-alive connections as fast
/// as they are answered, until `stop`.
fn load(
    port: u16,
    secret: &str,
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Vec<Sent>>> {
    (0..threads)
        .map(|first| {
            let (secret, stop) = (secret.to_owned(), stop.clone());
            thread::spawn(move || {
                let mut client = Client::new(port);
                let mut sent = Vec::new();
                for kind in Kind::MIX.iter().cycle().skip(first) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let request = kind.send(&mut client, &secret);
                    if request.status.is_none() {
                        // The server is gone: no need to spin.
                        thread::sleep(Duration::from_millis(20));
                    }
                    sent.push(request);
                }
                sent
            })
        })
        .collect()
}

/// One JSON request every `every` (or as soon as the last is answered,
/// when it took longer), until `stop`.
fn probe(
    port: u16,
    secret: &str,
    every: Duration,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<Vec<Sent>> {
    let (secret, stop) = (secret.to_owned(), stop.clone());
    thread::spawn(move || {
        let mut client = Client::new(port);
        let mut sent = Vec::new();
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            sent.push(Kind::ChatJson.send(&mut client, &secret));
            next += every;
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        sent
    })
}

fn join(threads: Vec<JoinHandle<Vec<Sent>>>) -> Vec<Sent> {
    threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("a client thread panicked"))
        .collect()
}

/// The request ids of `sent`; every answer the proxy gives carries one.
fn ids<'a>(sent: impl Iterator<Item = &'a Sent>) -> Vec<String> {
    sent.map(|sent| {
        sent.request_id
            .clone()
            .unwrap_or_else(|| panic!("an answer without x-request-id: {sent:?}"))
    })
    .collect()
}

fn by_kind<'a>(sent: impl Iterator<Item = &'a Sent>) -> HashMap<Kind, usize> {
    let mut counts = HashMap::new();
    for sent in sent {
        *counts.entry(sent.kind).or_default() += 1;
    }
    counts
}

/// Latencies, sorted.
fn latencies<'a>(sent: impl Iterator<Item = &'a Sent>) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = sent.map(|sent| sent.latency).collect();
    latencies.sort();
    latencies
}

/// The `p`th percentile of sorted `latencies` (nearest rank).
fn percentile(latencies: &[Duration], p: usize) -> Duration {
    let rank = (latencies.len() * p).div_ceil(100).max(1);
    latencies.get(rank - 1).copied().unwrap_or_default()
}

/// The log shows the usage writer trying a batch again.
fn writer_retried(output: &Output) -> bool {
    output
        .stderr
        .lines()
        .any(|line| line.contains("batch write failed; retrying") && line.contains("usage_records"))
}

/// The log shows no usage row dropped or lost.
fn assert_no_usage_lost(output: &Output) {
    for lost in [
        "usage row recorded after the spool stopped",
        "row submitted after the writer stopped",
        "they are lost",
    ] {
        assert!(!output.stderr.contains(lost), "{lost}:{output}");
    }
    assert!(
        !output
            .stderr
            .lines()
            .any(|line| line.contains("rows lost") && line.contains("usage_records")),
        "{output}"
    );
}

// ---------------------------------------------------------------------------
// the gateway

/// `serve` in front of `mock-upstream` (a separate process, over HTTP), with
/// a priced model, signed in as its admin.
struct Gateway {
    dir: TempDir,
    database: Database,
    port: u16,
    /// `None` once killed or stopped.
    server: Option<Server>,
    admin: String,
    _upstream: Server,
}

/// A user with an API key and [`GRANT`] credits.
struct Caller {
    user_id: String,
    key_id: String,
    secret: String,
}

impl Gateway {
    fn start(database: Database) -> Self {
        let dir = workdir();
        let upstream_port = free_port();
        let upstream =
            Server::start(tollgate(&dir).args(["mock-upstream", "--addr", &addr(upstream_port)]));
        wait_for_port(upstream_port);
        let port = free_port();
        let server = serve(&dir, &database, port);
        let admin = admin_token(port);
        let provider = json!({
            "name": "upstream", "kind": "openai",
            "base_url": format!("http://127.0.0.1:{upstream_port}/v1"),
            "api_keys": ["sk-durability"],
        });
        let provider_id = create_provider(port, &admin, &provider);
        // 1 and 2 micro-credits a token: every answer costs something.
        let model = json!({
            "public_name": MODEL, "provider_id": provider_id,
            "upstream_model": "gpt-durable", "input_price": 1_000_000, "output_price": 2_000_000,
        });
        http_ok(port, "POST", "/api/admin/models", &admin, Some(&model), 201);
        Self {
            dir,
            database,
            port,
            server: Some(server),
            admin,
            _upstream: upstream,
        }
    }

    /// A new user on the pro plan with their first key, granted [`GRANT`].
    fn user(&self, name: &str) -> Caller {
        let created = http_ok(
            self.port,
            "POST",
            "/api/admin/users",
            &self.admin,
            Some(&json!({ "name": name, "plan": "pro" })),
            201,
        );
        let text = |value: &serde_json::Value| value.as_str().unwrap().to_owned();
        let caller = Caller {
            user_id: text(&created["user"]["id"]),
            key_id: text(&created["key"]["id"]),
            secret: text(&created["secret"]),
        };
        let grant = json!({ "user_id": caller.user_id, "amount": GRANT, "reason": "test" });
        http_ok(
            self.port,
            "POST",
            "/api/admin/credits/grant",
            &self.admin,
            Some(&grant),
            200,
        );
        caller
    }

    /// SIGKILL.
    fn kill(&mut self) -> Output {
        self.server
            .take()
            .expect("the server is not running")
            .stop()
    }

    /// A graceful stop (SIGTERM).
    fn stop(&mut self) -> Output {
        self.server
            .take()
            .expect("the server is not running")
            .terminate(STOP_DEADLINE)
    }

    /// Starts `serve` again on the same data directory and database, waits
    /// until it is ready (the spool is replayed before it listens), and
    /// stops it gracefully.
    fn restart_and_stop(&mut self) -> Output {
        assert!(self.server.is_none(), "the server is still running");
        self.port = free_port();
        self.server = Some(serve(&self.dir, &self.database, self.port));
        self.stop()
    }

    fn verify_ledger(&self) -> Output {
        let mut command = tollgate(&self.dir);
        command.args(["admin", "verify-ledger"]);
        if let Some(url) = self.database.url() {
            command.env("DATABASE_URL", url);
        }
        run(&mut command)
    }

    fn stored(&self) -> Stored {
        Stored::read(&self.database, &self.dir)
    }

    /// Polls until every id in `ids` has a usage row; how long that took,
    /// or `None` after `deadline`.
    fn wait_for_rows(&self, ids: &[String], deadline: Duration) -> Option<Duration> {
        let since = Instant::now();
        loop {
            if self.stored().missing(ids) == 0 {
                return Some(since.elapsed());
            }
            if since.elapsed() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// The key's stored spend and the user's stored balance both moved by
    /// exactly what their usage rows were charged.
    fn assert_money_adds_up(&self, caller: &Caller) {
        let figures = self.database.query(
            &self.dir,
            &format!(
                "SELECT \
                   (SELECT COALESCE(SUM(charged), 0) FROM usage_records WHERE api_key_id = '{key}'), \
                   (SELECT quota_used FROM api_keys WHERE id = '{key}'), \
                   (SELECT balance FROM credit_balances WHERE user_id = '{user}')",
                key = caller.key_id,
                user = caller.user_id
            ),
        );
        let numbers: Vec<i64> = figures
            .trim()
            .split('|')
            .map(|number| number.parse().unwrap_or_else(|_| panic!("{figures:?}")))
            .collect();
        let [charged, quota_used, balance] = numbers[..] else {
            panic!("{figures:?}");
        };
        assert!(charged > 0, "nothing was charged to {}", caller.key_id);
        assert_eq!(quota_used, charged, "the key's spend is not its usage");
        assert_eq!(
            balance,
            GRANT_MICRO_CREDITS - charged,
            "the balance moved by something else than the usage"
        );
    }
}

/// `serve` on `port`, ready. Plans' rate limits are off (the load must meet
/// the database, not a window) and the admission wait is set explicitly.
fn serve(dir: &TempDir, database: &Database, port: u16) -> Server {
    let mut command = tollgate(dir);
    command
        .arg("serve")
        .envs(ADMIN_ENV)
        .env("TOLLGATE__SERVER__ADDR", addr(port))
        .env(
            "TOLLGATE__PROXY__ADMISSION_WAIT_MS",
            ADMISSION_WAIT.as_millis().to_string(),
        );
    for plan in ["TRIAL", "FREE", "PRO", "PRO_LIFETIME"] {
        for limit in ["REQUESTS_PER_MINUTE", "TOKENS_PER_MINUTE"] {
            command.env(format!("TOLLGATE__RATE_LIMITS__{plan}__{limit}"), "0");
        }
    }
    if let Some(url) = database.url() {
        command.env("DATABASE_URL", url);
    }
    let mut server = Server::start(&mut command);
    server.wait_until_ready(port);
    server
}

// ---------------------------------------------------------------------------
// what the database holds

/// Usage rows and ledger charges, as stored.
struct Stored {
    /// By request id.
    rows: HashMap<String, Row>,
    /// Amounts of the `charge` entries, by reference (the request id).
    charges: HashMap<String, Vec<i64>>,
}

struct Row {
    key_id: String,
    status: u16,
    charged: i64,
}

impl Stored {
    fn read(database: &Database, dir: &TempDir) -> Self {
        let rows = database
            .query(
                dir,
                "SELECT id, api_key_id, status_code, charged FROM usage_records",
            )
            .lines()
            .map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                let [id, key_id, status, charged] = cells[..] else {
                    panic!("unexpected usage row {line:?}");
                };
                let row = Row {
                    key_id: key_id.to_owned(),
                    status: status.parse().unwrap(),
                    charged: charged.parse().unwrap(),
                };
                (id.to_owned(), row)
            })
            .collect();
        let mut charges: HashMap<String, Vec<i64>> = HashMap::new();
        let entries = database.query(
            dir,
            "SELECT reference, amount FROM credit_ledger WHERE kind = 'charge'",
        );
        for line in entries.lines() {
            let (reference, amount) = line
                .split_once('|')
                .unwrap_or_else(|| panic!("unexpected ledger entry {line:?}"));
            charges
                .entry(reference.to_owned())
                .or_default()
                .push(amount.parse().unwrap());
        }
        Self { rows, charges }
    }

    /// How many of `ids` have no usage row.
    fn missing(&self, ids: &[String]) -> usize {
        ids.iter().filter(|id| !self.rows.contains_key(*id)).count()
    }

    /// How many of `ids` have a usage row.
    fn present(&self, ids: &[String]) -> usize {
        ids.len() - self.missing(ids)
    }

    fn rows_of_key(&self, key_id: &str) -> usize {
        self.rows
            .values()
            .filter(|row| row.key_id == key_id)
            .count()
    }

    /// Each of `ids` (answered 200) has its usage row, charged more than
    /// nothing, and exactly one ledger charge of that amount.
    fn assert_charged_once(&self, ids: &[String]) {
        let wrong: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                let charges = self.charges.get(id).map(Vec::as_slice).unwrap_or_default();
                match self.rows.get(id) {
                    None => Some(format!("{id}: no usage row")),
                    Some(row) if row.status != 200 || row.charged <= 0 => Some(format!(
                        "{id}: status {}, charged {}",
                        row.status, row.charged
                    )),
                    Some(row) if charges != [-row.charged] => Some(format!(
                        "{id}: charged {} but ledger charges {charges:?}",
                        row.charged
                    )),
                    Some(_) => None,
                }
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {} answered requests are not charged exactly once, e.g. {:?}",
            wrong.len(),
            ids.len(),
            &wrong[..wrong.len().min(10)]
        );
    }

    /// Every charge has its usage row and amount, no request is charged
    /// twice, and every row that cost something is in the ledger.
    fn assert_ledger_matches_rows(&self) {
        let twice: Vec<_> = self
            .charges
            .iter()
            .filter(|(_, amounts)| amounts.len() != 1)
            .take(10)
            .collect();
        assert!(
            twice.is_empty(),
            "requests charged more than once: {twice:?}"
        );
        let orphans: Vec<_> = self
            .charges
            .iter()
            .filter(|(id, amounts)| {
                self.rows
                    .get(*id)
                    .is_none_or(|row| amounts[..] != [-row.charged])
            })
            .take(10)
            .collect();
        assert!(orphans.is_empty(), "charges without their row: {orphans:?}");
        let unbilled: Vec<_> = self
            .rows
            .iter()
            .filter(|(id, row)| row.charged > 0 && !self.charges.contains_key(*id))
            .map(|(id, _)| id)
            .take(10)
            .collect();
        assert!(
            unbilled.is_empty(),
            "rows without their charge: {unbilled:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// databases

/// Where the gateway keeps its rows.
enum Database {
    /// The default: `data_dir/tollgate.db`.
    Sqlite,
    Postgres(Postgres),
}

/// The database taken away from the gateway, until given back.
enum Away<'a> {
    Locked(LockHolder),
    Stopped(&'a Postgres),
}

impl Away<'_> {
    fn how(&self) -> &'static str {
        match self {
            Away::Locked(_) => "locked",
            Away::Stopped(_) => "stopped",
        }
    }

    /// Gives the database back, not before `at`.
    fn give_back(self, at: Instant) {
        let left = at.saturating_duration_since(Instant::now());
        match self {
            // The lock holder commits by itself at the end of the outage.
            Away::Locked(mut lock) => lock.wait_released(left + Duration::from_secs(30)),
            Away::Stopped(postgres) => {
                thread::sleep(left);
                postgres.start_server();
            }
        }
    }
}

impl Database {
    fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }

    fn url(&self) -> Option<String> {
        match self {
            Database::Sqlite => None,
            Database::Postgres(postgres) => Some(postgres.url()),
        }
    }

    /// The rows a query answers, one line each, `|` between cells.
    fn query(&self, dir: &TempDir, sql: &str) -> String {
        match self {
            Database::Sqlite => sqlite_query(&data_dir(dir).join("tollgate.db"), sql),
            Database::Postgres(postgres) => postgres.query(sql),
        }
    }

    /// Takes the database away for [`OUTAGE`]: SQLite's write lock held by
    /// another process, or PostgreSQL stopped at once. Returns when it is
    /// away.
    fn take_away(&self, dir: &TempDir) -> Away<'_> {
        match self {
            Database::Sqlite => Away::Locked(self.lock(dir, OUTAGE)),
            Database::Postgres(postgres) => {
                postgres.stop_immediately();
                Away::Stopped(postgres)
            }
        }
    }

    /// Makes the usage writer wait, until released or `hold` is over, while
    /// requests go on: another process holds SQLite's write lock (the
    /// writer's batches time out and are tried again), or `usage_records`
    /// in PostgreSQL (the writer's insert waits). Returns once it is held.
    fn lock(&self, dir: &TempDir, hold: Duration) -> LockHolder {
        match self {
            Database::Sqlite => LockHolder::sqlite(&data_dir(dir).join("tollgate.db"), hold),
            Database::Postgres(postgres) => lock_usage_records(postgres, hold),
        }
    }
}

/// Runs `test` on a throwaway PostgreSQL server, or skips it (and says so)
/// when PostgreSQL is not installed.
fn on_postgres(test: fn(Database)) {
    match Postgres::start() {
        Some(postgres) => test(Database::Postgres(postgres)),
        None => eprintln!("SKIPPED: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)"),
    }
}

/// The rows a query answers on a SQLite file, through Python's sqlite3
/// module (the tests take no database driver of their own).
fn sqlite_query(file: &Path, sql: &str) -> String {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1], timeout=30)\n\
                  for row in db.execute(sys.argv[2]):\n    \
                      print('|'.join(str(cell) for cell in row))\n";
    let output = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .arg(sql)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()));
    assert!(output.succeeded(), "the query failed: {sql}{output}");
    output.stdout
}

/// Another process holding a lock the usage writer needs, in a transaction:
/// it prints `locked` once it holds it; released, or once its time is over,
/// it prints the usage rows it sees (`stored N`), commits and prints
/// `released`. Killed when dropped.
struct LockHolder {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Written to the holder's stdin on release, before it is closed.
    release: &'static str,
    stdout: Collected,
    stderr: Collected,
}

impl LockHolder {
    /// SQLite's write lock, through Python's sqlite3 module: `BEGIN
    /// IMMEDIATE` and a small write, then nothing until released or `hold`
    /// is over. Returns once the lock is held.
    fn sqlite(file: &Path, hold: Duration) -> Self {
        let script = "import select, sqlite3, sys\n\
                      db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
                      db.execute('BEGIN IMMEDIATE')\n\
                      db.execute('UPDATE users SET name = name')\n\
                      print('locked', flush=True)\n\
                      select.select([sys.stdin], [], [], float(sys.argv[2]))\n\
                      (stored,) = db.execute('SELECT count(*) FROM usage_records').fetchone()\n\
                      print('stored', stored, flush=True)\n\
                      db.execute('COMMIT')\n\
                      print('released', flush=True)\n";
        Self::take(
            Command::new("python3")
                .arg("-c")
                .arg(script)
                .arg(file)
                .arg(hold.as_secs_f64().to_string()),
            "",
            "",
        )
    }

    /// Runs `command` with `script` on its stdin, which stays open until
    /// [`Self::release`] writes `release` to it. Returns once the lock is
    /// held.
    fn take(command: &mut Command, script: &str, release: &'static str) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {:?}: {err}", command.get_program()));
        let mut stdin = child.stdin.take();
        if let Some(stdin) = &mut stdin {
            stdin
                .write_all(script.as_bytes())
                .expect("cannot talk to the lock holder");
        }
        let mut holder = Self {
            stdin,
            release,
            stdout: collect(child.stdout.take()),
            stderr: collect(child.stderr.take()),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !holder.stdout.text().contains("locked") {
            let exited = holder
                .child
                .try_wait()
                .expect("cannot wait for the lock holder");
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the lock was not taken: {exited:?} {}",
                holder.stderr.text()
            );
            thread::sleep(Duration::from_millis(20));
        }
        holder
    }

    /// Lets go now.
    fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // A holder that is gone already fails `wait_released`.
            let _ = stdin.write_all(self.release.as_bytes());
        }
    }

    /// Waits for the commit and the holder's exit.
    fn wait_released(&mut self, deadline: Duration) {
        let until = Instant::now() + deadline;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("cannot wait for the lock holder")
            {
                break status;
            }
            assert!(
                Instant::now() < until,
                "the lock was still held after {deadline:?}"
            );
            thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success() && self.stdout.text().contains("released"),
            "the lock holder failed ({status}): {}{}",
            self.stdout.text(),
            self.stderr.text()
        );
    }

    /// The usage rows stored when the lock was let go, as the holder saw
    /// them before its commit.
    fn stored_at_release(&self) -> usize {
        let stdout = self.stdout.text();
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("stored ")?.parse().ok())
            .unwrap_or_else(|| panic!("the lock holder counted no usage rows: {stdout:?}"))
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `usage_records` locked by a `psql` session: `ACCESS EXCLUSIVE`, so the
/// usage writer's insert waits while other tables are read and written as
/// usual. Until released, or until the session has been idle for `hold`
/// (the server then ends it). Returns once it is held.
fn lock_usage_records(postgres: &Postgres, hold: Duration) -> LockHolder {
    let script = format!(
        "SET idle_in_transaction_session_timeout = {};\n\
         BEGIN;\n\
         LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE;\n\
         \\echo locked\n",
        hold.as_millis()
    );
    LockHolder::take(
        &mut postgres.psql(),
        &script,
        "SELECT 'stored ' || count(*) FROM usage_records;\n\
         COMMIT;\n\
         \\echo released\n",
    )
}
