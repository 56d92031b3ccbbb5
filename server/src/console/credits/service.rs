//! The ledger's rules: grants and adjustments (idempotent when keyed),
//! refunds of proxied requests (at most one per request), the history, and
//! the proof that every balance equals its ledger.

pub use contract::credits::EntryView;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    console::audit::{self, Action, Target},
    gateway::wallets::Wallets,
    platform::{
        db,
        entity::{
            credit_balance,
            credit_entry::{self, EntryKind},
            usage_record, user,
        },
        error::{Error, Result},
        money::{Credits, format_credits},
        time::{self},
        validate,
    },
    state::App,
};

const MAX_REASON_LEN: usize = 500;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
/// Request ids are `req_<16 hex>`; anything much longer is not one.
const MAX_REQUEST_ID_LEN: usize = 64;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user_id: String,
    /// Positive: a grant. Negative: an adjustment, which needs a reason.
    pub amount: Credits,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<credit_entry::Model> for EntryView {
    fn from(entry: credit_entry::Model) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind,
            amount_micro_credits: entry.amount,
            amount_credits: format_credits(entry.amount),
            balance_after_micro_credits: entry.balance_after,
            balance_after_credits: format_credits(entry.balance_after),
            reference: entry.reference,
            reason: entry.reason,
            created_at: entry.created_at.into(),
        }
    }
}

/// What a grant did: the entry (the first one, for a repeated key).
#[derive(Debug, Clone)]
pub struct Granted {
    pub entry: credit_entry::Model,
    /// False when an earlier request with the same idempotency key did it.
    pub applied: bool,
}

/// Adds `amount` to a user's balance as `admin_id`. A repeated idempotency
/// key applies once: later calls return the first entry unchanged.
pub async fn grant(
    db: &DatabaseConnection,
    wallets: &Wallets,
    admin_id: &str,
    request: GrantRequest,
) -> Result<Granted> {
    let amount = request.amount.0;
    if amount == 0 {
        return Err(Error::bad_request("amount must not be zero"));
    }
    let reason = validate::optional_text("reason", request.reason.as_deref(), MAX_REASON_LEN)?;
    if amount < 0 && reason.is_none() {
        return Err(Error::bad_request(
            "reason is required for a negative adjustment",
        ));
    }
    let key = validate::optional_text(
        "idempotency_key",
        request.idempotency_key.as_deref(),
        MAX_IDEMPOTENCY_KEY_LEN,
    )?;
    if let Some(key) = &key
        && let Some(first) = by_idempotency_key(db, key).await?
    {
        return replay(first, &request.user_id, amount);
    }
    // No wallet loads or other balance changes on this instance until this
    // one is applied (other instances apply it by entry id).
    let _loading = wallets.loading.lock().await;
    if amount < 0
        && let Some(available) = wallets.available(&request.user_id).await?
        && available + amount < 0
    {
        return Err(Error::bad_request(format!(
            "amount would take the balance below zero (available {} credits, counting requests in flight)",
            format_credits(available)
        )));
    }
    let txn = db::begin_write(db).await?;
    let user = user::Entity::find_by_id(request.user_id.clone())
        .filter(user::Column::DeletedAt.is_null())
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("user not found"))?;
    let kind = if amount > 0 {
        EntryKind::Grant
    } else {
        EntryKind::Adjustment
    };
    let entry = match apply(
        &txn,
        &user.id,
        kind,
        amount,
        Some(admin_id),
        reason,
        key.clone(),
    )
    .await
    {
        Ok(entry) => entry,
        // The same key committed by a concurrent request since the check.
        Err(Error::Conflict(_)) if key.is_some() => {
            drop(txn);
            let first = by_idempotency_key(db, key.as_deref().unwrap_or_default())
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("idempotency key vanished")))?;
            return replay(first, &request.user_id, amount);
        }
        Err(err) => return Err(err),
    };
    audit::record(
        &txn,
        admin_id,
        Action::CreditsGrant,
        Target::user(&user.id),
        Some(balance_snapshot(entry.balance_after - amount, None)),
        Some(balance_snapshot(entry.balance_after, Some(&entry))),
    )
    .await?;
    txn.commit().await?;
    wallets.credit(&user.id, entry.id, amount).await;
    Ok(Granted {
        entry,
        applied: true,
    })
}

