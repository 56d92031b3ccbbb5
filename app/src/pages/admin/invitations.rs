//! `/admin/invitations`: create registration invitations (the code shown
//! once, with the link to send), list them, revoke the ones still open.
//! They matter while `auth.registration = "invite"`.

use contract::invitations::{InvitationState, InvitationView};
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    api::admin::invitations::{CreateInvitation, RevokeInvitation, list_invitations},
    components::{
        browser::confirm,
        empty::EmptyState,
        error_view::{ErrorMessage, page_error},
        reveal::SecretReveal,
        skeleton::Skeleton,
        toast::toast_results,
    },
    pages::admin::AdminNav,
};

#[component]
pub fn AdminInvitationsPage() -> impl IntoView {
    let create = ServerAction::<CreateInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    toast_results(move || revoke.value().get(), "Invitation revoked");
    let invitations = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_invitations(),
    );
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <Title text="Invitations — Tollgate" />
        <AdminNav />
        <h1>"Invitations"</h1>
        <p class="muted">
            "While registration is by invitation (auth.registration = \"invite\"), people register with a code from here. "
            "A code is shown once; send the link with it."
        </p>
        <section class="section">
            <h2>"New invitation"</h2>
            <ActionForm action=create attr:class="form form-inline" attr:id="invitation-form">
                <label>
                    <span>"Email (optional)"</span>
                    <input name="email" id="invitation-email" type="email" placeholder="Anyone" />
                </label>
                <label>
                    <span>"Expires in days"</span>
                    <input name="days" id="invitation-days" inputmode="numeric" placeholder="7" />
                </label>
                <label>
                    <span>"Uses"</span>
                    <input name="max_uses" id="invitation-uses" inputmode="numeric" placeholder="1" />
                </label>
                <label>
                    <span>"Note"</span>
                    <input name="note" id="invitation-note" maxlength="200" placeholder="Who it is for" />
                </label>
                <button type="submit" class="btn btn-primary" disabled=create.pending()>"Create"</button>
            </ActionForm>
            {move || create.value().get().and_then(Result::err).map(|error| view! { <ErrorMessage error /> })}
            {move || created().map(|created| view! {
                <SecretReveal
                    title=format!("Invitation {}", created.invitation.prefix)
                    note=" — copy the code now: you will not see it again. The link /register?invite=<code> fills it in."
                    secret=created.code
                    id="new-invitation-code"
                />
            })}
        </section>
        <Transition fallback=|| view! { <Skeleton label="Loading invitations…" lines=4 /> }>
            {move || Suspend::new(async move {
                match invitations.await {
                    Ok(list) if list.is_empty() => Either::Left(view! {
                        <EmptyState
                            id="no-invitations"
                            title="No invitations yet"
                            text="Create one above; it shows up here."
                            links=vec![]
                        />
                    }.into_any()),
                    Ok(list) => Either::Left(view! { <InvitationTable invitations=list revoke /> }.into_any()),
                    Err(error) => Either::Right(page_error(error)),
                }
            })}
        </Transition>
    }
}

#[component]
fn InvitationTable(
    invitations: Vec<InvitationView>,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" id="invitations">
                <thead>
                    <tr>
                        <th>"Code"</th>
                        <th>"For"</th>
                        <th>"Uses"</th>
                        <th>"Expires"</th>
                        <th>"State"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {invitations
                        .into_iter()
                        .map(|invitation| {
                            let open = invitation.state == InvitationState::Active;
                            let id = invitation.id.clone();
                            let question = format!("Revoke invitation {}?", invitation.prefix);
                            let who = match (&invitation.email, &invitation.note) {
                                (Some(email), Some(note)) => format!("{email} ({note})"),
                                (Some(email), None) => email.clone(),
                                (None, Some(note)) => note.clone(),
                                (None, None) => "anyone".to_owned(),
                            };
                            view! {
                                <tr data-invitation=invitation.id.clone()>
                                    <td><code>{format!("{}…", invitation.prefix)}</code></td>
                                    <td>{who}</td>
                                    <td>{format!("{} / {}", invitation.uses, invitation.max_uses)}</td>
                                    <td title=invitation.expires_at.to_string()>
                                        {invitation.expires_at.get(..10).unwrap_or_default().to_owned()}
                                    </td>
                                    <td>
                                        <span class=format!("badge badge-{}", invitation.state.as_str())>{invitation.state.as_str()}</span>
                                    </td>
                                    <td>
                                        <Show when=move || open>
                                            <button
                                                type="button"
                                                class="btn btn-danger"
                                                on:click={
                                                    let question = question.clone();
                                                    let id = id.clone();
                                                    move |_| {
                                                        if confirm(&question) {
                                                            revoke.dispatch(RevokeInvitation { id: id.clone() });
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
        </div>
    }
}
