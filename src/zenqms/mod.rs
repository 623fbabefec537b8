//! The client of the ZenQMS public API (`docs/zenqms-api.md`). Every assumption the
//! spec page makes beyond ZenQMS's own articles lives in [`contract`].

pub mod client;
pub mod contract;
pub mod error;

pub use client::{CallCtx, CallListener, CallReport, ClientSettings, SettingsError, ZenqmsClient};
pub use contract::{
    Endpoint, NewUser, Page, RemoteStatus, RemoteUser, Role, SearchFilters, UserPatch, WriteStatus,
    ZenqmsId,
};
pub use error::{ErrorClass, ZenqmsError};
