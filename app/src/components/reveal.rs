//! A new secret (an API key), shown once with a copy button and a clear
//! warning that it will not be shown again.

use leptos::prelude::*;

use crate::components::browser::copy_to_clipboard;

#[component]
pub fn SecretReveal(
    /// Whose secret: `Your new key “laptop”`.
    #[prop(into)]
    title: String,
    /// What to do now, after the title.
    note: &'static str,
    secret: String,
    /// The secret's element id, for tests and links.
    id: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = secret.clone();
    view! {
        <div class="reveal" role="status">
            <p>
                <strong>{title}</strong>
                {note}
            </p>
            <div class="input-row">
                <code id=id class="code secret">{secret}</code>
                <button
                    type="button"
                    class="btn"
                    on:click=move |_| {
                        copy_to_clipboard(&text);
                        copied.set(true);
                    }
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
}
