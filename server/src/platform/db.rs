//! The database connection: SQLite by default, PostgreSQL when `DATABASE_URL`
//! says so. Migrations run here, so every start has the current schema.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::platform::config::Settings;

/// Connects to the configured database (creating the SQLite file if needed).
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") && settings.database.url.is_none() {
        settings.ensure_data_dir()?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(if is_sqlite(settings) { 8 } else { 20 })
        // Write-ahead logging: readers (the UI, the key cache) never wait for
        // the usage writer, and a commit is one append and one fsync of the
        // log instead of rewriting pages through a rollback journal. FULL
        // keeps every commit durable: money is in these rows.
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
        });
    Database::connect(options)
        .await
        .context("cannot connect to the database (check database.url / DATABASE_URL)")
}

/// Held for as long as this process serves a PostgreSQL database; see
/// [`claim_sole_instance`].
pub struct SoleInstance {
    _session: Option<sea_orm::sqlx::PgConnection>,
}

/// The advisory lock's key: "tollgate" in ASCII.
const SOLE_INSTANCE_LOCK: i64 = 0x746f_6c6c_6761_7465;

/// On PostgreSQL, claims the database with a session advisory lock, held on
/// a connection of its own until the process ends. Without Redis an
/// instance keeps working balances, holds, rate windows and caches in its
/// memory, so it takes the lock alone: a second instance of any kind would
/// let users spend their credits twice and keep serving revoked keys.
/// Instances that share their state in Redis take it together (shared), so
/// they keep out an instance without Redis and it keeps them out. SQLite is
/// one instance by nature.
pub async fn claim_sole_instance(settings: &Settings) -> anyhow::Result<SoleInstance> {
    let shared = settings.redis.url.is_some();
    use sea_orm::sqlx::{Connection, postgres::PgConnection};
    let url = settings.database_url();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(SoleInstance { _session: None });
    }
    let mut session = PgConnection::connect(&url)
        .await
        .context("cannot connect to the database (check database.url / DATABASE_URL)")?;
    let claim = if shared {
        "SELECT pg_try_advisory_lock_shared($1)"
    } else {
        "SELECT pg_try_advisory_lock($1)"
    };
    let claimed: bool = sea_orm::sqlx::query_scalar(claim)
        .bind(SOLE_INSTANCE_LOCK)
        .fetch_one(&mut session)
        .await
        .context("cannot take the instance lock on the database")?;
    anyhow::ensure!(
        claimed || shared,
        "another Tollgate instance is already serving this PostgreSQL database. Without \
         Redis each instance keeps balances, holds, rate limits and caches in memory, so \
         two would let users overspend: give every instance the same Redis (REDIS_URL; \
         see docs/deploy.md), or run one instance per database."
    );
    anyhow::ensure!(
        claimed,
        "a Tollgate instance without Redis is serving this PostgreSQL database, keeping \
         balances and caches in its own memory: stop it, or give it the same REDIS_URL, \
         before starting instances that share their state in Redis."
    );
    Ok(SoleInstance {
        _session: Some(session),
    })
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

fn is_sqlite(settings: &Settings) -> bool {
    settings.database_url().starts_with("sqlite:")
}

/// A transaction that will write. On SQLite it takes the write lock at
/// `BEGIN` (IMMEDIATE), so concurrent writers wait for each other (up to the
/// busy timeout) instead of failing when a read lock cannot be upgraded.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// A read-only transaction whose queries all see one moment: PostgreSQL's
/// default (read committed) would let each query see a different one.
/// SQLite's read transaction is a snapshot already.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}
