//! How long each analytics endpoint takes on a realistic history: seeds a
//! fresh SQLite file with `demo` (by default 10,000 users and
//! 1,000,000 requests over 90 days), builds the real router, signs in an
//! admin and the busiest user, and sends every endpoint a few times, warm.
//! Prints min / median / max per endpoint; asserts nothing.
//!
//!   cargo bench -p demo --bench analytics
//!   cargo bench -p demo --bench analytics -- --requests 100000 --users 2000
//!
//! Options (or `ANALYTICS_<NAME>` in the environment): `--users`,
//! `--requests`, `--days`, `--seed`, `--runs` (timed runs per endpoint,
//! default 7), `--only TEXT` (only the endpoints whose path contains it),
//! and `--data-dir DIR`, which keeps the seeded database there and reuses
//! it on the next run instead of seeding again.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use chrono::Days;
use http_body_util::BodyExt;
use sea_orm::{
    ConnectionTrait, EntityTrait, FromQueryResult, Order, PaginatorTrait, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};
use server::{
    AppState, Settings,
    console::accounts::service::{self as accounts, NewUser},
    platform::{
        config::RateLimitSettings,
        entity::{
            llm_usage, usage_record,
            user::{self, Plan, Role},
        },
    },
};
use tower::ServiceExt;

const ADMIN_EMAIL: &str = "bench-admin@example.com";
const ADMIN_PASSWORD: &str = "bench admin password";
/// The target for every JSON endpoint.
const TARGET_MS: f64 = 200.0;

