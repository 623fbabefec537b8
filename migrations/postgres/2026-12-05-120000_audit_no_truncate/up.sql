-- The audit trail is append-only: the row trigger of the foundation migration refuses UPDATE
-- and DELETE, but TRUNCATE fires no row trigger. A statement trigger refuses it too.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
