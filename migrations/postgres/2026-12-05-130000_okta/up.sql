-- The Okta connection (one row, id 1): the OIDC web app's settings, the tokens of the last
-- authorization (each sealed bound to the org URL and client id, src/crypto.rs), who
-- authorized, and the refresh lease that keeps several bridge processes from refreshing at
-- once (a refresh that rotates the refresh token must happen once, not once per process).
CREATE TABLE okta_connection (
    id INTEGER PRIMARY KEY NOT NULL,
    org_url TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    -- JSON array of Okta group ids; empty: the whole org.
    scope_group_ids TEXT NOT NULL,
    -- needs_authorization | connected | reauthorization_needed
    state TEXT COLLATE "C" NOT NULL,
    problem TEXT,
    refresh_token_sealed TEXT,
    access_token_sealed TEXT,
    access_token_expires_at TIMESTAMP,
    -- The scopes granted, space-separated.
    scopes TEXT,
    authorized_by TEXT,
    authorized_at TIMESTAMP,
    -- Bumped on every token write: a caller that saw generation N and got 401 refreshes only
    -- if the row still holds N (else another caller already did).
    token_generation BIGINT NOT NULL,
    refresh_lease_owner TEXT COLLATE "C",
    -- Who changed the settings and when is in the audit trail (settings.okta.*).
    refresh_lease_until TIMESTAMP
);
-- Authorization requests in flight: the state (stored as its SHA-256), single use, with an
-- expiry; bound to the admin who asked; the nonce and the PKCE verifier (sealed).
CREATE TABLE okta_authorizations (
    state_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX okta_authorizations_expiry ON okta_authorizations (expires_at);
