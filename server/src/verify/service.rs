//! The verification service: inspects finished results, plans checks, leases them to checkers (with audits now and
//! then), and turns verdicts into their consequences and live updates.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use pictor_core::ai_training::ReplayOrder;
use pictor_core::checkers::CheckerLive;
use pictor_core::events::Event;
use pictor_core::jobs::JobSpec;
use pictor_core::verification::{
    verdict_for, Crop, DetailGrid, Thresholds, Verdict, VerdictReport, VerificationAssignment, ROUND_ONE, ROUND_TWO,
};
use pictor_inference::training::CROSS_BUILD_TOLERANCE;

use super::cheap_checks::{inspect_with_detail, Inspection};
use super::planner::{check_probability, crop_side, crops_for, quorum, task_area};
use crate::config::VerificationConfig;
use crate::db::nodes::TokenNode;
use crate::db::tasks::{JobId, TaskId};
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::{NewVerification, VerificationId};
use crate::db::{Db, NodeId};
use crate::engine::verdicts::Settlement;
use crate::events::EventBus;

pub use super::error::VerifyError;

pub use crate::engine::workload::Intake;

#[derive(Clone)]
pub struct Verifier {
    pub db: Db,
    pub engine: crate::engine::Engine,
    pub store: Arc<dyn ObjectStore>,
    pub bus: EventBus,
    pub config: VerificationConfig,
}

fn frames_of(list: &str) -> Vec<i64> {
    list.split(',').filter_map(|frame| frame.trim().parse().ok()).collect()
}

fn crops_json(crops: &[Crop]) -> String {
    serde_json::to_string(crops).unwrap_or_else(|_| "[]".to_string())
}

/// A checker's verdict on a training segment, which must follow from the distance it measured: a pass within the
/// cross-build tolerance, a fail beyond bit-exactness (a checker on the worker's own build demands 0).
fn replay_verdict(report: &VerdictReport) -> Result<VerdictInput, VerifyError> {
    let distance = report
        .replay_distance
        .filter(|distance| *distance >= 0.0)
        .ok_or_else(|| VerifyError::BadReport("a replay's report needs its distance (0 or more)".into()))?;
    let consistent = match report.verdict {
        Verdict::Pass => distance <= CROSS_BUILD_TOLERANCE,
        Verdict::Fail => distance > 0.0,
        Verdict::Unsure => false,
    };
    if !consistent || !report.render_seconds.is_finite() {
        return Err(VerifyError::BadReport("the verdict does not follow from the replay's distance".into()));
    }
    Ok(VerdictInput {
        verdict: report.verdict,
        min_ssim: None,
        measurements_json: serde_json::json!({ "replay_distance": distance }).to_string(),
        render_ms: (report.render_seconds.max(0.0) * 1000.0) as i64,
    })
}

impl Verifier {
    fn thresholds(&self) -> Thresholds {
        Thresholds { pass: self.config.pass_ssim, fail: self.config.fail_ssim }
    }

    async fn spec_of(&self, job: JobId) -> Result<(JobSpec, String), VerifyError> {
        let info = self.db.job_render_info(job).await?.ok_or(VerifyError::NotFound)?;
        let spec = serde_json::from_str(&info.spec_json).map_err(|e| VerifyError::Corrupt(e.to_string()))?;
        Ok((spec, info.scene_sha256))
    }

