//! The signed-in user's credits: the balance and the ledger.

use leptos::prelude::*;

use crate::{dto::CreditHistoryData, error::AppError};

/// Entries per page of the history.
pub const PER_PAGE: u64 = 20;

/// One page of the ledger, newest first; `kind` is `grant`, `charge`,
/// `refund`, `adjustment` or empty for every kind.
#[server(prefix = "/rpc", endpoint = "credit_history")]
pub async fn credit_history(page: u64, kind: String) -> Result<CreditHistoryData, AppError> {
    use server::{
        console::credits::service::{self, EntryView, HistoryQuery},
        platform::{entity::credit_entry::EntryKind, money::format_credits},
    };
    let (state, current) = crate::ssr::user()?;
    let kind = match kind.as_str() {
        "" => None,
        name => Some(name.parse::<EntryKind>().map_err(|_| {
            crate::ssr::invalid("kind must be grant, charge, refund or adjustment")
        })?),
    };
    let query = HistoryQuery {
        page: Some(page.max(1)),
        per_page: Some(PER_PAGE),
        kind,
    };
    let history = service::history(&state.db, &current.user.id, &query).await?;
    let now = server::platform::time::now();
    Ok(CreditHistoryData {
        balance_credits: format_credits(history.balance),
        entries: history
            .entries
            .into_iter()
            .map(|entry| {
                let view = EntryView::from(entry);
                crate::ssr::dated(view.clone(), view.created_at, now)
            })
            .collect(),
        total: history.total,
        page: history.page,
        per_page: history.per_page,
    })
}
