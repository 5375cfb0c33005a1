//! HMAC-SHA256 signatures of webhook bodies, as `sha256=<hex>` in a header, both ways: the payment provider signs
//! what it sends us, and we sign what we send to users' webhooks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-pictor-signature";

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` under `secret`, compared in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_part) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(claimed) = hex::decode(hex_part) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_secret_and_body() {
        let signed = sign("a secret of some length", b"{\"payment_id\":\"p1\"}");
        assert!(signed.starts_with("sha256=") && signed.len() == 7 + 64);
        assert!(verify("a secret of some length", b"{\"payment_id\":\"p1\"}", &signed));
        assert!(!verify("another secret entirely", b"{\"payment_id\":\"p1\"}", &signed));
        assert!(!verify("a secret of some length", b"{\"payment_id\":\"p2\"}", &signed));
        assert!(!verify("a secret of some length", b"{}", "sha256=zz"));
        assert!(!verify("a secret of some length", b"{}", "md5=00"));
    }
}
