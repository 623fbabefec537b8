//! Where role enforcement plugs into the desired state. Managed roles come from the
//! group→role mappings (the mappings issue); until that table exists no role is managed,
//! and the reconciler's role step is a no-op.

use super::desired::RolePlan;
use crate::store::{DbConn, StoreError};

/// The managed roles and the roles this user's groups map to; `None`: roles unmanaged.
pub fn plan_for(_conn: &mut DbConn, _user_id: &str) -> Result<Option<RolePlan>, StoreError> {
    Ok(None)
}
