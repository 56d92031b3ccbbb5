//! Errors shown kindly: what went wrong, in words, and where to go next.

use leptos::{either::Either, prelude::*};

use crate::error::AppError;

/// A message box for one error.
#[component]
pub fn ErrorMessage(error: AppError) -> impl IntoView {
    let hint = match &error {
        AppError::Unauthorized(_) => Some(view! { <a href="/login">"Sign in"</a> }.into_any()),
        AppError::Transport(_) => {
            Some(view! { <span>"Check your connection and try again."</span> }.into_any())
        }
        _ => None,
    };
    view! {
        <div class="alert alert-error" role="alert">
            <p>{error.to_string()}</p>
            {hint}
        </div>
    }
}

/// The fallback of an `ErrorBoundary`.
pub fn error_fallback(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div class="alert alert-error" role="alert">
            <p class="alert-title">"Something went wrong"</p>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
        </div>
    }
}

/// The error of a signed-in page's data: a visitor whose session ended is
/// sent to the login page, and back to this very page (its query too)
/// afterwards; anything else is shown.
pub fn page_error(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorized(_) => {
            let location = leptos_router::hooks::use_location();
            let search = location.search.get_untracked();
            let search = search.trim_start_matches('?');
            let mut here = location.pathname.get_untracked();
            if !search.is_empty() {
                here = format!("{here}?{search}");
            }
            let next = crate::query::query_string(&[("next", &here)]);
            Either::Left(
                view! { <leptos_router::components::Redirect path=format!("/login{next}") /> },
            )
        }
        error => Either::Right(view! { <ErrorMessage error /> }),
    }
}
