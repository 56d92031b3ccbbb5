//! How many usage rows per second the batching writer sustains on SQLite,
//! rollups, key updates and the credit ledger's charges included. Prints figures; asserts nothing.
//!
//!   cargo bench -p server --bench usage_writer [-- <rows>]

use std::time::Instant;

use sea_orm::{EntityTrait, PaginatorTrait};
use server::{
    Settings,
    console::{
        accounts::service::{NewUser, create_user},
        credits,
        keys::service::{NewKey, create},
    },
    gateway::metering::writer,
    platform::{
        db,
        entity::{
            credit_entry::EntryKind,
            usage_record,
            user::{Plan, Role},
        },
    },
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    settings.ensure_data_dir()?;
    let db = db::connect(&settings).await?;
    db::migrate(&db).await?;

    // A realistic spread: 50 users with a key each, 4 models.
    let mut keys = Vec::new();
    for n in 0..50 {
        let user = create_user(
            &db,
            NewUser {
                name: format!("user {n}"),
                email: Some(format!("user{n}@example.com")),
                password: None,
                role: Role::User,
                plan: Plan::Pro,
            },
        )
        .await?;
        let key = create(
            &db,
            &user.id,
            NewKey {
                name: "bench".into(),
                models: Vec::new(),
                quota_micro_credits: None,
                expires_at: None,
                requests_per_minute: None,
                tokens_per_minute: None,
            },
        )
        .await?;
        // Enough balance for every charge the rows carry.
        credits::service::apply(
            &db,
            &user.id,
            EntryKind::Grant,
            1_000_000_000_000,
            None,
            None,
            None,
        )
        .await?;
        keys.push((user.id, key.key.id));
    }
    let models = ["gpt-4o", "gpt-4o-mini", "sonnet-4.5", "haiku-4.5"];

    let writer = writer::start(db.clone(), None);
    let started = Instant::now();
    for n in 0..rows {
        let (user_id, key_id) = &keys[n % keys.len()];
        let model = models[n % models.len()];
        writer.submit(usage_record::Model {
            id: format!("req_{n:016x}"),
            user_id: user_id.clone(),
            api_key_id: key_id.clone(),
            model: model.to_owned(),
            model_id: Some(format!("model_{model}")),
            provider_id: Some("prov_bench".to_owned()),
            upstream_model: model.to_owned(),
            endpoint: "chat_completions".to_owned(),
            streamed: n % 2 == 0,
            status_code: 200,
            input_tokens: 1_200,
            output_tokens: 350,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            cost: 6_500,
            charged: 6_500,
            overrun: 0,
            input_price: 2_500_000,
            output_price: 10_000_000,
            cache_read_price: 0,
            cache_write_price: 0,
            duration_ms: 800,
            ttft_ms: Some(120),
            error_kind: None,
            created_at: server::platform::time::now(),
            attempts: 1,
            attempt_errors: None,
            served_model: Some(model.to_owned()),
        });
        // Hand over at the pace of a busy gateway without filling the queue.
        if n % 10_000 == 9_999 {
            tokio::task::yield_now().await;
        }
    }
    writer.shutdown().await;
    let elapsed = started.elapsed();
    let written = usage_record::Entity::find().count(&db).await?;
    println!(
        "usage writer on SQLite: {rows} rows in {:.2} s = {:.0} rows/s ({written} rows in the table, {} dropped)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        writer.dropped()
    );
    Ok(())
}
