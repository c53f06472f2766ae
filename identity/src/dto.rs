//! Wire types of the Keystone API (serde + utoipa). Field order follows what
//! real Keystone sends, since some tools compare documents textually.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---- errors ----

/// Keystone's error document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// Body of [`ErrorResponse`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// HTTP status code.
    pub code: u16,
    /// Human-readable message.
    pub message: String,
    /// HTTP reason phrase.
    pub title: String,
}

// ---- version discovery ----

/// A link.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    /// Relation (`self`).
    pub rel: String,
    /// Target URL.
    pub href: String,
}

/// A media type the version accepts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MediaType {
    /// Base type.
    pub base: String,
    /// Vendor type.
    #[serde(rename = "type")]
    pub media_type: String,
}

/// One API version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    /// `v3.14`.
    pub id: String,
    /// `stable`.
    pub status: String,
    /// Last change of the version.
    pub updated: String,
    /// Self link.
    pub links: Vec<Link>,
    /// Accepted media types.
    #[serde(rename = "media-types")]
    pub media_types: Vec<MediaType>,
}

/// `GET /v3`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionResponse {
    /// The version.
    pub version: Version,
}

/// List of versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionValues {
    /// Versions.
    pub values: Vec<Version>,
}

/// `GET /` (300 Multiple Choices).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionsResponse {
    /// Versions.
    pub versions: VersionValues,
}

// ---- authentication request ----

/// `POST /v3/auth/tokens` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AuthRequest {
    /// Credentials and scope.
    pub auth: Auth,
}

/// Credentials and scope.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Auth {
    /// Credentials.
    pub identity: AuthIdentity,
    /// `{"project": {...}}`, `{"domain": {...}}`, `{"system": {...}}` or
    /// `"unscoped"`; absent means the user's default project.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub scope: Option<serde_json::Value>,
}

/// Credentials.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AuthIdentity {
    /// `["password"]` or `["token"]`.
    pub methods: Vec<String>,
    /// Password credentials.
    #[serde(default)]
    pub password: Option<PasswordMethod>,
    /// Token credentials, for re-scoping.
    #[serde(default)]
    pub token: Option<TokenMethod>,
    /// Application credential: id, or name and user, and secret.
    #[serde(default)]
    pub application_credential: Option<AppCredMethod>,
}

/// The user owning an application credential named by name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AppCredUser {
    /// User id.
    #[serde(default)]
    pub id: Option<String>,
    /// User name (needs `domain`).
    #[serde(default)]
    pub name: Option<String>,
    /// Domain of a user named by name.
    #[serde(default)]
    pub domain: Option<DomainSelector>,
}

/// Application credential authentication. `Debug` hides the secret.
#[derive(Clone, Deserialize, ToSchema)]
pub struct AppCredMethod {
    /// Credential id.
    #[serde(default)]
    pub id: Option<String>,
    /// Credential name (needs `user`).
    #[serde(default)]
    pub name: Option<String>,
    /// Owner of a credential named by name.
    #[serde(default)]
    pub user: Option<AppCredUser>,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for AppCredMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredMethod")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Password credentials.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PasswordMethod {
    /// The user.
    pub user: PasswordUser,
}

/// A user and password. Never logged: `Debug` hides the password.
#[derive(Clone, Deserialize, ToSchema)]
pub struct PasswordUser {
    /// User id.
    #[serde(default)]
    pub id: Option<String>,
    /// User name (needs `domain`).
    #[serde(default)]
    pub name: Option<String>,
    /// Domain of a user named by name.
    #[serde(default)]
    pub domain: Option<DomainSelector>,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for PasswordUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordUser")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// Token credentials. `Debug` hides the token.
#[derive(Clone, Deserialize, ToSchema)]
pub struct TokenMethod {
    /// The token.
    pub id: String,
}

impl std::fmt::Debug for TokenMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenMethod(..)")
    }
}

/// A domain by id or name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DomainSelector {
    /// Domain id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl DomainSelector {
    /// True if neither id nor name is given.
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none()
    }
}

// ---- tokens ----

/// `{"id", "name"}` of a domain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainRef {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// The token's user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenUser {
    /// User's domain.
    pub domain: DomainRef,
    /// User id.
    pub id: String,
    /// User name.
    pub name: String,
    /// Always null: passwords do not expire.
    #[schema(value_type = Option<String>)]
    pub password_expires_at: Option<String>,
}

/// The token's project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenProject {
    /// Project's domain.
    pub domain: DomainRef,
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
}

/// The application credential of a token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenAppCred {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// True unless the credential is unrestricted.
    pub restricted: bool,
}

/// `{"id", "name"}` of a role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleRef {
    /// Role id.
    pub id: String,
    /// Role name.
    pub name: String,
}

