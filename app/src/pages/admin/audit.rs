//! `/admin/audit`: who changed what, newest first, filtered by action and
//! paged (both in the URL).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::admin::insights::audit_log,
    components::{empty::EmptyState, error_view::page_error, pager::Pager, skeleton::Skeleton},
    format::exact_time,
    pages::admin::AdminNav,
    query::query_string,
};

/// The actions the filter offers (the log's own names).
const ACTIONS: [&str; 20] = [
    "user.create",
    "user.update",
    "user.delete",
    "credits.grant",
    "credits.refund",
    "credits.overrun",
    "grant.create",
    "grant.revoke",
    "provider.create",
    "provider.update",
    "provider.delete",
    "model.create",
    "model.update",
    "model.delete",
    "rate_limits.update",
    "key.create",
    "key.update",
    "key.revoke",
    "invitation.create",
    "invitation.revoke",
];

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let query = use_query_map();
    let action = move || query.read().get("action").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1u64)
    };
    let entries = Resource::new(
        move || (page(), action()),
        |(page, action)| audit_log(page, action),
    );
    let navigate = leptos_router::hooks::use_navigate();
    view! {
        <Title text="Audit log — Tollgate" />
        <AdminNav />
        <h1>"Audit log"</h1>
        <div class="filters">
            <label>
                <span>"Action"</span>
                <select id="audit-action" prop:value=action on:change=move |ev| {
                    let chosen = event_target_value(&ev);
                    navigate(&format!("/admin/audit{}", query_string(&[("action", &chosen)])), Default::default());
                }>
                    <option value="">"All actions"</option>
                    {ACTIONS.map(|a| view! { <option value=a>{a}</option> })}
                </select>
            </label>
        </div>
        <Transition fallback=|| view! { <Skeleton label="Loading the audit log…" lines=8 /> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Ok(list) if list.entries.is_empty() => Either::Left(view! {
                        <EmptyState id="no-audit" title="Nothing recorded" text="Admin changes (users, credits, grants, providers, models) are recorded here as they happen." />
                    }.into_any()),
                    Ok(list) => {
                        let pages = list.total.div_ceil(list.per_page).max(1);
                        let current = list.page;
                        let at = |p: u64| Some(format!("/admin/audit{}", query_string(&[("action", &action()), ("page", &p.to_string())])));
                        Either::Left(view! {
                            <div class="table-wrap">
                                <table class="table" id="audit-table">
                                    <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Change"</th></tr></thead>
                                    <tbody>
                                        {list.entries.into_iter().map(|entry| view! {
                                            <tr>
                                                <td title=exact_time(&entry.created_at)>{entry.created_at.get(..16).unwrap_or_default().replace('T', " ")}</td>
                                                <td>{entry.actor_email.unwrap_or_else(|| "—".into())}</td>
                                                <td><code>{entry.action}</code></td>
                                                <td>{format!("{} {}", entry.target_type, entry.target_id)}</td>
                                                <td class="cell-note">{entry.change}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <Pager
                                page=current
                                pages
                                previous=(current > 1).then(|| at(current - 1)).flatten()
                                next=(current < pages).then(|| at(current + 1)).flatten()
                                label="Audit log pages"
                            />
                        }.into_any())
                    }
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}
