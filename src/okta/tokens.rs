//! The access token: read from the database (every process shares it), refreshed before it
//! expires and once when Okta answers `401 invalid_token`. A refresh is single-flight: in a
//! process, callers queue on a mutex and the ones behind the first find the new token; across
//! processes, a lease on the connection row (`store::claim_refresh`) lets one process refresh
//! while the others wait for the token generation to move — so a rotating refresh token is
//! used once, and no process races another into a revoked token. A rotated refresh token is
//! stored in the same statement as the new access token. `invalid_grant` means a person must
//! authorize again: the connection becomes `reauthorization_needed` (the SCIM path is not
//! affected; `/readyz` stays ready).

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use serde::de::DeserializeOwned;

use super::{binding, store, ConnectionState, Okta, OktaError, ACCESS_PURPOSE, REFRESH_PURPOSE};
use crate::audit::{self, Outcome};
use crate::config::Secret;
use crate::okta_api::{OAuthErrorKind, OktaApiError, OktaClient, Page};
use crate::store::{tx, StoreError};

/// A token this close to its expiry is refreshed first.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(60);
/// How long a process may hold the refresh lease (longer than a token call's timeout).
const LEASE: TimeDelta = TimeDelta::seconds(45);
/// How long a caller waits for another process's refresh before it gives up.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(50);

/// An access token ready to use, with the generation it belongs to and the org's client.
pub struct Access {
    pub token: Secret,
    pub generation: i64,
    pub client: OktaClient,
}

impl Okta {
    /// A usable access token, refreshed first if it is about to expire.
    pub async fn access(&self) -> Result<Access, OktaError> {
        let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
        if let Some(access) = self.usable(&row)? {
            return Ok(access);
        }
        self.refresh_after(row.token_generation).await
    }

    /// The row's access token if the row is connected and the token is not about to expire.
    fn usable(&self, row: &store::Row) -> Result<Option<Access>, OktaError> {
        match ConnectionState::parse(&row.state) {
            ConnectionState::Connected => {}
            ConnectionState::ReauthorizationNeeded => {
                return Err(OktaError::ReauthorizationNeeded(
                    row.problem
                        .clone()
                        .unwrap_or_else(|| "invalid_grant".into()),
                ))
            }
            _ => return Err(OktaError::NeedsAuthorization),
        }
        let fresh = row
            .access_token_expires_at
            .is_some_and(|at| at - REFRESH_MARGIN > crate::store::now());
        let (true, Some(sealed)) = (fresh, row.access_token_sealed.as_deref()) else {
            return Ok(None);
        };
        let opened = self.inner.key.open(
            ACCESS_PURPOSE,
            &binding(&row.org_url, &row.client_id),
            sealed,
        );
        match opened {
            Ok(o) => Ok(Some(Access {
                token: Secret::new(o.plaintext),
                generation: row.token_generation,
                client: self.client(&row.org_url)?,
            })),
            // Unusable where it is: a refresh replaces it.
            Err(_) => Ok(None),
        }
    }

