-- The periodic re-read of the Okta org (src/okta/resync/), one row (id 1): the lease of the
-- process running a re-read (one process at a time), the trigger and the flag that asks for
-- one now (an event hook repaired after failing), the high-water marks of what Okta has shown
-- (users' lastUpdated, groups' lastMembershipUpdated / lastUpdated, on Okta's clock), and the
-- outcome of the last re-read. `runs` counts re-reads started (a claim is a compare-and-swap
-- on it, so two processes never both start one).
CREATE TABLE okta_resync (
    id INTEGER PRIMARY KEY NOT NULL,
    runs BIGINT NOT NULL,
    lease_owner TEXT COLLATE "C",
    lease_until TIMESTAMP,
    -- periodic | first | admin | why it was requested
    run_trigger TEXT,
    requested_at TIMESTAMP,
    requested_why TEXT,
    last_started_at TIMESTAMP,
    last_finished_at TIMESTAMP,
    users_mark TIMESTAMP,
    groups_mark TIMESTAMP,
    -- completed | failed | interrupted
    last_outcome TEXT,
    last_error TEXT,
    -- The last re-read's counts (JSON: users_read, users_changed, users_disabled,
    -- groups_read, groups_changed, ignored, errors).
    last_counts TEXT
);
INSERT INTO okta_resync (id, runs) VALUES (1, 0);
