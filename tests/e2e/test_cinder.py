"""Cinder v3 volume API driven by the real `openstack` and `cinder` clients
and raw HTTP: volumes, snapshots, thin clones, upload to image, attachments
with NBD connection info and export rows, state errors, isolation."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
import requests

import util


def cli_json(res: util.CmdResult):
    return json.loads(res.ok().stdout)


@pytest.fixture(scope="module")
def api(server, token):
    tok, project = token

    def call(method, path, body=None, version=None, tok_=tok, project_=project, raw_path=False):
        headers = {"X-Auth-Token": tok_} if tok_ else {}
        if version:
            headers["OpenStack-API-Version"] = f"volume {version}"
        url = f"{server.volume_url}{path}" if raw_path else f"{server.volume_url}/v3/{project_}{path}"
        return requests.request(method, url, json=body, headers=headers, timeout=60)

    return call


@pytest.fixture(scope="module")
def cinder(admin_env):
    def _run(*args, env=None, timeout=120):
        return util.run([util.client_bin("cinder"), *args], env=env or admin_env, timeout=timeout)

    return _run


def table_value(out: str, key: str) -> str:
    """The value of `key` in a cliff/prettytable property table."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].lower() == key:
            return cells[1]
    raise AssertionError(f"no {key} in\n{out}")


