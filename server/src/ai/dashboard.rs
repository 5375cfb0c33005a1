//! The AI page's figures: the catalogue with live warm workers, usage per day and per model (time to first token
//! p50/p95), recent requests.

use std::collections::BTreeMap;

use pictor_app::error::AppError;
use pictor_app::ports::AiDashboardService;
use pictor_core::accounts::Viewer;
use pictor_core::ai::{AiOverview, CatalogueModel, DailyAiUsage, HostedModel, ModelUsage, UsageLine};

use super::service::AiService;
use crate::clock::now_ms;
use crate::db::ai::UsageFigures;

const DAY_MS: i64 = 86_400_000;
/// How the Playground's requests (made without an API key) are labelled among keys.
const PLAYGROUND: &str = "Playground (dashboard)";
/// How far back the page's figures go.
const DAYS_SHOWN: i64 = 30;

#[async_trait::async_trait]
impl AiDashboardService for AiService {
    async fn overview(&self, viewer: &Viewer) -> Result<AiOverview, AppError> {
        let user = viewer.user_id;
        let failed = |error: crate::db::DbError| {
            tracing::error!(%error, "the AI page's figures failed");
            AppError::Unavailable
        };
        let models = self.catalogue(viewer).await?;
        let hosted = self.hosted_models(user).await.map_err(failed)?;
        let since = (now_ms() / DAY_MS - DAYS_SHOWN + 1) * DAY_MS;
        let figures = self.db.ai_usage_since(user, since).await.map_err(failed)?;
        let recent = self.db.ai_usage(user, 10).await.map_err(failed)?;
        let (spent_micro, requests) = self.db.ai_spent(user).await.map_err(failed)?;
        Ok(AiOverview {
            models,
            hosted,
            by_day: by_day(&figures),
            by_model: grouped(&figures, |row| row.model_id.clone()),
            by_key: grouped(&figures, |row| row.key_name.clone().unwrap_or_else(|| PLAYGROUND.to_string())),
            recent: recent
                .into_iter()
                .map(|row| UsageLine {
                    id: row.id,
                    model: row.model,
                    kind: row.kind,
                    prompt_tokens: row.prompt_tokens,
                    completion_tokens: row.completion_tokens,
                    ttft_ms: row.ttft_ms,
                    duration_ms: row.duration_ms,
                    cost_micro: row.cost_micro,
                    outcome: row.outcome.unwrap_or_default(),
                    created_at_ms: row.created_at_ms,
                })
                .collect(),
            spent_micro,
            requests,
        })
    }

    async fn catalogue(&self, viewer: &Viewer) -> Result<Vec<CatalogueModel>, AppError> {
        let mut models = self.db.ai_models_for(viewer.user_id).await.map_err(|error| {
            tracing::error!(%error, "reading the AI catalogue failed");
            AppError::Unavailable
        })?;
        for model in &mut models {
            model.warm_workers = self.gateway.warm_count(&model.id) as i64;
        }
        Ok(models)
    }

    async fn hosted(&self, viewer: &Viewer) -> Result<Vec<HostedModel>, AppError> {
        self.hosted_models(viewer.user_id).await.map_err(|error| {
            tracing::error!(%error, "listing hosted models failed");
            AppError::Unavailable
        })
    }
}

impl AiService {
    /// A user's uploaded models with their deployments and the workers (by name) holding them now.
    pub async fn hosted_models(&self, user: crate::db::users::UserId) -> Result<Vec<HostedModel>, crate::db::DbError> {
        let owned = self.db.owned_models(user).await?;
        if owned.is_empty() {
            return Ok(Vec::new());
        }
        let workers = self.gateway.warm_workers();
        let names = self.db.node_names(&workers.iter().map(|w| w.node).collect::<Vec<_>>()).await?;
        Ok(owned
            .into_iter()
            .map(|owned| {
                let warm_on: Vec<String> = workers
                    .iter()
                    .filter(|worker| worker.models.iter().any(|m| m.id == owned.model.id))
                    .map(|worker| names.get(&worker.node).cloned().unwrap_or_else(|| worker.node.to_string()))
                    .collect();
                let mut model = owned.model;
                model.warm_workers = warm_on.len() as i64;
                HostedModel { model, files: owned.files, deployment: owned.deployment, warm_on }
            })
            .collect())
    }
}

fn by_day(figures: &[UsageFigures]) -> Vec<DailyAiUsage> {
    let mut days: BTreeMap<i64, DailyAiUsage> = BTreeMap::new();
    for row in figures {
        let day_ms = row.created_at_ms.div_euclid(DAY_MS) * DAY_MS;
        let day = days.entry(day_ms).or_insert(DailyAiUsage { day_ms, ..Default::default() });
        day.tokens += row.prompt_tokens + row.completion_tokens;
        day.cost_micro += row.cost_micro;
    }
    days.into_values().collect()
}

/// The value below which a share `p` of the sorted values lie.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * p).round() as usize])
}

/// Requests grouped by the label `group` gives each (a model, a key), with time to first token p50/p95.
fn grouped(figures: &[UsageFigures], group: impl Fn(&UsageFigures) -> String) -> Vec<ModelUsage> {
    let mut models: BTreeMap<String, (ModelUsage, Vec<i64>)> = BTreeMap::new();
    for row in figures {
        let label = group(row);
        let (usage, ttfts) = models
            .entry(label.clone())
            .or_insert_with(|| (ModelUsage { model: label, ..Default::default() }, Vec::new()));
        usage.requests += 1;
        usage.prompt_tokens += row.prompt_tokens;
        usage.completion_tokens += row.completion_tokens;
        usage.cost_micro += row.cost_micro;
        ttfts.extend(row.ttft_ms);
    }
    models
        .into_values()
        .map(|(mut usage, mut ttfts)| {
            ttfts.sort_unstable();
            usage.ttft_p50_ms = percentile(&ttfts, 0.5);
            usage.ttft_p95_ms = percentile(&ttfts, 0.95);
            usage
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, day: i64, cost: i64, ttft: i64) -> UsageFigures {
        UsageFigures {
            model_id: model.into(),
            key_name: (day > 0).then(|| "ci".to_string()),
            prompt_tokens: 10,
            completion_tokens: 5,
            cost_micro: cost,
            ttft_ms: Some(ttft),
            created_at_ms: day * DAY_MS + 1_000,
        }
    }

    #[test]
    fn usage_is_summed_per_day_and_per_model_with_ttft_percentiles() {
        let rows: Vec<UsageFigures> =
            (1..=20).map(|i| row(if i % 2 == 0 { "a" } else { "b" }, i / 10, 3, i * 10)).collect();
        let days = by_day(&rows);
        assert_eq!(days.iter().map(|d| d.cost_micro).sum::<i64>(), 60);
        assert_eq!(days.len(), 3);
        let models = grouped(&rows, |row| row.model_id.clone());
        assert_eq!(models[0].model, "a");
        assert_eq!(models[0].requests, 10);
        assert_eq!(models[0].ttft_p50_ms, Some(120));
        assert_eq!(models[0].ttft_p95_ms, Some(200));
        assert_eq!(percentile(&[], 0.5), None);
        let keys = grouped(&rows, |row| row.key_name.clone().unwrap_or_else(|| PLAYGROUND.to_string()));
        let labels: Vec<(&str, i64)> = keys.iter().map(|k| (k.model.as_str(), k.requests)).collect();
        assert_eq!(labels, vec![(PLAYGROUND, 9), ("ci", 11)]);
    }
}
