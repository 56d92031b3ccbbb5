//! The credit ledger as the API shows it.

use serde::{Deserialize, Serialize};

use crate::{EntryKind, Timestamp};

/// One ledger row: each amount exact in micro-credits and readable in
/// credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = CreditEntry))]
pub struct EntryView {
    pub id: i64,
    pub kind: EntryKind,
    pub amount_micro_credits: i64,
    pub amount_credits: String,
    pub balance_after_micro_credits: i64,
    pub balance_after_credits: String,
    pub reference: Option<String>,
    pub reason: Option<String>,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}