def wait_status(api, vid, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = api("GET", f"/volumes/{vid}").json()["volume"]
        if v["status"] == status:
            return v
        time.sleep(0.1)
    raise AssertionError(f"volume {vid} not {status}: {v}")


def exports(server, volume_id=None):
    db = sqlite3.connect(server.data_dir / "meta.db")
    try:
        rows = db.execute(
            "SELECT name, volume_id, attachment_id, client_ip, readonly FROM nbd_exports"
        ).fetchall()
    finally:
        db.close()
    return [r for r in rows if volume_id is None or r[1] == volume_id]


def test_discovery_and_auth(server, api):
    r = requests.get(f"{server.volume_url}/", timeout=10)
    assert r.status_code == 300
    v = r.json()["versions"][0]
    assert (v["id"], v["status"], v["version"], v["min_version"]) == ("v3.0", "CURRENT", "3.71", "3.0")
    assert r.headers["OpenStack-API-Version"].startswith("volume 3.")
    assert "OpenStack-API-Version" in r.headers["Vary"]
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert "x-compute-request-id" in r.headers
    r = requests.get(f"{server.volume_url}/v3/", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert r.json()["error"]["code"] == 401
    assert api("GET", "/v3/", raw_path=True).status_code == 200


def test_microversions(api):
    r = api("GET", "/volumes", version="3.99")
    assert r.status_code == 406
    assert r.json() == {"computeFault": {"code": 406, "message":
        "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.71."}}
    r = api("GET", "/volumes", version="3.x")
    assert r.status_code == 400 and "badRequest" in r.json()
    r = api("GET", "/volumes", version="3.50")
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "volume 3.50"
    r = api("GET", "/volumes", version="latest")
    assert r.headers["OpenStack-API-Version"] == "volume 3.71"
    # 3.67: no project id in the URL.
    assert api("GET", "/v3/volumes", version="3.67", raw_path=True).status_code == 200
    # attachments exist from 3.27 on.
    assert api("GET", "/attachments", version="3.26").status_code == 404
    assert api("GET", "/attachments", version="3.27").status_code == 200


def test_info_endpoints(api, openstack):
    assert api("GET", "/limits").json()["limits"]["absolute"]["maxTotalVolumes"] == 10
    q = api("GET", f"/os-quota-sets/{api('GET', '/limits') and ''}".rstrip("/"))
    r = api("GET", "/types/default").json()["volume_type"]
    assert r["name"] == "__DEFAULT__"
    assert api("GET", "/os-availability-zone").json()["availabilityZoneInfo"][0]["zoneName"] == "nova"
    types = cli_json(openstack("volume", "type", "list", "-f", "json"))
    assert any(t["Name"] == "__DEFAULT__" for t in types)
    svcs = cli_json(openstack("volume", "service", "list", "-f", "json"))
    assert any(s["Binary"] == "cinder-volume" for s in svcs)
    del q


def test_quota_usage(api, token):
    _, project = token
    r = api("GET", f"/os-quota-sets/{project}?usage=True")
    assert r.status_code == 200, r.text
    qs = r.json()["quota_set"]
    assert qs["volumes"]["limit"] == 10 and "in_use" in qs["volumes"]


def test_openstack_volume_lifecycle(openstack):
    v = cli_json(openstack("volume", "create", "--size", "1", "--property", "a=b", "vol-a", "-f", "json"))
    assert v["size"] == 1 and v["name"] == "vol-a"
    assert v["status"] == "available"
    vid = v["id"]
    listed = cli_json(openstack("volume", "list", "-f", "json"))
    assert any(x["ID"] == vid for x in listed)
    openstack("volume", "set", "--name", "vol-b", "--description", "d", "--property", "c=d", vid).ok()
    shown = cli_json(openstack("volume", "show", vid, "-f", "json"))
    assert shown["name"] == "vol-b" and shown["description"] == "d"
    props = shown["properties"]
    assert props in ({"a": "b", "c": "d"}, "a='b', c='d'"), props
    openstack("volume", "unset", "--property", "a", vid).ok()
    shown = cli_json(openstack("volume", "show", vid, "-f", "json"))
    assert "a" not in (shown["properties"] if isinstance(shown["properties"], dict) else {}) and "a='b'" not in str(shown["properties"])
    openstack("volume", "set", "--size", "3", vid).ok()
    assert cli_json(openstack("volume", "show", vid, "-f", "json"))["size"] == 3
    openstack("volume", "delete", vid).ok()
    assert openstack("volume", "show", vid).rc != 0


def test_snapshots_and_clones_with_openstack(openstack, api):
    v = cli_json(openstack("volume", "create", "--size", "2", "src", "-f", "json"))
    s = cli_json(openstack("volume", "snapshot", "create", "--volume", v["id"], "snap1", "-f", "json"))
    assert s["status"] == "available" and s["size"] == 2
    openstack("volume", "snapshot", "set", "--name", "snap2", "--property", "k=v", s["id"]).ok()
    shown = cli_json(openstack("volume", "snapshot", "show", s["id"], "-f", "json"))
    assert shown["name"] == "snap2"
    assert any(x["ID"] == s["id"] for x in cli_json(openstack("volume", "snapshot", "list", "-f", "json")))
    c1 = cli_json(openstack("volume", "create", "--snapshot", s["id"], "--size", "3", "c1", "-f", "json"))
    assert c1["size"] == 3 and c1["snapshot_id"] == s["id"]
    c2 = cli_json(openstack("volume", "create", "--source", v["id"], "c2", "-f", "json"))
    assert c2["size"] == 2 and c2["source_volid"] == v["id"]
    # smaller than the source: 400 with Cinder's wording
    r = api("POST", "/volumes", {"volume": {"size": 1, "snapshot_id": s["id"]}})
    assert r.status_code == 400, r.text
    assert "cannot be smaller than the snapshot size" in r.json()["badRequest"]["message"]
    # a volume with snapshots cannot be deleted, unless cascade
    r = api("DELETE", f"/volumes/{v['id']}")
    assert r.status_code == 400 and "have snapshots" in r.json()["badRequest"]["message"]
    for x in (c1["id"], c2["id"]):
        openstack("volume", "delete", x).ok()
    assert api("DELETE", f"/volumes/{v['id']}?cascade=true").status_code == 202
    assert api("GET", f"/snapshots/{s['id']}").status_code == 404


def test_thin_clone_of_big_snapshot_is_quick(api):
    times = {}
    for size in (1, 100):
        v = api("POST", "/volumes", {"volume": {"size": size}}).json()["volume"]
        s = api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]
        t0 = time.monotonic()
        r = api("POST", "/volumes", {"volume": {"size": size * 10 if size == 1 else size, "snapshot_id": s["id"]}})
        times[size] = time.monotonic() - t0
        assert r.status_code == 202, r.text
        c = r.json()["volume"]
        assert c["status"] == "available"
        api("DELETE", f"/volumes/{c['id']}").raise_for_status()
        api("DELETE", f"/volumes/{v['id']}?cascade=true").raise_for_status()
    print(f"volume-from-snapshot create: 10 GiB {times[1]:.3f}s, 100 GiB {times[100]:.3f}s")
    assert times[100] < 5, times
    # from an image (made by upload-to-image): 1 GiB and 100 GiB volumes
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    r = api("POST", f"/volumes/{v['id']}/action", {"os-volume_upload_image": {"image_name": "thin"}})
    image_id = r.json()["os-volume_upload_image"]["image_id"]
    for size in (1, 100):
        t0 = time.monotonic()
        r = api("POST", "/volumes", {"volume": {"size": size, "imageRef": image_id}})
        times[f"img{size}"] = time.monotonic() - t0
        assert r.status_code == 202, r.text
        api("DELETE", f"/volumes/{r.json()['volume']['id']}").raise_for_status()
    print(f"volume-from-image create: 1 GiB {times['img1']:.3f}s, 100 GiB {times['img100']:.3f}s")
    api("DELETE", f"/volumes/{v['id']}").raise_for_status()


def test_cinder_cli(cinder, api):
    v = cli_json_table = None
    out = cinder("create", "--name", "cv", "1").ok().stdout
    vid = table_value(out, "id")
    assert vid in cinder("list").ok().stdout
    assert "cv" in cinder("show", vid).ok().stdout
    cinder("extend", vid, "2").ok()
    assert api("GET", f"/volumes/{vid}").json()["volume"]["size"] == 2
    out = cinder("snapshot-create", "--name", "cs", vid).ok().stdout
    assert "cs" in out
    out = cinder("upload-to-image", vid, "img-from-vol").ok().stdout
    assert "img-from-vol" in out
    cinder("reset-state", "--state", "error", vid).ok()
    assert api("GET", f"/volumes/{vid}").json()["volume"]["status"] == "error"
    cinder("reset-state", "--state", "available", vid).ok()
    assert api("DELETE", f"/volumes/{vid}?cascade=true").status_code == 202
    del v, cli_json_table


def test_upload_to_image_then_volume_from_image(api, openstack, server):
    v = api("POST", "/volumes", {"volume": {"size": 1, "name": "to-img"}}).json()["volume"]
    r = api("POST", f"/volumes/{v['id']}/action",
            {"os-volume_upload_image": {"image_name": "up1", "disk_format": "raw",
                                        "container_format": "bare"}})
    assert r.status_code == 202, r.text
    up = r.json()["os-volume_upload_image"]
    assert up["image_name"] == "up1" and up["disk_format"] == "raw"
    img = cli_json(openstack("image", "show", up["image_id"], "-f", "json"))
    assert img["status"] == "active"
    nv = cli_json(openstack("volume", "create", "--image", up["image_id"], "--size", "2", "from-img", "-f", "json"))
    assert nv["status"] == "available" and str(nv["bootable"]).lower() == "true"
    shown = api("GET", f"/volumes/{nv['id']}").json()["volume"]
    assert shown["volume_image_metadata"]["image_id"] == up["image_id"]
    r = api("POST", "/volumes", {"volume": {"size": 1, "imageRef": "nope"}})
    assert r.status_code == 400
    for x in (nv["id"], v["id"]):
        assert api("DELETE", f"/volumes/{x}").status_code == 202
    openstack("image", "delete", up["image_id"]).ok()


# Cinder's schema wants instance ids that look like UUIDs.
SRV = "5b2f0a52-8f4e-4d0e-9d55-0c6d1c1f0a01"
SRV2 = "5b2f0a52-8f4e-4d0e-9d55-0c6d1c1f0a02"

CONNECTOR = {"ip": "127.0.0.1", "host": "h1", "initiator": "x", "platform": "x86_64",
             "os_type": "linux", "multipath": False, "mountpoint": "/dev/vdb"}


def test_attachments_with_cinder_cli(cinder, api, server, admin_env, tmp_path):
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    vid = v["id"]
    base = ["--os-volume-api-version", "3.27"]
    out = cinder(*base, "attachment-create", vid, "11111111-2222-3333-4444-555555555555").ok().stdout
    att = table_value(out, "id")
    assert wait_status(api, vid, "reserved")
    assert exports(server, vid) == []
    # attach twice without multiattach: 400
    r = api("POST", "/attachments", {"attachment": {"volume_uuid": vid, "instance_uuid": SRV2}}, version="3.27")
    assert r.status_code == 400 and "badRequest" in r.json()
    cinder(*base, "attachment-update", att, "--ip", "127.0.0.1", "--host", "h1", "--mountpoint", "/dev/vdb").ok()
    r = api("GET", f"/attachments/{att}", version="3.27").json()["attachment"]
    ci = r["connection_info"]
    assert ci["driver_volume_type"] == "nbd"
    d = ci["data"]
    assert d["host"] == "127.0.0.1" and d["port"] == server.nbd_port
    assert len(d["export_name"]) == 32 and d["uri"] == f"nbd://127.0.0.1:{server.nbd_port}/{d['export_name']}"
    assert d["volume_id"] == vid and d["access_mode"] == "rw"
    rows = exports(server, vid)
    assert [(x[0], x[2], x[3]) for x in rows] == [(d["export_name"], att, "127.0.0.1")]
    cinder("--os-volume-api-version", "3.44", "attachment-complete", att).ok()
    assert wait_status(api, vid, "in-use")["attachments"][0]["attachment_id"] == att
    r = api("DELETE", f"/volumes/{vid}")
    assert r.status_code == 400 and "attached" in r.json()["badRequest"]["message"]
    cinder(*base, "attachment-delete", att).ok()
    wait_status(api, vid, "available")
    assert exports(server, vid) == []
    assert api("DELETE", f"/volumes/{vid}").status_code == 202


def test_attachment_create_with_connector_and_legacy_actions(api, server):
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    vid = v["id"]
    r = api("POST", "/attachments", {"attachment": {"volume_uuid": vid, "instance_uuid": SRV,
                                                    "connector": CONNECTOR, "mode": "ro"}}, version="3.54")
    assert r.status_code == 200, r.text
    a = r.json()["attachment"]
    assert a["connection_info"]["data"]["access_mode"] == "ro"
    assert exports(server, vid)[0][4] == 1
    assert api("DELETE", f"/attachments/{a['id']}", version="3.27").status_code == 200
    assert exports(server, vid) == []
    # legacy flow
    act = lambda body: api("POST", f"/volumes/{vid}/action", body)
    assert act({"os-reserve": {}}).status_code == 202
    assert wait_status(api, vid, "attaching")
    r = act({"os-initialize_connection": {"connector": CONNECTOR}})
    assert r.status_code == 200, r.text
    name = r.json()["connection_info"]["data"]["export_name"]
    assert [x[0] for x in exports(server, vid)] == [name]
    assert act({"os-attach": {"instance_uuid": SRV, "mountpoint": "/dev/vdb"}}).status_code == 202
    v = wait_status(api, vid, "in-use")
    assert len(v["attachments"]) == 1
    assert act({"os-reserve": {}}).status_code == 400
    assert act({"os-begin_detaching": {}}).status_code == 202
    assert act({"os-roll_detaching": {}}).status_code == 202
    wait_status(api, vid, "in-use")
    assert act({"os-terminate_connection": {"connector": CONNECTOR}}).status_code == 202
    assert exports(server, vid) == []
    assert act({"os-detach": {"attachment_id": v["attachments"][0]["attachment_id"]}}).status_code == 202
    wait_status(api, vid, "available")
    assert api("DELETE", f"/volumes/{vid}").status_code == 202


def test_revert_to_latest_snapshot(api):
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    s1 = api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]
    s2 = api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]
    act = lambda body, ver: api("POST", f"/volumes/{v['id']}/action", body, version=ver)
    assert act({"revert": {"snapshot_id": s2["id"]}}, "3.39").status_code == 404
    r = act({"revert": {"snapshot_id": s1["id"]}}, "3.40")
    assert r.status_code == 400 and "not the latest" in r.json()["badRequest"]["message"]
    assert act({"revert": {"snapshot_id": s2["id"]}}, "3.40").status_code == 202
    wait_status(api, v["id"], "available")
    assert api("DELETE", f"/volumes/{v['id']}?cascade=true").status_code == 202


