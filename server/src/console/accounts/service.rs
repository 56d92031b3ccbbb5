//! The rules for accounts. Every function takes what it needs explicitly and
//! creates ids and timestamps itself.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::UserView;
use crate::{
    console::{
        audit::{self, Action, Target},
        auth::{
            password::{self, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN},
            session::{self, IssuedSession},
            throttle::LoginThrottle,
        },
        credits, invitations,
        keys::{
            self, KeyView,
            service::{CreatedKey, NewKey},
        },
    },
    gateway::api_keys::cache::KeyCache,
    platform::{
        config::Registration,
        db,
        entity::{
            api_key,
            credit_entry::EntryKind,
            user::{self, Plan, Role, UserStatus},
        },
        error::{Error, Result},
        ids, time, validate,
    },
    state::AppState,
};

pub const MAX_NAME_LEN: usize = 100;

/// A new account, as the register form or an admin supplies it. No
/// `Debug`: it holds a password.
#[derive(Clone)]
pub struct NewUser {
    pub name: String,
    pub email: Option<String>,
    pub password: Option<String>,
    pub role: Role,
    pub plan: Plan,
}

/// What someone fills in to sign up. No `Debug`: it holds a password and
/// an invitation code.
#[derive(Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    /// The invitation code, needed when registration is by invitation.
    pub invitation: Option<String>,
}

/// What a registration did. Callers must answer both alike: telling them
/// apart would tell a stranger which emails have accounts.
#[derive(Debug)]
pub enum Registered {
    /// A new account, on the trial plan with the starting grant.
    Created(user::Model),
    /// The email already had an account; nothing was changed or created
    /// (an invitation given is spent all the same).
    Taken,
}

/// Self-service sign-up from the client address `client`, as
/// `auth.registration` allows: `closed` is 403; `invite` needs a valid
/// invitation code (403 otherwise), spent atomically with the account.
/// Each attempt counts against `auth.register_max_per_window` before any
/// work (429 beyond). Invalid input is 400. Both outcomes hash the password
/// and answer no sooner than [`REGISTRATION_ANSWER_FLOOR`] after the input
/// was accepted: a new account writes rows that a taken email does not, and
/// the time those writes take would otherwise tell them apart.
pub async fn register(state: &AppState, client: &str, form: SignUp) -> Result<Registered> {
    let mode = state.settings.auth.registration;
    if mode == Registration::Closed {
        return Err(Error::Forbidden(
            "registration is closed: ask an admin for an account".into(),
        ));
    }
    state.registration_throttle.attempt(client).await?;
    let name = validate::required_text("name", &form.name, MAX_NAME_LEN)?;
    let email = validate::normalize_email(&form.email)?;
    validate_password(&form.password)?;
    let invitation = match mode {
        Registration::Invite => Some(
            form.invitation
                .as_deref()
                .map(str::trim)
                .filter(|code| !code.is_empty())
                .ok_or_else(|| {
                    Error::Forbidden(
                        "registration is by invitation: enter the code an admin gave you".into(),
                    )
                })?,
        ),
        Registration::Open | Registration::Closed => None,
    };
    let answer_at = tokio::time::Instant::now() + REGISTRATION_ANSWER_FLOOR;
    let password_hash = password::hash(form.password).await?;
    let registered = create_unless_taken(state, invitation, name, email, password_hash).await?;
    tokio::time::sleep_until(answer_at).await;
    Ok(registered)
}

/// How long an accepted registration takes at least, whatever its outcome:
/// well above a hash and a commit on a loaded machine, unnoticed by a person.
pub const REGISTRATION_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(250);

async fn create_unless_taken(
    state: &AppState,
    invitation: Option<&str>,
    name: String,
    email: String,
    password_hash: String,
) -> Result<Registered> {
    let txn = db::begin_write(&state.db).await?;
    if let Some(code) = invitation {
        invitations::service::spend(&txn, code, &email, time::now()).await?;
    }
    if find_by_email(&txn, &email).await?.is_some() {
        txn.commit().await?;
        return Ok(Registered::Taken);
    }
    let inserted = insert_user(
        &txn,
        name,
        Some(email),
        Some(password_hash),
        Role::User,
        Plan::Trial,
    )
    .await;
    let user = match inserted {
        Ok(user) => user,
        // Another sign-up with this email won the race.
        Err(Error::Conflict(_)) => return Ok(Registered::Taken),
        Err(err) => return Err(err),
    };
    grant_starting_credits(&txn, &user.id, state.settings.credits.starting_grant.0).await?;
    txn.commit().await?;
    Ok(Registered::Created(user))
}

