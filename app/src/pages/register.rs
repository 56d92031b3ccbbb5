//! `/register`: create an account, as `auth.registration` allows: the form
//! (with an invitation code field when registration is by invitation, the
//! code read from `?invite=`), or a notice when registration is closed.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{Features, Session, components::error_view::ErrorMessage, dto::RegistrationMode};

/// Kept equal to the server's rule; the server checks it again.
const MIN_PASSWORD_LEN: usize = 8;

#[component]
pub fn RegisterPage() -> impl IntoView {
    let features = expect_context::<Features>();
    view! {
        <Title text="Create an account — Tollgate" />
        <section class="auth-card card">
            <h1>"Create an account"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match features.registration().await {
                        RegistrationMode::Closed => view! {
                            <p id="registration-closed" class="hint">
                                "Registration is closed. Ask an admin for an account."
                            </p>
                        }
                        .into_any(),
                        mode => view! {
                            <RegisterForm by_invitation=mode == RegistrationMode::Invite />
                        }
                        .into_any(),
                    }
                })}
            </Suspense>
            <p class="muted">"Already have an account? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}

#[component]
fn RegisterForm(by_invitation: bool) -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let invite = move || query.read().get("invite").unwrap_or_default();
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
        <ActionForm action=session.register attr:class="form" attr:id="register-form">
            <Show when=move || by_invitation>
                <label for="register-invitation">"Invitation code"</label>
                <input
                    id="register-invitation"
                    name="invitation"
                    autocomplete="off"
                    placeholder="inv-…"
                    required
                    prop:value=invite
                />
            </Show>
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
    }
}
