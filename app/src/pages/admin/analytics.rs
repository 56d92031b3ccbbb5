//! `/admin/analytics`: the admin contract's llm-usage (requests per user and
//! model, the daily sparkline) and the platform figures (usage per day and
//! per model, credits, top users, errors) over a date range and model kept
//! in the URL; the per-user rollup as CSV.

use contract::insights::{LlmUsage, PlatformStats};
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};

use crate::{
    api::admin::insights::{llm_usage, platform_stats},
    components::{
        chart::{BreakdownChart, Category, Chart, ChartKind, Point},
        error_view::page_error,
        skeleton::{Skeleton, SkeletonStats},
    },
    format::{count, credits, exact_time, short_date, thousands},
    pages::admin::AdminNav,
    query::query_string,
};

#[component]
pub fn AdminAnalyticsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let filters = Memo::new(move |_| (param("from"), param("to"), param("model")));
    let usage = Resource::new(
        move || filters.get(),
        |(from, to, model)| llm_usage(from, to, model),
    );
    let platform = Resource::new(
        move || filters.get(),
        |(from, to, _)| platform_stats(from, to),
    );
    view! {
        <Title text="Analytics — Tollgate" />
        <AdminNav />
        <div class="page-head">
            <h1>"Analytics"</h1>
            <a
                class="btn"
                id="admin-csv"
                download
                href=move || {
                    let (from, to, model) = filters.get();
                    format!("/api/admin/usage.csv{}", query_string(&[("from", &from), ("to", &to), ("model", &model)]))
                }
            >
                "Download CSV"
            </a>
        </div>
        <Form method="GET" action="/admin/analytics" attr:class="filters" attr:id="analytics-filters">
            <label><span>"From"</span><input type="date" name="from" prop:value=move || filters.get().0 /></label>
            <label><span>"To"</span><input type="date" name="to" prop:value=move || filters.get().1 /></label>
            <label><span>"Model"</span><input name="model" placeholder="all models" prop:value=move || filters.get().2 /></label>
            <button type="submit" class="btn btn-primary">"Apply"</button>
        </Form>
        <Transition fallback=|| view! { <SkeletonStats cards=4 /> <Skeleton label="Loading analytics…" lines=4 block=true /> }>
            {move || Suspend::new(async move {
                match (usage.await, platform.await) {
                    (Ok(usage), Ok(platform)) => Either::Left(view! {
                        <Figures usage=usage.clone() platform=platform.clone() />
                        <div class="charts">
                            <Chart kind=ChartKind::Line title="Requests per day" points=sparkline(&usage) id="chart-llm-requests" />
                            <Chart kind=ChartKind::Bar title="Tokens per day (input + output)" points=tokens(&platform) id="chart-platform-tokens" />
                            <BreakdownChart title="Requests by model" rows=models(&platform) id="chart-platform-models" />
                            <Chart kind=ChartKind::Bar title="Errors per day" points=errors(&platform) id="chart-platform-errors" />
                        </div>
                        <ByUser usage />
                        <TopUsers platform />
                    }),
                    (Err(error), _) | (_, Err(error)) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}

#[component]
fn Figures(usage: LlmUsage, platform: PlatformStats) -> impl IntoView {
    view! {
        <p class="muted" id="analytics-range">{format!("{} to {}", platform.from, platform.to)}</p>
        <div class="stats">
            <div class="stat">
                <span class="stat-label">"Requests"</span>
                <span class="stat-value" id="analytics-requests">{thousands(usage.totals.requests)}</span>
                <span class="stat-note">{count(usage.totals.users as i64, "user", "users")}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Error rate"</span>
                <span class="stat-value">{format!("{:.1} %", platform.error_rate.error_rate_pct)}</span>
                <span class="stat-note">{format!("{} of {}", thousands(platform.error_rate.errors), thousands(platform.error_rate.requests))}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Credits spent"</span>
                <span class="stat-value">{credits(&platform.credits.spent_credits)}</span>
                <span class="stat-note">{format!("refunded {}", credits(&platform.credits.refunded_credits))}</span>
            </div>
            <div class="stat">
                <span class="stat-label">"Credits granted"</span>
                <span class="stat-value">{credits(&platform.credits.granted_credits)}</span>
                <span class="stat-note">{format!("adjusted {}", credits(&platform.credits.adjusted_credits))}</span>
            </div>
        </div>
    }
}

#[component]
fn ByUser(usage: LlmUsage) -> impl IntoView {
    view! {
        <section class="section">
            <h2>"Requests by user and model"</h2>
            {if usage.by_user.is_empty() {
                Either::Left(view! { <p class="muted" id="no-llm-usage">"No requests in this range."</p> })
            } else {
                Either::Right(view! {
                    <div class="table-wrap">
                        <table class="table" id="llm-usage-table">
                            <thead><tr><th>"User"</th><th>"Model"</th><th class="num">"Requests"</th><th>"Last used"</th></tr></thead>
                            <tbody>
                                {usage.by_user.into_iter().map(|row| view! {
                                    <tr>
                                        <td>{row.email.unwrap_or(row.user_id)}</td>
                                        <td>{row.model}</td>
                                        <td class="num">{thousands(row.count)}</td>
                                        <td title=exact_time(&row.last_used_at)>{row.last_used_at.get(..10).unwrap_or_default().to_owned()}</td>
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
fn TopUsers(platform: PlatformStats) -> impl IntoView {
    view! {
        <section class="section">
            <h2>"Top users by spend"</h2>
            <div class="table-wrap">
                <table class="table" id="top-users-table">
                    <thead><tr><th>"User"</th><th class="num">"Requests"</th><th class="num">"Credits"</th></tr></thead>
                    <tbody>
                        {platform.top_users.into_iter().map(|user| view! {
                            <tr>
                                <td title=user.email.clone().unwrap_or_default()>{user.name}</td>
                                <td class="num">{thousands(user.requests)}</td>
                                <td class="num">{credits(&user.cost_credits)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn sparkline(usage: &LlmUsage) -> Vec<Point> {
    let line = &usage.sparkline;
    line.dates
        .iter()
        .zip(&line.values)
        .map(|(date, value)| Point {
            label: short_date(date),
            detail: format!("{date}: {}", count(*value, "request", "requests")),
            value: *value as f64,
        })
        .collect()
}

fn tokens(platform: &PlatformStats) -> Vec<Point> {
    platform
        .usage_per_day
        .iter()
        .map(|day| {
            let tokens = day.input_tokens + day.output_tokens;
            Point {
                label: short_date(&day.date),
                detail: format!("{}: {}", day.date, count(tokens, "token", "tokens")),
                value: tokens as f64,
            }
        })
        .collect()
}

fn errors(platform: &PlatformStats) -> Vec<Point> {
    platform
        .usage_per_day
        .iter()
        .map(|day| Point {
            label: short_date(&day.date),
            detail: format!(
                "{}: {} of {}",
                day.date,
                count(day.errors, "error", "errors"),
                thousands(day.requests)
            ),
            value: day.errors as f64,
        })
        .collect()
}

fn models(platform: &PlatformStats) -> Vec<Category> {
    platform
        .models
        .iter()
        .map(|model| Category {
            label: model.model.clone(),
            value: model.requests as f64,
            shown: thousands(model.requests),
            detail: format!(
                "{}: {}, {} credits",
                model.model,
                count(model.requests, "request", "requests"),
                credits(&model.cost_credits)
            ),
        })
        .collect()
}
