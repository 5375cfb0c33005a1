//! Verifies a Petra (Aptos wallet) sign-in: the signed `fullMessage`, the key's address, origin and chain.

use ed25519_dalek::{Signature, VerifyingKey};
use sha3::{Digest, Sha3_256};

pub use pictor_core::signin::WalletProof;

/// What a valid proof must match besides the nonce.
#[derive(Clone, Debug)]
pub struct PetraPolicy {
    /// Origins (and their host:port forms) a wallet may name as the signing application.
    pub applications: Vec<String>,
    pub chain_id: u64,
}

/// The fields of a Petra `fullMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedFields {
    pub address: String,
    pub application: String,
    pub chain_id: u64,
    pub message: String,
    pub nonce: String,
}

/// Why a wallet proof is refused; every message is shown to the user as is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PetraError {
    #[error("{0:?} is not an Aptos address")]
    BadAddress(String),
    #[error("the signed message is not in Petra's format: {0}")]
    MalformedMessage(&'static str),
    #[error("the signed message names address {signed}, not {claimed}")]
    OtherAddressSigned { signed: String, claimed: String },
    #[error("the signed message was made for {got:?}, not for this site")]
    WrongApplication { got: String },
    #[error("the wallet signed for chain {got}, but Pictor uses chain {expected}; switch the wallet's network")]
    WrongChain { expected: u64, got: u64 },
    #[error("the signed message carries nonce {signed:?}, not the one submitted")]
    NonceMismatch { signed: String },
    #[error("the public key is not a 32-byte ed25519 key in hex")]
    BadPublicKey,
    #[error("the public key belongs to address {derived}, not {claimed}")]
    KeyNotForAddress { derived: String, claimed: String },
    #[error("the signature is not 64 bytes of hex")]
    BadSignatureEncoding,
    #[error("the signature does not match the message and public key")]
    SignatureInvalid,
}

/// `0x` + 64 lowercase hex digits; shorter forms (leading zeros dropped) are padded.
pub fn normalize_address(raw: &str) -> Result<String, PetraError> {
    let digits = raw.trim().strip_prefix("0x").unwrap_or(raw.trim()).to_ascii_lowercase();
    if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PetraError::BadAddress(raw.to_string()));
    }
    Ok(format!("0x{digits:0>64}"))
}

/// The Aptos address of a single-key ed25519 account: sha3-256(public key ‖ 0x00).
pub fn derive_address(public_key: &[u8; 32]) -> String {
    let mut hasher = Sha3_256::new();
    hasher.update(public_key);
    hasher.update([0_u8]);
    format!("0x{}", hex::encode(hasher.finalize()))
}

/// Splits `APTOS\naddress: …\napplication: …\nchainId: …\nmessage: …\nnonce: …`. The message may span lines,
/// so it runs up to the last `\nnonce: `.
pub fn parse_full_message(full: &str) -> Result<SignedFields, PetraError> {
    let rest = full.strip_prefix("APTOS\n").ok_or(PetraError::MalformedMessage("it must start with APTOS"))?;
    let (address, rest) = header(rest, "address: ")?;
    let (application, rest) = header(rest, "application: ")?;
    let (chain_id, rest) = header(rest, "chainId: ")?;
    let body = rest.strip_prefix("message: ").ok_or(PetraError::MalformedMessage("the message line is missing"))?;
    let split = body.rfind("\nnonce: ").ok_or(PetraError::MalformedMessage("the nonce line is missing"))?;
    let chain_id = chain_id.parse().map_err(|_| PetraError::MalformedMessage("chainId is not a number"))?;
    Ok(SignedFields {
        address: address.to_string(),
        application: application.to_string(),
        chain_id,
        message: body[..split].to_string(),
        nonce: body[split + "\nnonce: ".len()..].to_string(),
    })
}

fn header<'a>(text: &'a str, key: &'static str) -> Result<(&'a str, &'a str), PetraError> {
    let rest = text.strip_prefix(key).ok_or(PetraError::MalformedMessage(match key {
        "address: " => "the address line is missing (sign with address: true)",
        "application: " => "the application line is missing (sign with application: true)",
        _ => "the chainId line is missing (sign with chainId: true)",
    }))?;
    rest.split_once('\n').ok_or(PetraError::MalformedMessage("the message ends early"))
}

/// Checks everything but the nonce's freshness (the database decides that). Returns the normalised address.
pub fn verify(proof: &WalletProof, policy: &PetraPolicy) -> Result<String, PetraError> {
    let claimed = normalize_address(&proof.address)?;
    let fields = parse_full_message(&proof.full_message)?;
    let signed = normalize_address(&fields.address)?;
    if signed != claimed {
        return Err(PetraError::OtherAddressSigned { signed, claimed });
    }
    if !policy.applications.iter().any(|allowed| allowed == &fields.application) {
        return Err(PetraError::WrongApplication { got: fields.application });
    }
    if fields.chain_id != policy.chain_id {
        return Err(PetraError::WrongChain { expected: policy.chain_id, got: fields.chain_id });
    }
    if fields.nonce != proof.nonce {
        return Err(PetraError::NonceMismatch { signed: fields.nonce });
    }
    let key_bytes: [u8; 32] = decode_hex(&proof.public_key).ok_or(PetraError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| PetraError::BadPublicKey)?;
    let derived = derive_address(&key_bytes);
    if derived != claimed {
        return Err(PetraError::KeyNotForAddress { derived, claimed });
    }
    let signature: [u8; 64] = decode_hex(&proof.signature).ok_or(PetraError::BadSignatureEncoding)?;
    key.verify_strict(proof.full_message.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| PetraError::SignatureInvalid)?;
    Ok(claimed)
}

