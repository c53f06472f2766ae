//! Authentication: turning credentials and a requested scope into a signed
//! token. Every failure to authenticate or to reach the requested scope is
//! the same [`Error::Unauthorized`], as in Keystone.

use time::OffsetDateTime;

use crate::context::expand_implied;
use crate::dto::{AppCredMethod, AuthRequest, DomainSelector};
use crate::error::{Error, Result};
use crate::store::{self, ProjectRow, UserRow, DEFAULT_DOMAIN_ID};
use crate::token::{new_audit_id, Claims};
use crate::{appcred, password, AuthContext, Identity};

/// What the request asks to be scoped to.
#[derive(Debug, Clone)]
enum ScopeReq {
    /// No scope: the user's default project if they hold a role on it.
    Default,
    /// Explicitly unscoped.
    Unscoped,
    /// A project by id, or by name within a domain.
    Project {
        id: Option<String>,
        name: Option<String>,
        domain: Option<DomainSelector>,
    },
    /// The system: `{"system": {"all": true}}`.
    System,
    /// Domain scope, which this subset does not grant.
    Unsupported,
}

/// What a token is scoped to, with the effective roles there.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Unscoped,
    Project(ProjectRow, Vec<String>),
    System(Vec<String>),
}

fn parse_scope(scope: Option<&serde_json::Value>) -> Result<ScopeReq> {
    let bad = |m: &str| Error::BadRequest(format!("Invalid input for field 'scope': {m}"));
    let Some(v) = scope else {
        return Ok(ScopeReq::Default);
    };
    match v {
        serde_json::Value::Null => Ok(ScopeReq::Default),
        serde_json::Value::String(s) if s == "unscoped" => Ok(ScopeReq::Unscoped),
        serde_json::Value::Object(o) => {
            if let Some(p) = o.get("project") {
                #[derive(serde::Deserialize)]
                struct P {
                    id: Option<String>,
                    name: Option<String>,
                    domain: Option<DomainSelector>,
                }
                let p: P = serde_json::from_value(p.clone()).map_err(|e| bad(&e.to_string()))?;
                if p.id.is_none() && p.name.is_none() {
                    return Err(bad("project needs an id or a name"));
                }
                if p.id.is_none() && p.domain.as_ref().is_none_or(DomainSelector::is_empty) {
                    return Err(bad("a project named without id needs a domain"));
                }
                Ok(ScopeReq::Project {
                    id: p.id,
                    name: p.name,
                    domain: p.domain,
                })
            } else if let Some(sys) = o.get("system") {
                // Keystone knows one system, "all".
                if sys.get("all").and_then(serde_json::Value::as_bool) != Some(true) {
                    return Err(bad("system scope must be {\"all\": true}"));
                }
                Ok(ScopeReq::System)
            } else if o.contains_key("domain") {
                Ok(ScopeReq::Unsupported)
            } else {
                Err(bad("expected project, domain or system"))
            }
        }
        _ => Err(bad("expected an object or \"unscoped\"")),
    }
}

/// Resolves a domain selector to a domain id; unknown domains fail auth.
fn domain_id_of(c: &mut db::Conn, d: &DomainSelector) -> Result<String> {
    let row = match (&d.id, &d.name) {
        (Some(id), _) => store::domain(c, id).map_err(|_| Error::Unauthorized)?,
        (None, Some(name)) => store::domain_by_name(c, name)?.ok_or(Error::Unauthorized)?,
        (None, None) => return Err(Error::Unauthorized),
    };
    if !row.enabled {
        return Err(Error::Unauthorized);
    }
    Ok(row.id)
}

