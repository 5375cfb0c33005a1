//! Each node's metrics history, downsampled as it is written: fine buckets for the last hour, coarse ones for a
//! month, so storage per node stays bounded however long it runs.

use pictor_core::workers::MetricPoint;

use super::nodes::NodeId;
use super::{Db, DbError};

/// (bucket width, how long buckets of that width are kept), both in milliseconds.
pub const RESOLUTIONS: [(i64, i64); 3] = [
    (5_000, 3_600_000),         // 5 s for an hour: at most 720 rows per node
    (60_000, 86_400_000),       // 1 min for a day: 1 440 rows
    (900_000, 30 * 86_400_000), // 15 min for 30 days: 2 880 rows
];
pub const FINE: i64 = RESOLUTIONS[0].0;
pub const COARSE: i64 = RESOLUTIONS[2].0;

impl Db {
    /// Folds one heartbeat's figures into the running average of its bucket at every resolution (one statement).
    pub async fn record_metrics(&self, node: NodeId, point: &MetricPoint) -> Result<(), DbError> {
        let mut sql = String::from(
            "INSERT INTO node_metrics (node_id, resolution_ms, bucket_ms, samples, cpu_percent, ram_used_bytes,
                                       ram_total_bytes, gpu_percent, gpu_temperature_c) VALUES ",
        );
        // One row per resolution: its width and bucket are parameters $7, $8 (then $9, $10, …).
        let rows: Vec<String> = (0..RESOLUTIONS.len())
            .map(|index| format!("($1, ${}, ${}, 1, $2, $3, $4, $5, $6)", 7 + 2 * index, 8 + 2 * index))
            .collect();
        sql.push_str(&rows.join(", "));
        sql.push_str(
            " ON CONFLICT (node_id, resolution_ms, bucket_ms) DO UPDATE SET
                cpu_percent = (node_metrics.cpu_percent * node_metrics.samples + excluded.cpu_percent)
                              / (node_metrics.samples + 1),
                ram_used_bytes = (node_metrics.ram_used_bytes * node_metrics.samples + excluded.ram_used_bytes)
                                 / (node_metrics.samples + 1),
                ram_total_bytes = excluded.ram_total_bytes,
                gpu_percent = CASE WHEN excluded.gpu_percent IS NULL THEN node_metrics.gpu_percent
                    ELSE (COALESCE(node_metrics.gpu_percent, excluded.gpu_percent) * node_metrics.samples
                          + excluded.gpu_percent) / (node_metrics.samples + 1) END,
                gpu_temperature_c = CASE WHEN excluded.gpu_temperature_c IS NULL THEN node_metrics.gpu_temperature_c
                    ELSE (COALESCE(node_metrics.gpu_temperature_c, excluded.gpu_temperature_c) * node_metrics.samples
                          + excluded.gpu_temperature_c) / (node_metrics.samples + 1) END,
                samples = node_metrics.samples + 1",
        );
        let mut query = sqlx::query(&sql)
            .bind(node)
            .bind(point.cpu_percent)
            .bind(point.ram_used_bytes)
            .bind(point.ram_total_bytes)
            .bind(point.gpu_percent)
            .bind(point.gpu_temperature_c);
        for (resolution, _) in RESOLUTIONS {
            query = query.bind(resolution).bind(point.at_ms.div_euclid(resolution) * resolution);
        }
        query.execute(self.writer()).await?;
        Ok(())
    }

    /// The node's buckets of width `resolution_ms` from `since_ms` on, oldest first.
    pub async fn metric_history(
        &self,
        node: NodeId,
        resolution_ms: i64,
        since_ms: i64,
    ) -> Result<Vec<MetricPoint>, DbError> {
        type Row = (i64, f64, i64, i64, Option<f64>, Option<f64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT bucket_ms, cpu_percent, ram_used_bytes, ram_total_bytes, gpu_percent, gpu_temperature_c
             FROM node_metrics WHERE node_id = $1 AND resolution_ms = $2 AND bucket_ms >= $3 ORDER BY bucket_ms",
        )
        .bind(node)
        .bind(resolution_ms)
        .bind(since_ms)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at_ms, cpu_percent, ram_used_bytes, ram_total_bytes, gpu_percent, gpu_temperature_c)| MetricPoint {
                at_ms,
                cpu_percent,
                ram_used_bytes,
                ram_total_bytes,
                gpu_percent,
                gpu_temperature_c,
            })
            .collect())
    }

    /// Drops buckets older than their resolution keeps them; returns how many rows went.
    pub async fn prune_metrics(&self, now_ms: i64) -> Result<u64, DbError> {
        let mut removed = 0;
        for (resolution, keep) in RESOLUTIONS {
            removed += sqlx::query("DELETE FROM node_metrics WHERE resolution_ms = $1 AND bucket_ms < $2")
                .bind(resolution)
                .bind(now_ms - keep)
                .execute(self.writer())
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::nodes::NodeKind;

    const NOW: i64 = 1_800_000_000_000;

    fn point(at_ms: i64, cpu: f64, gpu: Option<f64>) -> MetricPoint {
        MetricPoint {
            at_ms,
            cpu_percent: cpu,
            ram_used_bytes: 1_000,
            ram_total_bytes: 4_000,
            gpu_percent: gpu,
            gpu_temperature_c: gpu.map(|_| 60.0),
        }
    }

    async fn heartbeats_average_into_buckets_at_every_resolution(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "box", NOW).await.expect("node");
        let start = NOW - NOW % 900_000;
        for (second, cpu) in [(0, 10.0), (1, 30.0), (6, 50.0), (61, 90.0)] {
            db.record_metrics(node, &point(start + second * 1_000, cpu, Some(cpu))).await.expect("record");
        }
        let fine = db.metric_history(node, FINE, start).await.expect("fine");
        assert_eq!(fine.iter().map(|p| p.cpu_percent).collect::<Vec<_>>(), vec![20.0, 50.0, 90.0]);
        let minute = db.metric_history(node, 60_000, start).await.expect("minute");
        assert_eq!(minute.iter().map(|p| p.cpu_percent).collect::<Vec<_>>(), vec![30.0, 90.0]);
        let coarse = db.metric_history(node, COARSE, start).await.expect("coarse");
        assert_eq!((coarse.len(), coarse[0].cpu_percent, coarse[0].gpu_percent), (1, 45.0, Some(45.0)));
    }

    async fn a_cpu_only_node_has_no_gpu_figures_and_old_buckets_are_pruned(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "box", NOW).await.expect("node");
        db.record_metrics(node, &point(NOW - 2 * 3_600_000, 5.0, None)).await.expect("old");
        db.record_metrics(node, &point(NOW, 5.0, None)).await.expect("new");
        let fine = db.metric_history(node, FINE, 0).await.expect("fine");
        assert_eq!((fine.len(), fine[1].gpu_percent), (2, None));
        assert_eq!(db.prune_metrics(NOW).await.expect("prune"), 1, "only the hour-old fine bucket goes");
        assert_eq!(db.metric_history(node, FINE, 0).await.expect("fine").len(), 1);
        assert_eq!(db.metric_history(node, 60_000, 0).await.expect("minute").len(), 2);
    }

    crate::both_backends!(
        heartbeats_average_into_buckets_at_every_resolution,
        a_cpu_only_node_has_no_gpu_figures_and_old_buckets_are_pruned,
    );
}
