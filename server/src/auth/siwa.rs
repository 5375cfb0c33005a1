//! Sign in with Aptos (AIP-116, `aptos:signIn`): the input Pictor asks a wallet to sign, the message the wallet
//! builds from it (as `@aptos-labs/siwa` does), and every check on what comes back.

use ed25519_dalek::{Signature, VerifyingKey};
use pictor_core::signin::{SignInInput, SignInProof};
use sha3::{Digest, Sha3_256};

use super::petra::{derive_address, normalize_address, sign_in_statement};

/// The only message version AIP-116 defines.
pub const VERSION: &str = "1";

/// What a valid sign-in must match besides the nonce.
#[derive(Clone, Debug)]
pub struct SiwaPolicy {
    /// Our origins (`scheme://host[:port]`): the wallet binds the page's origin as `uri` and its host as `domain`.
    pub origins: Vec<String>,
    pub chain_id: u64,
}

/// Why a Sign-in-with-Aptos answer is refused; every message is shown to the user as is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiwaError {
    #[error("only ed25519 accounts can sign in for now, not {0:?} ones")]
    UnsupportedScheme(String),
    #[error("the wallet did not say which address signed")]
    MissingAddress,
    #[error("{0:?} is not an Aptos address")]
    BadAddress(String),
    #[error("the public key is not a 32-byte ed25519 key in hex")]
    BadPublicKey,
    #[error("the public key belongs to address {derived}, not {claimed}")]
    KeyNotForAddress { derived: String, claimed: String },
    #[error("the sign-in was made for {got:?}, not for this site")]
    WrongDomain { got: String },
    #[error("the sign-in names the page {got:?}, not this site")]
    WrongUri { got: String },
    #[error("the sign-in message is version {got:?}; only version 1 is known")]
    WrongVersion { got: String },
    #[error("the wallet signed for network {got:?}, but Pictor uses chain {expected}; switch the wallet's network")]
    WrongChain { expected: u64, got: String },
    #[error("the sign-in carries nonce {got:?}, not the one submitted")]
    NonceMismatch { got: String },
    #[error("the signed statement is not the one Pictor asked for")]
    WrongStatement,
    #[error("the sign-in carries {0}, which Pictor did not ask for")]
    UnexpectedField(&'static str),
    #[error("the signature is not 64 bytes of hex")]
    BadSignatureEncoding,
    #[error("the signature does not match the message and public key")]
    SignatureInvalid,
}

/// What Pictor asks the wallet to sign: everything it can know before the wallet answers (its own site, chain and
/// statement, and the nonce); the wallet adds the address.
pub fn expected_input(origin: &str, chain_id: u64, nonce: &str) -> SignInInput {
    SignInInput {
        domain: host_of(origin).to_string(),
        uri: Some(origin.to_string()),
        version: Some(VERSION.to_string()),
        statement: Some(sign_in_statement().to_string()),
        nonce: nonce.to_string(),
        chain_id: Some(chain_name(chain_id)),
        ..SignInInput::default()
    }
}

/// The plain-text message of AIP-116, built from the input with the wallet's bound fields, field by field as
/// `@aptos-labs/siwa`'s `createSignInMessage` does (absent and empty fields left out).
pub fn sign_in_message(input: &SignInInput) -> String {
    let mut message = format!(
        "{} wants you to sign in with your Aptos account:\n{}",
        input.domain,
        input.address.as_deref().unwrap_or_default()
    );
    if let Some(statement) = input.statement.as_deref().filter(|s| !s.is_empty()) {
        message.push_str("\n\n");
        message.push_str(statement);
    }
    let mut fields = Vec::new();
    let mut field = |label: &str, value: &Option<String>| {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            fields.push(format!("{label}: {value}"));
        }
    };
    field("URI", &input.uri);
    field("Version", &input.version);
    field("Nonce", &Some(input.nonce.clone()));
    field("Issued At", &input.issued_at);
    field("Expiration Time", &input.expiration_time);
    field("Not Before", &input.not_before);
    field("Request ID", &input.request_id);
    field("Chain ID", &input.chain_id);
    if let Some(resources) = &input.resources {
        fields.push("Resources:".to_string());
        fields.extend(resources.iter().map(|resource| format!("- {resource}")));
    }
    if !fields.is_empty() {
        message.push_str("\n\n");
        message.push_str(&fields.join("\n"));
    }
    message
}

