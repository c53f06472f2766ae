"""Identity (Keystone v3 subset) through the `openstack` CLI and raw HTTP."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import requests

import util

OPENRC_KEYS = {
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_IDENTITY_API_VERSION",
    "OS_REGION_NAME",
    "OS_AUTH_TYPE",
}


@pytest.fixture(scope="module")
def admin_token(server):
    token, body = server.issue_token("admin", server.admin_password, "admin")
    return token, body


def json_out(res: util.CmdResult):
    res.ok()
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError(f"not JSON ({e})\n{res.describe()}") from e


def keystone_error(r: requests.Response, code: int) -> dict:
    assert r.status_code == code, f"{r.status_code} {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    body = r.json()
    assert isinstance(body.get("error"), dict), body
    assert body["error"].get("code") == code, body
    assert body["error"].get("message"), body
    assert body["error"].get("title"), body
    return body["error"]


def test_openrc_is_written_on_first_start(server):
    rc = server.openrc()
    assert OPENRC_KEYS <= set(rc), f"missing {OPENRC_KEYS - set(rc)} in {rc}"
    assert rc["OS_AUTH_URL"].rstrip("/") == server.auth_url
    assert rc["OS_USERNAME"] == "admin"
    assert rc["OS_PASSWORD"] == server.admin_password
    assert rc["OS_PROJECT_NAME"] == "admin"
    assert rc["OS_USER_DOMAIN_NAME"] == "Default"
    assert rc["OS_PROJECT_DOMAIN_NAME"] == "Default"
    assert rc["OS_IDENTITY_API_VERSION"] == "3"
    assert rc["OS_REGION_NAME"] == "RegionOne"
    assert rc["OS_AUTH_TYPE"] == "password"
    # It holds a password: only its owner may read it.
    assert server.openrc_path().stat().st_mode & 0o077 == 0, oct(server.openrc_path().stat().st_mode)


def test_root_is_version_discovery_with_300(server):
    r = requests.get(server.identity_url + "/", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 300, r.text
    values = r.json()["versions"]["values"]
    v3 = [v for v in values if v["id"].startswith("v3")]
    assert v3, values
    hrefs = [link["href"] for link in v3[0]["links"] if link["rel"] == "self"]
    assert hrefs and hrefs[0].rstrip("/") == server.auth_url, hrefs


def test_v3_document(server):
    r = requests.get(server.auth_url, timeout=10)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    assert version["id"].startswith("v3")
    assert version["status"] == "stable"


def test_token_issue(openstack, admin_token):
    _, body = admin_token
    tok = json_out(openstack("token", "issue", "-f", "json"))
    assert {"id", "expires", "project_id", "user_id"} <= set(tok), tok
    assert tok["project_id"] == body["project"]["id"]
    assert tok["user_id"] == body["user"]["id"]
    expires = dt.datetime.fromisoformat(tok["expires"].replace("Z", "+00:00"))
    now = dt.datetime.now(dt.timezone.utc)
    assert now < expires < now + dt.timedelta(days=7), tok["expires"]


def test_token_body_has_roles_and_catalog(admin_token):
    _, body = admin_token
    assert body["methods"] == ["password"]
    assert body["user"]["name"] == "admin"
    assert body["project"]["name"] == "admin"
    assert "admin" in {r["name"] for r in body["roles"]}
    assert {"identity", "object-store"} <= {s["type"] for s in body["catalog"]}


def test_catalog_list(openstack, server, admin_token):
    _, body = admin_token
    project_id = body["project"]["id"]
    rows = json_out(openstack("catalog", "list", "-f", "json"))
    by_type = {row["Type"]: row for row in rows}
    assert {"identity", "object-store"} <= set(by_type), rows
    for stype, want_url in (
        ("identity", server.auth_url),
        ("object-store", server.account_url(project_id)),
    ):
        endpoints = by_type[stype]["Endpoints"]
        if isinstance(endpoints, str):  # older cliff formatters
            pytest.fail(f"Endpoints not machine-readable: {endpoints!r}")
        interfaces = {e["interface"]: e for e in endpoints}
        assert set(interfaces) == {"public", "internal", "admin"}, endpoints
        for e in endpoints:
            assert e["region"] == "RegionOne" or e.get("region_id") == "RegionOne", e
            assert e["url"].rstrip("/") == want_url, e


def test_project_user_role_lists(openstack):
    projects = json_out(openstack("project", "list", "-f", "json"))
    assert "admin" in {p["Name"] for p in projects}, projects
    users = json_out(openstack("user", "list", "-f", "json"))
    assert "admin" in {u["Name"] for u in users}, users
    roles = json_out(openstack("role", "list", "-f", "json"))
    assert {"admin", "member", "reader"} <= {r["Name"] for r in roles}, roles


def test_role_assignment_list_names(openstack):
    rows = json_out(openstack("role", "assignment", "list", "--names", "-f", "json"))
    found = [
        r
        for r in rows
        if r["Role"] == "admin"
        and r["User"].split("@")[0] == "admin"
        and r["Project"].split("@")[0] == "admin"
    ]
    assert found, rows


def test_wrong_password_is_401_for_the_cli(openstack, admin_env):
    env = dict(admin_env, OS_PASSWORD="not-the-password")
    res = openstack("token", "issue", env=env).failed()
    assert "(HTTP 401)" in res.stderr + res.stdout, res.describe()


@pytest.mark.parametrize("user,password", [("admin", "wrong"), ("nobody", "whatever")])
def test_wrong_credentials_are_401_with_keystone_body(server, user, password):
    r = requests.post(
        f"{server.auth_url}/auth/tokens",
        json=server.password_auth_body(user, password, "admin"),
        timeout=10,
    )
    err = keystone_error(r, 401)
    assert err["title"] == "Unauthorized"
    assert "X-Subject-Token" not in r.headers
    assert r.headers.get("WWW-Authenticate", "").startswith("Keystone"), dict(r.headers)


@pytest.mark.parametrize(
    "body",
    [
        b'{"auth": {"identity": ',
        b"not json at all",
        b'{"auth": {"identity": {"methods": ["password"]}}}',
        b'{"auth": 17}',
    ],
    ids=["truncated", "garbage", "no-password-section", "wrong-type"],
)
def test_malformed_auth_request_is_400(server, body):
    r = requests.post(
        f"{server.auth_url}/auth/tokens",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    err = keystone_error(r, 400)
    assert err["title"] == "Bad Request"
    assert server.healthy()


def test_token_validation(server, admin_token):
    token, body = admin_token
    other, _ = server.issue_token("admin", server.admin_password, "admin")
    r = requests.get(
        f"{server.auth_url}/auth/tokens",
        headers={"X-Auth-Token": other, "X-Subject-Token": token},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["token"]["user"]["id"] == body["user"]["id"]


def _flip_signature_char(token: str) -> str:
    """Changes one character in the middle of the token's signature (the last
    dot-separated part of a JWT; the last half of an opaque token)."""
    if token.count(".") >= 2:
        head, sig = token.rsplit(".", 1)
        prefix = head + "."
    else:
        prefix, sig = token[: len(token) // 2], token[len(token) // 2 :]
    i = len(sig) // 2
    c = sig[i]
    replacement = "A" if c != "A" else "B"
    return prefix + sig[:i] + replacement + sig[i + 1 :]


def _object_store_status(server, project_id: str, token: str) -> int:
    r = requests.head(server.account_url(project_id), headers={"X-Auth-Token": token}, timeout=10)
    return r.status_code


def _identity_status(server, token: str) -> int:
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": token}, timeout=10)
    return r.status_code


def test_tampered_token_is_401(server, admin_token):
    token, body = server.issue_token("admin", server.admin_password, "admin")
    project_id = body["project"]["id"]
    assert _object_store_status(server, project_id, token) in (200, 204)
    assert _identity_status(server, token) == 200
    bad = _flip_signature_char(token)
    assert bad != token
    assert _object_store_status(server, project_id, bad) == 401
    assert _identity_status(server, bad) == 401
    good, _ = admin_token
    r = requests.get(
        f"{server.auth_url}/auth/tokens",
        headers={"X-Auth-Token": good, "X-Subject-Token": bad},
        timeout=10,
    )
    assert r.status_code == 404, r.text


def test_revoked_token_is_401(server, openstack, admin_token):
    tok = json_out(openstack("token", "issue", "-f", "json"))
    token, project_id = tok["id"], tok["project_id"]
    assert _object_store_status(server, project_id, token) in (200, 204)
    openstack("token", "revoke", token).ok()
    assert _object_store_status(server, project_id, token) == 401
    assert _identity_status(server, token) == 401
    good, _ = admin_token
    r = requests.get(
        f"{server.auth_url}/auth/tokens",
        headers={"X-Auth-Token": good, "X-Subject-Token": token},
        timeout=10,
    )
    assert r.status_code == 404, r.text
    # Revoking one token leaves the others alone.
    assert _object_store_status(server, project_id, good) in (200, 204)


def test_no_token_is_401(server, admin_token):
    _, body = admin_token
    r = requests.head(server.account_url(body["project"]["id"]), timeout=10)
    assert r.status_code == 401
    assert _identity_status(server, "") == 401


@pytest.fixture(scope="module")
def short_ttl_server(server_factory):
    return server_factory("short-ttl", config="[identity]\ntoken_ttl_secs = 2\n")


@pytest.mark.slow
def test_expired_token_is_401(short_ttl_server):
    srv = short_ttl_server
    token, body = srv.issue_token("admin", srv.admin_password, "admin")
    issued = dt.datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(seconds=1) <= expires - issued <= dt.timedelta(seconds=3), body
    project_id = body["project"]["id"]
    assert _object_store_status(srv, project_id, token) in (200, 204)
    time.sleep(3.5)
    assert _object_store_status(srv, project_id, token) == 401
    assert _identity_status(srv, token) == 401


def test_sigterm_exits_zero(short_ttl_server):
    assert short_ttl_server.alive()
    rc = short_ttl_server.stop()
    assert rc == 0, short_ttl_server.log_tail()


def test_second_server_on_the_same_data_dir_refuses(server):
    other = util.AtollServer(server.workdir / "second", name="second")
    other.data_dir = server.data_dir
    res = util.run(other.command(), env=util.client_env(), timeout=30)
    assert res.rc != 0, res.describe()
    assert server.healthy()


def test_restart_keeps_openrc_and_password_consistent(server_factory):
    srv = server_factory("restart")
    first = srv.openrc()
    assert srv.stop() == 0
    srv.start()
    assert srv.openrc() == first
    srv.issue_token("admin", first["OS_PASSWORD"], "admin")
    # Given another bootstrap password (as keystone-manage bootstrap does,
    # atoll applies it): whatever wins, the openrc must still work.
    assert srv.stop() == 0
    srv.admin_password = "a-different-password"
    srv.start()
    rc = srv.openrc()
    srv.issue_token("admin", rc["OS_PASSWORD"], "admin")
    assert {k: v for k, v in rc.items() if k != "OS_PASSWORD"} == {
        k: v for k, v in first.items() if k != "OS_PASSWORD"
    }


def test_unversioned_auth_url_discovers_v3(openstack, admin_env, server):
    env = dict(admin_env, OS_AUTH_URL=server.identity_url)
    tok = json_out(openstack("token", "issue", "-f", "json", env=env))
    assert tok["id"] and tok["project_id"]


def test_identity_admin_api_through_the_cli(openstack, server):
    project = json_out(openstack("project", "create", "cli-proj", "-f", "json"))
    assert project["name"] == "cli-proj" and project["id"]
    user = json_out(
        openstack("user", "create", "--project", "cli-proj", "--password", "cli-pw", "cli-user", "-f", "json")
    )
    assert user["name"] == "cli-user" and user["id"]
    openstack("role", "add", "--project", "cli-proj", "--user", "cli-user", "member").ok()
    rows = json_out(
        openstack("role", "assignment", "list", "--user", "cli-user", "--project", "cli-proj", "--names", "-f", "json")
    )
    assert [r["Role"] for r in rows] == ["member"], rows
    _, body = server.issue_token("cli-user", "cli-pw", "cli-proj")
    assert body["project"]["id"] == project["id"]
    assert "member" in {r["name"] for r in body["roles"]}
    # A member is no admin: it may not list users.
    token, _ = server.issue_token("cli-user", "cli-pw", "cli-proj")
    r = requests.get(f"{server.auth_url}/users", headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 403, r.text
    openstack("user", "delete", "cli-user").ok()
    openstack("project", "delete", "cli-proj").ok()
    body = server.password_auth_body("cli-user", "cli-pw", "cli-proj")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    assert "cli-user" not in {u["Name"] for u in json_out(openstack("user", "list", "-f", "json"))}


def test_project_members_may_read_their_domain(server):
    """Keystone's identity:get_domain: admins, and tokens scoped to a
    project of that domain; other domains stay hidden (403)."""
    server.admin("project", "create", "dom-p").ok()
    server.admin("user", "create", "dom-u", "--password", "pw", "--project", "dom-p").ok()
    server.admin("role", "add", "--user", "dom-u", "--project", "dom-p", "member").ok()
    token, body = server.issue_token("dom-u", "pw", "dom-p")
    domain_id = body["project"]["domain"]["id"]
    r = requests.get(
        f"{server.auth_url}/domains/{domain_id}", headers={"X-Auth-Token": token}, timeout=10
    )
    assert r.status_code == 200 and r.json()["domain"]["enabled"] is True, r.text
    r = requests.get(
        f"{server.auth_url}/domains/not-{domain_id}", headers={"X-Auth-Token": token}, timeout=10
    )
    assert r.status_code == 403, r.text


def test_project_and_user_updates_through_the_cli(openstack, server, admin_env):
    """`openstack project set`, `user set` and `user password set` as
    operators and users run them: renames, descriptions, disabling (which
    refuses and revokes tokens) and password changes."""
    openstack("project", "create", "upd-p", "--description", "before").ok()
    openstack("user", "create", "--project", "upd-p", "--password", "pw-1", "upd-u").ok()
    openstack("role", "add", "--project", "upd-p", "--user", "upd-u", "member").ok()

    openstack("project", "set", "--description", "after", "--name", "upd-p2", "upd-p").ok()
    shown = json_out(openstack("project", "show", "upd-p2", "-f", "json"))
    assert shown["description"] == "after" and shown["enabled"] is True, shown

    token, _ = server.issue_token("upd-u", "pw-1", "upd-p2")
    openstack("project", "set", "--disable", "upd-p2").ok()
    assert json_out(openstack("project", "show", "upd-p2", "-f", "json"))["enabled"] is False
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 401, "disabling the project revoked its tokens"
    body = server.password_auth_body("upd-u", "pw-1", "upd-p2")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    openstack("project", "set", "--enable", "upd-p2").ok()

    # An operator sets a password: the old one and the old tokens stop working.
    token, _ = server.issue_token("upd-u", "pw-1", "upd-p2")
    openstack("user", "set", "--password", "pw-2", "upd-u").ok()
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 401
    body = server.password_auth_body("upd-u", "pw-1", "upd-p2")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401

    # The user changes their own password with the CLI.
    user_env = dict(admin_env, OS_USERNAME="upd-u", OS_PASSWORD="pw-2", OS_PROJECT_NAME="upd-p2")
    openstack(
        "user", "password", "set", "--original-password", "wrong", "--password", "pw-3", env=user_env
    ).failed()
    openstack(
        "user", "password", "set", "--original-password", "pw-2", "--password", "pw-3", env=user_env
    ).ok()
    server.issue_token("upd-u", "pw-3", "upd-p2")

    openstack("user", "set", "--disable", "upd-u").ok()
    assert json_out(openstack("user", "show", "upd-u", "-f", "json"))["enabled"] is False
    body = server.password_auth_body("upd-u", "pw-3", "upd-p2")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    openstack("user", "delete", "upd-u").ok()
    openstack("project", "delete", "upd-p2").ok()


def test_service_endpoint_region_lists(openstack, server, admin_token):
    """`openstack service list`, `endpoint list` and `region list` show the
    catalog the tokens carry, with the same ids."""
    services = json_out(openstack("service", "list", "-f", "json"))
    by_type = {s["Type"]: s for s in services}
    assert {"identity", "object-store"} <= set(by_type), services
    endpoints = json_out(openstack("endpoint", "list", "-f", "json"))
    objs = [e for e in endpoints if e["Service Type"] == "object-store"]
    assert {e["Interface"] for e in objs} == {"public", "internal", "admin"}, endpoints
    assert all(e["Region"] == "RegionOne" and e["Enabled"] for e in objs), objs
    assert all("$(project_id)s" in e["URL"] for e in objs), objs
    _, body = admin_token
    token_ids = {ep["id"] for s in body["catalog"] for ep in s["endpoints"]}
    assert {e["ID"] for e in endpoints} == token_ids
    shown = json_out(openstack("endpoint", "show", objs[0]["ID"], "-f", "json"))
    assert shown["service_type"] == "object-store", shown
    regions = json_out(openstack("region", "list", "-f", "json"))
    assert [r["Region"] for r in regions] == ["RegionOne"], regions


def test_custom_operator_role_owns_the_account(openstack, server):
    """`openstack role create swiftoperator`, as Swift's keystoneauth
    deployments do: holders own their project's account; deleting the role
    takes that away at once (their tokens are revoked)."""
    openstack("role", "create", "swiftoperator").ok()
    openstack("project", "create", "op-p").ok()
    openstack("user", "create", "--project", "op-p", "--password", "op-pw", "op-u").ok()
    openstack("role", "add", "--project", "op-p", "--user", "op-u", "swiftoperator").ok()
    token, body = server.issue_token("op-u", "op-pw", "op-p")
    assert [r["name"] for r in body["roles"]] == ["swiftoperator"], body["roles"]
    url = server.account_url(body["project"]["id"])
    h = {"X-Auth-Token": token}
    assert requests.put(f"{url}/op-c", headers=h, timeout=10).status_code == 201
    r = requests.put(f"{url}/op-c/o", data=b"x", headers=h, timeout=10)
    assert r.status_code == 201, r.text
    # A role that is not an operator role gives nothing.
    openstack("role", "create", "observer").ok()
    openstack("user", "create", "--project", "op-p", "--password", "ob-pw", "ob-u").ok()
    openstack("role", "add", "--project", "op-p", "--user", "ob-u", "observer").ok()
    ob_token, _ = server.issue_token("ob-u", "ob-pw", "op-p")
    r = requests.get(f"{url}/op-c", headers={"X-Auth-Token": ob_token}, timeout=10)
    assert r.status_code == 403, r.text

    openstack("role", "delete", "swiftoperator").ok()
    assert requests.get(f"{url}/op-c", headers=h, timeout=10).status_code == 401
    assert "swiftoperator" not in {r["Name"] for r in json_out(openstack("role", "list", "-f", "json"))}
    openstack("role", "delete", "member").failed()
    for u in ("op-u", "ob-u"):
        openstack("user", "delete", u).ok()
    openstack("role", "delete", "observer").ok()


def test_domains_through_the_cli(openstack, server):
    """`openstack domain create/set/delete` with a project and user in the
    domain: disabling refuses their logins; only a disabled domain may be
    deleted, and it takes its projects and users with it."""
    dom = json_out(openstack("domain", "create", "--description", "lab", "lab-dom", "-f", "json"))
    assert dom["description"] == "lab" and dom["enabled"] is True, dom
    openstack("project", "create", "--domain", "lab-dom", "lab-p").ok()
    openstack("user", "create", "--domain", "lab-dom", "--password", "lab-pw", "lab-u").ok()
    openstack(
        "role", "add", "--project", "lab-p", "--project-domain", "lab-dom",
        "--user", "lab-u", "--user-domain", "lab-dom", "member",
    ).ok()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "lab-u", "domain": {"name": "lab-dom"}, "password": "lab-pw"}}},
        "scope": {"project": {"name": "lab-p", "domain": {"name": "lab-dom"}}}}}
    r = requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10)
    assert r.status_code == 201, r.text
    token = r.headers["X-Subject-Token"]

    openstack("domain", "delete", "lab-dom").failed()
    openstack("domain", "set", "--disable", "lab-dom").ok()
    assert json_out(openstack("domain", "show", "lab-dom", "-f", "json"))["enabled"] is False
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 401
    openstack("domain", "delete", "lab-dom").ok()
    assert "lab-dom" not in {d["Name"] for d in json_out(openstack("domain", "list", "-f", "json"))}
    assert "lab-p" not in {p["Name"] for p in json_out(openstack("project", "list", "-f", "json"))}


def test_system_scope_through_the_cli(openstack, server, admin_env):
    """System role assignments and system-scoped tokens as operators use
    them: `openstack role add --system all`, `--os-system-scope all`, and
    a system reader that reads identity but writes nothing and owns no
    project's data."""
    server.admin("user", "create", "sys-u", "--password", "sys-pw").ok()
    openstack("role", "add", "--system", "all", "--user", "sys-u", "reader").ok()
    rows = json_out(
        openstack("role", "assignment", "list", "--system", "all", "--names", "-f", "json")
    )
    pairs = {(r["Role"], r["User"].split("@")[0], r["System"]) for r in rows}
    assert ("reader", "sys-u", "all") in pairs, rows
    assert ("admin", "admin", "all") in pairs, f"bootstrap grants the admin the system: {rows}"

    sys_env = {k: v for k, v in admin_env.items() if not k.startswith("OS_PROJECT")}
    sys_env.update(OS_USERNAME="sys-u", OS_PASSWORD="sys-pw", OS_SYSTEM_SCOPE="all")
    tok = json_out(openstack("token", "issue", "-f", "json", env=sys_env))
    assert tok["id"] and tok.get("system") == "all" and not tok.get("project_id"), tok
    users = json_out(openstack("user", "list", "-f", "json", env=sys_env))
    assert {"admin", "sys-u"} <= {u["Name"] for u in users}
    assert openstack("project", "create", "sys-nope", env=sys_env).failed().rc != 0

    # A system token owns no project: the object store refuses it.
    _, admin_body = server.issue_token("admin", server.admin_password, "admin")
    account = server.account_url(admin_body["project"]["id"])
    r = requests.get(account, headers={"X-Auth-Token": tok["id"]}, timeout=10)
    assert r.status_code == 403, r.text

    # Removing the grant revokes the system token.
    openstack("role", "remove", "--system", "all", "--user", "sys-u", "reader").ok()
    r = requests.get(f"{server.auth_url}/users", headers={"X-Auth-Token": tok["id"]}, timeout=10)
    assert r.status_code == 401, r.text
    openstack("token", "issue", env=sys_env).failed()
    server.admin("user", "delete", "sys-u").ok()