def test_errors_and_isolation(api, server, openstack):
    r = api("GET", "/volumes/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {"code": 404, "message":
        "Volume 00000000-0000-0000-0000-000000000000 could not be found."}}
    r = api("POST", "/volumes", {"volume": {"size": 0}})
    assert r.status_code == 400
    r = api("POST", "/volumes", {"volume": {"size": 1, "volume_type": "nope"}})
    assert r.status_code == 404
    v = api("POST", "/volumes", {"volume": {"size": 1, "name": "mine"}}).json()["volume"]
    server.admin("project", "create", "other").ok()
    server.admin("user", "create", "bob", "--password", "bobpw", "--project", "other").ok()
    server.admin("role", "add", "--user", "bob", "--project", "other", "member").ok()
    server.admin("user", "create", "rita", "--password", "ritapw", "--project", "other").ok()
    server.admin("role", "add", "--user", "rita", "--project", "other", "reader").ok()
    def tok(user, pw):
        body = server.password_auth_body(user, pw, "other")
        r = requests.post(f"{server.auth_url}/auth/tokens", json=body, timeout=10)
        return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]
    bt, bp = tok("bob", "bobpw")
    assert api("GET", f"/volumes/{v['id']}", tok_=bt, project_=bp).status_code == 404
    assert api("DELETE", f"/volumes/{v['id']}", tok_=bt, project_=bp).status_code == 404
    lst = api("GET", "/volumes", tok_=bt, project_=bp).json()["volumes"]
    assert all(x["id"] != v["id"] for x in lst)
    # another project's id in the URL
    r = api("GET", "/volumes", tok_=bt)
    assert r.status_code == 400
    rt, rp = tok("rita", "ritapw")
    r = api("POST", "/volumes", {"volume": {"size": 1}}, tok_=rt, project_=rp)
    assert r.status_code == 403 and "forbidden" in r.json()
    assert api("GET", "/volumes", tok_=rt, project_=rp).status_code == 200
    # admin sees it with all_tenants
    assert any(x["id"] == v["id"] for x in api("GET", "/volumes/detail?all_tenants=1").json()["volumes"])
    assert api("DELETE", f"/volumes/{v['id']}").status_code == 202


