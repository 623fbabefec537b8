DROP TABLE console_signins;
DROP TABLE console_sessions;
