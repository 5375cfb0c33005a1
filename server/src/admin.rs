//! `pictor admin …`: the operator's commands on the coordinator's own database — create a user and an API key for
//! automation, grant credit, make a user an operator, and check the ledger's invariants on the live data.

use clap::Subcommand;
use pictor_core::ledger::parse_amount;

use crate::clock::now_ms;
use crate::config::Config;
use crate::db::Db;
use crate::startup::StartupError;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (for automation: give it an API key next); prints its id
    CreateUser {
        /// The name shown for the user
        #[arg(long)]
        name: String,
    },
    /// Create an API key for a user; the key is printed once and cannot be shown again
    ApiKey {
        #[arg(long)]
        user: i64,
        /// What the key is for, shown on the user's Account page
        #[arg(long, default_value = "command line")]
        name: String,
    },
    /// Add credit to a user's account (from outside the network: a grant)
    Grant {
        /// The user's id (shown on their account page)
        #[arg(long)]
        user: i64,
        /// Credits, exact to the micro-credit: 25 or 0.5
        #[arg(long)]
        credits: String,
        /// A note kept with the transfer
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Let a user grant credit and settle payouts from the dashboard (--revoke takes it back)
    Operator {
        #[arg(long)]
        user: i64,
        #[arg(long)]
        revoke: bool,
    },
    /// Verify the ledger: balances sum to zero, none below zero but the outside world's, every balance equals its
    /// transfers, no task attempt paid twice. Exit status 1 when anything is wrong.
    CheckLedger,
}

/// The longest user name accepted.
const MAX_NAME: usize = 64;

async fn create_user(db: &Db, name: &str) -> Result<(), StartupError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(StartupError::Invalid(format!("--name: 1 to {MAX_NAME} printable characters")));
    }
    let id = db.create_user(name, now_ms()).await?;
    println!("created user {id} ({name})");
    Ok(())
}

async fn api_key(db: &Db, user: i64, name: &str) -> Result<(), StartupError> {
    if db.user_name(user).await?.is_none() {
        return Err(StartupError::Invalid(format!("--user: there is no user {user}")));
    }
    let created = crate::auth::api_keys::create(db, user, name, now_ms())
        .await
        .map_err(|error| StartupError::Invalid(format!("the key was refused: {error}")))?;
    println!("{}", created.secret);
    eprintln!("API key {} for user {user}: shown once, keep it now", created.key.id);
    Ok(())
}

async fn open(config: &Config) -> Result<Db, StartupError> {
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

pub async fn run(config: &Config, command: AdminCommand) -> Result<(), StartupError> {
    let db = open(config).await?;
    let result = match command {
        AdminCommand::CreateUser { name } => create_user(&db, &name).await,
        AdminCommand::ApiKey { user, name } => api_key(&db, user, &name).await,
        AdminCommand::Grant { user, credits, memo } => {
            let amount = parse_amount(&credits).map_err(|why| StartupError::Invalid(format!("--credits: {why}")))?;
            let key = format!("grant:{}", uuid::Uuid::new_v4().simple());
            let memo = if memo.is_empty() { "granted from the command line".to_string() } else { memo };
            crate::engine::Engine::new(db.clone())
                .top_up(user, amount, &key, "grant", &memo, now_ms())
                .await
                .map(|top_up| {
                    println!("granted {credits} credits to user {user} ({} paused jobs resumed)", top_up.resumed.len())
                })
                .map_err(|error| StartupError::Invalid(format!("grant refused: {error}")))
        }
        AdminCommand::Operator { user, revoke } => db
            .set_operator(user, !revoke)
            .await
            .map(|()| println!("user {user} is {}an operator", if revoke { "no longer " } else { "" }))
            .map_err(|error| StartupError::Invalid(error.to_string())),
        AdminCommand::CheckLedger => {
            let violations = db.check_ledger().await?;
            if violations.is_empty() {
                println!(
                    "ledger ok: balances sum to zero, none below zero, all match their transfers, none paid twice"
                );
                Ok(())
            } else {
                for violation in &violations {
                    println!("{violation}");
                }
                Err(StartupError::Invalid(format!("the ledger has {} problem(s)", violations.len())))
            }
        }
    };
    db.close().await;
    result
}
