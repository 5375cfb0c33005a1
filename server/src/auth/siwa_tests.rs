//! Tests of Sign in with Aptos: the message matches the reference library's, and each way an answer can be wrong
//! is refused with its own error.

use ed25519_dalek::{Signer, SigningKey};

use super::*;

const ORIGIN: &str = "http://127.0.0.1:3000";
const NONCE: &str = "c0ffee1234";

fn policy() -> SiwaPolicy {
    SiwaPolicy { origins: vec![ORIGIN.to_string()], chain_id: 1 }
}

fn alice() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// What a wallet answers: Pictor's input with its address bound, signed by `key` as AIP-116 says.
fn answer(key: &SigningKey, input: SignInInput) -> SignInProof {
    let public = key.verifying_key().to_bytes();
    let input = SignInInput { address: Some(derive_address(&public)), ..input };
    signed(key, input)
}

fn signed(key: &SigningKey, input: SignInInput) -> SignInProof {
    let signature = key.sign(&signing_bytes(&sign_in_message(&input)));
    SignInProof {
        public_key: format!("0x{}", hex::encode(key.verifying_key().to_bytes())),
        signature: format!("0x{}", hex::encode(signature.to_bytes())),
        scheme: "ed25519".into(),
        input,
    }
}

fn honest() -> SignInProof {
    answer(&alice(), expected_input(ORIGIN, 1, NONCE))
}

#[test]
fn the_message_is_the_one_the_reference_library_builds() {
    // `createSignInMessage` of @aptos-labs/siwa 0.4.0 for this input (run with Node).
    let input = SignInInput { address: Some(format!("0x{}", "ab".repeat(32))), ..expected_input(ORIGIN, 1, NONCE) };
    assert_eq!(
        sign_in_message(&input),
        format!(
            "127.0.0.1:3000 wants you to sign in with your Aptos account:\n0x{}\n\n{}\n\nURI: http://127.0.0.1:3000\n\
             Version: 1\nNonce: c0ffee1234\nChain ID: aptos:mainnet",
            "ab".repeat(32),
            sign_in_statement()
        )
    );
    let full = SignInInput {
        issued_at: Some("2026-01-01T00:00:00Z".into()),
        request_id: Some("r1".into()),
        resources: Some(vec!["a".into(), "b".into()]),
        ..input
    };
    assert!(sign_in_message(&full).ends_with(
        "Nonce: c0ffee1234\nIssued At: 2026-01-01T00:00:00Z\nRequest ID: r1\nChain ID: aptos:mainnet\nResources:\n- a\n- b"
    ));
    // `createSignInSigningMessage`: sha3-256 of the domain separator, then the message.
    let bytes = signing_bytes("127.0.0.1");
    assert_eq!(hex::encode(&bytes[..32]), "1ec2d48cc8cfd2a6eb10ac032fa6b589275ac66ab008c39ea11a428828a38ffe");
    assert_eq!(&bytes[32..], b"127.0.0.1");
}

#[test]
fn an_honest_answer_verifies_to_its_address() {
    let proof = honest();
    assert_eq!(verify(&proof, NONCE, &policy()), Ok(proof.input.address.clone().expect("bound")));
}

#[test]
fn bcs_encoded_keys_and_signatures_are_read_too() {
    let mut proof = honest();
    proof.public_key = proof.public_key.replacen("0x", "0x20", 1);
    proof.signature = proof.signature.replacen("0x", "0x40", 1);
    assert!(verify(&proof, NONCE, &policy()).is_ok());
}

