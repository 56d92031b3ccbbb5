//! `tollgate admin seed`: a realistic, made-up history for demos and
//! benchmarks. People sign up (through the accounts service) with a key
//! each (the keys service) and credits (the ledger's `apply`, plus an
//! admin's audited top-up where their usage needs it); some get "Pro —
//! Lifetime" (the entitlements service); the seeded models sit on mock
//! providers (the providers and models services), so they answer after
//! seeding too. Every request goes through the real usage writer, so the
//! rows, the rollups (`llm_usage`, `daily_usage`, `daily_user_usage`), the
//! keys' spend and the ledger's charges agree, and `verify-ledger` holds.
//! Sessions and a day of `request_metrics` fill the overview and presence.
//!
//! **The rule**: seeding adds people, money and usage that never happened,
//! so it runs only on a database with no usage and no user but admins (a
//! fresh install). `force` lifts that, for a copy used for tests: emails
//! are then numbered after the existing users, and the providers and
//! models are found by name rather than created again.
//!
//! What is made is decided in [`plan`], in memory and from the seed alone;
//! this module writes it, backdating what the services stamp with the
//! present (accounts, keys, grants and their audit entries).

pub mod plan;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};

use crate::plan::{Event, History, MODELS, PlannedUser, Shape, Vendor};
use server::{
    console::{
        accounts::service::{self as accounts, NewUser},
        audit::{self, Action, Target},
        credits,
        entitlements::service::{self as entitlements, NewGrant},
        keys::service::{self as keys, NewKey},
        models::service::{self as models, NewModel},
        providers::service::{self as providers, NewProvider},
    },
    platform::{
        batch, db,
        entity::{
            api_key, audit_entry,
            credit_entry::{self, EntryKind},
            entitlement, provider, request_metric, session, shadow_model, usage_record,
            user::{self, Role},
        },
        error::{Error, Result},
        ids,
        pricing::Prices,
        time,
    },
    state::AppState,
};

/// Accounts created (and committed) per transaction.
const USERS_PER_TRANSACTION: usize = 250;
/// The label of the seeded entitlement grants.
const GRANT_LABEL: &str = "Pro — Lifetime";

/// What to make. The defaults are the analytics benchmark's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedOptions {
    pub users: u32,
    pub requests: u64,
    /// Days of history, ending now.
    pub days: u32,
    /// The same seed makes the same history (relative to now).
    pub seed: u64,
    /// Seed a database that already has users or usage.
    pub force: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            users: 10_000,
            requests: 1_000_000,
            days: 90,
            seed: 42,
            force: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub users: usize,
    pub keys: usize,
    pub usage_rows: u64,
    /// Requests answered with a status of 400 or more.
    pub failed_requests: u64,
    /// Starting grants and top-ups, micro-credits.
    pub granted: i64,
    /// What the requests cost (and were charged), micro-credits.
    pub charged: i64,
    pub top_ups: usize,
    pub entitlements: usize,
    pub revoked_entitlements: usize,
    pub sessions: usize,
    pub request_metrics: usize,
}

