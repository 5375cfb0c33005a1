//! Conformance with the official OpenAI Python SDK (`.venv`, installed by `scripts/setup`): models, chat with and
//! without streaming, completions, embeddings in both encodings, and the SDK's typed errors.

use std::path::PathBuf;
use std::process::Command;

use pictor_server::db::Backend;

use crate::ai_api::{ai_app, caller, limited_key, serving_agent, CHAT_MODEL, EMBEDDING_MODEL};

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup (it installs the OpenAI SDK)", python.display());
    python
}

async fn the_official_python_sdk_works_against_pictor(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, owner_cookie, _) = caller(&app, "Grace", 0).await;
    let _agent = serving_agent(&app, &owner_cookie, "gpu-box", &[CHAT_MODEL, EMBEDDING_MODEL], &[]).await;
    let (user, _, key) = caller(&app, "Ada", 5).await;
    let (_, _, broke_key) = caller(&app, "Broke", 0).await;
    let limited = limited_key(&app, user, &key).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_sdk/conformance.py");
    let base_url = app.url("/v1");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .env("PICTOR_BASE_URL", base_url)
            .env("PICTOR_KEY", key)
            .env("PICTOR_BROKE_KEY", broke_key)
            .env("PICTOR_LIMITED_KEY", limited)
            .output()
            .expect("python runs")
    })
    .await
    .expect("join");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK conformance script failed:\n{printed}");
    assert!(printed.contains("checks passed"), "{printed}");
    eprintln!("{printed}");
}

crate::on_both_backends!(the_official_python_sdk_works_against_pictor);
