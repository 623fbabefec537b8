//! One re-read: the users Okta changed since the users' mark (less the overlap), then the
//! groups whose membership or profile changed since the groups' mark, each brought level
//! through `Follower` from the object the list returned — the list holds each one's current
//! profile and status, so it is not read again (`follow_listed_user`: a user's groups are
//! read only when the directory does not have it or shows it outside the scope;
//! `follow_listed_group`: a group's members are read). For 100 changed users out of 10,000
//! and no group changed, that is 2 Okta calls instead of 202 (`docs/event-hooks.md`).
//! The marks are the latest `lastUpdated` / `lastMembershipUpdated` seen, on Okta's clock;
//! they are written only when the whole re-read completes, so a re-read that fails half-way
//! is done again from the same point — nothing is skipped, and following twice is harmless.
//! What Okta deleted is in no such list: `presence.rs` compares whole lists for it.

use chrono::{DateTime, NaiveDateTime, TimeDelta};

use super::{presence, ResyncError, Totals};
use crate::okta::follow::{FollowError, Followed, Follower};
use crate::okta::reader::PAGE;
use crate::okta::Okta;
use crate::okta_api::{OktaGroup, OktaUser, Page};

/// How far before a mark a re-read starts again: covers a change Okta stamped just before
/// the mark but listed only after the previous re-read read it, and clocks that disagree.
pub const OVERLAP: TimeDelta = TimeDelta::minutes(5);

/// How the audit trail names the re-read's writes.
pub const ACTOR: &str = "okta-resync";

/// Problems listed at most in the status (the count has them all).
const LISTED_PROBLEMS: usize = 5;

/// An Okta timestamp as a filter value: `2026-12-06T10:00:00.000Z`.
pub fn okta_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.naive_utc())
}

/// Where a re-read starts.
pub struct Start {
    pub users_from: NaiveDateTime,
    pub groups_from: NaiveDateTime,
    /// Whether it also compares the users Okta lists with the directory's (`presence.rs`).
    pub user_presence: bool,
}

/// The marks a completed re-read leaves.
pub struct Marks {
    pub users: NaiveDateTime,
    pub groups: NaiveDateTime,
    /// When its user presence check began, if it made one (the next is due from then).
    pub presence: Option<NaiveDateTime>,
}

/// Runs one re-read from `start`, counting into `totals`: the changed users, the changed
/// groups, then what Okta no longer has.
pub async fn run(
    follow: &Follower,
    start: &Start,
    totals: &mut Totals,
) -> Result<Marks, ResyncError> {
    let users = changed_users(follow, start.users_from, totals).await?;
    let groups = changed_groups(follow, start.groups_from, totals).await?;
    presence::groups(follow, totals).await?;
    let presence = if start.user_presence {
        let began = crate::store::now();
        presence::users(follow, totals).await?;
        Some(began)
    } else {
        None
    };
    Ok(Marks {
        users,
        groups,
        presence,
    })
}

/// Follows the users Okta changed since `from` (less the overlap); the users' new mark.
async fn changed_users(
    follow: &Follower,
    from: NaiveDateTime,
    totals: &mut Totals,
) -> Result<NaiveDateTime, ResyncError> {
    let okta = follow.okta();
    let mut mark = from;
    let filter = format!("lastUpdated gt \"{}\"", okta_time(from - OVERLAP));
    let mut page: Page<OktaUser> = okta
        .first_page("/api/v1/users", &[("filter", &filter), ("limit", PAGE)])
        .await?;
    loop {
        for user in &page.items {
            totals.users_read += 1;
            if let Some(t) = user.last_updated.as_deref().and_then(parse_time) {
                mark = mark.max(t);
            }
            let followed = follow.follow_listed_user(user, ACTOR).await;
            count_user(totals, &user.id, followed)?;
        }
        if !turn(okta, &mut page).await? {
            return Ok(mark);
        }
    }
}

