-- Glance views: an image points at a read-only resource once it has data.
CREATE TABLE images (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT,
    owner TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    protected BOOLEAN NOT NULL DEFAULT 0,
    os_hidden BOOLEAN NOT NULL DEFAULT 0,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    size BIGINT,
    virtual_size BIGINT,
    container_format TEXT,
    disk_format TEXT,
    min_ram INTEGER NOT NULL DEFAULT 0,
    min_disk INTEGER NOT NULL DEFAULT 0,
    -- JSON object of the custom properties.
    properties TEXT NOT NULL DEFAULT '{}',
    -- JSON array of tags, in insertion order.
    tags TEXT NOT NULL DEFAULT '[]',
    -- JSON array of {"url", "metadata"} locations.
    locations TEXT NOT NULL DEFAULT '[]',
    -- The image's data: NULL until uploaded, imported or registered.
    resource_id TEXT REFERENCES resources(id),
    -- Data staged by glance-direct, not yet imported.
    staging_resource_id TEXT REFERENCES resources(id),
    -- Storage policy (Glance store) the data lives under.
    store TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX images_owner ON images(owner);
CREATE INDEX images_resource ON images(resource_id);
CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES images(id),
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members(member);

-- NBD exports of attached volumes: written by the volume API, read by the
-- block daemon's NBD server. The export name is a secret random id.
CREATE TABLE nbd_exports (
    name TEXT NOT NULL PRIMARY KEY,
    resource_id TEXT NOT NULL REFERENCES resources(id),
    volume_id TEXT NOT NULL,
    attachment_id TEXT NOT NULL,
    -- Peer address allowed to connect (connector ip); NULL allows any.
    client_ip TEXT,
    readonly BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX nbd_exports_volume ON nbd_exports(volume_id);
CREATE UNIQUE INDEX nbd_exports_attachment ON nbd_exports(attachment_id);
