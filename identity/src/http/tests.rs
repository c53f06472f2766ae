//! HTTP shapes against real Keystone's (see the recorded client captures).

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode};
use actix_web::{test, web, App};
use serde_json::{json, Value};

use crate::admin;
use crate::testutil::identity;

macro_rules! app {
    ($id:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($id.clone()))
                .configure(crate::configure),
        )
        .await
    };
}

fn auth_body(user: &str, pw: &str, project: Option<&str>) -> Value {
    let mut v = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": pw}}}}});
    if let Some(p) = project {
        v["auth"]["scope"] = json!({"project": {"name": p, "domain": {"name": "Default"}}});
    }
    v
}

fn req(method: Method, path: &str) -> test::TestRequest {
    test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("Host", "127.0.0.1:5101"))
}

fn header(res: &ServiceResponse<impl MessageBody>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn json_of(res: ServiceResponse<impl MessageBody>) -> Value {
    let b = test::read_body(res).await;
    serde_json::from_slice(&b).unwrap_or_else(|_| panic!("not JSON: {b:?}"))
}

macro_rules! call {
    ($app:expr, $req:expr) => {
        test::call_service(&$app, $req.to_request()).await
    };
}

/// Issues a token through the API and returns it with the body.
macro_rules! login {
    ($app:expr, $user:expr, $pw:expr, $project:expr) => {{
        let res = call!(
            $app,
            req(Method::POST, "/v3/auth/tokens").set_json(auth_body($user, $pw, $project))
        );
        assert_eq!(res.status(), StatusCode::CREATED);
        let tok = header(&res, "X-Subject-Token").unwrap();
        (tok, json_of(res).await)
    }};
}

fn keystone_error(v: &Value, code: u16, title: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["title"], title, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[actix_web::test]
async fn discovery_documents() {
    let (_d, id) = identity();
    let app = app!(id);
    let res = call!(app, req(Method::GET, "/"));
    assert_eq!(res.status(), StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        header(&res, "Location").as_deref(),
        Some("http://127.0.0.1:5101/v3/")
    );
    assert_eq!(header(&res, "Vary").as_deref(), Some("X-Auth-Token"));
    assert!(header(&res, "x-openstack-request-id")
        .unwrap()
        .starts_with("req-"));
    let v = json_of(res).await;
    assert_eq!(v["versions"]["values"][0]["id"], "v3.14");
    assert_eq!(
        v["versions"]["values"][0]["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    for p in ["/v3", "/v3/"] {
        let res = call!(app, req(Method::GET, p));
        assert_eq!(res.status(), StatusCode::OK);
        let v = json_of(res).await;
        assert_eq!(
            v["version"]["links"][0]["href"],
            "http://127.0.0.1:5101/v3/"
        );
        assert_eq!(v["version"]["status"], "stable");
    }
    let res = call!(app, req(Method::GET, "/v3/nonsense"));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    keystone_error(&json_of(res).await, 404, "Not Found");
    let res = call!(app, req(Method::PATCH, "/v3/auth/tokens"));
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn issue_validate_check_revoke() {
    let (_d, id) = identity();
    let app = app!(id);
    let (tok, body) = login!(app, "admin", "adminpw", Some("admin"));
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(
        t["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["user"]["password_expires_at"], Value::Null);
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["is_domain"], false);
    assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);
    let exp = t["expires_at"].as_str().unwrap();
    assert!(exp.ends_with(".000000Z") && exp.len() == 27, "{exp}");
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["admin", "member", "reader"]);
    assert_eq!(t["roles"][0]["id"].as_str().unwrap().len(), 32);
    let cat = t["catalog"].as_array().unwrap();
    assert_eq!(cat[0]["type"], "identity");
    assert_eq!(cat[0]["endpoints"].as_array().unwrap().len(), 3);
    let pid = t["project"]["id"].as_str().unwrap();
    assert_eq!(
        cat[1]["endpoints"][0]["url"],
        format!("http://127.0.0.1:8080/v1/AUTH_{pid}")
    );
    assert_eq!(cat[1]["endpoints"][0]["region_id"], "RegionOne");

    // ?nocatalog
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens?nocatalog").set_json(auth_body(
            "admin",
            "adminpw",
            Some("admin")
        ))
    );
    assert!(json_of(res).await["token"].get("catalog").is_none());

    let with = |r: test::TestRequest| {
        r.insert_header(("X-Auth-Token", tok.as_str()))
            .insert_header(("X-Subject-Token", tok.as_str()))
    };
    let res = call!(app, with(req(Method::GET, "/v3/auth/tokens")));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "X-Subject-Token").as_deref(),
        Some(tok.as_str())
    );
    assert_eq!(json_of(res).await["token"]["audit_ids"], t["audit_ids"]);
    let res = call!(app, with(req(Method::HEAD, "/v3/auth/tokens")));
    assert_eq!(res.status(), StatusCode::OK);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/catalog").insert_header(("X-Auth-Token", tok.as_str()))
    );
    assert_eq!(json_of(res).await["catalog"], t["catalog"]);

    let (other, _) = login!(app, "admin", "adminpw", Some("admin"));
    let res = call!(app, with(req(Method::DELETE, "/v3/auth/tokens")));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Revoked subject: 404 with Keystone's wording; revoked caller: 401.
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/tokens")
            .insert_header(("X-Auth-Token", other.as_str()))
            .insert_header(("X-Subject-Token", tok.as_str()))
    );
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let v = json_of(res).await;
    assert_eq!(
        v,
        json!({"error": {"code": 404, "message": "Failed to validate token", "title": "Not Found"}})
    );
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/catalog").insert_header(("X-Auth-Token", tok.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::HEAD, "/v3/auth/tokens")
            .insert_header(("X-Auth-Token", other.as_str()))
            .insert_header(("X-Subject-Token", "garbage"))
    );
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn authentication_errors() {
    let (_d, id) = identity();
    let app = app!(id);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("admin", "wrong", Some("admin")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&res, "WWW-Authenticate").as_deref(),
        Some("Keystone uri=\"http://127.0.0.1:5101/v3\"")
    );
    assert!(header(&res, "X-Subject-Token").is_none());
    assert_eq!(
        json_of(res).await,
        json!({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
    );
    for body in [
        &b"{\"auth\": {\"identity\": "[..],
        b"not json",
        b"{\"auth\": {\"identity\": {\"methods\": [\"password\"]}}}",
        b"{\"auth\": 17}",
    ] {
        let res = call!(
            app,
            req(Method::POST, "/v3/auth/tokens")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body.to_vec())
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        keystone_error(&json_of(res).await, 400, "Bad Request");
    }
    // No role on the project: 401, as Keystone.
    admin::create_project(&id, "test", "").unwrap();
    admin::create_user(&id, "tester3", "testing3", Some("test")).unwrap();
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body(
            "tester3",
            "testing3",
            Some("test")
        ))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Unscoped works and carries neither roles nor catalog.
    let (tok, body) = login!(app, "tester3", "testing3", None);
    assert!(body["token"].get("project").is_none() && body["token"].get("catalog").is_none());
    // ... and cannot produce a catalog.
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/catalog").insert_header(("X-Auth-Token", tok.as_str()))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // No token at all.
    let res = call!(app, req(Method::GET, "/v3/auth/projects"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&res, "WWW-Authenticate").is_some());
}

