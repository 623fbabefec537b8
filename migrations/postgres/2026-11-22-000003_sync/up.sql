-- Text columns compared or sorted use the "C" collation, as the directory's do.
-- What the reconciler last did for each directory user. A user with a row in sync_jobs is
-- "pending" whatever this says; this row is the outcome of the last finished run.
CREATE TABLE sync_users (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    -- The linked ZenQMS user: its id as a string (paths, display) and exactly as ZenQMS
    -- sent it (JSON text: 1042 or "u-1042"), which is the form sent back.
    zenqms_id TEXT COLLATE "C",
    zenqms_id_json TEXT COLLATE "C" UNIQUE,
    -- synced | pending | skipped | failed
    state TEXT COLLATE "C" NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL,
    last_attempt_at TIMESTAMP,
    next_attempt_at TIMESTAMP,
    -- The ZenQMS user as the last call answered (JSON): the next run diffs the desired
    -- state against it, so a change in the directory costs one PATCH and no read, and a
    -- PATCH answer that differs from it in fields not sent is drift made in ZenQMS.
    applied TEXT,
    synced_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sync_users_state ON sync_users (state, user_id);
-- Claiming looks for due jobs whose lease is free or expired.
CREATE INDEX sync_jobs_lease ON sync_jobs (lease_until);
