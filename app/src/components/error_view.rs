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
/// sent to the login page (and back to `here` afterwards); anything else
/// is shown.
pub fn page_error(error: AppError, here: &'static str) -> impl IntoView {
    match error {
        AppError::Unauthorized(_) => Either::Left(view! {
            <leptos_router::components::Redirect path=format!("/login?next={here}") />
        }),
        error => Either::Right(view! { <ErrorMessage error /> }),
    }
}
