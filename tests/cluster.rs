//! Several `tollgate serve` processes on one PostgreSQL and one Redis act
//! as one (issue 16). Each test starts a throwaway PostgreSQL and Redis,
//! `tollgate mock-upstream`, and two or three instances that share the
//! database, Redis and secrets but not their data directories, and drives
//! them over HTTP as clients and admins would: a change made through one
//! instance holds on every instance within a second, and money and rate
//! limits are counted once across all of them, through a `kill -9` of an
//! instance and through Redis going away and coming back empty.
//!
//! Every wait has a deadline, everything a test started is stopped when it
//! ends, and the tests run one at a time (they load the machine) and print
//! their figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::HashMap,
    os::unix::process::ExitStatusExt,
    process::Stdio,
    sync::{
        Arc, Barrier, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    ADMIN_ENV, Client, LEDGER_VERIFIED, Output, Server, addr, admin_token, free_port, http,
    http_ok, login, login_with_key, postgres::Postgres, redis::Redis, run, tollgate, wait_for_port,
    workdir,
};
use tempfile::TempDir;

/// Shared by every instance: a session signed by one is valid on the
/// others, and each opens the provider keys another sealed.
const JWT_SECRET: &str = "the cluster tests' shared session signing key";
const ENCRYPTION_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
/// What every Redis key starts with when `redis.prefix` is not set.
const REDIS_PREFIX: &str = "tollgate:";
/// The free plan's requests per minute, for each key and each user; the
/// other plans start without limits.
const USER_LIMIT: usize = 5;
/// Requests per minute of the key in the key-limit check.
const KEY_LIMIT: usize = 5;

/// The priced models, on the mock upstream over HTTP. Their upstream names
/// contain `long`, so the mock says as many words as the output cap: with
/// input free and output at 1 µc a token, a request costs exactly its
/// `max_tokens`, which is also what it holds while in flight.
const MODEL: &str = "priced";
/// The same, answered after the mock's 3 s (`slow`): holds stay open.
const SLOW_MODEL: &str = "priced-slow";
/// Offered to the `pro_lifetime` plan only (an entitlement grant).
const LIFETIME_MODEL: &str = "lifetime-only";
/// A model that costs nothing: served while Redis is away.
const FREE_MODEL: &str = "free";
const OUTPUT_PRICE: i64 = 1_000_000;
/// The output cap of a request that names no other, and so its cost.
const COST: i64 = 10;
const MICROS_PER_CREDIT: i64 = 1_000_000;
/// A credit: plenty, for users whose balance is not the point.
const PLENTY: i64 = MICROS_PER_CREDIT;

/// How soon a change made through one instance must hold on all of them.
const PROPAGATION: Duration = Duration::from_secs(1);
/// How long the usage rows of answered requests may take to be written.
const ROWS_DEADLINE: Duration = Duration::from_secs(60);

/// The tests load the machine and measure time: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// changes reach every instance

#[test]
fn changes_made_through_one_instance_hold_on_all_three_within_a_second() {
    let _serial = one_at_a_time();
    on_cluster(3, changes_hold_everywhere_within_a_second);
}

/// Each change is made through instance A after every instance has
/// answered the request it affects (so each has it cached, and the test
/// proves invalidation, not a first load); then every instance is asked
/// again until it answers as the change says, for at most [`PROPAGATION`].
/// All changes are tried, and the assertion lists every one that was late.
fn changes_hold_everywhere_within_a_second(cluster: Cluster) {
    // Arrange
    let revoked = cluster.user("revoked", "pro", PLENTY);
    let expiring = cluster.user("expiring", "pro", PLENTY);
    let narrowed = cluster.user("narrowed", "pro", PLENTY);
    let suspended = cluster.user("suspended", "pro", PLENTY);
    let deleted = cluster.user("deleted", "pro", PLENTY);
    let catalog = cluster.user("catalog", "pro", PLENTY);
    let lifetime = cluster.user("lifetime", "pro", PLENTY);
    let trial = cluster.user("trial", "trial", PLENTY);
    let provider = format!("/api/admin/providers/{}", cluster.provider_id);
    let upstream = format!("http://127.0.0.1:{}/v1", cluster.upstream_port);
    let closed_port = format!("http://127.0.0.1:{}/v1", free_port());
    let limits = json!({ "requests_per_minute": 1000, "tokens_per_minute": 0 });
    let lifetime_grant = json!({
        "user_id": lifetime.user_id, "label": "Pro — Lifetime", "source": "manual_override",
    });
    let steps = vec![
        Step::asking(&revoked, MODEL, Status(200)).once("its key revoked", Status(401), || {
            cluster.change_own_key(&revoked, "DELETE", None);
        }),
        Step::asking(&expiring, MODEL, Status(200)).once(
            "its key's expiry passed",
            Status(401),
            || {
                // The API takes no expiry in the past: one 2 s ahead, and the
                // second counts once it has passed.
                let (expires_at, passes) = cluster.clock_in(Duration::from_secs(2));
                let change = json!({ "expires_at": expires_at });
                cluster.change_own_key(&expiring, "PATCH", Some(&change));
                thread::sleep(passes.saturating_duration_since(Instant::now()));
            },
        ),
        Step::asking(&narrowed, MODEL, Status(200)).once("its key narrowed", Status(403), || {
            let change = json!({ "models": [SLOW_MODEL] });
            cluster.change_own_key(&narrowed, "PATCH", Some(&change));
        }),
        Step::asking(&suspended, MODEL, Status(200)).once(
            "its user suspended",
            Status(403),
            || {
                let path = format!("/api/admin/users/{}", suspended.user_id);
                cluster.admin("PATCH", &path, Some(&json!({ "status": "suspended" })));
            },
        ),
        Step::asking(&deleted, MODEL, Status(200)).once("its user deleted", Status(401), || {
            let path = format!("/api/admin/users/{}", deleted.user_id);
            cluster.admin("DELETE", &path, None);
        }),
        Step::asking(&catalog, "fresh", Status(404)).once("the model created", Status(200), || {
            cluster.model("fresh", "gpt-long-fresh", &[]);
        }),
        Step::asking(&catalog, "fresh", Status(200)).once(
            "the model disabled",
            Status(404),
            || {
                let path = format!("/api/admin/models/{}", cluster.model_id("fresh"));
                cluster.admin("PATCH", &path, Some(&json!({ "enabled": false })));
            },
        ),
        Step::asking(&catalog, MODEL, Status(200)).once("its provider moved", Status(502), || {
            let change = json!({ "base_url": closed_port });
            cluster.admin("PATCH", &provider, Some(&change));
        }),
        // Edited, a provider's deployments start healthy: what failed at
        // the old address says nothing of the new one.
        Step::asking(&catalog, MODEL, Failing).once("its provider back", Status(200), || {
            let change = json!({ "base_url": upstream });
            cluster.admin("PATCH", &provider, Some(&change));
        }),
        Step::asking(&lifetime, LIFETIME_MODEL, Status(403)).once(
            "its plan granted",
            Status(200),
            || {
                cluster.admin("POST", "/api/admin/grants", Some(&lifetime_grant));
            },
        ),
        Step::asking(&lifetime, LIFETIME_MODEL, Status(200)).once(
            "its grant revoked",
            Status(403),
            || {
                let path = format!("/api/admin/grants/{}", cluster.active_grant_id(&lifetime));
                cluster.admin("DELETE", &path, None);
            },
        ),
        Step::asking(&trial, MODEL, LimitHeader(None)).once(
            "its plan's limit set",
            LimitHeader(Some("1000")),
            || {
                cluster.admin("PUT", "/api/admin/rate-limits/trial", Some(&limits));
            },
        ),
    ];

    // Act
    let seen: Vec<Propagation> = steps
        .into_iter()
        .map(|step| cluster.propagate(step))
        .collect();

    // Assert
    for propagation in &seen {
        eprintln!("{propagation}");
    }
    let late: Vec<String> = seen
        .iter()
        .filter(|propagation| !propagation.in_time())
        .map(ToString::to_string)
        .collect();
    assert!(
        late.is_empty(),
        "{} of {} changes made through A did not hold on every instance within {PROPAGATION:?}:\n{}",
        late.len(),
        seen.len(),
        late.join("\n")
    );
}

// ---------------------------------------------------------------------------
// money

#[test]
fn a_grant_on_one_instance_is_spendable_on_another_at_once_through_prefixed_redis_keys() {
    let _serial = one_at_a_time();
    on_cluster(2, a_grant_is_spendable_everywhere_at_once);
}

