DROP TABLE system_group_role_assignments;
DROP TABLE group_role_assignments;
DROP TABLE group_members;
DROP TABLE identity_groups;
