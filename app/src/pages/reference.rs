//! `/api-reference`: every operation of `/api` and `/v1` and every schema,
//! drawn from Tollgate's own OpenAPI description (nothing from a CDN).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

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
    let schemas = reference.schemas.into_iter().map(schema).collect_view();
    view! {
        {groups}
        <section class="section" id="schemas">
            <h2>"Schemas"</h2>
            {schemas}
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
    view! {
        <article class="card api-operation">
            <h3 class="mono">
                <span class="badge badge-kind-grant">{op.method}</span>" "{op.path}" "{badge}
            </h3>
            <p>{op.summary}</p>
            {parameters}
            {request}
            <table class="table">
                <thead><tr><th>"Status"</th><th>"Meaning"</th><th>"Body"</th></tr></thead>
                <tbody>{responses}</tbody>
            </table>
        </article>
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
        <article class="card api-schema" id=id>
            <h3 class="mono">{schema.name}</h3>
            <p class="muted">{schema.description}</p>
            <table class="table">
                <thead><tr><th>"Field"</th><th>"Type"</th><th></th><th>"Meaning"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </article>
    }
}
