DROP TABLE okta_hook_events;
DROP TABLE okta_hook_deliveries;
DROP TABLE okta_event_hook;
