//! The admin's live telemetry in the browser: server-sent events from
//! `/api/admin/live` or JSON messages from the WebSocket at
//! `/api/admin/live/ws`, as `REALTIME_MODE` says. Each event reaches the
//! page as its name and JSON data. The connection closes when the page goes.

/// Listens while the calling component is on the page (browser only).
/// `mode` is `sse` or `ws`; any other mode listens to nothing (polling is
/// the page's own timer).
pub fn subscribe(mode: &str, on_event: impl Fn(&str, &str) + 'static) {
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

    /// The event names the server sends.
    const EVENTS: [&str; 3] = ["active_users", "performance_tick", "system_status"];

    type Callback = Closure<dyn FnMut(MessageEvent)>;
    /// The page's handler: an event's name and its JSON data.
    type OnEvent = Rc<dyn Fn(&str, &str)>;

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

    pub fn subscribe(mode: &str, on_event: impl Fn(&str, &str) + 'static) {
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
                    if let Some(data) = event.data().as_string() {
                        on_event(name, &data);
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
            #[derive(serde::Deserialize)]
            struct Envelope {
                event: String,
                #[serde(default)]
                data: Option<serde_json::Value>,
            }
            let Some(text) = message.data().as_string() else {
                return;
            };
            if let Ok(Envelope {
                event,
                data: Some(data),
            }) = serde_json::from_str(&text)
            {
                on_event(&event, &data.to_string());
            }
        });
        socket.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        Some(Connection::Socket {
            socket,
            _callback: callback,
        })
    }
}