/// Creates an account and gives it `starting_grant` micro-credits (the
/// `credits.starting_grant` setting), recorded in the ledger, in one
/// transaction.
pub async fn create_user_with_grant(
    db: &DatabaseConnection,
    new: NewUser,
    starting_grant: i64,
) -> Result<user::Model> {
    let txn = db::begin_write(db).await?;
    let user = create_user(&txn, new).await?;
    grant_starting_credits(&txn, &user.id, starting_grant).await?;
    txn.commit().await?;
    Ok(user)
}

async fn grant_starting_credits<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
    amount: i64,
) -> Result<()> {
    if amount > 0 {
        credits::service::apply(
            txn,
            user_id,
            EntryKind::Grant,
            amount,
            None,
            Some("starting grant".to_owned()),
            None,
        )
        .await?;
    }
    Ok(())
}

/// Creates any account (sign-up, the admin CLI, the first admin).
pub async fn create_user<C: ConnectionTrait>(db: &C, new: NewUser) -> Result<user::Model> {
    let name = validate::required_text("name", &new.name, MAX_NAME_LEN)?;
    let email = new
        .email
        .as_deref()
        .map(validate::normalize_email)
        .transpose()?;
    if let Some(password) = &new.password {
        validate_password(password)?;
    }
    if let Some(email) = &email
        && find_by_email(db, email).await?.is_some()
    {
        return Err(email_taken());
    }
    let password_hash = match new.password {
        Some(password) => Some(password::hash(password).await?),
        None => None,
    };
    insert_user(db, name, email, password_hash, new.role, new.plan).await
}

/// Inserts a checked account; a taken email is 409.
async fn insert_user<C: ConnectionTrait>(
    db: &C,
    name: String,
    email: Option<String>,
    password_hash: Option<String>,
    role: Role,
    plan: Plan,
) -> Result<user::Model> {
    let now = time::now();
    let model = user::ActiveModel {
        id: Set(new_user_id()),
        name: Set(name),
        email: Set(email),
        password_hash: Set(password_hash),
        role: Set(role),
        plan: Set(plan),
        status: Set(UserStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    };
    // The unique index settles a race between two sign-ups with one email.
    model.insert(db).await.map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => email_taken(),
        _ => err.into(),
    })
}

/// The hackathon flow: an admin creates a person by name only (no email, no
/// password) together with their first API key, in one transaction. The key
/// is how they sign in. The audit entry (`user.create`, by `actor_id`)
/// shows the user and the key, never its secret.
pub async fn create_with_key(
    db: &DatabaseConnection,
    actor_id: &str,
    name: &str,
    plan: Option<Plan>,
    starting_grant: i64,
) -> Result<(user::Model, CreatedKey)> {
    let txn = db::begin_write(db).await?;
    let user = create_user(
        &txn,
        NewUser {
            name: name.to_owned(),
            email: None,
            password: None,
            role: Role::User,
            plan: plan.unwrap_or(Plan::Trial),
        },
    )
    .await?;
    grant_starting_credits(&txn, &user.id, starting_grant).await?;
    let key = keys::service::create(
        &txn,
        &user.id,
        NewKey {
            name: "First key".into(),
            models: Vec::new(),
            quota_micro_credits: None,
            expires_at: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        },
    )
    .await?;
    let after =
        json!({ "user": UserView::from(user.clone()), "key": KeyView::from(key.key.clone()) });
    audit::record(
        &txn,
        actor_id,
        Action::UserCreate,
        Target::user(&user.id),
        None,
        Some(after),
    )
    .await?;
    txn.commit().await?;
    Ok((user, key))
}

