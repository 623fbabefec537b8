DROP TABLE zenqms_creates_sent;
