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
use serde_json::json;

use super::{
    UserView,
    service::{self, UserListQuery, UserUpdate},
};
use crate::{
    auth::{AdminUser, ClientAddress, CurrentUser, cookie, session},
    entity::user::Plan,
    error::{Error, Result},
    extract::{AppJson, AppQuery},
    keys::KeyView,
    state::AppState,
    time::serde_iso,
};

#[derive(Deserialize)]
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
#[derive(Deserialize)]
pub struct LoginBody {
    email: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
}

/// An admin creating a person by name only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    name: String,
    plan: Option<Plan>,
}

#[derive(Serialize)]
struct SignedIn {
    success: bool,
    token: String,
    #[serde(with = "serde_iso")]
    expires_at: DateTime<Utc>,
    user: UserView,
}

/// 202 and [`REGISTERED`], for a new account and for a taken email
/// alike; refusals (closed, invitation, limit, invalid input) do not
/// depend on the email having an account.
pub async fn register(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let form = service::SignUp {
        email: body.email,
        password: body.password,
        name: body.name,
        invitation: body.invitation,
    };
    service::register(&state, &client, form).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "message": REGISTERED })),
    ))
}

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

pub async fn logout(State(state): State<AppState>, current: CurrentUser) -> Result<Response> {
    if let Some(session_id) = &current.session_id {
        session::revoke(&state.db, session_id).await?;
    }
    let mut response = Json(json!({ "success": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear());
    Ok(response)
}

pub async fn me(current: CurrentUser) -> Json<serde_json::Value> {
    Json(json!({
        "success": true,
        "user": UserView::from(current.user),
        "effective_plan": current.plan.view(),
    }))
}

pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<UserListQuery>,
) -> Result<Json<serde_json::Value>> {
    let page = service::list(&state.db, &query).await?;
    let users: Vec<UserView> = page.users.into_iter().map(UserView::from).collect();
    Ok(Json(json!({
        "success": true,
        "users": users,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    })))
}

/// 201 with the new user and their first API key, whose secret is shown
/// only in this answer.
pub async fn create_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(body): AppJson<CreateUserBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
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
        Json(json!({
            "success": true,
            "user": UserView::from(user),
            "key": KeyView::from(created.key),
            "secret": created.secret,
        })),
    ))
}

pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<UserUpdate>,
) -> Result<Json<serde_json::Value>> {
    let user = service::update(&state.db, &state.key_cache, &admin.user.id, &id, change).await?;
    Ok(Json(
        json!({ "success": true, "user": UserView::from(user) }),
    ))
}

pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    service::delete(&state.db, &state.key_cache, &admin.user.id, &id).await?;
    Ok(Json(json!({ "success": true, "deleted": id })))
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
