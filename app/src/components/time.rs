//! Times as people read them: relative, with the exact time on hover.

use leptos::prelude::*;

use crate::{dto::Moment, format::exact_time};

/// `5 minutes ago`, with `2026-11-25 17:00:38 UTC` as its tooltip and a
/// machine-readable `datetime`.
#[component]
pub fn RelativeTime(moment: Moment) -> impl IntoView {
    view! {
        <time class="relative-time" datetime=moment.at.clone() title=exact_time(&moment.at)>
            {moment.ago}
        </time>
    }
}
