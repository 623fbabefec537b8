DROP TABLE sync_jobs; DROP TABLE group_members; DROP TABLE scim_groups; DROP TABLE scim_user_emails; DROP TABLE scim_users;
