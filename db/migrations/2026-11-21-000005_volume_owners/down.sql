DROP TABLE volume_owners;