/// B has loaded the user's empty wallet (a 402) when A grants: B's very
/// next request is served, with no wait.
fn a_grant_is_spendable_everywhere_at_once(cluster: Cluster) {
    // Arrange
    let broke = cluster.user("broke", "pro", 0);
    let mut clients = cluster.clients();
    let before = ask(&mut clients, 1, &broke.secret, MODEL, COST, Format::OpenAi);
    assert_eq!(before.status, Some(402), "{}", describe(&before));

    // Act
    cluster.grant(&broke.user_id, 100 * COST);
    let after = ask(&mut clients, 1, &broke.secret, MODEL, COST, Format::OpenAi);

    // Assert
    assert_eq!(
        after.status,
        Some(200),
        "credits granted on A were not spendable on B at once: {}",
        describe(&after)
    );
    let keys = cluster.redis.cli(&["--scan"]);
    keys.assert_success();
    let keys: Vec<&str> = keys.stdout.lines().collect();
    eprintln!("redis keys after a grant and a request: {keys:?}");
    assert!(!keys.is_empty(), "nothing was kept in Redis");
    let unprefixed: Vec<&&str> = keys
        .iter()
        .filter(|key| !key.starts_with(REDIS_PREFIX))
        .collect();
    assert!(
        unprefixed.is_empty(),
        "Redis keys without {REDIS_PREFIX:?}: {unprefixed:?}"
    );
}

#[test]
fn an_instance_without_redis_refuses_to_start_beside_instances_that_share_their_state() {
    let _serial = one_at_a_time();
    on_cluster(2, an_instance_without_redis_refuses_to_start);
}

/// It would keep balances and caches of its own next to the shared ones.
fn an_instance_without_redis_refuses_to_start(cluster: Cluster) {
    // Arrange
    let dir = workdir();
    let alone: Vec<(String, String)> = cluster
        .env
        .iter()
        .filter(|(name, _)| name != "REDIS_URL")
        .cloned()
        .collect();

    // Act
    let mut command = tollgate(&dir);
    command
        .arg("serve")
        .envs(ADMIN_ENV)
        .envs(alone.iter().map(|(name, value)| (name, value)))
        .env("TOLLGATE__SERVER__ADDR", addr(free_port()));
    let mut lone = Server::start(&mut command);
    let refused = lone.wait_for_exit(Duration::from_secs(30));
    let said = lone.stop();

    // Assert
    assert!(
        refused.is_some_and(|status| !status.success()),
        "an instance without Redis kept running: {said}"
    );
    assert!(format!("{said}").contains("REDIS_URL"), "{said}");
}

#[test]
fn a_thousand_concurrent_requests_over_three_instances_spend_no_more_than_the_balance() {
    let _serial = one_at_a_time();
    on_cluster(3, a_thousand_requests_spend_no_more_than_the_balance);
}

