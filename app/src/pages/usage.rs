//! `/usage`: what the signed-in user's requests used and cost over a date
//! range, for one key and one model or all. The filters live in the URL
//! (`/usage?from=2026-11-01&to=2026-11-30&key_id=…&model=…&page=2`), so a
//! view can be shared and survives a reload; the CSV link downloads
//! exactly the filtered requests.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    NavigateOptions,
    components::A,
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};

use crate::{
    api::usage::{usage_filter_choices, usage_report},
    components::{
        chart::{BreakdownChart, Category, Chart, ChartKind, Point},
        empty::EmptyState,
        error_view::{ErrorMessage, page_error},
        pager::Pager,
        skeleton::{Skeleton, SkeletonStats},
        time::RelativeTime,
    },
    dto::{Dated, UsageChoices, UsageData, usage::RequestRow},
    format::{count, credits, short_date, thousands},
    query::query_string,
};

/// The filters of the page, as the URL holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilters {
    /// `YYYY-MM-DD`; empty: the report's default (the last 30 days).
    pub from: String,
    pub to: String,
    /// Empty: every key.
    pub key_id: String,
    /// Empty: every model.
    pub model: String,
    pub page: u64,
}

impl UsageFilters {
    pub fn from_query(query: &ParamsMap) -> Self {
        let text = |name| query.get(name).unwrap_or_default().trim().to_owned();
        Self {
            from: text("from"),
            to: text("to"),
            key_id: text("key_id"),
            model: text("model"),
            page: query
                .get("page")
                .and_then(|page| page.parse().ok())
                .unwrap_or(1)
                .max(1),
        }
    }

    /// `?from=…&model=…`, only the filters that are set (and the page
    /// when it is not the first); empty when nothing is.
    pub fn query(&self, with_page: bool) -> String {
        let page = if with_page && self.page > 1 {
            self.page.to_string()
        } else {
            String::new()
        };
        query_string(&[
            ("from", &self.from),
            ("to", &self.to),
            ("key_id", &self.key_id),
            ("model", &self.model),
            ("page", &page),
        ])
    }

    fn href(&self) -> String {
        format!("/usage{}", self.query(true))
    }

    fn with_page(&self, page: u64) -> Self {
        Self {
            page,
            ..self.clone()
        }
    }
}