/// What `scope` resolves to for `user`, with the user's effective roles
/// there; a scope the user holds no role on fails.
fn resolve_scope(c: &mut db::Conn, user: &UserRow, scope: &ScopeReq) -> Result<Scope> {
    let project = match scope {
        ScopeReq::Unscoped => return Ok(Scope::Unscoped),
        ScopeReq::Unsupported => return Err(Error::Unauthorized),
        ScopeReq::System => {
            let roles = store::system_role_names(c, &user.id)?;
            if roles.is_empty() {
                return Err(Error::Unauthorized);
            }
            return Ok(Scope::System(expand_implied(&roles)));
        }
        ScopeReq::Default => {
            // Keystone scopes a scope-less request to the default project
            // when the user may use it, and quietly leaves it unscoped if not.
            let Some(pid) = &user.default_project_id else {
                return Ok(Scope::Unscoped);
            };
            match store::project(c, pid)? {
                Some(p) if p.enabled && domain_enabled(c, &p.domain_id) => {
                    let roles = store::assigned_role_names(c, &user.id, &p.id)?;
                    if roles.is_empty() {
                        return Ok(Scope::Unscoped);
                    }
                    return Ok(Scope::Project(p, expand_implied(&roles)));
                }
                _ => return Ok(Scope::Unscoped),
            }
        }
        ScopeReq::Project { id: Some(id), .. } => store::project(c, id)?,
        ScopeReq::Project {
            id: None,
            name: Some(name),
            domain,
        } => {
            let d = domain_id_of(c, domain.as_ref().ok_or(Error::Unauthorized)?)?;
            store::project_by_name(c, &d, name)?
        }
        ScopeReq::Project { .. } => None,
    };
    let project = project.filter(|p| p.enabled).ok_or(Error::Unauthorized)?;
    // A project of a disabled domain cannot be scoped to, whoever asks.
    if !domain_enabled(c, &project.domain_id) {
        return Err(Error::Unauthorized);
    }
    let roles = store::assigned_role_names(c, &user.id, &project.id)?;
    if roles.is_empty() {
        return Err(Error::Unauthorized);
    }
    Ok(Scope::Project(project, expand_implied(&roles)))
}

/// True when the domain exists and is enabled.
pub(crate) fn domain_enabled(c: &mut db::Conn, domain_id: &str) -> bool {
    store::domain(c, domain_id).is_ok_and(|d| d.enabled)
}

/// Loads an enabled user in an enabled domain.
fn load_user(
    c: &mut db::Conn,
    id: Option<&str>,
    name: Option<&str>,
    domain: Option<&DomainSelector>,
) -> Result<UserRow> {
    let user = match (id, name) {
        (Some(id), _) => store::user(c, id)?,
        (None, Some(name)) => {
            let d = domain_id_of(c, domain.ok_or(Error::Unauthorized)?)?;
            store::user_by_name(c, &d, name)?
        }
        (None, None) => None,
    };
    let user = user.filter(|u| u.enabled).ok_or(Error::Unauthorized)?;
    if !store::domain(c, &user.domain_id)
        .map(|d| d.enabled)
        .unwrap_or(false)
    {
        return Err(Error::Unauthorized);
    }
    Ok(user)
}

fn claims_for(
    user: &UserRow,
    scope: Scope,
    methods: Vec<String>,
    parent: Option<&Claims>,
    ttl_secs: u64,
) -> Claims {
    let now = OffsetDateTime::now_utc();
    let iat = now.unix_timestamp();
    // A re-scoped token never outlives the token it came from.
    let exp = parent.map(|p| p.exp).unwrap_or(iat + ttl_secs as i64);
    let sys = matches!(scope, Scope::System(_));
    let (pid, pnm, pdm, roles) = match scope {
        Scope::Project(p, roles) => (Some(p.id), Some(p.name), Some(p.domain_id), roles),
        Scope::System(roles) => (None, None, None, roles),
        Scope::Unscoped => (None, None, None, Vec::new()),
    };
    Claims {
        sub: user.id.clone(),
        unm: user.name.clone(),
        udm: user.domain_id.clone(),
        pid,
        pnm,
        pdm,
        sys,
        apc: None,
        apn: None,
        apr: false,
        roles,
        mth: methods,
        aid: new_audit_id(),
        acid: parent.map(|p| p.acid.clone().unwrap_or_else(|| p.aid.clone())),
        iat,
        iat_us: (now.unix_timestamp_nanos() / 1000) as i64,
        exp,
    }
}

