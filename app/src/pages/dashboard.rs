//! `/dashboard`: the signed-in user's home.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::{
    api::dashboard::dashboard,
    components::error_view::{ErrorMessage, error_fallback},
    error::AppError,
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| dashboard());
    view! {
        <Title text="Dashboard — Tollgate" />
        <ErrorBoundary fallback=error_fallback>
            <Suspense fallback=|| view! { <div class="skeleton" aria-busy="true">"Loading your dashboard…"</div> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => {
                            let since = data.user.created_at.get(..10).unwrap_or_default().to_owned();
                            view! {
                                <h1 class="greeting">"Welcome, " {data.user.name.clone()}</h1>
                                <div class="stats">
                                    <div class="stat">
                                        <span class="stat-label">"Plan"</span>
                                        <span class="stat-value plan">{data.user.plan.to_uppercase()}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Credits"</span>
                                        <span class="stat-value credits">{data.balance_credits.clone()}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Role"</span>
                                        <span class="stat-value">{data.user.role.clone()}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Signed-in sessions"</span>
                                        <span class="stat-value">{data.active_sessions}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Member since"</span>
                                        <span class="stat-value">{since}</span>
                                    </div>
                                </div>
                                <p class="muted">
                                    "Usage and the credit history arrive here as those features land."
                                </p>
                            }
                                .into_any()
                        }
                        Err(AppError::Unauthorized(_)) => view! { <Redirect path="/login?next=/dashboard" /> }.into_any(),
                        Err(error) => view! { <ErrorMessage error /> }.into_any(),
                    }
                })}
            </Suspense>
        </ErrorBoundary>
    }
}
