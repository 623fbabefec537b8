//! A simulator of an Okta org for tests and demos: the org authorization server
//! (`/oauth2/v1/authorize|token|keys|revoke`, id_tokens signed RS256), the Users, Groups
//! and Event Hooks APIs under `/api/v1` with Okta's paging, filters, errors and rate
//! limits, System Log events delivered to event hooks — plus what tests need under
//! `/_sim` and directly through [`Simulator`]: seeding, state changes at run time,
//! faults, and records of calls, events and deliveries.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use okta_sim::{Generate, OAuthClient, SimConfig};
//! let running = okta_sim::start(
//!     SimConfig {
//!         generate: Some(Generate::new(100, 5, 7)),
//!         ..SimConfig::with_client(OAuthClient::new("client", "secret", "http://127.0.0.1:9/cb"))
//!     },
//!     "127.0.0.1:0".parse().unwrap(),
//! ).await?;
//! // ... point a client at running.base_url (the org URL), then assert on
//! // running.sim.state(), .calls(), .events(), .deliveries()
//! running.stop().await;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod calls;
mod error;
mod events;
mod faults;
mod filter;
mod gate;
mod hooks;
mod ids;
mod model;
mod oauth;
mod ratelimit;
mod seed;
mod server;
mod sim;
mod state;

pub use calls::{CallRecord, CallsSnapshot};
pub use error::{ApiError, OAuthError};
pub use events::{LogEvent, Party, EVENT_TYPES};
pub use faults::Faults;
pub use hooks::delivery::{Attempt, DeliveryOutcome, DeliveryRecord, HookDelivery};
pub use hooks::registry::{AuthScheme, EventHook, HookStatus, Verification, MAX_ACTIVE_VERIFIED};
pub use ids::fingerprint;
pub use model::{fmt_ts, Group, GroupProfile, GroupType, User, UserStatus, UserType};
pub use oauth::clients::{default_scopes, AdminIdentity, Denial, OAuthClient, KNOWN_SCOPES};
pub use oauth::tokens::{TokenInfo, TokenKind};
pub use ratelimit::{Family, RateHeaders, RateLimits};
pub use seed::{generated_seed, Generate, Seed, SeedGroup, SeedOutcome, SeedUser};
pub use server::{serve, start, RunningSim};
pub use sim::{LinkStyle, SimConfig, Simulator, MAX_EVENTS};
pub use state::{Applied, Change, DirectorySnapshot, Lifecycle, NewGroup, NewUser};
