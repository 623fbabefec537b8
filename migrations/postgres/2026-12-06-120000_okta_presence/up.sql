-- Presence in the Okta re-read (src/okta/resync/presence.rs): a user deleted in Okta never
-- appears in a `lastUpdated gt` list again, so now and then a re-read lists every user and
-- follows the directory's users Okta no longer lists. This is when a completed re-read last
-- did (OKTA_PRESENCE_SECS says how often).
ALTER TABLE okta_resync ADD COLUMN presence_checked_at TIMESTAMP;
-- Event-hook retention (`okta_hooks::inbox::prune_events` / `prune_deliveries`) deletes
-- events by `done_at` and deliveries by `processed_at`; without these it scans both tables
-- every hour.
CREATE INDEX okta_hook_events_done ON okta_hook_events (done_at);
CREATE INDEX okta_hook_deliveries_processed ON okta_hook_deliveries (processed_at);
