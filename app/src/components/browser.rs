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

/// Calls `tick` every `period` while the calling component is on the page,
/// in the browser only (effects never run on the server); the timer stops
/// when the component goes away.
pub fn every(period: Duration, tick: impl Fn() + 'static) {
    let tick = std::rc::Rc::new(tick);
    Effect::new(move |_| {
        let tick = std::rc::Rc::clone(&tick);
        if let Ok(handle) = set_interval_with_handle(move || tick(), period) {
            on_cleanup(move || handle.clear());
        }
    });
}
