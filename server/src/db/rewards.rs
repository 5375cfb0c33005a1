//! What the Rewards page reads: earnings per node and per day, epochs, points and the leaderboard.

use pictor_core::ledger::{EpochView, LeaderboardRow, Points};

use super::ledger::Account;
use super::users::UserId;
use super::{Db, DbError};

const DAY_MS: i64 = 86_400_000;

/// Points per completed job, per accepted task result, per agreeing verdict.
pub const POINTS_PER_JOB: i64 = 10;

/// The performance multiplier of a worker from its benchmark score (500 is the reference machine).
pub fn performance_multiplier(score: Option<i64>) -> f64 {
    score.map_or(1.0, |score| (score as f64 / 500.0).clamp(0.5, 3.0))
}

/// Points of every user (or one), computed from what they did.
const POINTS: &str = "
    SELECT u.id, u.display_name,
        (SELECT COUNT(*) FROM jobs j WHERE j.owner_id = u.id AND j.state = 'completed') AS jobs,
        (SELECT COUNT(*) FROM task_attempts a JOIN nodes n ON n.id = a.node_id
         WHERE n.owner_id = u.id AND a.outcome IN ('uploaded', 'verified')) AS tasks,
        (SELECT COUNT(*) FROM verdicts d JOIN nodes n ON n.id = d.checker_node_id
         WHERE n.owner_id = u.id AND d.agrees = 1) AS verdicts
    FROM users u";

impl Db {
    /// What each of `user`'s nodes earned (tasks for workers, epochs for checkers): (node, name, kind, micro).
    pub async fn earnings_by_node(&self, user: UserId) -> Result<Vec<(i64, String, String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT n.id, n.name, n.kind,
                    CAST(COALESCE((SELECT SUM(t.amount_micro) FROM ledger_transfers t
                              WHERE t.node_id = n.id AND t.kind IN ('pay_worker', 'epoch')), 0) AS BIGINT)
                  - CAST(COALESCE((SELECT SUM(t.amount_micro) FROM ledger_transfers t
                              WHERE t.node_id = n.id AND t.kind = 'clawback'
                                AND t.idempotency_key LIKE '%:worker:clawback'), 0) AS BIGINT)
             FROM nodes n WHERE n.owner_id = $1 AND n.deleted_at_ms IS NULL ORDER BY n.kind DESC, n.id",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?)
    }

    /// Earnings that came into `user`'s earnings account per UTC day since `since_ms`, oldest first.
    pub async fn earnings_by_day(&self, user: UserId, since_ms: i64) -> Result<Vec<(i64, i64)>, DbError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT t.created_at_ms, t.amount_micro FROM ledger_transfers t
               JOIN ledger_accounts a ON a.id = t.to_account
             WHERE a.name = $1 AND t.kind IN ('pay_worker', 'epoch') AND t.created_at_ms >= $2 ORDER BY t.id",
        )
        .bind(Account::Earnings(user).name())
        .bind(since_ms)
        .fetch_all(self.reader())
        .await?;
        let mut days: Vec<(i64, i64)> = Vec::new();
        for (at, amount) in rows {
            let day = at.div_euclid(DAY_MS) * DAY_MS;
            match days.last_mut() {
                Some((last, sum)) if *last == day => *sum += amount,
                _ => days.push((day, amount)),
            }
        }
        Ok(days)
    }

    /// The latest closed epochs with what `user`'s checkers received in each.
    pub async fn epochs_for(&self, user: UserId, limit: i64) -> Result<Vec<EpochView>, DbError> {
        let rows: Vec<(i64, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT e.id, e.started_at_ms, e.ended_at_ms, e.pool_micro, e.distributed_micro, e.verdicts,
                    CAST(COALESCE((SELECT SUM(t.amount_micro) FROM ledger_transfers t
                                JOIN ledger_accounts a ON a.id = t.to_account
                              WHERE t.kind = 'epoch' AND a.name = $1
                                AND t.idempotency_key LIKE 'epoch:' || e.id || ':%'), 0) AS BIGINT)
             FROM epochs e ORDER BY e.id DESC LIMIT $2",
        )
        .bind(Account::Earnings(user).name())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, started_at_ms, ended_at_ms, pool_micro, distributed_micro, verdicts, mine_micro)| EpochView {
                id,
                started_at_ms,
                ended_at_ms,
                pool_micro,
                distributed_micro,
                verdicts,
                mine_micro,
            })
            .collect())
    }

    /// Hours `user`'s workers were online over the last 30 days (from the coarse metrics), times each worker's
    /// performance multiplier.
    async fn weighted_online_hours(&self, user: UserId) -> Result<f64, DbError> {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM node_metrics m WHERE m.node_id = n.id AND m.resolution_ms = 900000),
                    n.benchmark_score
             FROM nodes n WHERE n.owner_id = $1 AND n.kind = 'worker'",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        let hours: f64 =
            rows.into_iter().map(|(quarters, score)| quarters as f64 * 0.25 * performance_multiplier(score)).sum();
        // A float sum of nothing is -0.0, which the Rewards page would print as "-0.0".
        Ok(hours + 0.0)
    }

    pub async fn points_of(&self, user: UserId) -> Result<Points, DbError> {
        let row: Option<(i64, String, i64, i64, i64)> =
            sqlx::query_as(&format!("{POINTS} WHERE u.id = $1")).bind(user).fetch_optional(self.reader()).await?;
        let Some((_, _, jobs, tasks, verdicts)) = row else { return Ok(Points::default()) };
        Ok(Points {
            creator: jobs * POINTS_PER_JOB,
            worker_tasks: tasks,
            worker_online: self.weighted_online_hours(user).await?,
            checker: verdicts,
        })
    }

    /// The top users by points (job, task and verdict points; online hours are added for the top ones).
    pub async fn leaderboard(&self, limit: usize) -> Result<Vec<LeaderboardRow>, DbError> {
        let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(POINTS).fetch_all(self.reader()).await?;
        let mut board = Vec::new();
        for (user_id, name, jobs, tasks, verdicts) in rows {
            let base = jobs * POINTS_PER_JOB + tasks + verdicts;
            if base > 0 {
                let online = self.weighted_online_hours(user_id).await?.floor() as i64;
                board.push((user_id, name, base + online));
            }
        }
        board.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        Ok(board
            .into_iter()
            .take(limit)
            .enumerate()
            .map(|(index, (user_id, name, points))| LeaderboardRow { rank: index as i64 + 1, user_id, name, points })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multiplier_follows_the_benchmark_within_bounds() {
        assert_eq!(performance_multiplier(None), 1.0);
        assert_eq!(performance_multiplier(Some(1_000)), 2.0);
        assert_eq!(performance_multiplier(Some(10)), 0.5);
        assert_eq!(performance_multiplier(Some(100_000)), 3.0);
    }

    async fn a_user_without_workers_has_zero_online_points_not_minus_zero(db: Db) {
        let user = db.create_user("Ada", 1).await.expect("user");
        let points = db.points_of(user).await.expect("points");
        assert_eq!(format!("{:.1}", points.worker_online), "0.0");
    }

    crate::both_backends!(a_user_without_workers_has_zero_online_points_not_minus_zero);
}
