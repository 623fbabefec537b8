-- The tenant's ZenQMS call budget and 429 pause, shared by every bridge process on this
-- database (src/sync/budget.rs). Microseconds since the epoch, on the database's clock.
CREATE TABLE zenqms_budget (
    tenant TEXT PRIMARY KEY NOT NULL,
    next_free_us BIGINT NOT NULL DEFAULT 0,
    paused_until_us BIGINT NOT NULL DEFAULT 0
);
INSERT INTO zenqms_budget (tenant) VALUES ('zenqms');
