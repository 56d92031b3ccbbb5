//! HTTP handlers for `/api/auth/*`, `/api/users/me` and `/api/admin/users`:
//! parse, call one service, shape the answer.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    UserView,
    service::{self, UserListQuery, UserUpdate},
};
use crate::{
    console::{
        auth::{AdminUser, ClientAddress, CurrentUser, cookie, session},
        entitlements::EffectivePlanView,
        keys::KeyView,
    },
    platform::{
        entity::user::Plan,
        error::{Error, Result},
        extract::{AppJson, AppQuery},
        reply::{Deleted, Done},
        time::serde_iso,
    },
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    email: String,
    password: String,
    name: String,
    /// The invitation code, when registration is by invitation.
    invitation: Option<String>,
}

/// What `POST /api/auth/register` answers whether or not the email had an
/// account: no session, so that the answer tells a stranger nothing.
pub const REGISTERED: &str = "registration received: sign in with your email and password";

/// Either `email` and `password`, or `api_key` (the hackathon flow).
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    email: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
}

/// An admin creating a person by name only.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    name: String,
    plan: Option<Plan>,
}

/// A session: its token (also set as the session cookie) and the user.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    success: bool,
    token: String,
    #[serde(with = "serde_iso")]
    expires_at: DateTime<Utc>,
    user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub success: bool,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub success: bool,
    pub user: UserView,
    pub effective_plan: EffectivePlanView,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub success: bool,
    pub users: Vec<UserView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// A new user and their first API key, whose secret is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub success: bool,
    pub user: UserView,
    pub key: KeyView,
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct OneUser {
    pub success: bool,
    pub user: UserView,
}

/// Registers a person. The answer (202, [`REGISTERED`]) is the same for a
/// new account and for a taken email, and so are refusals (closed,
/// invitation, limit, invalid input): it tells a stranger nothing. No
/// session: sign in next.
#[utoipa::path(post, path = "/auth/register", operation_id = "register", tag = "auth", request_body = RegisterBody,
    security(()), responses((status = 202, body = Registered)))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<(StatusCode, Json<Registered>)> {
    let form = service::SignUp {
        email: body.email,
        password: body.password,
        name: body.name,
        invitation: body.invitation,
    };
    service::register(&state, &client, form).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Registered {
            success: true,
            message: REGISTERED.to_owned(),
        }),
    ))
}

/// Signs in with a password or an API key; the answer sets the session
/// cookie too.
#[utoipa::path(post, path = "/auth/login", operation_id = "login", tag = "auth", request_body = LoginBody,
    security(()), responses((status = 200, body = SignedIn)))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(client): ClientAddress,
    AppJson(body): AppJson<LoginBody>,
) -> Result<Response> {
    let (user, via_key) = match body {
        LoginBody {
            api_key: Some(api_key),
            ..
        } => {
            let (key, owner) =
                service::authenticate_key_sign_in(&state.db, &state.key_cache, &api_key).await?;
            (owner, Some(key))
        }
        LoginBody {
            email: Some(email),
            password: Some(password),
            ..
        } => {
            let user = service::authenticate_password(
                &state.db,
                &state.login_throttle,
                &email,
                &password,
                &client,
            )
            .await?;
            (user, None)
        }
        LoginBody { email: None, .. } => {
            return Err(Error::bad_request(
                "email is required (or sign in with api_key)",
            ));
        }
        LoginBody { password: None, .. } => return Err(Error::bad_request("password is required")),
    };
    let issued = service::sign_in(&state, &user, user_agent(&headers), via_key.as_ref()).await?;
    Ok(signed_in_response(user.into(), issued))
}

/// Ends the caller's session and clears its cookie.
#[utoipa::path(post, path = "/auth/logout", operation_id = "logout", tag = "auth",
    responses((status = 200, body = Done)))]
pub async fn logout(State(state): State<AppState>, current: CurrentUser) -> Result<Response> {
    if let Some(session_id) = &current.session_id {
        session::revoke(&state.db, session_id).await?;
    }
    let mut response = Json(Done::new()).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear());
    Ok(response)
}

/// The caller and the plan they are on, with where it comes from.
#[utoipa::path(get, path = "/users/me", operation_id = "me", tag = "users",
    responses((status = 200, body = Me)))]
pub async fn me(current: CurrentUser) -> Json<Me> {
    Json(Me {
        success: true,
        user: UserView::from(current.user),
        effective_plan: current.plan.view(),
    })
}

/// One page of users, searched by name or email.
#[utoipa::path(get, path = "/admin/users", operation_id = "list_users", tag = "admin", params(UserListQuery),
    responses((status = 200, body = UserList)))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<UserListQuery>,
) -> Result<Json<UserList>> {
    let page = service::list(&state.db, &query).await?;
    Ok(Json(UserList {
        success: true,
        users: page.users.into_iter().map(UserView::from).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// 201 with the new user and their first API key, whose secret is shown
/// only in this answer.
#[utoipa::path(post, path = "/admin/users", operation_id = "create_user", tag = "admin", request_body = CreateUserBody,
    responses((status = 201, body = CreatedUser)))]
pub async fn create_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(body): AppJson<CreateUserBody>,
) -> Result<(StatusCode, Json<CreatedUser>)> {
    let (user, created) = service::create_with_key(
        &state.db,
        &admin.user.id,
        &body.name,
        body.plan,
        state.settings.credits.starting_grant.0,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            success: true,
            user: UserView::from(user),
            key: KeyView::from(created.key),
            secret: created.secret,
        }),
    ))
}

/// Changes a user's name, role, plan or status.
#[utoipa::path(patch, path = "/admin/users/{id}", operation_id = "update_user", tag = "admin", request_body = UserUpdate,
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = OneUser)))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<UserUpdate>,
) -> Result<Json<OneUser>> {
    let user = service::update(&state.db, &state.key_cache, &admin.user.id, &id, change).await?;
    Ok(Json(OneUser {
        success: true,
        user: UserView::from(user),
    }))
}

/// Deletes a user.
#[utoipa::path(delete, path = "/admin/users/{id}", operation_id = "delete_user", tag = "admin",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = Deleted)))]
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Deleted>> {
    service::delete(&state.db, &state.key_cache, &admin.user.id, &id).await?;
    Ok(Json(Deleted::new(id)))
}

fn signed_in_response(user: UserView, issued: session::IssuedSession) -> Response {
    let max_age = (issued.expires_at - Utc::now()).num_seconds();
    let set_cookie = cookie::set(&issued.token, max_age);
    let body = SignedIn {
        success: true,
        token: issued.token,
        expires_at: issued.expires_at,
        user,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie);
    response
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
