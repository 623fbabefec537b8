DROP TRIGGER audit_log_no_truncate ON audit_log;
