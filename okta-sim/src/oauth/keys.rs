//! The key that signs id_tokens (RS256) and the JWKS that publishes it.
//!
//! The key is generated when first needed and shared by every simulator in the process:
//! a 2048-bit RSA key takes a noticeable moment to generate, and a test binary starts
//! many simulators. Nothing is ever written to disk. (The workspace builds the bignum
//! crates optimised in debug profiles too, which keeps the one generation short.)

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BITS: usize = 2048;

pub(crate) struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

static PROCESS_KEY: OnceLock<Result<Arc<SigningKey>, String>> = OnceLock::new();

/// The process's signing key (generated on first use).
pub(crate) fn process_key() -> Result<Arc<SigningKey>, String> {
    PROCESS_KEY
        .get_or_init(|| SigningKey::generate().map(Arc::new))
        .clone()
}

impl SigningKey {
    fn generate() -> Result<SigningKey, String> {
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut rng, BITS)
            .map_err(|e| format!("cannot generate the RSA signing key: {e}"))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| format!("cannot encode the RSA signing key: {e}"))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        // A stable id derived from the public key, as Okta's kids are opaque strings.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&n)[..16]);
        let jwk = json!({
            "kty": "RSA",
            "alg": "RS256",
            "kid": kid,
            "use": "sig",
            "e": URL_SAFE_NO_PAD.encode(e),
            "n": URL_SAFE_NO_PAD.encode(n),
        });
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        })
    }

    /// `{"keys":[…]}`, what `/oauth2/v1/keys` answers.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// A compact JWS: RS256 with this key's `kid` in the header.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signs_what_the_jwks_verifies() {
        let key = process_key().unwrap();
        let token = key
            .sign(&json!({"sub": "x", "aud": "c", "iss": "i", "exp": 4_000_000_000u64}))
            .unwrap();
        let jwk = &key.jwks()["keys"][0];
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
        let dk = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["c"]);
        v.set_issuer(&["i"]);
        let data = jsonwebtoken::decode::<Value>(&token, &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
    }
}
