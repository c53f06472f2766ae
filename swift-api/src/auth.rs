//! Who is calling and what they may do: token validation on every request,
//! the owner/reader rules of an account, and container ACLs
//! (`X-Container-Read`/`X-Container-Write`).

use crate::http::HttpRequest;
use identity::AuthContext;

use crate::error::{Result, SwiftError};
use crate::tempurl::{self, Grant};
use crate::util::{account_project, header, SwiftPath};
use crate::Swift;

/// The authenticated caller of a request (or an anonymous one).
pub struct Caller {
    pub ctx: Option<AuthContext>,
    pub referrer: Option<String>,
    /// Access a valid temporary URL grants (no token is looked at then).
    pub tempurl: Option<Grant>,
}

/// Validates the request's temporary-URL signature or else its token, if
/// it carries one. A token that does not verify is a 401 even where an ACL
/// would admit anonymous callers; so is a temporary URL that does not.
pub async fn authenticate(swift: &Swift, req: &HttpRequest, path: &SwiftPath) -> Result<Caller> {
    let referrer = header(req.headers(), "referer").map(str::to_string);
    if let Some(grant) = tempurl::verify(swift, req, path).await? {
        return Ok(Caller {
            ctx: None,
            referrer,
            tempurl: Some(grant),
        });
    }
    let token =
        header(req.headers(), "x-auth-token").or_else(|| header(req.headers(), "x-storage-token"));
    let ctx = match token {
        Some(t) => Some(swift.identity.validate(t).await.map_err(|e| {
            tracing::debug!(error = %e, "token rejected");
            SwiftError::Unauthorized
        })?),
        None => None,
    };
    Ok(Caller {
        ctx,
        referrer,
        tempurl: None,
    })
}

/// What a caller's roles give it on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An operator role (admin, member, swiftoperator unless configured) on
    /// the account's project: everything, ACLs included.
    Owner,
    /// reader on the account's project: GET and HEAD only.
    Reader,
    /// Nothing through roles; container ACLs may still grant access.
    None,
}

impl Caller {
    /// True for a token holding the reseller admin role (keystoneauth's
    /// `reseller_request`): it owns every account.
    pub fn is_reseller_admin(&self, swift: &Swift) -> bool {
        // keystoneauth compares role names in lower case.
        let want = &swift.cfg.reseller_admin_role;
        self.ctx
            .as_ref()
            .is_some_and(|c| c.roles.iter().any(|r| r.eq_ignore_ascii_case(want)))
    }

    pub fn access(&self, swift: &Swift, account: &str) -> Access {
        let Some(ctx) = &self.ctx else {
            return Access::None;
        };
        let Some(project) = account_project(account, &swift.cfg.reseller_prefix) else {
            return Access::None;
        };
        if self.is_reseller_admin(swift) {
            return Access::Owner;
        }
        if ctx.project_id.as_deref() != Some(project.as_str()) {
            return Access::None;
        }
        if swift.cfg.operator_roles.iter().any(|r| ctx.has_role(r)) {
            Access::Owner
        } else if ctx.has_role("reader") {
            Access::Reader
        } else {
            Access::None
        }
    }

    /// The refusal for this caller: 401 when anonymous, else 403.
    pub fn deny(&self) -> SwiftError {
        if self.ctx.is_some() {
            SwiftError::Forbidden
        } else {
            SwiftError::Unauthorized
        }
    }

    /// Requires owner access (account and container changes, ACL setting).
    pub fn require_owner(&self, swift: &Swift, account: &str) -> Result<()> {
        match self.access(swift, account) {
            Access::Owner => Ok(()),
            _ => Err(self.deny()),
        }
    }

    /// Requires read access to the account itself (its listing and metadata).
    pub fn require_account_read(&self, swift: &Swift, account: &str) -> Result<()> {
        match self.access(swift, account) {
            Access::Owner | Access::Reader => Ok(()),
            Access::None => Err(self.deny()),
        }
    }

    /// True when a temporary URL grants access to `container`'s objects.
    fn temp_url_covers(&self, account: &str, container: &str) -> bool {
        self.tempurl
            .as_ref()
            .is_some_and(|g| g.covers(account, container))
    }

    /// Read access to a container's objects (or, with `listing`, to its
    /// listing) through roles, a temporary URL or its read ACL.
    pub fn require_read(
        &self,
        swift: &Swift,
        account: &str,
        container: &str,
        read_acl: Option<&str>,
        listing: bool,
    ) -> Result<()> {
        if self.access(swift, account) != Access::None || self.temp_url_covers(account, container) {
            return Ok(());
        }
        if let Some(acl) = read_acl {
            if acl_allows(acl, self.ctx.as_ref(), self.referrer.as_deref(), listing) {
                return Ok(());
            }
        }
        Err(self.deny())
    }

