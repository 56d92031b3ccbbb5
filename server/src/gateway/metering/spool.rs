//! The usage spool: every usage row is appended to a file in `data_dir`
//! and fsync'd before its request's answer completes, then handed to the
//! usage writer. A row therefore survives a database that is down for
//! minutes (the writer retries until it is back) and a `kill -9` (the next
//! start replays the files, and the writer skips rows already stored, so
//! each request is charged once).
//!
//! Writes are group commits: one thread takes whatever rows are waiting,
//! appends them as JSON lines with one `write` and one `fdatasync`, then
//! acknowledges them all. Files are segments of a few MB named
//! `<instance>-<seq>.jsonl`; a full segment is deleted once the writer has
//! stored every row handed over before it. Each instance holds an
//! exclusive lock on the segments it writes, so a start replays only
//! segments nobody is writing (a dead process's locks are gone).

use std::{
    fs::{self, File, OpenOptions},
    io::{ErrorKind, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::{
    runtime::Handle,
    sync::{mpsc, oneshot},
};

use super::writer::{self, UsageWriter};
use crate::platform::{cluster::Cluster, entity::usage_record, ids};

/// A segment is closed (and deleted once stored) past this size.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Rows appended with one write and one fsync, at most.
const MAX_GROUP: usize = 4_096;
/// Rows replayed per transaction on start.
const REPLAY_BATCH: usize = 1_000;

enum Command {
    Row(Box<usage_record::Model>, oneshot::Sender<()>),
    /// Answered once every row sent before it is on disk and with the writer.
    Sync(oneshot::Sender<()>),
    /// Every row is stored: delete the current segment and stop.
    Retire(oneshot::Sender<()>),
}

/// The handle requests use. Cheap to clone.
#[derive(Clone)]
pub struct Spool {
    sender: mpsc::UnboundedSender<Command>,
}

/// Resolves once a recorded row is on disk (or at once without a spool).
#[must_use = "await it before the answer completes"]
pub struct Receipt(Option<oneshot::Receiver<()>>);

impl Receipt {
    pub fn done() -> Self {
        Self(None)
    }

    /// Waits until the row is durable.
    pub async fn durable(self) {
        if let Some(receiver) = self.0
            && receiver.await.is_err()
        {
            // The spool thread is gone (it only stops at exit): the answer
            // goes out, but its row may be in memory only.
            tracing::error!("the usage spool stopped before a row was on disk");
        }
    }
}

impl Spool {
    /// Replays what earlier runs left in `dir` (through `db`, skipping rows
    /// already stored), then starts the spool thread, which hands rows on
    /// to `writer`.
    pub async fn open(
        dir: &Path,
        db: &DatabaseConnection,
        writer: UsageWriter,
        cluster: Option<Arc<Cluster>>,
    ) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the usage spool {}", dir.display()))?;
        let replayed = replay(dir, db, cluster).await?;
        if replayed > 0 {
            tracing::info!(rows = replayed, "replayed usage rows from the spool");
        }
        let instance = ids::prefixed("spool");
        let segment = Segment::create(dir, &instance, 1)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let handle = Handle::current();
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("usage-spool".to_owned())
            .spawn(move || run(dir, instance, segment, receiver, writer, handle))
            .context("cannot start the usage spool thread")?;
        Ok(Self { sender })
    }

    /// Appends a row; the receipt resolves once it is on disk. Never blocks,
    /// so it is safe in `Drop`.
    pub fn record(&self, row: usage_record::Model) -> Receipt {
        let (done, receipt) = oneshot::channel();
        if self.sender.send(Command::Row(Box::new(row), done)).is_err() {
            tracing::error!("usage row recorded after the spool stopped");
        }
        Receipt(Some(receipt))
    }

    /// After a clean shutdown, when the database has every row: the
    /// current segment is deleted, so that nothing is left to replay.
    pub async fn retire(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Command::Retire(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Waits until every row recorded before this call is on disk and with
    /// the writer.
    pub async fn sync(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Command::Sync(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

struct Segment {
    path: PathBuf,
    file: File,
    seq: u64,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, instance: &str, seq: u64) -> anyhow::Result<Self> {
        // Created and locked under a name replay ignores, then renamed:
        // a starting instance must never find it unlocked and delete it.
        let path = dir.join(format!("{instance}-{seq:08}.jsonl"));
        let unnamed = path.with_extension("new");
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&unnamed)
            .with_context(|| format!("cannot create {}", unnamed.display()))?;
        file.try_lock()
            .map_err(|err| anyhow::anyhow!("cannot lock {}: {err}", unnamed.display()))?;
        fs::rename(&unnamed, &path)
            .with_context(|| format!("cannot rename {}", unnamed.display()))?;
        // The new name must survive a crash as well as its contents.
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
        Ok(Self {
            path,
            file,
            seq,
            len: 0,
        })
    }
}

/// The spool thread: group commits until every handle is gone.
fn run(
    dir: PathBuf,
    instance: String,
    mut segment: Segment,
    mut receiver: mpsc::UnboundedReceiver<Command>,
    writer: UsageWriter,
    handle: Handle,
) {
    let _runtime = handle.enter();
    let mut buffer = Vec::new();
    let mut group = Vec::new();
    while let Some(first) = receiver.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        buffer.clear();
        for command in &group {
            if let Command::Row(row, _) = command {
                // A usage row always serialises (plain strings and numbers).
                if serde_json::to_writer(&mut buffer, row.as_ref()).is_ok() {
                    buffer.push(b'\n');
                }
            }
        }
        if !buffer.is_empty() {
            append(&mut segment, &buffer);
        }
        let mut retired = None;
        for command in group.drain(..) {
            match command {
                Command::Row(row, done) => {
                    writer.submit(*row);
                    let _ = done.send(());
                }
                Command::Sync(done) => {
                    let _ = done.send(());
                }
                Command::Retire(done) => retired = Some(done),
            }
        }
        if let Some(done) = retired {
            if let Err(err) = fs::remove_file(&segment.path) {
                tracing::warn!(error = %err, path = %segment.path.display(), "cannot delete the spool segment at exit");
            }
            let _ = done.send(());
            return;
        }
        if segment.len >= SEGMENT_BYTES {
            match Segment::create(&dir, &instance, segment.seq + 1) {
                Ok(next) => {
                    let full = std::mem::replace(&mut segment, next);
                    let writer = writer.clone();
                    // Deleted once the writer has stored every row in it.
                    handle.spawn(async move {
                        if !writer.flush().await {
                            // Nothing is known to be stored: keep it for replay.
                            return;
                        }
                        drop(full.file);
                        if let Err(err) = fs::remove_file(&full.path) {
                            tracing::warn!(error = %err, path = %full.path.display(), "cannot delete a stored spool segment");
                        }
                    });
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot start a new spool segment; keeping the current one")
                }
            }
        }
    }
}

/// Appends and syncs, trying again until the disk takes it: a row that is
/// not on disk must not be acknowledged.
fn append(segment: &mut Segment, bytes: &[u8]) {
    let mut pause = Duration::from_millis(10);
    loop {
        match segment
            .file
            .write_all(bytes)
            .and_then(|()| segment.file.sync_data())
        {
            Ok(()) => {
                segment.len += bytes.len() as u64;
                return;
            }
            Err(err) => {
                // A part written before the failure would glue itself to the
                // next try's first row: cut it off.
                let _ = segment.file.set_len(segment.len);
                tracing::error!(error = %err, path = %segment.path.display(), "cannot append to the usage spool; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Stores the rows of every segment no running instance holds, skipping
/// rows already stored, and deletes the segments. Returns the rows read.
async fn replay(
    dir: &Path,
    db: &DatabaseConnection,
    cluster: Option<Arc<Cluster>>,
) -> anyhow::Result<usize> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    paths.sort();
    let mut replayed = 0;
    for path in paths {
        let mut file = match File::open(&path) {
            Ok(file) => file,
            // Its instance finished with it between the listing and now.
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("cannot open {}", path.display())),
        };
        if file.try_lock().is_err() {
            // A live instance is writing it.
            continue;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut rows = Vec::new();
        for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<usage_record::Model>(line) {
                Ok(row) => rows.push(row),
                // Only a crash mid-append leaves a torn last line (bytes
                // cut anywhere, in a character too), and that row was
                // never acknowledged.
                Err(err) => {
                    tracing::warn!(error = %err, path = %path.display(), line = number + 1, "skipping an unreadable spool line")
                }
            }
        }
        for batch in rows.chunks(REPLAY_BATCH) {
            writer::write_new(db, batch, cluster.clone())
                .await
                .with_context(|| format!("cannot replay {}", path.display()))?;
        }
        replayed += rows.len();
        fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
    }
    Ok(replayed)
}