/// The text a user is asked to sign, with the fields Petra adds around it.
pub fn sign_in_statement() -> &'static str {
    "Sign in to Pictor. This request will not trigger a blockchain transaction or cost any gas."
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.trim().strip_prefix("0x").unwrap_or(text.trim());
    hex::decode(digits).ok()?.try_into().ok()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    pub const ORIGIN: &str = "http://127.0.0.1:3000";

    pub fn policy() -> PetraPolicy {
        PetraPolicy { applications: vec![ORIGIN.to_string()], chain_id: 1 }
    }

    pub fn full_message(address: &str, application: &str, chain: u64, nonce: &str) -> String {
        format!(
            "APTOS\naddress: {address}\napplication: {application}\nchainId: {chain}\nmessage: {}\nnonce: {nonce}",
            sign_in_statement()
        )
    }

    /// A proof made exactly as Petra would, by `key`.
    pub fn proof(key: &SigningKey, nonce: &str) -> WalletProof {
        let public = key.verifying_key().to_bytes();
        let address = derive_address(&public);
        let full_message = full_message(&address, ORIGIN, 1, nonce);
        WalletProof {
            signature: hex::encode(key.sign(full_message.as_bytes()).to_bytes()),
            address,
            public_key: format!("0x{}", hex::encode(public)),
            full_message,
            nonce: nonce.to_string(),
        }
    }

    fn resign(key: &SigningKey, mut proof: WalletProof) -> WalletProof {
        proof.signature = hex::encode(key.sign(proof.full_message.as_bytes()).to_bytes());
        proof
    }

    fn alice() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn an_honest_proof_verifies_to_its_address() {
        let proof = proof(&alice(), "abc");
        assert_eq!(verify(&proof, &policy()), Ok(proof.address.clone()));
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(normalize_address("0x1").expect("short"), format!("0x{}1", "0".repeat(63)));
        assert_eq!(normalize_address(&format!("0X{}", "A".repeat(64))).ok(), None, "0X is not a prefix");
        assert_eq!(normalize_address(&"AB".repeat(32)).expect("no prefix"), format!("0x{}", "ab".repeat(32)));
        assert!(normalize_address("0xzz").is_err());
        assert!(normalize_address(&format!("0x{}", "1".repeat(65))).is_err());
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let mut forged = proof(&alice(), "abc");
        let mallory = SigningKey::from_bytes(&[9; 32]);
        forged.signature = hex::encode(mallory.sign(forged.full_message.as_bytes()).to_bytes());
        assert_eq!(verify(&forged, &policy()), Err(PetraError::SignatureInvalid));
    }

    #[test]
    fn a_key_that_does_not_own_the_claimed_address_is_refused() {
        let mallory = SigningKey::from_bytes(&[9; 32]);
        let mut proof = proof(&mallory, "abc");
        let victim = derive_address(&alice().verifying_key().to_bytes());
        proof.address = victim.clone();
        proof.full_message = full_message(&victim, ORIGIN, 1, "abc");
        let proof = resign(&mallory, proof);
        assert!(matches!(verify(&proof, &policy()), Err(PetraError::KeyNotForAddress { .. })));
    }

    #[test]
    fn a_tampered_message_is_refused() {
        let mut proof = proof(&alice(), "abc");
        proof.full_message = proof.full_message.replace("Sign in to Pictor", "Send all credit to Mallory");
        assert_eq!(verify(&proof, &policy()), Err(PetraError::SignatureInvalid));
    }

    #[test]
    fn another_application_is_refused() {
        let key = alice();
        let mut proof = proof(&key, "abc");
        proof.full_message = full_message(&proof.address, "https://evil.example", 1, "abc");
        let proof = resign(&key, proof);
        assert_eq!(verify(&proof, &policy()), Err(PetraError::WrongApplication { got: "https://evil.example".into() }));
    }

    #[test]
    fn another_chain_is_refused() {
        let key = alice();
        let mut proof = proof(&key, "abc");
        proof.full_message = full_message(&proof.address, ORIGIN, 2, "abc");
        let proof = resign(&key, proof);
        assert_eq!(verify(&proof, &policy()), Err(PetraError::WrongChain { expected: 1, got: 2 }));
    }

    #[test]
    fn the_nonce_in_the_message_must_be_the_submitted_one() {
        let mut proof = proof(&alice(), "abc");
        proof.nonce = "other".into();
        assert!(matches!(verify(&proof, &policy()), Err(PetraError::NonceMismatch { .. })));
    }

    #[test]
    fn messages_without_the_requested_fields_are_malformed() {
        assert!(matches!(parse_full_message("hello"), Err(PetraError::MalformedMessage(_))));
        let no_chain = "APTOS\naddress: 0x1\napplication: x\nmessage: hi\nnonce: 1";
        assert!(matches!(parse_full_message(no_chain), Err(PetraError::MalformedMessage(_))));
        let multi_line = "APTOS\naddress: 0x1\napplication: x\nchainId: 1\nmessage: a\nnonce: b\nc\nnonce: n";
        let fields = parse_full_message(multi_line).expect("multi-line message");
        assert_eq!((fields.message.as_str(), fields.nonce.as_str()), ("a\nnonce: b\nc", "n"));
    }

    #[test]
    fn garbage_keys_and_signatures_are_refused() {
        let mut proof = proof(&alice(), "abc");
        proof.signature = "00".into();
        assert_eq!(verify(&proof, &policy()), Err(PetraError::BadSignatureEncoding));
        proof.public_key = "nothex".into();
        assert_eq!(verify(&proof, &policy()), Err(PetraError::BadPublicKey));
    }
}
