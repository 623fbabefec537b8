//! Identifiers and opaque tokens in Okta's forms: 20-character object ids with a type
//! prefix (`00u…` users, `00g…` groups, `who…` event hooks), request ids, and random
//! tokens for codes, access and refresh tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use rand::{Rng, RngCore};

/// Length of every Okta object id.
const ID_LEN: usize = 20;

/// `prefix` followed by random letters and digits up to 20 characters, from `rng` (the
/// state's seeded generator, so a seeded org gets the same ids every time).
pub(crate) fn okta_id(prefix: &str, rng: &mut impl Rng) -> String {
    let rest = ID_LEN.saturating_sub(prefix.len());
    format!("{prefix}{}", Alphanumeric.sample_string(rng, rest))
}

/// `len` random letters and digits (thread-local generator).
pub(crate) fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// 32 random bytes, base64url: codes, tokens, challenges.
pub(crate) fn secret_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An `X-Okta-Request-Id` value (Okta's are 27 characters of base64url-like text).
pub(crate) fn request_id() -> String {
    random_token(27)
}

/// The first characters of a token: enough to tell tokens apart in the call log, too
/// few to use one.
pub fn fingerprint(token: &str) -> String {
    token.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_have_okta_shape_and_follow_the_seed() {
        let mut a = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = rand::rngs::StdRng::seed_from_u64(7);
        let id = okta_id("00u", &mut a);
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("00u"));
        assert_eq!(id, okta_id("00u", &mut b));
        assert_ne!(secret_token(), secret_token());
        assert_eq!(fingerprint("abcdefghijkl"), "abcdefgh");
    }
}
