//! `/register`: create an account.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{Session, components::error_view::ErrorMessage};

/// Kept equal to the server's rule; the server checks it again.
const MIN_PASSWORD_LEN: usize = 8;

#[component]
pub fn RegisterPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let (password, set_password) = signal(String::new());
    let pending = session.register.pending();
    let error = move || session.register.value().get().and_then(Result::err);
    let hint = move || {
        let missing = MIN_PASSWORD_LEN.saturating_sub(password.read().chars().count());
        match missing {
            0 => "Long enough.".to_owned(),
            1 => "1 more character needed.".to_owned(),
            n => format!("{n} more characters needed."),
        }
    };

    view! {
        <Title text="Create an account — Tollgate" />
        <section class="auth-card card">
            <h1>"Create an account"</h1>
            <ActionForm action=session.register attr:class="form" attr:id="register-form">
                <label for="register-name">"Name"</label>
                <input id="register-name" name="name" autocomplete="name" required maxlength="100" />
                <label for="register-email">"Email"</label>
                <input id="register-email" type="email" name="email" autocomplete="email" required />
                <label for="register-password">"Password"</label>
                <input
                    id="register-password"
                    type="password"
                    name="password"
                    autocomplete="new-password"
                    required
                    minlength=MIN_PASSWORD_LEN.to_string()
                    aria-describedby="password-hint"
                    on:input=move |ev| set_password.set(event_target_value(&ev))
                />
                <p id="password-hint" class="hint" aria-live="polite">{hint}</p>
                {move || error().map(|error| view! { <ErrorMessage error /> })}
                <button type="submit" class="btn btn-primary" disabled=pending>
                    {move || if pending.get() { "Creating…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="muted">"Already have an account? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}