def test_groups_through_the_cli(openstack, server, admin_env):
    """`openstack group ...` as operators manage access by group: a role
    granted to a group is each member's, listed as the group's own or
    (`--effective`) as the member's; leaving the group takes it away."""
    openstack("project", "create", "grp-p").ok()
    openstack("user", "create", "--password", "grp-pw", "grp-u").ok()
    group = json_out(openstack("group", "create", "--description", "ops team", "grp-g", "-f", "json"))
    assert group["name"] == "grp-g" and group["description"] == "ops team", group
    openstack("group", "add", "user", "grp-g", "grp-u").ok()
    contains = openstack("group", "contains", "user", "grp-g", "grp-u").ok()
    assert "grp-u in group grp-g" in contains.stdout, contains.describe()
    members = json_out(openstack("user", "list", "--group", "grp-g", "-f", "json"))
    assert [m["Name"] for m in members] == ["grp-u"], members

    openstack("role", "add", "--group", "grp-g", "--project", "grp-p", "member").ok()
    rows = json_out(openstack("role", "assignment", "list", "--group", "grp-g", "--names", "-f", "json"))
    assert [(r["Role"], r["Group"].split("@")[0], r["Project"].split("@")[0]) for r in rows] == [
        ("member", "grp-g", "grp-p")
    ], rows
    rows = json_out(
        openstack("role", "assignment", "list", "--user", "grp-u", "--effective", "--names", "-f", "json")
    )
    assert [(r["Role"], r["User"].split("@")[0], r["Project"].split("@")[0]) for r in rows] == [
        ("member", "grp-u", "grp-p")
    ], rows

    # The member reaches the project's object store through the group.
    user_env = dict(admin_env, OS_USERNAME="grp-u", OS_PASSWORD="grp-pw", OS_PROJECT_NAME="grp-p")
    openstack("container", "create", "grp-c", env=user_env).ok()
    token, body = server.issue_token("grp-u", "grp-pw", "grp-p")
    assert {r["name"] for r in body["roles"]} >= {"member", "reader"}, body

    openstack("group", "remove", "user", "grp-g", "grp-u").ok()
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": token}, timeout=10)
    assert r.status_code == 401, "leaving the group revoked the user's tokens"
    openstack("container", "list", env=user_env).failed()

    openstack("group", "delete", "grp-g").ok()
    assert "grp-g" not in {g["Name"] for g in json_out(openstack("group", "list", "-f", "json"))}
    openstack("user", "delete", "grp-u").ok()


