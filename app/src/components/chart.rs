//! Charts drawn as SVG by Leptos itself: rendered on the server, hydrated
//! in the browser, nothing loaded from elsewhere. [`Chart`] draws a series
//! (one bar or point per label, e.g. per day) with axes and gridlines;
//! [`BreakdownChart`] draws one horizontal bar per category (e.g. per
//! model). Every mark carries its value in an SVG `<title>` (the browser's
//! tooltip, and what assistive technology reads); in the browser, hovering
//! also shows it at once above the chart.
//!
//! Both return their view type-erased (`AnyView`): an SVG drawing is a deep
//! type, and pages that nest charts in reactive blocks would otherwise
//! exceed the compiler's limits in release builds.
//!
//! Each `<title>` is the only child of its element: the `view!` macro
//! resolves the ambiguous `title` tag to SVG only there (among siblings it
//! would make an HTML `<title>`, which SVG ignores).

use leptos::{either::Either, prelude::*};

use crate::format::compact;

/// One value of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The axis label (`Nov 25`).
    pub label: String,
    /// What a hover says about it, e.g. `2026-11-25: 3 requests`.
    pub detail: String,
    pub value: f64,
}

/// One row of a [`BreakdownChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// The category (`gpt-4o`).
    pub label: String,
    pub value: f64,
    /// The value as written at the end of the bar (`1,204`).
    pub shown: String,
    /// What a hover says about it (`1,204 requests, 3,000 tokens, …`).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Bar,
    Line,
}

// The drawing's own units (the SVG's viewBox); CSS scales it to the page.
// Narrow enough that the text stays legible on a phone without scrolling.
const WIDTH: f64 = 400.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
/// At most this many labels under the x axis.
const MAX_X_LABELS: usize = 5;

/// A bar or line chart of `points`, left to right.
#[component]
pub fn Chart(
    kind: ChartKind,
    /// The chart's caption and accessible name.
    #[prop(into)]
    title: String,
    points: Vec<Point>,
    /// The figure's id, for links and tests.
    #[prop(into, optional)]
    id: Option<String>,
) -> AnyView {
    let active = RwSignal::new(None::<usize>);
    let count = points.len().max(1);
    let max = points.iter().map(|p| p.value).fold(0.0, f64::max);
    let integers = points.iter().all(|p| p.value.fract() == 0.0);
    let ticks = ticks(max, integers);
    let top = ticks.last().copied().unwrap_or(1.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let band = plot_w / count as f64;
    let y = move |value: f64| TOP + plot_h - (value / top) * plot_h;
    let center = move |i: usize| LEFT + band * (i as f64 + 0.5);
    let stride = count.div_ceil(MAX_X_LABELS).max(1);
    let summary = summary(&title, &points);

    let grid = ticks
        .iter()
        .map(|&tick| {
            let at = y(tick);
            view! {
                <g class="chart-tick">
                    <line x1=LEFT x2=WIDTH - RIGHT y1=at y2=at />
                    <text x=LEFT - 6.0 y=at + 4.0 text-anchor="end">{compact(tick)}</text>
                </g>
            }
        })
        .collect_view();
    let x_labels = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i.is_multiple_of(stride))
        .map(|(i, point)| {
            view! {
                <text class="chart-x-label" x=center(i) y=HEIGHT - 8.0 text-anchor="middle">
                    {point.label.clone()}
                </text>
            }
        })
        .collect_view();
    let line = (kind == ChartKind::Line && !points.is_empty()).then(|| {
        let coords: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (center(i), y(p.value)))
            .collect();
        let path = coords
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ");
        let (first_x, last_x) = (coords[0].0, coords[coords.len() - 1].0);
        let base = TOP + plot_h;
        let area = format!("{first_x:.1},{base:.1} {path} {last_x:.1},{base:.1}");
        view! {
            <polygon class="chart-area" points=area />
            <polyline class="chart-line" points=path />
        }
    });
    let marks = points
        .iter()
        .enumerate()
        .map(|(i, point)| {
            let value_y = y(point.value);
            let mark = match kind {
                ChartKind::Bar => {
                    let width = band * 0.7;
                    Either::Left(view! {
                        <rect
                            class="chart-bar"
                            x=center(i) - width / 2.0
                            y=value_y
                            width=width
                            height=(TOP + plot_h - value_y).max(0.0)
                            rx="2"
                        />
                    })
                }
                ChartKind::Line => Either::Right(
                    view! { <circle class="chart-dot" cx=center(i) cy=value_y r="3" /> },
                ),
            };
            view! {
                <g
                    class="chart-mark"
                    class:active=move || active.get() == Some(i)
                    on:mouseenter=move |_| active.set(Some(i))
                >
                    {mark}
                    // Over the mark, so that the whole column shows the value.
                    <rect class="chart-hit" x=LEFT + band * i as f64 y=TOP width=band height=plot_h>
                        <title>{point.detail.clone()}</title>
                    </rect>
                </g>
            }
        })
        .collect_view();
    let details: Vec<(String, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.detail.clone(), center(i) / WIDTH * 100.0))
        .collect();
    let tooltip = move || {
        active
            .get()
            .and_then(|i| details.get(i).cloned())
            .map(|(detail, left)| {
                view! {
                    <div class="chart-tooltip" style=format!("left: {left:.1}%")>
                        {detail}
                    </div>
                }
            })
    };

    view! {
        <figure class="chart" id=id>
            <figcaption class="chart-title">{title}</figcaption>
            <div class="chart-frame" on:mouseleave=move |_| active.set(None)>
                {tooltip}
                <svg
                    class=format!("chart-svg chart-kind-{}", if kind == ChartKind::Bar { "bar" } else { "line" })
                    viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                    role="img"
                    aria-label=summary
                >
                    {grid}
                    <line class="chart-axis" x1=LEFT x2=WIDTH - RIGHT y1=TOP + plot_h y2=TOP + plot_h />
                    {line}
                    {marks}
                    {x_labels}
                </svg>
            </div>
        </figure>
    }
    .into_any()
}

