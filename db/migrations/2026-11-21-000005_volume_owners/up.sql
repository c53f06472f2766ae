-- One writer host per volume: the NBD server of a host records here that it
-- exports a resource for writing. A host's write path (write log, caches) is
-- private to it, so two hosts writing the same resource would lose writes.
-- No foreign key to resources: a claim left by a crashed host must never
-- stop the volume from being deleted, and a claim of a deleted resource is
-- inert (nothing can attach it again).
CREATE TABLE volume_owners (
    resource_id TEXT NOT NULL PRIMARY KEY,
    -- The owning host's stable id (`host_id` in its data directory).
    host_id TEXT NOT NULL,
    -- When this host took the claim (microseconds since the epoch); kept
    -- across renewals.
    acquired_at BIGINT NOT NULL,
    -- The claim holds until then (microseconds, the owner's wall clock);
    -- the owner renews it while it has connections open. Past it, another
    -- host may take the claim over (the owner crashed or lost the database).
    lease_until BIGINT NOT NULL
);
CREATE INDEX volume_owners_host ON volume_owners(host_id);
