-- Directory users for whom a ZenQMS create was sent and whose link is not recorded yet
-- (src/sync/creates.rs): the next run looks the user up before creating it again, so a
-- create whose answer was lost with the database (a restart, a full disk) is not sent twice.
CREATE TABLE zenqms_creates_sent (
    user_id TEXT PRIMARY KEY NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
