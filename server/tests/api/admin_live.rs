//! The admin overview (`GET /api/admin/stats/overview`) and its live
//! telemetry: server-sent events at `/api/admin/live`, a WebSocket at
//! `/api/admin/live/ws`, one producer for every watcher, and the
//! `REALTIME_MODE` flag that picks between them.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use chrono::TimeDelta;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};
use server::{
    Settings,
    console::live::HubStats,
    gateway::proxy::request::Endpoint,
    platform::{
        config::{LiveSettings, RealtimeMode},
        entity::{daily_usage, request_metric, session, usage_record},
        time,
    },
};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tower::ServiceExt;

use crate::helpers::{
    Answer, PASSWORD, ProxyApp, TestApp, assert_error, assert_iso_millis, serve, spawn_app_with,
};

/// Long enough that nothing ticks twice within a test unless it asks to.
const NEVER_MS: u64 = 600_000;
/// How long a test waits for anything to arrive.
const PATIENCE: Duration = Duration::from_secs(5);

/// An app whose live figures tick at `live`, in `mode`.
async fn app_with(mode: RealtimeMode, live: LiveSettings) -> TestApp {
    spawn_app_with(|settings: &mut Settings| {
        settings.features.realtime_mode = mode;
        settings.live = live;
    })
    .await
}

/// Only the first values: nothing repeats during the test.
fn first_values_only() -> LiveSettings {
    LiveSettings {
        active_users_ms: NEVER_MS,
        performance_ms: NEVER_MS,
        system_ms: NEVER_MS,
        heartbeat_ms: NEVER_MS,
        ..LiveSettings::default()
    }
}

/// Redacts a timestamp after checking it is ISO 8601 UTC with milliseconds.
fn timestamp() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, _| {
        assert_iso_millis(value.as_str().expect("a timestamp is a string"));
        "[timestamp]"
    })
}

async fn overview(app: &TestApp, token: &str) -> Value {
    app.get_ok("/api/admin/stats/overview", token).await
}

/// Every metric written so far is removed, so a test's own rows are all
/// there is.
async fn clear_request_metrics(app: &TestApp) {
    app.state.metrics.flush().await;
    request_metric::Entity::delete_many()
        .exec(app.db())
        .await
        .unwrap();
}

/// `request_metrics` rows `(age, duration_ms, status)`.
async fn insert_request_metrics(app: &TestApp, rows: &[(TimeDelta, i32, i32)]) {
    let now = time::now();
    for chunk in rows.chunks(200) {
        let models =
            chunk.iter().map(
                |&(age, duration_ms, status_code)| request_metric::ActiveModel {
                    ts: Set(now - age),
                    duration_ms: Set(duration_ms),
                    status_code: Set(status_code),
                    route: Set("/api/test".into()),
                    ..Default::default()
                },
            );
        request_metric::Entity::insert_many(models)
            .exec_without_returning(app.db())
            .await
            .unwrap();
    }
}

/// Pretends every session of a user was last seen `age` ago.
async fn age_sessions(app: &TestApp, user_id: &str, age: TimeDelta) {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(time::now() - age))
        .filter(session::Column::UserId.eq(user_id))
        .exec(app.db())
        .await
        .unwrap();
}

/// Waits until the hub's figures satisfy `done`, or fails with the last.
async fn wait_for_hub(app: &TestApp, done: impl Fn(&HubStats) -> bool) -> HubStats {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stats = app.state.live.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub never got there: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// The overview

#[tokio::test]
async fn the_overview_has_the_contract_shape_and_zero_rates_without_requests() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, LiveSettings::default()).await;
    let admin = app.create_admin().await;
    clear_request_metrics(&app).await;

    // Act
    let body = overview(&app, &admin).await;

    // Assert
    assert!(body["performance"]["errorRatePct"].is_f64(), "{body}");
    insta::assert_json_snapshot!(body, { ".system.refreshedAt" => timestamp() }, @r#"
    {
      "success": true,
      "overview": {
        "totalUsers": 1,
        "activeNow": 1,
        "totalTitleGenerations": 0,
        "titleGenerations24h": 0
      },
      "performance": {
        "requestsTotal24h": 0,
        "avgResponseMs": 0,
        "errorRatePct": 0.0
      },
      "system": {
        "api": "green",
        "db": "green",
        "refreshedAt": "[timestamp]"
      }
    }
    "#);
}

