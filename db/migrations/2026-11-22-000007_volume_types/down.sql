DROP TABLE volume_type_projects;
DROP TABLE volume_types;
