//! Admin-API principals as extractors: `AdminPrincipal` for writes, `ReadPrincipal` for reads,
//! checked by the `Authenticator` the server registers.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};

use super::error::AdminError;
use actix_web::http::header::AUTHORIZATION;
use actix_web::web;

use crate::auth::{AuthError, Authenticator, Principal, Scope};

macro_rules! principal_extractor {
    ($name:ident, $scope:expr) => {
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = AdminError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                // Under `/api/v1` the guard authenticated before any extractor ran: only the
                // scope is left to compare, at the first poll — before a body is read.
                if let Some(p) = req.extensions().get::<Principal>().cloned() {
                    let checked = if p.scope.grants($scope) {
                        Ok($name(p))
                    } else {
                        Err(AdminError::from(AuthError::WrongScope {
                            has: p.scope,
                            needs: $scope,
                        }))
                    };
                    return Box::pin(std::future::ready(checked));
                }
                let authn = req.app_data::<web::Data<Authenticator>>().cloned();
                let header = req.headers().get(AUTHORIZATION).cloned();
                Box::pin(async move {
                    let authn = authn.ok_or(AdminError::from(AuthError::Unavailable))?;
                    authn
                        .authenticate(header.as_ref(), $scope)
                        .await
                        .map($name)
                        .map_err(AdminError::from)
                })
            }
        }
    };
}

principal_extractor!(AdminPrincipal, Scope::Admin);
principal_extractor!(ReadPrincipal, Scope::Read);
