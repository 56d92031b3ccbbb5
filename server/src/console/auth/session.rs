//! Sessions: created at sign-in, checked on every request, revoked at logout
//! and when an account is suspended or deleted.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
    sea_query::{Expr, SimpleExpr},
};

use crate::{
    console::{
        auth::{Credential, CurrentUser, jwt::JwtKeys},
        entitlements::Entitlements,
    },
    platform::{
        entity::{
            api_key, session,
            user::{self, UserStatus},
        },
        error::{Error, Result},
        ids, time,
    },
};

/// `last_seen_at` is written at most this often per session.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// A freshly issued sign-in.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a session row and signs its token.
pub async fn create(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    user_id: &str,
    ttl_hours: u32,
    user_agent: Option<String>,
    via_key: Option<&api_key::Model>,
) -> Result<IssuedSession> {
    let now = time::now();
    let mut expires_at = now + Duration::hours(i64::from(ttl_hours));
    // A session opened with a key ends when the key does (revoking the key
    // revokes its sessions too).
    if let Some(key_expiry) = via_key.and_then(|key| key.expires_at) {
        expires_at = expires_at.min(key_expiry);
    }
    let api_key_id = via_key.map(|key| key.id.clone());
    let session_id = ids::random_hex(16);
    session::ActiveModel {
        jti: Set(session_id.clone()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_seen_at: Set(now),
        revoked_at: Set(None),
        user_agent: Set(user_agent.map(|ua| ua.chars().take(512).collect())),
        api_key_id: Set(api_key_id),
    }
    .insert(db)
    .await?;
    let token = keys.issue(user_id, &session_id, now, expires_at)?;
    Ok(IssuedSession {
        token,
        session_id,
        expires_at,
    })
}

/// Resolves a token to its user: the signature and expiry must hold, the
/// session must not be revoked, and the account must be active.
pub async fn authenticate(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    entitlements: &Entitlements,
    token: &str,
    credential: Credential,
) -> Result<CurrentUser> {
    let invalid = || Error::Unauthorized("invalid or expired session".into());
    let claims = keys.verify(token).ok_or_else(invalid)?;
    let (session, user) = session::Entity::find_by_id(claims.jti.clone())
        .find_also_related(user::Entity)
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    let user = user.ok_or_else(invalid)?;
    let now = time::now();
    if session.revoked_at.is_some() || session.expires_at <= now || session.user_id != claims.sub {
        return Err(invalid());
    }
    if user.deleted_at.is_some() || user.status != UserStatus::Active {
        return Err(Error::Unauthorized("this account is suspended".into()));
    }
    if let Some(key_id) = &session.api_key_id {
        // A session opened with a key lives no longer than the key.
        let key = api_key::Entity::find_by_id(key_id.clone())
            .one(db)
            .await?
            .ok_or_else(invalid)?;
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
            return Err(invalid());
        }
    }
    if (now - session.last_seen_at).num_seconds() >= TOUCH_INTERVAL_SECS {
        touch(db, &session.jti, now).await?;
    }
    let plan = entitlements.resolve(db, &user).await?;
    Ok(CurrentUser {
        user,
        session_id: Some(session.jti),
        api_key_id: session.api_key_id,
        credential,
        plan,
    })
}

/// Revokes one session; its token gets 401 from now on.
pub async fn revoke(db: &DatabaseConnection, session_id: &str) -> Result<()> {
    revoke_where(db, session::Column::Jti.eq(session_id)).await
}

/// Revokes every open session of a user (suspension, deletion, password reset).
pub async fn revoke_all_for_user<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<()> {
    revoke_where(db, session::Column::UserId.eq(user_id)).await
}

/// Revokes the sessions opened with an API key (when the key is revoked).
pub async fn revoke_all_for_key<C: ConnectionTrait>(db: &C, api_key_id: &str) -> Result<()> {
    revoke_where(db, session::Column::ApiKeyId.eq(api_key_id)).await
}

async fn revoke_where<C: ConnectionTrait>(db: &C, which: SimpleExpr) -> Result<()> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(time::now()))
        .filter(which)
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

async fn touch(db: &DatabaseConnection, session_id: &str, now: DateTime<Utc>) -> Result<()> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Jti.eq(session_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sessions of a user that are open right now.
pub async fn count_active_for_user(db: &DatabaseConnection, user_id: &str) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(time::now()))
        .count(db)
        .await?)
}
