DROP TABLE sync_users;
DROP INDEX sync_jobs_lease;
