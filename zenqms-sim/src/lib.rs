//! A simulator of the ZenQMS public API (`docs/zenqms-api.md` of the bridge): users and roles in
//! memory, the spec's validation and error answers, plus what tests and demos need —
//! seeding, injected faults (latency, rate limit, 5xx, hangs, outage) and a record of
//! every call — over HTTP under `/_sim` and directly through [`Simulator`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let running = zenqms_sim::start(
//!     zenqms_sim::SimConfig { seed: Some(zenqms_sim::demo_seed()), ..zenqms_sim::SimConfig::new("token") },
//!     "127.0.0.1:0".parse().unwrap(),
//! ).await?;
//! // ... point a client at running.base_url, then assert on running.sim.state() / .calls()
//! running.stop().await;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod calls;
mod error;
mod faults;
mod gate;
mod input;
mod model;
mod seed;
mod server;
mod sim;
mod store;

pub use calls::{CallRecord, CallsSnapshot};
pub use error::{FieldError, SimError};
pub use faults::Faults;
pub use model::{DeletedRole, Id, NewRole, Page, Role, StateSnapshot, Status, User};
pub use seed::{demo_seed, Seed, SeedOutcome, SeedUser};
pub use server::{serve, start, RunningSim};
pub use sim::{SimConfig, Simulator};
