//! `GET/POST/DELETE /api/v1/okta/event-hook`: the Okta event hook that sends changes to
//! `/okta/events` — read, created or repaired, removed (the service is
//! `crate::okta_hooks::registration`; the console's Okta page calls the same).

use actix_web::{web, HttpResponse};

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::okta_hooks::registration::{Registration, RegistrationError};

pub async fn get(
    who: ReadPrincipal,
    hooks: web::Data<Registration>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(hooks.status(&who.0.name).await?))
}

pub async fn ensure(
    who: AdminPrincipal,
    hooks: web::Data<Registration>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(hooks.ensure(&who.0.name).await?))
}

pub async fn delete(
    who: AdminPrincipal,
    hooks: web::Data<Registration>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(hooks.remove(&who.0.name).await?))
}

impl From<RegistrationError> for AdminError {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::Store(s) => s.into(),
            // The bridge's state or Okta's grant keeps it from acting: the admin must change it.
            RegistrationError::NotConnected(_)
            | RegistrationError::PublicUrl(_)
            | RegistrationError::NotPermitted(_) => AdminError::Conflict(e.to_string()),
            RegistrationError::NotRegistered => AdminError::NotFound(e.to_string()),
            RegistrationError::Busy(_) => AdminError::Unavailable(e.to_string()),
            RegistrationError::Okta(_) => AdminError::BadGateway(e.to_string()),
            RegistrationError::Internal(m) => AdminError::Internal(m),
        }
    }
}
