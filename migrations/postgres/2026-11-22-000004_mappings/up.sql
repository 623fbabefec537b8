-- Text columns compared or sorted use the "C" collation, as the directory's do.
-- ZenQMS roles as `GET /v2/roles` last listed them: their names for display, and whether each
-- still exists. Rows are never deleted: a role that disappears is marked missing (its mappings
-- read `role_missing` and the reconciler leaves it alone) and comes back when it is listed again.
CREATE TABLE zenqms_roles (
    -- The id exactly as ZenQMS sent it (JSON text: 7 or "r-7"): the form sent back.
    id_json TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    -- Its string form (a number's digits, a string's content): what admins type and read.
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT,
    -- In the last complete listing.
    present BOOLEAN NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    -- The last listing (or lookup) that showed it.
    refreshed_at TIMESTAMP NOT NULL,
    missing_since TIMESTAMP
);
CREATE INDEX zenqms_roles_id ON zenqms_roles (id);

-- Group → role mappings, edited by admins. A row names its group by SCIM id, so it survives
-- renames; one created by display name for a group not pushed yet has no group_id (pending)
-- and binds, without regard to case, when a group of that name arrives. When its group is
-- deleted a row goes back to pending under the group's last name; `bound_at` stays set, so
-- its role stays managed and the former members lose it.
CREATE TABLE role_mappings (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    group_id TEXT COLLATE "C" REFERENCES scim_groups (id) ON DELETE SET NULL,
    -- The name to bind by while pending; the group's current name while bound.
    group_display_name TEXT COLLATE "C" NOT NULL,
    -- The bridge's Unicode lower case of it (as scim_groups.display_name_lower).
    group_display_name_lower TEXT COLLATE "C" NOT NULL,
    role_id TEXT COLLATE "C" NOT NULL,
    role_id_json TEXT COLLATE "C" NOT NULL REFERENCES zenqms_roles (id_json),
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    -- When it last bound to a group; NULL only for a row that never had one.
    bound_at TIMESTAMP,
    -- When its group was deleted (NULL while bound, or if it never was).
    unbound_at TIMESTAMP
);
-- A pair is never duplicated: once per (group, role) while bound, once per (name, role) while
-- pending. Partial unique indexes work alike on SQLite and PostgreSQL.
CREATE UNIQUE INDEX role_mappings_bound ON role_mappings (group_id, role_id_json)
    WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX role_mappings_pending ON role_mappings (group_display_name_lower, role_id_json)
    WHERE group_id IS NULL;
CREATE INDEX role_mappings_role ON role_mappings (role_id_json);

-- The roles each linked user holds in ZenQMS as its last answer showed them: a shadow of
-- sync_users.applied.role_ids, kept in the same transaction, so "who holds role R" is one
-- indexed query (the preview, and the users to enqueue when a role becomes managed).
CREATE TABLE zenqms_user_roles (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES sync_users (user_id) ON DELETE CASCADE,
    role_id_json TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, role_id_json)
);
CREATE INDEX zenqms_user_roles_role ON zenqms_user_roles (role_id_json, user_id);

-- The shadow of what is already stored. role_ids holds JSON numbers or strings; jsonb's text
-- of them is what ZenqmsId::json_text produces (7, "r-7").
INSERT INTO zenqms_user_roles (user_id, role_id_json)
SELECT DISTINCT s.user_id, e.value::text
FROM sync_users s,
     jsonb_array_elements(
         CASE WHEN jsonb_typeof(s.applied::jsonb -> 'role_ids') = 'array'
              THEN s.applied::jsonb -> 'role_ids' ELSE '[]'::jsonb END) AS e(value)
WHERE s.applied IS NOT NULL AND jsonb_typeof(e.value) IN ('number', 'string');
