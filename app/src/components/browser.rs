//! The few browser APIs the pages use. On the server these do nothing: they
//! only run in event handlers, which run in the browser.

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
