//! The coordinator's side of the Credit and Rewards pages: [`LedgerService`] over the database. Every amount and
//! address is checked here, and operator-only actions refuse everyone else, before anything moves.

use pictor_app::ports::LedgerService;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::events::Event;
use pictor_core::jobs::JobForm;
use pictor_core::ledger::{
    normalize_aptos_address, parse_amount, CreditView, Estimate, Payout, RewardsOverview, UnreadNotifications,
};

use crate::clock::now_ms;
use crate::config::LedgerConfig;
use crate::db::ledger::{Account, LedgerError};
use crate::db::{Db, DbError};

pub struct DbLedger {
    pub db: Db,
    pub engine: crate::engine::Engine,
    pub config: LedgerConfig,
    /// Tells the viewer's other open pages when their notifications were read.
    pub bus: crate::events::bus::EventBus,
}

/// Ledger entries the Credit page lists at most.
const HISTORY: i64 = 500;
/// Earnings and spending charts cover this many days.
const CHART_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

fn db_error(error: DbError) -> AppError {
    crate::api::errors::app_error("ledger", error)
}

fn ledger_error(error: LedgerError) -> AppError {
    match error {
        LedgerError::Insufficient { available, needed } => AppError::BadRequest(format!(
            "not enough: {} credits available, {} requested",
            pictor_core::workers::format_credits(available),
            pictor_core::workers::format_credits(needed)
        )),
        LedgerError::NotPositive => AppError::BadRequest("the amount must be more than 0".into()),
        LedgerError::Db(db) => db_error(db),
    }
}

impl DbLedger {
    async fn require_operator(&self, viewer: &Viewer) -> Result<(), AppError> {
        if self.db.is_operator(viewer.user_id).await.map_err(db_error)? {
            Ok(())
        } else {
            Err(AppError::Forbidden("only an operator of this coordinator may do this".into()))
        }
    }

    /// Credit spent per day: what went into jobs' escrows, less what came back.
    async fn spending_by_day(&self, user: i64, since_ms: i64) -> Result<Vec<(i64, i64)>, AppError> {
        let entries = self.db.ledger_history(user, None, 5_000).await.map_err(db_error)?;
        let mut days: Vec<(i64, i64)> = Vec::new();
        for entry in entries.iter().rev().filter(|entry| entry.created_at_ms >= since_ms) {
            let spent = match entry.kind.as_str() {
                "escrow" | "refill" => entry.amount_micro,
                "refund" => -entry.amount_micro,
                _ => continue,
            };
            let day = entry.created_at_ms.div_euclid(DAY_MS) * DAY_MS;
            match days.last_mut() {
                Some((last, sum)) if *last == day => *sum += spent,
                _ => days.push((day, spent)),
            }
        }
        Ok(days)
    }
}

#[async_trait::async_trait]
impl LedgerService for DbLedger {
    async fn balances(&self, viewer: &Viewer) -> Result<pictor_core::ledger::LedgerOverview, AppError> {
        self.db.ledger_overview(viewer.user_id).await.map_err(db_error)
    }

    async fn credit(&self, viewer: &Viewer, kind: Option<String>) -> Result<CreditView, AppError> {
        let user = viewer.user_id;
        let kind = kind.filter(|kind| !kind.is_empty());
        Ok(CreditView {
            user_id: user,
            overview: self.db.ledger_overview(user).await.map_err(db_error)?,
            entries: self.db.ledger_history(user, kind.as_deref(), HISTORY).await.map_err(db_error)?,
            spending_by_day: self.spending_by_day(user, now_ms() - CHART_DAYS * DAY_MS).await?,
            notifications: self.db.notifications_of(user, 20).await.map_err(db_error)?,
            webhook_url: self.db.webhook_of(user).await.map_err(db_error)?,
            is_operator: self.db.is_operator(user).await.map_err(db_error)?,
        })
    }

    async fn rewards(&self, viewer: &Viewer) -> Result<RewardsOverview, AppError> {
        let user = viewer.user_id;
        let now = now_ms();
        let epoch_ms = i64::try_from(self.config.epoch_ms).unwrap_or(i64::MAX);
        let started = self.db.epoch_start().await.map_err(db_error)?.unwrap_or(now);
        let identities = self.db.identities_of(user).await.map_err(db_error)?;
        Ok(RewardsOverview {
            earnings_micro: self.db.balance(Account::Earnings(user)).await.map_err(db_error)?,
            held_micro: self.db.held_earnings(user).await.map_err(db_error)?,
            payouts_pending_micro: self.db.balance(Account::Payouts(user)).await.map_err(db_error)?,
            by_node: self.db.earnings_by_node(user).await.map_err(db_error)?,
            by_day: self.db.earnings_by_day(user, now - CHART_DAYS * DAY_MS).await.map_err(db_error)?,
            epochs: self.db.epochs_for(user, 10).await.map_err(db_error)?,
            epoch_ms,
            next_epoch_at_ms: started.saturating_add(epoch_ms),
            checker_pool_micro: self.db.balance(Account::CheckerPool).await.map_err(db_error)?,
            points: self.db.points_of(user).await.map_err(db_error)?,
            leaderboard: self.db.leaderboard(20).await.map_err(db_error)?,
            payouts: self.db.payouts_of(user).await.map_err(db_error)?,
            wallet_address: identities
                .iter()
                .find(|identity| identity.provider == pictor_core::accounts::IdentityProvider::Aptos)
                .map(|identity| identity.label.clone()),
        })
    }

