-- Identity (Keystone v3 subset). Ids are 32 lowercase hex characters, as Keystone's.
CREATE TABLE domains (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT 1
);
CREATE TABLE projects (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT 1,
    UNIQUE (domain_id, name)
);
CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains(id),
    default_project_id TEXT,
    password_hash TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    UNIQUE (domain_id, name)
);
CREATE TABLE roles (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE role_assignments (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id, role_id)
);
-- Revoked tokens by audit id; rows are dropped once the token would have expired anyway.
CREATE TABLE token_revocations (
    audit_id TEXT NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
-- Deployment-wide settings, e.g. the token signing key shared by all hosts.
CREATE TABLE settings (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Resource layer (archipelago). See docs/formats.md.
CREATE TABLE layers (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER REFERENCES layers(id),
    depth INTEGER NOT NULL
);
CREATE INDEX layers_parent ON layers(parent_id);
CREATE TABLE blocks (
    id BLOB NOT NULL PRIMARY KEY,
    size INTEGER NOT NULL,
    inline_data BLOB,
    created_at BIGINT NOT NULL
);
CREATE TABLE map_entries (
    layer_id INTEGER NOT NULL REFERENCES layers(id),
    idx BIGINT NOT NULL,
    block_id BLOB,
    PRIMARY KEY (layer_id, idx)
);
CREATE INDEX map_entries_block ON map_entries(block_id);
CREATE TABLE resources (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL,
    block_size INTEGER NOT NULL,
    layer_id INTEGER NOT NULL REFERENCES layers(id),
    policy TEXT NOT NULL,
    refs INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX resources_layer ON resources(layer_id);

-- Swift views.
CREATE TABLE swift_accounts (
    account TEXT NOT NULL PRIMARY KEY,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    container_count BIGINT NOT NULL DEFAULT 0,
    object_count BIGINT NOT NULL DEFAULT 0,
    bytes_used BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE swift_containers (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    read_acl TEXT,
    write_acl TEXT,
    created_at BIGINT NOT NULL,
    put_timestamp BIGINT NOT NULL,
    object_count BIGINT NOT NULL DEFAULT 0,
    bytes_used BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, name)
);
CREATE TABLE swift_objects (
    account TEXT NOT NULL,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    resource_id TEXT NOT NULL REFERENCES resources(id),
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    last_modified BIGINT NOT NULL,
    delete_at BIGINT,
    manifest TEXT,
    slo BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (account, container, name)
);
CREATE INDEX swift_objects_delete_at ON swift_objects(delete_at) WHERE delete_at IS NOT NULL;
CREATE INDEX swift_objects_resource ON swift_objects(resource_id);
