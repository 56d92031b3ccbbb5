//! Where proxied requests hand their usage rows: the spool (durable before
//! the answer completes), then the batching writer (the database).

use std::{path::Path, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use super::{
    spool::{Receipt, Spool},
    writer::{self, UsageWriter},
};
use crate::platform::{cluster::Cluster, entity::usage_record};

/// How long a graceful shutdown waits for the database to take the rows
/// still queued; what it does not take stays in the spool for the next start.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    writer: UsageWriter,
    /// `None` when `usage.spool` is off: rows live in memory until stored.
    spool: Option<Spool>,
}

impl Recorder {
    /// Starts the writer and, when `spool_dir` is given, replays what the
    /// spool holds from earlier runs and opens it.
    pub async fn start(
        db: &DatabaseConnection,
        spool_dir: Option<&Path>,
        cluster: Option<Arc<Cluster>>,
    ) -> anyhow::Result<Self> {
        let writer = writer::start(db.clone(), cluster.clone());
        let spool = match spool_dir {
            Some(dir) => Some(Spool::open(dir, db, writer.clone(), cluster).await?),
            None => None,
        };
        Ok(Self { writer, spool })
    }

    /// Records a row; the receipt resolves once it survives a crash.
    pub fn record(&self, row: usage_record::Model) -> Receipt {
        match &self.spool {
            Some(spool) => spool.record(row),
            None => {
                self.writer.submit(row);
                Receipt::done()
            }
        }
    }

    /// Waits while the writer's queue is full (the database is behind).
    pub async fn wait_for_room(&self) {
        self.writer.wait_for_room().await;
    }

    /// Waits until every row recorded before this call is in the database
    /// (false if the writer stopped first).
    pub async fn flush(&self) -> bool {
        if let Some(spool) = &self.spool {
            spool.sync().await;
        }
        self.writer.flush().await
    }

    /// Rows waiting for the database.
    pub fn queued(&self) -> usize {
        self.writer.queued()
    }

    /// Rows dropped because the writer had stopped.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped()
    }

    /// Graceful shutdown: stores what is queued, waiting at most
    /// [`SHUTDOWN_WAIT`] for a database that is down.
    pub async fn shutdown(&self) {
        if let Some(spool) = &self.spool {
            spool.sync().await;
        }
        let stored = tokio::time::timeout(SHUTDOWN_WAIT, self.writer.shutdown())
            .await
            .unwrap_or(false);
        if stored {
            if let Some(spool) = &self.spool {
                spool.retire().await;
            }
        } else if self.spool.is_some() {
            tracing::warn!(
                "the database did not take every usage row before exit; the spool keeps them for the next start"
            );
        } else {
            tracing::error!(
                "the database did not take every usage row before exit, and usage.spool is off: they are lost"
            );
        }
    }
}
