-- Cinder volume types. Volumes name their type (volumes.volume_type); a
-- rename rewrites those names in the same transaction. The storage policy
-- of a type is its extra spec atoll:storage_policy (the default policy
-- without one).
CREATE TABLE volume_types (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public BOOLEAN NOT NULL DEFAULT 1,
    extra_specs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
-- Projects that may use a private type.
CREATE TABLE volume_type_projects (
    type_id TEXT NOT NULL REFERENCES volume_types(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (type_id, project_id)
);