#[actix_web::test]
async fn admin_lists_and_policy() {
    let (_d, id) = identity();
    admin::create_project(&id, "demo", "").unwrap();
    admin::create_user(&id, "demo", "demopw", Some("demo")).unwrap();
    admin::add_role(&id, "demo", "demo", "member").unwrap();
    let app = app!(id);
    let (adm, _) = login!(app, "admin", "adminpw", Some("admin"));
    let (demo, demo_body) = login!(app, "demo", "demopw", Some("demo"));
    let get = |path: &str, tok: &str| {
        req(Method::GET, path).insert_header(("X-Auth-Token", tok.to_string()))
    };

    let res = call!(app, get("/v3/projects", &adm));
    assert_eq!(res.status(), StatusCode::OK);
    let v = json_of(res).await;
    let names: Vec<&str> = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "demo"]);
    assert_eq!(v["links"]["self"], "http://127.0.0.1:5101/v3/projects");
    let v = json_of(call!(app, get("/v3/projects?name=demo", &adm))).await;
    assert_eq!(v["projects"].as_array().unwrap().len(), 1);
    let v = json_of(call!(app, get("/v3/users?name=demo", &adm))).await;
    assert_eq!(v["users"][0]["name"], "demo");
    assert!(v["users"][0].get("password_hash").is_none());
    let v = json_of(call!(app, get("/v3/roles", &adm))).await;
    assert_eq!(v["roles"].as_array().unwrap().len(), 3);
    let v = json_of(call!(app, get("/v3/domains", &adm))).await;
    assert_eq!(v["domains"][0]["id"], "default");
    let v = json_of(call!(
        app,
        get("/v3/role_assignments?include_names=True", &adm)
    ))
    .await;
    let a = &v["role_assignments"][0];
    assert_eq!(a["user"]["name"], "admin");
    assert_eq!(a["scope"]["project"]["domain"]["name"], "Default");
    let uid = demo_body["token"]["user"]["id"].as_str().unwrap();
    let v = json_of(call!(
        app,
        get(&format!("/v3/role_assignments?user.id={uid}"), &adm)
    ))
    .await;
    assert_eq!(v["role_assignments"].as_array().unwrap().len(), 1);
    assert!(v["role_assignments"][0]["role"].get("name").is_none());

    // Non-admin: 403 with the policy name; own things allowed.
    let res = call!(app, get("/v3/projects", &demo));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let v = json_of(res).await;
    assert_eq!(
        v["error"]["message"],
        "You are not authorized to perform the requested action: identity:list_projects."
    );
    let res = call!(app, get("/v3/users/nonexistent/projects", &demo));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let v = json_of(call!(app, get("/v3/auth/projects", &demo))).await;
    assert_eq!(v["projects"][0]["name"], "demo");
    assert_eq!(v["projects"][0]["parent_id"], "default");
    let res = call!(app, get(&format!("/v3/users/{uid}/projects"), &demo));
    assert_eq!(res.status(), StatusCode::OK);
    let res = call!(app, get("/v3/projects/nonexistent", &adm));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(res).await["error"]["message"],
        "Could not find project: nonexistent."
    );
}