def test_project_tags_through_the_cli(openstack):
    """`openstack project create --tag`, `project list --tags/--tags-any`
    and `project set --tag/--remove-tag/--clear-tags`."""
    openstack("project", "create", "--tag", "prod", "--tag", "eu", "tag-p1").ok()
    openstack("project", "create", "--tag", "dev", "tag-p2").ok()
    shown = json_out(openstack("project", "show", "tag-p1", "-f", "json"))
    assert sorted(shown["tags"]) == ["eu", "prod"], shown
    listed = json_out(openstack("project", "list", "--tags", "prod,eu", "-f", "json"))
    assert [p["Name"] for p in listed] == ["tag-p1"], listed
    listed = json_out(openstack("project", "list", "--tags-any", "prod,dev", "-f", "json"))
    assert sorted(p["Name"] for p in listed) == ["tag-p1", "tag-p2"], listed
    # (One flag per call: the client applies --tag over --remove-tag.)
    openstack("project", "set", "--tag", "gold", "tag-p1").ok()
    openstack("project", "set", "--remove-tag", "eu", "tag-p1").ok()
    shown = json_out(openstack("project", "show", "tag-p1", "-f", "json"))
    assert sorted(shown["tags"]) == ["gold", "prod"], shown
    openstack("project", "set", "--clear-tags", "tag-p1").ok()
    assert json_out(openstack("project", "show", "tag-p1", "-f", "json"))["tags"] == []
    openstack("project", "delete", "tag-p1", "tag-p2").ok()


