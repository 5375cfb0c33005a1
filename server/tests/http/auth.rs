//! Sign-in over HTTP: Petra wallet proofs (and every way to get one wrong), sessions, CSRF, API keys.

use ed25519_dalek::{Signer, SigningKey};
use pictor_server::auth::petra::derive_address;
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn alice() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A Petra-shaped proof: `fields` may override what the wallet would put in the signed message.
struct Wallet {
    key: SigningKey,
}

impl Wallet {
    fn address(&self) -> String {
        derive_address(&self.key.verifying_key().to_bytes())
    }

    fn full_message(&self, address: &str, application: &str, chain: u64, nonce: &str) -> String {
        format!(
            "APTOS\naddress: {address}\napplication: {application}\nchainId: {chain}\nmessage: {}\nnonce: {nonce}",
            pictor_server::auth::petra::sign_in_statement()
        )
    }

    fn proof(&self, address: &str, full_message: &str, nonce: &str) -> Value {
        json!({
            "address": address,
            "public_key": format!("0x{}", hex::encode(self.key.verifying_key().to_bytes())),
            "full_message": full_message,
            "signature": hex::encode(self.key.sign(full_message.as_bytes()).to_bytes()),
            "nonce": nonce,
        })
    }

    fn honest_proof(&self, app: &TestApp, nonce: &str) -> Value {
        let address = self.address();
        self.proof(&address, &self.full_message(&address, &app.origin(), 1, nonce), nonce)
    }
}

async fn challenge(app: &TestApp, address: &str) -> String {
    let response = app.post_json("/auth/petra/challenge", &json!({ "address": address }), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["chain_id"], 1);
    body["nonce"].as_str().expect("nonce").to_string()
}

/// Submits `proof` to Petra's verification and expects a 400 naming `expected`, with nothing created.
async fn assert_refused(app: &TestApp, proof: &Value, expected: &str) {
    assert_refused_at(app, "/auth/petra/verify", proof, expected).await;
}

/// Submits a wallet's `proof` to `path` and expects a 400 naming `expected`, with no account and no session created.
pub async fn assert_refused_at(app: &TestApp, path: &str, proof: &Value, expected: &str) {
    let users_before = app.db.count_users().await.expect("count");
    let response = app.post_json(path, proof, None).await;
    assert_eq!(response.status(), 400, "refused: {expected}");
    assert!(response.headers().get("set-cookie").is_none(), "no session for a refused proof");
    let body: Value = response.json().await.expect("json");
    let message = body["error"].as_str().expect("error message");
    assert!(message.contains(expected), "{message:?} should mention {expected:?}");
    assert_eq!(app.db.count_users().await.expect("count"), users_before, "nothing created");
}

async fn a_wallet_signs_in_keeps_its_session_and_signs_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let wallet = Wallet { key: alice() };
    let nonce = challenge(&app, &wallet.address()).await;
    let response = app.post_json("/auth/petra/verify", &wallet.honest_proof(&app, &nonce), None).await;
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().expect("ascii").to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("pair").to_string();

    let me: Value = app.get_with_cookie("/api/v1/me", &cookie).await.json().await.expect("json");
    assert!(me["display_name"].as_str().expect("name").starts_with("0x"), "{me}");
    assert_eq!(app.get_with_cookie("/rendering", &cookie).await.status(), 200);

    // Signing in again with the same wallet finds the same account and rotates the session token.
    let nonce = challenge(&app, &wallet.address()).await;
    let again = app.post_json("/auth/petra/verify", &wallet.honest_proof(&app, &nonce), None).await;
    let second_cookie =
        again.headers()["set-cookie"].to_str().expect("ascii").split(';').next().expect("pair").to_string();
    assert_ne!(second_cookie, cookie, "a fresh token at every sign-in");
    assert_eq!(app.db.count_users().await.expect("count"), 1);

    let logout = app.post_json("/auth/logout", &json!({}), Some(&cookie)).await;
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"].to_str().expect("ascii").contains("Max-Age=0"));
    assert_eq!(app.get_with_cookie("/api/v1/me", &cookie).await.status(), 401, "the old session is gone");
    assert_eq!(app.get_with_cookie("/api/v1/me", &second_cookie).await.status(), 200, "other sessions live on");

    let everywhere = app.post_json("/auth/logout-everywhere", &json!({}), Some(&second_cookie)).await;
    assert_eq!(everywhere.status(), 303);
    assert_eq!(app.get_with_cookie("/api/v1/me", &second_cookie).await.status(), 401);
}

