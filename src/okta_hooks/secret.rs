//! The event hook's secret: what Okta sends in `Authorization` with every request. Only its
//! SHA-256 is stored; a presented value is hashed and the two hashes compared in constant
//! time (the comparison's duration says nothing about how much of a guess was right). The
//! secret itself is never logged or returned.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The stored form of a secret: SHA-256, lower-case hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` is the secret whose stored hash is `stored_hex`.
pub fn matches(presented: &str, stored_hex: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let Ok(stored) = hex::decode(stored_hex) else {
        return false;
    };
    stored.len() == presented.len() && bool::from(presented.as_slice().ct_eq(stored.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        let stored = hash("s3cret-value");
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains("s3cret"));
        assert!(matches("s3cret-value", &stored));
        assert!(!matches("s3cret-valuf", &stored));
        assert!(!matches("", &stored));
        assert!(!matches("s3cret-value", "not hex"));
        assert!(!matches("s3cret-value", ""));
    }
}