/// `POST /v3/auth/tokens`: authenticates and issues a token.
pub(crate) async fn authenticate(id: &Identity, req: AuthRequest) -> Result<(String, Claims)> {
    let ident = req.auth.identity;
    let scope = parse_scope(req.auth.scope.as_ref())?;
    if ident.methods.is_empty() {
        return Err(Error::BadRequest(
            "Invalid input for field 'identity/methods': [] is too short".into(),
        ));
    }
    if ident.methods.iter().any(|m| m == "application_credential") {
        let cred = ident.application_credential.ok_or_else(|| {
            Error::BadRequest(
                "Expecting to find application_credential in identity. The server could not \
                 comply with the request since it is either malformed or otherwise incorrect. \
                 The client is assumed to be in error."
                    .into(),
            )
        })?;
        if req.auth.scope.is_some() {
            // Keystone: the credential fixes the scope.
            return Err(Error::UnauthorizedMessage(
                "Application credentials cannot request a scope.".into(),
            ));
        }
        return app_cred_login(id, cred).await;
    }
    let (user, methods, parent) = if ident.methods.iter().any(|m| m == "password") {
        let pw = ident.password.ok_or_else(|| {
            Error::BadRequest(
                "Expecting to find password in identity. The server could not comply \
                with the request since it is either malformed or otherwise incorrect. The client \
                is assumed to be in error."
                    .into(),
            )
        })?;
        let u = pw.user;
        let found = id
            .read(move |c| load_user(c, u.id.as_deref(), u.name.as_deref(), u.domain.as_ref()))
            .await
            .map_err(masked);
        let user = match found {
            Ok(user) => user,
            Err(Error::Unauthorized) => {
                // Spend a verification's time anyway, so response time does
                // not tell unknown users from wrong passwords.
                password::waste_a_verification(u.password).await;
                return Err(Error::Unauthorized);
            }
            Err(e) => return Err(e),
        };
        if !password::verify_async(user.password_hash.clone(), u.password).await? {
            return Err(Error::Unauthorized);
        }
        (user, vec!["password".to_string()], None)
    } else if ident.methods.iter().any(|m| m == "token") {
        let t = ident.token.ok_or_else(|| {
            Error::BadRequest(
                "Expecting to find token in identity. The server could not comply \
                with the request since it is either malformed or otherwise incorrect. The client \
                is assumed to be in error."
                    .into(),
            )
        })?;
        let parent = id.validate_claims(&t.id).await?;
        // As Keystone: a delegation's token must not become a token
        // without its limits (that would escalate it), and a system token
        // is not traded for a project's.
        if parent.apc.is_some() {
            return Err(forbidden_action(
                "Using an application credential token to create another token is not allowed.",
            ));
        }
        if parent.sys && matches!(scope, ScopeReq::Project { .. } | ScopeReq::Unsupported) {
            return Err(forbidden_action(
                "Using a system-scoped token to create a project-scoped or domain-scoped token \
                 is not allowed.",
            ));
        }
        let uid = parent.sub.clone();
        let user = id
            .read(move |c| load_user(c, Some(&uid), None, None))
            .await
            .map_err(masked)?;
        let mut methods = vec!["token".to_string()];
        methods.extend(parent.mth.iter().filter(|m| *m != "token").cloned());
        (user, methods, Some(parent))
    } else {
        // Keystone answers an unknown method with 401, not 400.
        return Err(Error::Unauthorized);
    };
    let u = user.clone();
    let scoped = id
        .read(move |c| resolve_scope(c, &u, &scope))
        .await
        .map_err(masked)?;
    let claims = claims_for(
        &user,
        scoped,
        methods,
        parent.as_ref(),
        id.config().token_ttl_secs,
    );
    let token = id.signer().sign(&claims)?;
    tracing::info!(user_id = %claims.sub, project_id = ?claims.pid, audit_id = %claims.aid, "token issued");
    Ok((token, claims))
}