/// A balance that affords exactly ten requests, and 1,000 sent by 100
/// threads on kept-alive connections, each thread going round the
/// instances.
fn a_thousand_requests_spend_no_more_than_the_balance(cluster: Cluster) {
    const THREADS: usize = 100;
    const EACH: usize = 10;
    const AFFORDED: usize = 10;
    let started = Instant::now();

    // Arrange
    let spender = cluster.user("spender", "pro", AFFORDED as i64 * COST);
    let instances = cluster.instances.len();
    let go = Arc::new(Barrier::new(THREADS));

    // Act
    let threads: Vec<JoinHandle<Vec<Sent>>> = (0..THREADS)
        .map(|thread| {
            let (mut clients, secret, go) = (cluster.clients(), spender.secret.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                (0..EACH)
                    .map(|nth| {
                        let instance = (thread + nth) % instances;
                        ask(&mut clients, instance, &secret, MODEL, COST, Format::OpenAi)
                    })
                    .collect()
            })
        })
        .collect();
    let storm_began = Instant::now();
    let sent = join(threads);
    let storm_took = storm_began.elapsed();
    let served: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.status == Some(200))
        .collect();
    let written = cluster.wait_for_rows(&spender.user_id, &request_ids(&served), ROWS_DEADLINE);
    let books = cluster.books(&spender.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    eprintln!(
        "{} requests over {instances} instances in {:.1} s ({:.0}/s): by status {:?}, served by \
         instance {:?}; balance {} µc of {} granted; rows written {written:?} after; {:.1} s in all",
        sent.len(),
        storm_took.as_secs_f64(),
        sent.len() as f64 / storm_took.as_secs_f64(),
        by_status(&sent),
        by_instance(&served, instances),
        books.balance,
        AFFORDED as i64 * COST,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(sent.len(), THREADS * EACH);
    assert!(
        served.len() <= AFFORDED,
        "{} requests were served on a balance that affords {AFFORDED}",
        served.len()
    );
    assert!(!served.is_empty(), "no request was served at all");
    let neither: Vec<&Sent> = sent
        .iter()
        .filter(|sent| !matches!(sent.status, Some(200 | 402)))
        .collect();
    assert!(
        neither.is_empty(),
        "{} answers were neither 200 nor 402, e.g. {:?}",
        neither.len(),
        examples(&neither)
    );
    assert!(
        written.is_some(),
        "served requests have no usage row after {ROWS_DEADLINE:?}"
    );
    books.assert_charged_once(&served);
    books.assert_adds_up(AFFORDED as i64 * COST);
    assert_verified(&verified);
}

#[test]
fn kill_9_of_an_instance_mid_storm_overspends_nothing_and_its_holds_are_released() {
    let _serial = one_at_a_time();
    on_cluster(3, kill_9_mid_storm);
}

/// Eight threads per instance send requests the mock answers after 3 s, so
/// every instance always has holds open; C is killed 4.5 s in, in the
/// middle of its second wave. Its holds must be released within
/// `RELEASED_WITHIN`: a survivor then serves a request that needs all
/// of the balance but half a request. C restarted replays its spool; then
/// every served request is charged once and the ledger verifies.
fn kill_9_mid_storm(mut cluster: Cluster) {
    const THREADS_EACH: usize = 8;
    const SLOW_COST: i64 = 100;
    const GRANTED: i64 = 10_000;
    const KILLED: usize = 2;
    const RELEASED_WITHIN: Duration = Duration::from_secs(20);
    let started = Instant::now();

    // Arrange
    let loader = cluster.user("loader", "pro", GRANTED);
    let instances = cluster.instances.len();
    let threads = THREADS_EACH * instances;
    let go = Arc::new(Barrier::new(threads + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let storm: Vec<JoinHandle<Vec<Sent>>> = (0..threads)
        .map(|thread| {
            let (mut clients, secret) = (cluster.clients(), loader.secret.clone());
            let (go, stop) = (go.clone(), stop.clone());
            thread::spawn(move || {
                go.wait();
                let mut sent = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let instance = thread % instances;
                    sent.push(ask(
                        &mut clients,
                        instance,
                        &secret,
                        SLOW_MODEL,
                        SLOW_COST,
                        Format::OpenAi,
                    ));
                }
                sent
            })
        })
        .collect();

    // Act
    go.wait();
    thread::sleep(Duration::from_millis(4_500));
    // Stopped first, so that the killed instance's threads start nothing
    // after the kill: what they had in flight is cut off.
    stop.store(true, Ordering::Relaxed);
    let killed = cluster.instances[KILLED].kill();
    let killed_at = Instant::now();
    let sent = join(storm);
    let served: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.status == Some(200))
        .collect();
    let in_flight_on_killed = sent
        .iter()
        .filter(|sent| sent.instance == KILLED && sent.status.is_none())
        .count();
    // What is left once the dead instance's holds are gone, but half a
    // slow request: it cannot be served while even one of them is held.
    let left = GRANTED - SLOW_COST * served.len() as i64;
    let needs = left - SLOW_COST / 2;
    let mut clients = cluster.clients();
    let mut tries = Vec::new();
    let released = loop {
        let sent = ask(
            &mut clients,
            0,
            &loader.secret,
            MODEL,
            needs,
            Format::OpenAi,
        );
        let succeeded = sent.status == Some(200);
        tries.push(sent);
        if succeeded {
            break Some(killed_at.elapsed());
        }
        if killed_at.elapsed() >= RELEASED_WITHIN {
            break None;
        }
        thread::sleep(Duration::from_millis(250));
    };
    let restarted = cluster.restart(KILLED);
    let mut charged = served.clone();
    charged.extend(tries.iter().filter(|sent| sent.status == Some(200)));
    let written = cluster.wait_for_rows(&loader.user_id, &request_ids(&charged), ROWS_DEADLINE);
    let books = cluster.books(&loader.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    eprintln!(
        "kill -9 of instance {} mid-storm: {} requests sent (by status {:?}), served by instance \
         {:?}, {in_flight_on_killed} cut off on the killed one; {left} µc left, a request needing \
         {needs} µc served {released:?} after the kill ({} tries, last {:?}); restart log: {:?}; \
         rows written {written:?} after; balance {} µc; {:.1} s in all",
        cluster.instances[KILLED].name,
        sent.len(),
        by_status(&sent),
        by_instance(&served, instances),
        tries.len(),
        tries.last().map(describe),
        restarted
            .lines()
            .find(|line| line.contains("replayed usage rows from the spool"))
            .unwrap_or_default(),
        books.balance,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        killed.status.and_then(|status| status.signal()),
        Some(9),
        "the instance was not running at the kill:{killed}"
    );
    assert!(
        in_flight_on_killed > 0,
        "no request was in flight on the killed instance: nothing was held there"
    );
    let errors: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.instance != KILLED && sent.status != Some(200))
        .collect();
    assert!(
        errors.is_empty(),
        "the survivors did not serve {} requests, e.g. {:?}",
        errors.len(),
        examples(&errors)
    );
    assert!(
        released.is_some(),
        "the killed instance's holds were not released within {RELEASED_WITHIN:?}: a request \
         needing {needs} µc of the {left} µc left was still refused, last {:?}",
        tries.last().map(describe)
    );
    assert!(
        written.is_some(),
        "served requests have no usage row after {ROWS_DEADLINE:?}"
    );
    books.assert_charged_once(&charged);
    books.assert_adds_up(GRANTED);
    assert_verified(&verified);
}

#[test]
fn a_settle_lost_to_a_kill_9_counts_once_the_killed_instance_is_counted_dead() {
    let _serial = one_at_a_time();
    on_cluster(2, |cluster| {
        a_settle_lost_to_a_kill_9(cluster, RowAtKill::Written)
    });
}

#[test]
fn a_settle_lost_to_a_kill_9_with_its_row_in_the_spool_counts_once_the_spool_is_replayed() {
    let _serial = one_at_a_time();
    on_cluster(2, |cluster| {
        a_settle_lost_to_a_kill_9(cluster, RowAtKill::Spooled)
    });
}

/// Where the lost settle's usage row is when its instance is killed.
#[derive(Clone, Copy, PartialEq, Debug)]
enum RowAtKill {
    /// In the database.
    Written,
    /// Only in the killed instance's spool: the database refused writes
    /// to `usage_records` until after the kill.
    Spooled,
}

/// B serves a slow request while Redis takes no writes (`CLIENT PAUSE
/// WRITE`), so the batch that settles it never lands, and B is killed
/// before Redis takes writes again. Once B's registration has expired
/// (and, when the row was only in B's spool, once B restarted has
/// replayed it), A must know the balance the ledger has: a request needing
/// more than is left is refused, one needing less served. With the row
/// spooled, A serves a small request in between, so that the wallet is
/// loaded again while the database still lacks the lost charge.
fn a_settle_lost_to_a_kill_9(mut cluster: Cluster, row_at_kill: RowAtKill) {
    const GRANTED: i64 = 160;
    const SLOW_COST: i64 = 100;
    /// Served by A between B's death and its restart (row spooled only).
    const BETWEEN: i64 = 10;
    const SURVIVOR: usize = 0;
    const KILLED: usize = 1;
    const DEAD_WITHIN: Duration = Duration::from_secs(30);
    let started = Instant::now();

    // Arrange
    let caller = cluster.user("lost-settle", "pro", GRANTED);
    let instances_key = format!("{REDIS_PREFIX}i:*");
    let registered = |cluster: &Cluster| {
        cluster
            .redis
            .cli(&["--scan", "--pattern", &instances_key])
            .stdout
            .lines()
            .count()
    };
    assert_eq!(registered(&cluster), 2, "both instances registered");
    let slow = {
        let (mut clients, secret) = (cluster.clients(), caller.secret.clone());
        thread::spawn(move || {
            ask(
                &mut clients,
                KILLED,
                &secret,
                SLOW_MODEL,
                SLOW_COST,
                Format::OpenAi,
            )
        })
    };
    // The reservation is made at once; the mock answers after 3 s.
    thread::sleep(Duration::from_millis(1_500));

    // Act
    let paused = cluster.redis.cli(&["CLIENT", "PAUSE", "30000", "WRITE"]);
    let locker = (row_at_kill == RowAtKill::Spooled).then(|| {
        cluster
            .postgres
            .psql()
            .arg("-c")
            .arg("BEGIN; LOCK TABLE usage_records IN EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    let served = slow.join().unwrap();
    let written = match row_at_kill {
        RowAtKill::Written => {
            cluster.wait_for_rows(&caller.user_id, &request_ids(&[&served]), ROWS_DEADLINE)
        }
        RowAtKill::Spooled => {
            thread::sleep(Duration::from_millis(500));
            None
        }
    };
    let killed = cluster.instances[KILLED].kill();
    let stored_at_kill = cluster.books(&caller.user_id).rows.len();
    if let Some(mut locker) = locker {
        cluster.postgres.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE query LIKE '%LOCK TABLE usage_records%' AND pid <> pg_backend_pid()",
        );
        locker.wait().unwrap();
    }
    let unpaused = cluster.redis.cli(&["CLIENT", "UNPAUSE"]);
    let killed_at = Instant::now();
    while registered(&cluster) > 1 && killed_at.elapsed() < DEAD_WITHIN {
        thread::sleep(Duration::from_millis(250));
    }
    let dead_after = killed_at.elapsed();
    let mut clients = cluster.clients();
    let mut charged = vec![served.clone()];
    let mut replayed = String::new();
    if row_at_kill == RowAtKill::Spooled {
        let between = ask(
            &mut clients,
            SURVIVOR,
            &caller.secret,
            MODEL,
            BETWEEN,
            Format::OpenAi,
        );
        assert_eq!(between.status, Some(200), "{}", describe(&between));
        charged.push(between);
        replayed = cluster.restart(KILLED);
        // The restarted instance's word reaches Redis in a batch of its own.
        thread::sleep(Duration::from_millis(500));
        clients = cluster.clients();
    }
    let spent_between = if row_at_kill == RowAtKill::Spooled {
        BETWEEN
    } else {
        0
    };
    let left = GRANTED - SLOW_COST - spent_between;
    let too_much = ask(
        &mut clients,
        SURVIVOR,
        &caller.secret,
        MODEL,
        left + 10,
        Format::OpenAi,
    );
    let within = ask(
        &mut clients,
        SURVIVOR,
        &caller.secret,
        MODEL,
        left - 10,
        Format::OpenAi,
    );
    charged.extend(
        [&too_much, &within]
            .into_iter()
            .filter(|sent| sent.status == Some(200))
            .cloned(),
    );
    let charged: Vec<&Sent> = charged.iter().collect();
    cluster.wait_for_rows(&caller.user_id, &request_ids(&charged), ROWS_DEADLINE);
    let books = cluster.books(&caller.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    eprintln!(
        "a settle lost to a kill -9, the row {row_at_kill:?}: the slow request {}; its row \
         written {written:?} after, {stored_at_kill} rows at the kill; pause {:?}, unpause {:?}; \
         the killed instance counted dead {dead_after:?} after the kill; restart log: {:?}; \
         then {} µc asked {}, {} µc asked {}; balance {} µc; {:.1} s in all",
        describe(&served),
        paused.stdout.trim(),
        unpaused.stdout.trim(),
        replayed
            .lines()
            .find(|line| line.contains("replayed usage rows from the spool"))
            .unwrap_or_default(),
        left + 10,
        describe(&too_much),
        left - 10,
        describe(&within),
        books.balance,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(served.status, Some(200), "the slow request was not served");
    match row_at_kill {
        RowAtKill::Written => assert!(written.is_some(), "the slow request's row was not written"),
        RowAtKill::Spooled => assert_eq!(stored_at_kill, 0, "the row was written before the kill"),
    }
    assert_eq!(
        killed.status.and_then(|status| status.signal()),
        Some(9),
        "the instance was not running at the kill:{killed}"
    );
    assert!(
        dead_after < DEAD_WITHIN,
        "the killed instance stayed registered"
    );
    assert_eq!(
        too_much.status,
        Some(402),
        "a request needing {} µc with {left} µc left: {}",
        left + 10,
        describe(&too_much)
    );
    assert_eq!(within.status, Some(200), "{}", describe(&within));
    books.assert_charged_once(&charged);
    books.assert_adds_up(GRANTED);
    assert!(books.balance >= 0, "overspent: balance {}", books.balance);
    assert_verified(&verified);
}

#[test]
fn redis_restarted_from_an_older_snapshot_is_noticed_and_every_balance_loaded_again() {
    let _serial = one_at_a_time();
    on_cluster(2, redis_from_an_older_snapshot);
}

/// As a failover to a replica behind its primary would: Redis is saved
/// (`SAVE`) after one request settled, a second settles, and Redis comes
/// back from that snapshot at once, its registrations still valid, its
/// wallet missing the second charge. The instances must notice that Redis
/// is another server (its `run_id`) and load the balance again from the
/// ledger: a request needing more than is left is refused.
fn redis_from_an_older_snapshot(mut cluster: Cluster) {
    const GRANTED: i64 = 160;
    const FIRST: i64 = 30;
    const SECOND: i64 = 100;
    const LEFT: i64 = GRANTED - FIRST - SECOND;
    const SETTLED_WITHIN: Duration = Duration::from_millis(500);
    const NOTICED_BY: Duration = Duration::from_secs(2);
    const NOTICED_WITHIN: Duration = Duration::from_secs(15);
    let started = Instant::now();

    // Arrange
    let caller = cluster.user("snapshot", "pro", GRANTED);
    let mut clients = cluster.clients();
    let first = ask(
        &mut clients,
        0,
        &caller.secret,
        MODEL,
        FIRST,
        Format::OpenAi,
    );
    thread::sleep(SETTLED_WITHIN);
    let saved = cluster.redis.cli(&["SAVE"]);
    let second = ask(
        &mut clients,
        1,
        &caller.secret,
        MODEL,
        SECOND,
        Format::OpenAi,
    );
    let written = cluster.wait_for_rows(
        &caller.user_id,
        &request_ids(&[&first, &second]),
        ROWS_DEADLINE,
    );
    thread::sleep(SETTLED_WITHIN);

    // Act
    cluster.redis.stop();
    cluster.redis.start_server();
    let restarted_at = Instant::now();
    // Each instance asks Redis who it is with its heartbeat, every second:
    // requests in that second may still see the old figures (see
    // docs/deploy.md). Then priced requests wait while balances are being
    // rebuilt (503).
    thread::sleep(NOTICED_BY);
    let mut tries = Vec::new();
    let too_much = loop {
        let sent = ask(
            &mut clients,
            1,
            &caller.secret,
            MODEL,
            LEFT + 10,
            Format::OpenAi,
        );
        if sent.status != Some(503) || restarted_at.elapsed() >= NOTICED_WITHIN {
            break sent;
        }
        tries.push(sent);
        thread::sleep(Duration::from_millis(250));
    };
    let answered_after = restarted_at.elapsed();
    let within = ask(
        &mut clients,
        0,
        &caller.secret,
        MODEL,
        LEFT - 10,
        Format::OpenAi,
    );
    let mut charged = vec![&first, &second];
    charged.extend(
        [&too_much, &within]
            .into_iter()
            .filter(|sent| sent.status == Some(200)),
    );
    cluster.wait_for_rows(&caller.user_id, &request_ids(&charged), ROWS_DEADLINE);
    let books = cluster.books(&caller.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    eprintln!(
        "Redis from an older snapshot: SAVE {:?}; rows written {written:?} after; {} tries got \
         503 while balances were rebuilt; then, {answered_after:?} after the restart, {} µc \
         asked {}, {} µc asked {}; balance {} µc; {:.1} s in all",
        saved.stdout.trim(),
        tries.len(),
        LEFT + 10,
        describe(&too_much),
        LEFT - 10,
        describe(&within),
        books.balance,
        started.elapsed().as_secs_f64()
    );
    assert_eq!((first.status, second.status), (Some(200), Some(200)));
    assert!(written.is_some(), "the first two requests have no rows");
    assert_eq!(
        too_much.status,
        Some(402),
        "a request needing {} µc with {LEFT} µc left: {}",
        LEFT + 10,
        describe(&too_much)
    );
    assert_eq!(within.status, Some(200), "{}", describe(&within));
    books.assert_charged_once(&charged);
    books.assert_adds_up(GRANTED);
    assert!(books.balance >= 0, "overspent: balance {}", books.balance);
    assert_verified(&verified);
}

// ---------------------------------------------------------------------------
// rate limits

#[test]
fn a_key_limit_and_a_user_limit_of_n_a_minute_let_exactly_n_through_across_three_instances() {
    let _serial = one_at_a_time();
    on_cluster(3, limits_let_exactly_n_through);
}

/// 3N requests at once, spread over the instances: for a key limited to N
/// a minute, and for a user of the free plan (N a minute per user) whose
/// requests are spread over two keys as well.
fn limits_let_exactly_n_through(cluster: Cluster) {
    // Arrange
    let limited = cluster.user("limited", "pro", PLENTY);
    let change = json!({ "requests_per_minute": KEY_LIMIT });
    cluster.change_own_key(&limited, "PATCH", Some(&change));
    let free = cluster.registered_user("free", "free", 2);

    // Act
    let key_sent = cluster.all_at_once(&[limited.secret.as_str()], 3 * KEY_LIMIT);
    let free_secrets: Vec<&str> = free.iter().map(String::as_str).collect();
    let user_sent = cluster.all_at_once(&free_secrets, 3 * USER_LIMIT);

    // Assert
    let instances = cluster.instances.len();
    for (what, limit, sent) in [
        ("key", KEY_LIMIT, &key_sent),
        ("user", USER_LIMIT, &user_sent),
    ] {
        let served: Vec<&Sent> = sent
            .iter()
            .filter(|sent| sent.status == Some(200))
            .collect();
        eprintln!(
            "a {what} limited to {limit} a minute, {} requests at once over {instances} \
             instances: by status {:?}, served by instance {:?}",
            sent.len(),
            by_status(sent),
            by_instance(&served, instances)
        );
    }
    for (what, limit, sent) in [
        ("key", KEY_LIMIT, &key_sent),
        ("user", USER_LIMIT, &user_sent),
    ] {
        let served = sent.iter().filter(|sent| sent.status == Some(200)).count();
        assert_eq!(
            served, limit,
            "a {what} limited to {limit} requests a minute had {served} served across \
             {instances} instances"
        );
        let neither: Vec<&Sent> = sent
            .iter()
            .filter(|sent| !matches!(sent.status, Some(200 | 429)))
            .collect();
        assert!(
            neither.is_empty(),
            "{} answers were neither 200 nor 429, e.g. {:?}",
            neither.len(),
            examples(&neither)
        );
    }
}

// ---------------------------------------------------------------------------
// Redis away

#[test]
fn redis_stopped_for_30_seconds_and_restarted_empty_fails_closed_and_overspends_nothing() {
    let _serial = one_at_a_time();
    on_cluster(2, redis_away_for_30_seconds);
}

/// A light load (one request every 500 ms per instance, OpenAI's and
/// Anthropic's formats in turn) on a balance that affords `AFFORDED`
/// requests, while Redis is stopped for `OUTAGE` and started again empty.
/// While it is away, priced requests are refused with 503 in the client's
/// format; once it is back they are served again within `RECOVERY` until
/// the balance runs out, and never beyond it.
fn redis_away_for_30_seconds(mut cluster: Cluster) {
    const OUTAGE: Duration = Duration::from_secs(30);
    const EVERY: Duration = Duration::from_millis(500);
    const BEFORE: Duration = Duration::from_secs(2);
    const AFTER: Duration = Duration::from_secs(20);
    /// An instance may take this long to notice that Redis is gone.
    const NOTICE: Duration = Duration::from_secs(1);
    const RECOVERY: Duration = Duration::from_secs(5);
    const AFFORDED: usize = 40;
    let started = Instant::now();

    // Arrange
    let prober = cluster.user("prober", "pro", AFFORDED as i64 * COST);
    let revoked_after = cluster.user("revoked-after", "pro", PLENTY);
    let stop = Arc::new(AtomicBool::new(false));
    let probes: Vec<JoinHandle<Vec<Sent>>> = (0..cluster.instances.len())
        .map(|instance| {
            let (mut clients, secret, stop) =
                (cluster.clients(), prober.secret.clone(), stop.clone());
            thread::spawn(move || {
                let mut sent = Vec::new();
                let mut next = Instant::now();
                for format in [Format::OpenAi, Format::Anthropic].into_iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    sent.push(ask(&mut clients, instance, &secret, MODEL, COST, format));
                    next += EVERY;
                    thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                sent
            })
        })
        .collect();

    // Act
    thread::sleep(BEFORE);
    cluster.redis.stop();
    let stopped_at = Instant::now();
    thread::sleep(OUTAGE / 2);
    let mut clients = cluster.clients();
    let free: Vec<Sent> = (0..cluster.instances.len())
        .map(|instance| {
            ask(
                &mut clients,
                instance,
                &prober.secret,
                FREE_MODEL,
                COST,
                Format::OpenAi,
            )
        })
        .collect();
    thread::sleep(OUTAGE / 2);
    cluster.redis.start_server();
    let back_at = Instant::now();
    thread::sleep(AFTER);
    stop.store(true, Ordering::Relaxed);
    let sent = join(probes);
    // The subscriptions to changes were cut with Redis: they are back.
    let revocation = cluster.propagate(Step::asking(&revoked_after, MODEL, Status(200)).once(
        "its key revoked after Redis came back",
        Status(401),
        || cluster.change_own_key(&revoked_after, "DELETE", None),
    ));
    let served: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.status == Some(200))
        .collect();
    let written = cluster.wait_for_rows(&prober.user_id, &request_ids(&served), ROWS_DEADLINE);
    let books = cluster.books(&prober.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    let away =
        |sent: &&Sent| sent.started >= stopped_at + NOTICE && sent.started + sent.latency < back_at;
    let while_away: Vec<&Sent> = sent.iter().filter(away).collect();
    let recovered: Vec<Option<Duration>> = (0..cluster.instances.len())
        .map(|instance| {
            sent.iter()
                .find(|sent| {
                    sent.instance == instance && sent.started >= back_at && sent.status == Some(200)
                })
                .map(|sent| sent.started + sent.latency - back_at)
        })
        .collect();
    let after_recovery: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.started >= back_at + RECOVERY)
        .collect();
    let latencies = {
        let mut latencies: Vec<Duration> = while_away.iter().map(|sent| sent.latency).collect();
        latencies.sort();
        latencies
    };
    eprintln!(
        "Redis away for {:.1} s under {} instances' light load: {} requests (by status {:?}); \
         while away {} (by status {:?}, slowest {:?}); served again {recovered:?} after it came \
         back; served {} of the {AFFORDED} the balance affords, balance {} µc; rows written \
         {written:?} after; {:.1} s in all",
        (back_at - stopped_at).as_secs_f64(),
        cluster.instances.len(),
        sent.len(),
        by_status(&sent),
        while_away.len(),
        by_status(while_away.iter().copied()),
        latencies.last(),
        served.len(),
        books.balance,
        started.elapsed().as_secs_f64()
    );
    let before: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.started < stopped_at)
        .collect();
    assert!(
        before.iter().any(|sent| sent.status == Some(200)),
        "nothing was served before Redis stopped: {:?}",
        examples(&before)
    );
    assert!(
        !while_away.is_empty(),
        "no request was sent while Redis was away"
    );
    let not_refused: Vec<&Sent> = while_away
        .iter()
        .copied()
        .filter(|sent| sent.status != Some(503) || !sent.in_client_format())
        .collect();
    assert!(
        not_refused.is_empty(),
        "{} of {} priced requests were not refused with 503 in the client's format while Redis \
         was away, e.g. {:?}",
        not_refused.len(),
        while_away.len(),
        examples(&not_refused)
    );
    let free_refused: Vec<&Sent> = free
        .iter()
        .filter(|sent| sent.status != Some(200))
        .collect();
    assert!(
        free_refused.is_empty(),
        "a free model was not served while Redis was away (redis.serve_free_when_down is on \
         by default), e.g. {:?}",
        examples(&free_refused)
    );
    assert!(
        recovered
            .iter()
            .all(|at| at.is_some_and(|at| at <= RECOVERY)),
        "not every instance served again within {RECOVERY:?} of Redis coming back: {recovered:?}"
    );
    assert!(revocation.in_time(), "{revocation}");
    let wrong: Vec<&Sent> = after_recovery
        .iter()
        .copied()
        .filter(|sent| !matches!(sent.status, Some(200 | 402)))
        .collect();
    assert!(
        wrong.is_empty(),
        "after Redis was back, {} answers were neither 200 nor 402, e.g. {:?}",
        wrong.len(),
        examples(&wrong)
    );
    assert!(
        served.len() <= AFFORDED,
        "{} requests were served on a balance that affords {AFFORDED}",
        served.len()
    );
    assert!(
        written.is_some(),
        "served requests have no usage row after {ROWS_DEADLINE:?}"
    );
    books.assert_charged_once(&served);
    let refused: Vec<&Sent> = sent
        .iter()
        .filter(|sent| sent.status == Some(503))
        .collect();
    books.assert_uncharged(&refused);
    books.assert_adds_up(AFFORDED as i64 * COST);
    assert_verified(&verified);
}

#[test]
fn an_instance_stalled_through_an_empty_restart_of_redis_puts_its_holds_back_before_balances_load()
{
    let _serial = one_at_a_time();
    on_cluster(2, stalled_through_an_empty_restart);
}

/// B holds most of a balance for a slow request and is stopped
/// (`SIGSTOP`, as a long pause or a starved machine would) while Redis
/// restarts empty, for longer than the others take to bring back what
/// they had. Balances must not be loaded until B has brought back its hold
/// (or counts as dead): A is refused with a 503 meanwhile, and once B runs
/// again A may spend only what B does not hold.
fn stalled_through_an_empty_restart(mut cluster: Cluster) {
    const GRANTED: i64 = 100;
    const HELD: i64 = 60;
    const HELD_WITHIN: Duration = Duration::from_millis(700);
    /// Beyond the 3 s an instance waits after noticing the restart.
    const STALLED_FOR: Duration = Duration::from_millis(4_500);
    const BACK_WITHIN: Duration = Duration::from_secs(15);
    let started = Instant::now();

    // Arrange
    let caller = cluster.user("stalled", "pro", GRANTED);
    // Each instance learns who else is alive with its heartbeat (every
    // second): one started less than a second before is not waited for.
    let instances = format!("{REDIS_PREFIX}instances");
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster.redis.cli(&["zcard", &instances]).stdout.trim() != "2" {
        assert!(Instant::now() < deadline, "the instances did not register");
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(1_200));
    let slow = {
        let (mut clients, secret) = (cluster.clients(), caller.secret.clone());
        thread::spawn(move || ask(&mut clients, 1, &secret, SLOW_MODEL, HELD, Format::OpenAi))
    };
    thread::sleep(HELD_WITHIN);
    let b = cluster.instances[1].pid();
    signal(b, "STOP");

    // Act
    cluster.redis.stop();
    cluster.redis.start_server();
    thread::sleep(STALLED_FOR);
    let mut clients = cluster.clients();
    let while_stalled = ask(&mut clients, 0, &caller.secret, MODEL, HELD, Format::OpenAi);
    signal(b, "CONT");
    let resumed_at = Instant::now();
    let slow = slow.join().expect("the slow request's thread panicked");
    let too_much = loop {
        let sent = ask(&mut clients, 0, &caller.secret, MODEL, HELD, Format::OpenAi);
        if sent.status != Some(503) || resumed_at.elapsed() >= BACK_WITHIN {
            break sent;
        }
        thread::sleep(Duration::from_millis(250));
    };
    let answered_after = resumed_at.elapsed();
    let within = ask(
        &mut clients,
        0,
        &caller.secret,
        MODEL,
        GRANTED - HELD - 10,
        Format::OpenAi,
    );
    let charged: Vec<&Sent> = [&while_stalled, &slow, &too_much, &within]
        .into_iter()
        .filter(|sent| sent.status == Some(200))
        .collect();
    cluster.wait_for_rows(&caller.user_id, &request_ids(&charged), ROWS_DEADLINE);
    let books = cluster.books(&caller.user_id);
    let verified = cluster.verify_ledger();

    // Assert
    eprintln!(
        "stalled through an empty restart: while B was stopped A answered {}; B's slow \
         request {}; {answered_after:?} after B resumed, {HELD} µc asked {}, {} µc asked {}; \
         balance {} µc; {:.1} s in all",
        describe(&while_stalled),
        describe(&slow),
        describe(&too_much),
        GRANTED - HELD - 10,
        describe(&within),
        books.balance,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        while_stalled.status,
        Some(503),
        "balances were loaded while B had not brought back its hold: {}",
        describe(&while_stalled)
    );
    assert!(
        while_stalled.in_client_format(),
        "{}",
        describe(&while_stalled)
    );
    assert_eq!(slow.status, Some(200), "{}", describe(&slow));
    assert_eq!(too_much.status, Some(402), "{}", describe(&too_much));
    assert_eq!(within.status, Some(200), "{}", describe(&within));
    books.assert_charged_once(&charged);
    books.assert_adds_up(GRANTED);
    assert!(books.balance >= 0, "overspent: balance {}", books.balance);
    assert_verified(&verified);
}

/// Sends `kill -<name>` to a process (`STOP`, `CONT`).
fn signal(pid: u32, name: &str) {
    let sent = run(std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string()));
    sent.assert_success();
}

// ---------------------------------------------------------------------------
// clients

/// The two client formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenAi,
    Anthropic,
}

/// How much of an answer's body [`Sent`] keeps.
const KEPT_OF_BODY: usize = 600;

/// One request as its client saw it.
#[derive(Debug, Clone)]
struct Sent {
    /// Which instance it was sent to.
    instance: usize,
    format: Format,
    /// `None`: no answer at all (the instance was gone).
    status: Option<u16>,
    /// Its first [`KEPT_OF_BODY`] bytes: enough for any error, and
    /// answers printed stay short.
    body: String,
    request_id: Option<String>,
    /// `x-ratelimit-limit-requests`.
    requests_limit: Option<String>,
    started: Instant,
    latency: Duration,
}

impl Sent {
    /// The error body the client's SDK expects: OpenAI's
    /// `{"error": {"message", "type", ..}}` or Anthropic's
    /// `{"type": "error", "error": {"type", "message"}}`.
    fn in_client_format(&self) -> bool {
        let body: Value = serde_json::from_str(&self.body).unwrap_or_default();
        let error = &body["error"];
        let described = error["message"].is_string() && error["type"].is_string();
        match self.format {
            Format::OpenAi => described,
            Format::Anthropic => described && body["type"] == "error",
        }
    }
}

/// A JSON (not streamed) request for `max_tokens` of `model`, on one of
/// `clients` (one kept-alive connection per instance).
fn ask(
    clients: &mut [Client],
    instance: usize,
    secret: &str,
    model: &str,
    max_tokens: i64,
    format: Format,
) -> Sent {
    let body = json!({
        "model": model, "max_tokens": max_tokens,
        "messages": [{ "role": "user", "content": "count me once" }],
    })
    .to_string();
    let started = Instant::now();
    let client = &mut clients[instance];
    let answer = match format {
        Format::OpenAi => client.post(
            "/v1/chat/completions",
            &[("Authorization", &format!("Bearer {secret}"))],
            &body,
        ),
        Format::Anthropic => client.post("/v1/messages", &[("x-api-key", secret)], &body),
    };
    let latency = started.elapsed();
    let answer = answer.ok();
    Sent {
        instance,
        format,
        status: answer.as_ref().map(|answer| answer.status),
        body: answer
            .as_ref()
            .map(|answer| answer.body.chars().take(KEPT_OF_BODY).collect())
            .unwrap_or_default(),
        request_id: answer.as_ref().and_then(|answer| answer.request_id()),
        requests_limit: answer
            .as_ref()
            .and_then(|answer| answer.header("x-ratelimit-limit-requests"))
            .map(str::to_owned),
        started,
        latency,
    }
}

fn join(threads: Vec<JoinHandle<Vec<Sent>>>) -> Vec<Sent> {
    threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("a client thread panicked"))
        .collect()
}

fn request_ids(sent: &[&Sent]) -> Vec<String> {
    sent.iter()
        .map(|sent| {
            sent.request_id
                .clone()
                .unwrap_or_else(|| panic!("an answer without x-request-id: {}", describe(sent)))
        })
        .collect()
}

/// How many answers had each status (`None`: no answer).
fn by_status<'a>(sent: impl IntoIterator<Item = &'a Sent>) -> Vec<(Option<u16>, usize)> {
    let mut counts: HashMap<Option<u16>, usize> = HashMap::new();
    for sent in sent {
        *counts.entry(sent.status).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    counts
}

fn by_instance(sent: &[&Sent], instances: usize) -> Vec<usize> {
    (0..instances)
        .map(|instance| sent.iter().filter(|sent| sent.instance == instance).count())
        .collect()
}

// ---------------------------------------------------------------------------
// propagation

/// What an instance answers to a step's request.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(u16),
    /// 502, or the 429 of a model whose every deployment is cooling down
    /// after failing (issue 18): the provider cannot be reached either way.
    Failing,
    /// 200 with this `x-ratelimit-limit-requests` (`None`: without one).
    LimitHeader(Option<&'static str>),
}

use Expect::{Failing, LimitHeader, Status};

impl Expect {
    fn met_by(self, sent: &Sent) -> bool {
        match self {
            Status(status) => sent.status == Some(status),
            Failing => matches!(sent.status, Some(502 | 429)),
            LimitHeader(limit) => {
                sent.status == Some(200) && sent.requests_limit.as_deref() == limit
            }
        }
    }
}

/// A change made through A, seen through one key's requests for one model.
struct Step<'a> {
    what: &'static str,
    secret: String,
    model: &'static str,
    before: Expect,
    after: Expect,
    /// Returns once the change is in effect.
    change: Box<dyn FnOnce() + 'a>,
}

