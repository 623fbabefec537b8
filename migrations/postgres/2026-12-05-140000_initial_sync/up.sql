-- Initial sync runs (docs/initial-sync.md): one row per run. `active_slot` is 'active' while
-- the run is not finished and NULL after; its unique index lets one run at a time exist across
-- every process on the database (a second insert fails: 409). Several NULLs are allowed.
CREATE TABLE initial_sync_runs (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    -- standard | full
    mode TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    -- scim | okta
    source TEXT NOT NULL,
    -- reading_okta | reading_zenqms | applying | done | failed | cancelled
    state TEXT NOT NULL,
    active_slot TEXT,
    requested_by TEXT NOT NULL,
    cancel_requested BOOLEAN NOT NULL,
    -- The process running it; another process takes over once the lease has run out.
    lease_owner TEXT,
    lease_until TIMESTAMP,
    error TEXT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE UNIQUE INDEX initial_sync_runs_one_active ON initial_sync_runs (active_slot);
CREATE INDEX initial_sync_runs_started ON initial_sync_runs (started_at, id);

-- One line per user of a run's scope: the planned outcome, then (once applied) the actual one.
-- `seq` orders the report and is the keyset cursor of its pages.
CREATE TABLE initial_sync_items (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES initial_sync_runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    user_id TEXT COLLATE "C",
    okta_id TEXT,
    email TEXT,
    -- link | create | update | unchanged | skip | conflict
    outcome TEXT NOT NULL,
    zenqms_id TEXT,
    zenqms_id_json TEXT,
    reason TEXT,
    -- planned | in_flight (a call may have been made: look before repeating it) | done
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX initial_sync_items_outcome ON initial_sync_items (run_id, outcome, seq);
CREATE INDEX initial_sync_items_status ON initial_sync_items (run_id, status, seq);

-- Users a Standard run linked: the reconciler and the drift sweep leave them alone until the
-- identity provider changes them (a SCIM write releases the hold in its own transaction).
CREATE TABLE sync_holds (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    run_id TEXT COLLATE "C" NOT NULL,
    held_at TIMESTAMP NOT NULL
);
