//! `/`: what Tollgate is and how to start.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn LandingPage() -> impl IntoView {
    view! {
        <Title text="Tollgate — your team's LLM gateway" />
        <section class="hero">
            <h1>"One gateway for every model your team uses"</h1>
            <p class="lead">
                "Tollgate gives each person an API key for OpenAI- and Anthropic-compatible "
                "endpoints, meters every token exactly and charges credits, so a shared "
                "provider account stays fair and within budget."
            </p>
            <div class="actions">
                <A href="/register" attr:class="btn btn-primary">"Create an account"</A>
                <A href="/login" attr:class="btn">"Sign in"</A>
            </div>
        </section>
        <section class="cards">
            <article class="card">
                <h2>"Point your tools at it"</h2>
                <p>"Claude Code, the OpenAI and Anthropic SDKs and curl work unchanged:"</p>
                <pre class="code">
                    "export ANTHROPIC_BASE_URL=http://127.0.0.1:3000\nexport OPENAI_BASE_URL=http://127.0.0.1:3000/v1"
                </pre>
            </article>
            <article class="card">
                <h2>"Exact billing"</h2>
                <p>"Credits are integers, holds are taken before a request runs, and the ledger always adds up."</p>
            </article>
            <article class="card">
                <h2>"For admins"</h2>
                <p>"Manage users, providers, models and prices, and watch a live dashboard."</p>
            </article>
        </section>
    }
}
