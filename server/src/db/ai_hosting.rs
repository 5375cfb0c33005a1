//! The SQL of hosted models: models made of uploaded files, and deployments (prices, warm workers, requirements).
//! What is accepted and where a model runs is decided in `ai::hosting` and `ai::placement`.

use pictor_core::ai::{CatalogueModel, Deployment, DeploymentRequirements, ModelFile, ModelKind};
use sqlx::Row;

use super::ai::{catalogue_model, NewModel, MODEL_COLUMNS};
use super::users::UserId;
use super::{Db, DbError};

/// What a worker needs to load a model: its kind, weights hash and size, and the files to fetch (none for the
/// network's own models, which come from the worker's cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
    pub id: String,
    pub kind: ModelKind,
    pub sha256: String,
    pub bytes: i64,
    pub files: Vec<ModelFile>,
    pub owner: Option<UserId>,
}

/// One of a user's uploaded models with its files and deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedModel {
    pub model: CatalogueModel,
    pub files: Vec<ModelFile>,
    pub deployment: Option<Deployment>,
}

/// What a deployment's requirements are matched against: a worker's hardware and its owner's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTraits {
    pub vram_bytes: i64,
    /// ` | `-separated.
    pub gpu_models: String,
    /// Comma-separated.
    pub tags: String,
    pub region: String,
}

fn files_of(row: &sqlx::any::AnyRow) -> Result<Vec<ModelFile>, DbError> {
    let files: Option<String> = row.try_get("files")?;
    match files {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|_| DbError::Corrupt("a model's file list")),
    }
}

fn deployment_of(row: &sqlx::any::AnyRow, model: &CatalogueModel) -> Result<Option<Deployment>, DbError> {
    let min_warm: Option<i64> = row.try_get("min_warm")?;
    let Some(min_warm) = min_warm else { return Ok(None) };
    let max_workers: i64 = row.try_get("max_workers")?;
    let requirements: String = row.try_get("requirements")?;
    Ok(Some(Deployment {
        model: model.id.clone(),
        input_price_micro_per_m: model.input_price_micro_per_m,
        output_price_micro_per_m: model.output_price_micro_per_m,
        min_warm: u32::try_from(min_warm).unwrap_or(0),
        max_workers: u32::try_from(max_workers).unwrap_or(0),
        requirements: serde_json::from_str::<DeploymentRequirements>(&requirements)
            .map_err(|_| DbError::Corrupt("a deployment's requirements"))?,
    }))
}

impl Db {
    /// Adds an uploaded model with its files; false when its name is taken.
    pub async fn add_hosted_model(&self, model: &NewModel, files: &[ModelFile], now_ms: i64) -> Result<bool, DbError> {
        let files = serde_json::to_string(files).map_err(|_| DbError::Corrupt("a model's file list"))?;
        self.insert_model(model, Some(files), now_ms).await
    }

