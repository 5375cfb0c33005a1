//! Checker nodes' records: verdicts given, agreement with the quorum, audits, suspension.

use pictor_core::checkers::CheckerCounts;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::nodes::NodeId;
use super::users::UserId;
use super::{Db, DbError};

const COUNTS: &str = "SELECT n.id, n.owner_id, n.verdicts_agreed, n.verdicts_disagreed, n.audits_passed,
        n.suspended_at_ms,
        (SELECT COUNT(*) FROM verdicts d WHERE d.checker_node_id = n.id AND d.state = 'submitted') AS verdicts
    FROM nodes n";

fn counts(row: &AnyRow) -> Result<(NodeId, UserId, CheckerCounts), sqlx::Error> {
    let counts = CheckerCounts {
        verdicts: row.try_get("verdicts")?,
        agreed: row.try_get("verdicts_agreed")?,
        disagreed: row.try_get("verdicts_disagreed")?,
        audits_passed: row.try_get("audits_passed")?,
        suspended: row.try_get::<Option<i64>, _>("suspended_at_ms")?.is_some(),
    };
    Ok((row.try_get("id")?, row.try_get("owner_id")?, counts))
}

impl Db {
    /// A checker's counts and its owner; `None` for an unknown node.
    pub async fn checker_counts(&self, node: NodeId) -> Result<Option<(UserId, CheckerCounts)>, DbError> {
        let row = sqlx::query(&format!("{COUNTS} WHERE n.id = $1")).bind(node).fetch_optional(self.reader()).await?;
        let Some(row) = row else { return Ok(None) };
        let (_, owner, counts) = counts(&row)?;
        Ok(Some((owner, counts)))
    }

    /// The counts of every checker of `owner`, by node.
    pub async fn checker_counts_of(&self, owner: UserId) -> Result<Vec<(NodeId, CheckerCounts)>, DbError> {
        let rows =
            sqlx::query(&format!("{COUNTS} WHERE n.owner_id = $1 AND n.kind = 'checker' AND n.deleted_at_ms IS NULL"))
                .bind(owner)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(|row| counts(row).map(|(id, _, counts)| (id, counts)).map_err(DbError::from)).collect()
    }

    /// Whether `node` was suspended (caught lying, or outvoted more often than not).
    pub async fn checker_suspended(&self, node: NodeId) -> Result<bool, DbError> {
        let suspended: Option<Option<i64>> = sqlx::query_scalar("SELECT suspended_at_ms FROM nodes WHERE id = $1")
            .bind(node)
            .fetch_optional(self.reader())
            .await?;
        Ok(suspended.flatten().is_some())
    }
}
