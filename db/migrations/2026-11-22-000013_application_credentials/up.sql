-- Keystone application credentials: a user's delegation of (some of) its
-- roles on one project to an application, authenticated by a secret that
-- is stored hashed (Argon2id) and shown once.
CREATE TABLE application_credentials (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    description TEXT,
    secret_hash TEXT NOT NULL,
    -- Microseconds since the epoch; NULL: never expires.
    expires_at BIGINT,
    unrestricted BOOLEAN NOT NULL DEFAULT 0,
    -- JSON array of role ids delegated.
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
