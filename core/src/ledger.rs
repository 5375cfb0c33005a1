//! Money as users see it: balances, ledger entries, cost estimates, payouts, epochs and points.

use serde::{Deserialize, Serialize};

/// A user's money at a glance, in micro-credits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerOverview {
    /// Credit available to spend on jobs.
    pub credit_micro: i64,
    /// Held in the escrow of the user's jobs (refunded when they end).
    pub reserved_micro: i64,
    /// Earned by the user's workers and checkers, available to pay out.
    pub earnings_micro: i64,
    /// Requested payouts not paid yet.
    pub payouts_pending_micro: i64,
}

/// One transfer as the user's ledger shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub key: String,
    /// welcome, grant, payment, escrow, refill, pay_worker, pay_pool, clawback, refund, epoch, payout_hold,
    /// payout_paid, payout_returned.
    pub kind: String,
    pub amount_micro: i64,
    /// Positive when money came into one of the user's own accounts, negative when it left them, 0 between
    /// their own accounts or inside a job's escrow.
    pub signed_micro: i64,
    pub from: String,
    pub to: String,
    pub job_id: Option<i64>,
    pub task_id: Option<i64>,
    pub node_id: Option<i64>,
    pub memo: String,
    pub created_at_ms: i64,
}

/// What a job is expected to cost, and how that was worked out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub frames: i64,
    /// Render seconds per frame (or per tile) expected.
    pub seconds_per_task: f64,
    /// "history": from recent tasks of the network at this engine; "default": no history yet, a conservative guess.
    pub source: String,
    /// The price assumed: the median price of workers that could take the job, capped by its tier.
    pub price_micro_per_minute: i64,
    pub total_micro: i64,
}

/// A request to pay earnings out to a wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub amount_micro: i64,
    /// An Aptos account address (`0x` and 64 hex digits).
    pub address: String,
    /// requested, paid, rejected.
    pub state: String,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    /// The operator's note: a transaction hash when paid, a reason when rejected.
    pub reference: Option<String>,
}

/// A closed epoch: the checker pool it shared out and what the viewer's checkers got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochView {
    pub id: i64,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub pool_micro: i64,
    pub distributed_micro: i64,
    /// Verdicts that agreed with the quorum in the epoch, network-wide.
    pub verdicts: i64,
    pub mine_micro: i64,
}

/// Points for activity, and where they come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Points {
    /// 10 per completed job.
    pub creator: i64,
    /// 1 per accepted task result.
    pub worker_tasks: i64,
    /// Online hours of the user's workers × their performance multiplier (benchmark score / 500, 0.5 to 3).
    pub worker_online: f64,
    /// 1 per verdict that agreed with the quorum.
    pub checker: i64,
}

impl Points {
    pub fn total(&self) -> i64 {
        self.creator + self.worker_tasks + self.worker_online.floor() as i64 + self.checker
    }
}

/// One row of the leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    pub rank: i64,
    pub user_id: i64,
    pub name: String,
    pub points: i64,
}

/// Everything the Rewards page shows for the viewer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardsOverview {
    pub earnings_micro: i64,
    /// The part of the earnings that welcome credits paid: counted, but never paid out.
    #[serde(default)]
    pub held_micro: i64,
    pub payouts_pending_micro: i64,
    /// Per worker or checker of the viewer: (node id, name, kind, earned).
    pub by_node: Vec<(i64, String, String, i64)>,
    /// Earnings per UTC day, oldest first: (day start, micro-credits).
    pub by_day: Vec<(i64, i64)>,
    pub epochs: Vec<EpochView>,
    pub epoch_ms: i64,
    /// When the current epoch ends.
    pub next_epoch_at_ms: i64,
    pub checker_pool_micro: i64,
    pub points: Points,
    pub leaderboard: Vec<LeaderboardRow>,
    pub payouts: Vec<Payout>,
    /// The viewer's linked wallet address, suggested for payouts.
    pub wallet_address: Option<String>,
}

/// A notification for the user (also sent to their webhook, if they set one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    /// job_finished, job_failed, job_paused, low_balance, payout.
    pub kind: String,
    pub text: String,
    pub job_id: Option<i64>,
    pub created_at_ms: i64,
    pub read: bool,
}

