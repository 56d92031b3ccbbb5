//! `/login`: sign in with email and password, or with an API key (people an
//! admin created by name have only a key).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{Session, components::error_view::ErrorMessage};

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let next = move || {
        query
            .read()
            .get("next")
            .unwrap_or_else(|| "/dashboard".to_owned())
    };
    let (show_password, set_show_password) = signal(false);
    let pending = session.login.pending();
    let error = move || session.login.value().get().and_then(Result::err);
    let key_pending = session.login_with_key.pending();
    let key_error = move || session.login_with_key.value().get().and_then(Result::err);

    view! {
        <Title text="Sign in — Tollgate" />
        <section class="auth-card card">
            <h1>"Sign in"</h1>
            <ActionForm action=session.login attr:class="form" attr:id="login-form">
                <input type="hidden" name="next" prop:value=next />
                <label for="login-email">"Email"</label>
                <input id="login-email" type="email" name="email" autocomplete="email" required />
                <label for="login-password">"Password"</label>
                <div class="input-row">
                    <input
                        id="login-password"
                        name="password"
                        autocomplete="current-password"
                        required
                        type=move || if show_password.get() { "text" } else { "password" }
                    />
                    <button
                        type="button"
                        class="btn btn-ghost"
                        id="toggle-password"
                        aria-pressed=move || show_password.get().to_string()
                        on:click=move |_| set_show_password.update(|shown| *shown = !*shown)
                    >
                        {move || if show_password.get() { "Hide" } else { "Show" }}
                    </button>
                </div>
                {move || error().map(|error| view! { <ErrorMessage error /> })}
                <button type="submit" class="btn btn-primary" disabled=pending>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <details class="key-login" open=move || key_error().is_some()>
                <summary>"Sign in with an API key instead"</summary>
                <ActionForm action=session.login_with_key attr:class="form" attr:id="key-login-form">
                    <input type="hidden" name="next" prop:value=next />
                    <label for="login-api-key">"API key"</label>
                    <input
                        id="login-api-key"
                        type="password"
                        name="api_key"
                        autocomplete="off"
                        placeholder="tg-…"
                        required
                    />
                    {move || key_error().map(|error| view! { <ErrorMessage error /> })}
                    <button type="submit" class="btn" disabled=key_pending>
                        {move || if key_pending.get() { "Signing in…" } else { "Sign in with key" }}
                    </button>
                </ActionForm>
            </details>
            <p class="muted">"No account yet? " <A href="/register">"Create one"</A></p>
        </section>
    }
}
