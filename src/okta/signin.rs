//! "Sign in with Okta" for the admin console: OpenID Connect with the connection's own OIDC
//! app (authorization code with PKCE S256, `state` and `nonce`), the id_token validated like
//! the connection's (`id_token.rs`), then the person's Okta groups read with the connection's
//! token (`GET /api/v1/users/{id}/groups`): a member of the admin group gets an `admin`
//! session, of the read group a `read` one, anyone else none. The groups are named by an
//! admin (`set_groups`); without them, or without a connected org, the button is not shown.
//!
//! The redirect URI is the connection's (`/oauth/okta/callback`): one URI to register in
//! Okta. A sign-in's `state` starts with [`STATE_PREFIX`], which is how the callback tells it
//! from an authorization of the connection.

use chrono::TimeDelta;
use diesel::prelude::*;
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{binding, Okta, OktaError, VERIFIER_PURPOSE};
use crate::audit::{self, Outcome};
use crate::auth::Scope;
use crate::okta_api::OktaGroup;
use crate::store::schema::console_signins;
use crate::store::{self, tx, DbConn, StoreError};

/// Marks a sign-in's `state` (a connection authorization's never starts with it).
pub const STATE_PREFIX: &str = "signin.";
/// What a sign-in asks for: who the person is, nothing else.
const SCOPES: &str = "openid email profile";
const LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// The settings key of the groups.
const GROUPS_KEY: &str = "console.okta_groups";
/// At most this many pages of a person's groups are read (200 each).
const MAX_GROUP_PAGES: usize = 10;

/// The Okta groups whose members may sign in (by group name or id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigninGroups {
    pub admin_group: Option<String>,
    pub read_group: Option<String>,
}

impl SigninGroups {
    pub fn any(&self) -> bool {
        self.admin_group.is_some() || self.read_group.is_some()
    }
}

/// A person Okta signed in, and what the groups let them do.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// `okta:<email or login>`: the name the trail records.
    pub principal: String,
    pub scope: Scope,
}

/// Why a sign-in failed, in words for the person at the browser.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SigninError(pub String);

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// A group matches when its id or name is the configured value (names without regard to case).
fn matches(g: &OktaGroup, wanted: Option<&str>) -> bool {
    wanted.is_some_and(|w| g.id == w || g.profile.name.eq_ignore_ascii_case(w))
}

/// The scope the groups give: admin before read.
pub fn scope_for(groups: &[OktaGroup], configured: &SigninGroups) -> Option<Scope> {
    if groups
        .iter()
        .any(|g| matches(g, configured.admin_group.as_deref()))
    {
        Some(Scope::Admin)
    } else if groups
        .iter()
        .any(|g| matches(g, configured.read_group.as_deref()))
    {
        Some(Scope::Read)
    } else {
        None
    }
}

