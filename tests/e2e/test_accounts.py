"""Accounts laid out with `atoll admin` the way Swift's functional tests
expect them (test.conf): TempAuth, roles, cross-project access and ACLs."""

from __future__ import annotations

import json

import pytest
import requests
from swiftclient.exceptions import ClientException

import util

PASSWORDS = {
    **util.SWIFT_TEST_PASSWORDS,
    "reader1": "reading1",
    "tester5": "testing5",
}


@pytest.fixture(scope="module")
def accounts(server, openstack):
    util.lay_out_swift_test_accounts(server)
    steps = [
        ("project", "create", "scratch"),
        ("user", "create", "reader1", "--password", PASSWORDS["reader1"], "--project", "test"),
        ("user", "create", "tester5", "--password", PASSWORDS["tester5"], "--project", "scratch"),
        ("role", "add", "--user", "reader1", "--project", "test", "reader"),
        ("role", "add", "--user", "tester5", "--project", "scratch", "member"),
    ]
    for step in steps:
        server.admin(*step).ok()
    projects = json.loads(openstack("project", "list", "-f", "json").ok().stdout)
    users = json.loads(openstack("user", "list", "-f", "json").ok().stdout)
    ids = {p["Name"]: p["ID"] for p in projects}
    ids.update({u["Name"]: u["ID"] for u in users})
    for name in ("test", "test2", "tester", "tester2", "tester3", "reader1"):
        assert name in ids, f"{name} not listed by the identity API: {projects} {users}"
    return ids


def tempauth_env(server, user: str, key: str) -> list[str]:
    return ["-A", server.tempauth_url, "-U", user, "-K", key]


def test_admin_cli_lists(server, accounts):
    out = server.admin("project", "list").ok().stdout
    for name in ("admin", "test", "test2"):
        assert name in out.split() or name in out, out
    out = server.admin("user", "list").ok().stdout
    for name in ("admin", "tester", "tester2", "tester3"):
        assert name in out, out
    out = server.admin("role", "list", "--user", "tester2").ok().stdout
    assert "test2" in out and "admin" in out, out
    out = server.admin("role", "list", "--project", "test").ok().stdout
    assert "tester2" in out and "reader1" in out, out
    server.admin("catalog", "show").ok()


def test_admin_cli_rejects_bad_input(server, accounts):
    server.admin("project", "create", "test").failed()  # exists
    server.admin("role", "add", "--user", "tester", "--project", "test", "emperor").failed()
    server.admin("role", "add", "--user", "ghost", "--project", "test", "member").failed()
    server.admin("user", "create", "ghost2", "--password", "x", "--project", "nope").failed()


def test_tempauth_headers(server, accounts):
    r = requests.get(
        server.tempauth_url,
        headers={"X-Auth-User": "test:tester", "X-Auth-Key": PASSWORDS["tester"]},
        timeout=10,
    )
    assert r.status_code in (200, 204), r.text
    assert r.headers["X-Storage-Url"] == server.account_url(accounts["test"])
    assert r.headers.get("X-Auth-Token")
    assert r.headers.get("X-Storage-Token", r.headers["X-Auth-Token"]) == r.headers["X-Auth-Token"]


