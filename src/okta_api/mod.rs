//! The HTTP client of the Okta org: the org authorization server (`/oauth2/v1/token`,
//! `/keys`, `/revoke`), the Users and Groups APIs and the Event Hooks API (`/api/v1`). A foundation beside
//! `zenqms/`: reqwest over rustls, connect and request timeouts, cursor paging through `Link`
//! headers, typed errors by Okta `errorCode` and OAuth `error`, the `X-Rate-Limit-*` headers
//! read on every answer (`governor.rs`), and a report of every call to a [`CallListener`] (the
//! Okta service writes the audit entry and the metric). It knows no database and never logs
//! a token. `docs/okta-api.md` describes what is called and why.

mod client;
mod error;
mod event_hooks;
mod governor;
mod model;
mod paging;

pub use client::{CallListener, CallReport, ClientCredentials, ClientSettings, OktaClient};
pub use error::{ErrorCode, OAuthErrorKind, OktaApiError};
pub use event_hooks::{EventHook, EventHookSpec, HookAction};
pub use governor::{family_of, Governor, RateLimit};
pub use model::{GroupProfile, OktaGroup, OktaUser, Page, TokenResponse};
pub use paging::next_link;
