//! Tollgate's web UI: a Leptos app rendered on the server and hydrated in the
//! browser. Pages live in [`pages`], reusable pieces in [`components`], the
//! server functions they call in [`api`] (which use the same services as the
//! REST API), and the types both sides share in [`dto`].

pub mod api;
pub mod components;
pub mod dto;
pub mod error;
pub mod format;
pub mod pages;
pub mod query;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy,
    components::{Route, Router, Routes},
    path,
};

use crate::{
    api::{
        analytics::feature_flags,
        auth::{Login, LoginWithKey, Logout, Register, current_user},
    },
    components::{
        layout::Header,
        toast::{ToastRegion, Toasts},
    },
    pages::{
        landing::LandingPage,
        lazy::{
            AdminAnalyticsRoute, AdminAuditRoute, AdminCatalogRoute, AdminGrantsRoute,
            AdminInvitationsRoute, AdminOverviewRoute, AdminUpstreamRoute, AdminUserRoute,
            AdminUsersRoute, ApiReferenceRoute, CreditsRoute, DashboardRoute, KeysRoute,
            LeaderboardRoute, SetupRoute, UsageRoute,
        },
        login::LoginPage,
        not_found::NotFoundPage,
        register::RegisterPage,
    },
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The session as the UI sees it: sign-in actions and the current user,
/// refetched whenever one of the actions completes.
#[derive(Clone, Copy)]
pub struct Session {
    pub login: ServerAction<Login>,
    pub login_with_key: ServerAction<LoginWithKey>,
    pub register: ServerAction<Register>,
    pub logout: ServerAction<Logout>,
    pub user: Resource<Result<Option<dto::UserView>, error::AppError>>,
}

/// The switchable parts of the UI (the leaderboard and presence), read once
/// per page load.
#[derive(Clone, Copy)]
pub struct Features(pub Resource<Result<dto::UiFeatures, error::AppError>>);

impl Features {
    /// Whether the leaderboard and presence are on; off when unknown.
    pub async fn gamification(self) -> bool {
        self.0.await.is_ok_and(|features| features.gamification)
    }

    /// Who may register; open when unknown (the server decides anyway).
    pub async fn registration(self) -> dto::RegistrationMode {
        self.0
            .await
            .map_or(dto::RegistrationMode::Open, |features| {
                features.registration
            })
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let login = ServerAction::<Login>::new();
    let login_with_key = ServerAction::<LoginWithKey>::new();
    let register = ServerAction::<Register>::new();
    let logout = ServerAction::<Logout>::new();
    let user = Resource::new(
        move || {
            (
                login.version().get(),
                login_with_key.version().get(),
                register.version().get(),
                logout.version().get(),
            )
        },
        |_| current_user(),
    );
    provide_context(Session {
        login,
        login_with_key,
        register,
        logout,
        user,
    });
    provide_context(Features(Resource::new(|| (), |_| feature_flags())));
    Toasts::provide();
    // Effects run only in the browser: the attribute tells people's tools
    // (and the browser tests) that the page is interactive.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/tollgate.css" />
        <Title text="Tollgate" />
        <Router>
            <Header />
            <main class="page" id="main" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=LandingPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/register") view=RegisterPage />
                    <Route path=path!("/dashboard") view={Lazy::<DashboardRoute>::new()} />
                    <Route path=path!("/usage") view={Lazy::<UsageRoute>::new()} />
                    <Route path=path!("/credits") view={Lazy::<CreditsRoute>::new()} />
                    <Route path=path!("/leaderboard") view={Lazy::<LeaderboardRoute>::new()} />
                    <Route path=path!("/keys") view={Lazy::<KeysRoute>::new()} />
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} />
                    <Route path=path!("/api-reference") view={Lazy::<ApiReferenceRoute>::new()} />
                    <Route path=path!("/admin") view={Lazy::<AdminOverviewRoute>::new()} />
                    <Route path=path!("/admin/users") view={Lazy::<AdminUsersRoute>::new()} />
                    <Route path=path!("/admin/users/:id") view={Lazy::<AdminUserRoute>::new()} />
                    <Route path=path!("/admin/grants") view={Lazy::<AdminGrantsRoute>::new()} />
                    <Route path=path!("/admin/invitations") view={Lazy::<AdminInvitationsRoute>::new()} />
                    <Route path=path!("/admin/models") view={Lazy::<AdminCatalogRoute>::new()} />
                    <Route path=path!("/admin/analytics") view={Lazy::<AdminAnalyticsRoute>::new()} />
                    <Route path=path!("/admin/audit") view={Lazy::<AdminAuditRoute>::new()} />
                    <Route path=path!("/admin/upstream") view={Lazy::<AdminUpstreamRoute>::new()} />
                </Routes>
            </main>
            <ToastRegion />
        </Router>
    }
}
