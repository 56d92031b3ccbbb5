//! `/admin/grants`: every entitlement grant, filtered by state and user
//! (kept in the URL), with revoke.

use contract::entitlements::GrantView;
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::admin::grants::{RevokeGrant, list_grants},
    components::{
        browser::confirm, empty::EmptyState, error_view::page_error, skeleton::Skeleton,
        toast::toast_results,
    },
    pages::admin::AdminNav,
    query::query_string,
};

#[component]
pub fn AdminGrantsPage() -> impl IntoView {
    let query = use_query_map();
    let active = move || query.read().get("active").unwrap_or_default();
    let user = move || query.read().get("user_id").unwrap_or_default();
    let revoke = ServerAction::<RevokeGrant>::new();
    toast_results(move || revoke.value().get(), "Grant revoked");
    let grants = Resource::new(
        move || (user(), active(), revoke.version().get()),
        |(user, active, _)| list_grants(user, active),
    );
    let link = move |state: &str| query_string(&[("active", state), ("user_id", &user())]);
    view! {
        <Title text="Grants — Tollgate" />
        <AdminNav />
        <h1>"Entitlement grants"</h1>
        <p class="muted">"Grant Pro — Lifetime from a user's page. Revoking puts the user back on their own plan at once."</p>
        <nav class="filters" aria-label="Grant state">
            <A href=move || format!("/admin/grants{}", link("")) attr:class="btn" exact=true>"All"</A>
            <A href=move || format!("/admin/grants{}", link("true")) attr:class="btn">"Active"</A>
            <A href=move || format!("/admin/grants{}", link("false")) attr:class="btn">"Revoked"</A>
        </nav>
        <Transition fallback=|| view! { <Skeleton label="Loading grants…" lines=4 /> }>
            {move || Suspend::new(async move {
                match grants.await {
                    Ok(list) if list.is_empty() => Either::Left(view! {
                        <EmptyState
                            id="no-grants"
                            title="No grants here"
                            text="Open a user and grant them Pro — Lifetime; it shows up here."
                            links=vec![("/admin/users".to_owned(), "Find a user")]
                        />
                    }.into_any()),
                    Ok(list) => Either::Left(view! { <GrantTable grants=list revoke /> }.into_any()),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}

/// Grants, with revoke on the active ones.
#[component]
pub fn GrantTable(grants: Vec<GrantView>, revoke: ServerAction<RevokeGrant>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table grants-table">
                <thead>
                    <tr>
                        <th>"User"</th>
                        <th>"Grant"</th>
                        <th>"Source"</th>
                        <th>"Notes"</th>
                        <th>"Granted"</th>
                        <th>"State"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {grants
                        .into_iter()
                        .map(|grant| {
                            let id = grant.id;
                            let who = grant.email.clone().unwrap_or_else(|| grant.user_id.clone());
                            let question = format!("Revoke {} from {who}?", grant.label);
                            view! {
                                <tr data-grant=id>
                                    <td><A href=format!("/admin/users/{}", grant.user_id)>{who}</A></td>
                                    <td>{grant.label.clone()}</td>
                                    <td>{grant.source.as_str().replace('_', " ")}</td>
                                    <td class="cell-note">{grant.notes.clone().unwrap_or_default()}</td>
                                    <td title=grant.created_at.to_string()>
                                        {grant.created_at.get(..10).unwrap_or_default().to_owned()}
                                        {grant.granted_by_email.clone().map(|by| format!(" by {by}"))}
                                    </td>
                                    <td>
                                        {if grant.active {
                                            view! { <span class="badge badge-active">"active"</span> }.into_any()
                                        } else {
                                            view! { <span class="badge badge-revoked" title=grant.revoked_at.clone().map(String::from).unwrap_or_default()>"revoked"</span> }.into_any()
                                        }}
                                    </td>
                                    <td>
                                        <Show when=move || grant.active>
                                            <button
                                                type="button"
                                                class="btn btn-danger"
                                                on:click={
                                                    let question = question.clone();
                                                    move |_| {
                                                        if confirm(&question) {
                                                            revoke.dispatch(RevokeGrant { id });
                                                        }
                                                    }
                                                }
                                            >
                                                "Revoke"
                                            </button>
                                        </Show>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
