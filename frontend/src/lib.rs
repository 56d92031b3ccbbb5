//! The browser half of Tollgate's UI, compiled to WASM.
//!
//! - `hydrate` (the product build, `cargo leptos build`): makes the HTML the
//!   server rendered interactive.
//! - `csr` (the UI loop, `trunk serve`): renders the whole app in the browser,
//!   with server functions answered by a running Tollgate behind Trunk's proxy.

/// Called by the script that `HydrationScripts` puts in every page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`: some routes are loaded on demand (`app::pages::lazy`).
    leptos::mount::hydrate_lazy(app::App);
}

/// Runs when Trunk's page loads the module.
#[cfg(all(feature = "csr", not(feature = "hydrate")))]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