/// One category per row, longest bar first as given.
#[component]
pub fn BreakdownChart(
    #[prop(into)] title: String,
    rows: Vec<Category>,
    #[prop(into, optional)] id: Option<String>,
) -> AnyView {
    const ROW: f64 = 28.0;
    const LABEL_W: f64 = 130.0;
    const VALUE_W: f64 = 56.0;
    const LABEL_CHARS: usize = 18;
    let empty = rows.is_empty();
    let height = ROW * rows.len().max(1) as f64 + 8.0;
    let max = rows.iter().map(|r| r.value).fold(0.0, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let bar_w = WIDTH - LABEL_W - VALUE_W;
    let summary = format!(
        "{title}: {}",
        rows.iter()
            .map(|row| format!("{} {}", row.label, row.detail))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bars = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let Category {
                label,
                value,
                shown: said,
                detail,
            } = row;
            let top = 4.0 + ROW * i as f64;
            let shown = if label.chars().count() > LABEL_CHARS {
                format!("{}…", label.chars().take(LABEL_CHARS - 1).collect::<String>())
            } else {
                label.clone()
            };
            view! {
                <g class="chart-mark">
                    <text class="chart-category" x="0" y=top + ROW / 2.0 + 5.0>{shown}</text>
                    <rect
                        class="chart-bar"
                        x=LABEL_W
                        y=top + 6.0
                        width=(value / scale * (bar_w - 8.0)).max(2.0)
                        height=ROW - 12.0
                        rx="2"
                    />
                    <text class="chart-value" x=WIDTH y=top + ROW / 2.0 + 5.0 text-anchor="end">{said}</text>
                    <rect class="chart-hit" x="0" y=top width=WIDTH height=ROW>
                        <title>{format!("{label}: {detail}")}</title>
                    </rect>
                </g>
            }
        })
        .collect_view();
    let chart = (!empty).then(|| {
        view! {
            <div class="chart-frame">
                <svg class="chart-svg chart-breakdown" viewBox=format!("0 0 {WIDTH} {height}") role="img" aria-label=summary>
                    {bars}
                </svg>
            </div>
        }
    });
    view! {
        <figure class="chart" id=id>
            <figcaption class="chart-title">{title}</figcaption>
            {chart}
            {empty.then(|| view! { <p class="muted chart-empty">"Nothing in this range."</p> })}
        </figure>
    }
    .into_any()
}

/// Gridline values from 0 to a round number at or above `max`: steps of
/// 1, 2, 2.5 or 5 times a power of ten, about four of them; whole steps
/// for whole numbers.
fn ticks(max: f64, integers: bool) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let step = if integers { step.ceil().max(1.0) } else { step };
    let steps = (max / step).ceil().max(1.0) as usize;
    (0..=steps).map(|i| step * i as f64).collect()
}

/// What a screen reader says for the whole chart: the caption, the range,
/// the total and the peak.
fn summary(title: &str, points: &[Point]) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return format!("{title}: no data");
    };
    let peak = points
        .iter()
        .fold(first, |best, p| if p.value > best.value { p } else { best });
    format!(
        "{title}, {} to {}; highest: {}",
        first.label, last.label, peak.detail
    )
}

#[cfg(test)]
mod tests {
    use super::ticks;

    #[test]
    fn ticks_end_on_a_round_number_above_the_maximum() {
        assert_eq!(ticks(0.0, true), [0.0, 1.0]);
        assert_eq!(ticks(1.0, true), [0.0, 1.0]);
        assert_eq!(ticks(3.0, true), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(7.0, true), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(95.0, true), [0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(ticks(1_234.0, true), [0.0, 500.0, 1_000.0, 1_500.0]);
        let small = ticks(0.3, false);
        assert_eq!(small.len(), 4);
        assert!(small[3] >= 0.3 && small[3] < 0.31);
    }
}
