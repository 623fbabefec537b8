DROP INDEX okta_hook_deliveries_processed;
DROP INDEX okta_hook_events_done;
ALTER TABLE okta_resync DROP COLUMN presence_checked_at;