/// Authenticates with an application credential: a token scoped to its
/// project with its roles, while its user still holds them, expiring no
/// later than the credential.
async fn app_cred_login(id: &Identity, m: AppCredMethod) -> Result<(String, Claims)> {
    let AppCredMethod {
        id: cid,
        name,
        user,
        secret,
    } = m;
    let found = id
        .read(move |c| {
            let row = match (cid, name, user) {
                (Some(cid), _, _) => appcred::by_id(c, &cid)?,
                (None, Some(name), Some(u)) => {
                    let owner =
                        load_user(c, u.id.as_deref(), u.name.as_deref(), u.domain.as_ref())?;
                    appcred::by_name(c, &owner.id, &name)?
                }
                _ => None,
            };
            let row = row.ok_or(Error::Unauthorized)?;
            let user = load_user(c, Some(&row.user_id), None, None)?;
            Ok((row, user))
        })
        .await
        .map_err(masked);
    let (row, user) = match found {
        Ok(x) => x,
        Err(Error::Unauthorized) => {
            password::waste_a_verification(secret).await;
            return Err(Error::Unauthorized);
        }
        Err(e) => return Err(e),
    };
    if !password::verify_async(row.secret_hash.clone(), secret).await? {
        return Err(Error::Unauthorized);
    }
    if row.expired(db::now_micros()) {
        return Err(Error::Unauthorized);
    }
    let r = row.clone();
    let (project, roles) = id
        .read(move |c| {
            let project = store::project(c, &r.project_id)?
                .filter(|p| p.enabled && domain_enabled(c, &p.domain_id))
                .ok_or(Error::Unauthorized)?;
            let held = expand_implied(&store::assigned_role_names(c, &r.user_id, &r.project_id)?);
            let delegated = appcred::roles_of(c, &r.role_ids())?;
            // Every delegated role must still be the user's.
            if delegated.is_empty() || delegated.iter().any(|d| !held.contains(&d.name)) {
                return Err(Error::Unauthorized);
            }
            let names: Vec<String> = delegated.into_iter().map(|d| d.name).collect();
            Ok((project, expand_implied(&names)))
        })
        .await
        .map_err(masked)?;
    let mut claims = claims_for(
        &user,
        Scope::Project(project, roles),
        vec!["application_credential".into()],
        None,
        id.config().token_ttl_secs,
    );
    if let Some(e) = row.expires_at {
        claims.exp = claims.exp.min(e.div_euclid(1_000_000));
    }
    claims.apc = Some(row.id.clone());
    claims.apn = Some(row.name.clone());
    claims.apr = !row.unrestricted;
    let token = id.signer().sign(&claims)?;
    tracing::info!(user_id = %claims.sub, application_credential = %row.id, audit_id = %claims.aid, "token issued");
    Ok((token, claims))
}

/// Keystone's `ForbiddenAction` (403).
fn forbidden_action(action: &str) -> Error {
    Error::ForbiddenMessage(format!(
        "You are not authorized to perform the requested action: {action}"
    ))
}

/// Lookup failures during authentication (an unknown project or domain) must
/// look like any other failed login; only real faults stay 500.
fn masked(e: Error) -> Error {
    match e {
        Error::NotFound { .. } => Error::Unauthorized,
        other => other,
    }
}