/// An endpoint of the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogEndpoint {
    /// Stable id.
    pub id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// Region id.
    pub region_id: String,
    /// URL.
    pub url: String,
    /// Region (same as `region_id`; older clients read this one).
    pub region: String,
}

/// A service of the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogEntry {
    /// Endpoints.
    pub endpoints: Vec<CatalogEndpoint>,
    /// Stable id.
    pub id: String,
    /// Service type.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Service name.
    pub name: String,
}

/// A token as Keystone describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Token {
    /// Authentication methods.
    pub methods: Vec<String>,
    /// The user.
    pub user: TokenUser,
    /// Own audit id, then the one it was re-scoped from.
    pub audit_ids: Vec<String>,
    /// `2026-11-21T06:35:04.000000Z`.
    pub expires_at: String,
    /// `2026-11-21T05:35:04.000000Z`.
    pub issued_at: String,
    /// Scoped project (absent when unscoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<TokenProject>,
    /// False: projects are never domains here (absent unless
    /// project-scoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_domain: Option<bool>,
    /// The system, for a system-scoped token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemRef>,
    /// The application credential the token was issued for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_credential: Option<TokenAppCred>,
    /// Roles on the project or the system (absent when unscoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleRef>>,
    /// Service catalog (absent with `?nocatalog` and when unscoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Vec<CatalogEntry>>,
}

/// `{"token": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The token.
    pub token: Token,
}

/// `GET /v3/auth/catalog`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogResponse {
    /// Services.
    pub catalog: Vec<CatalogEntry>,
}

// ---- collections ----

/// Pagination links of a collection (never paginated here).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionLinks {
    /// Next page: always null.
    #[schema(value_type = Option<String>)]
    pub next: Option<String>,
    /// This URL.
    #[serde(rename = "self")]
    pub self_: String,
    /// Previous page: always null.
    #[schema(value_type = Option<String>)]
    pub previous: Option<String>,
}

/// Self link of an entity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfLink {
    /// URL of the entity.
    #[serde(rename = "self")]
    pub self_: String,
}

/// A project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Description.
    pub description: String,
    /// Enabled.
    pub enabled: bool,
    /// Parent: the domain, as for any top-level project.
    pub parent_id: String,
    /// Always false.
    pub is_domain: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Self link.
    pub links: SelfLink,
}

/// `{"project": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectResponse {
    /// The project.
    pub project: Project,
}

/// `{"projects": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectsResponse {
    /// Projects.
    pub projects: Vec<Project>,
    /// Links.
    pub links: CollectionLinks,
}

/// A user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Default project, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_project_id: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub password_expires_at: Option<String>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Self link.
    pub links: SelfLink,
    /// Further attributes given at creation or update (description,
    /// email, ...), as Keystone keeps them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `{"user": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserResponse {
    /// The user.
    pub user: User,
}

/// `{"users": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsersResponse {
    /// Users.
    pub users: Vec<User>,
    /// Links.
    pub links: CollectionLinks,
}

/// A role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Role {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Always null: global roles.
    #[schema(value_type = Option<String>)]
    pub domain_id: Option<String>,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub description: Option<String>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Self link.
    pub links: SelfLink,
}

/// `{"role": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleResponse {
    /// The role.
    pub role: Role,
}

/// `{"roles": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolesResponse {
    /// Roles.
    pub roles: Vec<Role>,
    /// Links.
    pub links: CollectionLinks,
}

/// A group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Description.
    pub description: String,
    /// Self link.
    pub links: SelfLink,
}

/// `{"group": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupResponse {
    /// The group.
    pub group: Group,
}

/// `{"groups": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupsResponse {
    /// Groups.
    pub groups: Vec<Group>,
    /// Links.
    pub links: CollectionLinks,
}

/// `POST /v3/groups` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateGroupRequest {
    /// The group.
    pub group: NewGroup,
}

/// A group to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewGroup {
    /// Name, unique in the domain.
    pub name: String,
    /// Domain (default `default`).
    #[serde(default)]
    pub domain_id: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /v3/groups/{group_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateGroupRequest {
    /// The fields to change.
    pub group: GroupUpdate,
}

/// Group fields to change; absent ones keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct GroupUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Cannot change.
    #[serde(default)]
    pub domain_id: Option<String>,
    /// Must be the group's own id if given.
    #[serde(default)]
    pub id: Option<String>,
}

/// A domain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Domain {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Enabled.
    pub enabled: bool,
    /// Always empty.
    pub tags: Vec<String>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Self link.
    pub links: SelfLink,
}

/// `{"domain": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainResponse {
    /// The domain.
    pub domain: Domain,
}

/// `{"domains": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainsResponse {
    /// Domains.
    pub domains: Vec<Domain>,
    /// Links.
    pub links: CollectionLinks,
}

