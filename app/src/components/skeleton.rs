//! Placeholders with the shape of what is loading.

use leptos::prelude::*;

/// A block of grey lines, announced as busy to screen readers.
#[component]
pub fn Skeleton(
    /// Said to assistive technology, e.g. "Loading usage…".
    #[prop(into)]
    label: String,
    /// Lines of placeholder.
    #[prop(default = 3)]
    lines: usize,
    /// A chart-sized block before the lines.
    #[prop(optional)]
    block: bool,
) -> impl IntoView {
    view! {
        <div class="skeleton" aria-busy="true" role="status">
            <span class="visually-hidden">{label}</span>
            {block.then(|| view! { <div class="skeleton-block"></div> })}
            {(0..lines).map(|_| view! { <div class="skeleton-line"></div> }).collect_view()}
        </div>
    }
}

/// A row of stat cards loading.
#[component]
pub fn SkeletonStats(#[prop(default = 4)] cards: usize) -> impl IntoView {
    view! {
        <div class="stats" aria-hidden="true">
            {(0..cards)
                .map(|_| {
                    view! {
                        <div class="stat stat-loading">
                            <div class="skeleton-line short"></div>
                            <div class="skeleton-line"></div>
                        </div>
                    }
                })
                .collect_view()}
        </div>
    }
}
