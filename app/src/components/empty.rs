//! What a page shows when it has nothing to list: what happened, and the
//! next step as links.

use leptos::prelude::*;
use leptos_router::components::A;

/// A dashed box with a title, a sentence and links; the first link is the
/// primary action.
#[component]
pub fn EmptyState(
    #[prop(into)] id: String,
    #[prop(into)] title: String,
    #[prop(into)] text: String,
    /// `(href, label)` pairs.
    #[prop(optional)]
    links: Vec<(String, &'static str)>,
) -> impl IntoView {
    let actions = (!links.is_empty()).then(|| {
        view! {
            <div class="actions">
                {links
                    .into_iter()
                    .enumerate()
                    .map(|(i, (href, label))| {
                        let class = if i == 0 { "btn btn-primary" } else { "btn" };
                        view! { <A href=href attr:class=class>{label}</A> }
                    })
                    .collect_view()}
            </div>
        }
    });
    view! {
        <div class="empty-state" id=id>
            <p><strong>{title}</strong></p>
            <p class="muted">{text}</p>
            {actions}
        </div>
    }
}
