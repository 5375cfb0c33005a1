//! Sign in with Aptos (AIP-116) over HTTP: the input Pictor hands the wallet, an answer signed as a wallet signs
//! it, and every way to get one wrong refused with nothing created; linking a wallet to an account this way.

use ed25519_dalek::{Signer, SigningKey};
use pictor_core::signin::{SignInInput, SignInProof};
use pictor_server::auth::petra::derive_address;
use pictor_server::auth::siwa::{sign_in_message, signing_bytes};
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::auth::assert_refused_at;
use crate::helpers::{spawn_app, TestApp};

async fn input(app: &TestApp, link: bool, cookie: Option<&str>) -> SignInInput {
    let response = app.post_json("/auth/siwa/input", &json!({ "link": link }), cookie).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("input")
}

/// What a wallet answers to `aptos:signIn`: the input with its bound fields (`bind` may change them), signed.
fn answer(key: &SigningKey, input: SignInInput, bind: impl FnOnce(&mut SignInInput)) -> SignInProof {
    let mut input = SignInInput { address: Some(derive_address(&key.verifying_key().to_bytes())), ..input };
    bind(&mut input);
    let signature = key.sign(&signing_bytes(&sign_in_message(&input)));
    SignInProof {
        input,
        public_key: format!("0x{}", hex::encode(key.verifying_key().to_bytes())),
        signature: format!("0x{}", hex::encode(signature.to_bytes())),
        scheme: "ed25519".into(),
    }
}

/// Submits `proof` and expects a 400 naming `expected`, with no account and no session created.
async fn assert_refused(app: &TestApp, proof: &SignInProof, expected: &str) {
    assert_refused_at(app, "/auth/siwa/verify", &json!(proof), expected).await;
}

async fn a_wallet_signs_in_with_aptos_once_per_nonce(backend: Backend) {
    let app = spawn_app(backend).await;
    let asked = input(&app, false, None).await;
    let host = app.origin().split_once("://").expect("origin").1.to_string();
    assert_eq!((asked.domain.as_str(), asked.uri.as_deref()), (host.as_str(), Some(app.origin().as_str())));
    assert_eq!((asked.version.as_deref(), asked.chain_id.as_deref()), (Some("1"), Some("aptos:mainnet")));
    assert_eq!(asked.address, None, "the wallet says who signs");

    let alice = SigningKey::from_bytes(&[7; 32]);
    let proof = answer(&alice, asked, |_| {});
    let response = app.post_json("/auth/siwa/verify", &json!(proof), None).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii").split(';').next().expect("pair").to_string();
    let me: Value = app.get_with_cookie("/api/v1/me", &cookie).await.json().await.expect("json");
    let address = derive_address(&alice.verifying_key().to_bytes());
    assert_eq!(me["display_name"], format!("{}…{}", &address[..6], &address[address.len() - 4..]));

    assert_eq!(app.db.count_users().await.expect("count"), 1);
    let replay = app.post_json("/auth/siwa/verify", &json!(proof), None).await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.expect("json");
    assert!(body["error"].as_str().expect("message").contains("already used"), "{body}");
}

async fn bad_sign_in_answers_are_refused_and_create_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = SigningKey::from_bytes(&[7; 32]);
    let mallory = SigningKey::from_bytes(&[9; 32]);
    let asked = input(&app, false, None).await;

    let never_issued = SignInInput { nonce: "feedface".into(), ..asked.clone() };
    assert_refused(&app, &answer(&alice, never_issued, |_| {}), "not issued").await;
    let mut forged = answer(&alice, asked.clone(), |_| {});
    forged.signature =
        answer(&mallory, forged.input.clone(), |input| input.address = forged.input.address.clone()).signature;
    assert_refused(&app, &forged, "signature does not match").await;
    let alices = derive_address(&alice.verifying_key().to_bytes());
    let stolen = answer(&mallory, asked.clone(), |input| input.address = Some(alices.clone()));
    assert_refused(&app, &stolen, "public key belongs to address").await;
    let elsewhere = answer(&alice, asked.clone(), |input| input.domain = "evil.example".into());
    assert_refused(&app, &elsewhere, "not for this site").await;
    let testnet = answer(&alice, asked.clone(), |input| input.chain_id = Some("aptos:testnet".into()));
    assert_refused(&app, &testnet, "switch the wallet's network").await;
    let mut tampered = answer(&alice, asked.clone(), |_| {});
    tampered.input.statement = Some("Sign in to Evil".into());
    assert_refused(&app, &tampered, "statement").await;
    // A nonce issued for Petra's signMessage to one address is not a sign-in nonce.
    let petra = app.post_json("/auth/petra/challenge", &json!({ "address": alices }), None).await;
    let petra_nonce = petra.json::<Value>().await.expect("json")["nonce"].as_str().expect("nonce").to_string();
    let borrowed = SignInInput { nonce: petra_nonce, ..asked.clone() };
    assert_refused(&app, &answer(&alice, borrowed, |_| {}), "another address").await;
    // An expired one.
    let now = pictor_server::clock::now_ms();
    app.db.issue_wallet_nonce("0ld", "", None, now - 600_000, now - 300_000).await.expect("old nonce");
    assert_refused(&app, &answer(&alice, SignInInput { nonce: "0ld".into(), ..asked.clone() }, |_| {}), "expired")
        .await;

    // After all that, the honest answer to the same input still works.
    let honest = answer(&alice, asked, |_| {});
    assert_eq!(app.post_json("/auth/siwa/verify", &json!(honest), None).await.status(), 200);
}

async fn a_signed_in_account_links_its_wallet_by_signing_in_with_aptos(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    assert_eq!(app.post_json("/auth/siwa/input", &json!({ "link": true }), None).await.status(), 401);
    let asked = input(&app, true, Some(&cookie)).await;
    let key = SigningKey::from_bytes(&[5; 32]);
    let proof = answer(&key, asked, |_| {});
    // Only the account that asked may complete the link.
    let (_, stranger) = app.sign_in_as("Mallory").await;
    assert_eq!(app.post_json("/auth/siwa/verify", &json!(proof), Some(&stranger)).await.status(), 403);
    let linked = app.post_json("/auth/siwa/verify", &json!(proof), Some(&cookie)).await;
    assert_eq!(linked.status(), 200);
    assert_eq!(linked.json::<Value>().await.expect("json")["redirect"], "/account");
    let address = derive_address(&key.verifying_key().to_bytes());
    let identities = app.db.identities_of(user).await.expect("identities");
    assert!(identities.iter().any(|identity| identity.label == address), "on Ada's account: {identities:?}");
    assert_eq!(app.db.count_users().await.expect("count"), 2, "no account of its own");
}

crate::on_both_backends!(
    a_wallet_signs_in_with_aptos_once_per_nonce,
    bad_sign_in_answers_are_refused_and_create_nothing,
    a_signed_in_account_links_its_wallet_by_signing_in_with_aptos
);