/// The first result for a repeated key, if the repeat asks for the same.
fn replay(first: credit_entry::Model, user_id: &str, amount: i64) -> Result<Granted> {
    if first.user_id != user_id || first.amount != amount {
        return Err(Error::Conflict(
            "idempotency_key was already used for a different grant".into(),
        ));
    }
    Ok(Granted {
        entry: first,
        applied: false,
    })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The proxied request (its `x-request-id`, the usage row's id).
    pub request_id: String,
    /// Required; optional here so that a missing one is refused like a
    /// blank one.
    pub reason: Option<String>,
    /// Credits as typed, like a grant's; the full charge when absent.
    pub amount: Option<Credits>,
}

/// What a refund did: the entry (the first one, for a repeat).
#[derive(Debug, Clone)]
pub struct Refunded {
    /// The request refunded.
    pub request_id: String,
    pub entry: credit_entry::Model,
    /// False when an earlier refund of the same request did it.
    pub applied: bool,
}

/// Gives back to its user what a proxied request was charged (all of it,
/// or `amount` of it), as `admin_id`. A request is refunded at most once:
/// the entry's idempotency key is `refund:<request_id>`, so a repeat, even
/// a concurrent one, returns the first entry unchanged. The usage writer
/// is flushed first, so a request that just finished has its row.
pub async fn refund(app: &App, admin_id: &str, request: RefundRequest) -> Result<Refunded> {
    app.usage.flush().await;
    let (db, wallets) = (&app.db, &*app.wallets);
    let request_id =
        validate::required_text("request_id", &request.request_id, MAX_REQUEST_ID_LEN)?;
    let reason = validate::required_text(
        "reason",
        request.reason.as_deref().unwrap_or_default(),
        MAX_REASON_LEN,
    )?;
    if let Some(Credits(amount)) = request.amount
        && amount <= 0
    {
        return Err(Error::bad_request("amount must be greater than zero"));
    }
    let usage = usage_record::Entity::find_by_id(request_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("no request with request_id {request_id}")))?;
    if usage.charged <= 0 {
        return Err(Error::bad_request(format!(
            "request {request_id} was charged nothing, so there is nothing to refund"
        )));
    }
    let amount = request
        .amount
        .map_or(usage.charged, |Credits(amount)| amount);
    if amount > usage.charged {
        return Err(Error::bad_request(format!(
            "amount must be at most the {} credits request {request_id} was charged",
            format_credits(usage.charged)
        )));
    }
    let key = format!("refund:{request_id}");
    if let Some(first) = by_idempotency_key(db, &key).await? {
        return replay_refund(first, &usage, amount);
    }
    // No wallet loads or other balance changes on this instance until this
    // one is applied (other instances apply it by entry id).
    let _loading = wallets.loading.lock().await;
    let txn = db::begin_write(db).await?;
    // Names both what is refunded and who decided it.
    let reference = format!("{request_id} by {admin_id}");
    let entry = match apply(
        &txn,
        &usage.user_id,
        EntryKind::Refund,
        amount,
        Some(&reference),
        Some(reason),
        Some(key.clone()),
    )
    .await
    {
        Ok(entry) => entry,
        // A concurrent refund of the same request committed since the check.
        Err(Error::Conflict(_)) => {
            drop(txn);
            let first = by_idempotency_key(db, &key)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("idempotency key vanished")))?;
            return replay_refund(first, &usage, amount);
        }
        Err(err) => return Err(err),
    };
    let mut after = balance_snapshot(entry.balance_after, Some(&entry));
    after["request_id"] = request_id.clone().into();
    audit::record(
        &txn,
        admin_id,
        Action::CreditsRefund,
        Target::user(&usage.user_id),
        Some(balance_snapshot(entry.balance_after - amount, None)),
        Some(after),
    )
    .await?;
    txn.commit().await?;
    wallets.credit(&usage.user_id, entry.id, amount).await;
    Ok(Refunded {
        request_id,
        entry,
        applied: true,
    })
}

/// A balance as the audit log shows it, with the entry that made it.
pub fn balance_snapshot(balance: i64, entry: Option<&credit_entry::Model>) -> serde_json::Value {
    let mut snapshot = serde_json::json!({
        "balance_micro_credits": balance,
        "balance_credits": format_credits(balance),
    });
    if let Some(entry) = entry {
        snapshot["entry"] = serde_json::json!(EntryView::from(entry.clone()));
    }
    snapshot
}

/// The first refund of a request, if the repeat asks for the same amount.
fn replay_refund(
    first: credit_entry::Model,
    usage: &usage_record::Model,
    amount: i64,
) -> Result<Refunded> {
    // An admin may have used the key for a grant; it is not a refund then.
    if first.kind != EntryKind::Refund || first.user_id != usage.user_id {
        return Err(Error::Conflict(format!(
            "the idempotency key refund:{} is taken by another ledger entry",
            usage.id
        )));
    }
    if first.amount != amount {
        return Err(Error::Conflict(format!(
            "request {} was already refunded {} credits",
            usage.id,
            format_credits(first.amount)
        )));
    }
    Ok(Refunded {
        request_id: usage.id.clone(),
        entry: first,
        applied: false,
    })
}

/// Writes one ledger row and the new balance, inside the caller's
/// transaction. Refuses to take a balance below zero.
pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
    kind: EntryKind,
    amount: i64,
    reference: Option<&str>,
    reason: Option<String>,
    idempotency_key: Option<String>,
) -> Result<credit_entry::Model> {
    let Some(after) = change_balance(txn, user_id, amount, false).await? else {
        let before = balance(txn, user_id).await?;
        return Err(Error::bad_request(format!(
            "amount would take the balance below zero (balance {} credits)",
            format_credits(before)
        )));
    };
    credit_entry::ActiveModel {
        user_id: Set(user_id.to_owned()),
        kind: Set(kind),
        amount: Set(amount),
        balance_after: Set(after),
        reference: Set(reference.map(str::to_owned)),
        reason: Set(reason),
        idempotency_key: Set(idempotency_key),
        created_at: Set(time::now()),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict("idempotency_key was already used".into())
        }
        _ => err.into(),
    })
}