struct Args {
    options: demo::SeedOptions,
    runs: usize,
    data_dir: Option<PathBuf>,
    /// Time only the endpoints whose path contains this.
    only: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut options = demo::SeedOptions::default();
    let mut runs = 7;
    let mut data_dir = None;
    let mut only = None;
    let env = |name: &str| std::env::var(format!("ANALYTICS_{}", name.to_uppercase())).ok();
    let mut given: Vec<(String, String)> = [
        "users", "requests", "days", "seed", "runs", "data_dir", "only",
    ]
    .into_iter()
    .filter_map(|name| Some((name.to_owned(), env(name)?)))
    .collect();
    // `cargo bench` adds `--bench`; anything else must be a known option.
    let mut argv = std::env::args().skip(1).filter(|arg| arg != "--bench");
    while let Some(arg) = argv.next() {
        let name = arg
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument {arg}"))?
            .replace('-', "_");
        let value = argv
            .next()
            .with_context(|| format!("--{name} needs a value"))?;
        given.push((name, value));
    }
    for (name, value) in given {
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("--{name} must be a number, not {value}"))
        };
        match name.as_str() {
            "users" => options.users = u32::try_from(number()?)?,
            "requests" => options.requests = number()?,
            "days" => options.days = u32::try_from(number()?)?,
            "seed" => options.seed = number()?,
            "runs" => runs = usize::try_from(number()?)?.max(1),
            "data_dir" => data_dir = Some(PathBuf::from(&value)),
            "only" => only = Some(value),
            other => bail!("unknown option --{other}"),
        }
    }
    Ok(Args {
        options,
        runs,
        data_dir,
        only,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("warn")
        .try_init();
    let args = args()?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let settings = Settings {
        data_dir: dir.clone(),
        rate_limits: RateLimitSettings::unlimited(),
        ..Settings::default()
    };
    let state = AppState::build(settings).await?;
    let seeded = usage_record::Entity::find().count(&state.db).await? > 0;
    if !seeded {
        admin(&state).await?;
        println!(
            "seeding {} users, {} requests over {} days (seed {}) into {}",
            args.options.users,
            args.options.requests,
            args.options.days,
            args.options.seed,
            dir.display()
        );
        let started = Instant::now();
        demo::run(&state, &args.options, &|line| println!("  {line}")).await?;
        println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    } else {
        println!("reusing the seeded database in {}", dir.display());
    }
    state
        .db
        .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await?;
    describe(&state).await?;

    let router = server::build_router(state.clone());
    let admin = login(&router, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let (busiest, busiest_requests) = busiest_user(&state).await?;
    let password = accounts::reset_password(&state.db, &busiest).await?;
    let user = login(&router, &busiest, &password).await?;
    println!("busiest user: {busiest} ({busiest_requests} requests in all)\n");

    let today = server::platform::time::now().date_naive();
    let from_90 = today
        .checked_sub_days(Days::new(89))
        .context("90 days ago")?;
    let all_days = format!("from={from_90}&to={today}");
    let endpoints: Vec<(String, &str)> = vec![
        ("/api/admin/stats/overview".into(), &admin),
        ("/api/admin/llm-usage".into(), &admin),
        (format!("/api/admin/llm-usage?{all_days}"), &admin),
        ("/api/admin/users/active".into(), &admin),
        ("/api/admin/users/active?limit=200".into(), &admin),
        ("/api/admin/stats".into(), &admin),
        (format!("/api/admin/stats?{all_days}"), &admin),
        ("/api/admin/audit".into(), &admin),
        ("/api/stats".into(), &user),
        ("/api/leaderboard".into(), &user),
        ("/api/presence".into(), &user),
        ("/api/users/me/usage".into(), &user),
        (format!("/api/users/me/usage?{all_days}"), &user),
        ("/api/admin/usage.csv".into(), &admin),
        (format!("/api/admin/usage.csv?{all_days}"), &admin),
        ("/api/users/me/usage.csv".into(), &user),
        (format!("/api/users/me/usage.csv?{all_days}"), &user),
    ];

    println!(
        "| endpoint | answer | min ms | median ms | max ms | {} runs |",
        args.runs
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    let chosen = endpoints
        .iter()
        .filter(|(path, _)| args.only.as_ref().is_none_or(|only| path.contains(only)));
    for (path, token) in chosen {
        // Once to warm the caches (SQLite's pages, prepared statements).
        let (_, size) = get(&router, path, token).await?;
        let mut times = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let (took, _) = get(&router, path, token).await?;
            times.push(took);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        let median = ms(times[times.len() / 2]);
        let csv = path.contains(".csv");
        let answer = if csv {
            let rows = size.lines.saturating_sub(1);
            format!(
                "{rows} rows, {} KB, {:.0} rows/s",
                size.bytes / 1_000,
                rows as f64 / (median / 1_000.0)
            )
        } else {
            format!("{} KB", size.bytes / 1_000)
        };
        let verdict = if csv {
            "stream"
        } else if median < TARGET_MS {
            "ok"
        } else {
            "SLOW"
        };
        println!(
            "| `{path}` | {answer} | {:.1} | {median:.1} | {:.1} | {verdict} |",
            ms(times[0]),
            ms(times[times.len() - 1]),
        );
    }
    Ok(())
}

/// The admin the benchmark signs in as (the seed acts as them too).
async fn admin(state: &AppState) -> anyhow::Result<()> {
    accounts::create_user(
        &state.db,
        NewUser {
            name: "Bench Admin".into(),
            email: Some(ADMIN_EMAIL.into()),
            password: Some(ADMIN_PASSWORD.into()),
            role: Role::Admin,
            plan: Plan::Pro,
        },
    )
    .await?;
    Ok(())
}

async fn describe(state: &AppState) -> anyhow::Result<()> {
    let count = |table: &str| {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let db = state.db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await?
                .context("no count")?;
            anyhow::Ok(row.try_get::<i64>("", "n")?)
        }
    };
    let mut counts = Vec::new();
    for table in [
        "users",
        "usage_records",
        "daily_user_usage",
        "llm_usage",
        "daily_usage",
        "credit_ledger",
        "sessions",
        "request_metrics",
        "audit_log",
    ] {
        counts.push(format!("{table} {}", count(table).await?));
    }
    let size = std::fs::metadata(state.settings.data_dir.join("tollgate.db"))?.len();
    println!(
        "database: {} MB; rows: {}",
        size / 1_000_000,
        counts.join(", ")
    );
    Ok(())
}

#[derive(FromQueryResult)]
struct Busiest {
    email: Option<String>,
    requests: i64,
}

/// The user with the most requests, by the all-time rollup.
async fn busiest_user(state: &AppState) -> anyhow::Result<(String, i64)> {
    let total = || {
        Expr::col((llm_usage::Entity, llm_usage::Column::Count))
            .sum()
            .cast_as("BIGINT")
    };
    let busiest: Busiest = llm_usage::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .column_as(total(), "requests")
        .join(
            sea_orm::JoinType::InnerJoin,
            llm_usage::Entity::belongs_to(user::Entity)
                .from(llm_usage::Column::UserId)
                .to(user::Column::Id)
                .into(),
        )
        .group_by(llm_usage::Column::UserId)
        .group_by(user::Column::Email)
        .order_by(total(), Order::Desc)
        .into_model()
        .one(&state.db)
        .await?
        .context("nobody made a request")?;
    let email = busiest.email.context("the busiest user has no email")?;
    Ok((email, busiest.requests))
}

async fn login(router: &Router, email: &str, password: &str) -> anyhow::Result<String> {
    let body = json!({ "email": email, "password": password }).to_string();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let answer: Value = serde_json::from_slice(&bytes)?;
    if status != StatusCode::OK {
        bail!("login as {email} answered {status}: {answer}");
    }
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no token in {answer}"))
}

struct Size {
    bytes: usize,
    lines: usize,
}

/// One GET, timed until the last byte of the body has arrived.
async fn get(router: &Router, path: &str, token: &str) -> anyhow::Result<(Duration, Size)> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let took = started.elapsed();
    if status != StatusCode::OK {
        bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    Ok((
        took,
        Size {
            bytes: bytes.len(),
            lines,
        },
    ))
}