#[tokio::test]
async fn users_and_active_now_count_open_recent_sessions_of_undeleted_users() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, LiveSettings::default()).await;
    let admin = app.create_admin().await;
    app.register("alice@example.com", PASSWORD, "Alice").await;
    // A second sign-in of the same person is still one person.
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
    let (_, bob) = app.register("bob@example.com", PASSWORD, "Bob").await;
    let (_, dave) = app.register("dave@example.com", PASSWORD, "Dave").await;
    let (carol_token, _) = app.register("carol@example.com", PASSWORD, "Carol").await;
    let before = overview(&app, &admin).await;

    // Act: Bob was last seen ten minutes ago, Carol signs out, Dave is
    // deleted (which ends his sessions).
    age_sessions(&app, &bob, TimeDelta::minutes(10)).await;
    let (status, _, _) = app.logout(Some(&carol_token)).await;
    assert_eq!(status, StatusCode::OK);
    app.delete_ok(&format!("/api/admin/users/{dave}"), &admin)
        .await;
    let after = overview(&app, &admin).await;

    // Assert
    assert_eq!(before["overview"]["totalUsers"], 5, "{before}");
    assert_eq!(before["overview"]["activeNow"], 5, "{before}");
    assert_eq!(
        after["overview"]["totalUsers"], 4,
        "Dave is deleted: {after}"
    );
    assert_eq!(
        after["overview"]["activeNow"], 2,
        "the admin and Alice, not Bob (idle), Carol (signed out) or Dave (deleted): {after}"
    );
}

#[tokio::test]
async fn title_generations_count_proxied_requests_that_reached_a_model() {
    // Arrange
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-titles").await;
    for _ in 0..3 {
        let (status, _, body) = proxy.ask(Endpoint::ChatCompletions, "mock-titles").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _, _) = proxy.ask(Endpoint::ChatCompletions, "no-such-model").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let rows = proxy.usage_rows().await;
    let fresh = overview(&proxy.app, &proxy.admin).await;

    // Act: one of the three ran two days ago, and an older day in the
    // rollup had five more.
    let routed = rows
        .iter()
        .find(|row| row.model_id.is_some())
        .expect("a routed usage row");
    usage_record::Entity::update_many()
        .col_expr(
            usage_record::Column::CreatedAt,
            Expr::value(time::now() - TimeDelta::days(2)),
        )
        .filter(usage_record::Column::Id.eq(routed.id.clone()))
        .exec(proxy.app.db())
        .await
        .unwrap();
    daily_usage::Entity::insert(daily_usage::ActiveModel {
        date: Set("2025-10-01".into()),
        model: Set("mock-titles".into()),
        total_requests: Set(5),
        input_tokens: Set(0),
        output_tokens: Set(0),
        cache_read_tokens: Set(0),
        cache_write_tokens: Set(0),
        cost: Set(0),
        ..Default::default()
    })
    .exec(proxy.app.db())
    .await
    .unwrap();
    let later = overview(&proxy.app, &proxy.admin).await;

    // Assert
    assert_eq!(fresh["overview"]["totalTitleGenerations"], 3, "{fresh}");
    assert_eq!(fresh["overview"]["titleGenerations24h"], 3, "{fresh}");
    assert_eq!(later["overview"]["totalTitleGenerations"], 8, "{later}");
    assert_eq!(later["overview"]["titleGenerations24h"], 2, "{later}");
}

