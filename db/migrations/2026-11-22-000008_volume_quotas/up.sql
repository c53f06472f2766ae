-- Cinder quota limits set through the API: scope 'project:<id>' (os-quota-sets)
-- or 'class:<name>' (os-quota-class-sets; 'default' sets every project's
-- defaults). Configured defaults apply where no row says otherwise.
CREATE TABLE volume_quota_limits (
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (scope, resource)
);
