//! `request_metrics` rows, written by a [`BatchWriter`]: a request never
//! waits on the database, and a full queue drops metrics rather than
//! slowing requests down.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set, TransactionTrait};

use crate::platform::{
    batch::{self, BatchWriter, Sink},
    entity::request_metric,
};

/// One request, as measured.
#[derive(Debug, Clone)]
pub struct RequestMetric {
    pub ts: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: i32,
    pub route: String,
}

pub type MetricsWriter = BatchWriter<RequestMetric>;

/// Starts the writer for `request_metrics`.
pub fn start(db: DatabaseConnection) -> MetricsWriter {
    BatchWriter::start(db, RequestMetrics)
}

struct RequestMetrics;

impl Sink for RequestMetrics {
    type Row = RequestMetric;
    const NAME: &'static str = "request_metrics";
    const RETRIES: u32 = 0;
    const QUEUE: usize = 65_536;

    async fn write(
        &self,
        db: &DatabaseConnection,
        rows: &[RequestMetric],
        _retry: bool,
    ) -> Result<(), DbErr> {
        let txn = db.begin().await?;
        for chunk in batch::chunks(rows) {
            let rows = chunk.iter().map(|m| request_metric::ActiveModel {
                ts: Set(m.ts),
                duration_ms: Set(m.duration_ms),
                status_code: Set(m.status_code),
                route: Set(m.route.clone()),
                ..Default::default()
            });
            // Without returning: `exec` would read back every new id.
            request_metric::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await
    }
}
