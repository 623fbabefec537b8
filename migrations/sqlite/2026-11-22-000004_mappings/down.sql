DROP TABLE zenqms_user_roles;
DROP TABLE role_mappings;
DROP TABLE zenqms_roles;
