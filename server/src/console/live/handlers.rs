//! `/api/admin/stats/overview`, `/api/admin/live` (server-sent events) and
//! `/api/admin/live/ws` (WebSocket). The live endpoints answer 404 unless
//! `features.realtime_mode` selects them.

use std::convert::Infallible;

use axum::{
    Json,
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, header},
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    overview::{self, Counts, Performance, System},
    watch::{Feed, Item},
};
use crate::{
    console::auth::{AdminUser, Credential},
    platform::{
        config::RealtimeMode,
        error::{Error, Result},
    },
    state::AppState,
};

/// The admin contract's overview.
#[derive(Serialize, ToSchema)]
pub struct OverviewAnswer {
    pub success: bool,
    pub overview: Counts,
    pub performance: Performance,
    pub system: System,
}

/// The admin contract's overview: counts, performance and system status.
#[utoipa::path(get, path = "/admin/stats/overview", operation_id = "overview", tag = "admin",
    responses((status = 200, body = OverviewAnswer)))]
#[tracing::instrument(skip_all)]
pub async fn overview(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<OverviewAnswer>> {
    let figures = overview::overview(&state.db).await?;
    Ok(Json(OverviewAnswer {
        success: true,
        overview: figures.overview,
        performance: figures.performance,
        system: figures.system,
    }))
}

/// Server-sent events: `active_users`, `performance_tick`, `system_status`
/// and a `: heartbeat` comment, until the client goes.
#[utoipa::path(get, path = "/admin/live", operation_id = "live_events", tag = "admin",
    responses((status = 200, description = "Events until the client goes (404 unless `features.realtime_mode` is `sse`)", content_type = "text/event-stream", body = String)))]
#[tracing::instrument(skip_all)]
pub async fn live(State(state): State<AppState>, AdminUser(admin): AdminUser) -> Result<Response> {
    require_mode(&state, RealtimeMode::Sse)?;
    let feed = Feed::open(&state.live, state.db.clone(), &admin)?;
    let events = feed
        .into_stream()
        .map(|item| Ok::<_, Infallible>(sse_event(&item)));
    // Proxies such as nginx would otherwise hold events back in a buffer.
    Ok(([("x-accel-buffering", "no")], Sse::new(events)).into_response())
}

/// The same events over a WebSocket, as JSON text messages
/// `{"event": "active_users", "data": {…}}` and `{"event": "heartbeat"}`.
#[utoipa::path(get, path = "/admin/live/ws", operation_id = "live_websocket", tag = "admin",
    responses((status = 101, description = "A WebSocket of JSON events (404 unless `features.realtime_mode` is `ws`)")))]
#[tracing::instrument(skip_all)]
pub async fn live_ws(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    require_mode(&state, RealtimeMode::Ws)?;
    // A handshake is a GET, which the CSRF check lets through; browsers
    // send `Origin` with every one, so a cross-site page cannot ride the
    // admin's cookie.
    if admin.credential == Credential::Cookie && !origin_is_host(&headers) {
        return Err(Error::Forbidden("cross-site WebSocket refused".into()));
    }
    let upgrade = upgrade.map_err(|_| Error::bad_request("expected a WebSocket handshake"))?;
    let feed = Feed::open(&state.live, state.db.clone(), &admin)?;
    Ok(upgrade.on_upgrade(move |socket| relay(socket, feed)))
}

fn require_mode(state: &AppState, mode: RealtimeMode) -> Result<()> {
    if state.settings.features.realtime_mode == mode {
        Ok(())
    } else {
        Err(Error::not_found(
            "this live telemetry endpoint is off (see REALTIME_MODE)",
        ))
    }
}

fn sse_event(item: &Item) -> Event {
    match item {
        Item::Event(event) => Event::default()
            .event(event.kind().name())
            .data(event.data()),
        Item::Heartbeat => Event::default().comment("heartbeat"),
    }
}

fn ws_text(item: &Item) -> String {
    match item {
        // The name is one of three identifiers and the data is JSON.
        Item::Event(event) => format!(
            r#"{{"event":"{}","data":{}}}"#,
            event.kind().name(),
            event.data()
        ),
        Item::Heartbeat => r#"{"event":"heartbeat"}"#.to_owned(),
    }
}

async fn relay(mut socket: WebSocket, mut feed: Feed) {
    loop {
        tokio::select! {
            item = feed.next() => {
                let Some(item) = item else {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                };
                if socket.send(Message::Text(ws_text(&item).into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by the socket itself; anything else
                // the client says is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `Origin`'s authority equals `Host`, or there is no `Origin` (not a
/// browser).
fn origin_is_host(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(rest));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_websocket_handshake_must_come_from_this_host() {
        let mut headers = HeaderMap::new();
        assert!(origin_is_host(&headers), "no Origin: not a browser");
        headers.insert(header::HOST, "127.0.0.1:3000".parse().unwrap());
        headers.insert(header::ORIGIN, "http://127.0.0.1:3000".parse().unwrap());
        assert!(origin_is_host(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!origin_is_host(&headers));
        headers.remove(header::HOST);
        headers.insert(header::ORIGIN, "http://127.0.0.1:3000".parse().unwrap());
        assert!(!origin_is_host(&headers), "no Host to compare with");
    }
}