/// An id with an optional name (and domain), as role assignments show them
/// with and without `include_names`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NamedRef {
    /// Id.
    pub id: String,
    /// Name (with `include_names`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Domain (with `include_names`, for users and projects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// `{"all": true}`: the one system Keystone knows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemRef {
    /// Always true.
    pub all: bool,
}

impl SystemRef {
    pub const ALL: SystemRef = SystemRef { all: true };
}

/// Scope of an assignment: a project or the system.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentScope {
    /// The project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<NamedRef>,
    /// The system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemRef>,
}

/// `GET /v3/auth/system`: the systems the token's user holds a role on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthSystemResponse {
    /// `[{"all": true}]`, or empty.
    pub system: Vec<SystemRef>,
    /// Links.
    pub links: CollectionLinks,
}

/// Link of an assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentLinks {
    /// URL of the grant.
    pub assignment: String,
    /// For an effective assignment through a group: URL of the membership.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<String>,
}

/// A role assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleAssignment {
    /// The role.
    pub role: NamedRef,
    /// The user (absent for a group's assignment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<NamedRef>,
    /// The group (for a group's assignment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<NamedRef>,
    /// The project or the system.
    pub scope: AssignmentScope,
    /// Link to the grant.
    pub links: AssignmentLinks,
}

/// `{"role_assignments": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleAssignmentsResponse {
    /// Assignments.
    pub role_assignments: Vec<RoleAssignment>,
    /// Links.
    pub links: CollectionLinks,
}

// ---- create requests ----

/// `POST /v3/projects` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    /// The project.
    pub project: NewProject,
}

/// A project to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewProject {
    /// Name.
    pub name: String,
    /// Domain (default `default`).
    #[serde(default)]
    pub domain_id: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Tags: distinct, at most 80, each 1 to 255 characters without ','
    /// or '/'.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// An application credential, as listed and shown (the secret only in
/// the answer to its creation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppCred {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Expiry (`2026-11-21T06:35:04.000000`), or null.
    pub expires_at: Option<String>,
    /// The project the roles are held on.
    pub project_id: String,
    /// The owner.
    pub user_id: String,
    /// The delegated roles.
    pub roles: Vec<AppCredRole>,
    /// May create and delete application credentials.
    pub unrestricted: bool,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub access_rules: Vec<serde_json::Value>,
    /// The secret: only when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Self link.
    pub links: SelfLink,
}

/// A delegated role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppCredRole {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Always null: roles are global.
    pub domain_id: Option<String>,
}

/// `{"application_credential": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppCredResponse {
    /// The credential.
    pub application_credential: AppCred,
}

/// `{"application_credentials": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppCredsResponse {
    /// Credentials.
    pub application_credentials: Vec<AppCred>,
    /// Links.
    pub links: CollectionLinks,
}

/// `POST /v3/users/{user_id}/application_credentials` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateAppCredRequest {
    /// The credential.
    pub application_credential: NewAppCred,
}

/// A role to delegate, by id or name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RoleSelector {
    /// Role id.
    #[serde(default)]
    pub id: Option<String>,
    /// Role name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A credential to create. `Debug` hides the secret.
#[derive(Clone, Deserialize, ToSchema)]
pub struct NewAppCred {
    /// Name, unique among the user's credentials.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The secret; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Expiry (ISO 8601), or null for never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Roles to delegate (default: all of the token's roles); each must be
    /// one the token holds.
    #[serde(default)]
    pub roles: Option<Vec<RoleSelector>>,
    /// May create and delete application credentials (default false).
    #[serde(default)]
    pub unrestricted: Option<bool>,
    /// Access rules: only an empty list is accepted.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub access_rules: Option<Vec<serde_json::Value>>,
}

impl std::fmt::Debug for NewAppCred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAppCred")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `{"tags": [...]}`: a project's tags, or the new list for
/// `PUT /v3/projects/{project_id}/tags`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectTags {
    /// The tags.
    pub tags: Vec<String>,
}

/// `POST /v3/users` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// The user.
    pub user: NewUserBody,
}

/// A user to create. `Debug` hides the password.
#[derive(Clone, Deserialize, ToSchema)]
pub struct NewUserBody {
    /// Name.
    pub name: String,
    /// Domain (default `default`).
    #[serde(default)]
    pub domain_id: Option<String>,
    /// Default project id.
    #[serde(default)]
    pub default_project_id: Option<String>,
    /// Password; without one the user cannot log in.
    #[serde(default)]
    pub password: Option<String>,
    /// Enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for NewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserBody")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

// ---- update requests ----

/// A field that may be absent (`None`), null (`Some(None)`) or set.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v3/projects/{project_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    /// The fields to change.
    pub project: ProjectUpdate,
}