#[tokio::test]
async fn performance_comes_from_the_last_day_of_request_metrics() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, LiveSettings::default()).await;
    let admin = app.create_admin().await;
    clear_request_metrics(&app).await;
    let recent = TimeDelta::minutes(2);
    insert_request_metrics(
        &app,
        &[
            (recent, 100, 200),
            (recent, 200, 200),
            (recent, 300, 201),
            (recent, 400, 404),
            (recent, 120, 500),
            (recent, 80, 200),
            (recent, 2, 302),
            // More than a day old: left out.
            (TimeDelta::hours(25), 90_000, 500),
        ],
    )
    .await;

    // Act
    let body = overview(&app, &admin).await;

    // Assert: 1202 ms over 7 requests, 2 of them errors; one 5xx in seven
    // within five minutes turns the API red.
    assert_eq!(
        body["performance"],
        json!({ "requestsTotal24h": 7, "avgResponseMs": 172, "errorRatePct": 28.6 }),
        "{body}"
    );
    assert_eq!(body["system"]["api"], "red", "{body}");
    assert_eq!(body["system"]["db"], "green", "{body}");
}

#[tokio::test]
async fn the_overview_and_the_stream_are_for_admins_only() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, first_values_only()).await;
    let (user, _) = app.register("mia@example.com", PASSWORD, "Mia").await;

    for path in ["/api/admin/stats/overview", "/api/admin/live"] {
        // Act
        let anonymous = app.request(Method::GET, path, None, None).await;
        let not_admin = app.get(path, &user).await;

        // Assert
        assert_error(&anonymous, StatusCode::UNAUTHORIZED);
        assert_error(&not_admin, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.state.live.stats().watchers, 0);
}

// ---------------------------------------------------------------------------
// Server-sent events

/// What an SSE body carried, one block at a time.
#[derive(Debug)]
enum Frame {
    Event {
        name: String,
        data: Value,
    },
    /// A comment line, as written (`: heartbeat`).
    Comment(String),
}

struct SseBody {
    body: Body,
    buffer: String,
}

impl SseBody {
    /// The next block; `None` when the stream ended. Fails after
    /// [`PATIENCE`] without one.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end_matches('\n')));
            }
            let frame = tokio::time::timeout(PATIENCE, self.body.frame())
                .await
                .expect("nothing arrived on the stream in time")?
                .expect("the stream broke");
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
            }
        }
    }

    async fn next_event(&mut self) -> (String, Value) {
        loop {
            match self.next().await.expect("the stream ended") {
                Frame::Event { name, data } => return (name, data),
                Frame::Comment(_) => {}
            }
        }
    }
}

fn parse_block(block: &str) -> Frame {
    if block.starts_with(':') {
        assert!(!block.contains('\n'), "one comment line: {block:?}");
        return Frame::Comment(block.to_owned());
    }
    let field = |name: &str| {
        block
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in {block:?}"))
            .to_owned()
    };
    Frame::Event {
        name: field("event: "),
        data: serde_json::from_str(&field("data: ")).unwrap(),
    }
}

fn live_request(bearer: Option<&str>, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri("/api/admin/live")
        .header(header::ACCEPT, "text/event-stream");
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(token) = cookie {
        builder = builder.header(header::COOKIE, format!("tollgate_session={token}"));
    }
    builder.body(Body::empty()).unwrap()
}

/// Opens the stream through the router and checks its headers.
async fn open_stream(app: &TestApp, request: Request<Body>) -> SseBody {
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream",
        "{:?}",
        response.headers()
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    SseBody {
        body: response.into_body(),
        buffer: String::new(),
    }
}

/// The three first events, in any order, by name.
async fn first_three(stream: &mut SseBody) -> [(String, Value); 3] {
    let mut events = [
        stream.next_event().await,
        stream.next_event().await,
        stream.next_event().await,
    ];
    events.sort_by(|a, b| a.0.cmp(&b.0));
    events
}