def test_list_filters_and_count(api):
    ids = []
    for i in range(3):
        r = api("POST", "/volumes", {"volume": {"size": 1, "name": f"f{i}", "metadata": {"grp": "x" if i else "y"}}})
        ids.append(r.json()["volume"]["id"])
    r = api("GET", "/volumes/detail?metadata={'grp': 'x'}&with_count=true", version="3.45").json()
    assert {x["name"] for x in r["volumes"]} == {"f1", "f2"} and r["count"] == 2
    r = api("GET", "/volumes?limit=1&sort=name:asc").json()
    assert len(r["volumes"]) == 1 and "volumes_links" in r
    r = api("GET", "/volumes/detail?name=f0").json()["volumes"]
    assert [x["id"] for x in r] == [ids[0]]
    for i in ids:
        api("DELETE", f"/volumes/{i}").raise_for_status()


def bad(r, message=None):
    """A Cinder 400 with `message` (when given) as its badRequest text."""
    assert r.status_code == 400, (r.status_code, r.text)
    if message is not None:
        assert r.json() == {"badRequest": {"code": 400, "message": message}}, r.text


NOVOL = "00000000-0000-0000-0000-00000000abcd"


def test_request_bodies_validated_like_cinder_schemas(api):
    """cinder/api/schemas: 400s and their jsonschema wording (tempest's
    test_volumes_negative sizes, unknown keys, ids)."""
    post = lambda vol, **kw: api("POST", "/volumes", {"volume": vol}, **kw)
    bad(post({"size": "#$%"}),
        "Invalid input for field/attribute size. Value: #$%. '#$%' does not match '^[0-9]+$'")
    bad(post({"size": ""}), "Invalid input for field/attribute size. Value: . '' does not match '^[0-9]+$'")
    bad(post({"size": "0"}), "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1")
    bad(post({"size": "-1"}),
        "Invalid input for field/attribute size. Value: -1. '-1' does not match '^[0-9]+$'")
    bad(post({"size": 1.5}),
        "Invalid input for field/attribute size. Value: 1.5. 1.5 is not of type 'integer', 'string', 'null'")
    bad(post({"size": 1, "name": "n" * 256}), "Invalid input received: name has 256 characters, more than 255.")
    bad(post({"size": 1, "snapshot_id": "not-a-uuid"}),
        "Invalid input for field/attribute snapshot_id. Value: not-a-uuid. 'not-a-uuid' is not valid "
        "under any of the given schemas")
    bad(post({"size": 1, "metadata": {"k": 1}}),
        "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'")
    bad(api("POST", "/volumes", {"volume": {"size": 1}, "extra": 1}),
        "Additional properties are not allowed ('extra' was unexpected)")
    bad(api("POST", "/volumes", {"size": 1}), "'volume' is a required property")
    # unknown keys inside "volume": ignored before 3.53, refused from 3.53
    r = post({"size": "1", "bogus": 1})
    assert r.status_code == 202 and r.json()["volume"]["size"] == 1, r.text
    vid = r.json()["volume"]["id"]
    bad(post({"size": 1, "bogus": 1}, version="3.53"))
    # the multiattach flag is gone: multiattach comes from the volume type
    assert post({"size": 1, "multiattach": True}).json()["badRequest"]["message"].startswith(
        "multiattach parameter has been removed.")
    # unknown ids: 404 for snapshots and volumes, 400 for images
    assert post({"size": 1, "snapshot_id": NOVOL}).status_code == 404
    assert post({"size": 1, "source_volid": NOVOL}).status_code == 404
    assert post({"size": 1, "volume_type": "nope"}).status_code == 404
    bad(post({"size": 1, "imageRef": NOVOL}), "Invalid image identifier or unable to access requested image.")
    # updates
    bad(api("PUT", f"/volumes/{vid}", {"volume": {"size": 2}}),
        "Invalid input for field/attribute volume. Value: {'size': 2}. "
        "Additional properties are not allowed ('size' was unexpected)")
    bad(api("PUT", f"/volumes/{vid}", {"volume": {}}, version="3.53"),
        "Invalid input for field/attribute volume. Value: {}. {} is not valid under any of the given schemas")
    # malformed bodies and actions
    act = lambda body, **kw: api("POST", f"/volumes/{vid}/action", body, **kw)
    bad(act({"os-extend": {"new_size": "abc"}}),
        "Invalid input for field/attribute new_size. Value: abc. 'abc' does not match '^[0-9]+$'")
    bad(act({"os-extend": {"new_size": None}}),
        "Invalid input for field/attribute new_size. Value: None. None is not of type 'integer', 'string'")
    bad(act({"os-extend": {"new_size": 1}}),
        "Invalid input received: New size for extend must be greater than current size. "
        "(current: 1, extended: 1).")
    bad(act({"os-extend": {"new_size": 2}, "os-reserve": {}}), "Malformed request body")
    bad(act({}), "Malformed request body")
    bad(act({"os-nope": {}}),
        "There is no such action: os-nope. Verify the request body and Content-Type header and try again.")
    # snapshots and attachments
    bad(api("POST", "/snapshots", {"snapshot": {"volume_id": "abc"}}),
        "Invalid input for field/attribute volume_id. Value: abc. 'abc' is not valid under any of the "
        "given schemas")
    bad(api("POST", "/snapshots", {"snapshot": {"volume_id": vid, "force": False}}, version="3.66"))
    bad(api("POST", "/attachments", {"attachment": {"volume_uuid": vid, "instance_uuid": "srv"}},
            version="3.27"),
        "Invalid input for field/attribute instance_uuid. Value: srv. 'srv' is not a 'uuid'")
    assert api("GET", f"/volumes/{vid}").json()["volume"]["status"] == "available"
    assert api("DELETE", f"/volumes/{vid}").status_code == 202


