//! The batching writer for `request_metrics`: requests hand rows to a
//! bounded channel; one task writes them in batches, one transaction each
//! (group commit). On shutdown it drains the channel and flushes before
//! returning.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::entity::request_metric;

/// Rows waiting to be written; beyond this, rows are dropped and counted
/// rather than slowing requests down.
const CHANNEL_CAPACITY: usize = 65_536;
const MAX_BATCH: usize = 1_000;
/// How long a partial batch may wait for company.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// One request, as measured.
#[derive(Debug, Clone)]
pub struct RequestMetric {
    pub ts: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: i32,
    pub route: String,
}

enum Message {
    Row(RequestMetric),
    /// Write everything received so far, then answer.
    Flush(oneshot::Sender<()>),
}

/// The handle requests use. Cheap to clone.
#[derive(Clone)]
pub struct MetricsWriter {
    sender: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl MetricsWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: DatabaseConnection) -> Self {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run(db, receiver));
        Self {
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues a row without waiting.
    pub fn record(&self, metric: RequestMetric) {
        if self.sender.try_send(Message::Row(metric)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows dropped because the queue was full (or the writer stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every row queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes and stops the task (graceful shutdown). Rows recorded after
    /// this are dropped.
    pub async fn shutdown(&self) {
        self.flush().await;
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run(db: DatabaseConnection, mut receiver: mpsc::Receiver<Message>) {
    let mut batch: Vec<RequestMetric> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.recv().await {
        let mut flushes = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Row(row) => batch.push(row),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() >= MAX_BATCH || !flushes.is_empty() {
                break;
            }
            // Nothing more within the window (or the channel closed): write.
            next = tokio::time::timeout_at(deadline, receiver.recv())
                .await
                .ok()
                .flatten();
        }
        write(&db, &mut batch).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
    write(&db, &mut batch).await;
}

/// Writes and empties the batch in one transaction. A failed batch is logged
/// and dropped: metrics must never take requests down with them.
async fn write(db: &DatabaseConnection, batch: &mut Vec<RequestMetric>) {
    if batch.is_empty() {
        return;
    }
    let rows: Vec<request_metric::ActiveModel> = batch
        .drain(..)
        .map(|m| request_metric::ActiveModel {
            ts: Set(m.ts),
            duration_ms: Set(m.duration_ms),
            status_code: Set(m.status_code),
            route: Set(m.route),
            ..Default::default()
        })
        .collect();
    let count = rows.len();
    let result = async {
        let txn = db.begin().await?;
        request_metric::Entity::insert_many(rows).exec(&txn).await?;
        txn.commit().await
    }
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, rows = count, "could not write request metrics");
    }
}