    /// Write access to a container's objects through roles, a temporary
    /// URL or its write ACL.
    pub fn require_write(
        &self,
        swift: &Swift,
        account: &str,
        container: &str,
        write_acl: Option<&str>,
    ) -> Result<()> {
        match self.access(swift, account) {
            Access::Owner => return Ok(()),
            Access::Reader => return Err(SwiftError::Forbidden),
            Access::None => {}
        }
        if self.temp_url_covers(account, container) {
            return Ok(());
        }
        if let Some(acl) = write_acl {
            if acl_allows(acl, self.ctx.as_ref(), None, false) {
                return Ok(());
            }
        }
        Err(self.deny())
    }
}

/// Evaluates a Swift container ACL for a caller.
///
/// Elements are comma separated: `.r:<referrer>` (`*`, a host, `.host`
/// suffix, or `-host` to deny), `.rlistings` (referrer grants listings too),
/// and user groups in `project:user` form where each side is a name, an id
/// or `*` (Keystone form), or a bare project name or id (TempAuth account
/// form).
pub fn acl_allows(
    acl: &str,
    ctx: Option<&AuthContext>,
    referrer: Option<&str>,
    listing: bool,
) -> bool {
    let elems: Vec<&str> = acl
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let rlistings = elems.contains(&".rlistings");
    if let Some(ctx) = ctx {
        let proj_matches = |p: &str| {
            p == "*"
                || Some(p) == ctx.project_id.as_deref()
                || Some(p) == ctx.project_name.as_deref()
        };
        for e in &elems {
            if e.starts_with('.') {
                continue;
            }
            let ok = match e.split_once(':') {
                Some((p, u)) => {
                    proj_matches(p) && (u == "*" || u == ctx.user_id || u == ctx.user_name)
                }
                None => proj_matches(e),
            };
            if ok {
                return true;
            }
        }
    }
    if listing && !rlistings {
        return false;
    }
    let host = referrer.map(referrer_host);
    let mut allowed = false;
    for e in &elems {
        let Some(r) = e
            .strip_prefix(".r:")
            .or_else(|| e.strip_prefix(".referrer:"))
        else {
            continue;
        };
        let (deny, pat) = match r.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, r),
        };
        // Swift's clean_acl turns `*.example.com` into `.example.com`.
        let pat = match pat.strip_prefix('*') {
            Some(rest) if !rest.is_empty() => rest,
            _ => pat,
        };
        let matches = pat == "*"
            || match &host {
                Some(h) => match pat.strip_prefix('.') {
                    Some(suffix) => h.ends_with(&format!(".{suffix}")) || h == suffix,
                    None => h == pat,
                },
                None => false,
            };
        if matches {
            allowed = !deny;
        }
    }
    allowed
}

fn referrer_host(r: &str) -> String {
    let no_scheme = r.split_once("://").map(|(_, rest)| rest).unwrap_or(r);
    let host_port = no_scheme.split('/').next().unwrap_or("");
    host_port.split(':').next().unwrap_or("").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(project: &str, pname: &str, user: &str, uname: &str) -> AuthContext {
        AuthContext {
            user_id: user.into(),
            user_name: uname.into(),
            domain_id: "default".into(),
            project_id: Some(project.into()),
            project_name: Some(pname.into()),
            project_domain_id: Some("default".into()),
            system: false,
            application_credential: None,
            restricted: false,
            roles: vec![],
            methods: vec!["password".into()],
            issued_at: time::OffsetDateTime::UNIX_EPOCH,
            expires_at: time::OffsetDateTime::UNIX_EPOCH,
            audit_id: "a".into(),
            audit_chain_id: None,
        }
    }

    #[test]
    fn acl_forms() {
        let c = ctx("p1", "test", "u3", "tester3");
        assert!(acl_allows("test:tester3", Some(&c), None, false));
        assert!(acl_allows("p1:u3", Some(&c), None, true));
        assert!(acl_allows("*:tester3", Some(&c), None, false));
        assert!(acl_allows("test:*", Some(&c), None, false));
        assert!(acl_allows("test", Some(&c), None, false));
        assert!(!acl_allows("test:tester2", Some(&c), None, false));
        assert!(!acl_allows("other:*", Some(&c), None, false));
        assert!(acl_allows(".r:*", None, None, false));
        assert!(
            !acl_allows(".r:*", None, None, true),
            "listing needs .rlistings"
        );
        assert!(acl_allows(".r:*,.rlistings", None, None, true));
        assert!(acl_allows(
            ".r:.example.com",
            None,
            Some("http://www.example.com/x"),
            false
        ));
        // The `*.host` form means the `.host` suffix, as Swift cleans it.
        assert!(acl_allows(
            ".r:*.example.com,.rlistings",
            None,
            Some("http://blah.example.com"),
            true
        ));
        assert!(!acl_allows(
            ".r:*.example.com",
            None,
            Some("http://example.org"),
            false
        ));
        assert!(!acl_allows(
            ".r:*,.r:-bad.com",
            None,
            Some("http://bad.com/"),
            false
        ));
        assert!(!acl_allows("", Some(&c), None, false));
    }
}
