//! id_token validation (OpenID Connect Core §3.1.3.7) with `jsonwebtoken` against the org's
//! JWKS (`/oauth2/v1/keys`): the signature by the key named in the header's `kid`, RS256
//! only (never `none`, never an HMAC keyed with public data), `iss` = the org URL, `aud` =
//! the client id, `exp` (with a minute of leeway for clocks), and `nonce` = the one sent.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Who authorized, from the validated claims.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
}

impl Claims {
    /// How the trail names the person: their email, else login, else Okta user id.
    pub fn who(&self) -> String {
        self.email
            .clone()
            .or_else(|| self.preferred_username.clone())
            .unwrap_or_else(|| self.sub.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the id_token's header is unreadable or names no key (kid)")]
    Header,
    #[error("the id_token is signed with {0:?}; only RS256 is accepted")]
    Algorithm(Algorithm),
    #[error("no key {0} in the org's JWKS")]
    UnknownKey(String),
    #[error("the id_token's issuer is not {expected}")]
    Issuer { expected: String },
    #[error("the id_token was issued to another client (aud is not {expected})")]
    Audience { expected: String },
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token's nonce does not match the one this authorization sent")]
    Nonce,
    #[error("the id_token's signature does not verify")]
    Signature,
    #[error("the id_token is invalid: {0}")]
    Invalid(String),
}

pub fn validate(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Claims, IdTokenError> {
    let header = decode_header(token).map_err(|_| IdTokenError::Header)?;
    if header.alg != Algorithm::RS256 {
        return Err(IdTokenError::Algorithm(header.alg));
    }
    let kid = header.kid.ok_or(IdTokenError::Header)?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| IdTokenError::UnknownKey(kid.clone()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| IdTokenError::Invalid(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidIssuer => IdTokenError::Issuer {
                expected: issuer.to_string(),
            },
            ErrorKind::InvalidAudience => IdTokenError::Audience {
                expected: client_id.to_string(),
            },
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::InvalidSignature => IdTokenError::Signature,
            other => IdTokenError::Invalid(format!("{other:?}")),
        }
    })?;
    // Compared in constant time is not needed: the nonce is not a secret once sent.
    if data.claims.nonce.as_deref() != Some(nonce) {
        return Err(IdTokenError::Nonce);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    /// A throwaway RSA key made for these tests only (PKCS#1 DER), and its JWKS.
    const KEY_DER: &[u8] = include_bytes!("../../tests/data/okta/id_token_test_key.der");
    const JWKS: &str = include_str!("../../tests/data/okta/id_token_test_jwks.json");
    const ISS: &str = "https://acme.okta.com";
    const AUD: &str = "0oaclient";

    fn sign(claims: serde_json::Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, &claims, &EncodingKey::from_rsa_der(KEY_DER)).unwrap()
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISS, "aud": AUD, "sub": "00uadmin", "email": "admin@acme.com",
               "exp": chrono::Utc::now().timestamp() + 300, "iat": chrono::Utc::now().timestamp(),
               "nonce": "n-1"})
    }

    fn check(token: &str) -> Result<Claims, IdTokenError> {
        let jwks: JwkSet = serde_json::from_str(JWKS).unwrap();
        validate(token, &jwks, ISS, AUD, "n-1")
    }

    #[test]
    fn a_good_token_names_who_authorized() {
        let c = check(&sign(claims(), "test-key-1")).unwrap();
        assert_eq!(c.who(), "admin@acme.com");
    }

    #[test]
    fn each_claim_is_checked() {
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims();
            c[k] = v;
            check(&sign(c, "test-key-1"))
        };
        assert!(matches!(
            with("iss", json!("https://evil.okta.com")),
            Err(IdTokenError::Issuer { .. })
        ));
        assert!(matches!(
            with("aud", json!("0oaother")),
            Err(IdTokenError::Audience { .. })
        ));
        assert_eq!(
            with("exp", json!(chrono::Utc::now().timestamp() - 600)).unwrap_err(),
            IdTokenError::Expired
        );
        assert_eq!(
            with("nonce", json!("n-2")).unwrap_err(),
            IdTokenError::Nonce
        );
        assert!(matches!(
            check(&sign(claims(), "other-kid")),
            Err(IdTokenError::UnknownKey(_))
        ));
    }

    #[test]
    fn forged_tokens_are_refused() {
        // Signed with HMAC over the public key material (algorithm confusion).
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("test-key-1".into());
        let hs = encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(JWKS.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            check(&hs).unwrap_err(),
            IdTokenError::Algorithm(Algorithm::HS256)
        );
        // A good token with its payload swapped.
        let good = sign(claims(), "test-key-1");
        let other = sign(
            json!({"iss": ISS, "aud": AUD, "sub": "00uevil", "exp": 4_000_000_000i64, "nonce": "n-1"}),
            "test-key-1",
        );
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(check(&forged).unwrap_err(), IdTokenError::Signature);
        assert_eq!(check("not a jwt").unwrap_err(), IdTokenError::Header);
    }
}