/// How many of a user's notifications are unread: the bell in the top bar, kept live over server-sent events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadNotifications {
    pub user_id: i64,
    pub unread: i64,
}

/// The Credit page: money at a glance, the ledger, spending per day, notifications and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditView {
    /// The viewer's account number, which the operator needs to grant credit.
    pub user_id: i64,
    pub overview: LedgerOverview,
    pub entries: Vec<LedgerEntry>,
    /// Credit spent on jobs per UTC day (escrows net of refunds), oldest first: (day start, micro-credits).
    pub spending_by_day: Vec<(i64, i64)>,
    pub notifications: Vec<Notification>,
    pub webhook_url: Option<String>,
    /// Operators may grant credit and settle payouts.
    pub is_operator: bool,
}

/// The most credits one grant, payment, budget or payout may move: a billion.
pub const MAX_AMOUNT_MICRO: i64 = 1_000_000_000 * 1_000_000;

/// An amount of credits typed by a person (`12.5`): positive, at most [`MAX_AMOUNT_MICRO`], exact to the
/// micro-credit.
pub fn parse_amount(text: &str) -> Result<i64, String> {
    let micro = crate::workers::parse_credits(text)?;
    if micro <= 0 {
        return Err("the amount must be more than 0".into());
    }
    if micro > MAX_AMOUNT_MICRO {
        return Err("the amount must be at most 1 000 000 000 credits".into());
    }
    Ok(micro)
}

/// An Aptos account address in its long form (`0x` and 64 lower-case hex digits); short forms are padded.
pub fn normalize_aptos_address(text: &str) -> Result<String, String> {
    let text = text.trim();
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if hex.is_empty() || hex.len() > 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not an Aptos address (0x and up to 64 hex digits)"));
    }
    Ok(format!("0x{:0>64}", hex.to_ascii_lowercase()))
}

/// The CSV of a ledger, one line per entry (RFC 4180 quoting).
pub fn ledger_csv(entries: &[LedgerEntry]) -> String {
    let quote = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let mut csv = String::from("id,time_utc,kind,amount_credits,signed_credits,from,to,job,task,node,memo\n");
    for entry in entries {
        let optional = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            entry.id,
            crate::time::format_utc(entry.created_at_ms),
            quote(&entry.kind),
            crate::workers::format_credits(entry.amount_micro),
            crate::workers::format_credits(entry.signed_micro),
            quote(&entry.from),
            quote(&entry.to),
            optional(entry.job_id),
            optional(entry.task_id),
            optional(entry.node_id),
            quote(&entry.memo),
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_exact_and_bounded() {
        assert_eq!(parse_amount("12.5"), Ok(12_500_000));
        assert_eq!(parse_amount("0.000001"), Ok(1));
        assert!(parse_amount("0").is_err());
        assert!(parse_amount("-3").is_err());
        assert!(parse_amount("1e9").is_err());
        assert!(parse_amount("1000000001").is_err());
        assert!(parse_amount("0.0000001").is_err(), "finer than a micro-credit");
    }

    #[test]
    fn aptos_addresses_are_normalised_or_refused() {
        assert_eq!(normalize_aptos_address("0x1"), Ok(format!("0x{}1", "0".repeat(63))));
        assert_eq!(normalize_aptos_address(&format!("0x{}", "AB".repeat(32))), Ok(format!("0x{}", "ab".repeat(32))));
        assert!(normalize_aptos_address("0x").is_err());
        assert!(normalize_aptos_address("0xzz").is_err());
        assert!(normalize_aptos_address(&format!("0x{}", "a".repeat(65))).is_err());
    }

    #[test]
    fn the_csv_quotes_what_needs_quoting() {
        let entry = LedgerEntry {
            id: 3,
            key: "grant:x".into(),
            kind: "grant".into(),
            amount_micro: 2_500_000,
            signed_micro: 2_500_000,
            from: "external".into(),
            to: "credit:1".into(),
            job_id: None,
            task_id: None,
            node_id: None,
            memo: "for \"testing\", thanks".into(),
            created_at_ms: 0,
        };
        let csv = ledger_csv(&[entry]);
        assert!(
            csv.ends_with("3,1970-01-01 00:00:00,grant,2.5,2.5,external,credit:1,,,,\"for \"\"testing\"\", thanks\"\n"),
            "{csv}"
        );
    }
}
