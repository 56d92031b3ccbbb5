//! Pages whose code the browser loads only when they are first visited:
//! with `cargo leptos build --split` (the `split` feature), each becomes
//! its own WASM chunk, so the first page of a visit downloads the app's
//! shared part and that page alone (see docs/build.md for the sizes).
//! Without the feature (scripts/build-site.sh, plain cargo) they are the
//! same routes in one bundle. The server renders them like any page.

use leptos::prelude::*;
use leptos_router::LazyRoute;
#[cfg(feature = "split")]
use leptos_router::lazy_route;

use crate::pages::{
    admin::{
        analytics::AdminAnalyticsPage, audit::AdminAuditPage, catalog::AdminCatalogPage,
        grants::AdminGrantsPage, invitations::AdminInvitationsPage, overview::AdminOverviewPage,
        upstream::AdminUpstreamPage, user::AdminUserPage, users::AdminUsersPage,
    },
    credits::CreditsPage,
    dashboard::DashboardPage,
    keys::KeysPage,
    leaderboard::LeaderboardPage,
    reference::ApiReferencePage,
    setup::SetupPage,
    usage::UsagePage,
};

/// A route type per page; the page itself starts its own data loading, so
/// `data` has nothing to do.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        pub struct $route;

        #[cfg(feature = "split")]
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }

        #[cfg(not(feature = "split"))]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            async fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    DashboardRoute => DashboardPage,
    UsageRoute => UsagePage,
    CreditsRoute => CreditsPage,
    LeaderboardRoute => LeaderboardPage,
    KeysRoute => KeysPage,
    SetupRoute => SetupPage,
    ApiReferenceRoute => ApiReferencePage,
    AdminOverviewRoute => AdminOverviewPage,
    AdminUsersRoute => AdminUsersPage,
    AdminUserRoute => AdminUserPage,
    AdminGrantsRoute => AdminGrantsPage,
    AdminInvitationsRoute => AdminInvitationsPage,
    AdminCatalogRoute => AdminCatalogPage,
    AdminAnalyticsRoute => AdminAnalyticsPage,
    AdminAuditRoute => AdminAuditPage,
    AdminUpstreamRoute => AdminUpstreamPage,
}