/// Follows the groups whose membership or profile changed since `from` (less the overlap);
/// the groups' new mark.
async fn changed_groups(
    follow: &Follower,
    from: NaiveDateTime,
    totals: &mut Totals,
) -> Result<NaiveDateTime, ResyncError> {
    let okta = follow.okta();
    let mut mark = from;
    let since = okta_time(from - OVERLAP);
    let filter = format!("lastMembershipUpdated gt \"{since}\" or lastUpdated gt \"{since}\"");
    let mut page: Page<OktaGroup> = okta
        .first_page("/api/v1/groups", &[("filter", &filter), ("limit", PAGE)])
        .await?;
    loop {
        for group in &page.items {
            totals.groups_read += 1;
            for t in [&group.last_membership_updated, &group.last_updated] {
                if let Some(t) = t.as_deref().and_then(parse_time) {
                    mark = mark.max(t);
                }
            }
            let followed = follow.follow_listed_group(group, ACTOR).await;
            count_group(totals, &group.id, followed)?;
        }
        if !turn(okta, &mut page).await? {
            return Ok(mark);
        }
    }
}

/// Replaces `page` by the next page of its list; `false` after the last. (Each page is
/// followed before the next is read: `Okta::each_page` hands pages to a synchronous closure.)
async fn turn<T: serde::de::DeserializeOwned>(
    okta: &Okta,
    page: &mut Page<T>,
) -> Result<bool, ResyncError> {
    match page.next.take() {
        Some(next) => {
            *page = okta.next_page(&next).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A failure that ends the re-read (Okta or the database unreachable or refusing: the next
/// re-read starts from the same marks), or one that is this user's or group's alone (the
/// directory refused the write: counted, listed, and the re-read goes on).
fn settle(
    totals: &mut Totals,
    what: &str,
    followed: Result<Followed, FollowError>,
) -> Result<Option<Followed>, ResyncError> {
    match followed {
        Ok(Followed::Refused(why)) => {
            totals.problem(&format!("{what}: {why}"));
            Ok(None)
        }
        Ok(f) => Ok(Some(f)),
        Err(e @ FollowError::Okta(_)) => Err(e.into()),
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            totals.problem(&format!("{what}: {e}"));
            Ok(None)
        }
    }
}

pub(super) fn count_user(
    totals: &mut Totals,
    id: &str,
    followed: Result<Followed, FollowError>,
) -> Result<(), ResyncError> {
    match settle(totals, &format!("Okta user {id}"), followed)? {
        Some(Followed::Ignored(_)) => totals.ignored += 1,
        Some(Followed::Disabled { changed }) => {
            totals.users_changed += i64::from(changed);
            totals.users_disabled += i64::from(changed);
        }
        Some(f) => totals.users_changed += i64::from(f.changed()),
        None => {}
    }
    Ok(())
}

pub(super) fn count_group(
    totals: &mut Totals,
    id: &str,
    followed: Result<Followed, FollowError>,
) -> Result<(), ResyncError> {
    match settle(totals, &format!("Okta group {id}"), followed)? {
        Some(Followed::Ignored(_)) => totals.ignored += 1,
        Some(f) => totals.groups_changed += i64::from(f.changed()),
        None => {}
    }
    Ok(())
}

impl Totals {
    fn problem(&mut self, text: &str) {
        self.errors += 1;
        tracing::warn!(problem = text, "Okta re-read: not applied");
        if self.problems.len() < LISTED_PROBLEMS {
            self.problems.push(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_times_round_trip_with_milliseconds() {
        let t = parse_time("2026-12-06T10:11:12.345Z").expect("parses");
        assert_eq!(okta_time(t), "2026-12-06T10:11:12.345Z");
        assert_eq!(okta_time(t - OVERLAP), "2026-12-06T10:06:12.345Z");
        assert!(parse_time("yesterday").is_none());
    }
}
