//! What users are told when the engine changes their jobs or credit: each notice's kind (for webhooks and the
//! dashboard) and its sentence, sent inside the transaction that made the change.

use crate::db::notifications::notify_in;
use crate::db::users::UserId;
use crate::db::{DbError, JobId, Tx};

/// A user's credit below this after a job took its escrow is worth a notice.
pub const LOW_BALANCE_MICRO: i64 = 1_000_000;

/// One thing to tell a job's owner; `job` is the job's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice<'a> {
    Completed { job: &'a str },
    Failed { job: &'a str },
    PausedAtBudget { job: &'a str },
    PausedForCredit { job: &'a str },
    LowBalance { job: &'a str },
}

impl Notice<'_> {
    /// The kind webhooks and the dashboard see.
    pub fn kind(self) -> &'static str {
        match self {
            Notice::Completed { .. } => "job_finished",
            Notice::Failed { .. } => "job_failed",
            Notice::PausedAtBudget { .. } | Notice::PausedForCredit { .. } => "job_paused",
            Notice::LowBalance { .. } => "low_balance",
        }
    }

    /// The sentence the user reads.
    pub fn text(self) -> String {
        match self {
            Notice::Completed { job } => format!("Job “{job}” is complete: every frame is in."),
            Notice::Failed { job } => {
                format!("Job “{job}” failed: a task ran out of attempts. Its unused budget was refunded.")
            }
            Notice::PausedAtBudget { job } => {
                format!("Job “{job}” paused: it reached its budget. Cancel it to get back what it still holds.")
            }
            Notice::PausedForCredit { job } => {
                format!("Job “{job}” paused: it ran out of credit. Top up your credit to resume it.")
            }
            Notice::LowBalance { job } => {
                format!("Your credit is low after job “{job}” reserved its budget: top up to keep rendering.")
            }
        }
    }

    /// Records it for `user` (and queues it for their webhook) inside the transaction.
    pub async fn send(self, tx: &mut Tx<'_>, user: UserId, job: Option<JobId>, now_ms: i64) -> Result<(), DbError> {
        notify_in(tx, user, self.kind(), &self.text(), job, now_ms).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notice_names_its_job_under_its_kind() {
        let notices = [
            Notice::Completed { job: "a" },
            Notice::Failed { job: "a" },
            Notice::PausedAtBudget { job: "a" },
            Notice::PausedForCredit { job: "a" },
            Notice::LowBalance { job: "a" },
        ];
        for notice in notices {
            assert!(notice.text().contains("“a”"), "{notice:?}");
        }
        assert_eq!(Notice::PausedForCredit { job: "a" }.kind(), Notice::PausedAtBudget { job: "a" }.kind());
    }
}