#[test]
fn chain_ids_are_read_in_every_spelling() {
    for (spelling, chain) in [("mainnet", 1), ("aptos:mainnet", 1), ("aptos:1", 1), ("testnet", 2), ("aptos:2", 2)] {
        let proof =
            answer(&alice(), SignInInput { chain_id: Some(spelling.into()), ..expected_input(ORIGIN, 1, NONCE) });
        let policy = SiwaPolicy { chain_id: chain, ..policy() };
        assert!(verify(&proof, NONCE, &policy).is_ok(), "{spelling}");
    }
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let mut forged = honest();
    let mallory = SigningKey::from_bytes(&[9; 32]);
    forged.signature = signed(&mallory, forged.input.clone()).signature;
    assert_eq!(verify(&forged, NONCE, &policy()), Err(SiwaError::SignatureInvalid));
}

#[test]
fn a_key_that_does_not_own_the_claimed_address_is_refused() {
    let mallory = SigningKey::from_bytes(&[9; 32]);
    let victim = derive_address(&alice().verifying_key().to_bytes());
    let proof = signed(&mallory, SignInInput { address: Some(victim), ..expected_input(ORIGIN, 1, NONCE) });
    assert!(matches!(verify(&proof, NONCE, &policy()), Err(SiwaError::KeyNotForAddress { .. })));
}

#[test]
fn a_tampered_input_is_refused() {
    // The same address spelt otherwise is another message: not what was signed.
    let mut proof = honest();
    let address = proof.input.address.clone().expect("bound");
    proof.input.address = Some(format!("0x{}", address[2..].to_ascii_uppercase()));
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::SignatureInvalid));
    let mut proof = honest();
    proof.input.version = Some("2".into());
    assert!(matches!(verify(&proof, NONCE, &policy()), Err(SiwaError::WrongVersion { .. })));
}

#[test]
fn a_sign_in_for_another_site_is_refused() {
    let proof = answer(&alice(), expected_input("https://evil.example", 1, NONCE));
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::WrongDomain { got: "evil.example".into() }));
    // Our domain but another page: the wallet binds the real page's origin.
    let proof =
        answer(&alice(), SignInInput { uri: Some("https://evil.example".into()), ..expected_input(ORIGIN, 1, NONCE) });
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::WrongUri { got: "https://evil.example".into() }));
}

#[test]
fn another_chain_is_refused() {
    let proof = answer(&alice(), expected_input(ORIGIN, 2, NONCE));
    assert_eq!(
        verify(&proof, NONCE, &policy()),
        Err(SiwaError::WrongChain { expected: 1, got: "aptos:testnet".into() })
    );
    let devnet = answer(&alice(), SignInInput { chain_id: Some("devnet".into()), ..expected_input(ORIGIN, 1, NONCE) });
    assert!(matches!(verify(&devnet, NONCE, &policy()), Err(SiwaError::WrongChain { .. })));
}

#[test]
fn the_nonce_must_be_the_submitted_one() {
    assert!(matches!(verify(&honest(), "other", &policy()), Err(SiwaError::NonceMismatch { .. })));
}

#[test]
fn another_statement_or_fields_pictor_did_not_ask_for_are_refused() {
    let input =
        SignInInput { statement: Some("Send all credit to Mallory".into()), ..expected_input(ORIGIN, 1, NONCE) };
    assert_eq!(verify(&answer(&alice(), input), NONCE, &policy()), Err(SiwaError::WrongStatement));
    let input = SignInInput { resources: Some(vec!["x".into()]), ..expected_input(ORIGIN, 1, NONCE) };
    assert_eq!(verify(&answer(&alice(), input), NONCE, &policy()), Err(SiwaError::UnexpectedField("resources")));
}

#[test]
fn other_schemes_missing_addresses_and_garbage_are_refused() {
    let mut proof = honest();
    proof.scheme = "multi_ed25519".into();
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::UnsupportedScheme("multi_ed25519".into())));
    let mut proof = honest();
    proof.input.address = None;
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::MissingAddress));
    let mut proof = honest();
    proof.signature = "00".into();
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::BadSignatureEncoding));
    proof.public_key = "nothex".into();
    assert_eq!(verify(&proof, NONCE, &policy()), Err(SiwaError::BadPublicKey));
}
