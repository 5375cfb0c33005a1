//! The coordinator's services, built once at start-up and shared by the REST handlers, the agent API and the
//! dashboard's server functions (no request builds its own).

use std::sync::Arc;

use object_store::ObjectStore;

use crate::ai::batch_workload::AiBatchWorkload;
use crate::ai::gateway::Gateway;
use crate::ai::limits::KeyLimits;
use crate::ai::service::AiService;
use crate::ai::training_workload::AiTrainWorkload;
use crate::api::accounts::DbAccounts;
use crate::config::Config;
use crate::db::Db;
use crate::engine::workload::Workloads;
use crate::engine::Engine;
use crate::events::EventBus;
use crate::money::service::DbLedger;
use crate::nodes::checkers::DbCheckers;
use crate::nodes::service::DbWorkers;
use crate::render::service::DbJobs;
use crate::render::workload::RenderWorkload;
use crate::verify::service::Verifier;

pub struct Services {
    pub accounts: Arc<DbAccounts>,
    pub workers: Arc<DbWorkers>,
    pub checkers: Arc<DbCheckers>,
    pub jobs: Arc<DbJobs>,
    pub ledger: Arc<DbLedger>,
    pub verifier: Arc<Verifier>,
    /// The kinds of work this coordinator runs (rendering, AI batch chunks).
    pub workloads: Workloads,
    /// The AI API: the workers serving models, and requests from start to settlement.
    pub ai: AiService,
}

/// What the services are built from.
pub struct Parts<'a> {
    pub db: &'a Db,
    pub store: &'a Arc<dyn ObjectStore>,
    pub bus: &'a EventBus,
    /// The task engine, publishing what its transitions change.
    pub engine: &'a Engine,
    pub config: &'a Config,
    /// The coordinator URL written into nodes' config files.
    pub public_origin: &'a str,
    /// The OpenID Connect provider's name when its sign-in is configured.
    pub oidc_provider: Option<String>,
}

impl Services {
    pub fn build(parts: Parts<'_>) -> Self {
        let Parts { db, store, bus, engine, config, public_origin, oidc_provider } = parts;
        let verifier = Arc::new(Verifier {
            db: db.clone(),
            engine: engine.clone(),
            store: store.clone(),
            bus: bus.clone(),
            config: config.verification.clone(),
        });
        let gateway = Gateway::default();
        let workloads = Workloads::default()
            .with(Arc::new(RenderWorkload { verifier: verifier.clone() }))
            .with(Arc::new(AiBatchWorkload { db: db.clone(), store: store.clone(), gateway: gateway.clone() }))
            .with(Arc::new(AiTrainWorkload { db: db.clone() }));
        Self {
            accounts: Arc::new(DbAccounts { db: db.clone(), chain_id: config.aptos_chain_id, oidc_provider }),
            workers: Arc::new(DbWorkers {
                db: db.clone(),
                public_origin: public_origin.to_string(),
                ai_gateway: gateway.clone(),
            }),
            checkers: Arc::new(DbCheckers { db: db.clone(), public_origin: public_origin.to_string() }),
            jobs: Arc::new(DbJobs {
                db: db.clone(),
                engine: engine.clone(),
                unchecked_after_ms: i64::try_from(config.verification.unchecked_after_ms).unwrap_or(i64::MAX),
            }),
            ledger: Arc::new(DbLedger {
                db: db.clone(),
                engine: engine.clone(),
                config: config.ledger.clone(),
                bus: bus.clone(),
            }),
            verifier,
            workloads,
            ai: AiService {
                db: db.clone(),
                gateway,
                keys: crate::ai::key_cache::KeyCache::default(),
                limits: KeyLimits::default(),
                config: config.ai.clone(),
                checker_share_percent: i64::from(config.ledger.checker_share_percent),
                bus: bus.clone(),
            },
        }
    }
}
