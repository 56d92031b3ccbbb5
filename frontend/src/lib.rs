//! The browser half of Tollgate's UI: compiled to WASM, it hydrates the HTML
//! the server rendered so the pages become interactive.

/// Called by the script that `HydrationScripts` puts in every page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
