-- Cinder views: a volume points at a read-write resource, a snapshot at a
-- read-only one. Metadata maps are JSON objects (small, always read whole).
CREATE TABLE volumes (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    -- GiB, as Cinder counts.
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    -- 'detached' or 'attached'.
    attach_status TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    volume_type TEXT NOT NULL,
    bootable BOOLEAN NOT NULL DEFAULT 0,
    readonly BOOLEAN NOT NULL DEFAULT 0,
    multiattach BOOLEAN NOT NULL DEFAULT 0,
    snapshot_id TEXT,
    source_volid TEXT,
    -- JSON object of the user metadata.
    metadata TEXT NOT NULL DEFAULT '{}',
    -- JSON object: volume_image_metadata (Glance properties it came from).
    image_metadata TEXT NOT NULL DEFAULT '{}',
    -- NULL only while creating or after a failed create.
    resource_id TEXT REFERENCES resources(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volumes_project ON volumes(project_id, created_at);
CREATE TABLE volume_snapshots (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    volume_id TEXT NOT NULL REFERENCES volumes(id),
    name TEXT,
    description TEXT,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    resource_id TEXT REFERENCES resources(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volume_snapshots_project ON volume_snapshots(project_id, created_at);
CREATE INDEX volume_snapshots_volume ON volume_snapshots(volume_id, created_at);
CREATE TABLE volume_attachments (
    id TEXT NOT NULL PRIMARY KEY,
    volume_id TEXT NOT NULL REFERENCES volumes(id),
    project_id TEXT NOT NULL,
    instance_uuid TEXT,
    attached_host TEXT,
    mountpoint TEXT,
    -- reserved, attaching, attached, detaching.
    attach_status TEXT NOT NULL,
    -- 'rw', 'ro' or 'null' (not chosen yet).
    attach_mode TEXT NOT NULL,
    -- JSON of the connector and of the connection_info handed out.
    connector TEXT,
    connection_info TEXT,
    attach_time BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volume_attachments_volume ON volume_attachments(volume_id);
CREATE INDEX volume_attachments_project ON volume_attachments(project_id);
