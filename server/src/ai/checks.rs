//! Keeping AI workers honest: a sample of each worker's requests is replayed by a checker on the same model and
//! engine build (token ids must match exactly, embeddings by cosine similarity). Sampling follows the worker's
//! record as for renders; a mismatch claws the payment back, cuts the worker's standing, and after repeated
//! rejections flags it, which stops it serving.

use pictor_core::ai::AiCheckVerdict;

use crate::db::ai_checks::{self as sql, moved_under};
use crate::db::ledger::{transfer_in, Account, LedgerError, Transfer};
use crate::db::verifications::WorkerTrust;
use crate::db::{verdicts, welcome, Db, DbError, NodeId, TaskId, Tx};
use crate::engine::verdicts::FLAG_AFTER_REJECTIONS;
use crate::verify::planner::check_probability;

/// Whether this request of a worker with this record is checked (`draw` uniform in [0, 1)).
pub fn sampled(trust: &WorkerTrust, draw: f64) -> bool {
    draw < check_probability(trust, false)
}

/// What a verdict did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Rejected; `flagged` when this rejection flagged the worker (it stops serving).
    Rejected {
        flagged: bool,
    },
}

/// Records a checker's verdict on a check it holds; `None` when it does not hold it.
pub async fn record_verdict(
    db: &Db,
    check: i64,
    checker: NodeId,
    verdict: &AiCheckVerdict,
    now_ms: i64,
) -> Result<Option<Verdict>, DbError> {
    let mut tx = db.begin_write().await?;
    let state = if verdict.passed { "passed" } else { "rejected" };
    let Some(closed) = sql::close(&mut tx, check, checker, state, &verdict.detail, now_ms).await? else {
        return Ok(None);
    };
    let outcome = if verdict.passed {
        sql::count_pass(&mut tx, closed.worker).await?;
        Verdict::Passed
    } else {
        let was_flagged = db.worker_trust(closed.worker).await?.flagged;
        verdicts::count_rejection(&mut tx, closed.worker, FLAG_AFTER_REJECTIONS, now_ms).await?;
        match batch_line(&closed.request) {
            // A batch chunk was paid from its job's escrow as one attempt: that payment comes back.
            Some((task, attempt)) => claw_back_chunk(&mut tx, task, attempt, now_ms).await?,
            None => claw_back(&mut tx, &closed.request, closed.caller, now_ms).await?,
        }
        let flagged: Option<i64> = sqlx::query_scalar("SELECT flagged_at_ms FROM nodes WHERE id = $1")
            .bind(closed.worker)
            .fetch_one(&mut *tx)
            .await?;
        Verdict::Rejected { flagged: flagged.is_some() && !was_flagged }
    };
    tx.commit().await?;
    Ok(Some(outcome))
}

/// The chunk attempt of a checked batch line (`batchline-<task>-<attempt>-<line>`).
fn batch_line(request: &str) -> Option<(TaskId, i64)> {
    let mut parts = request.strip_prefix("batchline-")?.split('-');
    let task = parts.next()?.parse().ok()?;
    let attempt = parts.next()?.parse().ok()?;
    Some((TaskId(task), attempt))
}

/// Takes a rejected chunk's payment back into its job's escrow, and back to the batch's owner when the job has
/// ended already.
async fn claw_back_chunk(tx: &mut Tx<'_>, task: TaskId, attempt: i64, now_ms: i64) -> Result<(), DbError> {
    crate::engine::payments::claw_back(tx, task, attempt, now_ms).await?;
    let job: Option<(crate::db::JobId, String)> =
        sqlx::query_as("SELECT j.id, j.state FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.id = $1")
            .bind(task)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((job, state)) = job {
        if matches!(state.as_str(), "completed" | "failed" | "cancelled") {
            crate::db::lock_row(tx, crate::db::Locked::Job(job)).await?;
            crate::engine::payments::refund_job(tx, job, now_ms).await?;
        }
    }
    Ok(())
}

/// Gives the caller back what a rejected request paid: the worker's share from its owner's earnings (as much as is
/// still there) and the pool's share.
async fn claw_back(tx: &mut Tx<'_>, request: &str, caller: i64, now_ms: i64) -> Result<(), DbError> {
    let worker_key = format!("ai:{request}:worker");
    let paid_worker = moved_under(tx, &worker_key).await?;
    if paid_worker > 0 {
        let served_by: Option<(crate::db::NodeId, i64)> = sqlx::query_as(
            "SELECT n.id, n.owner_id FROM ai_requests r JOIN nodes n ON n.id = r.node_id WHERE r.id = $1",
        )
        .bind(request)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((node, owner)) = served_by {
            let available = crate::db::ledger::balance_in(tx, Account::Earnings(owner)).await?;
            let back = paid_worker.min(available);
            if back > 0 {
                let transfer = Transfer::new(
                    format!("ai:{request}:claw_back"),
                    Account::Earnings(owner),
                    Account::Credit(caller),
                    back,
                    "ai_claw_back",
                )
                .node(node)
                .memo("the checker's replay did not match the worker's answer");
                move_money(tx, &transfer, now_ms).await?;
                let held = back.min(welcome::held_earnings(tx, owner).await?);
                welcome::add_to_held(tx, owner, -held).await?;
                welcome::add_to_credit(tx, caller, held).await?;
            }
        }
    }
    let paid_pool = moved_under(tx, &format!("ai:{request}:pool")).await?;
    let available = crate::db::ledger::balance_in(tx, Account::CheckerPool).await?;
    let back = paid_pool.min(available);
    if back > 0 {
        let transfer = Transfer::new(
            format!("ai:{request}:pool_back"),
            Account::CheckerPool,
            Account::Credit(caller),
            back,
            "ai_claw_back",
        );
        move_money(tx, &transfer, now_ms).await?;
    }
    Ok(())
}

async fn move_money(tx: &mut Tx<'_>, transfer: &Transfer, now_ms: i64) -> Result<(), DbError> {
    match transfer_in(tx, transfer, now_ms).await {
        Ok(_) => Ok(()),
        Err(LedgerError::Db(error)) => Err(error),
        // Sized to the balance just read inside this transaction.
        Err(_) => Err(DbError::Corrupt("claw-back")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines_name_their_chunk_attempt() {
        assert_eq!(batch_line("batchline-12-3-40"), Some((TaskId(12), 3)));
        assert_eq!(batch_line("chatcmpl-abc"), None);
        assert_eq!(batch_line("batchline-x-3-40"), None);
    }

    #[test]
    fn fresh_and_flagged_workers_are_always_checked_trusted_ones_sampled() {
        let fresh = WorkerTrust { owner: 1, valid_streak: 3, flagged: false };
        assert!(sampled(&fresh, 0.999));
        let flagged = WorkerTrust { owner: 1, valid_streak: 1_000, flagged: true };
        assert!(sampled(&flagged, 0.999));
        let trusted = WorkerTrust { owner: 1, valid_streak: 400, flagged: false };
        assert!(sampled(&trusted, 0.05) && !sampled(&trusted, 0.5));
    }
}
