DROP TABLE zenqms_budget;