    /// Inspects every frame `node` uploaded for this attempt, then decides whether checkers re-render it.
    pub async fn intake(&self, task: TaskId, attempt: i64, node: NodeId) -> Result<Intake, VerifyError> {
        let (job, tile, frames) = self.db.task_frames(task).await?.ok_or(VerifyError::NotFound)?;
        let (spec, _) = self.spec_of(job).await?;
        let area = task_area(&spec, tile);
        let cell = crop_side(&spec, &ROUND_ONE);
        let mut suspicious = false;
        let mut detail = Vec::new();
        for (frame, key) in self.db.attempt_outputs(task, attempt).await? {
            let bytes = self.store.get(&ObjectPath::from(key.as_str())).await?.bytes().await?;
            let (format, size) = (spec.format, spec.output_size());
            let inspected = tokio::task::spawn_blocking(move || inspect_with_detail(&bytes, format, size, area, cell))
                .await
                .map_err(|e| VerifyError::Corrupt(e.to_string()))?;
            match inspected.inspection {
                Inspection::Fine => {}
                Inspection::Uniform => suspicious = true,
                Inspection::Bad(why) => return Ok(Intake::Refuse(format!("frame {frame}: {why}"))),
            }
            if let Some((columns, rows, weights)) = inspected.detail {
                detail.push(DetailGrid { frame, cell, columns, rows, weights });
            }
        }
        let trust = self.db.worker_trust(node).await?;
        let engine = spec.engine.label().to_ascii_lowercase();
        let (blender_version, eligible) = self.checkers_for(trust.owner, &engine, task, attempt).await?;
        let Some(quorum) = quorum(self.config.quorum, eligible) else {
            // Nobody could check it: accepted as rendered (the job page shows it unchecked).
            return Ok(Intake::Accept(None));
        };
        if rand::random::<f64>() >= check_probability(&trust, suspicious) {
            return Ok(Intake::Accept(None));
        }
        let crops = crops_for(&spec, &frames_of(&frames), tile, &ROUND_ONE, &detail, rand::random::<f64>);
        Ok(Intake::Accept(Some(NewVerification {
            crops_json: crops_json(&crops),
            quorum,
            blender_version,
            ..Default::default()
        })))
    }

    /// Which Blender the checkers of this attempt must run, and how many could: those running the Blender that
    /// rendered it, whenever there are any (another version may not reproduce it bit for bit). Otherwise any
    /// Blender (empty), so that no one escapes checks by reporting a Blender no checker has.
    async fn checkers_for(
        &self,
        worker_owner: i64,
        engine: &str,
        task: TaskId,
        attempt: i64,
    ) -> Result<(String, i64), VerifyError> {
        let now = crate::clock::now_ms();
        let rendered_with = self.db.attempt_blender_version(task, attempt).await?;
        if !rendered_with.is_empty() {
            let same = self.db.eligible_checkers(worker_owner, engine, &rendered_with, now).await?;
            if same > 0 {
                return Ok((rendered_with, same));
            }
        }
        Ok((String::new(), self.db.eligible_checkers(worker_owner, engine, "", now).await?))
    }

    /// The next check for `checker`, an audit now and then (only checks of its owner's jobs with
    /// `own_jobs_only`); `None` when nothing waits.
    pub async fn lease(
        &self,
        checker: &TokenNode,
        own_jobs_only: bool,
        now_ms: i64,
    ) -> Result<Option<VerificationAssignment>, VerifyError> {
        if self.db.checker_suspended(checker.id).await? {
            return Ok(None);
        }
        if self.config.audit_rate > 0.0 && rand::random::<f64>() < self.config.audit_rate {
            if let Err(error) = super::audit::create(&self.db, self.store.as_ref(), checker, now_ms).await {
                tracing::warn!(%error, checker = %checker.id, "could not prepare an audit");
            }
        }
        let engines = self.db.worker_offer(checker.id).await?.engines;
        let lease_ms = i64::try_from(self.config.lease_ms).unwrap_or(300_000);
        let Some(leased) =
            self.db.lease_verification(checker.id, checker.owner, &engines, own_jobs_only, now_ms, lease_ms).await?
        else {
            return Ok(None);
        };
        if let Ok(order) = serde_json::from_str::<ReplayOrder>(&leased.crops_json) {
            // A training run's segment: replayed with candle, no scene.
            return Ok(Some(VerificationAssignment {
                verification_id: leased.id.into(),
                job_id: leased.job.into(),
                scene_sha256: order.dataset_sha256.clone(),
                settings: Default::default(),
                crops: Vec::new(),
                thresholds: self.thresholds(),
                lease_ms: self.config.lease_ms,
                training: Some(order),
            }));
        }
        let (spec, scene_sha256) = self.spec_of(leased.job).await?;
        let crops: Vec<Crop> =
            serde_json::from_str(&leased.crops_json).map_err(|e| VerifyError::Corrupt(e.to_string()))?;
        Ok(Some(VerificationAssignment {
            verification_id: leased.id.into(),
            job_id: leased.job.into(),
            scene_sha256,
            settings: spec.render_settings(),
            crops,
            thresholds: self.thresholds(),
            lease_ms: self.config.lease_ms,
            training: None,
        }))
    }

