//! The `tollgate` binary: parses the command line, loads config, starts
//! tracing, builds state and serves. Everything else lives in `server` and `app`.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{
    AppState, Settings,
    console::accounts::service as accounts,
    platform::{
        config::LogFormat,
        entity::user::{Plan, Role},
    },
};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "Self-hosted LLM gateway")]
struct Cli {
    /// TOML config file (default: ./tollgate.toml when present).
    #[arg(long, short, global = true, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the gateway, the API and the web UI (default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The catalog file (`catalog.file`): providers and models as code.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 when the configured server answers its health check (for a
    /// container's HEALTHCHECK), 1 otherwise.
    Health,
    /// Print the OpenAPI 3.1 description of `/api` and `/v1` (as served at
    /// `/api/openapi.json`), for client generators.
    Openapi,
    /// Serve a stand-in LLM provider speaking OpenAI's and Anthropic's wire
    /// formats (for tests, benchmarks and trying Tollgate without a key).
    MockUpstream {
        #[arg(long, default_value = "127.0.0.1:9999")]
        addr: SocketAddr,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Read the catalog file and check it (its fields, its references, the
    /// environment variables of its keys), without the database.
    Check,
    /// Bring the database to what the catalog file declares, in one
    /// transaction, and print each change; a second apply changes nothing.
    /// A running instance without Redis sees the changes at its next start.
    Apply {
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user; prints a generated password when none is given.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read from the environment so it stays out of shell history.
        #[arg(long, env = "TOLLGATE_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        admin: bool,
    },
    /// Set a new generated password for a user and sign them out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// Prove that every credit balance equals the sum of its ledger, entry by
    /// entry; exits non-zero and lists the users where it does not.
    VerifyLedger,
    /// Delete what `[retention]` says is old (request metrics, expired
    /// sessions, usage rows when configured) and print how many rows went
    /// from each table; `serve` does the same every hour.
    Prune,
    /// Fill a fresh database with a realistic, made-up history (users, keys,
    /// credits, usage, sessions) for demos and benchmarks. Refused when the
    /// database has usage or any user but admins, unless --force.
    Seed(SeedArgs),
    /// Seal every stored provider key and header again under a new
    /// encryption key, in one transaction, and put the new key where the old
    /// one came from: the generated key file, or, for secrets.encryption_key,
    /// printed for you to put in place. Stop every server first.
    RotateEncryptionKey {
        /// A file holding the new key (64 hex characters); generated when
        /// absent.
        #[arg(long, env = "TOLLGATE_NEW_ENCRYPTION_KEY_FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct SeedArgs {
    #[arg(long, default_value_t = 10_000)]
    users: u32,
    /// Proxied requests, spread over the days.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// The same seed makes the same history.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seed even though the database has usage or users: never on a real
    /// install.
    #[arg(long)]
    force: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    start_logs(settings.log.format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let db = server::platform::db::connect(&settings).await?;
            server::platform::db::migrate(&db).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Admin(AdminCommand::Seed(args)) => seed(settings, args).await,
        Command::Admin(AdminCommand::Prune) => prune(settings).await,
        Command::Admin(task) => admin(settings, task).await,
        Command::Config(task) => config(settings, task).await,
        Command::Health => {
            server::router::probe_health(settings.server.addr).await?;
            println!("healthy");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", server::router::openapi_document().to_pretty_json()?);
            Ok(())
        }
        Command::MockUpstream { addr } => mock_upstream(addr).await,
    }
}

/// Logs go to stderr, so stdout carries only what a command prints for
/// people and scripts (a generated password, for instance).
fn start_logs(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        );
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let addr = settings.server.addr;
    // Before anything else touches the database: see the function.
    let _instance_lock = server::platform::db::claim_sole_instance(&settings).await?;
    let state = AppState::build(settings).await?;
    announce_first_admin(&state).await?;
    apply_catalog_file(&state).await?;
    let router = app::ssr::site_router(state.clone());
    let listener = listen(addr).await?;
    let housekeeping = server::housekeeping::Housekeeping::start(state.clone());
    tracing::info!("Tollgate listening on http://{addr}");
    let limits = server::listener::Limits::from(&state.settings.server).within_open_file_limit();
    server::listener::serve(listener, router, limits, {
        // Open live dashboards would otherwise hold the shutdown forever.
        let live = state.live.clone();
        async move {
            shutdown_signal().await;
            live.close();
        }
    })
    .await;
    housekeeping.stop().await;
    // In-flight requests (streams included) are done: write every usage
    // row and metric they left before exiting.
    state.flush_writers().await;
    Ok(())
}

async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

async fn mock_upstream(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = listen(addr).await?;
    tracing::info!("mock upstream listening on http://{addr}");
    let limits =
        server::listener::Limits::from(&server::platform::config::ServerSettings::default());
    server::listener::serve(
        listener,
        server::gateway::mock::router(),
        limits,
        shutdown_signal(),
    )
    .await;
    Ok(())
}

/// On the very first start there is no admin: create one, say so once, and
/// add the mock provider so that the gateway can be tried at once.
async fn announce_first_admin(state: &AppState) -> anyhow::Result<()> {
    let email = std::env::var("TOLLGATE_ADMIN_EMAIL").ok();
    let password = std::env::var("TOLLGATE_ADMIN_PASSWORD").ok();
    let grant = state.settings.credits.starting_grant.0;
    if let Some(admin) = accounts::ensure_first_admin(&state.db, email, password, grant).await? {
        server::setup::seed_mock_provider(&state.db, &state.vault).await?;
        match admin.generated_password {
            Some(password) => println!(
                "\n  Created the first admin.\n    email:    {}\n    password: {password}\n  \
                 This password is shown only now; change it with `tollgate admin reset-password`.\n",
                admin.email
            ),
            None => println!(
                "\n  Created the first admin: {} (password from TOLLGATE_ADMIN_PASSWORD)\n",
                admin.email
            ),
        }
    }
    Ok(())
}

/// On every start: the catalog file, when one is configured, is applied
/// before the first request (a file that does not check stops the start).
async fn apply_catalog_file(state: &AppState) -> anyhow::Result<()> {
    let Some(path) = &state.settings.catalog.file else {
        return Ok(());
    };
    let checked = server::console::declared::check(path)?;
    // Rows replayed from the spool first: a model with usage on record is
    // disabled, not deleted, when the file drops it.
    state.usage.flush().await;
    // Instances started together apply together: the one that loses the
    // race (a name just taken) finds the other's work on its next try.
    let mut tries = 0;
    let applied = loop {
        tries += 1;
        match server::console::declared::apply(&state.db, &state.vault, &checked, false).await {
            Err(server::Error::Conflict(_)) if tries < 3 => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            applied => {
                break applied.map_err(|err| {
                    anyhow::anyhow!("{}: {}", path.display(), operator_error(err))
                })?;
            }
        }
    };
    for step in &applied.steps {
        tracing::info!(change = %step, "catalog file {} applied", checked.source);
    }
    if !applied.steps.is_empty() {
        state.catalog.invalidate();
    }
    if applied.changed_plans() {
        let defaults = state.settings.rate_limits.by_plan();
        server::gateway::limits::plans::reload(&state.db, &state.rate_limits, &defaults)
            .await
            .map_err(operator_error)?;
    }
    Ok(())
}

/// `config check` and `config apply`.
async fn config(settings: Settings, task: ConfigCommand) -> anyhow::Result<()> {
    let path = settings.catalog.file.clone().context(
        "no catalog file is configured: set catalog.file in tollgate.toml (or TOLLGATE__CATALOG__FILE)",
    )?;
    let checked = server::console::declared::check(&path)?;
    let dry_run = match task {
        ConfigCommand::Check => {
            println!(
                "{}: {} providers, {} models and {} plans' rate limits, every reference and variable found",
                path.display(),
                checked.providers(),
                checked.models(),
                checked.plans()
            );
            return Ok(());
        }
        ConfigCommand::Apply { dry_run } => dry_run,
    };
    let db = server::platform::db::connect(&settings).await?;
    server::platform::db::migrate(&db).await?;
    let vault = server::platform::vault::Vault::load_or_create(&settings)?;
    let applied = server::console::declared::apply(&db, &vault, &checked, dry_run)
        .await
        .map_err(operator_error)?;
    for step in &applied.steps {
        println!("{step}");
    }
    let verb = if dry_run { "would change" } else { "changed" };
    match applied.steps.len() {
        0 => println!("{}: no changes", path.display()),
        n => println!("{}: {verb} {n} item(s)", path.display()),
    }
    if dry_run || applied.steps.is_empty() {
        return Ok(());
    }
    if settings.redis.url.is_some() {
        use server::platform::cluster::bus::Change;
        let mut changes = vec![Change::Catalog];
        if applied.changed_plans() {
            changes.push(Change::Plans);
        }
        server::platform::cluster::bus::announce(&settings.redis, &changes).await?;
        println!("the instances sharing Redis use them now");
    } else {
        println!("a running instance uses them once restarted");
    }
    Ok(())
}

/// `admin seed`: on a fresh install, first what `serve` would create (the
/// first admin, whose password is shown once, and the mock provider), then
/// the history.
async fn seed(settings: Settings, args: SeedArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let state = AppState::build(settings).await?;
    demo::check(&state.db, args.force)
        .await
        .map_err(operator_error)?;
    announce_first_admin(&state).await?;
    let options = demo::SeedOptions {
        users: args.users,
        requests: args.requests,
        days: args.days,
        seed: args.seed,
        force: args.force,
    };
    let seeded = demo::run(&state, &options, &|line| println!("  {line}")).await;
    state.flush_writers().await;
    let seeded = seeded.map_err(operator_error)?;
    println!(
        "seeded {} users, {} requests ({} failed), {} sessions in {:.1} s",
        seeded.users,
        seeded.usage_rows,
        seeded.failed_requests,
        seeded.sessions,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A service's error for the person at the console: the whole cause when
/// it is internal (nobody else will read the log).
fn operator_error(err: server::Error) -> anyhow::Error {
    match err {
        server::Error::Internal(err) => err,
        other => anyhow::anyhow!(other.public_message()),
    }
}

async fn admin(settings: Settings, task: AdminCommand) -> anyhow::Result<()> {
    let db = server::platform::db::connect(&settings).await?;
    server::platform::db::migrate(&db).await?;
    match task {
        AdminCommand::CreateUser {
            email,
            name,
            password,
            admin,
        } => {
            let generated = password
                .is_none()
                .then(server::console::auth::password::generate);
            let new = accounts::NewUser {
                name,
                email: Some(email),
                password: password.or_else(|| generated.clone()),
                role: if admin { Role::Admin } else { Role::User },
                plan: if admin { Plan::Pro } else { Plan::Trial },
            };
            let user =
                accounts::create_user_with_grant(&db, new, settings.credits.starting_grant.0)
                    .await
                    .map_err(|err| anyhow::anyhow!(err.public_message()))?;
            println!("created {} ({})", user.email.unwrap_or_default(), user.id);
            if let Some(password) = generated {
                println!("password: {password}");
            }
        }
        AdminCommand::ResetPassword { email } => {
            let password = accounts::reset_password(&db, &email)
                .await
                .map_err(|err| anyhow::anyhow!(err.public_message()))?;
            println!("new password for {email}: {password}");
        }
        AdminCommand::RotateEncryptionKey { new_key_file } => {
            let say = |line: &str| println!("{line}");
            server::platform::vault::rotation::rotate(
                &db,
                &settings,
                new_key_file.as_deref(),
                &say,
            )
            .await?;
        }
        // Handled by `seed`, which needs the whole app state.
        AdminCommand::Seed(args) => return seed(settings, args).await,
        AdminCommand::Prune => return prune(settings).await,
        AdminCommand::VerifyLedger => {
            let discrepancies = server::console::credits::service::verify(&db)
                .await
                .map_err(|err| anyhow::anyhow!(err.public_message()))?;
            if discrepancies.is_empty() {
                println!("ledger verified: every balance equals the sum of its ledger");
            } else {
                for d in &discrepancies {
                    println!(
                        "user {}: balance {} µc, ledger sums to {} µc{}",
                        d.user_id,
                        d.balance,
                        d.ledger_sum,
                        d.broken_entry
                            .map(|id| format!(", first inconsistent entry #{id}"))
                            .unwrap_or_default()
                    );
                }
                anyhow::bail!(
                    "the ledger does not match {} balance(s)",
                    discrepancies.len()
                );
            }
        }
    }
    Ok(())
}

/// `admin prune`: one pass of retention, one line per table.
async fn prune(settings: Settings) -> anyhow::Result<()> {
    let db = server::platform::db::connect(&settings).await?;
    server::platform::db::migrate(&db).await?;
    let retention = &settings.retention;
    let pruned = server::retention::prune(
        &db,
        retention,
        server::platform::time::now(),
        &server::retention::Never,
    )
    .await
    .map_err(operator_error)?;
    for line in pruned.report(retention) {
        println!("{line}");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