def test_malformed_json_body(server, api, token):
    tok, project = token
    r = requests.post(f"{server.volume_url}/v3/{project}/volumes", data="{",
                      headers={"X-Auth-Token": tok, "Content-Type": "application/json"}, timeout=10)
    bad(r, "Malformed request body")


def test_state_rules_like_cinder_volume_api(api, server):
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    vid = v["id"]
    act = lambda body, **kw: api("POST", f"/volumes/{vid}/action", body, **kw)
    assert act({"os-attach": {"instance_uuid": SRV, "mountpoint": "/dev/vdb"}}).status_code == 202
    wait_status(api, vid, "in-use")
    # extend of an in-use volume before 3.42: Cinder prints the expected dict
    bad(act({"os-extend": {"new_size": 2}}),
        f"Invalid volume: Volume {vid} status must be '{{'status': 'available'}}' to extend, currently in-use.")
    assert act({"os-extend": {"new_size": 2}}, version="3.42").status_code == 202
    # force delete never removes an attached volume
    r = act({"os-force_delete": {}})
    bad(r)
    assert "must not be migrating, attached" in r.json()["badRequest"]["message"]
    # snapshot of a volume in error
    assert act({"os-reset_status": {"status": "error"}}).status_code == 202
    bad(api("POST", "/snapshots", {"snapshot": {"volume_id": vid, "force": True}}),
        "Invalid volume: The snapshot cannot be created when the volume is in error status.")
    # os-force_detach (admin) frees it, as tempest's test_force_detach_volume
    att = api("GET", f"/volumes/{vid}").json()["volume"]["attachments"][0]["attachment_id"]
    r = act({"os-force_detach": {"attachment_id": att, "connector": None}})
    assert r.status_code == 202, r.text
    v = wait_status(api, vid, "available")
    assert v["attachments"] == [] and exports(server, vid) == []
    assert act({"os-force_delete": {}}).status_code == 202
    assert api("GET", f"/volumes/{vid}").status_code == 404