/// Refuses (409) unless the database has no usage and no user but admins,
/// or `force` is given.
pub async fn check(db: &DatabaseConnection, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let any_usage: Option<String> = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::Id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let people = user::Entity::find()
        .filter(user::Column::Role.ne(Role::Admin))
        .count(db)
        .await?;
    if any_usage.is_some() || people > 0 {
        return Err(Error::Conflict(format!(
            "this database already has {people} user(s) besides admins{}; seeding adds \
             made-up people, credits and usage, so it only runs on a fresh install. Use \
             --force to add them anyway (never on a real install)",
            if any_usage.is_some() {
                " and recorded usage"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn validate(options: &SeedOptions) -> Result<()> {
    if !(1..=1_000_000).contains(&options.users) {
        return Err(Error::bad_request("users must be between 1 and 1000000"));
    }
    if options.requests > 100_000_000 {
        return Err(Error::bad_request("requests must be at most 100000000"));
    }
    if !(1..=3_650).contains(&options.days) {
        return Err(Error::bad_request("days must be between 1 and 3650"));
    }
    Ok(())
}

/// Seeds `state`'s database (see the module's doc for what and the rule),
/// reporting each step through `progress`. Usage goes through
/// `state.usage` and is flushed before this returns.
pub async fn run(
    state: &AppState,
    options: &SeedOptions,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Seeded> {
    validate(options)?;
    let db = &state.db;
    check(db, options.force).await?;
    let admin = acting_admin(db).await?;
    let catalog = catalog(state, &admin).await?;
    let shape = Shape {
        users: options.users,
        requests: options.requests,
        days: options.days,
        seed: options.seed,
        first_index: user::Entity::find().count(db).await?,
        prices: std::array::from_fn(|index| Prices::from(&catalog[index])),
        session_ttl: Duration::hours(i64::from(state.settings.auth.session_ttl_hours)),
    };

    let started = Instant::now();
    let history = plan::plan(&shape, time::now());
    progress(&format!(
        "planned {} users, {} requests over {} days (seed {}) in {:.1} s",
        history.users.len(),
        history.events.len(),
        options.days,
        options.seed,
        started.elapsed().as_secs_f64()
    ));

    let mut seeded = Seeded::default();
    let people = create_people(db, &admin, &history.users, &mut seeded, progress).await?;
    give_entitlements(state, &admin, &history.users, &people, &mut seeded).await?;
    progress(&format!(
        "entitlement grants: {} ({} revoked since)",
        seeded.entitlements, seeded.revoked_entitlements
    ));
    write_usage(state, &catalog, &history, &people, &mut seeded, progress).await?;
    seeded.sessions = write_sessions(db, &history, &people).await?;
    seeded.request_metrics = write_metrics(db, &history).await?;
    progress(&format!(
        "sessions: {}; request metrics of the last 24 hours: {}",
        seeded.sessions, seeded.request_metrics
    ));
    Ok(seeded)
}

/// The oldest admin: the seed's grants and audit entries are theirs.
async fn acting_admin(db: &DatabaseConnection) -> Result<String> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::CreatedAt)
        .one(db)
        .await?
        .map(|admin| admin.id)
        .ok_or_else(|| {
            Error::bad_request(
                "there is no admin to act as: start `tollgate serve` once, or create one \
                 with `tollgate admin create-user --admin`",
            )
        })
}

/// The providers and models of [`MODELS`], found by name or created (as
/// `admin`, audited), in [`MODELS`]' order.
async fn catalog(state: &AppState, admin: &str) -> Result<Vec<shadow_model::Model>> {
    let db = &state.db;
    let mut provider_ids = Vec::new();
    for vendor in [Vendor::OpenAi, Vendor::Anthropic] {
        let existing = provider::Entity::find()
            .filter(provider::Column::Name.eq(vendor.provider_name()))
            .one(db)
            .await?;
        let provider = match existing {
            Some(provider) => provider,
            None => {
                let new = NewProvider::mock(vendor.provider_name());
                providers::create_as(state, admin, new).await?
            }
        };
        provider_ids.push((vendor, provider.id));
    }
    let mut catalog = Vec::new();
    for spec in MODELS {
        let existing = shadow_model::Entity::find()
            .filter(shadow_model::Column::PublicName.eq(spec.name))
            .one(db)
            .await?;
        let model = match existing {
            Some(model) => model,
            None => {
                let provider_id = provider_ids
                    .iter()
                    .find(|(vendor, _)| *vendor == spec.vendor)
                    .map(|(_, id)| id.clone())
                    .unwrap_or_default();
                let new = NewModel::on_one_deployment(spec.name, provider_id, spec.prices);
                models::create_as(state, admin, new).await?.model
            }
        };
        catalog.push(model);
    }
    Ok(catalog)
}

/// Accounts, a key each and their credits, a few hundred per transaction.
/// Returns `(user id, key id)` in the plan's order.
async fn create_people(
    db: &DatabaseConnection,
    admin: &str,
    users: &[PlannedUser],
    seeded: &mut Seeded,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Vec<(String, String)>> {
    let started = Instant::now();
    let mut people = Vec::with_capacity(users.len());
    for chunk in users.chunks(USERS_PER_TRANSACTION) {
        let txn = db::begin_write(db).await?;
        for planned in chunk {
            people.push(create_person(&txn, admin, planned, seeded).await?);
        }
        txn.commit().await?;
    }
    seeded.users = people.len();
    seeded.keys = people.len();
    progress(&format!(
        "users: {} with a key each, {} credits granted ({} top-ups by an admin), in {:.1} s",
        seeded.users,
        server::platform::money::format_credits(seeded.granted),
        seeded.top_ups,
        started.elapsed().as_secs_f64()
    ));
    Ok(people)
}

async fn create_person<C: ConnectionTrait>(
    txn: &C,
    admin: &str,
    planned: &PlannedUser,
    seeded: &mut Seeded,
) -> Result<(String, String)> {
    let at = planned.created_at;
    let user = accounts::create_user(
        txn,
        NewUser {
            name: planned.name.clone(),
            email: Some(planned.email.clone()),
            password: None,
            role: Role::User,
            plan: planned.plan,
        },
    )
    .await?;
    user::Entity::update_many()
        .col_expr(user::Column::CreatedAt, Expr::value(at))
        .col_expr(user::Column::UpdatedAt, Expr::value(at))
        .filter(user::Column::Id.eq(user.id.as_str()))
        .exec(txn)
        .await?;
    let key = keys::create(
        txn,
        &user.id,
        NewKey {
            name: planned.key_name.to_owned(),
            models: Vec::new(),
            quota_micro_credits: None,
            expires_at: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        },
    )
    .await?;
    let key_at = at + Duration::seconds(30);
    api_key::Entity::update_many()
        .col_expr(api_key::Column::CreatedAt, Expr::value(key_at))
        .col_expr(api_key::Column::UpdatedAt, Expr::value(key_at))
        .filter(api_key::Column::Id.eq(key.key.id.as_str()))
        .exec(txn)
        .await?;

    // What sign-up gives, as `create_user_with_grant` records it.
    let start = credits::service::apply(
        txn,
        &user.id,
        EntryKind::Grant,
        planned.starting_grant,
        None,
        Some("starting grant".to_owned()),
        None,
    )
    .await?;
    backdate_entry(txn, start.id, at).await?;
    seeded.granted += planned.starting_grant;
    if let Some(amount) = planned.top_up {
        // An admin's grant, as `credits::service::grant` records it.
        let mut entry = credits::service::apply(
            txn,
            &user.id,
            EntryKind::Grant,
            amount,
            Some(admin),
            Some("top-up".to_owned()),
            None,
        )
        .await?;
        entry.created_at = at + Duration::minutes(1);
        backdate_entry(txn, entry.id, entry.created_at).await?;
        let logged = audit::record(
            txn,
            admin,
            Action::CreditsGrant,
            Target::user(&user.id),
            Some(credits::service::balance_snapshot(
                entry.balance_after - amount,
                None,
            )),
            Some(credits::service::balance_snapshot(
                entry.balance_after,
                Some(&entry),
            )),
        )
        .await?;
        backdate_audit(txn, logged.id, entry.created_at).await?;
        seeded.granted += amount;
        seeded.top_ups += 1;
    }
    Ok((user.id, key.key.id))
}

async fn backdate_entry<C: ConnectionTrait>(txn: &C, id: i64, at: DateTime<Utc>) -> Result<()> {
    credit_entry::Entity::update_many()
        .col_expr(credit_entry::Column::CreatedAt, Expr::value(at))
        .filter(credit_entry::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

async fn backdate_audit<C: ConnectionTrait>(txn: &C, id: i64, at: DateTime<Utc>) -> Result<()> {
    audit_entry::Entity::update_many()
        .col_expr(audit_entry::Column::CreatedAt, Expr::value(at))
        .filter(audit_entry::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// "Pro — Lifetime" through the entitlements service (audited, one
/// transaction each), some revoked again; then the grants and their audit
/// entries are moved to the planned times, in one transaction.
async fn give_entitlements(
    state: &AppState,
    admin: &str,
    users: &[PlannedUser],
    people: &[(String, String)],
    seeded: &mut Seeded,
) -> Result<()> {
    let db = &state.db;
    let mut times = Vec::new();
    for (planned, (user_id, _)) in users.iter().zip(people) {
        let Some(grant) = &planned.entitlement else {
            continue;
        };
        let given = entitlements::grant(
            db,
            &state.entitlements,
            admin,
            NewGrant {
                user_id: Some(user_id.clone()),
                label: Some(GRANT_LABEL.to_owned()),
                source: Some(grant.source.as_str().to_owned()),
                notes: Some(grant.notes.to_owned()),
            },
        )
        .await?;
        seeded.entitlements += 1;
        if grant.revoked_at.is_some() {
            entitlements::revoke(db, &state.entitlements, admin, given.id).await?;
            seeded.revoked_entitlements += 1;
        }
        times.push((given.id, grant.created_at, grant.revoked_at));
    }
    let txn = db::begin_write(db).await?;
    for (id, created_at, revoked_at) in times {
        let mut update = entitlement::Entity::update_many()
            .col_expr(entitlement::Column::CreatedAt, Expr::value(created_at))
            .filter(entitlement::Column::Id.eq(id));
        if let Some(revoked_at) = revoked_at {
            update = update.col_expr(entitlement::Column::RevokedAt, Expr::value(revoked_at));
        }
        update.exec(&txn).await?;
        for (action, at) in [
            (Action::GrantCreate, Some(created_at)),
            (Action::GrantRevoke, revoked_at),
        ] {
            let Some(at) = at else { continue };
            audit_entry::Entity::update_many()
                .col_expr(audit_entry::Column::CreatedAt, Expr::value(at))
                .filter(audit_entry::Column::TargetType.eq(Target::grant(id).kind))
                .filter(audit_entry::Column::TargetId.eq(id.to_string()))
                .filter(audit_entry::Column::Action.eq(action.as_str()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Every planned request, oldest first, through the usage writer; waits
/// until all are committed and checks that none was lost.
async fn write_usage(
    state: &AppState,
    catalog: &[shadow_model::Model],
    history: &History,
    people: &[(String, String)],
    seeded: &mut Seeded,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    let before = usage_record::Entity::find().count(&state.db).await?;
    let dropped_before = state.usage.dropped();
    let total = history.events.len();
    // A line per tenth, and none at all for small histories.
    let step = (total / 10).max(100_000);
    let started = Instant::now();
    for (n, event) in history.events.iter().enumerate() {
        // Keeps at most a queue's worth in memory, like the proxy does.
        state.usage.wait_for_room().await;
        let receipt = state.usage.record(usage_row(event, catalog, people));
        if n % 1_000 == 999 {
            // And the spool's queue short too.
            receipt.durable().await;
        }
        seeded.charged += event.cost;
        seeded.failed_requests += u64::from(event.status >= 400);
        if (n + 1) % step == 0 && n + 1 < total {
            let secs = started.elapsed().as_secs_f64();
            progress(&format!(
                "usage: {}/{total} rows handed to the writer ({:.0} rows/s)",
                n + 1,
                (n + 1) as f64 / secs.max(f64::EPSILON)
            ));
        }
    }
    state.usage.flush().await;
    let written = usage_record::Entity::find().count(&state.db).await? - before;
    let secs = started.elapsed().as_secs_f64();
    if written != total as u64 || state.usage.dropped() != dropped_before {
        return Err(Error::Internal(anyhow::anyhow!(
            "the usage writer stored {written} of {total} rows; see the log"
        )));
    }
    seeded.usage_rows = written;
    progress(&format!(
        "usage: {written} rows written with their rollups and charges in {secs:.1} s ({:.0} rows/s)",
        written as f64 / secs.max(f64::EPSILON)
    ));
    Ok(())
}

/// The usage row the proxy would have written for `event`.
fn usage_row(
    event: &Event,
    catalog: &[shadow_model::Model],
    people: &[(String, String)],
) -> usage_record::Model {
    let model = &catalog[usize::from(event.model)];
    let spec = &MODELS[usize::from(event.model)];
    let (user_id, key_id) = &people[event.user as usize];
    let tokens = event.tokens();
    usage_record::Model {
        id: ids::prefixed("req"),
        user_id: user_id.clone(),
        api_key_id: key_id.clone(),
        model: model.public_name.clone(),
        model_id: Some(model.id.clone()),
        provider_id: Some(model.provider_id.clone()),
        upstream_model: model.upstream_model.clone(),
        endpoint: spec.vendor.endpoint().label().to_owned(),
        streamed: event.streamed,
        status_code: i32::from(event.status),
        input_tokens: tokens.input,
        output_tokens: tokens.output,
        cache_read_tokens: tokens.cache_read,
        cache_write_tokens: tokens.cache_write,
        reasoning_tokens: tokens.reasoning,
        cost: event.cost,
        charged: event.cost,
        overrun: 0,
        input_price: model.input_price,
        output_price: model.output_price,
        cache_read_price: model.cache_read_price,
        cache_write_price: model.cache_write_price,
        duration_ms: i32::try_from(event.duration_ms).unwrap_or(i32::MAX),
        ttft_ms: event
            .ttft_ms
            .map(|ms| i32::try_from(ms).unwrap_or(i32::MAX)),
        error_kind: event.error_kind.map(str::to_owned),
        created_at: event.at(),
        attempts: 1,
        attempt_errors: None,
        served_model: (event.status < 400).then(|| model.public_name.clone()),
    }
}

async fn write_sessions(
    db: &DatabaseConnection,
    history: &History,
    people: &[(String, String)],
) -> Result<usize> {
    let rows: Vec<session::ActiveModel> = history
        .sessions
        .iter()
        .map(|planned| session::ActiveModel {
            jti: Set(ids::random_hex(16)),
            user_id: Set(people[planned.user as usize].0.clone()),
            created_at: Set(planned.created_at),
            expires_at: Set(planned.expires_at),
            last_seen_at: Set(planned.last_seen_at),
            revoked_at: Set(planned.revoked_at),
            user_agent: Set(Some(planned.user_agent.to_owned())),
            api_key_id: Set(None),
        })
        .collect();
    let txn = db::begin_write(db).await?;
    for chunk in batch::chunks(&rows) {
        session::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(rows.len())
}

async fn write_metrics(db: &DatabaseConnection, history: &History) -> Result<usize> {
    let rows: Vec<request_metric::ActiveModel> = history
        .metrics
        .iter()
        .map(|metric| request_metric::ActiveModel {
            ts: Set(metric.ts),
            duration_ms: Set(metric.duration_ms),
            status_code: Set(metric.status),
            route: Set(metric.route.to_owned()),
            ..Default::default()
        })
        .collect();
    let txn = db::begin_write(db).await?;
    for chunk in batch::chunks(&rows) {
        request_metric::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(rows.len())
}
