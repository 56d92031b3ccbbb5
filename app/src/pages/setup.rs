//! `/setup`: how to point Claude Code, the OpenAI and Anthropic SDKs and
//! curl at this Tollgate, with its address, the user's key prefix and a
//! model they may call filled in.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::keys::setup_info,
    components::{browser::copy_to_clipboard, error_view::page_error, skeleton::Skeleton},
    dto::SetupInfo,
};

#[component]
pub fn SetupPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| setup_info());
    view! {
        <Title text="Set up your tools — Tollgate" />
        <h1>"Set up your tools"</h1>
        <Suspense fallback=|| view! { <Skeleton label="Loading…" lines=6 /> }>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(info) => Either::Left(view! { <Guides info /> }),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Guides(info: SetupInfo) -> impl IntoView {
    let base = info.base_url.clone();
    let key = match &info.key_prefix {
        Some(prefix) => format!("{prefix}…"),
        None => "tg-your-key".to_owned(),
    };
    let model = info.model.clone().unwrap_or_else(|| "a-model".into());
    let key_note = match &info.key_prefix {
        Some(prefix) => Either::Left(view! {
            <p class="muted" id="setup-key-note">
                "Your newest key starts with " <code>{prefix.clone()}</code>
                ". Paste the whole key (shown once, when you created it) where the examples say "
                <code>{format!("{prefix}…")}</code> "."
            </p>
        }),
        None => Either::Right(view! {
            <p class="alert" id="setup-no-key">
                "You have no working key yet. " <A href="/keys">"Create one"</A> " first, then come back."
            </p>
        }),
    };
    let guides = [
        (
            "Claude Code",
            "The Anthropic endpoint; the base URL has no /v1.",
            format!(
                "export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={key}\nexport ANTHROPIC_MODEL={model}\nclaude"
            ),
        ),
        (
            "Gemini CLI",
            "Gemini's API; the base URL has no /v1beta. Choose the API-key sign-in once (merge it into an existing settings.json).",
            format!(
                "mkdir -p ~/.gemini\necho '{{\"security\": {{\"auth\": {{\"selectedType\": \"gemini-api-key\"}}}}}}' > ~/.gemini/settings.json\nexport GOOGLE_GEMINI_BASE_URL={base}\nexport GEMINI_API_KEY={key}\ngemini -m {model}"
            ),
        ),
        (
            "OpenAI SDK (Python)",
            "Or set OPENAI_BASE_URL and OPENAI_API_KEY; the base URL ends in /v1.",
            format!(
                "from openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}/v1\", api_key=\"{key}\")\nreply = client.chat.completions.create(\n    model=\"{model}\",\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(reply.choices[0].message.content)"
            ),
        ),
        (
            "Anthropic SDK (Python)",
            "Or set ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY; no /v1.",
            format!(
                "from anthropic import Anthropic\n\nclient = Anthropic(base_url=\"{base}\", api_key=\"{key}\")\nreply = client.messages.create(\n    model=\"{model}\",\n    max_tokens=256,\n    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n)\nprint(reply.content[0].text)"
            ),
        ),
        (
            "Node (openai and @anthropic-ai/sdk)",
            "The same base URLs and key.",
            format!(
                "import OpenAI from 'openai';\nconst openai = new OpenAI({{ baseURL: '{base}/v1', apiKey: '{key}' }});\n\nimport Anthropic from '@anthropic-ai/sdk';\nconst anthropic = new Anthropic({{ baseURL: '{base}', apiKey: '{key}' }});"
            ),
        ),
        (
            "curl",
            "Either API, with the key as a bearer token (or x-api-key).",
            format!(
                "curl {base}/v1/chat/completions \\\n  -H 'Authorization: Bearer {key}' \\\n  -H 'content-type: application/json' \\\n  -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'"
            ),
        ),
    ];
    view! {
        {key_note}
        <div class="guides">
            {guides.into_iter().map(|(title, note, code)| {
                let copied = RwSignal::new(false);
                let text = code.clone();
                view! {
                    <section class="card guide">
                        <div class="section-head">
                            <h2>{title}</h2>
                            <button type="button" class="btn" on:click=move |_| { copy_to_clipboard(&text); copied.set(true); }>
                                {move || if copied.get() { "Copied" } else { "Copy" }}
                            </button>
                        </div>
                        <p class="muted">{note}</p>
                        <pre class="code">{code}</pre>
                    </section>
                }
            }).collect_view()}
        </div>
    }
}
