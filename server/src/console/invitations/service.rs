//! Creating, listing, revoking and spending invitations. Creation and
//! revocation are admin writes, audited in their transaction.

use chrono::{DateTime, Duration, Utc};
pub use contract::invitations::{InvitationState, InvitationView};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    console::audit::{self, Action, Target},
    gateway::api_keys::secret,
    platform::{
        db,
        entity::invitation,
        error::{Error, Result},
        ids,
        time::{self},
        validate::{self, normalize_email},
    },
};

/// What every code starts with.
pub const CODE_PREFIX: &str = "inv-";
/// Random base62 characters after the prefix (about 190 bits).
const CODE_RANDOM_LEN: usize = 32;
/// How much of a code stays visible in the list: `inv-` and 8 characters.
const VISIBLE_LEN: usize = CODE_PREFIX.len() + 8;
/// How long an invitation lasts when the admin names no expiry.
pub const DEFAULT_TTL: Duration = Duration::days(7);
/// The latest expiry an admin may name.
pub const MAX_TTL: Duration = Duration::days(365);
pub const MAX_USES: i32 = 1_000;
pub const MAX_NOTE_LEN: usize = 200;

/// `POST /api/admin/invitations`; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Only this email may register with the code.
    pub email: Option<String>,
    /// Default: in [`DEFAULT_TTL`].
    pub expires_at: Option<DateTime<Utc>>,
    /// Default 1.
    pub max_uses: Option<i32>,
    /// Who it is for.
    pub note: Option<String>,
}

/// `invitation` as the admin sees it at `now`.
pub fn view(invitation: invitation::Model, now: DateTime<Utc>) -> InvitationView {
    let state = if invitation.revoked_at.is_some() {
        InvitationState::Revoked
    } else if invitation.uses >= invitation.max_uses {
        InvitationState::Used
    } else if invitation.expires_at <= now {
        InvitationState::Expired
    } else {
        InvitationState::Active
    };
    InvitationView {
        id: invitation.id,
        prefix: invitation.prefix,
        email: invitation.email,
        note: invitation.note,
        max_uses: invitation.max_uses,
        uses: invitation.uses,
        state,
        expires_at: invitation.expires_at.into(),
        created_by: invitation.created_by,
        created_at: invitation.created_at.into(),
        last_used_at: invitation.last_used_at.map(Into::into),
        revoked_at: invitation.revoked_at.map(Into::into),
    }
}

/// A created invitation: the row, and the code to show once.
pub struct CreatedInvitation {
    pub invitation: invitation::Model,
    pub code: String,
}

/// Creates an invitation by `admin_id`; the audit entry (`invitation.create`)
/// shows the view, never the code.
pub async fn create(
    db: &DatabaseConnection,
    admin_id: &str,
    new: NewInvitation,
) -> Result<CreatedInvitation> {
    let now = time::now();
    let email = match new.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => Some(normalize_email(email)?),
    };
    let expires_at = new.expires_at.unwrap_or(now + DEFAULT_TTL);
    if expires_at <= now || expires_at > now + MAX_TTL {
        return Err(Error::bad_request(
            "expires_at must be in the future and within a year",
        ));
    }
    let max_uses = new.max_uses.unwrap_or(1);
    if !(1..=MAX_USES).contains(&max_uses) {
        return Err(Error::bad_request(format!(
            "max_uses must be between 1 and {MAX_USES}"
        )));
    }
    let note = validate::optional_text("note", new.note.as_deref(), MAX_NOTE_LEN)?;
    let code = format!("{CODE_PREFIX}{}", secret::random_base62(CODE_RANDOM_LEN));
    let txn = db::begin_write(db).await?;
    let invitation = invitation::ActiveModel {
        id: Set(ids::prefixed("inv")),
        code_hash: Set(secret::hash(&code)),
        prefix: Set(code.chars().take(VISIBLE_LEN).collect()),
        email: Set(email),
        note: Set(note),
        max_uses: Set(max_uses),
        uses: Set(0),
        expires_at: Set(expires_at),
        created_by: Set(admin_id.to_owned()),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        admin_id,
        Action::InvitationCreate,
        Target::invitation(&invitation.id),
        None,
        Some(audit::snapshot(&view(invitation.clone(), now))?),
    )
    .await?;
    txn.commit().await?;
    Ok(CreatedInvitation { invitation, code })
}

/// Every invitation, newest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<InvitationView>> {
    let now = time::now();
    Ok(invitation::Entity::find()
        .order_by_desc(invitation::Column::CreatedAt)
        .order_by_desc(invitation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|invitation| view(invitation, now))
        .collect())
}

/// Revokes an invitation: its code stops working at once; the row stays.
/// 404 for an unknown one, 400 for one already revoked.
pub async fn revoke(db: &DatabaseConnection, admin_id: &str, id: &str) -> Result<InvitationView> {
    let now = time::now();
    let txn = db::begin_write(db).await?;
    let invitation = invitation::Entity::find_by_id(id.to_owned())
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("invitation not found"))?;
    let already = || Error::bad_request("this invitation is already revoked");
    if invitation.revoked_at.is_some() {
        return Err(already());
    }
    // Conditional, so that of two concurrent revocations one gets 400.
    let done = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(already());
    }
    let before = view(invitation.clone(), now);
    let after = view(
        invitation::Model {
            revoked_at: Some(now),
            ..invitation
        },
        now,
    );
    audit::record(
        &txn,
        admin_id,
        Action::InvitationRevoke,
        Target::invitation(id),
        Some(audit::snapshot(&before)?),
        Some(audit::snapshot(&after)?),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Spends one use of `code` for a registration of `email` (normalised), in
/// the caller's transaction: one conditional update, so that two
/// registrations racing for the last use cannot both spend it. A code that
/// is unknown, spent, expired, revoked or bound to another email is 403,
/// all alike.
pub async fn spend<C: ConnectionTrait>(
    txn: &C,
    code: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let spent = invitation::Entity::update_many()
        .col_expr(
            invitation::Column::Uses,
            Expr::col(invitation::Column::Uses).add(1),
        )
        .col_expr(invitation::Column::LastUsedAt, Expr::value(now))
        .filter(invitation::Column::CodeHash.eq(secret::hash(code.trim())))
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .filter(Expr::col(invitation::Column::Uses).lt(Expr::col(invitation::Column::MaxUses)))
        .filter(
            Condition::any()
                .add(invitation::Column::Email.is_null())
                .add(invitation::Column::Email.eq(email)),
        )
        .exec(txn)
        .await?;
    if spent.rows_affected == 0 {
        return Err(Error::Forbidden(
            "this invitation code is not valid: it may be mistyped, used up, expired, revoked or meant for another email".into(),
        ));
    }
    Ok(())
}
