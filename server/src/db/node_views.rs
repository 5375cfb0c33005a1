//! Reading nodes as their owners see them: status (with the sleep schedule applied), settings, hardware.

use pictor_core::agent_protocol::Hardware;
use pictor_core::signin::{blender_release, ReportedCapability};
use pictor_core::workers::{NodeStatus, SleepSchedule, WorkerSettings, WorkerSummary};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::nodes::{NodeId, NodeKind};
use super::users::UserId;
use super::{Db, DbError};

/// A node row with everything the pages show.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub summary: WorkerSummary,
    pub owner: UserId,
    pub hardware: Option<Hardware>,
    pub agent_version: Option<String>,
    pub created_at_ms: i64,
}

const COLUMNS: &str = "id, owner_id, name, online, last_seen_at_ms, disabled_at_ms, agent_version, hardware_json,
    benchmark_score, price_micro_per_minute, tags, region, sleep_enabled, sleep_days, sleep_start_minute,
    sleep_end_minute, utc_offset_minutes, created_at_ms";

/// Status from the stored facts: disabled beats everything; online nodes inside their schedule are asleep.
pub fn status_of(disabled: bool, online: bool, ever_seen: bool, sleep: &SleepSchedule, now_ms: i64) -> NodeStatus {
    match (disabled, online, ever_seen) {
        (true, _, _) => NodeStatus::Disabled,
        (false, true, _) if sleep.is_asleep(now_ms) => NodeStatus::Asleep,
        (false, true, _) => NodeStatus::Online,
        (false, false, true) => NodeStatus::Offline,
        (false, false, false) => NodeStatus::New,
    }
}

/// "Intel Xeon · 8 cores · 2× RTX 4090" from what the agent reported.
pub fn hardware_brief(hardware: &Hardware) -> String {
    let mut parts = vec![hardware.cpu_model.clone(), format!("{} cores", hardware.cpu_cores)];
    if let Some(first) = hardware.gpus.first() {
        let same = hardware.gpus.iter().filter(|gpu| gpu.model == first.model).count();
        parts.push(if same > 1 { format!("{same}× {}", first.model) } else { first.model.clone() });
    } else {
        parts.push("CPU only".to_string());
    }
    parts.join(" · ")
}

