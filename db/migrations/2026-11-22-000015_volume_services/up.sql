-- State operators set on Cinder services (os-services): a disabled or
-- frozen volume backend (atoll@<policy>) takes no new volumes, and a
-- frozen one refuses deletes and snapshots. No row: enabled, not frozen.
CREATE TABLE volume_services (
    host TEXT NOT NULL,
    binary TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    frozen BOOLEAN NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, binary)
);
