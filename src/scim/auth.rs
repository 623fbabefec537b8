//! The `scim`-scope principal as an extractor; failures are SCIM error bodies.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};

use super::error::ScimError;
use super::guard::DeferredToken;
use crate::auth::{self, Principal, Scope};

/// The authenticated SCIM client (Okta, Entra) of a request.
pub struct ScimPrincipal(pub Principal);

impl FromRequest for ScimPrincipal {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The scope's guard has authenticated the request already, or (body-less requests) left
        // the token for the first database call; then it is checked here.
        let known = req.extensions().get::<Principal>().cloned();
        let deferred = req.extensions().get::<DeferredToken>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(p) = known.filter(|p| p.scope.grants(Scope::Scim)) {
                return Ok(ScimPrincipal(p));
            }
            if let Some(p) = deferred.as_ref().and_then(|d| d.verified.get()) {
                return Ok(ScimPrincipal(p.clone()));
            }
            let p = auth::require(&req, Scope::Scim).await?;
            if let Some(d) = deferred {
                let _ = d.verified.set(p.clone());
            }
            Ok(ScimPrincipal(p))
        })
    }
}
