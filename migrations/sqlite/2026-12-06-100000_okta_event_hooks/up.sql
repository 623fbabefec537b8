-- Okta event hooks (src/okta_hooks/, docs/event-hooks.md).
--
-- The hook registered in Okta (one row, id 1): its Okta id, the URI Okta posts to, its
-- status and verification status as Okta last reported them, the secret Okta sends in the
-- `Authorization` header (only its SHA-256, hex: compared in constant time, never logged),
-- the event types subscribed (JSON array) and what is wrong with it, if anything.
CREATE TABLE okta_event_hook (
    id INTEGER PRIMARY KEY NOT NULL,
    okta_hook_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    -- ACTIVE | INACTIVE (Okta's words)
    status TEXT NOT NULL,
    -- VERIFIED | UNVERIFIED
    verification_status TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    events TEXT NOT NULL,
    problem TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Every delivery accepted (`POST /okta/events` answered 204), kept as received: the events
-- below point at it. `okta_event_id` is the delivery's own `eventId`; `outcome` summarises
-- its events once all are processed.
CREATE TABLE okta_hook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    okta_event_id TEXT,
    received_at TIMESTAMP NOT NULL,
    body TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    processed_at TIMESTAMP,
    outcome TEXT
);
CREATE INDEX okta_hook_deliveries_received ON okta_hook_deliveries (received_at);
-- Each LogEvent once, by its `uuid` (Okta delivers at least once). `state`: pending (to be
-- processed; `due_at` is when, `lease_*` who holds it now), applied, ignored (a type the
-- bridge does not follow, or a user outside the scope) or failed (permanently; `error` says
-- why). `attempts` counts the tries, transient failures included.
CREATE TABLE okta_hook_events (
    uuid TEXT PRIMARY KEY NOT NULL,
    published TIMESTAMP NOT NULL,
    event_type TEXT NOT NULL,
    target_user_id TEXT,
    target_group_id TEXT,
    delivery_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    due_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    received_at TIMESTAMP NOT NULL,
    done_at TIMESTAMP
);
-- The processor claims pending events that are due, oldest first.
CREATE INDEX okta_hook_events_pending ON okta_hook_events (state, due_at);
CREATE INDEX okta_hook_events_user ON okta_hook_events (target_user_id);
CREATE INDEX okta_hook_events_delivery ON okta_hook_events (delivery_id);
