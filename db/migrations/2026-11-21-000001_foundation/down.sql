DROP TABLE swift_objects; DROP TABLE swift_containers; DROP TABLE swift_accounts;
DROP TABLE resources; DROP TABLE map_entries; DROP TABLE blocks; DROP TABLE layers;
DROP TABLE settings; DROP TABLE token_revocations; DROP TABLE role_assignments;
DROP TABLE roles; DROP TABLE users; DROP TABLE projects; DROP TABLE domains;
