DROP TABLE okta_authorizations;
DROP TABLE okta_connection;
