//! The OpenAPI description of the Keystone routes [`crate::configure`] mounts.

use utoipa::OpenApi;

use crate::http::{appcreds, catalog, discovery, groups, projects, roles, system, tokens, users};

/// OpenAPI document of the identity API; every handler is listed here.
#[derive(OpenApi)]
#[openapi(
    info(title = "atoll identity (Keystone v3 subset)", version = "3.14"),
    paths(
        discovery::versions,
        discovery::version_v3,
        tokens::issue_token,
        tokens::validate_token,
        tokens::check_token,
        tokens::revoke_token,
        tokens::auth_catalog,
        projects::auth_projects,
        projects::list_user_projects,
        projects::list_projects,
        projects::get_project,
        projects::create_project,
        projects::delete_project,
        projects::update_project,
        users::list_users,
        users::get_user,
        users::create_user,
        users::delete_user,
        users::update_user,
        users::change_password,
        roles::list_roles,
        roles::get_role,
        roles::create_role,
        roles::update_role,
        roles::delete_role,
        roles::list_grants,
        roles::create_grant,
        roles::check_grant,
        roles::revoke_grant,
        roles::list_role_assignments,
        roles::list_domains,
        roles::get_domain,
        roles::create_domain,
        roles::update_domain,
        roles::delete_domain,
        projects::list_project_tags,
        projects::update_project_tags,
        projects::delete_project_tags,
        projects::check_project_tag,
        projects::add_project_tag,
        projects::delete_project_tag,
        system::list_system_grants,
        system::create_system_grant,
        system::check_system_grant,
        system::get_system_grant,
        system::revoke_system_grant,
        system::auth_system,
        appcreds::create_app_cred,
        appcreds::list_app_creds,
        appcreds::get_app_cred,
        appcreds::delete_app_cred,
        groups::list_groups,
        groups::create_group,
        groups::get_group,
        groups::update_group,
        groups::delete_group,
        groups::list_group_users,
        groups::add_group_user,
        groups::check_group_user,
        groups::get_group_user,
        groups::remove_group_user,
        groups::list_user_groups,
        groups::list_project_group_grants,
        groups::create_project_group_grant,
        groups::check_project_group_grant,
        groups::revoke_project_group_grant,
        groups::list_system_group_grants,
        groups::create_system_group_grant,
        groups::check_system_group_grant,
        groups::get_system_group_grant,
        groups::revoke_system_group_grant,
        catalog::list_services,
        catalog::get_service,
        catalog::list_endpoints,
        catalog::get_endpoint,
        catalog::list_regions,
        catalog::get_region,
    ),
    tags(
        (name = "discovery", description = "Version discovery"),
        (name = "tokens", description = "Authentication and tokens"),
        (name = "projects", description = "Projects"),
        (name = "users", description = "Users"),
        (name = "roles", description = "Roles and role assignments"),
        (name = "application credentials", description = "Application credentials"),
        (name = "groups", description = "Groups, their members and their role assignments"),
        (name = "domains", description = "Domains"),
        (name = "catalog", description = "Services, endpoints and regions (read-only, from the configuration)"),
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = ApiDoc::openapi();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        for p in [
            "/",
            "/v3",
            "/v3/auth/tokens",
            "/v3/role_assignments",
            "/v3/projects/{project_id}",
            "/v3/system/users/{user_id}/roles/{role_id}",
            "/v3/auth/system",
        ] {
            assert!(paths.iter().any(|x| *x == p), "{p} missing from {paths:?}");
        }
        let tokens = &doc.paths.paths["/v3/auth/tokens"];
        assert!(
            tokens.get.is_some()
                && tokens.post.is_some()
                && tokens.head.is_some()
                && tokens.delete.is_some()
        );
    }
}