    /// Records a checker's verdict and applies what it decides; the report must be consistent with its own
    /// measurements.
    pub async fn submit(
        &self,
        checker: &TokenNode,
        verification: VerificationId,
        report: &VerdictReport,
        now_ms: i64,
    ) -> Result<Settlement, VerifyError> {
        let (stored, task) = self.db.verification_crops(verification).await?.ok_or(VerifyError::NotFound)?;
        if serde_json::from_str::<ReplayOrder>(&stored).is_ok() {
            let input = replay_verdict(report)?;
            let settlement = self.engine.record_verdict(verification, checker.id, &input, "[]", now_ms).await?;
            tracing::info!(%verification, checker = %checker.id, verdict = report.verdict.as_str(), ?settlement, "replay verdict");
            self.publish(checker, &settlement).await;
            return Ok(settlement);
        }
        let crops: Vec<Crop> = serde_json::from_str(&stored).map_err(|e| VerifyError::Corrupt(e.to_string()))?;
        if report.crops.len() != crops.len() {
            return Err(VerifyError::BadReport(format!(
                "{} measurements for {} crops",
                report.crops.len(),
                crops.len()
            )));
        }
        let ssims: Vec<f64> = report.crops.iter().map(|crop| crop.ssim).collect();
        if ssims.iter().any(|ssim| !(-1.0..=1.0).contains(ssim)) || !report.render_seconds.is_finite() {
            return Err(VerifyError::BadReport("SSIM must be between -1 and 1".into()));
        }
        if verdict_for(&ssims, &self.thresholds()) != report.verdict {
            return Err(VerifyError::BadReport("the verdict does not follow from the measurements".into()));
        }
        let (job, tile, frames) = self.db.task_frames(task).await?.ok_or(VerifyError::NotFound)?;
        let (spec, _) = self.spec_of(job).await?;
        let next = crops_for(&spec, &frames_of(&frames), tile, &ROUND_TWO, &[], rand::random::<f64>);
        let input = VerdictInput {
            verdict: report.verdict,
            min_ssim: ssims.iter().copied().reduce(f64::min),
            measurements_json: serde_json::to_string(&report.crops).unwrap_or_default(),
            render_ms: (report.render_seconds.max(0.0) * 1000.0) as i64,
        };
        let settlement =
            self.engine.record_verdict(verification, checker.id, &input, &crops_json(&next), now_ms).await?;
        tracing::info!(%verification, checker = %checker.id, verdict = report.verdict.as_str(), ?settlement, "verdict");
        self.publish(checker, &settlement).await;
        Ok(settlement)
    }

    /// Live updates: the checker's counts (and an audited checker's) to its owner. The engine told the tasks'
    /// owners and the waiting agents.
    async fn publish(&self, checker: &TokenNode, settlement: &Settlement) {
        let mut checkers = vec![checker.id];
        if let Settlement::Audit { checker, .. } = settlement {
            checkers.push(*checker);
        }
        checkers.dedup();
        for node in checkers {
            match self.db.checker_counts(node).await {
                Ok(Some((owner_id, counts))) => {
                    self.bus.publish(Event::Checker(CheckerLive { node_id: node.into(), owner_id, counts }))
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, %node, "cannot publish a checker update"),
            }
        }
    }
}
