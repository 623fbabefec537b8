//! The org authorization server (`/oauth2/v1/...`): clients and the admin who authorizes
//! (`clients.rs`), the signing key and JWKS (`keys.rs`), codes and tokens with their rules
//! (`tokens.rs`), and the HTTP endpoints (`http.rs`).

pub(crate) mod clients;
pub(crate) mod http;
pub(crate) mod keys;
pub(crate) mod tokens;
