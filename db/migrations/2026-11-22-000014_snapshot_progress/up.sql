-- A snapshot's progress as its creator last reported it through
-- os-update_snapshot_status (`80%`); NULL: derived from the status.
ALTER TABLE volume_snapshots ADD COLUMN progress TEXT;
