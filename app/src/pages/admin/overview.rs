//! `/admin`: the live overview. The contract's figures load with the page,
//! then follow the live telemetry (server-sent events or a WebSocket, as
//! `REALTIME_MODE` says; with `polling`, the page asks every few seconds):
//! active users, response time and error rate, the system lights, the
//! request sparkline and who is active.

use std::time::Duration;

use contract::{
    Timestamp,
    insights::{ActiveUser, Light, LlmUsage, Overview, Performance},
};
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    api::admin::insights::{active_users, admin_settings, llm_usage, overview},
    components::{
        browser::every,
        chart::{Chart, ChartKind, Point},
        error_view::page_error,
        live::{LiveEvent, subscribe},
        skeleton::{Skeleton, SkeletonStats},
    },
    format::{count, exact_time, short_date, thousands},
    pages::admin::AdminNav,
};

/// How often the page asks in `polling` mode.
const POLL: Duration = Duration::from_secs(5);
/// Response-time samples kept for the latency line.
const SAMPLES: usize = 30;

/// What the live telemetry said last.
#[derive(Debug, Clone, Default, PartialEq)]
struct Live {
    active_now: Option<u64>,
    performance: Option<Performance>,
    lights: Option<Lights>,
    /// `(time, average response ms)`, oldest first.
    latency: Vec<(Timestamp, i64)>,
    updated_at: Option<Timestamp>,
}

/// The API's and the database's lights.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Lights {
    api: Light,
    db: Light,
}

#[component]
pub fn AdminOverviewPage() -> impl IntoView {
    let settings = Resource::new(|| (), |_| admin_settings());
    // Bumped to ask the server again: on each performance tick, on each
    // change of who is active, and on the polling timer.
    let refresh = RwSignal::new(0u64);
    let active_refresh = RwSignal::new(0u64);
    let figures = Resource::new(move || refresh.get(), |_| overview());
    let active = Resource::new(move || active_refresh.get(), |_| active_users());
    let requests = Resource::new(
        || (),
        |_| llm_usage(String::new(), String::new(), String::new()),
    );
    let live = RwSignal::new(Live::default());

    // Connect once the mode is known (effects run in the browser only).
    Effect::new(move |_| {
        let Some(Ok(settings)) = settings.get() else {
            return;
        };
        if settings.realtime_mode == "polling" {
            return;
        }
        subscribe(&settings.realtime_mode, move |event| {
            apply(live, refresh, active_refresh, event)
        });
    });
    let polling = move || matches!(settings.get(), Some(Ok(ref s)) if s.realtime_mode == "polling");
    every(POLL, move || {
        if polling() {
            refresh.update(|n| *n += 1);
            active_refresh.update(|n| *n += 1);
        }
    });

    view! {
        <Title text="Admin — Tollgate" />
        <AdminNav />
        <div class="page-head">
            <h1>"Overview"</h1>
            <p class="live-note" id="live-mode">
                <span class="live-dot" aria-hidden="true"></span>
                {move || match settings.get() {
                    Some(Ok(s)) => match s.realtime_mode.as_str() {
                        "sse" => "Live (server-sent events)".to_owned(),
                        "ws" => "Live (WebSocket)".to_owned(),
                        _ => format!("Refreshing every {} s", POLL.as_secs()),
                    },
                    _ => "Connecting…".to_owned(),
                }}
                {move || live.with(|l| l.updated_at.clone()).map(|at| format!(" · updated {}", exact_time(&at)))}
            </p>
        </div>
        <Figures figures live />
        <Charts requests live />
        <ActiveUsers active />
    }
}
// The page's parts have their view types erased (`AnyView`): nested in one
// view they are too deep for the compiler's layout queries in release
// builds.

/// The contract's figures, live values first, and the system lights.
#[component]
fn Figures(
    figures: Resource<Result<Overview, crate::error::AppError>>,
    live: RwSignal<Live>,
) -> AnyView {
    view! {
    <Transition fallback=|| view! { <SkeletonStats cards=6 /> }>
        {move || Suspend::new(async move {
            match figures.await {
                Ok(figures) => Either::Left(view! {
                    <div class="stats" id="overview-stats">
                        <Stat id="stat-total-users" label="Users" value=thousands(figures.overview.total_users as i64) />
                        <Stat
                            id="stat-active-now"
                            label="Active now"
                            value=move || thousands(live.with(|l| l.active_now).unwrap_or(figures.overview.active_now) as i64)
                        />
                        <Stat id="stat-requests-24h" label="Requests, 24 h" value=thousands(figures.overview.title_generations_24h as i64) />
                        <Stat id="stat-requests-total" label="Requests, all time" value=thousands(figures.overview.total_title_generations as i64) />
                        <Stat
                            id="stat-latency"
                            label="Average response"
                            value=move || format!("{} ms", thousands(live.with(|l| l.performance).unwrap_or(figures.performance).avg_response_ms))
                        />
                        <Stat
                            id="stat-error-rate"
                            label="Error rate, 24 h"
                            value=move || format!("{:.1} %", live.with(|l| l.performance).unwrap_or(figures.performance).error_rate_pct)
                        />
                    </div>
                    <div class="lights" id="system-status" aria-label="System status">
                        {move || {
                            let lights = live.with(|l| l.lights).unwrap_or(Lights { api: figures.system.api, db: figures.system.db });
                            view! {
                                <SystemLight name="API" light=lights.api />
                                <SystemLight name="Database" light=lights.db />
                            }
                        }}
                    </div>
                }),
                Err(error) => Either::Right(page_error(error)),
            }
        })}
    </Transition>
    }
    .into_any()
}