/// Project fields to change; absent ones keep their value. Other
/// attributes are accepted and ignored, as Keystone keeps them as extras.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProjectUpdate {
    /// New name, unique in the domain.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (null clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Enable or disable; disabling revokes the tokens scoped to it.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The whole new tag list.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Must be the project's own id if given.
    #[serde(default)]
    pub id: Option<String>,
    /// Cannot change.
    #[serde(default)]
    pub domain_id: Option<String>,
    /// Cannot change.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Cannot change.
    #[serde(default)]
    pub is_domain: Option<bool>,
}

/// `PATCH /v3/users/{user_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// The fields to change.
    pub user: UserUpdate,
}

/// User fields to change; absent ones keep their value. `Debug` hides the
/// password.
#[derive(Clone, Default, Deserialize, ToSchema)]
pub struct UserUpdate {
    /// New name, unique in the domain.
    #[serde(default)]
    pub name: Option<String>,
    /// New password (null: the user can no longer log in); revokes the
    /// user's tokens.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    /// New default project (null clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub default_project_id: Option<Option<String>>,
    /// Enable or disable; disabling revokes the user's tokens.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Must be the user's own id if given.
    #[serde(default)]
    pub id: Option<String>,
    /// Cannot change.
    #[serde(default)]
    pub domain_id: Option<String>,
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// `POST /v3/users/{user_id}/password` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The old and new password.
    pub user: PasswordChange,
}

/// A self-service password change. `Debug` hides both passwords.
#[derive(Clone, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    pub original_password: String,
    /// The new password.
    pub password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange").finish_non_exhaustive()
    }
}

// ---- catalog entities ----

/// A catalog service, as `/v3/services` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogServiceEntity {
    /// Stable id.
    pub id: String,
    /// Service type (`object-store`, `image`, ...).
    #[serde(rename = "type")]
    pub service_type: String,
    /// Name (`swift`, `glance`, ...).
    pub name: String,
    /// Always true: the catalog comes from the configuration.
    pub enabled: bool,
    /// Self link.
    pub links: SelfLink,
}

/// `{"service": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceResponse {
    /// The service.
    pub service: CatalogServiceEntity,
}

/// `{"services": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServicesResponse {
    /// Services.
    pub services: Vec<CatalogServiceEntity>,
    /// Links.
    pub links: CollectionLinks,
}

/// An endpoint, as `/v3/endpoints` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointEntity {
    /// Stable id.
    pub id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// Region id (legacy attribute).
    pub region: String,
    /// Region id.
    pub region_id: String,
    /// The service it belongs to.
    pub service_id: String,
    /// URL template (`$(project_id)s` where the project goes).
    pub url: String,
    /// Always true.
    pub enabled: bool,
    /// Self link.
    pub links: SelfLink,
}

/// `{"endpoint": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointResponse {
    /// The endpoint.
    pub endpoint: EndpointEntity,
}

/// `{"endpoints": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointsResponse {
    /// Endpoints.
    pub endpoints: Vec<EndpointEntity>,
    /// Links.
    pub links: CollectionLinks,
}

/// A region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionEntity {
    /// Id (`RegionOne`).
    pub id: String,
    /// Description.
    pub description: String,
    /// Always null: one flat region.
    pub parent_region_id: Option<String>,
    /// Self link.
    pub links: SelfLink,
}

/// `{"region": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionResponse {
    /// The region.
    pub region: RegionEntity,
}

/// `{"regions": [...], "links": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionsResponse {
    /// Regions.
    pub regions: Vec<RegionEntity>,
    /// Links.
    pub links: CollectionLinks,
}

/// `POST /v3/roles` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateRoleRequest {
    /// The role.
    pub role: NewRole,
}

/// A role to create; roles are global (no domain-specific roles).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewRole {
    /// Unique name.
    pub name: String,
    /// Must be absent or null.
    #[serde(default)]
    pub domain_id: Option<String>,
}

/// `PATCH /v3/roles/{role_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateRoleRequest {
    /// The fields to change.
    pub role: RoleUpdate,
}

/// Role fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RoleUpdate {
    /// New unique name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v3/domains` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateDomainRequest {
    /// The domain.
    pub domain: NewDomain,
}

/// A domain to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewDomain {
    /// Unique name, 1 to 64 characters.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /v3/domains/{domain_id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateDomainRequest {
    /// The fields to change.
    pub domain: DomainUpdate,
}

/// Domain fields to change; absent ones keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DomainUpdate {
    /// New unique name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (null clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Enable or disable; disabling revokes the tokens of its users and
    /// projects.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Must be the domain's own id if given.
    #[serde(default)]
    pub id: Option<String>,
}
