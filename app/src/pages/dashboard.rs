//! `/dashboard`: the signed-in user's home: their account, the last 30
//! days at a glance, their latest requests and, with gamification on, who
//! is online and the top of the leaderboard. While the page is open the
//! browser tells Tollgate the user is here (`POST /api/presence`).

use std::time::Duration;

use leptos::{
    either::{Either, EitherOf3},
    prelude::*,
};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    Features,
    api::{
        analytics::{leaderboard, online_users},
        dashboard::dashboard,
        usage::dashboard_usage,
    },
    components::{
        browser::{beacon, every},
        empty::EmptyState,
        error_view::{ErrorMessage, page_error},
        skeleton::{Skeleton, SkeletonStats},
        time::RelativeTime,
    },
    dto::UsageSummary,
    error::AppError,
    format::{count, credits, thousands},
    pages::{leaderboard::LeaderTable, usage::RequestTable},
};

/// How often the page sends its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(60);
/// How often the online list and the top of the leaderboard are asked again.
const REFRESH: Duration = Duration::from_secs(30);

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| dashboard());
    // One report for the figures and the recent requests.
    let summary = Resource::new(|| (), |_| dashboard_usage());
    let features = expect_context::<Features>();
    view! {
        <Title text="Dashboard — Tollgate" />
        <Suspense fallback=|| view! { <SkeletonStats cards=5 /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => {
                        let since = data.user.created_at.get(..10).unwrap_or_default().to_owned();
                        Either::Left(view! {
                            <h1 class="greeting">"Welcome, " {data.user.name.clone()}</h1>
                            <div class="stats">
                                <div class="stat">
                                    <span class="stat-label">"Plan"</span>
                                    <span class="stat-value plan">{data.user.plan.as_str().to_uppercase()}</span>
                                </div>
                                <div class="stat">
                                    <span class="stat-label">"Credits"</span>
                                    <A href="/credits" attr:class="stat-value credits mono stat-link">
                                        {credits(&data.balance_credits)}
                                    </A>
                                </div>
                                <div class="stat">
                                    <span class="stat-label">"Role"</span>
                                    <span class="stat-value">{data.user.role.as_str()}</span>
                                </div>
                                <div class="stat">
                                    <span class="stat-label">"Signed-in sessions"</span>
                                    <span class="stat-value">{data.active_sessions}</span>
                                </div>
                                <div class="stat">
                                    <span class="stat-label">"Member since"</span>
                                    <span class="stat-value">{since}</span>
                                </div>
                            </div>
                        })
                    }
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Suspense>
        <QuickStats summary />
        <div class="dashboard-grid">
            <RecentRequests summary />
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    features.gamification().await.then(|| view! { <Community /> })
                })}
            </Suspense>
        </div>
    }
}

