DROP TABLE volume_quota_limits;
