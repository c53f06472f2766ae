DROP TABLE volume_attachments;
DROP TABLE volume_snapshots;
DROP TABLE volumes;
