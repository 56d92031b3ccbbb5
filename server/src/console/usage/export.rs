//! A user's usage as CSV: a header row, then one row per request, oldest
//! first. The body is streamed: rows are read 1,000 at a time by keyset on
//! `(created_at, id)`, so memory stays flat whatever the range holds.
//!
//! Cells are quoted as RFC 4180 says (the `csv` crate), and text that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a
//! tab or a carriage return) gets a leading `'`. Numbers are written as
//! numbers.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, stream};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::report::{KeyNames, RequestRow, UsageFilter, request_row};
use crate::platform::{entity::usage_record, error::Result};

/// Rows read per query.
pub const CHUNK: u64 = 1_000;

pub const HEADER: [&str; 19] = [
    "id",
    "created_at",
    "model",
    "key_id",
    "key_name",
    "endpoint",
    "streamed",
    "status_code",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micro_credits",
    "cost_credits",
    "charged_micro_credits",
    "charged_credits",
    "duration_ms",
    "error_kind",
];

/// `tollgate-usage-<from>-<to>.csv`.
pub fn file_name(filter: &UsageFilter) -> String {
    format!("tollgate-usage-{}-{}.csv", filter.from, filter.to)
}

/// Where the next chunk starts: after this row.
struct Cursor {
    created_at: DateTime<Utc>,
    id: String,
}

enum Next {
    Header,
    Rows(Option<Cursor>),
    Done,
}

/// The CSV body for `filter`, the caller's key names in it. A database
/// error ends the stream with an error (the client sees a cut-off body,
/// never a partial file that looks whole).
pub fn csv_stream(
    db: DatabaseConnection,
    filter: UsageFilter,
    keys: KeyNames,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let state = (db, filter, keys, Next::Header);
    stream::unfold(state, |(db, filter, keys, next)| async move {
        match next {
            Next::Done => None,
            Next::Header => {
                let header = encode(|writer| writer.write_record(HEADER));
                Some((header, (db, filter, keys, Next::Rows(None))))
            }
            Next::Rows(after) => match chunk(&db, &filter, after.as_ref()).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let full = rows.len() as u64 == CHUNK;
                    let last = rows.last().map(|row| Cursor {
                        created_at: row.created_at,
                        id: row.id.clone(),
                    });
                    let bytes = encode(|writer| {
                        for row in rows {
                            write_row(writer, &request_row(row, &keys))?;
                        }
                        Ok(())
                    });
                    let next = if full { Next::Rows(last) } else { Next::Done };
                    Some((bytes, (db, filter, keys, next)))
                }
                Err(err) => {
                    tracing::error!(error = ?err, "usage export failed");
                    let err = std::io::Error::other("the usage export failed");
                    Some((Err(err), (db, filter, keys, Next::Done)))
                }
            },
        }
    })
}

/// The next [`CHUNK`] rows after `after`, oldest first.
async fn chunk(
    db: &DatabaseConnection,
    filter: &UsageFilter,
    after: Option<&Cursor>,
) -> Result<Vec<usage_record::Model>> {
    use usage_record::Column as C;
    let mut condition = filter.condition();
    if let Some(after) = after {
        condition = condition.add(
            Condition::any().add(C::CreatedAt.gt(after.created_at)).add(
                Condition::all()
                    .add(C::CreatedAt.eq(after.created_at))
                    .add(C::Id.gt(after.id.as_str())),
            ),
        );
    }
    Ok(usage_record::Entity::find()
        .filter(condition)
        .order_by_asc(C::CreatedAt)
        .order_by_asc(C::Id)
        .limit(CHUNK)
        .all(db)
        .await?)
}

fn write_row(writer: &mut csv::Writer<Vec<u8>>, row: &RequestRow) -> csv::Result<()> {
    let text = |value: &str| guard(value).into_owned();
    writer.write_record([
        text(&row.id),
        row.created_at.to_string(),
        text(&row.model),
        text(&row.key_id),
        text(row.key_name.as_deref().unwrap_or_default()),
        text(&row.endpoint),
        row.streamed.to_string(),
        row.status_code.to_string(),
        row.input_tokens.to_string(),
        row.output_tokens.to_string(),
        row.cache_read_tokens.to_string(),
        row.cache_write_tokens.to_string(),
        row.reasoning_tokens.to_string(),
        row.cost_micro_credits.to_string(),
        row.cost_credits.clone(),
        row.charged_micro_credits.to_string(),
        row.charged_credits.clone(),
        row.duration_ms.to_string(),
        text(row.error_kind.as_deref().unwrap_or_default()),
    ])
}

/// Runs `write` on a fresh CSV writer (RFC 4180: CRLF, fields quoted when
/// they hold a comma, a quote or a line break) and returns its bytes.
fn encode(
    write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>,
) -> std::io::Result<Bytes> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    write(&mut writer).map_err(std::io::Error::other)?;
    let bytes = writer
        .into_inner()
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(Bytes::from(bytes))
}

/// Text a spreadsheet would take for a formula, made inert with a leading
/// `'` (OWASP's advice for CSV injection).
pub fn guard(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_gets_a_leading_quote_and_other_text_does_not() {
        for text in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(guard(text), format!("'{text}"));
        }
        for text in ["cli", "gpt-4o", "a=b", ""] {
            assert_eq!(guard(text), text);
        }
    }

    #[test]
    fn cells_are_quoted_as_rfc_4180_says() {
        let bytes = encode(|writer| {
            writer.write_record([guard("=HYPERLINK(\"x\")").as_ref(), "a, \"b\"", "7"])
        })
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "\"'=HYPERLINK(\"\"x\"\")\",\"a, \"\"b\"\"\",7\r\n"
        );
    }
}
