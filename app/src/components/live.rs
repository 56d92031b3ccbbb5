//! The admin's live telemetry in the browser: server-sent events from
//! `/api/admin/live` or JSON messages from the WebSocket at
//! `/api/admin/live/ws`, as `REALTIME_MODE` says. Each event reaches the
//! page read into its type; the connection closes when the page goes.

use contract::live::{ActiveUsers, PerformanceTick, SystemStatus};
use serde::Deserialize;

/// One event of the live telemetry. Over the WebSocket it comes as
/// `{"event": "active_users", "data": {…}}`, which this reads directly.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum LiveEvent {
    ActiveUsers(ActiveUsers),
    PerformanceTick(PerformanceTick),
    SystemStatus(SystemStatus),
    Heartbeat,
}

impl LiveEvent {
    /// A server-sent event: its name and its data; `None` for a name or
    /// data this page does not know.
    pub fn from_sse(name: &str, data: &str) -> Option<Self> {
        match name {
            "active_users" => serde_json::from_str(data).ok().map(Self::ActiveUsers),
            "performance_tick" => serde_json::from_str(data).ok().map(Self::PerformanceTick),
            "system_status" => serde_json::from_str(data).ok().map(Self::SystemStatus),
            _ => None,
        }
    }
}

/// Listens while the calling component is on the page (browser only).
/// `mode` is `sse` or `ws`; any other mode listens to nothing (polling is
/// the page's own timer).
pub fn subscribe(mode: &str, on_event: impl Fn(LiveEvent) + 'static) {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    browser::subscribe(mode, on_event);
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let _ = (mode, on_event);
}

#[cfg(any(feature = "hydrate", feature = "csr"))]
mod browser {
    use std::rc::Rc;

    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{EventSource, MessageEvent, WebSocket};

    use super::LiveEvent;

    /// The event names the server sends.
    const EVENTS: [&str; 3] = ["active_users", "performance_tick", "system_status"];

    type Callback = Closure<dyn FnMut(MessageEvent)>;
    /// The page's handler.
    type OnEvent = Rc<dyn Fn(LiveEvent)>;

    /// A connection and the callbacks it calls, which must live as long.
    enum Connection {
        Events {
            source: EventSource,
            _callbacks: Vec<Callback>,
        },
        Socket {
            socket: WebSocket,
            _callback: Callback,
        },
    }

    impl Connection {
        fn close(&self) {
            match self {
                Self::Events { source, .. } => source.close(),
                Self::Socket { socket, .. } => {
                    let _ = socket.close();
                }
            }
        }
    }

    pub fn subscribe(mode: &str, on_event: impl Fn(LiveEvent) + 'static) {
        let on_event = Rc::new(on_event);
        let connection = match mode {
            "sse" => events(on_event),
            "ws" => socket(on_event),
            _ => None,
        };
        if let Some(connection) = connection {
            // Kept (with its callbacks) until the page goes, then closed.
            let kept = StoredValue::new_local(connection);
            on_cleanup(move || kept.with_value(Connection::close));
        }
    }

    fn events(on_event: OnEvent) -> Option<Connection> {
        let source = EventSource::new("/api/admin/live").ok()?;
        let callbacks = EVENTS
            .iter()
            .map(|&name| {
                let on_event = Rc::clone(&on_event);
                let callback = Callback::new(move |event: MessageEvent| {
                    let data = event.data().as_string().unwrap_or_default();
                    if let Some(event) = LiveEvent::from_sse(name, &data) {
                        on_event(event);
                    }
                });
                let _ = source
                    .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
                callback
            })
            .collect();
        Some(Connection::Events {
            source,
            _callbacks: callbacks,
        })
    }

    fn socket(on_event: OnEvent) -> Option<Connection> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let socket = WebSocket::new(&format!(
            "{scheme}://{}/api/admin/live/ws",
            location.host().ok()?
        ))
        .ok()?;
        let callback = Callback::new(move |message: MessageEvent| {
            let text = message.data().as_string().unwrap_or_default();
            if let Ok(event) = serde_json::from_str(&text) {
                on_event(event);
            }
        });
        socket.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        Some(Connection::Socket {
            socket,
            _callback: callback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_messages_and_server_sent_events_read_alike() {
        let message = r#"{"event":"performance_tick","data":{"avgResponseMs":183,"errorRatePct":0.7,"timestamp":"2026-11-25T10:00:00Z"}}"#;
        let read: LiveEvent = serde_json::from_str(message).unwrap();
        let data = r#"{"avgResponseMs":183,"errorRatePct":0.7,"timestamp":"2026-11-25T10:00:00Z"}"#;
        let tick: PerformanceTick = serde_json::from_str(data).unwrap();
        assert_eq!(
            (
                tick.avg_response_ms,
                tick.error_rate_pct,
                tick.timestamp.as_str()
            ),
            (183, 0.7, "2026-11-25T10:00:00Z")
        );
        assert_eq!(read, LiveEvent::PerformanceTick(tick.clone()));
        assert_eq!(
            LiveEvent::from_sse("performance_tick", data),
            Some(LiveEvent::PerformanceTick(tick))
        );

        let heartbeat: LiveEvent = serde_json::from_str(r#"{"event":"heartbeat"}"#).unwrap();
        assert_eq!(heartbeat, LiveEvent::Heartbeat);
        assert!(serde_json::from_str::<LiveEvent>(r#"{"event":"unknown","data":{}}"#).is_err());
        assert_eq!(LiveEvent::from_sse("active_users", "not json"), None);
        assert_eq!(LiveEvent::from_sse("unknown", "{}"), None);
    }
}