fn node_view(row: &AnyRow, now_ms: i64) -> Result<NodeView, sqlx::Error> {
    let narrow = |value: i64| value.clamp(0, i64::from(u16::MAX)) as u16;
    let sleep = SleepSchedule {
        enabled: row.try_get::<i64, _>("sleep_enabled")? != 0,
        days: row.try_get::<i64, _>("sleep_days")?.clamp(0, 127) as u8,
        start_minute: narrow(row.try_get("sleep_start_minute")?),
        end_minute: narrow(row.try_get("sleep_end_minute")?),
        utc_offset_minutes: row.try_get::<i64, _>("utc_offset_minutes")?.clamp(-840, 840) as i16,
    };
    let disabled = row.try_get::<Option<i64>, _>("disabled_at_ms")?.is_some();
    let last_seen_at_ms: Option<i64> = row.try_get("last_seen_at_ms")?;
    let online = row.try_get::<i64, _>("online")? != 0;
    // A report we cannot read (an older agent) is shown as unknown rather than failing the page.
    let hardware: Option<Hardware> =
        row.try_get::<Option<String>, _>("hardware_json")?.and_then(|json| serde_json::from_str(&json).ok());
    let tags: String = row.try_get("tags")?;
    let summary = WorkerSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: status_of(disabled, online, last_seen_at_ms.is_some(), &sleep, now_ms),
        last_seen_at_ms,
        hardware_brief: hardware.as_ref().map(hardware_brief),
        benchmark_score: row
            .try_get::<Option<i64>, _>("benchmark_score")?
            .map(|s| s.clamp(0, i64::from(u32::MAX)) as u32),
        settings: WorkerSettings {
            price_micro_per_minute: row.try_get("price_micro_per_minute")?,
            sleep,
            tags: tags.split(',').filter(|tag| !tag.is_empty()).map(str::to_string).collect(),
            region: row.try_get("region")?,
            enabled: !disabled,
        },
        // The ledger and tasks arrive with their issues; until then nothing has been earned or rendered.
        earned_micro: 0,
        tasks_done: 0,
        ai_models: Vec::new(),
        ai_tokens: 0,
        ai_earned_micro: 0,
    };
    Ok(NodeView {
        summary,
        owner: row.try_get("owner_id")?,
        hardware,
        agent_version: row.try_get("agent_version")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl Db {
    /// Every Blender version and engine enabled workers reported, with whether the worker is online now
    /// (for the sign-in page's "supported software").
    pub async fn reported_capabilities(&self) -> Result<Vec<ReportedCapability>, DbError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT hardware_json, online FROM nodes
             WHERE kind = 'worker' AND hardware_json IS NOT NULL AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .fetch_all(self.reader())
        .await?;
        let mut capabilities = Vec::new();
        for (json, online) in rows {
            let Ok(hardware) = serde_json::from_str::<Hardware>(&json) else { continue };
            for blender in &hardware.blenders {
                for engine in &blender.engines {
                    capabilities.push(ReportedCapability {
                        software: "Blender".to_string(),
                        version: blender_release(&blender.version),
                        engine: engine.clone(),
                        online: online != 0,
                    });
                }
            }
        }
        Ok(capabilities)
    }

    /// The owner's nodes of one kind, newest first.
    pub async fn nodes_of(&self, owner: UserId, kind: NodeKind, now_ms: i64) -> Result<Vec<NodeView>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM nodes WHERE owner_id = $1 AND kind = $2 AND deleted_at_ms IS NULL ORDER BY id DESC"
        ))
        .bind(owner)
        .bind(kind.as_str())
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(|row| node_view(row, now_ms)).collect::<Result<_, _>>()?)
    }

    /// One node, if `owner` owns it.
    pub async fn node_of(&self, owner: UserId, node: NodeId, now_ms: i64) -> Result<Option<NodeView>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM nodes WHERE id = $1 AND owner_id = $2 AND deleted_at_ms IS NULL"
        ))
        .bind(node)
        .bind(owner)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(|row| node_view(&row, now_ms)).transpose()?)
    }

    /// One node by id, whoever owns it (for events raised by the node itself).
    pub async fn node_view(&self, node: NodeId, now_ms: i64) -> Result<Option<NodeView>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM nodes WHERE id = $1"))
            .bind(node)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|row| node_view(&row, now_ms)).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_core::agent_protocol::GpuInfo;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn status_follows_disabled_online_and_sleep() {
        let awake = SleepSchedule::default();
        let always =
            SleepSchedule { enabled: true, days: 127, start_minute: 0, end_minute: 1439, utc_offset_minutes: 0 };
        assert_eq!(status_of(false, false, false, &awake, NOW), NodeStatus::New);
        assert_eq!(status_of(false, true, true, &awake, NOW), NodeStatus::Online);
        assert_eq!(status_of(false, false, true, &awake, NOW), NodeStatus::Offline);
        assert_eq!(status_of(true, true, true, &awake, NOW), NodeStatus::Disabled);
        assert_eq!(status_of(false, true, true, &always, NOW), NodeStatus::Asleep);
    }

    #[test]
    fn the_hardware_brief_groups_identical_gpus() {
        let gpu = GpuInfo { model: "RTX 4090".into(), vram_bytes: 24 << 30, driver: None, cuda: None };
        let hardware = Hardware {
            cpu_model: "Ryzen 9".into(),
            cpu_cores: 16,
            gpus: vec![gpu.clone(), gpu],
            ..Hardware::default()
        };
        assert_eq!(hardware_brief(&hardware), "Ryzen 9 · 16 cores · 2× RTX 4090");
        assert_eq!(hardware_brief(&Hardware { gpus: vec![], ..hardware }), "Ryzen 9 · 16 cores · CPU only");
    }

    async fn owners_see_only_their_nodes_with_settings_applied(db: Db) {
        let ada = db.create_user("Ada", NOW).await.expect("user");
        let bob = db.create_user("Bob", NOW).await.expect("user");
        let node = db.create_node(ada, NodeKind::Worker, "box", NOW).await.expect("node");
        let settings = WorkerSettings {
            price_micro_per_minute: 250_000,
            tags: vec!["gpu".into(), "eu".into()],
            region: "eu-west".into(),
            enabled: true,
            sleep: SleepSchedule { enabled: true, days: 1, start_minute: 60, end_minute: 120, utc_offset_minutes: 60 },
        };
        db.update_worker_settings(ada, node, &settings, NOW).await.expect("settings");
        assert!(matches!(db.update_worker_settings(bob, node, &settings, NOW).await, Err(DbError::NotFound(_))));
        let view = db.node_of(ada, node, NOW).await.expect("read").expect("found");
        assert_eq!(view.summary.settings, settings);
        assert_eq!(view.summary.status, NodeStatus::New);
        assert_eq!(db.node_of(bob, node, NOW).await.expect("read"), None);
        assert_eq!(db.nodes_of(bob, NodeKind::Worker, NOW).await.expect("list"), vec![]);
        db.update_worker_settings(ada, node, &WorkerSettings { enabled: false, ..settings }, NOW).await.expect("off");
        let view = db.nodes_of(ada, NodeKind::Worker, NOW).await.expect("list");
        assert_eq!(view[0].summary.status, NodeStatus::Disabled);
    }

    crate::both_backends!(owners_see_only_their_nodes_with_settings_applied);
}
