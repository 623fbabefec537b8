DROP TABLE sync_holds;
DROP TABLE initial_sync_items;
DROP TABLE initial_sync_runs;