def test_snapshot_pagination_links(api, token):
    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    ids = [api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]["id"]
           for _ in range(3)]
    for coll in ("/snapshots", "/snapshots/detail"):
        r = api("GET", f"{coll}?limit=2").json()
        assert len(r["snapshots"]) == 2
        link = r["snapshots_links"][0]
        assert link["rel"] == "next" and f"{coll}?limit=2&marker={r['snapshots'][1]['id']}" in link["href"]
        rest = requests.get(link["href"], headers={"X-Auth-Token": token[0]}, timeout=10).json()
        assert "snapshots_links" not in rest
        assert {s["id"] for s in r["snapshots"] + rest["snapshots"]} >= set(ids)
    assert api("DELETE", f"/volumes/{v['id']}?cascade=true").status_code == 202


def _connect(api, vid):
    """Exports `vid` with `os-initialize_connection` (the volume stays
    available, as in Cinder) and returns its NBD URI."""
    import volutil

    r = api("POST", f"/volumes/{vid}/action", {"os-initialize_connection": {"connector": CONNECTOR}})
    assert r.status_code == 200, r.text
    return volutil.nbd_uri(r.json()["connection_info"])


def _disconnect(api, vid):
    r = api("POST", f"/volumes/{vid}/action", {"os-terminate_connection": {"connector": CONNECTOR}})
    assert r.status_code == 202, r.text


