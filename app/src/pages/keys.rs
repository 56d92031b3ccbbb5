//! `/keys`: the signed-in user's API keys: create (the secret is shown once),
//! see their status and usage against quota, revoke.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;

use crate::{
    api::keys::{CreateKey, RevokeKey, list_keys, my_models},
    components::{
        browser::{confirm, copy_to_clipboard},
        error_view::{ErrorMessage, error_fallback},
    },
    dto::KeyInfo,
};

#[component]
pub fn KeysPage() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_keys(),
    );
    let models = Resource::new(|| (), |_| my_models());

    let (name, set_name) = signal(String::new());
    let (chosen, set_chosen) = signal(Vec::<String>::new());
    let (quota, set_quota) = signal(String::new());
    let (expires, set_expires) = signal(String::new());
    let (copied, set_copied) = signal(false);

    // A created key clears the form for the next one.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            set_name.set(String::new());
            set_quota.set(String::new());
            set_expires.set(String::new());
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        set_copied.set(false);
        create.dispatch(CreateKey {
            name: name.get(),
            models: chosen.get(),
            quota_credits: quota.get(),
            expires_on: expires.get(),
        });
    };
    let create_error = move || create.value().get().and_then(Result::err);
    let created = move || create.value().get().and_then(Result::ok);

    view! {
        <Title text="API keys — Tollgate" />
        <h1>"API keys"</h1>
        <section class="card">
            <h2>"Create a key"</h2>
            <form class="form" id="create-key-form" on:submit=on_submit>
                <label for="key-name">"Name"</label>
                <input
                    id="key-name"
                    required
                    maxlength="100"
                    placeholder="laptop, CI, Claude Code…"
                    prop:value=name
                    on:input=move |ev| set_name.set(event_target_value(&ev))
                />
                <fieldset class="models">
                    <legend>"Models — none checked means every model your plan allows"</legend>
                    <Suspense fallback=|| view! { <span class="muted">"Loading models…"</span> }>
                        {move || Suspend::new(async move {
                            match models.await {
                                Ok(list) if list.is_empty() => {
                                    view! { <span class="muted">"No models are offered yet."</span> }.into_any()
                                }
                                Ok(list) => {
                                    list.into_iter()
                                        .map(|model| {
                                            let id = model.clone();
                                            view! {
                                                <label class="check">
                                                    <input
                                                        type="checkbox"
                                                        value=model.clone()
                                                        on:change=move |ev| {
                                                            let on = event_target_checked(&ev);
                                                            set_chosen.update(|chosen| {
                                                                chosen.retain(|m| m != &id);
                                                                if on {
                                                                    chosen.push(id.clone());
                                                                }
                                                            });
                                                        }
                                                    />
                                                    {model}
                                                </label>
                                            }
                                        })
                                        .collect_view()
                                        .into_any()
                                }
                                Err(error) => view! { <ErrorMessage error /> }.into_any(),
                            }
                        })}
                    </Suspense>
                </fieldset>
                <label for="key-quota">"Spending quota in credits (optional)"</label>
                <input
                    id="key-quota"
                    inputmode="decimal"
                    pattern="[0-9]*([.][0-9]{1,6})?"
                    placeholder="e.g. 25"
                    prop:value=quota
                    on:input=move |ev| set_quota.set(event_target_value(&ev))
                />
                <label for="key-expiry">"Expires on (optional)"</label>
                <input
                    id="key-expiry"
                    type="date"
                    prop:value=expires
                    on:input=move |ev| set_expires.set(event_target_value(&ev))
                />
                {move || create_error().map(|error| view! { <ErrorMessage error /> })}
                <button type="submit" class="btn btn-primary" disabled=create.pending()>
                    {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                </button>
            </form>
            {move || {
                created()
                    .map(|created| {
                        let secret = created.secret.clone();
                        view! {
                            <div class="reveal" role="status">
                                <p>
                                    <strong>{format!("Your new key “{}”", created.key.name)}</strong>
                                    " — copy it now: you will not see it again."
                                </p>
                                <div class="input-row">
                                    <code id="new-key-secret" class="code secret">{created.secret.clone()}</code>
                                    <button
                                        type="button"
                                        class="btn"
                                        on:click=move |_| {
                                            copy_to_clipboard(&secret);
                                            set_copied.set(true);
                                        }
                                    >
                                        {move || if copied.get() { "Copied" } else { "Copy" }}
                                    </button>
                                </div>
                            </div>
                        }
                    })
            }}
        </section>
        <section class="section">
            <h2>"Your keys"</h2>
            <ErrorBoundary fallback=error_fallback>
                <Transition fallback=|| view! { <div class="skeleton" aria-busy="true">"Loading keys…"</div> }>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <p class="empty muted" id="no-keys">
                                        "No keys yet. Create one above, then point a tool at Tollgate with it."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(list) => view! { <KeyTable keys=list revoke /> }.into_any(),
                            Err(error) => view! { <ErrorMessage error /> }.into_any(),
                        }
                    })}
                </Transition>
            </ErrorBoundary>
        </section>
    }
}

#[component]
fn KeyTable(keys: Vec<KeyInfo>, revoke: ServerAction<RevokeKey>) -> impl IntoView {
    view! {
        <table class="table" id="keys-table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Key"</th>
                    <th>"Models"</th>
                    <th>"Spent / quota"</th>
                    <th>"Expires"</th>
                    <th>"Last used"</th>
                    <th>"Status"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {keys
                    .into_iter()
                    .map(|key| {
                        let id = key.id.clone();
                        let name = key.name.clone();
                        let revocable = key.status != "revoked";
                        view! {
                            <tr>
                                <td>{key.name.clone()}</td>
                                <td><code>{format!("{}…", key.prefix)}</code></td>
                                <td>
                                    {if key.models.is_empty() { "all".to_owned() } else { key.models.join(", ") }}
                                </td>
                                <td>
                                    {format!(
                                        "{} / {}",
                                        key.quota_used_credits,
                                        key.quota_limit_credits.clone().unwrap_or_else(|| "no limit".into()),
                                    )}
                                </td>
                                <td title=key.expires_at.clone().unwrap_or_default()>{day(key.expires_at.as_deref(), "never")}</td>
                                <td title=key.last_used_at.clone().unwrap_or_default()>{day(key.last_used_at.as_deref(), "never")}</td>
                                <td><span class=format!("badge badge-{}", key.status)>{key.status.replace('_', " ")}</span></td>
                                <td>
                                    <Show when=move || revocable>
                                        <button
                                            type="button"
                                            class="btn btn-danger"
                                            on:click={
                                                let id = id.clone();
                                                let name = name.clone();
                                                move |_| {
                                                    let question = format!("Revoke the key “{name}”? Tools using it stop working at once.");
                                                    if confirm(&question) {
                                                        revoke.dispatch(RevokeKey { id: id.clone() });
                                                    }
                                                }
                                            }
                                        >
                                            "Revoke"
                                        </button>
                                    </Show>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// `2026-11-25T…` → `2026-11-25`, or `none` when absent.
fn day(iso: Option<&str>, none: &str) -> String {
    iso.and_then(|at| at.get(..10)).unwrap_or(none).to_owned()
}