    /// The models `owner` uploaded, newest first, with their deployments.
    pub async fn owned_models(&self, owner: UserId) -> Result<Vec<OwnedModel>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS}, m.files, d.min_warm, d.max_workers, d.requirements
             FROM ai_models m LEFT JOIN users u ON u.id = m.owner_user_id
             LEFT JOIN ai_deployments d ON d.model_id = m.id
             WHERE m.owner_user_id = $1 ORDER BY m.created_at_ms DESC, m.id"
        ))
        .bind(owner)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                let model = catalogue_model(row)?;
                let deployment = deployment_of(row, &model)?;
                Ok(OwnedModel { files: files_of(row)?, deployment, model })
            })
            .collect()
    }

    /// What a worker needs to load model `id`.
    pub async fn load_spec(&self, id: &str) -> Result<Option<LoadSpec>, DbError> {
        let row = sqlx::query("SELECT id, kind, sha256, bytes, files, owner_user_id FROM ai_models WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(LoadSpec {
                id: row.try_get("id")?,
                kind: ModelKind::parse(&kind).ok_or(DbError::Corrupt("a model's kind"))?,
                sha256: row.try_get("sha256")?,
                bytes: row.try_get("bytes")?,
                files: files_of(&row)?,
                owner: row.try_get("owner_user_id")?,
            })
        })
        .transpose()
    }

    /// Whether any model is made of the file with this hash (so it must not be deleted).
    pub async fn model_file_in_use(&self, sha256: &str) -> Result<bool, DbError> {
        let pattern = format!("%\"{sha256}\"%");
        let count: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ai_models WHERE files LIKE $1")
            .bind(pattern)
            .fetch_one(self.reader())
            .await?;
        Ok(count > 0)
    }

    /// Creates or changes the deployment of one of `owner`'s models, with its prices.
    pub async fn set_deployment(&self, owner: UserId, deployment: &Deployment, now_ms: i64) -> Result<(), DbError> {
        let requirements =
            serde_json::to_string(&deployment.requirements).map_err(|_| DbError::Corrupt("requirements"))?;
        let mut tx = self.begin_write().await?;
        let priced = sqlx::query(
            "UPDATE ai_models SET input_price_micro_per_m = $1, output_price_micro_per_m = $2
             WHERE id = $3 AND owner_user_id = $4",
        )
        .bind(deployment.input_price_micro_per_m)
        .bind(deployment.output_price_micro_per_m)
        .bind(&deployment.model)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if priced.rows_affected() == 0 {
            return Err(DbError::NotFound("model of yours"));
        }
        sqlx::query(
            "INSERT INTO ai_deployments (model_id, min_warm, max_workers, requirements, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (model_id) DO UPDATE SET min_warm = excluded.min_warm, max_workers = excluded.max_workers,
                 requirements = excluded.requirements, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&deployment.model)
        .bind(i64::from(deployment.min_warm))
        .bind(i64::from(deployment.max_workers))
        .bind(requirements)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every deployment on the network (the placement loop keeps them warm).
    pub async fn deployments(&self) -> Result<Vec<Deployment>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS}, d.min_warm, d.max_workers, d.requirements
             FROM ai_deployments d JOIN ai_models m ON m.id = d.model_id LEFT JOIN users u ON u.id = m.owner_user_id
             ORDER BY m.id"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .filter_map(|row| match catalogue_model(row) {
                Ok(model) => deployment_of(row, &model).transpose(),
                Err(error) => Some(Err(error)),
            })
            .collect()
    }

    /// A node's hardware and settings, as deployments' requirements read them.
    pub async fn node_traits(&self, node: super::NodeId) -> Result<NodeTraits, DbError> {
        let row = sqlx::query("SELECT vram_bytes, gpu_models, tags, region FROM nodes WHERE id = $1")
            .bind(node)
            .fetch_optional(self.reader())
            .await?
            .ok_or(DbError::NotFound("node"))?;
        Ok(NodeTraits {
            vram_bytes: row.try_get("vram_bytes")?,
            gpu_models: row.try_get("gpu_models")?,
            tags: row.try_get("tags")?,
            region: row.try_get("region")?,
        })
    }

    /// The names of some nodes, by id (for pages listing workers the gateway knows by id).
    pub async fn node_names(
        &self,
        nodes: &[super::NodeId],
    ) -> Result<std::collections::HashMap<super::NodeId, String>, DbError> {
        let mut names = std::collections::HashMap::new();
        for node in nodes {
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM nodes WHERE id = $1")
                .bind(*node)
                .fetch_optional(self.reader())
                .await?;
            if let Some(name) = name {
                names.insert(*node, name);
            }
        }
        Ok(names)
    }

    /// Deletes one of `owner`'s uploaded models and its deployment; returns its files.
    pub async fn delete_hosted_model(&self, owner: UserId, id: &str) -> Result<Vec<ModelFile>, DbError> {
        let row = sqlx::query("DELETE FROM ai_models WHERE id = $1 AND owner_user_id = $2 RETURNING files")
            .bind(id)
            .bind(owner)
            .fetch_optional(self.writer())
            .await?;
        match row {
            Some(row) => files_of(&row),
            None => Err(DbError::NotFound("model of yours")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hosted_models_and_deployments_round_trip(db: Db) {
        {
            let owner = db.create_user("maker", 0).await.expect("user");
            let other = db.create_user("other", 0).await.expect("user");
            let file = ModelFile { name: "model.gguf".into(), sha256: "ab".repeat(32), bytes: 10 };
            let model = NewModel {
                id: "my-chat".into(),
                kind: ModelKind::Chat,
                owner: Some(owner),
                public: false,
                sha256: file.sha256.clone(),
                bytes: 10,
                context_length: 2048,
                input_price_micro_per_m: 0,
                output_price_micro_per_m: 0,
            };
            assert!(db.add_hosted_model(&model, std::slice::from_ref(&file), 1).await.expect("add"));
            assert!(!db.add_hosted_model(&model, &[], 2).await.expect("add again"), "the name is taken");
            assert!(db.model_file_in_use(&file.sha256).await.expect("in use"));
            assert!(!db.model_file_in_use(&"cd".repeat(32)).await.expect("not in use"));

            let spec = db.load_spec("my-chat").await.expect("spec").expect("found");
            assert_eq!((spec.kind, spec.files.clone(), spec.owner), (ModelKind::Chat, vec![file.clone()], Some(owner)));

            let deployment = Deployment {
                model: "my-chat".into(),
                input_price_micro_per_m: 100_000,
                output_price_micro_per_m: 300_000,
                min_warm: 1,
                max_workers: 2,
                requirements: DeploymentRequirements { tags: vec!["gpu".into()], ..Default::default() },
            };
            let refused = db.set_deployment(other, &deployment, 3).await;
            assert!(matches!(refused, Err(DbError::NotFound(_))), "{refused:?}");
            assert!(db.deployments().await.expect("none").is_empty(), "a refused deployment changed nothing");
            db.set_deployment(owner, &deployment, 3).await.expect("deploy");
            db.set_deployment(owner, &Deployment { min_warm: 2, ..deployment.clone() }, 4).await.expect("scale");
            let all = db.deployments().await.expect("deployments");
            assert_eq!(all, vec![Deployment { min_warm: 2, ..deployment.clone() }]);

            let owned = db.owned_models(owner).await.expect("owned");
            assert_eq!(owned.len(), 1);
            assert_eq!(owned[0].model.input_price_micro_per_m, 100_000);
            assert_eq!(owned[0].deployment.as_ref().map(|d| d.min_warm), Some(2));
            assert!(db.owned_models(other).await.expect("none").is_empty());

            assert!(db.delete_hosted_model(other, "my-chat").await.is_err());
            assert_eq!(db.delete_hosted_model(owner, "my-chat").await.expect("deleted"), vec![file]);
            assert!(db.deployments().await.expect("gone").is_empty());
        }
    }

    crate::both_backends!(hosted_models_and_deployments_round_trip);
}
