//! `GET /api/admin/usage.csv`: the `daily_user_usage` rows of a range (and
//! model) as CSV, streamed page by page so that a long range never sits in
//! memory whole. RFC 4180 (CRLF, quotes where needed) with a header row;
//! text cells that a spreadsheet would run as a formula get a leading `'`
//! (the rule of the user's own export, [`crate::console::usage::export::guard`]).

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, stream};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, RelationTrait,
    sea_query::{Expr, ExprTrait},
};

use super::range::DateRange;
use crate::{
    console::usage::export::guard as text,
    platform::{
        entity::{daily_user_usage as rollup, user},
        money::format_credits,
        time,
    },
};

/// Rows fetched (and written) per page.
const PAGE: u64 = 500;

pub const HEADER: [&str; 14] = [
    "date",
    "user_id",
    "email",
    "name",
    "model",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micro_credits",
    "cost_credits",
    "errors",
    "last_used_at",
];

/// One CSV line: a rollup row with its user's email and name.
#[derive(Debug, FromQueryResult)]
struct Row {
    date: String,
    user_id: String,
    model: String,
    requests: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cost: i64,
    errors: i64,
    last_used_at: DateTime<Utc>,
    email: Option<String>,
    name: String,
}

/// Where the next page starts: after this `(date, user_id, model)`.
#[derive(Clone)]
struct After {
    date: String,
    user_id: String,
    model: String,
}

enum Page {
    Header,
    After(Option<After>),
    Done,
}

/// The CSV, header first, then rows ordered by date, user id and model.
/// Pages follow the unique `(date, user_id, model)` key rather than an
/// offset, so rows the writer adds meanwhile cannot shift a page. A
/// database error ends the stream with an error (the client sees a cut
/// download, never a short file that looks complete).
pub fn usage_csv(
    db: DatabaseConnection,
    range: DateRange,
    model: Option<String>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    stream::unfold(Page::Header, move |page| {
        let db = db.clone();
        let model = model.clone();
        async move {
            match page {
                Page::Header => Some((
                    write(std::iter::once(HEADER.map(Cow::Borrowed).to_vec())),
                    Page::After(None),
                )),
                Page::After(after) => {
                    let rows = match fetch(&db, &range, model.as_deref(), after.as_ref()).await {
                        Ok(rows) => rows,
                        Err(err) => {
                            tracing::error!(error = %err, "usage export failed");
                            return Some((
                                Err(std::io::Error::other("usage export failed")),
                                Page::Done,
                            ));
                        }
                    };
                    let last = rows.last()?;
                    let next = if (rows.len() as u64) < PAGE {
                        Page::Done
                    } else {
                        Page::After(Some(After {
                            date: last.date.clone(),
                            user_id: last.user_id.clone(),
                            model: last.model.clone(),
                        }))
                    };
                    Some((write(rows.iter().map(record)), next))
                }
                Page::Done => None,
            }
        }
    })
}

async fn fetch(
    db: &DatabaseConnection,
    range: &DateRange,
    model: Option<&str>,
    after: Option<&After>,
) -> Result<Vec<Row>, sea_orm::DbErr> {
    use rollup::Column as C;
    // The first page starts at `from`; later ones just after the last row
    // sent, as a row value: SQLite and PostgreSQL both seek the unique
    // `(date, user_id, model)` index to it, so every page costs the same.
    // (With `from` as well, SQLite seeks to `from` and filters every row
    // up to the key: quadratic, 24 s for 400,000 rows.)
    let start = match after {
        Some(after) => {
            let columns = [C::Date, C::UserId, C::Model].map(|c| Expr::col((rollup::Entity, c)));
            let values = [&after.date, &after.user_id, &after.model].map(|v| Expr::val(v.as_str()));
            Expr::tuple(columns).gt(Expr::tuple(values))
        }
        None => Expr::col((rollup::Entity, C::Date)).gte(range.from_key()),
    };
    rollup::Entity::find()
        .filter(start)
        .filter(C::Date.lte(range.to_key()))
        .apply_if(model, |query, model| query.filter(C::Model.eq(model)))
        .select_only()
        .columns([
            C::Date,
            C::UserId,
            C::Model,
            C::Requests,
            C::InputTokens,
            C::OutputTokens,
            C::CacheReadTokens,
            C::CacheWriteTokens,
            C::Cost,
            C::Errors,
            C::LastUsedAt,
        ])
        .column(user::Column::Email)
        .column(user::Column::Name)
        .join(JoinType::InnerJoin, rollup::Relation::User.def())
        .order_by_asc(C::Date)
        .order_by_asc(C::UserId)
        .order_by_asc(C::Model)
        .limit(PAGE)
        .into_model()
        .all(db)
        .await
}

fn record(row: &Row) -> Vec<Cow<'_, str>> {
    vec![
        Cow::Borrowed(row.date.as_str()),
        text(&row.user_id),
        text(row.email.as_deref().unwrap_or_default()),
        text(&row.name),
        text(&row.model),
        Cow::Owned(row.requests.to_string()),
        Cow::Owned(row.input_tokens.to_string()),
        Cow::Owned(row.output_tokens.to_string()),
        Cow::Owned(row.cache_read_tokens.to_string()),
        Cow::Owned(row.cache_write_tokens.to_string()),
        Cow::Owned(row.cost.to_string()),
        Cow::Owned(format_credits(row.cost)),
        Cow::Owned(row.errors.to_string()),
        Cow::Owned(time::iso(&row.last_used_at)),
    ]
}

/// Records as RFC 4180 CSV: CRLF line ends, fields quoted when they hold a
/// comma, a quote or a line break.
fn write<'a>(records: impl Iterator<Item = Vec<Cow<'a, str>>>) -> std::io::Result<Bytes> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        writer.write_record(record.iter().map(|cell| cell.as_bytes()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_cells_quoted_per_rfc_4180() {
        let bytes = write(std::iter::once(vec![
            text("a,b"),
            text("say \"hi\""),
            text("=1+1"),
            text("-2"),
            text("two\nlines"),
        ]))
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",'=1+1,'-2,\"two\nlines\"\r\n"
        );
    }
}
