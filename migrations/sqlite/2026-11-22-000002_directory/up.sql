-- The mirror of what the IdP pushed. `attributes` holds the SCIM resource as JSON text, with
-- canonical attribute names (everything but id, meta, groups, schemas and password — a password
-- is never stored). The other columns are shadows of it, kept in the same transaction: indexed
-- for uniqueness, filters and sorting, and read by the reconciler for the ZenQMS projection.
-- `user_name_lower` holds the Unicode lower case computed by the bridge, so the case-insensitive
-- uniqueness of userName (RFC 7643 caseExact=false) is the same on SQLite and PostgreSQL.
CREATE TABLE scim_users (
    id TEXT PRIMARY KEY NOT NULL,
    user_name TEXT NOT NULL,
    -- NULL once the SCIM resource is deleted, so the name can be reused.
    user_name_lower TEXT UNIQUE,
    external_id TEXT,
    display_name TEXT,
    given_name TEXT,
    family_name TEXT,
    -- NULL when absent or empty.
    title TEXT,
    active BOOLEAN NOT NULL,
    attributes TEXT NOT NULL,
    -- meta.version / ETag: bumped on every change of the representation.
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- SCIM DELETE: the row stays (so ZenQMS can be told to disable the user) but the resource
    -- is gone from SCIM.
    deleted_at TIMESTAMP
);
CREATE INDEX scim_users_external_id ON scim_users (external_id);
CREATE INDEX scim_users_created ON scim_users (created_at, id);
CREATE INDEX scim_users_updated ON scim_users (updated_at, id);

CREATE TABLE scim_user_emails (
    user_id TEXT NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    email_type TEXT,
    is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, position)
);
CREATE INDEX scim_user_emails_value ON scim_user_emails (value_lower);

CREATE TABLE scim_groups (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    display_name_lower TEXT NOT NULL UNIQUE,
    external_id TEXT,
    attributes TEXT NOT NULL,
    -- Maintained with every membership change, so a group's size never needs a count.
    member_count BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Transactional outbox: one pending job per user, coalesced. `generation` grows on every
-- enqueue so a worker can tell whether the user changed while it was reconciling.
CREATE TABLE sync_jobs (
    user_id TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL,
    enqueued_at TIMESTAMP NOT NULL,
    run_after TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_error TEXT
);
CREATE INDEX sync_jobs_due ON sync_jobs (run_after);
