DROP TABLE settings; DROP TABLE audit_log; DROP TABLE service_accounts;
