//! `/api/admin/credits/grant`, `/api/admin/credits/refund`,
//! `/api/users/me/credits` and `/api/admin/users/:id/credits`.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{self, EntryView, GrantRequest, HistoryQuery, RefundRequest};
use crate::{
    console::{
        accounts::service as accounts,
        auth::{AdminUser, CurrentUser},
    },
    platform::{
        error::Result,
        extract::{AppJson, AppQuery},
        money::format_credits,
    },
    state::AppState,
};

/// A grant's or an adjustment's result.
#[derive(Serialize, ToSchema)]
pub struct Granted {
    pub success: bool,
    /// `false` when the idempotency key had been used: nothing changed, and
    /// this is the first answer again.
    pub applied: bool,
    pub user_id: String,
    pub balance_micro_credits: i64,
    pub balance_credits: String,
    pub entry: EntryView,
}

/// A refund's result.
#[derive(Serialize, ToSchema)]
pub struct Refunded {
    pub success: bool,
    /// `false` when the request had been refunded already.
    pub applied: bool,
    pub user_id: String,
    pub request_id: String,
    pub refunded_micro_credits: i64,
    pub refunded_credits: String,
    pub balance_micro_credits: i64,
    pub balance_credits: String,
    pub entry: EntryView,
}

/// A balance and one page of its ledger, newest first.
#[derive(Serialize, ToSchema)]
pub struct History {
    pub success: bool,
    pub balance_micro_credits: i64,
    pub balance_credits: String,
    pub entries: Vec<EntryView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Grants credits, or adjusts them (a negative amount, with a reason). A
/// repeated idempotency key answers the first result again, `applied: false`.
#[utoipa::path(post, path = "/admin/credits/grant", operation_id = "grant_credits", tag = "admin", request_body = GrantRequest,
    responses((status = 200, body = Granted)))]
pub async fn grant(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(request): AppJson<GrantRequest>,
) -> Result<Json<Granted>> {
    let granted = service::grant(&state.db, &state.wallets, &admin.user.id, request).await?;
    let balance = granted.entry.balance_after;
    Ok(Json(Granted {
        success: true,
        applied: granted.applied,
        user_id: granted.entry.user_id.clone(),
        balance_micro_credits: balance,
        balance_credits: format_credits(balance),
        entry: EntryView::from(granted.entry),
    }))
}

/// Refunds a proxied request's charge, all of it or `amount`. A repeat
/// answers the first result again, `applied: false`.
#[utoipa::path(post, path = "/admin/credits/refund", operation_id = "refund_request", tag = "admin", request_body = RefundRequest,
    responses((status = 200, body = Refunded)))]
pub async fn refund(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(request): AppJson<RefundRequest>,
) -> Result<Json<Refunded>> {
    let refunded = service::refund(&state, &admin.user.id, request).await?;
    let balance = refunded.entry.balance_after;
    let amount = refunded.entry.amount;
    Ok(Json(Refunded {
        success: true,
        applied: refunded.applied,
        user_id: refunded.entry.user_id.clone(),
        request_id: refunded.request_id,
        refunded_micro_credits: amount,
        refunded_credits: format_credits(amount),
        balance_micro_credits: balance,
        balance_credits: format_credits(balance),
        entry: EntryView::from(refunded.entry),
    }))
}

/// The caller's balance and ledger.
#[utoipa::path(get, path = "/users/me/credits", operation_id = "my_credits", tag = "users", params(HistoryQuery),
    responses((status = 200, body = History)))]
pub async fn mine(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<History>> {
    history(&state, &current.user.id, &query).await
}

/// A user's balance and ledger.
#[utoipa::path(get, path = "/admin/users/{id}/credits", operation_id = "user_credits", tag = "admin",
    params(("id" = String, Path, description = "The user's id"), HistoryQuery),
    responses((status = 200, body = History)))]
pub async fn of_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<History>> {
    accounts::get(&state.db, &id).await?;
    history(&state, &id, &query).await
}

async fn history(state: &AppState, user_id: &str, query: &HistoryQuery) -> Result<Json<History>> {
    let history = service::history(&state.db, user_id, query).await?;
    Ok(Json(History {
        success: true,
        balance_micro_credits: history.balance,
        balance_credits: format_credits(history.balance),
        entries: history.entries.into_iter().map(EntryView::from).collect(),
        total: history.total,
        page: history.page,
        per_page: history.per_page,
    }))
}