#[actix_web::test]
async fn admin_writes_through_the_api() {
    let (_d, id) = identity();
    let app = app!(id);
    let (adm, _) = login!(app, "admin", "adminpw", Some("admin"));
    let with = |r: test::TestRequest| r.insert_header(("X-Auth-Token", adm.clone()));
    let res = call!(
        app,
        with(req(Method::POST, "/v3/projects"))
            .set_json(json!({"project": {"name": "p1", "domain_id": "default"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = json_of(res).await["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call!(
        app,
        with(req(Method::POST, "/v3/projects")).set_json(json!({"project": {"name": "p1"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = call!(
        app,
        with(req(Method::POST, "/v3/users")).set_json(
            json!({"user": {"name": "u1", "password": "pw1", "default_project_id": pid}})
        )
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let uid = json_of(res).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let roles = json_of(call!(app, with(req(Method::GET, "/v3/roles?name=member")))).await;
    let rid = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(
        call!(app, with(req(Method::HEAD, &grant))).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call!(app, with(req(Method::PUT, &grant))).status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call!(app, with(req(Method::HEAD, &grant))).status(),
        StatusCode::NO_CONTENT
    );
    let (u1, _) = login!(app, "u1", "pw1", Some("p1"));
    assert_eq!(
        call!(app, with(req(Method::DELETE, &grant))).status(),
        StatusCode::NO_CONTENT
    );
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", u1.as_str()))
    );
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "removing the role revoked the token"
    );
    assert_eq!(
        call!(app, with(req(Method::DELETE, &format!("/v3/users/{uid}")))).status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call!(
            app,
            with(req(Method::DELETE, &format!("/v3/projects/{pid}")))
        )
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call!(
            app,
            with(req(Method::DELETE, &format!("/v3/projects/{pid}")))
        )
        .status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn project_and_user_updates() {
    let (_d, id) = identity();
    let app = app!(id);
    let (adm, _) = login!(app, "admin", "adminpw", Some("admin"));
    let with = |r: test::TestRequest| r.insert_header(("X-Auth-Token", adm.clone()));
    admin::create_project(&id, "up", "").unwrap();
    admin::create_project(&id, "taken", "").unwrap();
    let u = admin::create_user(&id, "uu", "pw", Some("up")).unwrap();
    admin::add_role(&id, "uu", "up", "member").unwrap();
    let pid = json_of(call!(app, with(req(Method::GET, "/v3/projects?name=up")))).await["projects"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let purl = format!("/v3/projects/{pid}");

    let res = call!(
        app,
        with(req(Method::PATCH, &purl))
            .set_json(json!({"project": {"description": "new text", "name": "up2"}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    let v = json_of(res).await;
    assert_eq!(v["project"]["name"], "up2");
    assert_eq!(v["project"]["description"], "new text");
    assert_eq!(v["project"]["enabled"], true);
    let res = call!(
        app,
        with(req(Method::PATCH, &purl)).set_json(json!({"project": {"name": "taken"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = call!(
        app,
        with(req(Method::PATCH, &purl)).set_json(json!({"project": {"domain_id": "other"}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(res).await["error"]["message"],
        "Update of `domain_id` is not allowed."
    );
    let res = call!(
        app,
        with(req(Method::PATCH, "/v3/projects/nope")).set_json(json!({"project": {}}))
    );
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A member may not update; disabling revokes the project's tokens and
    // refuses new ones.
    let (ut, _) = login!(app, "uu", "pw", Some("up2"));
    let res = call!(
        app,
        req(Method::PATCH, &purl)
            .insert_header(("X-Auth-Token", ut.as_str()))
            .set_json(json!({"project": {"enabled": false}}))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = call!(
        app,
        with(req(Method::PATCH, &purl)).set_json(json!({"project": {"enabled": false}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["project"]["enabled"], false);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("uu", "pw", Some("up2")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        with(req(Method::PATCH, &purl)).set_json(json!({"project": {"enabled": true}}))
    );
    assert_eq!(res.status(), StatusCode::OK);

    // User: rename, new password (old tokens revoked, old password refused).
    let uurl = format!("/v3/users/{}", u.id);
    let (ut, _) = login!(app, "uu", "pw", Some("up2"));
    let res = call!(
        app,
        with(req(Method::PATCH, &uurl))
            .set_json(json!({"user": {"name": "uu2", "password": "pw2"}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    let v = json_of(res).await;
    assert_eq!(v["user"]["name"], "uu2");
    assert!(v["user"].get("password").is_none(), "{v}");
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("uu2", "pw", Some("up2")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    login!(app, "uu2", "pw2", Some("up2"));
    let res = call!(
        app,
        with(req(Method::PATCH, &uurl)).set_json(json!({"user": {"domain_id": "x"}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = call!(
        app,
        with(req(Method::PATCH, &uurl)).set_json(json!({"user": {"default_project_id": "nope"}}))
    );
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = call!(
        app,
        with(req(Method::PATCH, &uurl)).set_json(json!({"user": {"default_project_id": null}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await["user"]["default_project_id"].is_null());

    // Self-service change: no token needed, the original password is.
    let purl = format!("{uurl}/password");
    let res = call!(
        app,
        req(Method::POST, &purl)
            .set_json(json!({"user": {"original_password": "wrong", "password": "pw3"}}))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(res).await["error"]["message"],
        "Error when changing user password: Invalid user / password"
    );
    let res = call!(
        app,
        req(Method::POST, &purl).set_json(json!({"user": {"password": "pw3"}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (ut, _) = login!(app, "uu2", "pw2", Some("up2"));
    let res = call!(
        app,
        req(Method::POST, &purl)
            .set_json(json!({"user": {"original_password": "pw2", "password": "pw3"}}))
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "tokens revoked");
    login!(app, "uu2", "pw3", Some("up2"));
    assert_eq!(
        call!(app, req(Method::GET, &purl)).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let res = call!(
        app,
        req(Method::POST, "/v3/users/nope/password")
            .set_json(json!({"user": {"original_password": "a", "password": "b"}}))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Disabling the user revokes and refuses.
    let res = call!(
        app,
        with(req(Method::PATCH, &uurl)).set_json(json!({"user": {"enabled": false}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("uu2", "pw3", Some("up2")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn catalog_entities() {
    let (_d, id) = identity();
    let app = app!(id);
    let (adm, body) = login!(app, "admin", "adminpw", Some("admin"));
    let with = |r: test::TestRequest| r.insert_header(("X-Auth-Token", adm.clone()));
    let v = json_of(call!(app, with(req(Method::GET, "/v3/services")))).await;
    let services = v["services"].as_array().unwrap();
    assert!(!services.is_empty(), "{v}");
    // The ids are those of the token's catalog.
    let catalog = body["token"]["catalog"].as_array().unwrap();
    for s in catalog {
        assert!(
            services
                .iter()
                .any(|x| x["id"] == s["id"] && x["type"] == s["type"]),
            "{s} not in {v}"
        );
    }
    let identity_svc = services.iter().find(|s| s["type"] == "identity").unwrap();
    let sid = identity_svc["id"].as_str().unwrap();
    let v = json_of(call!(
        app,
        with(req(Method::GET, "/v3/services?type=identity"))
    ))
    .await;
    assert_eq!(v["services"].as_array().unwrap().len(), 1);
    let one = json_of(call!(
        app,
        with(req(Method::GET, &format!("/v3/services/{sid}")))
    ))
    .await;
    assert_eq!(one["service"]["name"], identity_svc["name"]);
    assert_eq!(
        call!(app, with(req(Method::GET, "/v3/services/nope"))).status(),
        StatusCode::NOT_FOUND
    );

    let v = json_of(call!(
        app,
        with(req(
            Method::GET,
            &format!("/v3/endpoints?service_id={sid}&interface=public")
        ))
    ))
    .await;
    let eps = v["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "{v}");
    assert_eq!(eps[0]["region_id"], "RegionOne");
    let token_ep = catalog.iter().find(|s| s["type"] == "identity").unwrap()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap()
        .clone();
    assert_eq!(eps[0]["id"], token_ep["id"]);
    assert_eq!(eps[0]["url"], token_ep["url"]);
    let eid = eps[0]["id"].as_str().unwrap();
    let one = json_of(call!(
        app,
        with(req(Method::GET, &format!("/v3/endpoints/{eid}")))
    ))
    .await;
    assert_eq!(one["endpoint"]["service_id"], sid);

    // Regions: any token; services and endpoints: admins only.
    admin::create_project(&id, "cp", "").unwrap();
    admin::create_user(&id, "cu", "pw", Some("cp")).unwrap();
    admin::add_role(&id, "cu", "cp", "member").unwrap();
    let (ut, _) = login!(app, "cu", "pw", Some("cp"));
    let as_user = |r: test::TestRequest| r.insert_header(("X-Auth-Token", ut.clone()));
    let v = json_of(call!(app, as_user(req(Method::GET, "/v3/regions")))).await;
    assert_eq!(v["regions"][0]["id"], "RegionOne");
    assert!(v["regions"][0]["parent_region_id"].is_null());
    assert_eq!(
        call!(app, as_user(req(Method::GET, "/v3/regions/RegionOne"))).status(),
        StatusCode::OK
    );
    assert_eq!(
        call!(app, as_user(req(Method::GET, "/v3/regions/RegionTwo"))).status(),
        StatusCode::NOT_FOUND
    );
    for p in ["/v3/services", "/v3/endpoints"] {
        assert_eq!(
            call!(app, as_user(req(Method::GET, p))).status(),
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        call!(app, req(Method::GET, "/v3/regions")).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call!(app, with(req(Method::POST, "/v3/services"))).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[actix_web::test]
async fn role_create_rename_delete() {
    let (_d, id) = identity();
    let app = app!(id);
    let (adm, _) = login!(app, "admin", "adminpw", Some("admin"));
    let with = |r: test::TestRequest| r.insert_header(("X-Auth-Token", adm.clone()));
    let res = call!(
        app,
        with(req(Method::POST, "/v3/roles")).set_json(json!({"role": {"name": "swiftoperator"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    assert_eq!(v["role"]["name"], "swiftoperator");
    let rid = v["role"]["id"].as_str().unwrap().to_string();
    let res = call!(
        app,
        with(req(Method::POST, "/v3/roles")).set_json(json!({"role": {"name": "swiftoperator"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = call!(
        app,
        with(req(Method::POST, "/v3/roles"))
            .set_json(json!({"role": {"name": "d", "domain_id": "default"}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A holder's token carries the role; deleting the role revokes it.
    admin::create_project(&id, "rp", "").unwrap();
    admin::create_user(&id, "ru", "pw", Some("rp")).unwrap();
    admin::add_role(&id, "ru", "rp", "swiftoperator").unwrap();
    let (ut, body) = login!(app, "ru", "pw", Some("rp"));
    let names: Vec<&str> = body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["swiftoperator"]);
    let url = format!("/v3/roles/{rid}");
    let res = call!(
        app,
        with(req(Method::PATCH, &url)).set_json(json!({"role": {"name": "operator2"}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["role"]["name"], "operator2");
    // The token named the old role: a rename revokes it.
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (ut, _) = login!(app, "ru", "pw", Some("rp"));
    assert_eq!(
        call!(app, with(req(Method::DELETE, &url))).status(),
        StatusCode::NO_CONTENT
    );
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        call!(app, with(req(Method::DELETE, &url))).status(),
        StatusCode::NOT_FOUND
    );

    // Built-in roles stay.
    let member = json_of(call!(app, with(req(Method::GET, "/v3/roles?name=member")))).await
        ["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let murl = format!("/v3/roles/{member}");
    assert_eq!(
        call!(app, with(req(Method::DELETE, &murl))).status(),
        StatusCode::FORBIDDEN
    );
    let res = call!(
        app,
        with(req(Method::PATCH, &murl)).set_json(json!({"role": {"name": "m2"}}))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn domain_create_disable_delete() {
    let (_d, id) = identity();
    let app = app!(id);
    let (adm, _) = login!(app, "admin", "adminpw", Some("admin"));
    let with = |r: test::TestRequest| r.insert_header(("X-Auth-Token", adm.clone()));
    let res = call!(
        app,
        with(req(Method::POST, "/v3/domains"))
            .set_json(json!({"domain": {"name": "d1", "description": "first"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    assert_eq!(v["domain"]["description"], "first");
    assert_eq!(v["domain"]["enabled"], true);
    let did = v["domain"]["id"].as_str().unwrap().to_string();
    for bad in [
        json!({"domain": {"name": ""}}),
        json!({"domain": {"name": "x".repeat(65)}}),
    ] {
        let res = call!(app, with(req(Method::POST, "/v3/domains")).set_json(bad));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = call!(
        app,
        with(req(Method::POST, "/v3/domains")).set_json(json!({"domain": {"name": "d1"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // A project and user in it log in; disabling the domain ends that.
    let res = call!(
        app,
        with(req(Method::POST, "/v3/projects"))
            .set_json(json!({"project": {"name": "dp", "domain_id": did}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = json_of(res).await["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call!(
        app,
        with(req(Method::POST, "/v3/users"))
            .set_json(json!({"user": {"name": "du", "password": "pw", "domain_id": did}}))
    );
    let uid = json_of(res).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = json_of(call!(app, with(req(Method::GET, "/v3/roles?name=member")))).await
        ["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{member}");
    assert_eq!(
        call!(app, with(req(Method::PUT, &grant))).status(),
        StatusCode::NO_CONTENT
    );
    let scoped = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": uid, "password": "pw"}}},
        "scope": {"project": {"id": pid}}}});
    let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(&scoped));
    assert_eq!(res.status(), StatusCode::CREATED);
    let ut = header(&res, "X-Subject-Token").unwrap();

    let durl = format!("/v3/domains/{did}");
    assert_eq!(
        call!(app, with(req(Method::DELETE, &durl))).status(),
        StatusCode::FORBIDDEN,
        "an enabled domain cannot be deleted"
    );
    let res = call!(
        app,
        with(req(Method::PATCH, &durl)).set_json(json!({"domain": {"enabled": false}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["domain"]["enabled"], false);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ut.as_str()))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        call!(app, req(Method::POST, "/v3/auth/tokens").set_json(&scoped)).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call!(app, with(req(Method::DELETE, &durl))).status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call!(app, with(req(Method::GET, &format!("/v3/users/{uid}")))).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call!(app, with(req(Method::GET, &format!("/v3/projects/{pid}")))).status(),
        StatusCode::NOT_FOUND
    );

    // The default domain stays.
    let res = call!(
        app,
        with(req(Method::PATCH, "/v3/domains/default"))
            .set_json(json!({"domain": {"enabled": false}}))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call!(app, with(req(Method::DELETE, "/v3/domains/default"))).status(),
        StatusCode::FORBIDDEN
    );
    let v = json_of(call!(app, with(req(Method::GET, "/v3/domains/default")))).await;
    assert_eq!(v["domain"]["description"], "The default domain");
}

fn system_auth_body(user: &str, pw: &str) -> Value {
    let mut v = auth_body(user, pw, None);
    v["auth"]["scope"] = json!({"system": {"all": true}});
    v
}

#[actix_web::test]
async fn system_grants_tokens_and_readers() {
    let (_d, id) = identity();
    admin::create_project(&id, "demo", "").unwrap();
    let ops = admin::create_user(&id, "ops", "opspw", Some("demo")).unwrap();
    admin::add_role(&id, "ops", "demo", "member").unwrap();
    let app = app!(id);
    let (admin_tok, _) = login!(app, "admin", "adminpw", Some("admin"));
    let as_admin =
        |m: Method, p: &str| req(m, p).insert_header(("X-Auth-Token", admin_tok.clone()));
    let reader = id
        .read_blocking(|c| crate::store::resolve_role(c, "reader"))
        .unwrap()
        .id;
    let admin_id = id
        .read_blocking(|c| crate::store::resolve_user(c, "admin"))
        .unwrap()
        .id;

    // No system role yet: a system-scoped login is refused, /auth/system empty.
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(system_auth_body("ops", "opspw"))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (ops_tok, _) = login!(app, "ops", "opspw", Some("demo"));
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/system").insert_header(("X-Auth-Token", ops_tok.clone()))
    );
    assert_eq!(json_of(res).await["system"], json!([]));

    // Granted reader on the system (the bootstrap admin holds admin there).
    let grant = format!("/v3/system/users/{}/roles/{reader}", ops.id);
    let res = call!(app, as_admin(Method::HEAD, &grant));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = call!(app, as_admin(Method::PUT, &grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for m in [Method::HEAD, Method::GET] {
        let res = call!(app, as_admin(m, &grant));
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/system/users/{}/roles", ops.id))
    );
    let v = json_of(res).await;
    assert_eq!(v["roles"][0]["name"], "reader", "{v}");
    // Only admins grant.
    let res = call!(
        app,
        req(Method::PUT, &grant).insert_header(("X-Auth-Token", ops_tok.clone()))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(system_auth_body("ops", "opspw"))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let sys_tok = header(&res, "X-Subject-Token").unwrap();
    let v = json_of(res).await;
    assert_eq!(v["token"]["system"], json!({"all": true}), "{v}");
    assert!(v["token"].get("project").is_none(), "{v}");
    assert!(v["token"].get("is_domain").is_none(), "{v}");
    assert_eq!(v["token"]["roles"][0]["name"], "reader", "{v}");
    // The catalog leaves out endpoints that need a project id.
    let catalog = v["token"]["catalog"].as_array().unwrap();
    assert!(catalog.iter().any(|s| s["type"] == "identity"), "{v}");
    assert!(!catalog.iter().any(|s| s["type"] == "object-store"), "{v}");
    let as_sys = |m: Method, p: &str| req(m, p).insert_header(("X-Auth-Token", sys_tok.clone()));

    // A system reader reads every identity resource and writes none.
    for p in [
        "/v3/users".to_string(),
        format!("/v3/users/{admin_id}"),
        "/v3/projects".into(),
        "/v3/roles".into(),
        "/v3/domains".into(),
        "/v3/domains/default".into(),
        "/v3/role_assignments".into(),
        "/v3/auth/system".into(),
    ] {
        let res = call!(app, as_sys(Method::GET, &p));
        assert_eq!(res.status(), StatusCode::OK, "{p}");
    }
    let res = call!(
        app,
        as_sys(Method::POST, "/v3/projects").set_json(json!({"project": {"name": "x"}}))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = call!(app, as_sys(Method::GET, "/v3/auth/system"));
    assert_eq!(json_of(res).await["system"], json!([{"all": true}]));

    // Assignments list both scopes; scope filters pick one.
    let res = call!(
        app,
        as_admin(
            Method::GET,
            "/v3/role_assignments?scope.system=all&include_names"
        )
    );
    let v = json_of(res).await;
    let sys = v["role_assignments"].as_array().unwrap();
    assert!(
        sys.iter().all(|a| a["scope"]["system"]["all"] == true),
        "{v}"
    );
    assert!(
        sys.iter()
            .any(|a| a["user"]["name"] == "ops" && a["role"]["name"] == "reader"),
        "{v}"
    );
    assert!(
        sys.iter().any(|a| a["user"]["name"] == "admin"),
        "bootstrap grant: {v}"
    );
    let res = call!(
        app,
        as_admin(
            Method::GET,
            &format!("/v3/role_assignments?user.id={}", ops.id)
        )
    );
    let v = json_of(res).await;
    let scopes: Vec<&Value> = v["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["scope"])
        .collect();
    assert_eq!(scopes.len(), 2, "{v}");
    assert!(scopes.iter().any(|s| s.get("project").is_some()), "{v}");
    assert!(scopes.iter().any(|s| s.get("system").is_some()), "{v}");

    // Project services see no project in a system token.
    let ctx = id.validate(&sys_tok).await.unwrap();
    assert!(ctx.system && ctx.project_id.is_none());

    // Removing the grant revokes the system token at once.
    let res = call!(app, as_admin(Method::DELETE, &grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(app, as_sys(Method::GET, "/v3/users"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(app, as_admin(Method::DELETE, &grant));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Other tokens of the user live on.
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/system").insert_header(("X-Auth-Token", ops_tok))
    );
    assert_eq!(res.status(), StatusCode::OK);
    // A system token is not traded for a project token (Keystone's 403).
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(system_auth_body("admin", "adminpw"))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let sys_admin = header(&res, "X-Subject-Token").unwrap();
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": sys_admin}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(body));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A malformed system scope is a 400.
    let mut bad = system_auth_body("admin", "adminpw");
    bad["auth"]["scope"]["system"] = json!({"all": "yes"});
    let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(bad));
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn user_attributes_beyond_the_schema_and_enabled_filters() {
    let (_d, id) = identity();
    let app = app!(id);
    let (tok, _) = login!(app, "admin", "adminpw", Some("admin"));
    let as_admin = |m: Method, p: &str| req(m, p).insert_header(("X-Auth-Token", tok.clone()));
    let res = call!(
        app,
        as_admin(Method::POST, "/v3/users").set_json(json!({"user": {
            "name": "extra-u", "password": "pw", "enabled": false,
            "description": "first", "email": "u@example.org"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    assert_eq!(v["user"]["email"], "u@example.org", "{v}");
    assert!(v["user"].get("password").is_none(), "{v}");
    let uid = v["user"]["id"].as_str().unwrap().to_string();
    // An update merges: new values replace, others stay.
    let res = call!(
        app,
        as_admin(Method::PATCH, &format!("/v3/users/{uid}"))
            .set_json(json!({"user": {"description": "second", "enabled": true}}))
    );
    assert_eq!(res.status(), StatusCode::OK);
    let res = call!(app, as_admin(Method::GET, &format!("/v3/users/{uid}")));
    let v = json_of(res).await;
    assert_eq!(v["user"]["description"], "second", "{v}");
    assert_eq!(v["user"]["email"], "u@example.org", "{v}");
    assert_eq!(v["user"]["enabled"], true, "{v}");

    // enabled=false lists only disabled users (and projects, domains).
    call!(
        app,
        as_admin(Method::PATCH, &format!("/v3/users/{uid}"))
            .set_json(json!({"user": {"enabled": false}}))
    );
    for (path, key, name) in [
        ("/v3/users", "users", "extra-u"),
        ("/v3/projects", "projects", "admin"),
        ("/v3/domains", "domains", "Default"),
    ] {
        for (flag, want_disabled) in [("false", true), ("0", true), ("true", false), ("1", false)] {
            let res = call!(
                app,
                as_admin(Method::GET, &format!("{path}?enabled={flag}"))
            );
            let v = json_of(res).await;
            let rows = v[key].as_array().unwrap();
            assert!(
                rows.iter().all(|r| r["enabled"] == !want_disabled),
                "{path} {flag}: {v}"
            );
            let has = rows.iter().any(|r| r["name"] == name);
            let disabled_row = key == "users";
            assert_eq!(has, want_disabled == disabled_row, "{path} {flag}: {v}");
        }
    }
}

#[actix_web::test]
async fn groups_members_and_their_grants() {
    let (_d, id) = identity();
    admin::create_project(&id, "gp", "").unwrap();
    let u = admin::create_user(&id, "gu", "gupw", None).unwrap();
    let app = app!(id);
    let (tok, _) = login!(app, "admin", "adminpw", Some("admin"));
    let as_admin = |m: Method, p: &str| req(m, p).insert_header(("X-Auth-Token", tok.clone()));
    let member = id
        .read_blocking(|c| crate::store::resolve_role(c, "member"))
        .unwrap()
        .id;
    let pid = id
        .read_blocking(|c| crate::store::resolve_project(c, "gp"))
        .unwrap()
        .id;

    let res = call!(
        app,
        as_admin(Method::POST, "/v3/groups")
            .set_json(json!({"group": {"name": "ops", "description": "operators"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    assert_eq!(v["group"]["domain_id"], "default", "{v}");
    let gid = v["group"]["id"].as_str().unwrap().to_string();
    let res = call!(
        app,
        as_admin(Method::POST, "/v3/groups").set_json(json!({"group": {"name": "ops"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Membership.
    let membership = format!("/v3/groups/{gid}/users/{}", u.id);
    let res = call!(app, as_admin(Method::HEAD, &membership));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = call!(app, as_admin(Method::PUT, &membership));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(app, as_admin(Method::HEAD, &membership));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/groups/{gid}/users"))
    );
    assert_eq!(json_of(res).await["users"][0]["name"], "gu");
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/users/{}/groups", u.id))
    );
    assert_eq!(json_of(res).await["groups"][0]["name"], "ops");

    // No role yet: the member cannot scope to the project.
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("gu", "gupw", Some("gp")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A role granted to the group is the member's.
    let grant = format!("/v3/projects/{pid}/groups/{gid}/roles/{member}");
    let res = call!(app, as_admin(Method::PUT, &grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(app, as_admin(Method::HEAD, &grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (gu_tok, v) = login!(app, "gu", "gupw", Some("gp"));
    assert_eq!(v["token"]["roles"][0]["name"], "member", "{v}");
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", gu_tok.clone()))
    );
    assert_eq!(json_of(res).await["projects"][0]["name"], "gp");

    // Assignments: the group's own, or (effective) what it gives the user.
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/role_assignments?group.id={gid}"))
    );
    let v = json_of(res).await;
    assert_eq!(v["role_assignments"][0]["group"]["id"], gid.as_str(), "{v}");
    assert!(v["role_assignments"][0].get("user").is_none(), "{v}");
    let res = call!(
        app,
        as_admin(
            Method::GET,
            &format!("/v3/role_assignments?user.id={}", u.id)
        )
    );
    assert_eq!(json_of(res).await["role_assignments"], json!([]));
    let res = call!(
        app,
        as_admin(
            Method::GET,
            &format!("/v3/role_assignments?user.id={}&effective", u.id)
        )
    );
    let v = json_of(res).await;
    let a = &v["role_assignments"][0];
    assert_eq!(a["user"]["id"], u.id.as_str(), "{v}");
    assert_eq!(a["scope"]["project"]["id"], pid.as_str(), "{v}");
    assert!(
        a["links"]["membership"]
            .as_str()
            .unwrap()
            .ends_with(&membership),
        "{v}"
    );

    // Leaving the group revokes the user's tokens and the role.
    let res = call!(app, as_admin(Method::DELETE, &membership));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", gu_tok))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("gu", "gupw", Some("gp")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A system grant to the group gives members system-scoped tokens;
    // revoking it revokes them.
    call!(app, as_admin(Method::PUT, &membership));
    let sys_grant = format!("/v3/system/groups/{gid}/roles/{member}");
    let res = call!(app, as_admin(Method::PUT, &sys_grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(system_auth_body("gu", "gupw"))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let sys_tok = header(&res, "X-Subject-Token").unwrap();
    let res = call!(app, as_admin(Method::DELETE, &sys_grant));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::GET, "/v3/users").insert_header(("X-Auth-Token", sys_tok))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Rename, then delete: members keep no role through it.
    let res = call!(
        app,
        as_admin(Method::PATCH, &format!("/v3/groups/{gid}"))
            .set_json(json!({"group": {"name": "ops2"}}))
    );
    assert_eq!(json_of(res).await["group"]["name"], "ops2");
    let res = call!(app, as_admin(Method::DELETE, &format!("/v3/groups/{gid}")));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(app, as_admin(Method::GET, &format!("/v3/groups/{gid}")));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("gu", "gupw", Some("gp")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A group of another domain: deleting that domain takes the role it
    // gave, and the tokens that carried it.
    let res = call!(
        app,
        as_admin(Method::POST, "/v3/domains").set_json(json!({"domain": {"name": "gd"}}))
    );
    let did = json_of(res).await["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call!(
        app,
        as_admin(Method::POST, "/v3/groups")
            .set_json(json!({"group": {"name": "far", "domain_id": did}}))
    );
    let far = json_of(res).await["group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    call!(
        app,
        as_admin(Method::PUT, &format!("/v3/groups/{far}/users/{}", u.id))
    );
    let res = call!(
        app,
        as_admin(
            Method::PUT,
            &format!("/v3/projects/{pid}/groups/{far}/roles/{member}")
        )
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (far_tok, _) = login!(app, "gu", "gupw", Some("gp"));
    call!(
        app,
        as_admin(Method::PATCH, &format!("/v3/domains/{did}"))
            .set_json(json!({"domain": {"enabled": false}}))
    );
    let res = call!(app, as_admin(Method::DELETE, &format!("/v3/domains/{did}")));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", far_tok))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(auth_body("gu", "gupw", Some("gp")))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn project_tags_and_tag_filters() {
    let (_d, id) = identity();
    let app = app!(id);
    let (tok, _) = login!(app, "admin", "adminpw", Some("admin"));
    let as_admin = |m: Method, p: &str| req(m, p).insert_header(("X-Auth-Token", tok.clone()));
    let mut ids = Vec::new();
    for (name, tags) in [("t1", json!(["a", "b"])), ("t2", json!(["b", "c"]))] {
        let res = call!(
            app,
            as_admin(Method::POST, "/v3/projects")
                .set_json(json!({"project": {"name": name, "tags": tags}}))
        );
        assert_eq!(res.status(), StatusCode::CREATED);
        let v = json_of(res).await;
        assert_eq!(v["project"]["tags"], tags, "{v}");
        ids.push(v["project"]["id"].as_str().unwrap().to_string());
    }
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["projects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"].as_str().unwrap().starts_with('t'))
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    for (q, want) in [
        ("tags=a,b", vec!["t1"]),
        ("tags=b", vec!["t1", "t2"]),
        ("tags-any=a,c", vec!["t1", "t2"]),
        ("not-tags=b,c", vec!["t1"]),
        ("not-tags-any=a", vec!["t2"]),
    ] {
        let res = call!(app, as_admin(Method::GET, &format!("/v3/projects?{q}")));
        assert_eq!(names(&json_of(res).await), want, "{q}");
    }
    let t1 = &ids[0];
    let res = call!(
        app,
        as_admin(Method::PUT, &format!("/v3/projects/{t1}/tags/new"))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(header(&res, "Location")
        .unwrap()
        .ends_with(&format!("/v3/projects/{t1}/tags/new")));
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/projects/{t1}/tags/new"))
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        as_admin(Method::GET, &format!("/v3/projects/{t1}/tags"))
    );
    assert_eq!(json_of(res).await["tags"], json!(["a", "b", "new"]));
    let res = call!(
        app,
        as_admin(Method::DELETE, &format!("/v3/projects/{t1}/tags/a"))
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        as_admin(Method::DELETE, &format!("/v3/projects/{t1}/tags/a"))
    );
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = call!(
        app,
        as_admin(Method::PUT, &format!("/v3/projects/{t1}/tags"))
            .set_json(json!({"tags": ["x", "y"]}))
    );
    assert_eq!(json_of(res).await["tags"], json!(["x", "y"]));
    // Keystone's rules: distinct, no ',' or '/', at most 80.
    for bad in [
        json!(["x", "x"]),
        json!(["a,b"]),
        json!(["a/b"]),
        json!([""]),
    ] {
        let res = call!(
            app,
            as_admin(Method::PUT, &format!("/v3/projects/{t1}/tags"))
                .set_json(json!({"tags": bad}))
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let many: Vec<String> = (0..81).map(|i| format!("t{i}")).collect();
    let res = call!(
        app,
        as_admin(Method::PUT, &format!("/v3/projects/{t1}/tags")).set_json(json!({"tags": many}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = call!(
        app,
        as_admin(Method::DELETE, &format!("/v3/projects/{t1}/tags"))
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(app, as_admin(Method::GET, &format!("/v3/projects/{t1}")));
    assert_eq!(json_of(res).await["project"]["tags"], json!([]));
    // PATCH replaces the list too.
    let res = call!(
        app,
        as_admin(Method::PATCH, &format!("/v3/projects/{t1}"))
            .set_json(json!({"project": {"tags": ["p"]}}))
    );
    assert_eq!(json_of(res).await["project"]["tags"], json!(["p"]));
}

fn app_cred_auth(id: Option<&str>, name: Option<(&str, &str)>, secret: &str) -> Value {
    let mut cred = json!({"secret": secret});
    if let Some(id) = id {
        cred["id"] = json!(id);
    }
    if let Some((name, user)) = name {
        cred["name"] = json!(name);
        cred["user"] = json!({"name": user, "domain": {"id": "default"}});
    }
    json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": cred}}})
}

#[actix_web::test]
async fn application_credentials() {
    let (_d, id) = identity();
    admin::create_project(&id, "ap", "").unwrap();
    let u = admin::create_user(&id, "au", "aupw", Some("ap")).unwrap();
    admin::add_role(&id, "au", "ap", "member").unwrap();
    let app = app!(id);
    let (tok, _) = login!(app, "au", "aupw", Some("ap"));
    let base = format!("/v3/users/{}/application_credentials", u.id);
    let as_user =
        |m: Method, p: &str, t: &str| req(m, p).insert_header(("X-Auth-Token", t.to_string()));

    // Delegate only reader; the secret comes back once.
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok).set_json(json!({"application_credential": {
            "name": "ci", "description": "for CI", "roles": [{"name": "reader"}]}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    let cred = &v["application_credential"];
    let cid = cred["id"].as_str().unwrap().to_string();
    let secret = cred["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 64, "{v}");
    assert_eq!(cred["roles"][0]["name"], "reader", "{v}");
    assert_eq!(cred["unrestricted"], false, "{v}");
    // A role the token does not hold cannot be delegated.
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok).set_json(json!({"application_credential": {
            "name": "x", "roles": [{"name": "admin"}]}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok)
            .set_json(json!({"application_credential": {"name": "ci"}}))
    );
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Listed and shown without the secret.
    let res = call!(app, as_user(Method::GET, &format!("{base}/{cid}"), &tok));
    let v = json_of(res).await;
    assert!(v["application_credential"].get("secret").is_none(), "{v}");
    let res = call!(app, as_user(Method::GET, &format!("{base}?name=ci"), &tok));
    assert_eq!(
        json_of(res).await["application_credentials"][0]["id"],
        cid.as_str()
    );

    // Authenticate by id and by name and user.
    for body in [
        app_cred_auth(Some(&cid), None, &secret),
        app_cred_auth(None, Some(("ci", "au")), &secret),
    ] {
        let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(body));
        assert_eq!(res.status(), StatusCode::CREATED);
        let v = json_of(res).await;
        let t = &v["token"];
        assert_eq!(t["methods"], json!(["application_credential"]), "{v}");
        assert_eq!(t["project"]["name"], "ap", "{v}");
        let roles: Vec<&str> = t["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(roles, vec!["reader"], "{v}");
        assert_eq!(t["application_credential"]["id"], cid.as_str(), "{v}");
        assert_eq!(t["application_credential"]["restricted"], true, "{v}");
    }
    for body in [
        app_cred_auth(Some(&cid), None, "wrong"),
        app_cred_auth(Some("nosuch"), None, &secret),
    ] {
        let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(body));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let mut scoped = app_cred_auth(Some(&cid), None, &secret);
    scoped["auth"]["scope"] = json!({"project": {"id": "x"}});
    let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(scoped));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A restricted credential's token cannot make or delete credentials.
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(Some(&cid), None, &secret))
    );
    let ac_tok = header(&res, "X-Subject-Token").unwrap();
    let res = call!(
        app,
        as_user(Method::POST, &base, &ac_tok)
            .set_json(json!({"application_credential": {"name": "more"}}))
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = call!(
        app,
        as_user(Method::DELETE, &format!("{base}/{cid}"), &ac_tok)
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Nor be traded for a token without its limits, in any scope.
    for scope in [
        json!({"project": {"name": "ap", "domain": {"id": "default"}}}),
        json!({"system": {"all": true}}),
    ] {
        let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": ac_tok}},
            "scope": scope}});
        let res = call!(app, req(Method::POST, "/v3/auth/tokens").set_json(body));
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{scope}");
    }
    // An unrestricted credential delegating reader cannot mint one with
    // more than reader.
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok).set_json(json!({"application_credential": {
            "name": "open", "secret": "open-secret", "unrestricted": true,
            "roles": [{"name": "reader"}]}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let open_id = json_of(res).await["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(
            Some(&open_id),
            None,
            "open-secret"
        ))
    );
    let open_tok = header(&res, "X-Subject-Token").unwrap();
    let res = call!(
        app,
        as_user(Method::POST, &base, &open_tok).set_json(json!({"application_credential": {
            "name": "wider", "roles": [{"name": "member"}]}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = call!(
        app,
        as_user(Method::POST, &base, &open_tok)
            .set_json(json!({"application_credential": {"name": "same"}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    let names: Vec<&str> = v["application_credential"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["reader"], "{v}");

    // Losing the role on the project ends the credential's logins.
    admin::remove_role(&id, "au", "ap", "member").unwrap();
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(Some(&cid), None, &secret))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    admin::add_role(&id, "au", "ap", "member").unwrap();
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(Some(&cid), None, &secret))
    );
    let ac_tok = header(&res, "X-Subject-Token").unwrap();

    // Deleting it revokes its tokens and ends its logins.
    let (tok, _) = login!(app, "au", "aupw", Some("ap"));
    let res = call!(app, as_user(Method::DELETE, &format!("{base}/{cid}"), &tok));
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call!(
        app,
        req(Method::GET, "/v3/auth/projects").insert_header(("X-Auth-Token", ac_tok))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(Some(&cid), None, &secret))
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // An expiry in the past is refused; one in the future caps the token.
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok).set_json(json!({"application_credential": {
            "name": "old", "expires_at": "2001-01-01T00:00:00"}}))
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    let res = call!(
        app,
        as_user(Method::POST, &base, &tok).set_json(json!({"application_credential": {
            "name": "soon", "secret": "my-secret",
            "expires_at": format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                soon.year(), u8::from(soon.month()), soon.day(),
                soon.hour(), soon.minute(), soon.second())}}))
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = json_of(res).await;
    assert_eq!(v["application_credential"]["secret"], "my-secret");
    let soon_id = v["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call!(
        app,
        req(Method::POST, "/v3/auth/tokens").set_json(app_cred_auth(
            Some(&soon_id),
            None,
            "my-secret"
        ))
    );
    let v = json_of(res).await;
    let exp = v["token"]["expires_at"].as_str().unwrap();
    assert_eq!(
        &exp[..16],
        &v["token"]["expires_at"].as_str().unwrap()[..16]
    );
    assert!(
        exp.starts_with(&format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            soon.year(),
            u8::from(soon.month()),
            soon.day(),
            soon.hour(),
            soon.minute()
        )),
        "token capped at the credential's expiry: {v}"
    );
}