#[component]
pub fn UsagePage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| query.with(UsageFilters::from_query));
    let report = Resource::new(
        move || filters.get(),
        |f| usage_report(f.from, f.to, f.key_id, f.model, f.page),
    );
    let (refreshing, set_refreshing) = signal(false);

    view! {
        <Title text="Usage — Tollgate" />
        <div class="page-head">
            <h1>"Usage"</h1>
            <A href="/usage" attr:class="btn btn-ghost" attr:id="clear-filters">"Clear filters"</A>
        </div>
        <Filters filters />
        <Transition
            fallback=|| {
                view! {
                    <SkeletonStats />
                    <Skeleton label="Loading your usage…" lines=4 block=true />
                }
            }
            set_pending=set_refreshing
        >
            {move || Suspend::new(async move {
                match report.await {
                    Ok(data) => Either::Left(view! {
                        <Report data filters=filters.get_untracked() refreshing />
                    }),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}

/// The date range, key and model. A change goes straight into the URL,
/// which the report follows; without JavaScript the form submits the same
/// query. Dates the URL leaves out show the report's default range, and
/// changing one date writes both, so what is shown is what is asked for.
#[component]
fn Filters(filters: Memo<UsageFilters>) -> impl IntoView {
    let choices = Resource::new(|| (), |_| usage_filter_choices());
    let navigate = use_navigate();
    let apply = Callback::new(move |next: UsageFilters| {
        navigate(
            &UsageFilters { page: 1, ..next }.href(),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    });

    view! {
        <form class="filters" method="get" action="/usage" aria-label="Usage filters">
            <Transition fallback=|| {
                view! {
                    <div class="field field-loading" aria-hidden="true"></div>
                    <div class="field field-loading" aria-hidden="true"></div>
                }
            }>
                {move || Suspend::new(async move {
                    match choices.await {
                        Ok(choices) => Either::Left(view! { <FilterFields filters choices apply /> }),
                        Err(error) => Either::Right(view! { <ErrorMessage error /> }),
                    }
                })}
            </Transition>
            <noscript>
                <button type="submit" class="btn">"Apply"</button>
            </noscript>
        </form>
    }
}

#[component]
fn FilterFields(
    filters: Memo<UsageFilters>,
    choices: UsageChoices,
    apply: Callback<UsageFilters>,
) -> impl IntoView {
    let UsageChoices {
        default_from,
        default_to,
        keys,
        mut models,
    } = choices;
    let chosen = filters.with_untracked(|f| f.model.clone());
    if !chosen.is_empty() && !models.contains(&chosen) {
        models.push(chosen);
    }
    let from = move || or_default(filters.with(|f| f.from.clone()), &default_from);
    let to = move || or_default(filters.with(|f| f.to.clone()), &default_to);
    let (shown_from, shown_to) = (from.clone(), to.clone());
    let set_from = move |ev| {
        apply.run(UsageFilters {
            from: event_target_value(&ev),
            to: shown_to(),
            ..filters.get_untracked()
        })
    };
    let set_to = move |ev| {
        apply.run(UsageFilters {
            from: shown_from(),
            to: event_target_value(&ev),
            ..filters.get_untracked()
        })
    };
    let set_key = move |ev| {
        apply.run(UsageFilters {
            key_id: event_target_value(&ev),
            ..filters.get_untracked()
        })
    };
    let set_model = move |ev| {
        apply.run(UsageFilters {
            model: event_target_value(&ev),
            ..filters.get_untracked()
        })
    };
    let key = Signal::derive(move || filters.with(|f| f.key_id.clone()));
    let model = Signal::derive(move || filters.with(|f| f.model.clone()));

    view! {
        <div class="field">
            <label for="usage-from">"From"</label>
            <input id="usage-from" name="from" type="date" value=from.clone() prop:value=from on:change=set_from />
        </div>
        <div class="field">
            <label for="usage-to">"To"</label>
            <input id="usage-to" name="to" type="date" value=to.clone() prop:value=to on:change=set_to />
        </div>
        <div class="field">
            <label for="usage-key">"Key"</label>
            <select id="usage-key" name="key_id" on:change=set_key>
                <Choice value=String::new() text="All keys".into() current=key />
                {keys
                    .into_iter()
                    .map(|choice| view! { <Choice value=choice.id text=choice.name current=key /> })
                    .collect_view()}
            </select>
        </div>
        <div class="field">
            <label for="usage-model">"Model"</label>
            <select id="usage-model" name="model" on:change=set_model>
                <Choice value=String::new() text="All models".into() current=model />
                {models
                    .into_iter()
                    .map(|name| view! { <Choice value=name.clone() text=name current=model /> })
                    .collect_view()}
            </select>
        </div>
    }
}

/// An empty filter stands for the default.
fn or_default(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value
    }
}

/// An `<option>` selected while `current` equals its value (as an attribute
/// for the server's HTML, as a property once the person has used the list).
#[component]
fn Choice(value: String, text: String, current: Signal<String>) -> impl IntoView {
    let selected = {
        let value = value.clone();
        move || current.with(|c| *c == value)
    };
    view! {
        <option value=value selected=selected.clone() prop:selected=selected>
            {text}
        </option>
    }
}

#[component]
fn Report(data: UsageData, filters: UsageFilters, refreshing: ReadSignal<bool>) -> impl IntoView {
    let totals = data.totals.clone();
    let csv = format!(
        "/api/users/me/usage.csv{}",
        UsageFilters {
            from: data.from.clone(),
            to: data.to.clone(),
            ..filters.clone()
        }
        .query(false)
    );
    let range = format!("{} – {}", data.from, data.to);
    let requests_chart: Vec<Point> = data
        .series
        .iter()
        .map(|day| Point {
            label: short_date(&day.date),
            detail: format!(
                "{}: {}",
                day.date,
                count(day.requests, "request", "requests")
            ),
            value: day.requests as f64,
        })
        .collect();
    let tokens_chart: Vec<Point> = data
        .series
        .iter()
        .map(|day| Point {
            label: short_date(&day.date),
            detail: format!("{}: {}", day.date, count(day.tokens(), "token", "tokens")),
            value: day.tokens() as f64,
        })
        .collect();
    let credits_chart: Vec<Point> = data
        .series
        .iter()
        .map(|day| Point {
            label: short_date(&day.date),
            detail: format!("{}: {} credits", day.date, credits(&day.cost_credits)),
            value: day.cost_micro_credits as f64 / 1_000_000.0,
        })
        .collect();
    let by_model: Vec<Category> = data
        .by_model
        .iter()
        .map(|model| Category {
            label: model.model.clone(),
            value: model.usage.requests as f64,
            shown: thousands(model.usage.requests),
            detail: format!(
                "{}, {}, {} credits",
                count(model.usage.requests, "request", "requests"),
                count(model.usage.tokens(), "token", "tokens"),
                credits(&model.usage.cost_credits)
            ),
        })
        .collect();
    let pages = u64::try_from(data.total)
        .unwrap_or(0)
        .div_ceil(data.per_page)
        .max(1);
    let page = data.page;

    view! {
        <div class="report" aria-busy=move || refreshing.get().to_string()>
            <div class="report-head">
                <p class="muted" id="usage-range">
                    {range} " · " {count(totals.requests, "request", "requests")}
                </p>
                <a
                    class="btn"
                    id="usage-csv"
                    href=csv
                    download
                    rel="external"
                >
                    "Download CSV"
                </a>
            </div>
            <div class="stats">
                <div class="stat">
                    <span class="stat-label">"Requests"</span>
                    <span class="stat-value" id="usage-requests">{thousands(totals.requests)}</span>
                </div>
                <div class="stat">
                    <span class="stat-label">"Tokens in / out"</span>
                    <span class="stat-value" id="usage-tokens">
                        {format!("{} / {}", thousands(totals.input_tokens), thousands(totals.output_tokens))}
                    </span>
                </div>
                <div class="stat">
                    <span class="stat-label">"Credits charged"</span>
                    <span class="stat-value mono" id="usage-credits">{credits(&totals.charged_credits)}</span>
                </div>
                <div class="stat">
                    <span class="stat-label">"Models"</span>
                    <span class="stat-value">{data.by_model.len()}</span>
                </div>
            </div>
            <div class="charts">
                <Chart kind=ChartKind::Bar title="Requests per day" points=requests_chart id="chart-requests" />
                <Chart kind=ChartKind::Bar title="Tokens per day (input + output)" points=tokens_chart id="chart-tokens" />
                <Chart kind=ChartKind::Line title="Credits per day" points=credits_chart id="chart-credits" />
                <BreakdownChart title="Requests by model" rows=by_model id="chart-models" />
            </div>
            <section class="section" aria-labelledby="requests-title">
                <h2 id="requests-title">"Requests"</h2>
                {if data.requests.is_empty() {
                    // Past the last page, or nothing matches at all.
                    let (title, text, links) = if data.total > 0 {
                        (
                            format!("There is no page {page}."),
                            "The filtered requests fit on fewer pages.",
                            vec![(filters.with_page(1).href(), "First page")],
                        )
                    } else {
                        (
                            "No requests match these filters.".to_owned(),
                            "Widen the date range or clear the filters. To make a request, create an API key and point a tool at Tollgate.",
                            vec![("/keys".to_owned(), "Create an API key"), ("/usage".to_owned(), "Clear filters")],
                        )
                    };
                    Either::Left(view! { <EmptyState id="usage-empty" title text links /> })
                } else {
                    Either::Right(view! {
                        <RequestTable requests=data.requests id="usage-table" />
                        <Pager
                            page
                            pages
                            previous=(page > 1).then(|| filters.with_page(page - 1).href())
                            next=(page < pages).then(|| filters.with_page(page + 1).href())
                            label="Request pages"
                        />
                    })
                }}
            </section>
        </div>
    }
}

/// Requests, newest first; `compact` (the dashboard's recent requests)
/// leaves out the key and the details.
#[component]
pub fn RequestTable(
    requests: Vec<Dated<RequestRow>>,
    #[prop(into)] id: String,
    #[prop(optional)] compact: bool,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" id=id>
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Model"</th>
                        {compact.then(|| view! { <th scope="col" class="num">"Tokens"</th> })}
                        {(!compact).then(|| view! {
                            <th scope="col" class="hide-narrow">"Key"</th>
                            <th scope="col" class="num">"Tokens in"</th>
                            <th scope="col" class="num">"Tokens out"</th>
                        })}
                        <th scope="col" class="num">"Credits"</th>
                        {(!compact).then(|| view! {
                            <th scope="col" class="num hide-narrow">"Status"</th>
                            <th scope="col" class="num hide-narrow">"Time"</th>
                        })}
                    </tr>
                </thead>
                <tbody>
                    {requests
                        .into_iter()
                        .map(|Dated { view: request, created }| {
                            let failed = request.status_code >= 400;
                            let total_tokens = compact.then(|| {
                                view! { <td class="num">{thousands(request.input_tokens + request.output_tokens)}</td> }
                            });
                            let tokens = (!compact).then(|| {
                                view! {
                                    <td class="hide-narrow">{request.key_name.unwrap_or_else(|| "—".into())}</td>
                                    <td class="num">{thousands(request.input_tokens)}</td>
                                    <td class="num">{thousands(request.output_tokens)}</td>
                                }
                            });
                            view! {
                                <tr data-request-id=request.id.clone()>
                                    <td><RelativeTime moment=created /></td>
                                    <td class="model">{request.model}</td>
                                    {total_tokens}
                                    {tokens}
                                    <td class="num mono">{credits(&request.charged_credits)}</td>
                                    {(!compact).then(|| view! {
                                        <td class="num hide-narrow">
                                            <span class="badge" class:badge-error=failed class:badge-ok=!failed>
                                                {request.status_code}
                                            </span>
                                        </td>
                                        <td class="num hide-narrow">{format!("{} ms", thousands(i64::from(request.duration_ms)))}</td>
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

#[cfg(test)]
mod tests {
    use leptos_router::params::ParamsMap;

    use super::UsageFilters;

    #[test]
    fn filters_round_trip_through_the_url() {
        let url: ParamsMap = [
            ("from", "2026-11-01"),
            ("to", " 2026-11-30 "),
            ("model", "gpt 4o"),
            ("page", "3"),
        ]
        .into_iter()
        .collect();
        let filters = UsageFilters::from_query(&url);
        assert_eq!(filters.to, "2026-11-30");
        assert_eq!(filters.key_id, "");
        assert_eq!(filters.page, 3);
        assert_eq!(
            filters.href(),
            "/usage?from=2026-11-01&to=2026-11-30&model=gpt%204o&page=3"
        );
        // The CSV link names the same filters, without the page.
        assert_eq!(
            filters.query(false),
            "?from=2026-11-01&to=2026-11-30&model=gpt%204o"
        );
        assert_eq!(
            filters.with_page(1).href(),
            "/usage?from=2026-11-01&to=2026-11-30&model=gpt%204o"
        );
        let bad_page: ParamsMap = [("page", "0")].into_iter().collect();
        assert_eq!(UsageFilters::from_query(&bad_page).page, 1);
        assert_eq!(UsageFilters::default().href(), "/usage");
    }
}
