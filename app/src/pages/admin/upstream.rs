//! `/admin/upstream`: the configured upstream panel (for example a CLI
//! proxy's control panel) in a frame, or a clear note that none is set.

use leptos::{either::EitherOf3, prelude::*};
use leptos_meta::Title;

use crate::{
    api::admin::insights::admin_settings, components::error_view::page_error,
    pages::admin::AdminNav,
};

#[component]
pub fn AdminUpstreamPage() -> impl IntoView {
    let settings = Resource::new(|| (), |_| admin_settings());
    view! {
        <Title text="Upstream panel — Tollgate" />
        <AdminNav />
        <h1>"Upstream panel"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(settings) => match settings.upstream_panel_url {
                        Some(url) => EitherOf3::A(view! {
                            // Scripts and forms work; a panel on this site
                            // runs without its origin, so it cannot call
                            // Tollgate with the admin's cookie.
                            <p class="muted">
                                "Showing " <a href=url.clone() target="_blank" rel="noopener">{url.clone()}</a>
                                " (opens in a new tab too)."
                            </p>
                            <iframe
                                class="upstream-frame"
                                id="upstream-frame"
                                src=url
                                title="Upstream panel"
                                sandbox=sandbox(settings.upstream_panel_on_this_site)
                                referrerpolicy="no-referrer"
                            ></iframe>
                        }),
                        None => EitherOf3::B(view! {
                            <div class="empty-state" id="no-upstream-panel">
                                <p><strong>"No upstream panel is configured."</strong></p>
                                <p class="muted">
                                    "Set " <code>"ui.upstream_panel_url"</code> " in the configuration file, or "
                                    <code>"UPSTREAM_PANEL_URL"</code>
                                    ", to the page to embed here — for example a CLI proxy's "
                                    <code>"/cliproxy/control-panel"</code> "."
                                </p>
                            </div>
                        }),
                    },
                    Err(error) => EitherOf3::C(page_error(error)),
                }
            })}
        </Suspense>
    }
}

/// What the framed panel may do.
fn sandbox(on_this_site: bool) -> &'static str {
    if on_this_site {
        "allow-scripts allow-forms allow-popups"
    } else {
        "allow-scripts allow-forms allow-popups allow-same-origin"
    }
}
