DROP TABLE system_role_assignments;