def test_application_credentials_through_the_cli(openstack, server, admin_env):
    """`openstack application credential create/list/show/delete` and an
    application logging in with one (OS_AUTH_TYPE=v3applicationcredential),
    as Kubernetes' and Terraform's OpenStack providers do."""
    server.admin("project", "create", "appc-p").ok()
    server.admin("user", "create", "appc-u", "--password", "appc-pw", "--project", "appc-p").ok()
    server.admin("role", "add", "--user", "appc-u", "--project", "appc-p", "member").ok()
    user_env = dict(admin_env, OS_USERNAME="appc-u", OS_PASSWORD="appc-pw", OS_PROJECT_NAME="appc-p")
    cred = json_out(
        openstack("application", "credential", "create", "--description", "ci", "appc-ci",
                  "-f", "json", env=user_env)
    )
    assert cred["Secret"] and cred["Project ID"], cred
    assert {r["name"] for r in cred["Roles"]} == {"member", "reader"}, cred
    listed = json_out(openstack("application", "credential", "list", "-f", "json", env=user_env))
    assert [c["Name"] for c in listed] == ["appc-ci"], listed

    app_env = {k: v for k, v in admin_env.items()
               if not k.startswith(("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT", "OS_USER_DOMAIN"))}
    app_env.update(
        OS_AUTH_TYPE="v3applicationcredential",
        OS_APPLICATION_CREDENTIAL_ID=cred["ID"],
        OS_APPLICATION_CREDENTIAL_SECRET=cred["Secret"],
    )
    tok = json_out(openstack("token", "issue", "-f", "json", env=app_env))
    assert tok["project_id"] == cred["Project ID"], tok
    # The application works in the project's object store with it.
    openstack("container", "create", "appc-c", env=app_env).ok()
    names = [c["Name"] for c in json_out(openstack("container", "list", "-f", "json", env=app_env))]
    assert "appc-c" in names
    # A wrong secret is refused.
    bad = dict(app_env, OS_APPLICATION_CREDENTIAL_SECRET="wrong")
    openstack("token", "issue", env=bad).failed()

    openstack("application", "credential", "delete", "appc-ci", env=user_env).ok()
    r = requests.get(f"{server.auth_url}/auth/projects", headers={"X-Auth-Token": tok["id"]}, timeout=10)
    assert r.status_code == 401, "deleting the credential revoked its tokens"
    openstack("token", "issue", env=app_env).failed()
