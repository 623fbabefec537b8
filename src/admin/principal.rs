//! Admin-API principals as extractors: `AdminPrincipal` for writes, `ReadPrincipal` for reads.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, FromRequest, HttpRequest};

use super::error::AdminError;
use crate::auth::{self, Principal, Scope};

macro_rules! principal_extractor {
    ($name:ident, $scope:expr) => {
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = AdminError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    auth::require(&req, $scope)
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
