//! The admin's pages, under `/admin`. Each calls admin-only server
//! functions, which answer 401/403 to anyone else; the pages send people
//! who are not signed in to the sign-in page.

pub mod analytics;
pub mod audit;
pub mod catalog;
pub mod grants;
pub mod invitations;
pub mod overview;
pub mod upstream;
pub mod user;
pub mod users;

use leptos::prelude::*;
use leptos_router::components::A;

/// The admin section's own navigation, on every admin page. Its type is
/// erased (`AnyView`): nested in every admin page's view, it would
/// otherwise make those types too deep for release builds.
#[component]
pub fn AdminNav() -> AnyView {
    view! {
        <nav class="subnav" aria-label="Admin">
            <A href="/admin" exact=true>"Overview"</A>
            <A href="/admin/users">"Users"</A>
            <A href="/admin/grants">"Grants"</A>
            <A href="/admin/invitations">"Invitations"</A>
            <A href="/admin/models">"Providers & models"</A>
            <A href="/admin/analytics">"Analytics"</A>
            <A href="/admin/audit">"Audit log"</A>
            <A href="/admin/upstream">"Upstream panel"</A>
        </nav>
    }
    .into_any()
}