    /// Refreshes the tokens of generation `seen` — unless another caller (here or in another
    /// process) already has, in which case its token is returned.
    pub async fn refresh_after(&self, seen: i64) -> Result<Access, OktaError> {
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        let deadline = Instant::now() + WAIT_FOR_OTHERS;
        loop {
            let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
            if row.token_generation != seen {
                if let Some(access) = self.usable(&row)? {
                    return Ok(access);
                }
            }
            let _ = self.usable(&row)?; // not connected: say why
            let until = crate::store::now() + LEASE;
            let owner = self.inner.process.clone();
            let generation = row.token_generation;
            let claimed = crate::store::run(&self.inner.pool, move |c| {
                store::claim_refresh(c, generation, &owner, until)
            })
            .await?;
            if claimed {
                return self.refresh_claimed(&row).await;
            }
            // Another process holds the lease (or just moved the generation): wait for it.
            if Instant::now() > deadline {
                return Err(OktaError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The refresh itself, under the lease.
    async fn refresh_claimed(&self, row: &store::Row) -> Result<Access, OktaError> {
        let bound = binding(&row.org_url, &row.client_id);
        let result = async {
            let sealed = row
                .refresh_token_sealed
                .as_deref()
                .ok_or(OktaError::NeedsAuthorization)?;
            let refresh = self
                .inner
                .key
                .open(REFRESH_PURPOSE, &bound, sealed)
                .map_err(|e| OktaError::ReauthorizationNeeded(e.to_string()))?;
            let creds = self.credentials(row)?;
            let client = self.client(&row.org_url)?;
            let answer = client
                .refresh(&creds, &Secret::new(refresh.plaintext))
                .await?;
            Ok::<_, OktaError>((client, answer))
        }
        .await;
        let owner = self.inner.process.clone();
        match result {
            Ok((client, answer)) => {
                let expires_at = expiry(answer.expires_in);
                let access_sealed =
                    self.inner
                        .key
                        .seal(ACCESS_PURPOSE, &bound, &answer.access_token);
                let rotated = answer
                    .refresh_token
                    .as_deref()
                    .map(|rt| self.inner.key.seal(REFRESH_PURPOSE, &bound, rt));
                let scopes = answer.scope.clone();
                let saved = crate::store::run(&self.inner.pool, move |c| {
                    store::save_refresh(
                        c,
                        &owner,
                        &access_sealed,
                        expires_at,
                        rotated.as_deref(),
                        scopes.as_deref(),
                    )
                })
                .await?;
                if !saved {
                    tracing::warn!("the Okta refresh lease expired before the refresh was stored; the new token is used by this call only");
                }
                tracing::info!(
                    rotated = answer.refresh_token.is_some(),
                    "Okta access token refreshed"
                );
                let generation = self
                    .load()
                    .await?
                    .map(|r| r.token_generation)
                    .unwrap_or_default();
                Ok(Access {
                    token: Secret::new(answer.access_token),
                    generation,
                    client,
                })
            }
            Err(OktaError::Okta(OktaApiError::OAuth {
                kind: OAuthErrorKind::InvalidGrant,
                description,
                ..
            }))
            | Err(OktaError::ReauthorizationNeeded(description)) => {
                let problem = format!(
                    "Okta refused the refresh token (invalid_grant: {description}): it was revoked or expired; an Okta admin must authorize again with POST /api/v1/okta/authorize"
                );
                let stored = problem.clone();
                crate::store::run(&self.inner.pool, move |c| {
                    tx::write(c, |c| {
                        store::forget(c, "reauthorization_needed", Some(&stored))?;
                        audit::record(
                            c,
                            &audit::Entry {
                                actor: audit::SYSTEM,
                                action: "okta.token.refresh",
                                target_type: "okta",
                                target_id: None,
                                detail: serde_json::json!({"problem": stored}),
                                outcome: Outcome::Failure,
                            },
                        )
                    })
                })
                .await?;
                tracing::error!(%problem, "the Okta connection needs re-authorization; SCIM keeps working");
                Err(OktaError::ReauthorizationNeeded(description))
            }
            Err(other) => {
                let _ = crate::store::run(&self.inner.pool, move |c| store::release_refresh(c, &owner))
                    .await
                    .map_err(|e: StoreError| tracing::warn!(error = %e, "could not release the Okta refresh lease"));
                Err(other)
            }
        }
    }

    /// The first page of `path`, refreshing once on `401 invalid_token`.
    pub async fn first_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Page<T>, OktaError> {
        let access = self.access().await?;
        match access.client.first_page(&access.token, path, query).await {
            Err(OktaApiError::InvalidToken) => {
                let access = self.refresh_after(access.generation).await?;
                Ok(access.client.first_page(&access.token, path, query).await?)
            }
            other => Ok(other?),
        }
    }

    /// One object (`/api/v1/users/{id}`), refreshing once on `401 invalid_token`.
    pub async fn get_one<T: DeserializeOwned>(&self, path: &str) -> Result<T, OktaError> {
        let access = self.access().await?;
        match access.client.get_one(&access.token, path).await {
            Err(OktaApiError::InvalidToken) => {
                let access = self.refresh_after(access.generation).await?;
                Ok(access.client.get_one(&access.token, path).await?)
            }
            other => Ok(other?),
        }
    }

    /// The page a `next` link names, refreshing once on `401 invalid_token`.
    pub async fn next_page<T: DeserializeOwned>(&self, next: &str) -> Result<Page<T>, OktaError> {
        let access = self.access().await?;
        match access.client.next_page(&access.token, next).await {
            Err(OktaApiError::InvalidToken) => {
                let access = self.refresh_after(access.generation).await?;
                Ok(access.client.next_page(&access.token, next).await?)
            }
            other => Ok(other?),
        }
    }
}

/// When a token that lives `expires_in` seconds from now expires.
pub(crate) fn expiry(expires_in: i64) -> NaiveDateTime {
    crate::store::now() + TimeDelta::seconds(expires_in.clamp(0, 86_400 * 365))
}
