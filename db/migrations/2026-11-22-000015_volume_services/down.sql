DROP TABLE volume_services;
