-- Browser sessions of the admin console (src/auth/sessions.rs). The cookie holds a random
-- id; only its SHA-256 is stored. A session ends on sign-out (ended_at set), after
-- CONSOLE_SESSION_IDLE_SECS without a request, or CONSOLE_SESSION_MAX_SECS after sign-in.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    -- The service account's name, or okta:<login> for a person signed in with Okta.
    principal TEXT NOT NULL,
    -- admin | read
    scope TEXT NOT NULL,
    -- token | okta
    via TEXT NOT NULL,
    -- The CSRF token every form of this session carries.
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX console_sessions_created ON console_sessions (created_at);
-- "Sign in with Okta" requests in flight: the state (its SHA-256), single use, 10 minutes,
-- with the nonce and the PKCE verifier (sealed), bound to the browser that asked by a cookie
-- holding the state itself.
CREATE TABLE console_signins (
    state_hash TEXT PRIMARY KEY NOT NULL,
    nonce TEXT NOT NULL,
    verifier_sealed TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
