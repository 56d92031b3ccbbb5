//! `/api/admin/credits/grant`, `/api/admin/credits/refund`,
//! `/api/users/me/credits` and `/api/admin/users/:id/credits`.

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::service::{self, EntryView, GrantRequest, HistoryQuery, RefundRequest};
use crate::{
    accounts::service as accounts,
    auth::{AdminUser, CurrentUser},
    error::Result,
    extract::{AppJson, AppQuery},
    money::format_credits,
    state::AppState,
};

/// The new balance and the entry. A repeated idempotency key answers
/// exactly what the first request did (`applied: false` says so).
pub async fn grant(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(request): AppJson<GrantRequest>,
) -> Result<Json<Value>> {
    let granted = service::grant(&state.db, &state.wallets, &admin.user.id, request).await?;
    let balance = granted.entry.balance_after;
    Ok(Json(json!({
        "success": true,
        "applied": granted.applied,
        "user_id": granted.entry.user_id,
        "balance_micro_credits": balance,
        "balance_credits": format_credits(balance),
        "entry": EntryView::from(granted.entry),
    })))
}

/// The new balance, the entry and the amount refunded, as a grant answers
/// plus `request_id` and `refunded_*`. A repeated refund of a request
/// answers exactly what the first one did (`applied: false` says so).
pub async fn refund(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(request): AppJson<RefundRequest>,
) -> Result<Json<Value>> {
    // A request that just finished may still be in the writer's queue.
    state.usage.flush().await;
    let refunded = service::refund(&state.db, &state.wallets, &admin.user.id, request).await?;
    let balance = refunded.entry.balance_after;
    let amount = refunded.entry.amount;
    Ok(Json(json!({
        "success": true,
        "applied": refunded.applied,
        "user_id": refunded.entry.user_id,
        "request_id": refunded.request_id,
        "refunded_micro_credits": amount,
        "refunded_credits": format_credits(amount),
        "balance_micro_credits": balance,
        "balance_credits": format_credits(balance),
        "entry": EntryView::from(refunded.entry),
    })))
}

pub async fn mine(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<Value>> {
    history(&state, &current.user.id, &query).await
}

pub async fn of_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<Value>> {
    accounts::get(&state.db, &id).await?;
    history(&state, &id, &query).await
}

async fn history(state: &AppState, user_id: &str, query: &HistoryQuery) -> Result<Json<Value>> {
    let history = service::history(&state.db, user_id, query).await?;
    let entries: Vec<EntryView> = history.entries.into_iter().map(EntryView::from).collect();
    Ok(Json(json!({
        "success": true,
        "balance_micro_credits": history.balance,
        "balance_credits": format_credits(history.balance),
        "entries": entries,
        "total": history.total,
        "page": history.page,
        "per_page": history.per_page,
    })))
}