def test_revert_is_seen_by_a_live_nbd_connection(api):
    """revert_to points the volume at a new layer; a client that stays
    connected across the revert must read the snapshot's data next."""
    import subprocess

    import volutil

    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    uri = _connect(api, v["id"])
    volutil.qemu_io(uri, "write -P 0xaa 0 1M", "flush")
    s = api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]
    # One qemu-io process, one NBD connection: overwrite, wait while the
    # volume is reverted, then read on the same connection.
    proc = subprocess.Popen(
        ["qemu-io", "-f", "raw", uri, "-c", "write -P 0xbb 0 1M", "-c", "flush",
         "-c", "sleep 5000", "-c", "read -P 0xaa 0 1M"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.5)
        r = api("POST", f"/volumes/{v['id']}/action", {"revert": {"snapshot_id": s["id"]}}, version="3.40")
        assert r.status_code == 202, r.text
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "wrote 1048576/1048576" in out, out
    assert "Pattern verification failed" not in out and "read 1048576/1048576" in out, out
    # and a new connection sees it too
    volutil.qemu_io(uri, "read -P 0xaa 0 1M")
    _disconnect(api, v["id"])
    assert api("DELETE", f"/volumes/{v['id']}?cascade=true").status_code == 202


def test_deleting_the_parent_keeps_clone_and_image_data(api):
    """The resource layer refcounts layers: deleting a volume (and, by
    cascade, its snapshot) leaves its clone and its image readable."""
    import volutil

    v = api("POST", "/volumes", {"volume": {"size": 1}}).json()["volume"]
    uri = _connect(api, v["id"])
    volutil.qemu_io(uri, "write -P 0xcd 0 1M", "write -P 0x5e 512M 1M", "flush")
    _disconnect(api, v["id"])
    s = api("POST", "/snapshots", {"snapshot": {"volume_id": v["id"]}}).json()["snapshot"]
    clone = api("POST", "/volumes", {"volume": {"snapshot_id": s["id"]}}).json()["volume"]
    r = api("POST", f"/volumes/{v['id']}/action", {"os-volume_upload_image": {"image_name": "keep"}})
    assert r.status_code == 202, r.text
    image_id = r.json()["os-volume_upload_image"]["image_id"]
    assert api("DELETE", f"/volumes/{v['id']}?cascade=true").status_code == 202
    assert api("GET", f"/snapshots/{s['id']}").status_code == 404
    from_image = api("POST", "/volumes", {"volume": {"size": 1, "imageRef": image_id}}).json()["volume"]
    for child in (clone["id"], from_image["id"]):
        uri = _connect(api, child)
        volutil.qemu_io(uri, "read -P 0xcd 0 1M", "read -P 0x5e 512M 1M", "read -P 0 1M 1M")
        _disconnect(api, child)
        assert api("DELETE", f"/volumes/{child}").status_code == 202
