//! The port through which the mappings read ZenQMS's role list. The sync engine implements it
//! (`sync/roles.rs`: its connection in force, and the one throttle every ZenQMS call goes
//! through — sync's pause, the call budget, the shared `429` pause); `server.rs` plugs it in.
//! The mappings never import `sync`.

use futures_util::future::BoxFuture;

use super::error::Unavailable;
use crate::zenqms::Role;

pub trait RoleSource: Send + Sync + 'static {
    /// Whether ZenQMS can be asked now: connected, and sync not paused.
    fn available(&self) -> bool;

    /// Every role ZenQMS lists (all pages); the calls' audit entries name `actor`. Fails at
    /// once, without a call, when ZenQMS cannot be asked or a `429` pause is in force: an
    /// admin request must not wait it out.
    fn list_roles<'a>(&'a self, actor: &'a str) -> BoxFuture<'a, Result<Vec<Role>, Unavailable>>;
}
