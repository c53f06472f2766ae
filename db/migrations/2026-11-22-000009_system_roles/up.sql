-- Keystone system role assignments: a role held on the deployment as a
-- whole (`system: {"all": true}`), not on a project.
CREATE TABLE system_role_assignments (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