pub fn load_groups(conn: &mut DbConn) -> Result<SigninGroups, StoreError> {
    Ok(store::settings::get(conn, GROUPS_KEY)?
        .and_then(|(v, _)| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

impl Okta {
    pub async fn signin_groups(&self) -> Result<SigninGroups, OktaError> {
        Ok(store::run(&self.inner.pool, load_groups).await?)
    }

    /// Names the groups (empty: none), audited.
    pub async fn set_signin_groups(
        &self,
        groups: SigninGroups,
        actor: &str,
    ) -> Result<SigninGroups, OktaError> {
        let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let groups = SigninGroups {
            admin_group: clean(groups.admin_group),
            read_group: clean(groups.read_group),
        };
        if [&groups.admin_group, &groups.read_group]
            .iter()
            .any(|g| g.as_ref().is_some_and(|g| g.chars().count() > 255))
        {
            return Err(OktaError::Invalid(
                "an Okta group name or id is at most 255 characters".into(),
            ));
        }
        let (saved, actor) = (groups.clone(), actor.to_string());
        store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let text = serde_json::to_string(&saved).unwrap_or_else(|_| "{}".into());
                store::settings::put(c, GROUPS_KEY, &text)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "settings.console.okta_groups",
                        target_type: "settings",
                        target_id: Some("console"),
                        detail: serde_json::json!({"admin_group": saved.admin_group, "read_group": saved.read_group}),
                        outcome: Outcome::Success,
                    },
                )
            })
        })
        .await?;
        Ok(groups)
    }

    /// Whether the sign-in page offers "Sign in with Okta".
    pub async fn signin_available(&self) -> Result<bool, OktaError> {
        Ok(self.is_connected().await? && self.signin_groups().await?.any())
    }

    /// The URL of Okta's sign-in and the `state` (the caller binds it to the browser).
    pub async fn start_signin(&self) -> Result<(String, String), OktaError> {
        if !self.signin_available().await? {
            return Err(OktaError::Invalid(
                "Sign-in with Okta is not set up: connect Okta and name the console's Okta groups on the Connections page".into(),
            ));
        }
        let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
        let client = self.client(&row.org_url)?;
        let state = format!("{STATE_PREFIX}{}", CsrfToken::new_random_len(32).secret());
        let nonce = CsrfToken::new_random_len(32).secret().clone();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let sealed = self.inner.key.seal(
            VERIFIER_PURPOSE,
            &binding(&row.org_url, &row.client_id),
            verifier.secret(),
        );
        let url = client.authorize_url(&[
            ("client_id", row.client_id.as_str()),
            ("response_type", "code"),
            ("response_mode", "query"),
            ("scope", SCOPES),
            ("redirect_uri", self.redirect_uri()),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", challenge.method().as_str()),
        ])?;
        let hash = state_hash(&state);
        store::run(&self.inner.pool, move |c| {
            let now = store::now();
            diesel::delete(console_signins::table.filter(console_signins::expires_at.lt(now)))
                .execute(c)?;
            diesel::insert_into(console_signins::table)
                .values((
                    console_signins::state_hash.eq(&hash),
                    console_signins::nonce.eq(&nonce),
                    console_signins::verifier_sealed.eq(&sealed),
                    console_signins::expires_at.eq(now + LIFETIME),
                ))
                .execute(c)
                .map_err(StoreError::from)
        })
        .await?;
        Ok((url, state))
    }

    /// Completes a sign-in from the callback's `code` and `state` (the state already checked
    /// against the browser's cookie by the caller). Every outcome is audited.
    pub async fn complete_signin(
        &self,
        code: Option<&str>,
        state: &str,
        error: Option<&str>,
    ) -> Result<SignedIn, SigninError> {
        let outcome = self.signin(code, state, error).await;
        let (actor, detail, result) = match &outcome {
            Ok(s) => (
                s.principal.clone(),
                serde_json::json!({"scope": s.scope.as_str()}),
                Outcome::Success,
            ),
            Err((who, e)) => (
                who.clone().unwrap_or_else(|| audit::SYSTEM.to_string()),
                serde_json::json!({"problem": e.0}),
                Outcome::Failure,
            ),
        };
        if !matches!(result, Outcome::Success) {
            let written = store::run(&self.inner.pool, move |c| {
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "console.signin.okta",
                        target_type: "console_session",
                        target_id: None,
                        detail,
                        outcome: result,
                    },
                )
            })
            .await;
            if let Err::<(), StoreError>(e) = written {
                tracing::warn!(error = %e, "could not record a failed Okta sign-in");
            }
        }
        outcome.map_err(|(_, e)| e)
    }

    async fn signin(
        &self,
        code: Option<&str>,
        state: &str,
        error: Option<&str>,
    ) -> Result<SignedIn, (Option<String>, SigninError)> {
        let fail = |m: String| (None, SigninError(m));
        let hash = state_hash(state);
        let pending: Option<(String, String)> = store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let row = console_signins::table
                    .filter(console_signins::state_hash.eq(&hash))
                    .filter(console_signins::expires_at.gt(store::now()))
                    .select((console_signins::nonce, console_signins::verifier_sealed))
                    .first::<(String, String)>(c)
                    .optional()?;
                // Single use: whatever happens next, this state is spent.
                diesel::delete(
                    console_signins::table.filter(console_signins::state_hash.eq(&hash)),
                )
                .execute(c)?;
                Ok::<_, StoreError>(row)
            })
        })
        .await
        .map_err(|e| fail(format!("the database failed ({e}); try again")))?;
        let Some((nonce, verifier_sealed)) = pending else {
            return Err(fail(
                "this sign-in link expired or was already used; sign in again".into(),
            ));
        };
        if let Some(e) = error {
            return Err(fail(match e {
                "access_denied" => "Okta refused the sign-in: you may not be assigned to the bridge's app in Okta (ask an Okta admin to assign it to you)".into(),
                other => format!("Okta answered {other}; try again or sign in with a token"),
            }));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| fail("Okta's answer carries no code; sign in again".into()))?;
        let row = self
            .load()
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("Okta is no longer configured".into()))?;
        let verifier = self
            .inner
            .key
            .open(
                VERIFIER_PURPOSE,
                &binding(&row.org_url, &row.client_id),
                &verifier_sealed,
            )
            .map_err(|_| {
                fail("the Okta settings changed during the sign-in; sign in again".into())
            })?;
        let creds = self.credentials(&row).map_err(|e| fail(e.to_string()))?;
        let client = self.client(&row.org_url).map_err(|e| fail(e.to_string()))?;
        let tokens = client
            .exchange_code(&creds, code, self.redirect_uri(), &verifier.plaintext, None)
            .await
            .map_err(|e| {
                fail(format!(
                    "Okta refused the sign-in code ({e}); sign in again"
                ))
            })?;
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            fail("Okta returned no id_token; the app must allow the openid scope".into())
        })?;
        let jwks = client
            .jwks()
            .await
            .map_err(|e| fail(format!("cannot read Okta's signing keys: {e}")))?;
        let claims =
            super::id_token::validate(id_token, &jwks, &row.org_url, &row.client_id, &nonce)
                .map_err(|e| fail(format!("Okta's id_token was refused ({e})")))?;
        let principal = format!("okta:{}", claims.who());
        let who = Some(principal.clone());
        let groups = self.groups_of(&claims.sub).await.map_err(|e| {
            (
                who.clone(),
                SigninError(format!("cannot read your Okta groups ({e}); try again")),
            )
        })?;
        let configured = self
            .signin_groups()
            .await
            .map_err(|e| (who.clone(), SigninError(e.to_string())))?;
        let scope = scope_for(&groups, &configured).ok_or_else(|| {
            (
                who.clone(),
                SigninError(
                    "You are not a member of the console's admin or read-only Okta group. Ask an admin to add you in Okta, or sign in with a token.".into(),
                ),
            )
        })?;
        Ok(SignedIn { principal, scope })
    }

    /// Every group the Okta user belongs to (`GET /api/v1/users/{id}/groups`).
    async fn groups_of(&self, okta_user_id: &str) -> Result<Vec<OktaGroup>, OktaError> {
        let path = format!(
            "/api/v1/users/{}/groups",
            url::form_urlencoded::byte_serialize(okta_user_id.as_bytes()).collect::<String>()
        );
        let mut page = self
            .first_page::<OktaGroup>(&path, &[("limit", super::reader::PAGE)])
            .await?;
        let mut all = std::mem::take(&mut page.items);
        let mut pages = 1;
        while let Some(next) = page.next.take() {
            if pages >= MAX_GROUP_PAGES {
                break;
            }
            page = self.next_page::<OktaGroup>(&next).await?;
            all.append(&mut page.items);
            pages += 1;
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, name: &str) -> OktaGroup {
        serde_json::from_value(
            serde_json::json!({"id": id, "type": "OKTA_GROUP", "profile": {"name": name}}),
        )
        .expect("group")
    }

    #[test]
    fn admin_group_wins_and_names_match_without_case() {
        let cfg = SigninGroups {
            admin_group: Some("Bridge Admins".into()),
            read_group: Some("00gread".into()),
        };
        assert_eq!(scope_for(&[group("00gread", "x")], &cfg), Some(Scope::Read));
        assert_eq!(
            scope_for(
                &[group("00gread", "x"), group("00g1", "bridge admins")],
                &cfg
            ),
            Some(Scope::Admin)
        );
        assert_eq!(scope_for(&[group("00g2", "Everyone")], &cfg), None);
        assert_eq!(scope_for(&[], &SigninGroups::default()), None);
    }
}
