-- Keystone keeps a user's attributes beyond its schema (description, email,
-- ...) and returns them with the user: a JSON object.
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
