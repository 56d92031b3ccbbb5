//! Reading the audit log: one page of entries, newest first, with the
//! actor's email and the views as JSON.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::platform::{
    entity::{audit_entry, user},
    error::Result,
    time::serde_iso,
    validate,
};

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;

/// `GET /api/admin/audit`: paging and exact-match filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub actor_id: Option<String>,
    /// `user.update`, `model.create`, …
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
}

/// One entry as the API shows it: `before` and `after` as JSON values.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct EntryView {
    pub id: i64,
    pub actor_id: String,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
}

pub struct AuditPage {
    pub entries: Vec<EntryView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// One page of the log, newest first (by id: entries are numbered in the
/// order they were written).
pub async fn list(db: &DatabaseConnection, query: &AuditQuery) -> Result<AuditPage> {
    let (page, per_page) =
        validate::paging(query.page, query.per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let mut condition = Condition::all();
    for (column, value) in [
        (audit_entry::Column::ActorId, &query.actor_id),
        (audit_entry::Column::Action, &query.action),
        (audit_entry::Column::TargetType, &query.target_type),
        (audit_entry::Column::TargetId, &query.target_id),
    ] {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            condition = condition.add(column.eq(value));
        }
    }
    let paginator = audit_entry::Entity::find()
        .filter(condition)
        .find_also_related(user::Entity)
        .order_by_desc(audit_entry::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let entries = paginator
        .fetch_page(page - 1)
        .await?
        .into_iter()
        .map(|(entry, actor)| EntryView {
            id: entry.id,
            actor_id: entry.actor_id,
            actor_email: actor.and_then(|actor| actor.email),
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            before: entry.before.map(parse),
            after: entry.after.map(parse),
            created_at: entry.created_at,
        })
        .collect();
    Ok(AuditPage {
        entries,
        total,
        page,
        per_page,
    })
}

/// Stored JSON as a value; text that is not JSON (never written by
/// [`super::record`]) is shown as a string rather than lost.
fn parse(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// What an audit entry changed, for people: `plan: trial → pro; status:
/// active → suspended`, or the new record's fields for a creation. Nested
/// records are flattened (`entry.reason: …`); micro-credit figures are left
/// out next to their credit forms.
pub fn summary(before: Option<&serde_json::Value>, after: Option<&serde_json::Value>) -> String {
    use serde_json::{Map, Value};
    const MAX: usize = 300;
    fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
        match value {
            Value::Object(fields) => {
                for (name, value) in fields {
                    if name.ends_with("_micro_credits") {
                        continue;
                    }
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    flatten(&path, value, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    let fields = |value: Option<&Value>| {
        value.filter(|v| v.is_object()).map(|value| {
            let mut out = Map::new();
            flatten("", value, &mut out);
            out
        })
    };
    let shown = |value: Option<&Value>| match value {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let parts: Vec<String> = match (fields(before), fields(after)) {
        (Some(old), Some(new)) => new
            .iter()
            .filter(|(name, value)| old.get(*name) != Some(*value))
            .map(|(name, value)| {
                format!("{name}: {} → {}", shown(old.get(name)), shown(Some(value)))
            })
            .collect(),
        (None, Some(new)) => new
            .iter()
            .map(|(name, value)| format!("{name}: {}", shown(Some(value))))
            .collect(),
        (Some(_), None) => vec!["removed".to_owned()],
        (None, None) => Vec::new(),
    };
    let mut text = parts.join("; ");
    if text.chars().count() > MAX {
        text = text.chars().take(MAX).collect::<String>() + "…";
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_summary_says_what_changed_in_people_terms() {
        let before = json!({ "plan": "trial", "status": "active", "name": "Ada" });
        let after = json!({ "plan": "pro", "status": "active", "name": "Ada" });
        assert_eq!(summary(Some(&before), Some(&after)), "plan: trial → pro");

        let grant = json!({
            "balance_micro_credits": 25_000_000,
            "balance_credits": "25.000000",
            "entry": { "kind": "grant", "reason": "prize", "note": null },
        });
        assert_eq!(
            summary(None, Some(&grant)),
            "balance_credits: 25.000000; entry.kind: grant; entry.reason: prize; entry.note: —"
        );
        assert_eq!(summary(Some(&before), None), "removed");
        assert_eq!(summary(None, None), "");

        let long = json!({ "notes": "x".repeat(1000) });
        let text = summary(None, Some(&long));
        assert_eq!(text.chars().count(), 301, "300 characters and an ellipsis");
        assert!(text.ends_with('…'));
    }
}
