//! The `scim`-scope principal as an extractor; failures are SCIM error bodies.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpRequest};

use super::error::ScimError;
use crate::auth::{self, Principal, Scope};

/// The authenticated SCIM client (Okta, Entra) of a request.
pub struct ScimPrincipal(pub Principal);

impl FromRequest for ScimPrincipal {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            auth::require(&req, Scope::Scim)
                .await
                .map(ScimPrincipal)
                .map_err(ScimError::from)
        })
    }
}
