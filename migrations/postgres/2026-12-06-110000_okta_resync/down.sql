DROP TABLE okta_resync;
