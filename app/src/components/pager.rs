//! Previous / next links between pages of a list. Links, not buttons: a
//! page of a list is a place with its own URL that can be shared.

use leptos::{either::Either, prelude::*};
use leptos_router::components::A;

/// `Previous · Page 2 of 5 · Next`; an end with nowhere to go is plain text.
#[component]
pub fn Pager(
    page: u64,
    pages: u64,
    /// Where the previous page is, if there is one.
    previous: Option<String>,
    next: Option<String>,
    /// What the pages are of, for assistive technology: "Requests pages".
    #[prop(into)]
    label: String,
) -> impl IntoView {
    let link = |href: Option<String>, text: &'static str, rel: &'static str| match href {
        Some(href) => Either::Left(view! { <A href=href attr:class="btn" attr:rel=rel>{text}</A> }),
        None => Either::Right(view! { <span class="btn" aria-disabled="true">{text}</span> }),
    };
    view! {
        <nav class="pager" aria-label=label>
            {link(previous, "Previous", "prev")}
            <span class="pager-status">{format!("Page {page} of {pages}")}</span>
            {link(next, "Next", "next")}
        </nav>
    }
}