/// Requests per day and the live response time.
#[component]
fn Charts(
    requests: Resource<Result<LlmUsage, crate::error::AppError>>,
    live: RwSignal<Live>,
) -> AnyView {
    view! {
    <div class="charts">
        <Transition fallback=|| view! { <Skeleton label="Loading requests…" lines=0 block=true /> }>
            {move || Suspend::new(async move {
                requests.await.ok().map(|usage| {
                    let points: Vec<Point> = usage.sparkline.dates.iter().zip(&usage.sparkline.values).map(|(date, value)| Point {
                        label: short_date(date),
                        detail: format!("{date}: {}", count(*value, "request", "requests")),
                        value: *value as f64,
                    }).collect();
                    view! { <Chart kind=ChartKind::Line title="Requests per day" points id="chart-sparkline" /> }
                })
            })}
        </Transition>
        {move || {
            let points: Vec<Point> = live.with(|l| l.latency.iter().map(|(at, ms)| Point {
                label: at.get(11..19).unwrap_or_default().to_owned(),
                detail: format!("{}: {ms} ms", exact_time(at)),
                value: *ms as f64,
            }).collect());
            view! { <Chart kind=ChartKind::Line title="Average response time (ms), live" points id="chart-latency" /> }
        }}
    </div>
    }
    .into_any()
}

#[component]
fn ActiveUsers(active: Resource<Result<Vec<ActiveUser>, crate::error::AppError>>) -> AnyView {
    view! {
    <section class="section">
        <h2>"Active users"</h2>
        <Transition fallback=|| view! { <Skeleton label="Loading active users…" lines=3 /> }>
            {move || Suspend::new(async move {
                match active.await {
                    Ok(users) if users.is_empty() => Either::Left(view! {
                        <p class="muted" id="no-active-users">"Nobody has been active in the last few minutes."</p>
                    }.into_any()),
                    Ok(users) => Either::Left(view! {
                        <div class="table-wrap">
                            <table class="table" id="active-users">
                                <thead><tr><th>"User"</th><th>"Plan"</th><th class="num">"Requests today"</th><th>"Last seen"</th></tr></thead>
                                <tbody>
                                    {users.into_iter().map(|user| view! {
                                        <tr>
                                            <td>{user.email.unwrap_or(user.user_id)}</td>
                                            <td>{if user.has_grant { "pro lifetime" } else { user.plan.as_str() }}</td>
                                            <td class="num">{thousands(user.titles_generated_today)}</td>
                                            <td title=exact_time(&user.last_seen_at)>{user.last_seen_at.get(11..19).unwrap_or_default().to_owned()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    </section>
    }
    .into_any()
}

/// Applies one live event to the page's state.
fn apply(
    live: RwSignal<Live>,
    refresh: RwSignal<u64>,
    active_refresh: RwSignal<u64>,
    event: LiveEvent,
) {
    match event {
        LiveEvent::ActiveUsers(now) => {
            if live.with_untracked(|l| l.active_now) != Some(now.count) {
                active_refresh.update(|n| *n += 1);
            }
            live.update(|l| {
                l.active_now = Some(now.count);
                l.updated_at = Some(now.timestamp);
            });
        }
        LiveEvent::PerformanceTick(tick) => {
            live.update(|l| {
                l.performance = Some(Performance {
                    requests_total_24h: l
                        .performance
                        .map(|p| p.requests_total_24h)
                        .unwrap_or_default(),
                    avg_response_ms: tick.avg_response_ms,
                    error_rate_pct: tick.error_rate_pct,
                });
                l.latency
                    .push((tick.timestamp.clone(), tick.avg_response_ms));
                if l.latency.len() > SAMPLES {
                    l.latency.remove(0);
                }
                l.updated_at = Some(tick.timestamp);
            });
            // The request counts are not in the events: ask for them.
            refresh.update(|n| *n += 1);
        }
        LiveEvent::SystemStatus(status) => {
            live.update(|l| {
                l.lights = Some(Lights {
                    api: status.api,
                    db: status.db,
                });
                l.updated_at = Some(status.timestamp);
            });
        }
        LiveEvent::Heartbeat => {}
    }
}

#[component]
fn Stat(
    #[prop(into)] id: String,
    label: &'static str,
    #[prop(into)] value: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="stat" id=id>
            <span class="stat-label">{label}</span>
            <span class="stat-value">{value}</span>
        </div>
    }
}

#[component]
fn SystemLight(name: &'static str, light: Light) -> impl IntoView {
    let said = match light {
        Light::Green => "working",
        Light::Yellow => "degraded",
        Light::Red => "down",
    };
    view! {
        <span class=format!("light light-{}", light.as_str()) data-light=name>
            <span class="light-dot" aria-hidden="true"></span>
            {format!("{name}: {said}")}
        </span>
    }
}