/// A step's request, and what every instance answers before the change.
struct Asking {
    secret: String,
    model: &'static str,
    before: Expect,
}

impl Step<'_> {
    fn asking(caller: &Caller, model: &'static str, before: Expect) -> Asking {
        Asking {
            secret: caller.secret.clone(),
            model,
            before,
        }
    }
}

impl Asking {
    /// What every instance answers once `what` was done by `change`.
    fn once<'a>(self, what: &'static str, after: Expect, change: impl FnOnce() + 'a) -> Step<'a> {
        Step {
            what,
            secret: self.secret,
            model: self.model,
            before: self.before,
            after,
            change: Box::new(change),
        }
    }
}

/// When each instance answered as a change says, counted from the moment
/// it took effect.
struct Propagation {
    what: &'static str,
    model: &'static str,
    after: Expect,
    names: Vec<&'static str>,
    /// `None`: not within [`PROPAGATION`].
    seen_after: Vec<Option<Duration>>,
    /// Each instance's last answer.
    last: Vec<String>,
    /// Set when an instance did not answer as expected before the change.
    unprepared: Option<String>,
}

impl Propagation {
    fn in_time(&self) -> bool {
        self.unprepared.is_none() && self.seen_after.iter().all(Option::is_some)
    }
}

impl std::fmt::Display for Propagation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} answers {:?}):",
            self.what, self.model, self.after
        )?;
        if let Some(unprepared) = &self.unprepared {
            return write!(f, " not tried, {unprepared}");
        }
        for ((name, seen), last) in self.names.iter().zip(&self.seen_after).zip(&self.last) {
            match seen {
                Some(after) => write!(f, " {name} after {} ms;", after.as_millis())?,
                None => write!(
                    f,
                    " {name} NOT within {PROPAGATION:?} (last answer {last});"
                )?,
            }
        }
        Ok(())
    }
}

