//! `/admin/users`: every account, searchable and paged; create a user by
//! name (their first key shown once), change role, plan and status, delete.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::admin::users::{CreateUser, DeleteUser, UpdateUser, admin_users},
    components::{
        browser::confirm,
        error_view::{ErrorMessage, page_error},
        reveal::SecretReveal,
        skeleton::Skeleton,
        toast::toast_results,
    },
    dto::{Plan, Role, UserStatus, UserView},
    format::thousands,
    pages::admin::AdminNav,
};

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let delete = ServerAction::<DeleteUser>::new();
    toast_results(move || create.value().get(), "User created");
    toast_results(move || update.value().get(), "User saved");
    toast_results(move || delete.value().get(), "User deleted");
    let (search, set_search) = signal(String::new());
    let (page, set_page) = signal(1u64);
    let users = Resource::new(
        move || {
            (
                page.get(),
                search.get(),
                create.version().get(),
                update.version().get(),
                delete.version().get(),
            )
        },
        |(page, search, ..)| admin_users(page, search),
    );
    let created = move || create.value().get().and_then(Result::ok);

    view! {
        <Title text="Users — Tollgate" />
        <AdminNav />
        <h1>"Users"</h1>
        <section class="card">
            <h2>"Create a user by name"</h2>
            <p class="muted">"For events and teams: no email or password, just a first API key, shown once."</p>
            <ActionForm action=create attr:class="form form-inline" attr:id="create-user-form">
                <label>
                    <span>"Name"</span>
                    <input name="name" id="new-user-name" required maxlength="100" placeholder="Ada Lovelace" />
                </label>
                <label>
                    <span>"Plan"</span>
                    <select name="plan" id="new-user-plan">
                        {Plan::ALL.map(|plan| plan.as_str()).map(|plan| view! { <option value=plan>{plan}</option> })}
                    </select>
                </label>
                <button type="submit" class="btn btn-primary" disabled=create.pending()>
                    {move || if create.pending().get() { "Creating…" } else { "Create user" }}
                </button>
            </ActionForm>
            {move || create.value().get().and_then(Result::err).map(|error| view! { <ErrorMessage error /> })}
            {move || {
                created()
                    .map(|created| {
                        view! {
                            <SecretReveal
                                title=format!("{}'s key", created.user.name)
                                note=" — give it to them now: you will not see it again."
                                secret=created.secret
                                id="new-user-secret"
                            />
                        }
                    })
            }}
        </section>
        <label class="search">
            <span>"Search by name or email"</span>
            <input
                type="search"
                id="user-search"
                placeholder="alice@example.com"
                on:input=move |ev| {
                    set_page.set(1);
                    set_search.set(event_target_value(&ev));
                }
            />
        </label>
        <Transition fallback=|| view! { <Skeleton label="Loading users…" lines=6 /> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => {
                        let pages = list.total.div_ceil(list.per_page).max(1);
                        let current = list.page;
                        Either::Left(view! {
                            <p class="muted" id="user-count">
                                {if list.total == 1 { "1 user".to_owned() } else { format!("{} users", thousands(list.total as i64)) }}
                            </p>
                            <div class="table-wrap">
                                <table class="table" id="users-table">
                                    <thead>
                                        <tr>
                                            <th>"Name"</th>
                                            <th>"Email"</th>
                                            <th>"Role"</th>
                                            <th>"Plan"</th>
                                            <th>"Status"</th>
                                            <th>"Actions"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.users.into_iter().map(|user| view! { <UserRow user update delete /> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <div class="pager">
                                <button class="btn" disabled={current <= 1} on:click=move |_| set_page.update(|p| *p -= 1)>
                                    "Previous"
                                </button>
                                <span class="pager-status">{format!("Page {current} of {pages}")}</span>
                                <button class="btn" disabled={current >= pages} on:click=move |_| set_page.update(|p| *p += 1)>
                                    "Next"
                                </button>
                            </div>
                        })
                    }
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}

/// One user, with role, plan and status editable in place.
#[component]
fn UserRow(
    user: UserView,
    update: ServerAction<UpdateUser>,
    delete: ServerAction<DeleteUser>,
) -> impl IntoView {
    let role = RwSignal::new(user.role.to_string());
    let plan = RwSignal::new(user.plan.to_string());
    let status = RwSignal::new(user.status.to_string());
    let id = user.id.clone();
    let name = user.name.clone();
    let save = {
        let id = id.clone();
        move |_| {
            update.dispatch(UpdateUser {
                id: id.clone(),
                role: role.get(),
                plan: plan.get(),
                status: status.get(),
            });
        }
    };
    let remove = {
        let id = id.clone();
        move |_| {
            if confirm(&format!(
                "Delete {name}? Their keys stop working at once; their usage stays on record."
            )) {
                delete.dispatch(DeleteUser { id: id.clone() });
            }
        }
    };
    let label = {
        let name = user.name.clone();
        move |what: &str| format!("{what} of {name}")
    };
    let who = user.email.clone().unwrap_or_else(|| user.name.clone());
    view! {
        <tr data-user=who>
            <td><A href=format!("/admin/users/{id}")>{user.name.clone()}</A></td>
            <td>{user.email.clone().unwrap_or_else(|| "—".into())}</td>
            <td>
                <select aria-label=label("Role") class="role" on:change=move |ev| role.set(event_target_value(&ev))>
                    {Role::ALL.map(|r| view! { <option value=r.as_str() selected=user.role == r>{r.as_str()}</option> })}
                </select>
            </td>
            <td>
                <select aria-label=label("Plan") class="plan" on:change=move |ev| plan.set(event_target_value(&ev))>
                    {Plan::ALL.map(|p| view! { <option value=p.as_str() selected=user.plan == p>{p.as_str()}</option> })}
                </select>
            </td>
            <td>
                <select aria-label=label("Status") class="status" on:change=move |ev| status.set(event_target_value(&ev))>
                    {UserStatus::ALL.map(|s| view! { <option value=s.as_str() selected=user.status == s>{s.as_str()}</option> })}
                </select>
            </td>
            <td class="row-actions">
                <button type="button" class="btn" on:click=save disabled=update.pending()>"Save"</button>
                <button type="button" class="btn btn-danger" on:click=remove>"Delete"</button>
            </td>
        </tr>
    }
}
