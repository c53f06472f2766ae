//! Who made a request: the [`AuthContext`] a valid token stands for, and the
//! built-in roles.

use time::OffsetDateTime;

/// Role that may do everything, in every project (Keystone's `admin`).
pub const ROLE_ADMIN: &str = "admin";
/// Role that may read and write a project's resources.
pub const ROLE_MEMBER: &str = "member";
/// Role that may only read a project's resources.
pub const ROLE_READER: &str = "reader";
/// The roles bootstrap creates, strongest first.
pub const BUILTIN_ROLES: [&str; 3] = [ROLE_ADMIN, ROLE_MEMBER, ROLE_READER];

/// The identity a valid token stands for. Everything here comes from the
/// signed token itself, so building it costs no database query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// User id (32 hex characters).
    pub user_id: String,
    /// User name.
    pub user_name: String,
    /// The user's domain id (`default`).
    pub domain_id: String,
    /// Project the token is scoped to; `None` for an unscoped token.
    pub project_id: Option<String>,
    /// Name of that project.
    pub project_name: Option<String>,
    /// Domain of that project.
    pub project_domain_id: Option<String>,
    /// True for a system-scoped token: its roles are held on the
    /// deployment as a whole (identity administration), never on a
    /// project, so it owns no project's resources.
    pub system: bool,
    /// The application credential the token was issued for, if any.
    pub application_credential: Option<String>,
    /// True for a token of a restricted application credential: it may not
    /// create or delete application credentials.
    pub restricted: bool,
    /// Effective role names on the scope, implied roles included (an
    /// `admin` also holds `member` and `reader`). Empty for unscoped tokens
    /// and for TempAuth users who reach a project only as its default.
    pub roles: Vec<String>,
    /// Authentication methods that produced the token (`password`, `token`).
    pub methods: Vec<String>,
    /// When the token was issued (whole seconds).
    pub issued_at: OffsetDateTime,
    /// When the token stops being valid (whole seconds).
    pub expires_at: OffsetDateTime,
    /// Audit id of this token, the handle for revoking it.
    pub audit_id: String,
    /// Audit id of the token this one was re-scoped from, if any.
    pub audit_chain_id: Option<String>,
}

impl AuthContext {
    /// True if the token holds `role` (implied roles count).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// True for cloud administrators: the `admin` role on the scoped project,
    /// which Keystone's default policy treats as admin everywhere, or on
    /// the system.
    pub fn is_admin(&self) -> bool {
        self.has_role(ROLE_ADMIN)
    }

    /// True for a system-scoped token holding `reader` (implied by member
    /// and admin): Keystone's default policy lets it read every identity
    /// resource.
    pub fn is_system_reader(&self) -> bool {
        self.system && self.has_role(ROLE_READER)
    }

    /// The audit ids as Keystone lists them: own first, then the chain's.
    pub fn audit_ids(&self) -> Vec<String> {
        let mut v = vec![self.audit_id.clone()];
        v.extend(self.audit_chain_id.clone());
        v
    }
}

/// Adds the roles implied by `assigned` (admin ⇒ member ⇒ reader), as
/// Keystone's default implied-role rules do, keeping the assigned roles first
/// and dropping duplicates.
pub(crate) fn expand_implied(assigned: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: &str| {
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    };
    for r in assigned {
        push(r);
    }
    for r in assigned {
        let implied: &[&str] = match r.as_str() {
            ROLE_ADMIN => &[ROLE_MEMBER, ROLE_READER],
            ROLE_MEMBER => &[ROLE_READER],
            _ => &[],
        };
        for i in implied {
            push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str]) -> AuthContext {
        AuthContext {
            user_id: "u".into(),
            user_name: "n".into(),
            domain_id: "default".into(),
            project_id: Some("p".into()),
            project_name: Some("pn".into()),
            project_domain_id: Some("default".into()),
            system: false,
            application_credential: None,
            restricted: false,
            roles: roles.iter().map(|s| s.to_string()).collect(),
            methods: vec!["password".into()],
            issued_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            audit_id: "a".into(),
            audit_chain_id: None,
        }
    }

    #[test]
    fn role_checks() {
        assert!(ctx(&["admin"]).is_admin());
        assert!(!ctx(&["member", "reader"]).is_admin());
        assert!(ctx(&["member"]).has_role("member"));
        assert!(!ctx(&[]).has_role("reader"));
    }

    #[test]
    fn implied_roles() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_implied(&s(&["admin"])),
            s(&["admin", "member", "reader"])
        );
        assert_eq!(expand_implied(&s(&["member"])), s(&["member", "reader"]));
        assert_eq!(
            expand_implied(&s(&["reader", "member"])),
            s(&["reader", "member"])
        );
        assert_eq!(
            expand_implied(&s(&["swiftoperator"])),
            s(&["swiftoperator"])
        );
    }
}