#[tokio::test]
async fn the_stream_sends_all_three_events_at_once_with_the_contract_payloads() {
    // Arrange: a thousand requests of 100 ms an hour ago, ten of them 5xx.
    // (The stream's own request may be counted too; with a thousand
    // before it, the rounded figures cannot move.)
    let app = app_with(RealtimeMode::Sse, first_values_only()).await;
    let admin = app.create_admin().await;
    clear_request_metrics(&app).await;
    let hour = TimeDelta::hours(1);
    let rows: Vec<_> = (0..1000)
        .map(|i| (hour, 100, if i < 10 { 503 } else { 200 }))
        .collect();
    insert_request_metrics(&app, &rows).await;

    // Act
    let started = std::time::Instant::now();
    let mut stream = open_stream(&app, live_request(Some(&admin), None)).await;
    let [active_users, performance, system] = first_three(&mut stream).await;

    // Assert
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the first values took {:?}",
        started.elapsed()
    );
    assert_eq!(active_users.0, "active_users");
    insta::assert_json_snapshot!(active_users.1, { ".timestamp" => timestamp() }, @r#"
    {
      "count": 1,
      "timestamp": "[timestamp]"
    }
    "#);
    assert_eq!(performance.0, "performance_tick");
    insta::assert_json_snapshot!(performance.1, { ".timestamp" => timestamp() }, @r#"
    {
      "avgResponseMs": 100,
      "errorRatePct": 1.0,
      "timestamp": "[timestamp]"
    }
    "#);
    assert_eq!(system.0, "system_status");
    insta::assert_json_snapshot!(system.1, { ".timestamp" => timestamp() }, @r#"
    {
      "api": "green",
      "db": "green",
      "timestamp": "[timestamp]"
    }
    "#);
}

#[tokio::test]
async fn a_fast_cadence_sends_more_ticks_and_a_heartbeat_comment() {
    // Arrange
    let app = app_with(
        RealtimeMode::Sse,
        LiveSettings {
            active_users_ms: 30,
            heartbeat_ms: 60,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    let mut stream = open_stream(&app, live_request(Some(&admin), None)).await;

    // Act
    let mut active_users = 0;
    let mut heartbeats = Vec::new();
    while active_users < 3 || heartbeats.is_empty() {
        match stream.next().await.expect("the stream ended") {
            Frame::Event { name, .. } if name == "active_users" => active_users += 1,
            Frame::Event { .. } => {}
            Frame::Comment(text) => heartbeats.push(text),
        }
    }

    // Assert
    assert_eq!(heartbeats[0], ": heartbeat");
    let stats = app.state.live.stats();
    assert!(stats.active_users_ticks >= 3, "{stats:?}");
    assert_eq!(stats.performance_ticks, 1, "{stats:?}");
    assert_eq!(stats.system_ticks, 1, "{stats:?}");
}

#[tokio::test]
async fn two_watchers_share_one_producer_and_its_queries() {
    // Arrange
    let app = app_with(
        RealtimeMode::Sse,
        LiveSettings {
            active_users_ms: 40,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    let mut first = open_stream(&app, live_request(Some(&admin), None)).await;
    let first_initial = first_three(&mut first).await;
    let mut second = open_stream(&app, live_request(Some(&admin), None)).await;
    let second_initial = first_three(&mut second).await;

    // Act: the second reads six ticks, the first everything up to the same.
    let mut seen_by_second = Vec::new();
    for _ in 0..6 {
        seen_by_second.push(second.next_event().await);
    }
    let mut seen_by_first = Vec::new();
    while seen_by_first.last() != seen_by_second.last() {
        seen_by_first.push(first.next_event().await);
    }
    let stats = app.state.live.stats();

    // Assert: the second got the latest values at once (the very events
    // the first got), then the same ticks; the database was asked once per
    // tick, not once per watcher.
    assert_eq!((stats.watchers, stats.producers), (2, 1), "{stats:?}");
    assert_eq!(
        second_initial[1], first_initial[1],
        "the same performance_tick"
    );
    assert_eq!(
        second_initial[2], first_initial[2],
        "the same system_status"
    );
    assert!(
        seen_by_first.ends_with(&seen_by_second),
        "{seen_by_first:?} does not end with {seen_by_second:?}"
    );
    assert!(seen_by_first.iter().all(|(name, _)| name == "active_users"));
    let ticks_seen = 1 + seen_by_first.len() as u64;
    assert!(
        (ticks_seen..=ticks_seen + 2).contains(&stats.active_users_ticks),
        "{ticks_seen} ticks reached the first watcher, but the hub measured {}",
        stats.active_users_ticks
    );
    assert_eq!(
        (stats.performance_ticks, stats.system_ticks),
        (1, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn live_watchers_beyond_the_cap_get_429_until_one_leaves() {
    // Arrange
    let app = app_with(
        RealtimeMode::Sse,
        LiveSettings {
            max_watchers: 2,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    let first = open_stream(&app, live_request(Some(&admin), None)).await;
    let _second = open_stream(&app, live_request(Some(&admin), None)).await;

    // Act
    let third = app.get("/api/admin/live", &admin).await;
    drop(first);
    wait_for_hub(&app, |s| s.watchers == 1).await;
    let after_one_left = app
        .router
        .clone()
        .oneshot(live_request(Some(&admin), None))
        .await
        .unwrap();

    // Assert
    let message = assert_error(&third, StatusCode::TOO_MANY_REQUESTS);
    assert!(message.contains("live dashboards"), "{message}");
    assert_eq!(after_one_left.status(), StatusCode::OK);
}

#[tokio::test]
async fn dropping_the_stream_leaves_the_hub_and_stops_the_producer() {
    // Arrange
    let app = app_with(
        RealtimeMode::Sse,
        LiveSettings {
            active_users_ms: 20,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    let mut stream = open_stream(&app, live_request(Some(&admin), None)).await;
    first_three(&mut stream).await;
    let watching = app.state.live.stats();

    // Act
    drop(stream);

    // Assert
    assert_eq!((watching.watchers, watching.producers), (1, 1));
    let left = wait_for_hub(&app, |s| s.watchers == 0 && s.producers == 0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = app.state.live.stats();
    assert_eq!(
        later.active_users_ticks, left.active_users_ticks,
        "nothing is measured while nobody watches"
    );
}

#[tokio::test]
async fn the_stream_works_with_the_session_cookie_alone() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, first_values_only()).await;
    let admin = app.create_admin().await;

    // Act
    let mut stream = open_stream(&app, live_request(None, Some(&admin))).await;
    let [active_users, _, _] = first_three(&mut stream).await;

    // Assert
    assert_eq!(active_users.0, "active_users");
    assert_eq!(active_users.1["count"], 1);
}

#[tokio::test]
async fn signing_out_ends_an_open_stream_at_the_next_heartbeat() {
    // Arrange
    let app = app_with(
        RealtimeMode::Sse,
        LiveSettings {
            heartbeat_ms: 30,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    let mut stream = open_stream(&app, live_request(Some(&admin), None)).await;
    first_three(&mut stream).await;
    assert!(matches!(stream.next().await, Some(Frame::Comment(_))));

    // Act
    let (status, _, _) = app.logout(Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);

    // Assert
    while let Some(frame) = stream.next().await {
        assert!(matches!(frame, Frame::Comment(_)), "{frame:?}");
    }
    wait_for_hub(&app, |s| s.watchers == 0 && s.producers == 0).await;
}

#[tokio::test]
async fn closing_the_hub_ends_every_stream_for_a_graceful_shutdown() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, first_values_only()).await;
    let admin = app.create_admin().await;
    let mut stream = open_stream(&app, live_request(Some(&admin), None)).await;
    first_three(&mut stream).await;

    // Act
    app.state.live.close();

    // Assert
    assert!(stream.next().await.is_none(), "the stream ended");
    wait_for_hub(&app, |s| s.watchers == 0 && s.producers == 0).await;
}

// ---------------------------------------------------------------------------
// REALTIME_MODE

fn assert_off(answer: &Answer) {
    let message = assert_error(answer, StatusCode::NOT_FOUND);
    assert!(message.contains("REALTIME_MODE"), "{message}");
}

#[tokio::test]
async fn polling_mode_turns_both_live_endpoints_off_but_not_the_overview() {
    // Arrange
    let app = app_with(RealtimeMode::Polling, first_values_only()).await;
    let admin = app.create_admin().await;

    // Act
    let sse = app.get("/api/admin/live", &admin).await;
    let ws = app.get("/api/admin/live/ws", &admin).await;

    // Assert
    assert_off(&sse);
    assert_off(&ws);
    overview(&app, &admin).await;
    assert_eq!(app.state.live.stats(), HubStats::default());
}

#[tokio::test]
async fn sse_mode_has_no_websocket() {
    // Arrange
    let app = app_with(RealtimeMode::Sse, first_values_only()).await;
    let admin = app.create_admin().await;

    // Act
    let ws = app.get("/api/admin/live/ws", &admin).await;

    // Assert
    assert_off(&ws);
}

#[tokio::test]
async fn ws_mode_has_no_server_sent_events_and_refuses_a_cross_site_handshake() {
    // Arrange
    let app = app_with(RealtimeMode::Ws, first_values_only()).await;
    let admin = app.create_admin().await;
    let (user, _) = app.register("mia@example.com", PASSWORD, "Mia").await;

    // Act
    let sse = app.get("/api/admin/live", &admin).await;
    let not_admin = app.get("/api/admin/live/ws", &user).await;
    let cross_site = app
        .cookie_request(
            Method::GET,
            "/api/admin/live/ws",
            &admin,
            Some("https://evil.example"),
            Some("127.0.0.1:3000"),
        )
        .await;
    let not_a_handshake = app.get("/api/admin/live/ws", &admin).await;

    // Assert
    assert_off(&sse);
    assert_error(&not_admin, StatusCode::FORBIDDEN);
    assert_error(&cross_site, StatusCode::FORBIDDEN);
    assert_error(&not_a_handshake, StatusCode::BAD_REQUEST);
    assert_eq!(app.state.live.stats().watchers, 0);
}

#[tokio::test]
async fn ws_mode_sends_the_events_over_a_websocket() {
    // Arrange
    let app = app_with(
        RealtimeMode::Ws,
        LiveSettings {
            heartbeat_ms: 50,
            ..first_values_only()
        },
    )
    .await;
    let admin = app.create_admin().await;
    clear_request_metrics(&app).await;
    let base = serve(app.router.clone()).await;
    let mut request = format!("{}/api/admin/live/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {admin}").parse().unwrap(),
    );

    // Act
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut messages = Vec::new();
    while messages.len() < 4 {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("nothing arrived on the socket in time")
            .expect("the socket closed")
            .unwrap();
        if let tungstenite::Message::Text(text) = message {
            messages.push(serde_json::from_str::<Value>(&text).unwrap());
        }
    }

    // Assert
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut first = messages[..3].to_vec();
    first.sort_by_key(|m| m["event"].as_str().unwrap_or_default().to_owned());
    // The handshake's own request may or may not be counted yet.
    let integer = insta::dynamic_redaction(|value, _| {
        assert!(value.as_i64().is_some(), "not an integer: {value:?}");
        "[integer]"
    });
    insta::assert_json_snapshot!(first, {
        "[].data.timestamp" => timestamp(),
        "[].data.avgResponseMs" => integer,
    }, @r#"
    [
      {
        "event": "active_users",
        "data": {
          "count": 1,
          "timestamp": "[timestamp]"
        }
      },
      {
        "event": "performance_tick",
        "data": {
          "avgResponseMs": "[integer]",
          "errorRatePct": 0.0,
          "timestamp": "[timestamp]"
        }
      },
      {
        "event": "system_status",
        "data": {
          "api": "green",
          "db": "green",
          "timestamp": "[timestamp]"
        }
      }
    ]
    "#);
    assert_eq!(messages[3], json!({ "event": "heartbeat" }));

    drop(socket);
    wait_for_hub(&app, |s| s.watchers == 0 && s.producers == 0).await;
}

// ---------------------------------------------------------------------------
// Settings

#[test]
fn the_live_cadence_is_read_from_the_settings_and_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str| {
        let path = dir.path().join("tollgate.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::load(Some(&path))
    };

    let tuned = load("[live]\nactive_users_ms = 250\nheartbeat_ms = 1000\n").unwrap();
    let zero = load("[live]\nsystem_ms = 0\n").unwrap_err().to_string();
    let unknown = load("[live]\nevery_ms = 5\n").unwrap_err().to_string();

    assert_eq!(
        (tuned.live.active_users_ms, tuned.live.performance_ms),
        (250, 10_000)
    );
    assert_eq!(
        (tuned.live.system_ms, tuned.live.heartbeat_ms),
        (30_000, 1000)
    );
    assert!(zero.contains("live.system_ms"), "{zero}");
    assert!(unknown.contains("every_ms"), "{unknown}");
}
