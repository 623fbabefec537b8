//! Presence: what the directory holds from Okta that Okta no longer lists. A deleted user or
//! group is in no filtered list again (`lastUpdated gt …` lists what exists), so the change
//! lists of `pass.rs` never show it: here Okta's whole list is compared with the directory,
//! and each one missing is followed by id — Okta answers `404`, and following does what a
//! `user.lifecycle.delete.initiated` or `group.lifecycle.delete` event would (the user
//! disabled; the group deleted, so its members lose its mapped roles). Following reads the
//! current state, so one missing from the list for another reason (created while the list was
//! read; deactivated: an unfiltered user list leaves DEPROVISIONED users out) is brought level
//! just the same.
//!
//! Groups are compared in every re-read (a few pages); users, one page per 200 in the org,
//! only every `OKTA_PRESENCE_SECS` (`mod.rs` decides). The whole list is read before anything
//! is followed, so a list that fails half-way follows nothing.

use std::collections::HashSet;

use serde::Deserialize;

use super::pass::{count_group, count_user, ACTOR};
use super::{ResyncError, Totals};
use crate::directory::external;
use crate::okta::follow::Follower;

/// Of a listed user or group only its id is needed (the rest is not even parsed).
#[derive(Deserialize)]
struct Listed {
    id: String,
}

/// Follows the directory's groups Okta no longer lists.
pub async fn groups(follow: &Follower, totals: &mut Totals) -> Result<(), ResyncError> {
    let listed = listed_ids(follow, "/api/v1/groups").await?;
    let known = follow
        .directory()
        .read(external::group_external_ids)
        .await?;
    for id in absent(known, &listed) {
        totals.groups_missing += 1;
        let followed = follow.follow_group(&id, ACTOR).await;
        count_group(totals, &id, followed)?;
    }
    Ok(())
}

/// Follows the directory's active users Okta no longer lists (inactive ones need nothing
/// when deleted, and following them all would cost two calls each: the unfiltered list leaves
/// every deactivated user out).
pub async fn users(follow: &Follower, totals: &mut Totals) -> Result<(), ResyncError> {
    let listed = listed_ids(follow, "/api/v1/users").await?;
    let known = follow
        .directory()
        .read(external::active_user_external_ids)
        .await?;
    for id in absent(known, &listed) {
        totals.users_missing += 1;
        let followed = follow.follow_user(&id, ACTOR).await;
        count_user(totals, &id, followed)?;
    }
    Ok(())
}

/// Every id of an Okta list, all pages.
async fn listed_ids(follow: &Follower, path: &str) -> Result<HashSet<String>, ResyncError> {
    let mut ids = HashSet::new();
    follow
        .okta()
        .each_page::<Listed>(path, |page| ids.extend(page.iter().map(|l| l.id.clone())))
        .await?;
    Ok(ids)
}

/// The `known` ids that are not `listed`, each once, in order (so the log reads the same
/// from one re-read to the next).
fn absent(known: Vec<String>, listed: &HashSet<String>) -> Vec<String> {
    let mut out: Vec<String> = known
        .into_iter()
        .filter(|id| !listed.contains(id))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_what_the_directory_knows_and_okta_does_not_list() {
        let listed: HashSet<String> = ["00ua", "00ub"].map(String::from).into();
        let known = ["00uc", "00ua", "00uc", "00u0"].map(String::from).to_vec();
        assert_eq!(absent(known, &listed), ["00u0", "00uc"]);
        assert!(absent(Vec::new(), &listed).is_empty());
    }
}
