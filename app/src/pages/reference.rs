//! `/api-reference`: every operation of `/api` and `/v1` and every schema,
//! drawn from Tollgate's own OpenAPI description (nothing from a CDN).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use crate::{
    api::reference::load_api_reference,
    components::{error_view::page_error, skeleton::Skeleton},
    dto::reference::{ApiOperation, ApiReference, ApiSchema},
};

#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = Resource::new(|| (), |_| load_api_reference());
    view! {
        <Title text="API reference — Tollgate" />
        <h1>"API reference"</h1>
        <p class="lead">
            "Every endpoint of this Tollgate, from its OpenAPI 3.1 description: "
            <a href="/api/openapi.json" rel="external">"/api/openapi.json"</a>
            " (for client generators; "<code>"tollgate openapi"</code>" prints it too)."
        </p>
        <Suspense fallback=|| view! { <Skeleton label="Loading…" lines=8 /> }>
            {move || Suspend::new(async move {
                match reference.await {
                    Ok(reference) => Either::Left(view! { <Reference reference /> }),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Reference(reference: ApiReference) -> impl IntoView {
    let groups = reference
        .groups
        .into_iter()
        .map(|group| {
            let operations = group.operations.into_iter().map(operation).collect_view();
            let id = format!("tag-{}", group.name);
            view! {
                <section class="section api-group" id=id>
                    <h2>{group.name}</h2>
                    <p class="muted">{group.description}</p>
                    {operations}
                </section>
            }
        })
        .collect_view();
    let count = reference.schemas.len();
    let schemas = reference.schemas.into_iter().map(schema).collect_view();
    // Folded as a whole, and opened by a link to one of them.
    let hash = use_location().hash;
    let linked = move || hash.get().starts_with("#schema-");
    view! {
        {groups}
        <section class="section" id="schemas">
            <details class="api-schemas" prop:open=linked>
                <summary><h2>{format!("Schemas ({count})")}</h2></summary>
                {schemas}
            </details>
        </section>
    }
}

fn operation(op: ApiOperation) -> impl IntoView {
    let parameters = (!op.parameters.is_empty()).then(|| {
        let rows = op
            .parameters
            .into_iter()
            .map(|p| {
                view! {
                    <tr>
                        <td class="mono">{p.name}</td>
                        <td>{p.location}</td>
                        <td class="mono">{p.kind}</td>
                        <td>{if p.required { "required" } else { "" }}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="table">
                <thead><tr><th>"Parameter"</th><th>"In"</th><th>"Type"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let request = op.request.map(|body| {
        view! { <p>"Body: " <a class="mono" href=format!("#schema-{body}")>{body.clone()}</a></p> }
    });
    let responses = op
        .responses
        .into_iter()
        .map(|r| {
            let body = r
                .body
                .map(|body| view! { <span class="mono">{body}</span> });
            view! {
                <tr>
                    <td class="mono">{r.status}</td>
                    <td>{r.description}</td>
                    <td>{body}</td>
                </tr>
            }
        })
        .collect_view();
    let badge = op
        .public
        .then(|| view! { <span class="badge">"public"</span> });
    // Folded: the page lists every operation on one screen or two.
    view! {
        <details class="card api-operation">
            <summary>
                <span class="mono">
                    <span class="badge badge-kind-grant">{op.method}</span>" "{op.path}
                </span>" "{badge}" "<span class="muted">{op.summary}</span>
            </summary>
            {parameters}
            {request}
            <table class="table">
                <thead><tr><th>"Status"</th><th>"Meaning"</th><th>"Body"</th></tr></thead>
                <tbody>{responses}</tbody>
            </table>
        </details>
    }
}

fn schema(schema: ApiSchema) -> impl IntoView {
    let rows = schema
        .fields
        .into_iter()
        .map(|f| {
            view! {
                <tr>
                    <td class="mono">{f.name}</td>
                    <td class="mono">{f.kind}</td>
                    <td>{if f.required { "required" } else { "" }}</td>
                    <td>{f.description}</td>
                </tr>
            }
        })
        .collect_view();
    let id = format!("schema-{}", schema.name);
    view! {
        <details class="card api-schema" id=id>
            <summary>
                <span class="mono">{schema.name}</span>" "<span class="muted">{schema.description}</span>
            </summary>
            <table class="table">
                <thead><tr><th>"Field"</th><th>"Type"</th><th></th><th>"Meaning"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}