fn describe(sent: &Sent) -> String {
    let limit = sent
        .requests_limit
        .as_deref()
        .map(|limit| format!(" x-ratelimit-limit-requests: {limit}"))
        .unwrap_or_default();
    let body: String = sent.body.chars().take(160).collect();
    format!("{:?}{limit} {body}", sent.status)
}

/// Up to three of `sent`, for a failure message.
fn examples(sent: &[&Sent]) -> Vec<String> {
    sent.iter()
        .take(3)
        .map(|sent| {
            format!(
                "instance {} {:?}: {}",
                sent.instance,
                sent.format,
                describe(sent)
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// the cluster

/// A user with their first API key.
struct Caller {
    user_id: String,
    key_id: String,
    secret: String,
}

/// Runs `test` on a cluster of `instances`, or skips it (and says so) when
/// PostgreSQL or Redis is not installed.
fn on_cluster(instances: usize, test: fn(Cluster)) {
    if let Some(cluster) = Cluster::start(instances) {
        test(cluster);
    }
}

/// `serve` processes sharing one PostgreSQL, one Redis and their secrets,
/// in front of one `mock-upstream`, with the priced models; signed in as
/// the admin through the first instance (A).
struct Cluster {
    /// First, so that they are killed before what they use goes away.
    instances: Vec<Instance>,
    _upstream: Server,
    upstream_port: u16,
    /// The admin's session, opened on A.
    admin: String,
    /// The provider of every model, on the mock upstream.
    provider_id: String,
    /// The environment every instance shares.
    env: Vec<(String, String)>,
    redis: Redis,
    postgres: Postgres,
    _upstream_dir: TempDir,
}

struct Instance {
    /// `None` once killed. First, so that it is killed before its data
    /// directory is deleted.
    server: Option<Server>,
    name: &'static str,
    dir: TempDir,
    port: u16,
}

impl Instance {
    fn start(name: &'static str, env: &[(String, String)]) -> Self {
        let dir = workdir();
        let port = free_port();
        eprintln!("starting instance {name} on port {port}");
        let server = serve(&dir, port, env);
        Self {
            server: Some(server),
            name,
            dir,
            port,
        }
    }

    fn pid(&self) -> u32 {
        self.server
            .as_ref()
            .expect("the instance is not running")
            .child
            .id()
    }

    /// SIGKILL; what it printed.
    fn kill(&mut self) -> Output {
        self.server
            .take()
            .expect("the instance is not running")
            .stop()
    }
}

/// `serve` on `port`, ready.
fn serve(dir: &TempDir, port: u16, env: &[(String, String)]) -> Server {
    let mut command = tollgate(dir);
    command
        .arg("serve")
        .envs(ADMIN_ENV)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env("TOLLGATE__SERVER__ADDR", addr(port));
    let mut server = Server::start(&mut command);
    server.wait_until_ready(port);
    server
}

impl Cluster {
    /// `None` (said on stderr) when PostgreSQL or Redis is not installed.
    /// The models are created through A before the others start; then
    /// every instance must accept A's admin session.
    fn start(instances: usize) -> Option<Self> {
        let Some(postgres) = Postgres::start() else {
            eprintln!("SKIPPED: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)");
            return None;
        };
        let Some(redis) = Redis::start() else {
            eprintln!(
                "SKIPPED: redis-server is not installed (scripts/bootstrap.sh test installs it)"
            );
            return None;
        };
        let upstream_dir = workdir();
        let upstream_port = free_port();
        let upstream = Server::start(tollgate(&upstream_dir).args([
            "mock-upstream",
            "--addr",
            &addr(upstream_port),
        ]));
        wait_for_port(upstream_port);
        let mut env = vec![
            ("DATABASE_URL".to_owned(), postgres.url()),
            ("REDIS_URL".to_owned(), redis.url()),
            (
                "TOLLGATE__AUTH__JWT_SECRET".to_owned(),
                JWT_SECRET.to_owned(),
            ),
            (
                "TOLLGATE__SECRETS__ENCRYPTION_KEY".to_owned(),
                ENCRYPTION_KEY.to_owned(),
            ),
        ];
        for plan in ["TRIAL", "FREE", "PRO", "PRO_LIFETIME"] {
            let requests = if plan == "FREE" { USER_LIMIT } else { 0 };
            env.push((
                format!("TOLLGATE__RATE_LIMITS__{plan}__REQUESTS_PER_MINUTE"),
                requests.to_string(),
            ));
            env.push((
                format!("TOLLGATE__RATE_LIMITS__{plan}__TOKENS_PER_MINUTE"),
                "0".to_owned(),
            ));
        }
        let first = Instance::start("A", &env);
        let admin = admin_token(first.port);
        let mut cluster = Self {
            instances: vec![first],
            _upstream: upstream,
            upstream_port,
            admin,
            provider_id: String::new(),
            env,
            redis,
            postgres,
            _upstream_dir: upstream_dir,
        };
        cluster.create_catalog();
        for name in ["B", "C"].into_iter().take(instances - 1) {
            let instance = Instance::start(name, &cluster.env);
            cluster.instances.push(instance);
        }
        for instance in &cluster.instances {
            let (status, body) = http(
                instance.port,
                "GET",
                "/api/users/me",
                Some(&cluster.admin),
                None,
            );
            assert_eq!(
                status, 200,
                "instance {} refused the admin's session from A (the instances must share \
                 auth.jwt_secret): {body}",
                instance.name
            );
        }
        Some(cluster)
    }

    /// The provider on the mock upstream and the priced models.
    fn create_catalog(&mut self) {
        let provider = json!({
            "name": "upstream", "kind": "openai",
            "base_url": format!("http://127.0.0.1:{}/v1", self.upstream_port),
            "api_keys": ["sk-cluster"],
        });
        let created = self.admin("POST", "/api/admin/providers", Some(&provider));
        self.provider_id = created["provider"]["id"].as_str().unwrap().to_owned();
        self.model(MODEL, "gpt-long", &[]);
        self.model(SLOW_MODEL, "gpt-long-slow", &[]);
        self.model(LIFETIME_MODEL, "gpt-long-lifetime", &["pro_lifetime"]);
        self.priced_model(FREE_MODEL, "gpt-long-free", &[], 0);
    }

    /// A priced model (see [`MODEL`]) for `plans` (empty: every plan).
    fn model(&self, name: &str, upstream: &str, plans: &[&str]) {
        self.priced_model(name, upstream, plans, OUTPUT_PRICE);
    }

    fn priced_model(&self, name: &str, upstream: &str, plans: &[&str], output_price: i64) {
        let mut model = json!({
            "public_name": name, "provider_id": self.provider_id, "upstream_model": upstream,
            "input_price": 0, "output_price": output_price,
        });
        if !plans.is_empty() {
            model["plans"] = json!(plans);
        }
        self.admin("POST", "/api/admin/models", Some(&model));
    }

    fn port(&self, instance: usize) -> u16 {
        self.instances[instance].port
    }

    /// A kept-alive connection to each instance.
    fn clients(&self) -> Vec<Client> {
        self.instances
            .iter()
            .map(|instance| Client::new(instance.port))
            .collect()
    }

    /// An admin request through A that must succeed; its answer.
    fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = http(self.port(0), method, path, Some(&self.admin), body);
        assert!(
            matches!(status, 200 | 201),
            "{method} {path} answered {status}: {answer}"
        );
        answer
    }

    /// A new user on `plan` with their first key, granted `micro_credits`.
    fn user(&self, name: &str, plan: &str, micro_credits: i64) -> Caller {
        let created = self.admin(
            "POST",
            "/api/admin/users",
            Some(&json!({ "name": name, "plan": plan })),
        );
        let text = |value: &Value| value.as_str().unwrap().to_owned();
        let caller = Caller {
            user_id: text(&created["user"]["id"]),
            key_id: text(&created["key"]["id"]),
            secret: text(&created["secret"]),
        };
        if micro_credits > 0 {
            self.grant(&caller.user_id, micro_credits);
        }
        caller
    }

    /// A user who registered with a password, moved to `plan`, granted
    /// [`PLENTY`], with `keys` keys of their own; their secrets.
    fn registered_user(&self, name: &str, plan: &str, keys: usize) -> Vec<String> {
        let a = self.port(0);
        let (email, password) = (format!("{name}@example.com"), "a cluster test password");
        let signup = json!({ "email": email, "password": password, "name": name });
        let (status, body) = http(a, "POST", "/api/auth/register", None, Some(&signup));
        assert_eq!(status, 202, "{body}");
        let session = login(a, &email, password);
        let me = http_ok(a, "GET", "/api/users/me", &session, None, 200);
        let user_id = me["user"]["id"].as_str().unwrap().to_owned();
        self.admin(
            "PATCH",
            &format!("/api/admin/users/{user_id}"),
            Some(&json!({ "plan": plan })),
        );
        self.grant(&user_id, PLENTY);
        (0..keys)
            .map(|nth| {
                let key = json!({ "name": format!("key {nth}") });
                let created = http_ok(a, "POST", "/api/keys", &session, Some(&key), 201);
                created["secret"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn grant(&self, user_id: &str, micro_credits: i64) {
        let amount = format!(
            "{}.{:06}",
            micro_credits / MICROS_PER_CREDIT,
            micro_credits % MICROS_PER_CREDIT
        );
        let grant = json!({ "user_id": user_id, "amount": amount, "reason": "cluster test" });
        self.admin("POST", "/api/admin/credits/grant", Some(&grant));
    }

    /// `count` requests sent at once, each on its own connection, going
    /// round the instances and `secrets` in turn.
    fn all_at_once(&self, secrets: &[&str], count: usize) -> Vec<Sent> {
        let go = Arc::new(Barrier::new(count));
        let instances = self.instances.len();
        let threads: Vec<JoinHandle<Vec<Sent>>> = (0..count)
            .map(|nth| {
                let (mut clients, go) = (self.clients(), go.clone());
                let secret = secrets[nth % secrets.len()].to_owned();
                thread::spawn(move || {
                    go.wait();
                    vec![ask(
                        &mut clients,
                        nth % instances,
                        &secret,
                        MODEL,
                        COST,
                        Format::OpenAi,
                    )]
                })
            })
            .collect();
        join(threads)
    }

    /// Asks every instance the step's request and checks it answers as
    /// `before` says; then makes the change and asks every instance again
    /// until it answers as `after` says, for at most [`PROPAGATION`] from
    /// the moment the change was in effect.
    fn propagate(&self, step: Step) -> Propagation {
        let mut clients = self.clients();
        let instances = self.instances.len();
        let ask = |clients: &mut [Client], instance| {
            ask(
                clients,
                instance,
                &step.secret,
                step.model,
                COST,
                Format::OpenAi,
            )
        };
        let mut propagation = Propagation {
            what: step.what,
            model: step.model,
            after: step.after,
            names: self
                .instances
                .iter()
                .map(|instance| instance.name)
                .collect(),
            seen_after: vec![None; instances],
            last: vec![String::new(); instances],
            unprepared: None,
        };
        for instance in 0..instances {
            let sent = ask(&mut clients, instance);
            if !step.before.met_by(&sent) {
                propagation.unprepared = Some(format!(
                    "before the change instance {} answered {}, not {:?}",
                    self.instances[instance].name,
                    describe(&sent),
                    step.before
                ));
                return propagation;
            }
        }
        (step.change)();
        let effective = Instant::now();
        loop {
            for instance in 0..instances {
                if propagation.seen_after[instance].is_some() {
                    continue;
                }
                let sent = ask(&mut clients, instance);
                if step.after.met_by(&sent) {
                    propagation.seen_after[instance] = Some(effective.elapsed());
                }
                propagation.last[instance] = describe(&sent);
            }
            let seen = propagation.seen_after.iter().all(Option::is_some);
            if seen || effective.elapsed() >= PROPAGATION {
                return propagation;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The owner's change to their key, through A, signed in with the key.
    fn change_own_key(&self, caller: &Caller, method: &str, change: Option<&Value>) {
        let a = self.port(0);
        let owner = login_with_key(a, &caller.secret);
        let path = format!("/api/keys/{}", caller.key_id);
        let (status, body) = http(a, method, &path, Some(&owner), change);
        assert_eq!(status, 200, "{method} {path}: {body}");
    }

    /// The time `ahead` from now by PostgreSQL's clock, as the API takes
    /// it, and the moment it will be here.
    fn clock_in(&self, ahead: Duration) -> (String, Instant) {
        let at = self.postgres.query(&format!(
            "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '{} milliseconds', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            ahead.as_millis()
        ));
        (at.trim().to_owned(), Instant::now() + ahead)
    }

    fn model_id(&self, public_name: &str) -> String {
        let models = self.admin("GET", "/api/admin/models", None);
        let model = models["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|model| model["public_name"] == public_name);
        model.unwrap_or_else(|| panic!("no model {public_name}: {models}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn active_grant_id(&self, caller: &Caller) -> String {
        let path = format!("/api/admin/grants?user_id={}&active=true", caller.user_id);
        let grants = self.admin("GET", &path, None);
        grants["grants"][0]["id"].to_string()
    }

    /// Starts a killed instance again on its data directory (which replays
    /// its spool), on a new port; what it printed by the time it was ready.
    fn restart(&mut self, instance: usize) -> String {
        let port = free_port();
        let restarted = &mut self.instances[instance];
        assert!(
            restarted.server.is_none(),
            "instance {} is still running",
            restarted.name
        );
        let server = serve(&restarted.dir, port, &self.env);
        let printed = server.stderr();
        restarted.port = port;
        restarted.server = Some(server);
        printed
    }

    fn verify_ledger(&self) -> Output {
        let dir = workdir();
        run(tollgate(&dir)
            .args(["admin", "verify-ledger"])
            .env("DATABASE_URL", self.postgres.url()))
    }

    fn books(&self, user_id: &str) -> Books {
        Books::read(&self.postgres, user_id)
    }

    /// Polls until each of `ids` has its usage row; how long that took, or
    /// `None` after `deadline`.
    fn wait_for_rows(&self, user_id: &str, ids: &[String], deadline: Duration) -> Option<Duration> {
        let since = Instant::now();
        loop {
            let books = self.books(user_id);
            if ids.iter().all(|id| books.rows.contains_key(id)) {
                return Some(since.elapsed());
            }
            if since.elapsed() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
}

fn assert_verified(verified: &Output) {
    verified.assert_success();
    assert!(verified.stdout.contains(LEDGER_VERIFIED), "{verified}");
}

// ---------------------------------------------------------------------------
// what PostgreSQL holds

/// One user's money as PostgreSQL holds it.
struct Books {
    balance: i64,
    /// What each usage row charged, by request id.
    rows: HashMap<String, i64>,
    /// The amounts of the `charge` entries, by reference (the request id).
    charges: HashMap<String, Vec<i64>>,
}

impl Books {
    fn read(postgres: &Postgres, user_id: &str) -> Self {
        let balance = postgres.query(&format!(
            "SELECT COALESCE((SELECT balance FROM credit_balances WHERE user_id = '{user_id}'), 0)"
        ));
        let rows = postgres
            .query(&format!(
                "SELECT id, charged FROM usage_records WHERE user_id = '{user_id}'"
            ))
            .lines()
            .map(|line| {
                let (id, charged) = line.split_once('|').unwrap_or_else(|| panic!("{line:?}"));
                (id.to_owned(), charged.parse().unwrap())
            })
            .collect();
        let mut charges: HashMap<String, Vec<i64>> = HashMap::new();
        let entries = postgres.query(&format!(
            "SELECT reference, amount FROM credit_ledger WHERE kind = 'charge' AND user_id = '{user_id}'"
        ));
        for line in entries.lines() {
            let (reference, amount) = line.split_once('|').unwrap_or_else(|| panic!("{line:?}"));
            charges
                .entry(reference.to_owned())
                .or_default()
                .push(amount.parse().unwrap());
        }
        Self {
            balance: balance.trim().parse().unwrap(),
            rows,
            charges,
        }
    }

    /// Each of `served` has its usage row, charged more than nothing, and
    /// exactly one ledger charge of that amount.
    fn assert_charged_once(&self, served: &[&Sent]) {
        let wrong: Vec<String> = request_ids(served)
            .into_iter()
            .filter_map(|id| {
                let charges = self.charges.get(&id).map(Vec::as_slice).unwrap_or_default();
                match self.rows.get(&id) {
                    None => Some(format!("{id}: no usage row")),
                    Some(&charged) if charged <= 0 || charges != [-charged] => Some(format!(
                        "{id}: charged {charged}, ledger charges {charges:?}"
                    )),
                    Some(_) => None,
                }
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {} served requests are not charged exactly once, e.g. {:?}",
            wrong.len(),
            served.len(),
            &wrong[..wrong.len().min(5)]
        );
    }

    /// None of `refused` was charged.
    fn assert_uncharged(&self, refused: &[&Sent]) {
        let charged: Vec<String> = refused
            .iter()
            .filter_map(|sent| sent.request_id.clone())
            .filter(|id| self.charges.contains_key(id) || self.rows.get(id).is_some_and(|&c| c > 0))
            .collect();
        assert!(
            charged.is_empty(),
            "refused requests were charged: {charged:?}"
        );
    }

    /// The balance is what was granted less what the usage rows charged,
    /// never below zero, and the ledger's charges are those rows.
    fn assert_adds_up(&self, granted: i64) {
        let charged: i64 = self.rows.values().sum();
        let ledger: i64 = self.charges.values().flatten().sum();
        assert_eq!(
            ledger, -charged,
            "the ledger's charges are not the usage rows'"
        );
        assert_eq!(
            self.balance,
            granted - charged,
            "the balance moved by something else than the usage"
        );
        assert!(
            self.balance >= 0,
            "overspent: the balance is {} µc",
            self.balance
        );
    }
}
