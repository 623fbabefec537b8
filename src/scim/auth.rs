//! The `scim`-scope principal as an extractor; failures are SCIM error bodies.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};

use super::error::ScimError;
use crate::auth::{self, Principal, Scope};

/// The authenticated SCIM client (Okta, Entra) of a request.
pub struct ScimPrincipal(pub Principal);

impl FromRequest for ScimPrincipal {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The scope's guard has authenticated the request already; fall back to checking the
        // token here so the extractor is correct wherever it is used.
        let known = req.extensions().get::<Principal>().cloned();
        let req = req.clone();
        Box::pin(async move {
            match known {
                Some(p) if p.scope.grants(Scope::Scim) => Ok(ScimPrincipal(p)),
                _ => auth::require(&req, Scope::Scim)
                    .await
                    .map(ScimPrincipal)
                    .map_err(ScimError::from),
            }
        })
    }
}