@pytest.mark.parametrize(
    "user,key",
    [("test:tester", "wrong"), ("test:nobody", "x"), ("test2:tester", PASSWORDS["tester"]),
     ("tester", PASSWORDS["tester"])],
    ids=["bad-key", "no-such-user", "user-not-in-project", "no-project"],
)
def test_tempauth_rejects(server, accounts, user, key):
    r = requests.get(server.tempauth_url, headers={"X-Auth-User": user, "X-Auth-Key": key}, timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
    assert "X-Auth-Token" not in r.headers


def test_swift_cli_tempauth_stat_upload_list(server, swift_cli, accounts, tmp_path):
    env = util.client_env()
    auth = tempauth_env(server, "test:tester", PASSWORDS["tester"])
    res = swift_cli(*auth, "stat", env=env).ok()
    assert f"AUTH_{accounts['test']}" in res.stdout, res.describe()
    data = b"hello from tester\n" * 100
    (tmp_path / "hello.txt").write_bytes(data)
    swift_cli(*auth, "upload", "ta-c", "hello.txt", env=env, cwd=tmp_path).ok()
    res = swift_cli(*auth, "list", "ta-c", env=env).ok()
    assert res.stdout.split() == ["hello.txt"], res.describe()
    res = swift_cli(*auth, "list", env=env).ok()
    assert "ta-c" in res.stdout.split()
    swift_cli(*auth, "download", "ta-c", "hello.txt", "-o", str(tmp_path / "back"), env=env).ok()
    assert (tmp_path / "back").read_bytes() == data


def test_swiftclient_tempauth_connection(server, accounts, swift_conn_factory):
    conn = swift_conn_factory("test:tester", PASSWORDS["tester"], tempauth=True)
    url, _ = conn.get_auth()
    assert url == server.account_url(accounts["test"])
    conn.put_container("ta-conn")
    conn.put_object("ta-conn", "obj", b"via tempauth", headers={"X-Object-Meta-Via": "v1"})
    headers, body = conn.get_object("ta-conn", "obj")
    assert body == b"via tempauth" and headers["x-object-meta-via"] == "v1"
    # The same account through Keystone v3.
    ks = swift_conn_factory("tester", PASSWORDS["tester"], "test")
    assert ks.get_object("ta-conn", "obj")[1] == b"via tempauth"


def test_tester2_reaches_test2_account(server, swift_cli, accounts):
    env = util.client_env()
    res = swift_cli(*tempauth_env(server, "test2:tester2", PASSWORDS["tester2"]), "stat", env=env)
    assert f"AUTH_{accounts['test2']}" in res.ok().stdout
    swift_cli(*tempauth_env(server, "test2:tester2", PASSWORDS["tester2"]), "post", "t2c", env=env).ok()
    res = swift_cli(*tempauth_env(server, "test:tester2", PASSWORDS["tester2"]), "stat", env=env)
    assert f"AUTH_{accounts['test']}" in res.ok().stdout
    # The container lives in test2 only.
    res = swift_cli(*tempauth_env(server, "test:tester2", PASSWORDS["tester2"]), "list", env=env).ok()
    assert "t2c" not in res.stdout.split()


def test_keystone_scope_requires_a_role(server, accounts):
    r = requests.post(
        f"{server.auth_url}/auth/tokens",
        json=server.password_auth_body("tester3", PASSWORDS["tester3"], "test"),
        timeout=10,
    )
    assert r.status_code == 401, r.text
    r = requests.post(
        f"{server.auth_url}/auth/tokens",
        json=server.password_auth_body("tester", PASSWORDS["tester"], "test2"),
        timeout=10,
    )
    assert r.status_code == 401, r.text


def _status(method: str, url: str, token: str, **kw) -> int:
    return requests.request(method, url, headers={"X-Auth-Token": token, **kw.pop("headers", {})},
                            timeout=10, **kw).status_code


def test_tester3_needs_a_container_acl(server, accounts, swift_conn_factory):
    owner = swift_conn_factory("tester", PASSWORDS["tester"], "test")
    owner.put_container("acl-name")
    owner.put_object("acl-name", "o1", b"readable")
    owner.put_container("acl-id")
    owner.put_object("acl-id", "o2", b"readable too")

    url, t3 = server.tempauth("test:tester3", PASSWORDS["tester3"])
    assert url == server.account_url(accounts["test"])
    assert _status("HEAD", url, t3) == 403
    assert _status("GET", url, t3) == 403
    assert _status("GET", f"{url}/acl-name", t3) == 403
    assert _status("GET", f"{url}/acl-name/o1", t3) == 403

    owner.post_container("acl-name", {"X-Container-Read": "test:tester3"})
    owner.post_container(
        "acl-id", {"X-Container-Read": f"{accounts['test']}:{accounts['tester3']}"}
    )
    for cont, obj, body in (("acl-name", "o1", b"readable"), ("acl-id", "o2", b"readable too")):
        r = requests.get(f"{url}/{cont}/{obj}", headers={"X-Auth-Token": t3}, timeout=10)
        assert r.status_code == 200 and r.content == body, (cont, r.status_code, r.text)
        r = requests.get(f"{url}/{cont}", headers={"X-Auth-Token": t3}, timeout=10)
        assert r.status_code == 200 and obj in r.text.split(), (cont, r.status_code, r.text)
        # Read access grants no write access.
        assert _status("PUT", f"{url}/{cont}/new", t3, data=b"x") == 403
        assert _status("DELETE", f"{url}/{cont}/{obj}", t3) == 403
    assert _status("HEAD", url, t3) == 403
    assert _status("GET", f"{url}/ta-c", t3) in (403, 404)

    owner.post_container("acl-name", {"X-Container-Read": ""})
    assert _status("GET", f"{url}/acl-name/o1", t3) == 403
    _, body = owner.get_object("acl-name", "o1")
    assert body == b"readable"


def test_container_write_acl(server, accounts, swift_conn_factory):
    owner = swift_conn_factory("tester", PASSWORDS["tester"], "test")
    owner.put_container("acl-write", headers={"X-Container-Write": "test:tester3"})
    url, t3 = server.tempauth("test:tester3", PASSWORDS["tester3"])
    assert _status("PUT", f"{url}/acl-write/dropped", t3, data=b"drop") == 201
    _, body = owner.get_object("acl-write", "dropped")
    assert body == b"drop"


def test_reader_role_reads_but_cannot_write(server, accounts, swift_conn_factory):
    owner = swift_conn_factory("tester", PASSWORDS["tester"], "test")
    owner.put_container("for-reader")
    owner.put_object("for-reader", "doc", b"read me")
    reader = swift_conn_factory("reader1", PASSWORDS["reader1"], "test")
    reader.head_account()
    _, listing = reader.get_container("for-reader")
    assert [o["name"] for o in listing] == ["doc"]
    _, body = reader.get_object("for-reader", "doc")
    assert body == b"read me"
    reader.head_object("for-reader", "doc")
    for op in (
        lambda: reader.put_object("for-reader", "doc", b"overwrite"),
        lambda: reader.put_object("for-reader", "new", b"new"),
        lambda: reader.post_container("for-reader", {"X-Container-Meta-A": "b"}),
        lambda: reader.put_container("reader-made"),
        lambda: reader.delete_object("for-reader", "doc"),
    ):
        with pytest.raises(ClientException) as exc:
            op()
        assert exc.value.http_status == 403, exc.value
    _, body = owner.get_object("for-reader", "doc")
    assert body == b"read me"
    names = [c["name"] for c in owner.get_account()[1]]
    assert "reader-made" not in names


def test_other_projects_account_is_403(server, accounts, swift_conn_factory):
    tester = swift_conn_factory("tester", PASSWORDS["tester"], "test")
    url, token = tester.get_auth()
    assert url == server.account_url(accounts["test"])
    other = server.account_url(accounts["test2"])
    assert _status("HEAD", other, token) == 403
    assert _status("GET", other, token) == 403
    assert _status("PUT", f"{other}/intruder", token) == 403
    assert _status("GET", f"{other}/t2c", token) == 403
    _, ta_token = server.tempauth("test:tester", PASSWORDS["tester"])
    assert _status("HEAD", other, ta_token) == 403
    t2 = swift_conn_factory("tester2", PASSWORDS["tester2"], "test2")
    assert "intruder" not in [c["name"] for c in t2.get_account()[1]]


def test_member_role_can_write(server, accounts, swift_conn_factory):
    member = swift_conn_factory("tester5", PASSWORDS["tester5"], "scratch")
    member.put_container("mine")
    member.put_object("mine", "x", b"member data")
    assert member.get_object("mine", "x")[1] == b"member data"


def test_set_password_and_role_remove(server, accounts):
    server.admin("user", "create", "tester6", "--password", "old-pw", "--project", "scratch").ok()
    server.admin("role", "add", "--user", "tester6", "--project", "scratch", "member").ok()
    server.issue_token("tester6", "old-pw", "scratch")
    server.admin("user", "set-password", "tester6", "--password", "new-pw").ok()
    body = server.password_auth_body("tester6", "old-pw", "scratch")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    server.issue_token("tester6", "new-pw", "scratch")
    server.admin("role", "remove", "--user", "tester6", "--project", "scratch", "member").ok()
    body = server.password_auth_body("tester6", "new-pw", "scratch")
    assert requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10).status_code == 401
    out = server.admin("role", "list", "--user", "tester6").ok().stdout
    assert "member" not in out, out
    server.admin("user", "delete", "tester6").ok()
    assert "tester6" not in server.admin("user", "list").ok().stdout