    async fn request_payout(&self, viewer: &Viewer, amount: &str, address: &str) -> Result<(), AppError> {
        let amount = parse_amount(amount).map_err(AppError::BadRequest)?;
        let address = normalize_aptos_address(address).map_err(AppError::BadRequest)?;
        self.db.request_payout(viewer.user_id, amount, &address, now_ms()).await.map_err(ledger_error)?;
        Ok(())
    }

    async fn mark_notifications_read(&self, viewer: &Viewer) -> Result<(), AppError> {
        self.db.mark_notifications_read(viewer.user_id, now_ms()).await.map_err(db_error)?;
        let unread = self.db.unread_notifications(viewer.user_id).await.map_err(db_error)?;
        self.bus.publish(Event::Notifications(UnreadNotifications { user_id: viewer.user_id, unread }));
        Ok(())
    }

    async fn unread_notifications(&self, viewer: &Viewer) -> Result<i64, AppError> {
        self.db.unread_notifications(viewer.user_id).await.map_err(db_error)
    }

    async fn set_webhook(&self, viewer: &Viewer, url: &str, secret: &str) -> Result<(), AppError> {
        let url = url.trim();
        if url.is_empty() {
            return self.db.set_webhook(viewer.user_id, None).await.map_err(db_error);
        }
        let parsed = url::Url::parse(url).map_err(|_| AppError::BadRequest(format!("{url:?} is not a URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") || url.len() > 500 {
            return Err(AppError::BadRequest(
                "the webhook must be an http:// or https:// URL (500 characters at most)".into(),
            ));
        }
        let secret = secret.trim();
        if !(16..=200).contains(&secret.len()) || secret.chars().any(char::is_control) {
            return Err(AppError::BadRequest("the signing secret must be 16 to 200 characters".into()));
        }
        // Only the public internet (or a host the operator allowed): never the coordinator's own machine or LAN.
        super::webhook_target::check(url, &self.config.webhook_allowed_hosts)
            .await
            .map_err(|refused| AppError::BadRequest(refused.to_string()))?;
        self.db.set_webhook(viewer.user_id, Some((url, secret))).await.map_err(db_error)
    }

    async fn grant(&self, viewer: &Viewer, user: i64, amount: &str, memo: &str) -> Result<(), AppError> {
        self.require_operator(viewer).await?;
        let amount = parse_amount(amount).map_err(AppError::BadRequest)?;
        let memo: String = memo.trim().chars().filter(|c| !c.is_control()).take(200).collect();
        let key = format!("grant:{}", uuid::Uuid::new_v4().simple());
        let memo = format!(
            "granted by operator {}{}",
            viewer.user_id,
            if memo.is_empty() { String::new() } else { format!(": {memo}") }
        );
        self.engine.top_up(user, amount, &key, "grant", &memo, now_ms()).await.map_err(ledger_error)?;
        Ok(())
    }

    async fn requested_payouts(&self, viewer: &Viewer) -> Result<Vec<Payout>, AppError> {
        self.require_operator(viewer).await?;
        self.db.requested_payouts().await.map_err(db_error)
    }

    async fn decide_payout(&self, viewer: &Viewer, payout: i64, paid: bool, reference: &str) -> Result<(), AppError> {
        self.require_operator(viewer).await?;
        let reference: String = reference.trim().chars().filter(|c| !c.is_control()).take(200).collect();
        if reference.is_empty() {
            let what = if paid { "the transaction's reference" } else { "a reason" };
            return Err(AppError::BadRequest(format!("give {what}")));
        }
        self.db.decide_payout(payout, viewer.user_id, paid, &reference, now_ms()).await.map_err(ledger_error)
    }

    async fn estimate(&self, _viewer: &Viewer, form: JobForm) -> Result<Estimate, AppError> {
        let spec = form.validate().map_err(|errors| {
            AppError::BadRequest(
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
            )
        })?;
        crate::render::estimate::estimate(&self.db, &spec).await.map_err(db_error)
    }
}
