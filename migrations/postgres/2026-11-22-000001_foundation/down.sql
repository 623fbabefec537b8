DROP TABLE settings; DROP TABLE audit_log; DROP FUNCTION audit_log_append_only; DROP TABLE service_accounts;
