//! `/credits`: the balance, exact, and the ledger behind it, newest first,
//! filterable by kind and paged. The kind and page are in the URL
//! (`/credits?kind=charge&page=2`), so a view can be shared and survives a
//! reload.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
};

use crate::{
    api::credits::credit_history,
    components::{
        empty::EmptyState,
        error_view::page_error,
        pager::Pager,
        skeleton::{Skeleton, SkeletonStats},
        time::RelativeTime,
    },
    dto::{CreditHistoryData, Dated, EntryKind, EntryView},
    format::{credits, signed_credits, thousands},
    query::query_string,
};

/// The kinds of entry, as the filter offers them.
const KINDS: [(&str, &str); 5] = [
    ("", "All kinds"),
    ("grant", "Grants"),
    ("charge", "Charges"),
    ("refund", "Refunds"),
    ("adjustment", "Adjustments"),
];

#[component]
pub fn CreditsPage() -> impl IntoView {
    let query = use_query_map();
    let kind = Memo::new(move |_| query.with(|q| q.get("kind").unwrap_or_default()));
    let page = Memo::new(move |_| {
        query.with(|q| {
            q.get("page")
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(1)
                .max(1)
        })
    });
    let history = Resource::new(
        move || (page.get(), kind.get()),
        |(page, kind)| credit_history(page, kind),
    );
    let navigate = use_navigate();
    let on_kind = move |ev: leptos::ev::Event| {
        let chosen = event_target_value(&ev);
        navigate(
            &href(&chosen, 1),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };
    let (refreshing, set_refreshing) = signal(false);

    view! {
        <Title text="Credits — Tollgate" />
        <h1>"Credits"</h1>
        <Transition fallback=|| view! { <SkeletonStats cards=1 /> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(data) => Either::Left(view! { <Balance data /> }),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
        <section class="section" aria-labelledby="history-title">
            <div class="section-head">
                <h2 id="history-title">"History"</h2>
                // The filter stays put while pages load.
                <div class="toolbar">
                    <label for="credit-kind">"Show"</label>
                    <select id="credit-kind" name="kind" on:change=on_kind>
                        {KINDS
                            .into_iter()
                            .map(|(value, text)| {
                                view! {
                                    <option
                                        value=value
                                        selected=move || kind.get() == value
                                        prop:selected=move || kind.get() == value
                                    >
                                        {text}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
            </div>
            <Transition
                fallback=|| view! { <Skeleton label="Loading your credit history…" lines=6 /> }
                set_pending=set_refreshing
            >
                {move || Suspend::new(async move {
                    // An error is shown once, with the balance above.
                    history.await.ok().map(|data| view! { <History data kind=kind.get_untracked() refreshing /> })
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Balance(data: CreditHistoryData) -> impl IntoView {
    view! {
        <section class="balance card" aria-labelledby="balance-label">
            <span class="stat-label" id="balance-label">"Balance"</span>
            <p class="balance-value">
                <span id="credit-balance" class="mono">{credits(&data.balance_credits)}</span>
                " credits"
            </p>
            <p class="hint">"Exact to the millionth of a credit. Every request you make is charged here at its actual cost."</p>
        </section>
    }
}

#[component]
fn History(data: CreditHistoryData, kind: String, refreshing: ReadSignal<bool>) -> impl IntoView {
    let pages = data.total.div_ceil(data.per_page).max(1);
    let page = data.page;
    let summary = match data.total {
        1 => "1 entry".to_owned(),
        n => format!(
            "{} entries",
            thousands(i64::try_from(n).unwrap_or(i64::MAX))
        ),
    };
    let body = if data.entries.is_empty() {
        Either::Left(empty_state(&kind))
    } else {
        Either::Right(view! {
            <div class="table-wrap">
                <table class="table" id="credit-history">
                    <caption class="visually-hidden">"Credit history, newest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col" class="num">"Amount"</th>
                            <th scope="col" class="num hide-narrow">"Balance after"</th>
                            <th scope="col">"Details"</th>
                        </tr>
                    </thead>
                    <tbody>{data.entries.into_iter().map(entry_row).collect_view()}</tbody>
                </table>
            </div>
            <Pager
                page
                pages
                previous=(page > 1).then(|| href(&kind, page - 1))
                next=(page < pages).then(|| href(&kind, page + 1))
                label="Credit history pages"
            />
        })
    };
    view! {
        <div class="history" aria-busy=move || refreshing.get().to_string()>
            <p class="muted" id="credit-count">{summary}</p>
            {body}
        </div>
    }
}

fn entry_row(
    Dated {
        view: entry,
        created,
    }: Dated<EntryView>,
) -> impl IntoView {
    let negative = entry.amount_credits.starts_with('-');
    let (details, request, muted) = match (entry.kind, entry.reference, entry.reason) {
        (_, _, Some(reason)) => (reason, None, false),
        (EntryKind::Charge | EntryKind::Refund, Some(request), None) => {
            ("Request ".to_owned(), Some(request), false)
        }
        (EntryKind::Grant, _, None) => ("Granted by an admin".to_owned(), None, true),
        _ => ("—".to_owned(), None, true),
    };
    view! {
        <tr data-kind=entry.kind.as_str()>
            <td><RelativeTime moment=created /></td>
            <td><span class=format!("badge badge-kind-{}", entry.kind)>{entry.kind.as_str()}</span></td>
            <td class="num mono" class:amount-negative=negative class:amount-positive=!negative>
                {signed_credits(&entry.amount_credits)}
            </td>
            <td class="num mono hide-narrow">{credits(&entry.balance_after_credits)}</td>
            <td class:muted=muted>{details} {request.map(|id| view! { <code>{id}</code> })}</td>
        </tr>
    }
}

fn empty_state(kind: &str) -> impl IntoView + use<> {
    if kind.is_empty() {
        view! {
            <EmptyState
                id="credits-empty"
                title="No credit activity yet."
                text="Credits an admin grants you and the charge of every request you make will be listed here. To get started, create an API key and call a model with it."
                links=vec![("/keys".into(), "Create an API key"), ("/usage".into(), "See your usage")]
            />
        }
    } else {
        let name = KINDS
            .iter()
            .find(|(value, _)| *value == kind)
            .map_or("matching", |(_, text)| text)
            .to_lowercase();
        view! {
            <EmptyState
                id="credits-empty"
                title=format!("No {name} yet.")
                text="Nothing of this kind is in your history."
                links=vec![("/credits".into(), "Show every kind")]
            />
        }
    }
}

/// `/credits?kind=charge&page=2`, leaving out what is the default.
fn href(kind: &str, page: u64) -> String {
    let page = if page > 1 {
        page.to_string()
    } else {
        String::new()
    };
    format!(
        "/credits{}",
        query_string(&[("kind", kind), ("page", &page)])
    )
}