/// Adds `amount` to the stored balance in one statement (which also takes
/// the row's write lock until the transaction ends, so ledger rows follow
/// in the order of the changes). `None` if it would go below zero, unless
/// `allow_negative`.
pub async fn change_balance<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
    amount: i64,
    allow_negative: bool,
) -> Result<Option<i64>> {
    let now = time::now();
    credit_balance::Entity::insert(credit_balance::ActiveModel {
        user_id: Set(user_id.to_owned()),
        balance: Set(0),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(credit_balance::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let mut update = credit_balance::Entity::update_many()
        .col_expr(
            credit_balance::Column::Balance,
            Expr::col(credit_balance::Column::Balance).add(amount),
        )
        .col_expr(credit_balance::Column::UpdatedAt, Expr::value(now))
        .filter(credit_balance::Column::UserId.eq(user_id));
    if !allow_negative {
        update = update.filter(
            Expr::col(credit_balance::Column::Balance)
                .add(amount)
                .gte(0),
        );
    }
    let updated = update.exec_with_returning(txn).await?;
    Ok(updated.first().map(|row| row.balance))
}

async fn by_idempotency_key(
    db: &DatabaseConnection,
    key: &str,
) -> Result<Option<credit_entry::Model>> {
    Ok(credit_entry::Entity::find()
        .filter(credit_entry::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// A user's balance in micro-credits (zero before any entry).
pub async fn balance<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<i64> {
    Ok(credit_balance::of(db, user_id).await?)
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub kind: Option<EntryKind>,
}

pub struct History {
    pub balance: i64,
    pub entries: Vec<credit_entry::Model>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// The balance and one page of the ledger, newest first.
pub async fn history(
    db: &DatabaseConnection,
    user_id: &str,
    query: &HistoryQuery,
) -> Result<History> {
    let (page, per_page) = validate::paging(query.page, query.per_page, 20, 100)?;
    let mut select = credit_entry::Entity::find().filter(credit_entry::Column::UserId.eq(user_id));
    if let Some(kind) = query.kind {
        select = select.filter(credit_entry::Column::Kind.eq(kind));
    }
    let paginator = select
        .order_by_desc(credit_entry::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let entries = paginator.fetch_page(page - 1).await?;
    Ok(History {
        balance: balance(db, user_id).await?,
        entries,
        total,
        page,
        per_page,
    })
}

/// A user whose balance and ledger disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub user_id: String,
    pub balance: i64,
    pub ledger_sum: i64,
    /// The first entry whose `balance_after` does not follow from the one
    /// before it, if any.
    pub broken_entry: Option<i64>,
}

/// Checks every balance against its ledger, entry by entry, in one read
/// transaction so that writers cannot make a consistent ledger look wrong.
pub async fn verify(db: &DatabaseConnection) -> Result<Vec<Discrepancy>> {
    let txn = db::begin_snapshot(db).await?;
    let balances: std::collections::HashMap<String, i64> = credit_balance::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|b| (b.user_id, b.balance))
        .collect();
    let mut users: Vec<String> = credit_entry::Entity::find()
        .select_only()
        .column(credit_entry::Column::UserId)
        .distinct()
        .into_tuple::<String>()
        .all(&txn)
        .await?;
    users.extend(balances.keys().cloned());
    users.sort();
    users.dedup();
    // Requests that cost more than they held: their charges may take a
    // balance below zero (and the charges of requests in flight then may
    // keep it there until a grant brings it back).
    let overruns: std::collections::HashMap<String, i64> = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::Id)
        .column(usage_record::Column::Overrun)
        .filter(usage_record::Column::Overrun.gt(0))
        .into_tuple::<(String, i64)>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let mut found = Vec::new();
    for user_id in users {
        let entries = credit_entry::Entity::find()
            .filter(credit_entry::Column::UserId.eq(user_id.as_str()))
            .order_by_asc(credit_entry::Column::Id)
            .all(&txn)
            .await?;
        let mut running: i64 = 0;
        let mut broken_entry = None;
        // Holds keep every other charge within what was available, so a
        // balance can be below zero by at most what its overruns cost.
        let mut overrun_so_far: i64 = 0;
        for entry in &entries {
            running = running.saturating_add(entry.amount);
            if entry.kind == EntryKind::Charge
                && let Some(overrun) = entry.reference.as_ref().and_then(|id| overruns.get(id))
            {
                overrun_so_far = overrun_so_far.saturating_add(*overrun);
            }
            let negative_without_cause = running < -overrun_so_far;
            if broken_entry.is_none() && (entry.balance_after != running || negative_without_cause)
            {
                broken_entry = Some(entry.id);
            }
        }
        let balance = balances.get(&user_id).copied().unwrap_or(0);
        if balance != running || broken_entry.is_some() {
            found.push(Discrepancy {
                user_id,
                balance,
                ledger_sum: running,
                broken_entry,
            });
        }
    }
    txn.commit().await?;
    Ok(found)
}
