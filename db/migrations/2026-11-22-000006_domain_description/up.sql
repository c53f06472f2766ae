-- Domains created through the API carry a description, as Keystone's do.
ALTER TABLE domains ADD COLUMN description TEXT NOT NULL DEFAULT '';
UPDATE domains SET description = 'The default domain' WHERE id = 'default';
