DROP TABLE application_credentials;
