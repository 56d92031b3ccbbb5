//! `/leaderboard`: who made the most requests, all time: a podium for the
//! first three and the full table, refreshed every few seconds in the
//! browser. With gamification off the page says so (and the header has no
//! link to it).

use std::time::Duration;

use leptos::{
    either::{Either, EitherOf3},
    prelude::*,
};
use leptos_meta::Title;

use crate::{
    Features,
    api::analytics::leaderboard,
    components::{
        browser::every, empty::EmptyState, error_view::page_error, skeleton::Skeleton,
        time::RelativeTime,
    },
    dto::LeaderInfo,
    format::{count, thousands},
};

/// How often the browser asks again.
pub const REFRESH: Duration = Duration::from_secs(5);
/// Places shown on the page.
const PLACES: u64 = 50;

#[component]
pub fn LeaderboardPage() -> impl IntoView {
    let features = expect_context::<Features>();
    view! {
        <Title text="Leaderboard — Tollgate" />
        <h1>"Leaderboard"</h1>
        <Suspense fallback=|| view! { <Skeleton label="Loading the leaderboard…" lines=5 /> }>
            {move || Suspend::new(async move {
                if features.gamification().await {
                    Either::Left(view! { <LiveLeaderboard /> })
                } else {
                    Either::Right(view! {
                        <EmptyState
                            id="leaderboard-off"
                            title="The leaderboard is turned off on this Tollgate."
                            text="An admin can turn it on with the gamification setting (GAMIFICATION=on). Your own figures are on the usage page."
                            links=vec![("/usage".into(), "See your usage")]
                        />
                    })
                }
            })}
        </Suspense>
    }
}

#[component]
fn LiveLeaderboard() -> impl IntoView {
    let (tick, set_tick) = signal(0u64);
    let board = Resource::new(move || tick.get(), |_| leaderboard(PLACES));
    every(REFRESH, move || set_tick.update(|t| *t += 1));

    view! {
        <p class="muted live-note">
            <span class="live-dot" aria-hidden="true"></span>
            {format!("All time, by requests. Updates every {} seconds.", REFRESH.as_secs())}
        </p>
        <Transition fallback=|| view! { <Skeleton label="Loading the leaderboard…" lines=5 block=true /> }>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(entries) if entries.is_empty() => EitherOf3::A(view! {
                        <EmptyState
                            id="leaderboard-empty"
                            title="Nobody has made a request yet."
                            text="Create an API key and make the first one: the top spot is yours."
                            links=vec![("/keys".into(), "Create an API key")]
                        />
                    }),
                    Ok(entries) => EitherOf3::B(view! {
                        <Podium entries=entries.iter().take(3).cloned().collect() />
                        <LeaderTable entries />
                    }),
                    Err(error) => EitherOf3::C(page_error(error)),
                }
            })}
        </Transition>
    }
}

/// Second, first and third, in that order from left to right.
#[component]
fn Podium(entries: Vec<LeaderInfo>) -> impl IntoView {
    let place = |rank: u64| entries.iter().find(|e| e.rank == rank).cloned();
    let spots = [(2, "second"), (1, "first"), (3, "third")];
    view! {
        <ol class="podium" aria-label="Top three">
            {spots
                .into_iter()
                .map(|(rank, class)| {
                    let entry = place(rank);
                    let vacant = entry.is_none();
                    let you = entry.as_ref().is_some_and(|entry| entry.is_you);
                    view! {
                        <li
                            class=format!("podium-spot podium-{class}")
                            class:podium-vacant=vacant
                            class:is-you=you
                            value=rank
                        >
                            {entry.map(|entry| view! {
                                <span class="podium-avatar" aria-hidden="true">{initial(&entry.name)}</span>
                                <span class="podium-name">{entry.name}</span>
                                <span class="podium-requests">{count(entry.requests, "request", "requests")}</span>
                            })}
                            {vacant.then(|| view! { <span class="podium-name muted">"Open spot"</span> })}
                            <span class="podium-step">
                                <span class="visually-hidden">"Place "</span>
                                {rank}
                            </span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// The first letter of a name, for the podium's avatar.
fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
}

/// The full table; also the dashboard's top four.
#[component]
pub fn LeaderTable(entries: Vec<LeaderInfo>, #[prop(optional)] compact: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table leader-table" id=if compact { "top-leaders" } else { "leaderboard-table" }>
                <thead>
                    <tr>
                        <th scope="col" class="num">"Rank"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col" class="num">"Requests"</th>
                        {(!compact).then(|| view! {
                            <th scope="col">"Top model"</th>
                            <th scope="col" class="num hide-narrow">"Models used"</th>
                            <th scope="col">"Last active"</th>
                        })}
                    </tr>
                </thead>
                <tbody>
                    {entries
                        .into_iter()
                        .map(|entry| {
                            view! {
                                <tr class:is-you=entry.is_you>
                                    <td class="num">{entry.rank}</td>
                                    <td class="name">
                                        {entry.name}
                                        {entry.is_you.then(|| view! { <span class="badge badge-you">"you"</span> })}
                                        // The compact table names the top model under the name.
                                        {compact.then(|| view! { <span class="cell-note">{entry.top_model.clone()}</span> })}
                                    </td>
                                    <td class="num">{thousands(entry.requests)}</td>
                                    {(!compact).then(|| view! {
                                        <td class="model">{entry.top_model}</td>
                                        <td class="num hide-narrow">{thousands(entry.models_used)}</td>
                                        <td><RelativeTime moment=entry.last_active /></td>
                                    })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