/// Checks an email and password. Wrong email and wrong password give the same
/// 401; repeated failures per email and client give 429.
pub async fn authenticate_password(
    db: &DatabaseConnection,
    throttle: &LoginThrottle,
    email: &str,
    password: &str,
    client: &str,
) -> Result<user::Model> {
    let email = email.trim().to_lowercase();
    let attempt = throttle.attempt(client, &email).await?;
    let user = find_by_email(db, &email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    if !password::verify(password.to_owned(), stored).await? {
        return Err(Error::Unauthorized("invalid email or password".into()));
    }
    throttle.succeeded(attempt).await;
    let user = user.ok_or_else(|| Error::Unauthorized("invalid email or password".into()))?;
    if user.status != UserStatus::Active {
        return Err(Error::Forbidden("this account is suspended".into()));
    }
    Ok(user)
}

/// Opens a session for a user who has proven who they are.
pub async fn sign_in(
    state: &AppState,
    user: &user::Model,
    user_agent: Option<String>,
    via_key: Option<&api_key::Model>,
) -> Result<IssuedSession> {
    session::create(
        &state.db,
        &state.jwt,
        &user.id,
        state.settings.auth.session_ttl_hours,
        user_agent,
        via_key,
    )
    .await
}

/// The account an API key signs in to the web UI (the hackathon flow):
/// only people an admin created by name, who have no password. An admin's
/// key, or the key of anyone who has a password, is an API key and nothing
/// more: 403, so that a leaked key never becomes a web login.
pub async fn authenticate_key_sign_in(
    db: &DatabaseConnection,
    cache: &KeyCache,
    api_key: &str,
) -> Result<(api_key::Model, user::Model)> {
    let (key, owner) = keys::service::authenticate(db, cache, api_key.trim()).await?;
    if owner.role == Role::Admin || owner.password_hash.is_some() {
        return Err(Error::Forbidden(
            "this account signs in with its email and password, not an API key".into(),
        ));
    }
    Ok((key, owner))
}

/// A user who has not been deleted, or 404.
pub async fn get<C: sea_orm::ConnectionTrait>(db: &C, id: &str) -> Result<user::Model> {
    user::Entity::find_by_id(id.to_owned())
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("user not found"))
}

/// `page` from 1, `per_page` at most 100; `search` matches name or email.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct UserListQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub search: Option<String>,
}

pub struct UserPage {
    pub users: Vec<user::Model>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

pub async fn list(db: &DatabaseConnection, query: &UserListQuery) -> Result<UserPage> {
    let (page, per_page) = validate::paging(query.page, query.per_page, 20, 100)?;
    let mut select = user::Entity::find().filter(user::Column::DeletedAt.is_null());
    if let Some(search) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let like = || LikeExpr::new(pattern.clone()).escape('\\');
        select = select.filter(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Name))).like(like()))
                .add(Expr::col(user::Column::Email).like(like())),
        );
    }
    let paginator = select
        .order_by_asc(user::Column::CreatedAt)
        .order_by_asc(user::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let users = paginator.fetch_page(page - 1).await?;
    Ok(UserPage {
        users,
        total,
        page,
        per_page,
    })
}

/// The fields an admin may change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    pub status: Option<UserStatus>,
}

