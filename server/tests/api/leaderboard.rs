//! The hackathon dashboard: `/api/stats`, `/api/leaderboard` and
//! `/api/presence`, for any signed-in user or API key, and the
//! `GAMIFICATION` flag that hides the leaderboard and presence.

use crate::helpers::strings_in;
use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use server::platform::entity::session;

use crate::{
    admin_analytics::{ask, get, named_person, person, timestamp, user_ids},
    helpers::{Answer, ProxyApp, assert_error, assert_iso_millis, string_at},
};

/// A request authenticated by `x-api-key` only.
async fn with_key(app: &ProxyApp, method: Method, path: &str, key: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap();
    app.app.send(request).await
}

async fn pause() {
    // Timestamps have milliseconds: make "later" unambiguous.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

#[tokio::test]
async fn stats_count_requests_users_and_the_top_model() {
    // Arrange
    let app = ProxyApp::start().await;
    app.route("mock", "alpha").await;
    app.route("mock", "beta").await;
    let empty = get(&app.app, "/api/stats", &app.user).await;
    let max = person(&app, "max@example.com", "Max").await;
    ask(&app, &app.key, "alpha", 3, StatusCode::OK).await;
    ask(&app, &max.key, "beta", 4, StatusCode::OK).await;
    ask(&app, &max.key, "no-such-model", 1, StatusCode::NOT_FOUND).await;
    app.usage_rows().await;

    // Act
    let body = get(&app.app, "/api/stats", &app.user).await;
    let by_key = with_key(&app, Method::GET, "/api/stats", &max.key).await;

    // Assert
    insta::assert_json_snapshot!(empty, @r#"
    {
      "success": true,
      "total_requests": 0,
      "active_users_24h": 2,
      "top_model": null,
      "top_model_label": "no data yet",
      "total_users": 2
    }
    "#);
    insta::assert_json_snapshot!(body, @r#"
    {
      "success": true,
      "total_requests": 7,
      "active_users_24h": 3,
      "top_model": {
        "model": "beta",
        "requests": 4
      },
      "top_model_label": "beta",
      "total_users": 3
    }
    "#);
    assert_eq!(by_key.0, StatusCode::OK, "{}", by_key.2);
    assert_eq!(by_key.2, body);
}

#[tokio::test]
async fn the_leaderboard_ranks_by_requests_then_whoever_got_there_first() {
    // Arrange: Max and Lena both make four requests, Max first; Kim one.
    let app = ProxyApp::start().await;
    app.route("mock", "alpha").await;
    app.route("mock", "beta").await;
    let lena = app.app.user_id_of(&app.user).await;
    let max = person(&app, "max@example.com", "Max").await;
    let kim = person(&app, "kim@example.com", "Kim").await;
    ask(&app, &max.key, "beta", 4, StatusCode::OK).await;
    pause().await;
    ask(&app, &app.key, "alpha", 3, StatusCode::OK).await;
    ask(&app, &app.key, "beta", 1, StatusCode::OK).await;
    ask(&app, &kim.key, "alpha", 1, StatusCode::OK).await;
    app.usage_rows().await;

    // Act
    let body = get(&app.app, "/api/leaderboard", &app.user).await;
    let first = get(&app.app, "/api/leaderboard?limit=1", &app.user).await;
    let capped = get(&app.app, "/api/leaderboard?limit=100000", &app.user).await;
    let by_key = with_key(&app, Method::GET, "/api/leaderboard", &kim.key).await;

    // Assert: Max's ids is later than Lena's, so only the time puts him first.
    assert!(max.id > lena, "Max registered after Lena");
    insta::assert_json_snapshot!(body, {
        ".leaderboard[].user_id" => user_ids(&[(&lena, "lena"), (&max.id, "max"), (&kim.id, "kim")]),
        ".leaderboard[].last_active_at" => timestamp(),
    }, @r#"
    {
      "success": true,
      "leaderboard": [
        {
          "rank": 1,
          "user_id": "[max]",
          "name": "Max",
          "requests": 4,
          "top_model": "beta",
          "models_used": 1,
          "last_active": "just now",
          "last_active_at": "[timestamp]"
        },
        {
          "rank": 2,
          "user_id": "[lena]",
          "name": "Lena",
          "requests": 4,
          "top_model": "alpha",
          "models_used": 2,
          "last_active": "just now",
          "last_active_at": "[timestamp]"
        },
        {
          "rank": 3,
          "user_id": "[kim]",
          "name": "Kim",
          "requests": 1,
          "top_model": "alpha",
          "models_used": 1,
          "last_active": "just now",
          "last_active_at": "[timestamp]"
        }
      ]
    }
    "#);
    let times = strings_in(&body["leaderboard"], "/last_active_at");
    assert!(
        times[0] < times[1],
        "the tie goes to the earlier: {times:?}"
    );
    assert_eq!(first["leaderboard"].as_array().unwrap().len(), 1);
    assert_eq!(first["leaderboard"][0]["user_id"], json!(max.id));
    assert_eq!(capped["leaderboard"], body["leaderboard"]);
    assert_eq!(by_key.0, StatusCode::OK, "{}", by_key.2);
    for bad in ["0", "-3", "ten"] {
        let answer = app
            .app
            .get(&format!("/api/leaderboard?limit={bad}"), &app.user)
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
    }
}

/// Lena's presence heartbeat, by her session.
async fn beat(app: &ProxyApp) -> Answer {
    app.app
        .request(Method::POST, "/api/presence", None, Some(&app.user))
        .await
}

#[tokio::test]
async fn presence_lists_callers_seen_by_session_or_api_key_in_the_last_five_minutes() {
    // Arrange: the admin signed in, then Lena registered; Lena sends a
    // heartbeat with her session, then Kim (created by name, no session)
    // with her API key.
    let app = ProxyApp::start().await;
    let admin = app.app.user_id_of(&app.admin).await;
    let lena = app.app.user_id_of(&app.user).await;
    let (kim, kim_key) = named_person(&app, "Kim").await;
    // Lena's session was last seen two minutes ago.
    let two_minutes_ago = server::platform::time::now() - Duration::minutes(2);
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(two_minutes_ago))
        .filter(session::Column::UserId.eq(lena.as_str()))
        .exec(app.app.db())
        .await
        .unwrap();
    pause().await;
    let (status, _, lena_beat) = beat(&app).await;
    let touched = lena_session_seen_at(&app, &lena).await;
    pause().await;
    let (again, _, _) = beat(&app).await;
    let untouched = lena_session_seen_at(&app, &lena).await;
    pause().await;
    let kim_beat = with_key(&app, Method::POST, "/api/presence", &kim_key).await;

    // Act
    let body = get(&app.app, "/api/presence", &app.admin).await;
    let by_key = with_key(&app, Method::GET, "/api/presence", &kim_key).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{lena_beat}");
    assert_eq!(lena_beat["success"], json!(true));
    assert_iso_millis(&string_at(&lena_beat, "/last_seen_at"));
    assert_eq!(kim_beat.0, StatusCode::OK, "{}", kim_beat.2);
    insta::assert_json_snapshot!(body, {
        ".online[].user_id" => user_ids(&[(&lena, "lena"), (&kim, "kim"), (&admin, "admin")]),
        ".online[].last_seen_at" => timestamp(),
    }, @r#"
    {
      "success": true,
      "online": [
        {
          "user_id": "[kim]",
          "name": "Kim",
          "last_seen_at": "[timestamp]"
        },
        {
          "user_id": "[lena]",
          "name": "Lena",
          "last_seen_at": "[timestamp]"
        },
        {
          "user_id": "[admin]",
          "name": "Ada Admin",
          "last_seen_at": "[timestamp]"
        }
      ],
      "count": 3
    }
    "#);
    assert_eq!(
        body["online"][0]["last_seen_at"], kim_beat.2["last_seen_at"],
        "the latest heartbeat first"
    );
    assert_eq!(by_key.0, StatusCode::OK);
    assert_eq!(by_key.2["count"], json!(3));
    // The heartbeat refreshed Lena's session (two minutes old), and the
    // one right after it wrote nothing (once a minute at most).
    assert_eq!(again, StatusCode::OK);
    assert!(
        touched > two_minutes_ago + Duration::minutes(1),
        "{touched}"
    );
    assert!(touched <= server::platform::time::now());
    assert_eq!(untouched, touched);
}

async fn lena_session_seen_at(app: &ProxyApp, lena: &str) -> DateTime<Utc> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(lena))
        .one(app.app.db())
        .await
        .unwrap()
        .expect("Lena has a session")
        .last_seen_at
}

#[tokio::test]
async fn presence_forgets_callers_after_five_minutes() {
    // Arrange: a heartbeat six minutes ago, in the in-memory map.
    let app = ProxyApp::start().await;
    let (kim, _) = named_person(&app, "Kim").await;
    let long_ago = server::platform::time::now() - Duration::minutes(6);
    app.app.state.presence.beat(&kim, long_ago);

    // Act
    let body = get(&app.app, "/api/presence", &app.admin).await;

    // Assert: only the two who signed in just now.
    let online = strings_in(&body["online"], "/user_id");
    assert_eq!(online.len(), 2, "{body}");
    assert!(!online.contains(&kim), "{body}");
}

#[tokio::test]
async fn with_gamification_off_the_leaderboard_and_presence_do_not_exist() {
    // Arrange
    let app = ProxyApp::start_with(|settings| settings.features.gamification = false).await;

    // Act
    let leaderboard = app.app.get("/api/leaderboard", &app.user).await;
    let online = app.app.get("/api/presence", &app.user).await;
    let beat = beat(&app).await;
    let beat_by_key = with_key(&app, Method::POST, "/api/presence", &app.key).await;
    let stats = app.app.get("/api/stats", &app.user).await;

    // Assert
    for answer in [&leaderboard, &online, &beat, &beat_by_key] {
        assert_error(answer, StatusCode::NOT_FOUND);
    }
    assert_eq!(stats.0, StatusCode::OK, "the headline figures stay");
}

#[tokio::test]
async fn the_dashboard_needs_a_signed_in_user_or_a_valid_key() {
    let app = ProxyApp::start().await;
    for (method, path) in [
        (Method::GET, "/api/stats"),
        (Method::GET, "/api/leaderboard"),
        (Method::GET, "/api/presence"),
        (Method::POST, "/api/presence"),
    ] {
        let anonymous = app.app.request(method.clone(), path, None, None).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED);
        let bad_key = with_key(&app, method.clone(), path, "tg-not-a-real-key").await;
        assert_error(&bad_key, StatusCode::UNAUTHORIZED);
    }
    // A cookie-only heartbeat from another site is refused (CSRF).
    let token = app.user.clone();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/presence")
        .header(header::COOKIE, format!("tollgate_session={token}"))
        .header(header::ORIGIN, "http://evil.example")
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap();
    assert_error(&app.app.send(request).await, StatusCode::FORBIDDEN);
}

/// Lena (trial, the app's user), Max (trial) and Kim (pro) each made a
/// request; returns their ids in that order.
async fn three_players(app: &ProxyApp) -> [String; 3] {
    app.route("mock", "alpha").await;
    let lena = app.app.user_id_of(&app.user).await;
    let max = person(app, "max@example.com", "Max").await;
    let kim = person(app, "kim@example.com", "Kim").await;
    app.app
        .patch_ok(
            &format!("/api/admin/users/{}", kim.id),
            json!({ "plan": "pro" }),
            &app.admin,
        )
        .await;
    ask(app, &app.key, "alpha", 3, StatusCode::OK).await;
    ask(app, &max.key, "alpha", 2, StatusCode::OK).await;
    ask(app, &kim.key, "alpha", 1, StatusCode::OK).await;
    app.usage_rows().await;
    [lena, max.id, kim.id]
}

/// `(user_id, name)` of each row of `list` in `body`.
fn who(body: &serde_json::Value, list: &str) -> Vec<(serde_json::Value, String)> {
    body[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {body}"))
        .iter()
        .map(|row| (row["user_id"].clone(), string_at(row, "/name")))
        .collect()
}

#[tokio::test]
async fn visible_to_admins_only_a_user_sees_their_own_name_and_anonymous_places() {
    // Arrange
    let app = ProxyApp::start_with(|settings| {
        settings.features.leaderboard_visibility =
            server::platform::config::LeaderboardVisibility::Admins;
    })
    .await;
    let [lena, max, kim] = three_players(&app).await;

    // Act
    let board = get(&app.app, "/api/leaderboard", &app.user).await;
    let online = get(&app.app, "/api/presence", &app.user).await;
    let by_key = with_key(&app, Method::GET, "/api/leaderboard", &app.key).await;
    let admin_board = get(&app.app, "/api/leaderboard", &app.admin).await;
    let admin_online = get(&app.app, "/api/presence", &app.admin).await;

    // Assert: ranks and figures stay, names and ids of others go.
    let hidden = (json!(null), "Anonymous".to_owned());
    assert_eq!(
        who(&board, "leaderboard"),
        [
            (json!(lena), "Lena".to_owned()),
            hidden.clone(),
            hidden.clone()
        ]
    );
    assert_eq!(board["leaderboard"][1]["requests"], json!(2));
    assert_eq!(by_key.2, board, "an API key sees what its owner sees");
    let online_names = who(&online, "online");
    assert_eq!(online_names.len(), 4, "{online}");
    assert_eq!(
        online_names
            .iter()
            .filter(|row| row.1 != "Anonymous")
            .collect::<Vec<_>>(),
        [&(json!(lena), "Lena".to_owned())]
    );
    assert!(!online.to_string().contains(&max) && !online.to_string().contains(&kim));
    assert_eq!(
        who(&admin_board, "leaderboard"),
        [
            (json!(lena), "Lena".to_owned()),
            (json!(max), "Max".to_owned()),
            (json!(kim), "Kim".to_owned()),
        ]
    );
    assert!(
        !admin_online.to_string().contains("Anonymous"),
        "{admin_online}"
    );
}

#[tokio::test]
async fn by_default_everyone_sees_every_name_and_within_the_same_plan_only_those_on_it() {
    use server::platform::config::LeaderboardVisibility;

    // Kim is on pro, Lena (who asks) and Max on trial.
    let cases = [
        ("by default", None, true),
        (
            "within the same plan",
            Some(LeaderboardVisibility::SamePlan),
            false,
        ),
    ];
    for (case, visibility, kim_named) in cases {
        // Arrange
        let app = ProxyApp::start_with(|settings| {
            if let Some(visibility) = visibility {
                settings.features.leaderboard_visibility = visibility;
            }
        })
        .await;
        let [lena, max, kim] = three_players(&app).await;

        // Act
        let board = get(&app.app, "/api/leaderboard", &app.user).await;

        // Assert
        let kim = if kim_named {
            (json!(kim), "Kim".to_owned())
        } else {
            (json!(null), "Anonymous".to_owned())
        };
        let expected = [
            (json!(lena), "Lena".to_owned()),
            (json!(max), "Max".to_owned()),
            kim,
        ];
        assert_eq!(who(&board, "leaderboard"), expected, "{case}");
    }
}
