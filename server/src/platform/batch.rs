//! Group commit: requests hand rows to a bounded channel and never wait on
//! the database; one task per table family writes them in batches, one
//! transaction each. On shutdown it drains the channel and flushes before
//! returning, so nothing that was handed over is lost.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

const MAX_BATCH: usize = 1_000;
/// How long a partial batch may wait for company.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The largest multi-row `INSERT` a sink sends at once.
const MAX_CHUNK: usize = 64;

/// `rows` in chunks whose sizes are powers of two (64, 32, …, 1), for
/// multi-row statements: every distinct row count is a distinct SQL text,
/// which the driver prepares and caches per connection, so free-form batch
/// sizes would fill each connection's statement cache with up to a hundred
/// large statements (hundreds of MB). This way there are at most seven,
/// and small ones (512-row statements still cost tens of MB in all).
pub fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = MAX_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Where a batch goes: one transaction per call.
pub trait Sink: Send + Sync + 'static {
    type Row: Send + Sync + 'static;
    /// Names the rows in logs.
    const NAME: &'static str;
    /// How often a failed batch is tried again before it is given up;
    /// [`FOREVER`] for rows that must never be lost.
    const RETRIES: u32;
    /// Rows that may wait to be written. Beyond it `offer` drops rows and
    /// `submit` parks them while `wait_for_room` holds callers back, so it
    /// bounds the memory a slow database can cost.
    const QUEUE: usize;

    /// Writes `rows` in one transaction. `retry` says an earlier attempt
    /// failed, and may have committed unseen.
    fn write(
        &self,
        db: &DatabaseConnection,
        rows: &[Self::Row],
        retry: bool,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;
}

/// [`Sink::RETRIES`] for a sink that tries until the database takes it.
pub const FOREVER: u32 = u32::MAX;
/// The longest pause between two tries of a batch.
const MAX_PAUSE: Duration = Duration::from_secs(5);

enum Message<R> {
    Row(R),
    /// Write everything received so far, then answer.
    Flush(oneshot::Sender<()>),
}

/// The handle requests use. Cheap to clone.
pub struct BatchWriter<R> {
    name: &'static str,
    sender: mpsc::Sender<Message<R>>,
    dropped: Arc<AtomicU64>,
    /// Rows `submit` handed to a task because the queue was full, not yet
    /// in the queue: `flush` waits for them.
    spilled: Arc<AtomicUsize>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl<R> Clone for BatchWriter<R> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            sender: self.sender.clone(),
            dropped: self.dropped.clone(),
            spilled: self.spilled.clone(),
            task: self.task.clone(),
        }
    }
}

impl<R: Send + Sync + 'static> BatchWriter<R> {
    /// Starts the writer task on the current runtime.
    pub fn start<S: Sink<Row = R>>(db: DatabaseConnection, sink: S) -> Self {
        let (sender, receiver) = mpsc::channel(S::QUEUE);
        let task = tokio::spawn(run(db, sink, receiver));
        Self {
            name: S::NAME,
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
            spilled: Arc::new(AtomicUsize::new(0)),
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Rows waiting to be written.
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity() + self.spilled.load(Ordering::Acquire)
    }

    /// Queues a row without waiting; when the queue is full the row is
    /// dropped and counted (telemetry must never slow requests down).
    pub fn offer(&self, row: R) {
        if self.sender.try_send(Message::Row(row)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a row that must not be lost (money): when the queue is full a
    /// task waits for room instead of dropping it. Never blocks the caller,
    /// so it is safe in `Drop`.
    pub fn submit(&self, row: R) {
        match self.sender.try_send(Message::Row(row)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                let sender = self.sender.clone();
                let dropped = self.dropped.clone();
                let spilled = self.spilled.clone();
                spilled.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(async move {
                    if sender.send(message).await.is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    spilled.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(table = self.name, "row submitted after the writer stopped");
            }
        }
    }

    /// Waits while the queue is full, so that callers slow down to the
    /// writer's pace rather than piling rows up in memory. Returns at once
    /// in the normal case (an atomic read).
    pub async fn wait_for_room(&self) {
        if self.sender.capacity() == 0 || self.spilled.load(Ordering::Acquire) > 0 {
            // The permit is a free slot; dropping it gives the slot back.
            let _ = self.sender.reserve().await;
        }
    }

    /// Rows dropped because the queue was full or the writer had stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every row queued before this call is written, including
    /// rows still waiting for room in the queue. False when the writer
    /// stopped first: then nothing is known to be stored.
    pub async fn flush(&self) -> bool {
        while self.spilled.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (done, wait) = oneshot::channel();
        self.sender.send(Message::Flush(done)).await.is_ok() && wait.await.is_ok()
    }

    /// Flushes and stops the task (graceful shutdown). Rows queued after
    /// this are dropped.
    pub async fn shutdown(&self) -> bool {
        let stored = self.flush().await;
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        stored
    }
}

async fn run<S: Sink>(
    db: DatabaseConnection,
    sink: S,
    mut receiver: mpsc::Receiver<Message<S::Row>>,
) {
    let mut batch: Vec<S::Row> = Vec::with_capacity(MAX_BATCH);
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
        write(&db, &sink, &mut batch).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
    write(&db, &sink, &mut batch).await;
}

/// Writes and empties the batch, trying again with a growing pause when
/// the database refuses (locked, restarting): forever for a sink whose rows
/// must not be lost, otherwise `RETRIES` times, after which the batch is
/// logged and dropped so that the writer keeps going.
async fn write<S: Sink>(db: &DatabaseConnection, sink: &S, batch: &mut Vec<S::Row>) {
    if batch.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        match sink.write(db, batch, attempt > 0).await {
            Ok(()) => break,
            Err(err) if S::RETRIES == FOREVER || attempt < S::RETRIES => {
                tracing::warn!(error = %err, table = S::NAME, rows = batch.len(), attempt, "batch write failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                attempt += 1;
            }
            Err(err) => {
                tracing::error!(error = %err, table = S::NAME, rows = batch.len(), "could not write batch; rows lost");
                break;
            }
        }
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what it is given, slowly, so that the queue overflows.
    struct SlowCounter(Arc<AtomicUsize>);

    impl Sink for SlowCounter {
        type Row = u32;
        const NAME: &'static str = "test";
        const RETRIES: u32 = 0;
        const QUEUE: usize = 1_000;

        async fn write(
            &self,
            _db: &DatabaseConnection,
            rows: &[u32],
            _retry: bool,
        ) -> Result<(), DbErr> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.0.fetch_add(rows.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn submitted_rows_beyond_the_queue_are_written_before_shutdown_returns() {
        let written = Arc::new(AtomicUsize::new(0));
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let writer = BatchWriter::start(db, SlowCounter(written.clone()));
        let rows = SlowCounter::QUEUE as u32 * 20;
        for row in 0..rows {
            writer.submit(row);
        }
        writer.shutdown().await;
        assert_eq!(written.load(Ordering::SeqCst), rows as usize);
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn chunks_are_powers_of_two_covering_every_row_once() {
        let rows: Vec<usize> = (0..1_000).collect();
        let sizes: Vec<usize> = chunks(&rows).map(<[usize]>::len).collect();
        let mut expected = vec![64; 15];
        expected.extend([32, 8]);
        assert_eq!(sizes, expected);
        let joined: Vec<usize> = chunks(&rows).flatten().copied().collect();
        assert_eq!(joined, rows);
        assert_eq!(chunks::<u8>(&[]).count(), 0);
        assert_eq!(
            chunks(&[1; 3]).map(<[i32]>::len).collect::<Vec<_>>(),
            [2, 1]
        );
    }
}