def test_reseller_admin_and_account_quotas(server, accounts):
    """keystoneauth's reseller admin (`ResellerAdmin`) owns every account
    and alone sets its quotas (`X-Account-Quota-Bytes`, `-Count`, the
    legacy `X-Account-Meta-Quota-Bytes`); Swift's account_quotas then stops
    uploads past them (413) while deletes go on."""
    server.admin("role", "create", "ResellerAdmin").ok()
    server.admin("project", "create", "resell").ok()
    server.admin("user", "create", "reseller1", "--password", "rs-pw", "--project", "resell").ok()
    server.admin("role", "add", "--user", "reseller1", "--project", "resell", "ResellerAdmin").ok()
    rtok, _ = server.issue_token("reseller1", "rs-pw", "resell")
    otok, body = server.issue_token("tester5", PASSWORDS["tester5"], "scratch")
    acct = server.account_url(body["project"]["id"])
    assert "account_quotas" in requests.get(f"{server.object_url}/info", timeout=10).json()

    def call(method, url, tok, headers=None, data=None):
        return requests.request(method, url, headers={"X-Auth-Token": tok, **(headers or {})},
                                data=data, timeout=30)

    # The owner may not set its own quota; the reseller may, on any account.
    assert call("POST", acct, otok, {"X-Account-Meta-Quota-Bytes": "100"}).status_code == 403
    assert call("POST", acct, rtok, {"X-Account-Meta-Quota-Bytes": "ten"}).status_code == 400
    assert call("POST", acct, rtok, {"X-Account-Meta-Quota-Bytes": "100"}).status_code == 204
    assert call("HEAD", acct, rtok).headers["X-Account-Meta-Quota-Bytes"] == "100"

    assert call("PUT", f"{acct}/q", otok).status_code == 201
    assert call("PUT", f"{acct}/q/a", otok, data=b"x" * 60).status_code == 201
    r = call("PUT", f"{acct}/q/b", otok, data=b"x" * 60)
    assert r.status_code == 413 and r.text == "Upload exceeds quota.", (r.status_code, r.text)
    assert call("GET", f"{acct}/q/b", otok).status_code == 404, "nothing of it was stored"
    # A copy counts what it adds too; the reseller is never held back.
    r = call("PUT", f"{acct}/q/c", otok, {"X-Copy-From": "q/a", "Content-Length": "0"})
    assert r.status_code == 413, r.text
    assert call("PUT", f"{acct}/q/r", rtok, data=b"x" * 60).status_code == 201
    # Over quota now: uploads stop, containers and deletes go on.
    assert call("PUT", f"{acct}/q/d", otok, data=b"").status_code == 413
    assert call("PUT", f"{acct}/q2", otok).status_code == 201
    assert call("DELETE", f"{acct}/q/r", otok).status_code == 204
    assert call("DELETE", f"{acct}/q/a", otok).status_code == 204
    assert call("PUT", f"{acct}/q/b", otok, data=b"x" * 60).status_code == 201
    # Removing the quota (reseller only) lifts the limit.
    assert call("POST", acct, otok, {"X-Remove-Account-Meta-Quota-Bytes": "x"}).status_code == 403
    assert call("POST", acct, rtok, {"X-Remove-Account-Meta-Quota-Bytes": "x"}).status_code == 204
    assert call("PUT", f"{acct}/q/big", otok, data=b"x" * 500).status_code == 201

    # Swift's current headers: bytes and object count, visible to the owner.
    for h in ("X-Account-Quota-Bytes", "X-Account-Quota-Count"):
        assert call("POST", acct, otok, {h: "9"}).status_code == 403
        assert call("POST", acct, rtok, {h: "-1"}).status_code == 400
    objects = int(call("HEAD", acct, otok).headers["X-Account-Object-Count"])
    assert call("POST", acct, rtok, {"X-Account-Quota-Count": str(objects + 1)}).status_code == 204
    assert call("HEAD", acct, otok).headers["X-Account-Quota-Count"] == str(objects + 1)
    assert call("PUT", f"{acct}/q/n1", otok, data=b"1").status_code == 201
    r = call("PUT", f"{acct}/q/n2", otok, data=b"2")
    assert r.status_code == 413 and r.text == "Upload exceeds quota.", r.text
    assert call("POST", acct, rtok, {"X-Account-Quota-Bytes": "10"}).status_code == 204
    assert call("POST", acct, rtok, {"X-Remove-Account-Quota-Count": "x"}).status_code == 204
    r = call("PUT", f"{acct}/q/n2", otok, data=b"2")
    assert r.status_code == 413, "the byte quota (already passed) still holds"
    assert call("POST", acct, rtok, {"X-Account-Quota-Bytes": ""}).status_code == 204
    assert "X-Account-Quota-Bytes" not in call("HEAD", acct, otok).headers
    assert call("PUT", f"{acct}/q/n2", otok, data=b"2").status_code == 201

    # Per storage policy (the one policy holds the whole account).
    h = "X-Account-Quota-Count-Policy-default"
    assert call("POST", acct, otok, {h: "1"}).status_code == 403
    assert call("POST", acct, rtok, {"X-Account-Quota-Count-Policy-gold": "1"}).status_code == 400
    assert call("POST", acct, rtok, {h: "1"}).status_code == 204
    assert call("HEAD", acct, otok).headers[h] == "1"
    assert call("PUT", f"{acct}/q/n3", otok, data=b"3").status_code == 413
    assert call("POST", acct, rtok, {"X-Remove-" + h[2:]: "x"}).status_code == 204
    assert call("PUT", f"{acct}/q/n3", otok, data=b"3").status_code == 201
