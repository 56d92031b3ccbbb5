//! `/admin/models`: upstream providers and the shadow models users call.
//! Create, edit, disable; model prices are shown and entered in credits per
//! million tokens; provider keys are write-only (never shown again).

use contract::{
    ModelKind, Timestamp,
    catalog::{DeploymentHealth, HealthState, ModelView, ProviderView},
};
use leptos::{either::Either, ev::SubmitEvent, prelude::*};
use leptos_meta::Title;

use crate::{
    api::admin::catalog::{
        DeleteModel, DeleteProvider, SaveModel, SaveProvider, list_models, list_providers,
    },
    components::{
        browser::confirm,
        error_view::{ErrorMessage, page_error},
        skeleton::Skeleton,
        toast::toast_results,
    },
    dto::{
        PlanName, ProviderKind,
        admin::{DeploymentForm, ModelForm, ProviderForm},
    },
    error::AppError,
    format::credits,
    pages::admin::AdminNav,
};

/// The provider kinds as the form offers them, the most used first.
const PROVIDER_KINDS: [ProviderKind; 5] = [
    ProviderKind::Openai,
    ProviderKind::OpenaiResponses,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
    ProviderKind::Mock,
];

#[component]
pub fn AdminCatalogPage() -> impl IntoView {
    let save_provider = ServerAction::<SaveProvider>::new();
    let delete_provider = ServerAction::<DeleteProvider>::new();
    let save_model = ServerAction::<SaveModel>::new();
    let delete_model = ServerAction::<DeleteModel>::new();
    toast_results(move || save_provider.value().get(), "Provider saved");
    toast_results(move || delete_provider.value().get(), "Provider deleted");
    toast_results(move || save_model.value().get(), "Model saved");
    let toasts = expect_context::<crate::components::toast::Toasts>();
    Effect::new(move |_| match delete_model.value().get() {
        Some(Ok(message)) => toasts.success(message),
        Some(Err(error)) => toasts.error(&error),
        None => {}
    });
    let providers = Resource::new(
        move || {
            (
                save_provider.version().get(),
                delete_provider.version().get(),
            )
        },
        |_| list_providers(),
    );
    let models = Resource::new(
        move || (save_model.version().get(), delete_model.version().get()),
        |_| list_models(),
    );
    // The row being edited (its id), or a new one (empty).
    let provider_edit = RwSignal::new((String::new(), blank_provider()));
    let model_edit = RwSignal::new((
        String::new(),
        ModelForm {
            enabled: true,
            ..Default::default()
        },
    ));

    view! {
        <Title text="Providers & models — Tollgate" />
        <AdminNav />
        <h1>"Providers & models"</h1>
        <Suspense fallback=|| view! { <Skeleton label="Loading providers and models…" lines=8 /> }>
            {move || Suspend::new(async move {
                let (providers, models) = (providers.await, models.await);
                match (providers, models) {
                    (Ok(providers), Ok(models)) => Either::Left(view! {
                        <section class="section">
                            <h2>"Providers"</h2>
                            <ProviderTable providers=providers.clone() edit=provider_edit save=save_provider delete=delete_provider />
                            <ProviderEditor edit=provider_edit save=save_provider />
                        </section>
                        <section class="section">
                            <h2>"Models"</h2>
                            <ModelTable models=models providers=providers.clone() edit=model_edit save=save_model delete=delete_model />
                            <ModelEditor edit=model_edit providers save=save_model />
                        </section>
                    }),
                    (Err(error), _) | (_, Err(error)) => Either::Right(page_error(error)),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProviderTable(
    providers: Vec<ProviderView>,
    edit: RwSignal<(String, ProviderForm)>,
    save: ServerAction<SaveProvider>,
    delete: ServerAction<DeleteProvider>,
) -> impl IntoView {
    if providers.is_empty() {
        return Either::Left(
            view! { <p class="muted" id="no-providers">"No providers yet: add one below, then a model that uses it."</p> },
        );
    }
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table" id="providers-table">
                <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Base URL"</th><th>"Keys"</th><th>"State"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    {providers.into_iter().map(|provider| {
                        let form = ProviderForm {
                            name: provider.name.clone(),
                            kind: provider.kind.to_string(),
                            base_url: provider.base_url.clone(),
                            api_key: String::new(),
                            enabled: provider.enabled,
                        };
                        let name = provider.name.clone();
                        view! {
                            <tr data-provider=provider.name.clone()>
                                <td>{provider.name.clone()}</td>
                                <td>{provider.kind.as_str()}</td>
                                <td class="mono">{provider.base_url.clone()}</td>
                                <td>{if provider.api_key_count == 0 { "none".to_owned() } else { format!("{} stored", provider.api_key_count) }}</td>
                                <td>
                                    {state_badge(provider.enabled)}
                                    {provider.problem.clone().map(|problem| view! {
                                        <span class="badge badge-error" title=problem>"misconfigured"</span>
                                    })}
                                </td>
                                <RowActions
                                    id=provider.id.clone()
                                    toggled=ProviderForm { enabled: !form.enabled, ..form.clone() }
                                    form
                                    managed_by=provider.managed_by.clone()
                                    question=format!("Delete the provider {name}? Only a provider without models can be deleted.")
                                    edit
                                    save=Callback::new(move |(id, form)| { save.dispatch(SaveProvider { id, form }); })
                                    delete=Callback::new(move |id| { delete.dispatch(DeleteProvider { id }); })
                                />
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    })
}

#[component]
fn ProviderEditor(
    edit: RwSignal<(String, ProviderForm)>,
    save: ServerAction<SaveProvider>,
) -> impl IntoView {
    let draft = Draft(edit);
    let editing = draft.editing();
    draft.reset_when_saved(save.value(), blank_provider);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (id, form) = edit.get();
        save.dispatch(SaveProvider { id, form });
    };
    view! {
        <form class="form card" id="provider-form" on:submit=submit>
            <h3>{move || if editing() { "Edit provider" } else { "Add a provider" }}</h3>
            <div class="form-grid">
                <label><span>"Name"</span>
                    <input id="provider-name" required maxlength="100" prop:value=draft.field(|f| f.name.clone()) on:input=draft.set(|f, v| f.name = v) />
                </label>
                <label><span>"Kind"</span>
                    <select id="provider-kind" disabled=editing prop:value=draft.field(|f| f.kind.clone()) on:change=draft.set(|f, v| f.kind = v)>
                        {PROVIDER_KINDS.map(|kind| kind.as_str()).map(|kind| view! { <option value=kind>{kind}</option> })}
                    </select>
                </label>
                <label><span>"Base URL"</span>
                    <input id="provider-base-url" required placeholder="https://api.openai.com/v1" prop:value=draft.field(|f| f.base_url.clone()) on:input=draft.set(|f, v| f.base_url = v) />
                </label>
                <label><span>{move || if editing() { "New API key (empty keeps the stored ones)" } else { "API key" }}</span>
                    <input id="provider-key" type="password" autocomplete="off" prop:value=draft.field(|f| f.api_key.clone()) on:input=draft.set(|f, v| f.api_key = v) />
                </label>
            </div>
            <p class="hint">"Keys are encrypted at rest and never shown again."</p>
            <EditorActions noun="provider" draft saved=save.value() pending=save.pending() blank=Callback::new(|()| blank_provider()) />
        </form>
    }
}

#[component]
fn ModelTable(
    models: Vec<ModelView>,
    providers: Vec<ProviderView>,
    edit: RwSignal<(String, ModelForm)>,
    save: ServerAction<SaveModel>,
    delete: ServerAction<DeleteModel>,
) -> impl IntoView {
    if models.is_empty() {
        return Either::Left(
            view! { <p class="muted" id="no-models">"No models yet: users can call nothing until you add one."</p> },
        );
    }
    let provider_name = move |id: &str| {
        providers
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table" id="models-table">
                <thead>
                    <tr>
                        <th>"Public name"</th><th>"Deployments"</th>
                        <th class="num">"Input / M"</th><th class="num">"Output / M"</th>
                        <th class="num">"Cache read / write, per M"</th>
                        <th>"Plans"</th><th>"State"</th><th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {models.into_iter().map(|model| {
                        let form = ModelForm {
                            public_name: model.public_name.clone(),
                            kind: model.kind,
                            deployments: model
                                .deployments
                                .iter()
                                .map(|d| DeploymentForm {
                                    provider_id: d.provider_id.clone(),
                                    upstream_model: d.upstream_model.clone(),
                                    weight: d.weight.to_string(),
                                    priority: d.priority.to_string(),
                                })
                                .collect(),
                            fallbacks: model.fallbacks.join(", "),
                            input_price: model.input_price.credits_per_mtok.clone(),
                            output_price: model.output_price.credits_per_mtok.clone(),
                            cache_read_price: model.cache_read_price.credits_per_mtok.clone(),
                            cache_write_price: model.cache_write_price.credits_per_mtok.clone(),
                            max_output_tokens: model.max_output_tokens.map(|n| n.to_string()).unwrap_or_default(),
                            plans: model.plans.iter().map(ToString::to_string).collect(),
                            enabled: model.enabled,
                        };
                        let name = model.public_name.clone();
                        view! {
                            <tr data-model=model.public_name.clone()>
                                <td>
                                    <strong>{model.public_name.clone()}</strong>
                                    {(model.kind == ModelKind::Embedding).then(|| view! { " " <span class="badge badge-kind-grant">"embeddings"</span> })}
                                </td>
                                <td class="deployments">
                                    <ul class="deployment-list">
                                        {model.deployments.iter().map(|d| {
                                            let spread = (model.deployments.len() > 1 || d.weight != 1 || d.priority != 0)
                                                .then(|| format!(" · weight {} · priority {}", d.weight, d.priority));
                                            view! {
                                                <li data-upstream=d.upstream_model.clone()>
                                                    {format!("{} → {}", provider_name(&d.provider_id), d.upstream_model)}
                                                    {spread}
                                                    " "
                                                    {health_badge(d.health.clone())}
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                    {(!model.fallbacks.is_empty()).then(|| view! {
                                        <div class="muted fallbacks">{format!("then {}", model.fallbacks.join(", "))}</div>
                                    })}
                                </td>
                                <td class="num price-input">{credits(&model.input_price.credits_per_mtok)}</td>
                                <td class="num price-output">{credits(&model.output_price.credits_per_mtok)}</td>
                                <td class="num">{format!("{} / {}", credits(&model.cache_read_price.credits_per_mtok), credits(&model.cache_write_price.credits_per_mtok))}</td>
                                <td>{if model.plans.is_empty() { "all".to_owned() } else { model.plans.iter().map(|plan| plan.as_str()).collect::<Vec<_>>().join(", ") }}</td>
                                <td>{state_badge(model.enabled)}</td>
                                <RowActions
                                    id=model.id.clone()
                                    toggled=ModelForm { enabled: !form.enabled, ..form.clone() }
                                    form
                                    managed_by=model.managed_by.clone()
                                    question=format!("Delete {name}? With usage on record it is disabled instead.")
                                    edit
                                    save=Callback::new(move |(id, form)| { save.dispatch(SaveModel { id, form }); })
                                    delete=Callback::new(move |id| { delete.dispatch(DeleteModel { id }); })
                                />
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    })
}

#[component]
fn ModelEditor(
    edit: RwSignal<(String, ModelForm)>,
    providers: Vec<ProviderView>,
    save: ServerAction<SaveModel>,
) -> impl IntoView {
    let draft = Draft(edit);
    let editing = draft.editing();
    // New models go to the first enabled provider unless the admin picks another.
    let first_provider = providers
        .iter()
        .find(|p| p.enabled)
        .or(providers.first())
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let new_deployment = {
        let first_provider = first_provider.clone();
        move || DeploymentForm {
            provider_id: first_provider.clone(),
            ..Default::default()
        }
    };
    let fresh = {
        let new_deployment = new_deployment.clone();
        move || ModelForm {
            enabled: true,
            deployments: vec![new_deployment()],
            ..Default::default()
        }
    };
    let reset = new_deployment.clone();
    Effect::new(move |_| {
        if edit.with_untracked(|(_, form)| form.deployments.is_empty()) {
            edit.update(|(_, form)| form.deployments.push(reset()));
        }
    });
    // The rows are drawn again only when one is added or removed, so that
    // typing in one keeps its focus.
    let rows = Memo::new(move |_| edit.with(|(_, form)| form.deployments.len()));
    let deployment_field = move |index: usize, get: fn(&DeploymentForm) -> String| {
        move || edit.with(|(_, form)| form.deployments.get(index).map(get).unwrap_or_default())
    };
    let set_deployment = move |index: usize, apply: fn(&mut DeploymentForm, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            edit.update(|(_, form)| {
                if let Some(row) = form.deployments.get_mut(index) {
                    apply(row, value);
                }
            });
        }
    };
    let row_id = |base: &str, index: usize| {
        if index == 0 {
            base.to_owned()
        } else {
            format!("{base}-{index}")
        }
    };
    let provider_options = providers.clone();
    draft.reset_when_saved(save.value(), fresh.clone());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (id, form) = edit.get();
        save.dispatch(SaveModel { id, form });
    };
    let price = move |id: &'static str,
                      label: &'static str,
                      get: fn(&ModelForm) -> String,
                      apply: fn(&mut ModelForm, String)| {
        view! {
            <label><span>{label}</span>
                <input id=id inputmode="decimal" pattern="[0-9]*([.][0-9]{1,6})?" placeholder="0" prop:value=draft.field(get) on:input=draft.set(apply) />
            </label>
        }
    };
    view! {
        <form class="form card" id="model-form" on:submit=submit>
            <h3>{move || if editing() { "Edit model" } else { "Add a model" }}</h3>
            <div class="form-grid">
                <label><span>"Public name (what users call)"</span>
                    <input id="model-public-name" required maxlength="100" placeholder="gpt-4o" prop:value=draft.field(|f| f.public_name.clone()) on:input=draft.set(|f, v| f.public_name = v) />
                </label>
                <label><span>"Serves"</span>
                    <select id="model-kind" prop:value=draft.field(|f| f.kind.to_string()) on:change=draft.set(|f, v| f.kind = v.parse().unwrap_or_default())>
                        <option value="chat">"chat (completions, messages, responses)"</option>
                        <option value="embedding">"embeddings"</option>
                    </select>
                </label>
                <label><span>"Fallback models, in order (comma-separated)"</span>
                    <input id="model-fallbacks" placeholder="gpt-4o-mini, claude-haiku" prop:value=draft.field(|f| f.fallbacks.clone()) on:input=draft.set(|f, v| f.fallbacks = v) />
                </label>
                {price("model-input-price", "Input, credits per million tokens", |f| f.input_price.clone(), |f, v| f.input_price = v)}
                {price("model-output-price", "Output, credits per million tokens", |f| f.output_price.clone(), |f, v| f.output_price = v)}
                {price("model-cache-read-price", "Cache read, credits per million", |f| f.cache_read_price.clone(), |f, v| f.cache_read_price = v)}
                {price("model-cache-write-price", "Cache write, credits per million", |f| f.cache_write_price.clone(), |f, v| f.cache_write_price = v)}
                <label><span>"Max output tokens (empty: the default)"</span>
                    <input id="model-max-output" inputmode="numeric" placeholder="131072" prop:value=draft.field(|f| f.max_output_tokens.clone()) on:input=draft.set(|f, v| f.max_output_tokens = v) />
                </label>
            </div>
            <fieldset class="deployments" id="model-deployments">
                <legend>"Deployments — priority 0 is tried first; within a priority, traffic follows the weights"</legend>
                {move || (0..rows.get()).map(|index| {
                    let options = provider_options.clone();
                    view! {
                        <div class="deployment-row form-grid">
                            <label><span>"Provider"</span>
                                <select id=row_id("model-provider", index) prop:value=deployment_field(index, |d| d.provider_id.clone()) on:change=set_deployment(index, |d, v| d.provider_id = v)>
                                    {options.iter().map(|p| view! { <option value=p.id.clone()>{p.name.clone()}</option> }).collect_view()}
                                </select>
                            </label>
                            <label><span>"Upstream model"</span>
                                <input id=row_id("model-upstream", index) required maxlength="200" placeholder="gpt-4o-2024-08-06" prop:value=deployment_field(index, |d| d.upstream_model.clone()) on:input=set_deployment(index, |d, v| d.upstream_model = v) />
                            </label>
                            <label><span>"Weight"</span>
                                <input id=row_id("model-weight", index) inputmode="numeric" pattern="[0-9]*" placeholder="1" prop:value=deployment_field(index, |d| d.weight.clone()) on:input=set_deployment(index, |d, v| d.weight = v) />
                            </label>
                            <label><span>"Priority"</span>
                                <input id=row_id("model-priority", index) inputmode="numeric" pattern="[0-9]*" placeholder="0" prop:value=deployment_field(index, |d| d.priority.clone()) on:input=set_deployment(index, |d, v| d.priority = v) />
                            </label>
                            <Show when=move || { rows.get() > 1 }>
                                <button type="button" class="btn" on:click=move |_| edit.update(|(_, form)| { form.deployments.remove(index); })>"Remove"</button>
                            </Show>
                        </div>
                    }
                }).collect_view()}
                <button type="button" class="btn" id="model-add-deployment" on:click={
                    let new_deployment = new_deployment.clone();
                    move |_| edit.update(|(_, form)| form.deployments.push(new_deployment()))
                }>"Add a deployment"</button>
            </fieldset>
            <fieldset class="models">
                <legend>"Plans — none checked means every plan"</legend>
                {PlanName::ALL.map(|plan| plan.as_str()).map(|plan| view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            value=plan
                            prop:checked=move || edit.with(|(_, form)| form.plans.iter().any(|p| p == plan))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                edit.update(|(_, form)| {
                                    form.plans.retain(|p| p != plan);
                                    if on {
                                        form.plans.push(plan.to_owned());
                                    }
                                });
                            }
                        />
                        {plan.replace('_', " ")}
                    </label>
                })}
            </fieldset>
            <EditorActions noun="model" draft saved=save.value() pending=save.pending() blank=Callback::new(move |()| fresh()) />
        </form>
    }
}

/// Edit, Disable (or Enable) and Delete, the last after confirming: `form`
/// is the row as its editor shows it, `toggled` the same with the other
/// state.
#[component]
fn RowActions<F>(
    id: String,
    form: F,
    toggled: F,
    /// The catalog file that declares the row: no actions here, only where
    /// to change it.
    managed_by: Option<String>,
    question: String,
    edit: RwSignal<(String, F)>,
    save: Callback<(String, F)>,
    delete: Callback<String>,
) -> impl IntoView
where
    F: Toggle + Clone + Send + Sync + 'static,
{
    if let Some(source) = managed_by {
        let title = format!(
            "Declared in the catalog file {source}: change it there and run `tollgate config apply` (or restart)."
        );
        return Either::Left(view! {
            <td class="row-actions">
                <span class="badge managed" title=title>{format!("in {source}")}</span>
            </td>
        });
    }
    let enabled = form.enabled();
    let (edit_id, toggle_id) = (id.clone(), id.clone());
    Either::Right(view! {
        <td class="row-actions">
            <button type="button" class="btn" on:click=move |_| edit.set((edit_id.clone(), form.clone()))>"Edit"</button>
            <button type="button" class="btn" on:click=move |_| save.run((toggle_id.clone(), toggled.clone()))>
                {if enabled { "Disable" } else { "Enable" }}
            </button>
            <button
                type="button"
                class="btn btn-danger"
                on:click=move |_| {
                    if confirm(&question) {
                        delete.run(id.clone());
                    }
                }
            >
                "Delete"
            </button>
        </td>
    })
}

/// A form whose row can be enabled and disabled.
trait Toggle {
    fn enabled(&self) -> bool;
}

impl Toggle for ProviderForm {
    fn enabled(&self) -> bool {
        self.enabled
    }
}

impl Toggle for ModelForm {
    fn enabled(&self) -> bool {
        self.enabled
    }
}

/// A catalog row being edited (its id) or a new one (an empty id), with its
/// form: what the provider and model editors share.
struct Draft<F: Send + Sync + 'static>(RwSignal<(String, F)>);

impl<F: Send + Sync + 'static> Clone for Draft<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: Send + Sync + 'static> Copy for Draft<F> {}

impl<F: Clone + Send + Sync + 'static> Draft<F> {
    /// Whether an existing row is being edited.
    fn editing(self) -> impl Fn() -> bool + Copy + Send + Sync + 'static {
        move || !self.0.with(|(id, _)| id.is_empty())
    }

    /// What an input shows: one field of the form.
    fn field(self, get: fn(&F) -> String) -> impl Fn() -> String + Copy + Send + Sync + 'static {
        move || self.0.with(|(_, form)| get(form))
    }

    /// What an input does when typed in: sets its field.
    fn set(self, apply: fn(&mut F, String)) -> impl Fn(leptos::ev::Event) + Copy + 'static {
        move |ev| {
            let value = event_target_value(&ev);
            self.0.update(|(_, form)| apply(form, value));
        }
    }

    /// Back to a new row, blank, once a save went through.
    fn reset_when_saved(
        self,
        saved: MappedSignal<Option<Result<(), AppError>>>,
        blank: impl Fn() -> F + 'static,
    ) {
        Effect::new(move |_| {
            if let Some(Ok(())) = saved.get() {
                self.0.set((String::new(), blank()));
            }
        });
    }
}

/// The editor's error, its submit button and, when editing a row, Cancel.
#[component]
fn EditorActions<F>(
    /// What the form saves: "provider", "model".
    noun: &'static str,
    draft: Draft<F>,
    saved: MappedSignal<Option<Result<(), AppError>>>,
    #[prop(into)] pending: Signal<bool>,
    blank: Callback<(), F>,
) -> impl IntoView
where
    F: Clone + Send + Sync + 'static,
{
    let editing = draft.editing();
    view! {
        {move || saved.get().and_then(Result::err).map(|error| view! { <ErrorMessage error /> })}
        <div class="actions">
            <button type="submit" class="btn btn-primary" disabled=pending>
                {move || if editing() { format!("Save {noun}") } else { format!("Add {noun}") }}
            </button>
            <Show when=editing>
                <button type="button" class="btn" on:click=move |_| {
                    saved.set(None);
                    draft.0.set((String::new(), blank.run(())));
                }>"Cancel"</button>
            </Show>
        </div>
    }
}

/// A new provider's form: OpenAI-compatible, enabled.
fn blank_provider() -> ProviderForm {
    ProviderForm {
        kind: ProviderKind::Openai.to_string(),
        enabled: true,
        ..Default::default()
    }
}

/// A deployment's health, with its last error (and its keys') on hover.
fn health_badge(health: Option<DeploymentHealth>) -> impl IntoView {
    let health = health?;
    let cooling_key = health
        .keys
        .iter()
        .find(|k| k.status == HealthState::CoolingDown);
    let (class, text) = match (health.status, cooling_key) {
        (HealthState::CoolingDown, _) => (
            "badge badge-error health",
            format!("cooling down until {}", clock(health.until.as_ref())),
        ),
        (HealthState::Failing, _) => (
            "badge badge-kind-charge health",
            format!("failing ({})", health.failures.unwrap_or(0)),
        ),
        (HealthState::Trial, _) => ("badge badge-kind-charge health", "trial next".to_owned()),
        (HealthState::Healthy, Some(key)) => (
            "badge badge-kind-charge health",
            format!(
                "key {} cooling down until {}",
                key.key,
                clock(key.until.as_ref())
            ),
        ),
        (HealthState::Healthy, None) => ("badge badge-ok health", "healthy".to_owned()),
    };
    let errors: Vec<String> = health
        .last_error
        .iter()
        .cloned()
        .chain(
            health
                .keys
                .iter()
                .filter_map(|k| k.last_error.as_ref().map(|e| format!("key {}: {e}", k.key))),
        )
        .collect();
    Some(view! { <span class=class title=errors.join("\n")>{text}</span> })
}

/// The time of day of a timestamp (`12:34:56`), in UTC as stored.
fn clock(at: Option<&Timestamp>) -> String {
    at.and_then(|at| at.get(11..19)).unwrap_or("?").to_owned()
}

fn state_badge(enabled: bool) -> impl IntoView {
    let (class, text) = if enabled {
        ("badge badge-active", "enabled")
    } else {
        ("badge badge-revoked", "disabled")
    };
    view! { <span class=class>{text}</span> }
}