/// Applies an admin's change. An admin cannot demote or suspend themself;
/// suspending a user ends their sessions in the same transaction.
pub async fn update(
    db: &DatabaseConnection,
    key_cache: &KeyCache,
    actor_id: &str,
    id: &str,
    change: UserUpdate,
) -> Result<user::Model> {
    if change.name.is_none()
        && change.role.is_none()
        && change.plan.is_none()
        && change.status.is_none()
    {
        return Err(Error::bad_request(
            "nothing to update: send name, role, plan or status",
        ));
    }
    if id == actor_id && change.role == Some(Role::User) {
        return Err(Error::bad_request("you cannot remove your own admin role"));
    }
    if id == actor_id && change.status == Some(UserStatus::Suspended) {
        return Err(Error::bad_request("you cannot suspend your own account"));
    }
    let name = change
        .name
        .as_deref()
        .map(|name| validate::required_text("name", name, MAX_NAME_LEN))
        .transpose()?;
    let txn = db::begin_write(db).await?;
    let user = get(&txn, id).await?;
    let before = audit::snapshot(&UserView::from(user.clone()))?;
    let mut model = user.into_active_model();
    if let Some(name) = name {
        model.name = Set(name);
    }
    if let Some(role) = change.role {
        model.role = Set(role);
    }
    if let Some(plan) = change.plan {
        model.plan = Set(plan);
    }
    if let Some(status) = change.status {
        model.status = Set(status);
        if status == UserStatus::Suspended {
            session::revoke_all_for_user(&txn, id).await?;
        }
    }
    model.updated_at = Set(time::now());
    let user = model.update(&txn).await?;
    let after = audit::snapshot(&UserView::from(user.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::UserUpdate,
        Target::user(id),
        Some(before),
        Some(after),
    )
    .await?;
    txn.commit().await?;
    // Cached keys carry the owner's status and plan.
    key_cache.forget_user(id);
    Ok(user)
}

/// Deletes an account: it can no longer sign in, its sessions end, its email
/// is freed, and the row stays so that what refers to it keeps its history.
pub async fn delete(
    db: &DatabaseConnection,
    key_cache: &KeyCache,
    actor_id: &str,
    id: &str,
) -> Result<()> {
    if id == actor_id {
        return Err(Error::bad_request("you cannot delete your own account"));
    }
    let txn = db::begin_write(db).await?;
    let user = get(&txn, id).await?;
    let before = audit::snapshot(&UserView::from(user.clone()))?;
    let now = time::now();
    let mut model = user.into_active_model();
    model.email = Set(None);
    model.password_hash = Set(None);
    model.status = Set(UserStatus::Suspended);
    model.deleted_at = Set(Some(now));
    model.updated_at = Set(now);
    let deleted = model.update(&txn).await?;
    session::revoke_all_for_user(&txn, id).await?;
    // The row stays (anonymised), so the entry shows what is left of it.
    let after = audit::snapshot(&UserView::from(deleted))?;
    audit::record(
        &txn,
        actor_id,
        Action::UserDelete,
        Target::user(id),
        Some(before),
        Some(after),
    )
    .await?;
    txn.commit().await?;
    key_cache.forget_user(id);
    Ok(())
}

/// Sets a new generated password and ends the user's sessions. Returns the
/// password, to be shown once.
pub async fn reset_password(db: &DatabaseConnection, email: &str) -> Result<String> {
    let email = validate::normalize_email(email)?;
    let user = find_by_email(db, &email)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user with email {email}")))?;
    let password = password::generate();
    let hash = password::hash(password.clone()).await?;
    let txn = db::begin_write(db).await?;
    let id = user.id.clone();
    let mut model = user.into_active_model();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(time::now());
    model.update(&txn).await?;
    session::revoke_all_for_user(&txn, &id).await?;
    txn.commit().await?;
    Ok(password)
}

/// The admin created on first start.
pub struct FirstAdmin {
    pub email: String,
    /// Set when the password was generated and must be shown once.
    pub generated_password: Option<String>,
}

/// The first admin still there, by creation: who changes made by the
/// server itself (the catalog file's apply) are recorded as.
pub async fn oldest_admin<C: ConnectionTrait>(db: &C) -> Result<Option<String>> {
    Ok(user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::CreatedAt)
        .one(db)
        .await?
        .map(|admin| admin.id))
}

/// With no admin yet, creates one from the given email and password, or
/// `admin@localhost` with a generated password.
pub async fn ensure_first_admin(
    db: &DatabaseConnection,
    email: Option<String>,
    password: Option<String>,
    starting_grant: i64,
) -> Result<Option<FirstAdmin>> {
    let admins = user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await?;
    if admins > 0 {
        return Ok(None);
    }
    let email = email.unwrap_or_else(|| "admin@localhost".to_owned());
    let generated_password = password.is_none().then(password::generate);
    let password = password.or_else(|| generated_password.clone());
    let admin = create_user_with_grant(
        db,
        NewUser {
            name: "Administrator".into(),
            email: Some(email),
            password,
            role: Role::Admin,
            plan: Plan::Pro,
        },
        starting_grant,
    )
    .await?;
    Ok(Some(FirstAdmin {
        email: admin.email.unwrap_or_default(),
        generated_password,
    }))
}

async fn find_by_email<C: ConnectionTrait>(db: &C, email: &str) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

fn validate_password(password: &str) -> Result<()> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(Error::bad_request(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(Error::bad_request(format!(
            "password must be at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// Search text is matched literally: `%` and `_` are not wildcards.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn email_taken() -> Error {
    Error::Conflict("an account with this email already exists".into())
}

/// `user_<millis>_<16 hex>`, the id style of the admin API contract.
fn new_user_id() -> String {
    format!(
        "user_{}_{}",
        time::now().timestamp_millis(),
        ids::random_hex(8)
    )
}
