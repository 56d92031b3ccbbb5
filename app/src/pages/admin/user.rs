//! `/admin/users/:id`: one user's balance, effective plan, keys, grants and
//! recent ledger; grant credits (a modal) or "Pro — Lifetime" (a form),
//! revoke a grant.

use leptos::{either::Either, ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    api::admin::{
        grants::{CreateGrant, GrantCredits, RevokeGrant},
        users::user_detail,
    },
    components::{
        browser::fresh_id,
        error_view::{ErrorMessage, page_error},
        skeleton::{Skeleton, SkeletonStats},
        toast::toast_results,
    },
    dto::admin::UserDetailInfo,
    format::{credits, signed_credits, thousands},
    pages::admin::{AdminNav, grants::GrantTable},
};

/// The sources a grant may name.
pub const SOURCES: [(&str, &str); 3] = [
    ("beta_comp", "Beta — complimentary"),
    ("manual_override", "Manual override"),
    ("partner_referral", "Partner referral"),
];

#[component]
pub fn AdminUserPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let grant_credits = ServerAction::<GrantCredits>::new();
    let create_grant = ServerAction::<CreateGrant>::new();
    let revoke_grant = ServerAction::<RevokeGrant>::new();
    toast_results(move || grant_credits.value().get(), "Credits granted");
    toast_results(move || create_grant.value().get(), "Pro — Lifetime granted");
    toast_results(move || revoke_grant.value().get(), "Grant revoked");
    let detail = Resource::new(
        move || {
            (
                id(),
                grant_credits.version().get(),
                create_grant.version().get(),
                revoke_grant.version().get(),
            )
        },
        |(id, ..)| user_detail(id),
    );
    let modal_open = RwSignal::new(false);

    view! {
        <Title text="User — Tollgate" />
        <AdminNav />
        <Suspense fallback=|| view! { <SkeletonStats cards=4 /> <Skeleton label="Loading the user…" lines=6 /> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => Either::Left(view! {
                        <UserSummary detail=detail.clone() modal_open />
                        <GrantCreditsModal user_id=detail.user.id.clone() open=modal_open action=grant_credits />
                        <section class="section">
                            <h2>"Entitlement"</h2>
                            {if detail.grants.iter().any(|grant| grant.active) {
                                Either::Left(view! {
                                    <p class="muted" id="has-grant">"This user has Pro — Lifetime. Revoke it below to grant another."</p>
                                })
                            } else {
                                Either::Right(view! { <GrantForm user_id=detail.user.id.clone() action=create_grant /> })
                            }}
                            <GrantTable grants=detail.grants.clone() revoke=revoke_grant />
                        </section>
                        <UserKeys detail=detail.clone() />
                        <UserLedger detail />
                    }),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UserSummary(detail: UserDetailInfo, modal_open: RwSignal<bool>) -> impl IntoView {
    let user = detail.user;
    view! {
        <div class="page-head">
            <h1>{user.name.clone()}</h1>
            <button type="button" class="btn btn-primary" id="open-grant-credits" on:click=move |_| modal_open.set(true)>
                "Grant credits"
            </button>
        </div>
        <p class="muted">
            {user.email.clone().unwrap_or_else(|| "Created by name (no email)".into())}
            {format!(" · {} · {} · joined {}", user.role, user.status, user.created_at.get(..10).unwrap_or_default())}
        </p>
        <div class="stats">
            <div class="stat">
                <span class="stat-label">"Balance"</span>
                <span class="stat-value" id="user-balance">{credits(&detail.balance_credits)}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Plan in effect"</span>
                <span class="stat-value plan" id="user-plan">{detail.effective_plan.as_str().replace('_', " ").to_uppercase()}</span>
                <span class="stat-note">{format!("account plan: {}", user.plan)}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Requests, 30 days"</span>
                <span class="stat-value">{thousands(detail.requests_30d)}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Tokens, 30 days"</span>
                <span class="stat-value">{thousands(detail.tokens_30d)}</span>
                <span class="stat-note">{format!("{} spent", credits(&detail.spent_30d_credits))}</span>
            </div>
        </div>
    }
}

/// A dialog for a credit grant: amount and reason. A negative amount is an
/// adjustment, which needs a reason (the server says so if it is missing).
#[component]
fn GrantCreditsModal(
    user_id: String,
    open: RwSignal<bool>,
    action: ServerAction<GrantCredits>,
) -> impl IntoView {
    let amount = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    // One id per opening: a double submit grants once.
    let request = RwSignal::new(String::new());
    Effect::new(move |_| {
        if open.get() {
            request.set(fresh_id());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            open.set(false);
            amount.set(String::new());
            reason.set(String::new());
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        action.dispatch(GrantCredits {
            user_id: user_id.clone(),
            amount: amount.get(),
            reason: reason.get(),
            request: request.get(),
        });
    };
    view! {
        <Show when=move || open.get()>
            <div class="modal-backdrop" on:click=move |_| open.set(false)></div>
            <div class="modal card" role="dialog" aria-modal="true" aria-labelledby="grant-credits-title">
                <h2 id="grant-credits-title">"Grant credits"</h2>
                <form class="form" id="grant-credits-form" on:submit=submit.clone()>
                    <label for="grant-amount">"Amount in credits"</label>
                    <input
                        id="grant-amount"
                        required
                        inputmode="decimal"
                        pattern="-?[0-9]+([.][0-9]{1,6})?"
                        placeholder="25"
                        autofocus
                        prop:value=amount
                        on:input=move |ev| amount.set(event_target_value(&ev))
                    />
                    <label for="grant-reason">"Reason (needed for a negative adjustment)"</label>
                    <input
                        id="grant-reason"
                        maxlength="200"
                        placeholder="Hackathon prize"
                        prop:value=reason
                        on:input=move |ev| reason.set(event_target_value(&ev))
                    />
                    {move || action.value().get().and_then(Result::err).map(|error| view! { <ErrorMessage error /> })}
                    <div class="actions">
                        <button type="submit" class="btn btn-primary" disabled=action.pending()>"Grant"</button>
                        <button type="button" class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                    </div>
                </form>
            </div>
        </Show>
    }
}

/// "Pro — Lifetime" for this user: a source and notes.
#[component]
fn GrantForm(user_id: String, action: ServerAction<CreateGrant>) -> impl IntoView {
    view! {
        <ActionForm action attr:class="form form-inline" attr:id="grant-form">
            <input type="hidden" name="user_id" value=user_id />
            <label>
                <span>"Grant Pro — Lifetime, source"</span>
                <select name="source" id="grant-source">
                    {SOURCES.map(|(value, label)| view! { <option value=value>{label}</option> })}
                </select>
            </label>
            <label>
                <span>"Notes"</span>
                <input name="notes" id="grant-notes" maxlength="500" placeholder="Why, for the record" />
            </label>
            <button type="submit" class="btn btn-primary" disabled=action.pending()>"Grant"</button>
        </ActionForm>
        {move || action.value().get().and_then(Result::err).map(|error| view! { <ErrorMessage error /> })}
    }
}

#[component]
fn UserKeys(detail: UserDetailInfo) -> impl IntoView {
    view! {
        <section class="section">
            <h2>"API keys"</h2>
            {if detail.keys.is_empty() {
                Either::Left(view! { <p class="muted">"No keys."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-wrap">
                        <table class="table" id="user-keys">
                            <thead><tr><th>"Name"</th><th>"Key"</th><th>"Spent / quota"</th><th>"Status"</th></tr></thead>
                            <tbody>
                                {detail.keys.into_iter().map(|key| view! {
                                    <tr>
                                        <td>{key.name}</td>
                                        <td><code>{format!("{}…", key.prefix)}</code></td>
                                        <td>{format!("{} / {}", credits(&key.quota_used_credits), key.quota_limit_credits.as_deref().map(credits).unwrap_or_else(|| "no limit".into()))}</td>
                                        <td><span class=format!("badge badge-{}", key.status)>{key.status.as_str().replace('_', " ")}</span></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
        </section>
    }
}

#[component]
fn UserLedger(detail: UserDetailInfo) -> impl IntoView {
    view! {
        <section class="section">
            <h2>"Latest credit entries"</h2>
            <div class="table-wrap">
                <table class="table" id="user-ledger">
                    <thead><tr><th>"When"</th><th>"Kind"</th><th class="num">"Amount"</th><th class="num">"Balance after"</th><th>"Reason"</th></tr></thead>
                    <tbody>
                        {detail.entries.into_iter().map(|entry| view! {
                            <tr>
                                <td title=entry.created_at.to_string()>{entry.created_at.get(..16).unwrap_or_default().replace('T', " ")}</td>
                                <td><span class=format!("badge badge-kind-{}", entry.kind)>{entry.kind.as_str()}</span></td>
                                <td class="num">{signed_credits(&entry.amount_credits)}</td>
                                <td class="num">{credits(&entry.balance_after_credits)}</td>
                                <td>{entry.reason.unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
