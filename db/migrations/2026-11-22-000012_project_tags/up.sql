-- Keystone project tags: a JSON array of distinct strings (at most 80, each
-- 1 to 255 characters without ',' or '/').
ALTER TABLE projects ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
