//! Retention: `retention::prune` (what `tollgate serve` runs every hour and
//! `tollgate admin prune` on demand) deletes old request metrics, sessions
//! long expired and, when configured, old usage rows; it keeps the rest,
//! and the ledger still verifies.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;
use server::{
    console::credits::service::verify,
    gateway::proxy::request::Endpoint,
    platform::{
        config::RetentionSettings,
        entity::{daily_user_usage, request_metric, session, usage_record},
        time,
    },
    retention::{self, BATCH, Never, Pruned},
};

use crate::helpers::{ProxyApp, request_id};

/// More old metrics than one batch takes.
const OLD_METRICS: u64 = 2 * BATCH + 500;

const THIRTY_DAYS: RetentionSettings = RetentionSettings {
    request_metrics_days: 30,
    expired_sessions_days: 7,
    usage_days: 30,
    every_minutes: 60,
};

/// A proxy app with history: four requests (the first two made 40 days
/// old, the second of those with an overrun), metrics from 40 days and an
/// hour ago, and sessions that expired 8 and 6 days ago.
struct History {
    proxy: ProxyApp,
    requests: Vec<String>,
}

async fn history() -> History {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let mut requests = Vec::new();
    for _ in 0..4 {
        let endpoint = Endpoint::ChatCompletions;
        let answer = proxy.ask(endpoint, "mock-test").await;
        assert_eq!(answer.0, StatusCode::OK, "{}", answer.2);
        requests.push(request_id(&answer.1));
    }
    proxy.app.state.usage.flush().await;
    let db = proxy.app.db();
    let old = time::now() - Duration::days(40);
    usage_record::Entity::update_many()
        .col_expr(usage_record::Column::CreatedAt, Expr::value(old))
        .filter(usage_record::Column::Id.is_in([&requests[0], &requests[1]]))
        .exec(db)
        .await
        .unwrap();
    usage_record::Entity::update_many()
        .col_expr(usage_record::Column::Overrun, Expr::value(7))
        .filter(usage_record::Column::Id.eq(&requests[1]))
        .exec(db)
        .await
        .unwrap();

    let metric = |ts| request_metric::ActiveModel {
        ts: Set(ts),
        duration_ms: Set(3),
        status_code: Set(200),
        route: Set("/api/health".to_owned()),
        ..Default::default()
    };
    let old_metrics: Vec<_> = (0..OLD_METRICS).map(|_| metric(old)).collect();
    for chunk in old_metrics.chunks(500) {
        request_metric::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    request_metric::Entity::insert(metric(time::now() - Duration::hours(1)))
        .exec_without_returning(db)
        .await
        .unwrap();

    let user_id = proxy.app.user_id_of(&proxy.user).await;
    for (jti, expired_days_ago) in [("expired-8-days", 8), ("expired-6-days", 6)] {
        let expires_at = time::now() - Duration::days(expired_days_ago);
        session::Entity::insert(session::ActiveModel {
            jti: Set(jti.to_owned()),
            user_id: Set(user_id.clone()),
            created_at: Set(expires_at - Duration::days(7)),
            expires_at: Set(expires_at),
            last_seen_at: Set(expires_at - Duration::days(1)),
            revoked_at: Set(None),
            user_agent: Set(None),
            api_key_id: Set(None),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    // Every request's own metric is in the table before anything counts.
    proxy.app.state.metrics.flush().await;
    History { proxy, requests }
}

impl History {
    async fn usage_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = usage_record::Entity::find()
            .select_only()
            .column(usage_record::Column::Id)
            .into_tuple()
            .all(self.proxy.app.db())
            .await
            .unwrap();
        ids.sort();
        ids
    }

    async fn metrics(&self) -> u64 {
        request_metric::Entity::find()
            .count(self.proxy.app.db())
            .await
            .unwrap()
    }

    async fn session_ids(&self) -> Vec<String> {
        session::Entity::find()
            .all(self.proxy.app.db())
            .await
            .unwrap()
            .into_iter()
            .map(|session| session.jti)
            .collect()
    }

    async fn rollup_requests(&self) -> i64 {
        daily_user_usage::Entity::find()
            .all(self.proxy.app.db())
            .await
            .unwrap()
            .iter()
            .map(|row| row.requests)
            .sum()
    }

    async fn prune(&self, retention: &RetentionSettings) -> Pruned {
        retention::prune(self.proxy.app.db(), retention, Utc::now(), &Never)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn prune_deletes_old_metrics_long_expired_sessions_and_old_usage_and_keeps_the_rest() {
    // Arrange
    let history = history().await;
    let metrics_before = history.metrics().await;
    let sessions_before = history.session_ids().await.len();
    let rollup_before = history.rollup_requests().await;

    // Act
    let pruned = history.prune(&THIRTY_DAYS).await;

    // Assert
    assert_eq!(
        pruned,
        Pruned {
            request_metrics: Some(OLD_METRICS),
            sessions: Some(1),
            usage_records: Some(1),
        }
    );
    assert_eq!(history.metrics().await, metrics_before - OLD_METRICS);
    let sessions = history.session_ids().await;
    assert_eq!(sessions.len(), sessions_before - 1);
    assert!(
        !sessions.contains(&"expired-8-days".to_owned()),
        "{sessions:?}"
    );
    assert!(
        sessions.contains(&"expired-6-days".to_owned()),
        "{sessions:?}"
    );
    // The old row with an overrun stays: the ledger's proof reads it.
    let mut kept = history.requests[1..].to_vec();
    kept.sort();
    assert_eq!(history.usage_ids().await, kept);
    assert_eq!(history.rollup_requests().await, rollup_before);
    assert_eq!(verify(history.proxy.app.db()).await.unwrap(), []);
    // The user's own session still works.
    let (status, _, body) = history.proxy.app.me(&history.proxy.user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
}

#[tokio::test]
async fn by_default_usage_is_kept_forever_and_a_second_pass_deletes_nothing() {
    // Arrange
    let history = history().await;
    let retention = RetentionSettings::default();

    // Act
    let first = history.prune(&retention).await;
    let second = history.prune(&retention).await;

    // Assert
    assert_eq!(first.usage_records, None);
    assert_eq!(first.request_metrics, Some(OLD_METRICS));
    assert_eq!(first.sessions, Some(1));
    assert_eq!(history.usage_ids().await.len(), 4);
    assert_eq!(
        second,
        Pruned {
            request_metrics: Some(0),
            sessions: Some(0),
            usage_records: None,
        }
    );
    assert_eq!(verify(history.proxy.app.db()).await.unwrap(), []);
}