/// See [`Identity::tempauth_login`].
pub(crate) async fn tempauth_login(
    id: &Identity,
    user_spec: &str,
    key: &str,
) -> Result<(String, AuthContext)> {
    let (project_name, user_name) = user_spec.split_once(':').ok_or(Error::Unauthorized)?;
    if project_name.is_empty() || user_name.is_empty() {
        return Err(Error::Unauthorized);
    }
    let (p, u) = (project_name.to_string(), user_name.to_string());
    let (user, project) = id
        .read(move |c| {
            let project = store::project_by_name(c, DEFAULT_DOMAIN_ID, &p)?
                .filter(|p| p.enabled)
                .ok_or(Error::Unauthorized)?;
            let domain = DomainSelector {
                id: Some(DEFAULT_DOMAIN_ID.into()),
                name: None,
            };
            let user = load_user(c, None, Some(&u), Some(&domain))?;
            Ok((user, project))
        })
        .await
        .map_err(masked)?;
    if !password::verify_async(user.password_hash.clone(), key.to_string()).await? {
        return Err(Error::Unauthorized);
    }
    let (uid, pid) = (user.id.clone(), project.id.clone());
    let roles = id
        .read(move |c| store::assigned_role_names(c, &uid, &pid))
        .await?;
    if roles.is_empty() && user.default_project_id.as_deref() != Some(project.id.as_str()) {
        return Err(Error::Unauthorized);
    }
    let claims = claims_for(
        &user,
        Scope::Project(project, expand_implied(&roles)),
        vec!["password".into()],
        None,
        id.config().token_ttl_secs,
    );
    let token = id.signer().sign(&claims)?;
    tracing::info!(user_id = %claims.sub, project_id = ?claims.pid, audit_id = %claims.aid, "tempauth token issued");
    Ok((token, claims.to_context()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin;
    use crate::testutil::identity;

    fn req(user: &str, pw: &str, project: Option<&str>) -> AuthRequest {
        let mut v = serde_json::json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": pw}}}}});
        if let Some(p) = project {
            v["auth"]["scope"] =
                serde_json::json!({"project": {"name": p, "domain": {"id": "default"}}});
        }
        serde_json::from_value(v).unwrap()
    }

    /// The Swift functional-test layout.
    fn swift_accounts(id: &Identity) {
        admin::create_project(id, "test", "").unwrap();
        admin::create_project(id, "test2", "").unwrap();
        admin::create_user(id, "tester", "testing", Some("test")).unwrap();
        admin::create_user(id, "tester2", "testing2", Some("test")).unwrap();
        admin::create_user(id, "tester3", "testing3", Some("test")).unwrap();
        admin::add_role(id, "tester", "test", "admin").unwrap();
        admin::add_role(id, "tester2", "test", "admin").unwrap();
        admin::add_role(id, "tester2", "test2", "admin").unwrap();
    }

    #[tokio::test]
    async fn password_login_scopes_and_validates() {
        let (_d, id) = identity();
        let (tok, c) = authenticate(&id, req("admin", "adminpw", Some("admin")))
            .await
            .unwrap();
        assert_eq!(c.pnm.as_deref(), Some("admin"));
        assert_eq!(c.roles, vec!["admin", "member", "reader"]);
        let ctx = id.validate(&tok).await.unwrap();
        assert!(ctx.is_admin());
        assert_eq!(ctx.user_name, "admin");
        assert!(matches!(
            authenticate(&id, req("admin", "wrong", Some("admin"))).await,
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&id, req("nobody", "adminpw", None)).await,
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&id, req("admin", "adminpw", Some("nosuch"))).await,
            Err(Error::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn no_role_on_project_is_401_and_default_scope_applies() {
        let (_d, id) = identity();
        swift_accounts(&id);
        assert!(matches!(
            authenticate(&id, req("tester3", "testing3", Some("test"))).await,
            Err(Error::Unauthorized)
        ));
        // No scope: tester lands in the default project; tester3 unscoped.
        let (_, c) = authenticate(&id, req("tester", "testing", None))
            .await
            .unwrap();
        assert_eq!(c.pnm.as_deref(), Some("test"));
        let (_, c) = authenticate(&id, req("tester3", "testing3", None))
            .await
            .unwrap();
        assert_eq!(c.pid, None);
        assert!(c.roles.is_empty());
    }

    #[tokio::test]
    async fn rescope_with_token_keeps_expiry_and_chain() {
        let (_d, id) = identity();
        swift_accounts(&id);
        let (t, parent) = authenticate(&id, req("tester2", "testing2", None))
            .await
            .unwrap();
        let v = serde_json::json!({"auth": {"identity": {"methods": ["token"], "token": {"id": t}},
            "scope": {"project": {"name": "test2", "domain": {"name": "Default"}}}}});
        let (t2, c) = authenticate(&id, serde_json::from_value(v).unwrap())
            .await
            .unwrap();
        assert_eq!(c.pnm.as_deref(), Some("test2"));
        assert_eq!(c.exp, parent.exp);
        assert_eq!(c.acid.as_deref(), Some(parent.aid.as_str()));
        assert_eq!(c.mth, vec!["token", "password"]);
        // Revoking the parent revokes the re-scoped token too.
        id.revoke_audit(parent.aid.clone(), parent.exp * 1_000_000)
            .await
            .unwrap();
        assert!(id.validate(&t2).await.is_err());
    }

    #[tokio::test]
    async fn tempauth_rules() {
        let (_d, id) = identity();
        swift_accounts(&id);
        let (tok, ctx) = id.tempauth_login("test:tester", "testing").await.unwrap();
        assert!(ctx.is_admin());
        assert_eq!(
            id.validate(&tok).await.unwrap().project_name.as_deref(),
            Some("test")
        );
        let (_, ctx) = id
            .tempauth_login("test2:tester2", "testing2")
            .await
            .unwrap();
        assert_eq!(ctx.project_name.as_deref(), Some("test2"));
        // tester3: default project, no role: admitted without roles.
        let (_, ctx) = id.tempauth_login("test:tester3", "testing3").await.unwrap();
        assert!(ctx.roles.is_empty());
        assert_eq!(ctx.project_name.as_deref(), Some("test"));
        // ... but not into another project.
        assert!(id
            .tempauth_login("test2:tester3", "testing3")
            .await
            .is_err());
        assert!(id.tempauth_login("test:tester3", "wrong").await.is_err());
        assert!(id.tempauth_login("test:tester", "testing2").await.is_err());
        assert!(id.tempauth_login("tester", "testing").await.is_err());
        assert!(id.tempauth_login("nosuch:tester", "testing").await.is_err());
    }

    #[tokio::test]
    async fn revocation_applies_immediately() {
        let (_d, id) = identity();
        let (tok, c) = authenticate(&id, req("admin", "adminpw", Some("admin")))
            .await
            .unwrap();
        id.validate(&tok).await.unwrap();
        id.revoke_audit(c.aid.clone(), c.exp * 1_000_000)
            .await
            .unwrap();
        assert!(matches!(id.validate(&tok).await, Err(Error::Unauthorized)));
        // Another host sharing the database learns it from the table.
        let other = Identity::new(id.db().clone(), IdentityConfig::default()).unwrap();
        assert!(other.validate(&tok).await.is_err());
        let (tok2, _) = authenticate(&id, req("admin", "adminpw", Some("admin")))
            .await
            .unwrap();
        assert!(
            other.validate(&tok2).await.is_ok(),
            "same key on every host"
        );
    }

    #[tokio::test]
    async fn role_removal_and_user_deletion_revoke_tokens() {
        let (_d, id) = identity();
        swift_accounts(&id);
        let (tok, _) = authenticate(&id, req("tester2", "testing2", Some("test2")))
            .await
            .unwrap();
        let (tok_test, _) = authenticate(&id, req("tester2", "testing2", Some("test")))
            .await
            .unwrap();
        admin::remove_role(&id, "tester2", "test2", "admin").unwrap();
        assert!(id.validate(&tok).await.is_err());
        assert!(
            id.validate(&tok_test).await.is_ok(),
            "other projects unaffected"
        );
        let (tok, _) = authenticate(&id, req("tester", "testing", Some("test")))
            .await
            .unwrap();
        admin::delete_user(&id, "tester").unwrap();
        assert!(id.validate(&tok).await.is_err());
    }

    use crate::IdentityConfig;
}
