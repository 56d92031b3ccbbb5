//! The header on every page: the brand, navigation for who is signed in
//! (the leaderboard only while gamification is on, admin links only for
//! admins), and sign-out. On narrow screens the navigation folds behind a
//! menu button, and closes again when a link is followed.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_location};

use crate::{Features, Session};

#[component]
pub fn Header() -> impl IntoView {
    let session = expect_context::<Session>();
    let features = expect_context::<Features>();
    let (menu_open, set_menu_open) = signal(false);
    // Following a link closes the menu.
    let location = use_location();
    Effect::new(move |_| {
        // Read (not just tracked): the memo must recompute to notify.
        let _path = location.pathname.get();
        set_menu_open.set(false);
    });
    view! {
        <header class="topbar">
            // `target` lets the browser follow the fragment itself (focus moves).
            <a class="skip-link" href="#main" target="_self">"Skip to content"</a>
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                "Tollgate"
            </A>
            <button
                class="menu-toggle"
                type="button"
                aria-label="Menu"
                aria-controls="main-nav"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                <span aria-hidden="true">{move || if menu_open.get() { "✕" } else { "☰" }}</span>
            </button>
            <nav class="nav" id="main-nav" class:open=menu_open aria-label="Main">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.user.await {
                            Ok(Some(user)) => {
                                let gamification = features.gamification().await;
                                view! {
                                    <A href="/dashboard">"Dashboard"</A>
                                    <A href="/usage">"Usage"</A>
                                    <A href="/credits">"Credits"</A>
                                    <Show when=move || gamification>
                                        <A href="/leaderboard">"Leaderboard"</A>
                                    </Show>
                                    <A href="/keys">"API keys"</A>
                                    <A href="/setup">"Setup"</A>
                                    <A href="/api-reference">"API"</A>
                                    <Show when={
                                        let admin = user.is_admin();
                                        move || admin
                                    }>
                                        <A href="/admin">"Admin"</A>
                                    </Show>
                                    <span class="nav-user" title=user.email.clone().unwrap_or_default()>
                                        {user.name.clone()}
                                    </span>
                                    <ActionForm action=session.logout attr:class="inline">
                                        <button type="submit" class="btn btn-ghost">"Sign out"</button>
                                    </ActionForm>
                                }
                                    .into_any()
                            }
                            _ => {
                                view! {
                                    <A href="/login">"Sign in"</A>
                                    <A href="/register" attr:class="btn btn-primary">"Create account"</A>
                                }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}
