//! `/admin/users`: every account, searchable (admins only).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::admin::admin_users,
    components::error_view::{ErrorMessage, error_fallback},
};

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let (search, set_search) = signal(String::new());
    let (page, set_page) = signal(1u64);
    let users = Resource::new(
        move || (page.get(), search.get()),
        |(page, search)| admin_users(page, search),
    );

    view! {
        <Title text="Users — Tollgate" />
        <h1>"Users"</h1>
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
        <ErrorBoundary fallback=error_fallback>
            <Transition fallback=|| view! { <div class="skeleton" aria-busy="true">"Loading users…"</div> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => {
                            let pages = list.total.div_ceil(list.per_page).max(1);
                            let current = list.page;
                            view! {
                                <p class="muted" id="user-count">
                                    {if list.total == 1 { "1 user".to_owned() } else { format!("{} users", list.total) }}
                                </p>
                                <table class="table">
                                    <thead>
                                        <tr>
                                            <th>"Name"</th>
                                            <th>"Email"</th>
                                            <th>"Role"</th>
                                            <th>"Plan"</th>
                                            <th>"Status"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list
                                            .users
                                            .into_iter()
                                            .map(|user| {
                                                view! {
                                                    <tr>
                                                        <td>{user.name}</td>
                                                        <td>{user.email.unwrap_or_else(|| "—".into())}</td>
                                                        <td>{user.role}</td>
                                                        <td>{user.plan}</td>
                                                        <td>{user.status}</td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <div class="pager">
                                    <button class="btn" disabled=current <= 1 on:click=move |_| set_page.update(|p| *p -= 1)>
                                        "Previous"
                                    </button>
                                    <span>{format!("Page {current} of {pages}")}</span>
                                    <button class="btn" disabled=current >= pages on:click=move |_| set_page.update(|p| *p += 1)>
                                        "Next"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorMessage error /> }.into_any(),
                    }
                })}
            </Transition>
        </ErrorBoundary>
    }
}