async fn bad_wallet_proofs_are_refused_and_create_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let wallet = Wallet { key: alice() };
    let address = wallet.address();
    let origin = app.origin();

    // A nonce we never issued.
    assert_refused(&app, &wallet.honest_proof(&app, "feedface"), "not issued").await;

    // A signature by another key (over the right message).
    let nonce = challenge(&app, &address).await;
    let mut forged = wallet.honest_proof(&app, &nonce);
    let mallory = SigningKey::from_bytes(&[9; 32]);
    let message = forged["full_message"].as_str().expect("message").to_string();
    forged["signature"] = json!(hex::encode(mallory.sign(message.as_bytes()).to_bytes()));
    assert_refused(&app, &forged, "signature does not match").await;

    // A claimed address that the key does not own (Mallory claims Alice's address, signing with her own key).
    let mallory_wallet = Wallet { key: mallory.clone() };
    let stolen = mallory_wallet.proof(&address, &mallory_wallet.full_message(&address, &origin, 1, &nonce), &nonce);
    assert_refused(&app, &stolen, "public key belongs to address").await;

    // A tampered fullMessage (signed, then changed).
    let mut tampered = wallet.honest_proof(&app, &nonce);
    tampered["full_message"] = json!(message.replace("Sign in to Pictor", "Sign in to Evil"));
    assert_refused(&app, &tampered, "signature does not match").await;

    // Another site as the application, and another chain.
    let foreign = wallet.proof(&address, &wallet.full_message(&address, "https://evil.example", 1, &nonce), &nonce);
    assert_refused(&app, &foreign, "not for this site").await;
    let testnet = wallet.proof(&address, &wallet.full_message(&address, &origin, 2, &nonce), &nonce);
    assert_refused(&app, &testnet, "chain 2").await;

    // An expired nonce.
    let now = pictor_server::clock::now_ms();
    app.db.issue_wallet_nonce("0ld", &address, None, now - 600_000, now - 300_000).await.expect("old nonce");
    assert_refused(&app, &wallet.honest_proof(&app, "0ld"), "expired").await;

    // The honest proof still works after all that (the failed attempts did not burn the nonce)...
    let honest = wallet.honest_proof(&app, &nonce);
    assert_eq!(app.post_json("/auth/petra/verify", &honest, None).await.status(), 200);
    // ...and exactly once: a replay is refused.
    let users = app.db.count_users().await.expect("count");
    let replay = app.post_json("/auth/petra/verify", &honest, None).await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.expect("json");
    assert!(body["error"].as_str().expect("message").contains("already used"), "{body}");
    assert_eq!(app.db.count_users().await.expect("count"), users);
}

async fn cross_site_writes_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let no_origin = app.client.post(app.url("/auth/logout-everywhere")).header("Cookie", &cookie).send().await;
    assert_eq!(no_origin.expect("response").status(), 403);
    let foreign = app
        .client
        .post(app.url("/auth/logout-everywhere"))
        .header("Cookie", &cookie)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("response");
    assert_eq!(foreign.status(), 403);
    assert_eq!(app.get_with_cookie("/api/v1/me", &cookie).await.status(), 200, "still signed in");
}

async fn server_functions_and_apis_need_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/api/v1/me").await.status(), 401);
    let server_fn = app.post_json("/api/load_account12345", &json!({}), None).await;
    assert_eq!(server_fn.status(), 401);
    let body: Value = server_fn.json().await.expect("json");
    assert_eq!(body["error"], "please sign in first");
    assert_eq!(app.get("/api/v1/events").await.status(), 200, "the network feed is public");
}

async fn api_keys_work_as_bearer_tokens_until_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, _) = app.sign_in_as("Ada").await;
    let now = pictor_server::clock::now_ms();
    let created = pictor_server::auth::api_keys::create(&app.db, user, "cli", now).await.expect("key");
    assert!(created.secret.starts_with("pk_") && created.secret.starts_with(&created.key.prefix));
    let me = |secret: String| {
        let app = &app;
        async move { app.client.get(app.url("/api/v1/me")).bearer_auth(secret).send().await.expect("response").status() }
    };
    assert_eq!(me(created.secret.clone()).await, 200);
    assert_eq!(me("pk_not-a-key".to_string()).await, 401);
    app.db.revoke_api_key(user, created.key.id, now).await.expect("revoke");
    assert_eq!(me(created.secret.clone()).await, 401);
    let bad_name = pictor_server::auth::api_keys::create(&app.db, user, "   ", now).await;
    assert!(bad_name.is_err(), "an empty name is refused");
}

crate::on_both_backends!(
    a_wallet_signs_in_keeps_its_session_and_signs_out,
    bad_wallet_proofs_are_refused_and_create_nothing,
    cross_site_writes_are_refused,
    server_functions_and_apis_need_a_session,
    api_keys_work_as_bearer_tokens_until_revoked
);
