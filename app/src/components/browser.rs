//! The few browser APIs the pages use. On the server these do nothing: they
//! only run in event handlers and effects, which run in the browser.

use std::time::Duration;

use leptos::prelude::*;

/// Puts text on the clipboard.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    if let Some(window) = web_sys::window() {
        // The promise settles on its own; a refusal leaves the text on screen.
        let _ = window.navigator().clipboard().write_text(text);
    }
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let _ = text;
}

/// Asks the person to confirm; `false` when they cancel.
pub fn confirm(message: &str) -> bool {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    let answer = web_sys::window()
        .and_then(|window| window.confirm_with_message(message).ok())
        .unwrap_or(false);
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let answer = {
        let _ = message;
        false
    };
    answer
}

/// A fire-and-forget `POST` to our own origin with the session cookie
/// (`navigator.sendBeacon`): made for heartbeats, it never blocks the page
/// and needs no answer.
pub fn beacon(url: &str) {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().send_beacon(url);
    }
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let _ = url;
}

/// Calls `tick` every `period` while the calling component is on the page
/// and the tab is in view, in the browser only (effects never run on the
/// server); a tab in the background asks nothing. The timer stops when the
/// component goes away.
pub fn every(period: Duration, tick: impl Fn() + 'static) {
    let tick = std::rc::Rc::new(tick);
    Effect::new(move |_| {
        let tick = std::rc::Rc::clone(&tick);
        let handle = set_interval_with_handle(
            move || {
                if !tab_hidden() {
                    tick();
                }
            },
            period,
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    });
}

/// Whether the page's tab is in the background (`document.hidden`).
fn tab_hidden() -> bool {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    let hidden = web_sys::window()
        .and_then(|window| window.document())
        .is_some_and(|document| document.hidden());
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let hidden = false;
    hidden
}

/// A new id for one submission of a form, used as its idempotency key:
/// the time and 52 random bits (empty on the server, where it is never
/// needed).
pub fn fresh_id() -> String {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    let id = format!(
        "ui-{}-{:013x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 4_503_599_627_370_496.0) as u64
    );
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let id = String::new();
    id
}

/// Scrolls back to the top of the page (where the forms are).
pub fn scroll_to_top() {
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    if let Some(window) = web_sys::window() {
        window.scroll_to_with_x_and_y(0.0, 0.0);
    }
}