/// Requests, tokens, credits spent and the top model, last 30 days.
#[component]
fn QuickStats(summary: Resource<Result<UsageSummary, AppError>>) -> impl IntoView {
    view! {
        <section class="section" aria-labelledby="quick-stats-title">
            <div class="section-head">
                <h2 id="quick-stats-title">"Last 30 days"</h2>
                <A href="/usage">"All usage"</A>
            </div>
            <Suspense fallback=|| view! { <SkeletonStats /> }>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(summary) => {
                            let totals = summary.totals;
                            let top = summary
                                .top_model
                                .map_or_else(
                                    || ("—".to_owned(), "no requests yet".to_owned()),
                                    |(model, requests)| (model, count(requests, "request", "requests")),
                                );
                            Either::Left(view! {
                                <div class="stats" id="quick-stats">
                                    <div class="stat">
                                        <span class="stat-label">"Requests"</span>
                                        <span class="stat-value" id="stat-requests">{thousands(totals.requests)}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Tokens"</span>
                                        <span class="stat-value" id="stat-tokens">{thousands(totals.tokens())}</span>
                                        <span class="stat-note">
                                            {format!("{} in · {} out", thousands(totals.input_tokens), thousands(totals.output_tokens))}
                                        </span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Credits spent"</span>
                                        <span class="stat-value mono" id="stat-spent">{credits(&totals.charged_credits)}</span>
                                    </div>
                                    <div class="stat">
                                        <span class="stat-label">"Top model"</span>
                                        <span class="stat-value stat-text" id="stat-top-model">{top.0}</span>
                                        <span class="stat-note">{top.1}</span>
                                    </div>
                                </div>
                            })
                        }
                        Err(error) => Either::Right(view! { <ErrorMessage error /> }),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The latest five requests.
#[component]
fn RecentRequests(summary: Resource<Result<UsageSummary, AppError>>) -> impl IntoView {
    view! {
        <section class="section recent" aria-labelledby="recent-title">
            <div class="section-head">
                <h2 id="recent-title">"Recent requests"</h2>
                <A href="/usage">"See all"</A>
            </div>
            <Suspense fallback=|| view! { <Skeleton label="Loading recent requests…" lines=5 /> }>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(summary) if summary.recent.is_empty() => EitherOf3::A(view! {
                            <EmptyState
                                id="recent-empty"
                                title="No requests yet."
                                text="Create an API key and point a tool at Tollgate; each request shows up here."
                                links=vec![("/keys".into(), "Create an API key")]
                            />
                        }),
                        Ok(summary) => EitherOf3::B(view! {
                            <RequestTable requests=summary.recent id="recent-requests" compact=true />
                        }),
                        Err(error) => EitherOf3::C(view! { <ErrorMessage error /> }),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Who is online and the top four, refreshed while the page is open; and
/// the heartbeat that keeps this user in the online list.
#[component]
fn Community() -> impl IntoView {
    let (tick, set_tick) = signal(0u64);
    let online = Resource::new(move || tick.get(), |_| online_users());
    let leaders = Resource::new(move || tick.get(), |_| leaderboard(4));
    // Here now, then every minute; the lists follow more often.
    Effect::new(move |_| beacon("/api/presence"));
    every(HEARTBEAT, || beacon("/api/presence"));
    every(REFRESH, move || set_tick.update(|t| *t += 1));

    view! {
        <div class="community">
            <section class="section" aria-labelledby="online-title">
                <div class="section-head">
                    <h2 id="online-title">"Online now"</h2>
                </div>
                <Transition fallback=|| view! { <Skeleton label="Loading who is online…" lines=2 /> }>
                    {move || Suspend::new(async move {
                        match online.await {
                            Ok(people) => {
                                Either::Left(view! {
                                    <p class="muted" id="online-count">
                                        {match people.len() {
                                            1 => "1 person in the last 5 minutes".to_owned(),
                                            n => format!("{n} people in the last 5 minutes"),
                                        }}
                                    </p>
                                    <ul class="online-list" id="online-list">
                                        {people
                                            .into_iter()
                                            .map(|person| {
                                                view! {
                                                    <li class:is-you=person.is_you>
                                                        <span class="online-dot" aria-hidden="true"></span>
                                                        <span class="online-name">{person.name}</span>
                                                        {person.is_you.then(|| view! { <span class="badge badge-you">"you"</span> })}
                                                        <RelativeTime moment=person.last_seen />
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                })
                            }
                            Err(error) => Either::Right(view! { <ErrorMessage error /> }),
                        }
                    })}
                </Transition>
            </section>
            <section class="section" aria-labelledby="top-title">
                <div class="section-head">
                    <h2 id="top-title">"Leaderboard"</h2>
                    <A href="/leaderboard">"Full leaderboard"</A>
                </div>
                <Transition fallback=|| view! { <Skeleton label="Loading the leaderboard…" lines=4 /> }>
                    {move || Suspend::new(async move {
                        match leaders.await {
                            Ok(entries) if entries.is_empty() => EitherOf3::A(view! {
                                <p class="muted" id="top-leaders-empty">"Nobody has made a request yet: the top spot is free."</p>
                            }),
                            Ok(entries) => EitherOf3::B(view! { <LeaderTable entries compact=true /> }),
                            Err(error) => EitherOf3::C(view! { <ErrorMessage error /> }),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}
