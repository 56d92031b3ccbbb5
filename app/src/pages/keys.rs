//! `/keys`: the signed-in user's API keys: create (the secret is shown once),
//! see their status and usage against quota, revoke.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;

use crate::{
    api::keys::{CreateKey, RevokeKey, UpdateKey, list_keys, my_models},
    components::{
        browser::{confirm, scroll_to_top},
        error_view::{ErrorMessage, error_fallback},
        reveal::SecretReveal,
        toast::toast_results,
    },
    dto::{KeyDraft, KeyStatus, KeyView},
    format::thousands,
};

#[component]
pub fn KeysPage() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let update = ServerAction::<UpdateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    toast_results(move || create.value().get(), "Key created");
    toast_results(move || update.value().get(), "Key saved");
    toast_results(move || revoke.value().get(), "Key revoked");
    let keys = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                revoke.version().get(),
            )
        },
        |_| list_keys(),
    );
    let models = Resource::new(|| (), |_| my_models());
    // The form's fields, and the key being edited (`None`: a new key).
    let draft = RwSignal::new(KeyDraft::default());
    let editing = RwSignal::new(None::<(String, String)>);

    // A saved key clears the form for the next one.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            draft.set(KeyDraft::default());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            draft.set(KeyDraft::default());
            editing.set(None);
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match editing.get() {
            Some((id, _)) => {
                update.dispatch(UpdateKey {
                    id,
                    draft: draft.get(),
                });
            }
            None => {
                create.dispatch(CreateKey { draft: draft.get() });
            }
        }
    };
    let form_error = move || {
        let result = if editing.with(Option::is_some) {
            update.value().get().map(|r| r.map(|_| ()))
        } else {
            create.value().get().map(|r| r.map(|_| ()))
        };
        result.and_then(Result::err)
    };
    let created = move || create.value().get().and_then(Result::ok);
    let text = move |get: fn(&KeyDraft) -> String| move || draft.with(get);
    let set = move |apply: fn(&mut KeyDraft, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            draft.update(|d| apply(d, value));
        }
    };
    let pending = move || create.pending().get() || update.pending().get();
    // A limit the key may have: a number typed in, empty for none.
    let optional = move |id: &'static str,
                         label: &'static str,
                         inputmode: &'static str,
                         pattern: &'static str,
                         placeholder: &'static str,
                         get: fn(&KeyDraft) -> String,
                         apply: fn(&mut KeyDraft, String)| {
        view! {
            <label>
                <span>{label}</span>
                <input id=id inputmode=inputmode pattern=pattern placeholder=placeholder prop:value=text(get) on:input=set(apply) />
            </label>
        }
    };

    view! {
        <Title text="API keys — Tollgate" />
        <h1>"API keys"</h1>
        <section class="card">
            <h2 id="key-form-title">
                {move || match editing.get() {
                    Some((_, name)) => format!("Edit “{name}”"),
                    None => "Create a key".to_owned(),
                }}
            </h2>
            <form class="form" id="create-key-form" on:submit=on_submit aria-labelledby="key-form-title">
                <label for="key-name">"Name"</label>
                <input
                    id="key-name"
                    required
                    maxlength="100"
                    placeholder="laptop, CI, Claude Code…"
                    prop:value=text(|d| d.name.clone())
                    on:input=set(|d, v| d.name = v)
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
                                            let checked = model.clone();
                                            view! {
                                                <label class="check">
                                                    <input
                                                        type="checkbox"
                                                        value=model.clone()
                                                        prop:checked=move || draft.with(|d| d.models.contains(&checked))
                                                        on:change=move |ev| {
                                                            let on = event_target_checked(&ev);
                                                            draft.update(|d| {
                                                                d.models.retain(|m| m != &id);
                                                                if on {
                                                                    d.models.push(id.clone());
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
                <div class="form-grid">
                    {optional("key-quota", "Spending quota in credits (optional)", "decimal", "[0-9]*([.][0-9]{1,6})?", "e.g. 25", |d| d.quota_credits.clone(), |d, v| d.quota_credits = v)}
                    <label>
                        <span>"Expires on (optional)"</span>
                        <input
                            id="key-expiry"
                            type="date"
                            prop:value=text(|d| d.expires_on.clone())
                            on:input=set(|d, v| d.expires_on = v)
                        />
                    </label>
                    {optional("key-rpm", "Requests per minute (optional)", "numeric", "[0-9]*", "your plan's limit", |d| d.requests_per_minute.clone(), |d, v| d.requests_per_minute = v)}
                    {optional("key-tpm", "Tokens per minute (optional)", "numeric", "[0-9]*", "your plan's limit", |d| d.tokens_per_minute.clone(), |d, v| d.tokens_per_minute = v)}
                </div>
                <p class="hint">"Your plan's limits always apply too; a key's own limits can only be tighter in effect."</p>
                {move || form_error().map(|error| view! { <ErrorMessage error /> })}
                <div class="actions">
                    <button type="submit" class="btn btn-primary" disabled=pending>
                        {move || match (pending(), editing.with(Option::is_some)) {
                            (true, _) => "Saving…",
                            (false, true) => "Save key",
                            (false, false) => "Create key",
                        }}
                    </button>
                    <Show when=move || editing.with(Option::is_some)>
                        <button
                            type="button"
                            class="btn"
                            on:click=move |_| {
                                editing.set(None);
                                draft.set(KeyDraft::default());
                            }
                        >
                            "Cancel"
                        </button>
                    </Show>
                </div>
            </form>
            {move || {
                created()
                    .map(|created| {
                        view! {
                            <SecretReveal
                                title=format!("Your new key “{}”", created.key.name)
                                note=" — copy it now: you will not see it again."
                                secret=created.secret
                                id="new-key-secret"
                            />
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
                            Ok(list) => view! { <KeyTable keys=list revoke draft editing /> }.into_any(),
                            Err(error) => view! { <ErrorMessage error /> }.into_any(),
                        }
                    })}
                </Transition>
            </ErrorBoundary>
        </section>
    }
}

/// A key's fields as the form shows them.
fn draft_of(key: &KeyView) -> KeyDraft {
    KeyDraft {
        name: key.name.clone(),
        models: key.models.clone(),
        quota_credits: key.quota_limit_credits.clone().unwrap_or_default(),
        expires_on: day(key.expires_at.as_deref(), ""),
        requests_per_minute: key
            .requests_per_minute
            .map(|n| n.to_string())
            .unwrap_or_default(),
        tokens_per_minute: key
            .tokens_per_minute
            .map(|n| n.to_string())
            .unwrap_or_default(),
    }
}

#[component]
fn KeyTable(
    keys: Vec<KeyView>,
    revoke: ServerAction<RevokeKey>,
    draft: RwSignal<KeyDraft>,
    editing: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    view! {
        <table class="table" id="keys-table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Key"</th>
                    <th>"Models"</th>
                    <th>"Spent / quota"</th>
                    <th>"Own limits"</th>
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
                        let revocable = key.status != KeyStatus::Revoked;
                        let edit = {
                            let key = key.clone();
                            move |_| {
                                draft.set(draft_of(&key));
                                editing.set(Some((key.id.clone(), key.name.clone())));
                                scroll_to_top();
                            }
                        };
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
                                <td class="limits">{limits(&key)}</td>
                                <td title=key.expires_at.as_deref().unwrap_or_default().to_owned()>{day(key.expires_at.as_deref(), "never")}</td>
                                <td title=key.last_used_at.as_deref().unwrap_or_default().to_owned()>{day(key.last_used_at.as_deref(), "never")}</td>
                                <td><span class=format!("badge badge-{}", key.status)>{key.status.as_str().replace('_', " ")}</span></td>
                                <td class="row-actions">
                                    <Show when=move || revocable>
                                        <button type="button" class="btn" on:click=edit.clone()>"Edit"</button>
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

/// The key's own rate limits, e.g. `60 req/min · 100,000 tok/min`, or
/// `plan's` when it has none.
fn limits(key: &KeyView) -> String {
    let parts: Vec<String> = [
        key.requests_per_minute
            .map(|n| format!("{} req/min", thousands(n))),
        key.tokens_per_minute
            .map(|n| format!("{} tok/min", thousands(n))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "plan's".to_owned()
    } else {
        parts.join(" · ")
    }
}

/// `2026-11-25T…` → `2026-11-25`, or `none` when absent.
fn day(iso: Option<&str>, none: &str) -> String {
    iso.and_then(|at| at.get(..10)).unwrap_or(none).to_owned()
}