/// The bytes a wallet signs: `sha3-256("SIGN_IN_WITH_APTOS::") ‖ message`, so that a sign-in signature can never
/// pass for a transaction or another kind of message.
pub fn signing_bytes(message: &str) -> Vec<u8> {
    let mut bytes = Sha3_256::digest(b"SIGN_IN_WITH_APTOS::").to_vec();
    bytes.extend_from_slice(message.as_bytes());
    bytes
}

/// Checks everything but the nonce's freshness (the database decides that). Returns the normalised address.
pub fn verify(proof: &SignInProof, nonce: &str, policy: &SiwaPolicy) -> Result<String, SiwaError> {
    let input = &proof.input;
    if proof.scheme != "ed25519" {
        return Err(SiwaError::UnsupportedScheme(proof.scheme.clone()));
    }
    let raw_address = input.address.as_deref().ok_or(SiwaError::MissingAddress)?;
    let claimed = normalize_address(raw_address).map_err(|_| SiwaError::BadAddress(raw_address.to_string()))?;
    if input.nonce != nonce {
        return Err(SiwaError::NonceMismatch { got: input.nonce.clone() });
    }
    let origin = policy
        .origins
        .iter()
        .find(|origin| host_of(origin) == input.domain)
        .ok_or_else(|| SiwaError::WrongDomain { got: input.domain.clone() })?;
    if input.uri.as_deref() != Some(origin.as_str()) {
        return Err(SiwaError::WrongUri { got: input.uri.clone().unwrap_or_default() });
    }
    if input.version.as_deref() != Some(VERSION) {
        return Err(SiwaError::WrongVersion { got: input.version.clone().unwrap_or_default() });
    }
    let chain = input.chain_id.clone().unwrap_or_default();
    if chain_number(&chain) != Some(policy.chain_id) {
        return Err(SiwaError::WrongChain { expected: policy.chain_id, got: chain });
    }
    if input.statement.as_deref() != Some(sign_in_statement()) {
        return Err(SiwaError::WrongStatement);
    }
    check_nothing_else(input)?;
    let key_bytes: [u8; 32] = decode_key(&proof.public_key, 0x20).ok_or(SiwaError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| SiwaError::BadPublicKey)?;
    let derived = derive_address(&key_bytes);
    if derived != claimed {
        return Err(SiwaError::KeyNotForAddress { derived, claimed });
    }
    let signature: [u8; 64] = decode_key(&proof.signature, 0x40).ok_or(SiwaError::BadSignatureEncoding)?;
    // The message as the wallet built it from these fields (with the address exactly as it spelt it).
    let message = sign_in_message(input);
    key.verify_strict(&signing_bytes(&message), &Signature::from_bytes(&signature))
        .map_err(|_| SiwaError::SignatureInvalid)?;
    Ok(claimed)
}

/// Pictor asks for no times, request id or resources; a wallet that adds some signed something else.
fn check_nothing_else(input: &SignInInput) -> Result<(), SiwaError> {
    let present = [
        ("an issue time", input.issued_at.is_some()),
        ("an expiration time", input.expiration_time.is_some()),
        ("a not-before time", input.not_before.is_some()),
        ("a request id", input.request_id.is_some()),
        ("resources", input.resources.is_some()),
    ];
    match present.iter().find(|(_, is_there)| *is_there) {
        Some((name, _)) => Err(SiwaError::UnexpectedField(name)),
        None => Ok(()),
    }
}

/// `host[:port]` of an origin.
fn host_of(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, host)| host)
}

/// The chain id as AIP-116 writes it.
pub fn chain_name(chain_id: u64) -> String {
    match chain_id {
        1 => "aptos:mainnet".to_string(),
        2 => "aptos:testnet".to_string(),
        other => format!("aptos:{other}"),
    }
}

/// The chain id a message names, in any of AIP-116's spellings; devnet and localnet have no fixed number.
fn chain_number(text: &str) -> Option<u64> {
    match text.strip_prefix("aptos:").unwrap_or(text) {
        "mainnet" => Some(1),
        "testnet" => Some(2),
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok(),
        _ => None,
    }
}

/// Hex bytes of length `N`, raw or BCS-serialised (a one-byte length `bcs_prefix` first), with or without `0x`.
fn decode_key<const N: usize>(text: &str, bcs_prefix: u8) -> Option<[u8; N]> {
    let digits = text.trim().strip_prefix("0x").unwrap_or(text.trim());
    let bytes = hex::decode(digits).ok()?;
    let raw = match bytes.split_first() {
        Some((&first, rest)) if bytes.len() == N + 1 && first == bcs_prefix => rest.to_vec(),
        _ => bytes,
    };
    raw.try_into().ok()
}

#[cfg(test)]
#[path = "siwa_tests.rs"]
mod tests;
