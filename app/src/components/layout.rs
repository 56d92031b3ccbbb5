//! The header on every page: the brand, navigation for who is signed in
//! (admin links only for admins), and sign-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::Session;

#[component]
pub fn Header() -> impl IntoView {
    let session = expect_context::<Session>();
    let (menu_open, set_menu_open) = signal(false);
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                "Tollgate"
            </A>
            <button
                class="menu-toggle"
                type="button"
                aria-label="Menu"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                "☰"
            </button>
            <nav class="nav" class:open=menu_open aria-label="Main">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.user.await {
                            Ok(Some(user)) => {
                                view! {
                                    <A href="/dashboard">"Dashboard"</A>
                                    <A href="/keys">"API keys"</A>
                                    <Show when={
                                        let admin = user.is_admin();
                                        move || admin
                                    }>
                                        <A href="/admin/users">"Users"</A>
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
