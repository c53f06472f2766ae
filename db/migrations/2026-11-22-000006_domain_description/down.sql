ALTER TABLE domains DROP COLUMN description;
