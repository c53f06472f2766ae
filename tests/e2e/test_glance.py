"""Glance v2 image API with the real `openstack` and `glance` clients and raw
HTTP: discovery, image lifecycle, data (checksum, sha512, Range), stage and
import, members and sharing, tags, snapshots, zero-copy registration of a
Swift object and export of an image back to Swift, and error statuses."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest
import requests

import util

MIB = 1 << 20
PATCH = "application/openstack-images-v2.1-json-patch"


def json_out(res: util.CmdResult):
    return json.loads(res.ok().stdout)


def chunk_files(server) -> int:
    root = server.data_dir / "blocks"
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def meta_query(server, sql: str, *args):
    """Reads atoll's metadata (read-only) to compare resource ids."""
    con = sqlite3.connect(f"file:{server.data_dir / 'meta.db'}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def admin_token(server):
    tok, body = server.issue_token("admin", server.admin_password, "admin")
    return tok, body["project"]["id"]


@pytest.fixture(scope="module")
def other(server):
    """A second project with a member user, and a reader in the admin project."""
    for step in [
        ("project", "create", "gl2"),
        ("user", "create", "gl2user", "--password", "pw-gl2", "--project", "gl2"),
        ("role", "add", "--user", "gl2user", "--project", "gl2", "member"),
        ("user", "create", "glreader", "--password", "pw-rd", "--project", "admin"),
        ("role", "add", "--user", "glreader", "--project", "admin", "reader"),
    ]:
        server.admin(*step).ok()
    tok, body = server.issue_token("gl2user", "pw-gl2", "gl2")
    rtok, _ = server.issue_token("glreader", "pw-rd", "admin")
    env = util.client_env(
        {**server.openrc(), "OS_USERNAME": "gl2user", "OS_PASSWORD": "pw-gl2", "OS_PROJECT_NAME": "gl2"}
    )
    return {"token": tok, "project": body["project"]["id"], "env": env, "reader": rtok}


def api(server, token, method, path, **kw):
    headers = {"X-Auth-Token": token, "Accept": "application/json", **kw.pop("headers", {})}
    return requests.request(method, f"{server.image_url}{path}", headers=headers, timeout=60, **kw)


def new_image(server, token, **attrs):
    body = {"disk_format": "raw", "container_format": "bare", **attrs}
    r = api(server, token, "POST", "/v2/images", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def upload(server, token, image_id, data: bytes):
    r = api(server, token, "PUT", f"/v2/images/{image_id}/file", data=data,
            headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text


def test_discovery_and_auth(server):
    r = requests.get(f"{server.image_url}/", timeout=10)
    assert r.status_code == 300
    ids = [v["id"] for v in r.json()["versions"]]
    assert "v2.17" in ids and "v2.0" in ids
    href = r.json()["versions"][0]["links"][0]["href"]
    assert href == f"{server.image_url}/v2/"
    r = requests.get(f"{server.image_url}/versions", timeout=10)
    assert r.status_code == 200 and r.headers["x-openstack-request-id"].startswith("req-")
    r = requests.get(f"{server.image_url}/v2/images", timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": 401, "title": "Unauthorized",
                                  "message": "The request you have made requires authentication."}}
    assert r.headers["WWW-Authenticate"] == f'Keystone uri="{server.identity_url}/v3"'
    r = requests.get(f"{server.image_url}/v2/images", headers={"X-Auth-Token": "bogus"}, timeout=10)
    assert r.status_code == 401


def test_openstack_image_lifecycle(openstack, tmp_path, server, admin_token):
    data = os.urandom(5 * MIB + 12345)
    src = tmp_path / "img.raw"
    src.write_bytes(data)
    img = json_out(openstack("image", "create", "--file", str(src), "--disk-format", "raw",
                             "--container-format", "bare", "--property", "os_distro=debian",
                             "osc-img", "-f", "json"))
    shown = json_out(openstack("image", "show", img["id"], "-f", "json"))
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    raw = api(server, admin_token[0], "GET", f"/v2/images/{img['id']}").json()
    assert raw["os_hash_algo"] == "sha512"
    assert raw["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert raw["os_distro"] == "debian"
    listed = json_out(openstack("image", "list", "-f", "json"))
    assert img["id"] in [i["ID"] for i in listed]
    openstack("image", "set", "--property", "hw_disk_bus=scsi", "--protected", img["id"]).ok()
    openstack("image", "unset", "--property", "os_distro", img["id"]).ok()
    raw = api(server, admin_token[0], "GET", f"/v2/images/{img['id']}").json()
    assert raw["hw_disk_bus"] == "scsi" and "os_distro" not in raw and raw["protected"] is True
    out = tmp_path / "saved.raw"
    openstack("image", "save", "--file", str(out), img["id"]).ok()
    assert out.read_bytes() == data
    res = openstack("image", "delete", img["id"]).failed()
    r = api(server, admin_token[0], "DELETE", f"/v2/images/{img['id']}")
    assert r.status_code == 403 and "protected" in r.json()["message"], res.describe()
    openstack("image", "set", "--unprotected", img["id"]).ok()
    openstack("image", "delete", img["id"]).ok()
    assert api(server, admin_token[0], "GET", f"/v2/images/{img['id']}").status_code == 404


def test_glance_client(server, admin_env, tmp_path, other):
    glance = util.client_bin("glance")
    data = os.urandom(2 * MIB + 7)
    src = tmp_path / "g.raw"
    src.write_bytes(data)
    res = util.run([glance, "image-create", "--name", "gl-img", "--disk-format", "raw",
                    "--container-format", "bare", "--visibility", "shared", "--file", str(src)],
                   env=admin_env).ok()
    image_id = next(line.split("|")[2].strip() for line in res.stdout.splitlines()
                    if line.startswith("| id "))
    out = util.run([glance, "image-list"], env=admin_env).ok().stdout
    assert image_id in out and "gl-img" in out
    dl = tmp_path / "dl.raw"
    util.run([glance, "image-download", "--file", str(dl), image_id], env=admin_env).ok()
    assert dl.read_bytes() == data
    util.run([glance, "image-tag-update", image_id, "blue"], env=admin_env).ok()
    util.run([glance, "member-create", image_id, other["project"]], env=admin_env).ok()
    members = util.run([glance, "member-list", "--image-id", image_id], env=admin_env).ok().stdout
    assert other["project"] in members and "pending" in members
    shown = util.run([glance, "image-show", image_id], env=admin_env).ok().stdout
    assert "blue" in shown


def test_range_download(server, admin_token):
    tok = admin_token[0]
    data = os.urandom(3 * MIB)
    img = new_image(server, tok, name="ranged")
    upload(server, tok, img["id"], data)
    r = api(server, tok, "GET", f"/v2/images/{img['id']}/file", headers={"Range": "bytes=1000-2999999"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-2999999/{len(data)}"
    assert r.content == data[1000:3000000]
    r = api(server, tok, "GET", f"/v2/images/{img['id']}/file", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = api(server, tok, "GET", f"/v2/images/{img['id']}/file", headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    r = api(server, tok, "GET", f"/v2/images/{img['id']}/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-MD5"] == hashlib.md5(data).hexdigest()


def test_stage_and_import(server, admin_token):
    tok = admin_token[0]
    data = os.urandom(MIB + 3)
    img = new_image(server, tok, name="staged")
    r = api(server, tok, "PUT", f"/v2/images/{img['id']}/stage", data=data,
            headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    assert api(server, tok, "GET", f"/v2/images/{img['id']}").json()["status"] == "uploading"
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert shown["status"] == "active"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert api(server, tok, "GET", f"/v2/images/{img['id']}/file").content == data
    # Importing again, or an unknown method, is refused.
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 409
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/import", json={"method": {"name": "web-download"}})
    assert r.status_code == 400
    info = api(server, tok, "GET", "/v2/info/import").json()
    assert "glance-direct" in info["import-methods"]["value"]
    stores = api(server, tok, "GET", "/v2/info/stores").json()["stores"]
    assert stores[0].get("default") is True


def test_register_swift_object_without_copy(server, swift_cli, tmp_path, admin_token):
    tok, project = admin_token
    data = os.urandom(6 * MIB + 999)
    f = tmp_path / "obj.raw"
    f.write_bytes(data)
    swift_cli("upload", "reg", str(f), "--object-name", "disk.raw").ok()
    before = chunk_files(server)
    img = new_image(server, tok, name="registered")
    url = f"swift://AUTH_{project}/reg/disk.raw"
    r = api(server, tok, "PATCH", f"/v2/images/{img['id']}", headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]))
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert chunk_files(server) == before, "registration must write no chunk"
    (obj_rid,) = meta_query(server, "SELECT resource_id FROM swift_objects WHERE container='reg' AND name='disk.raw'")[0]
    (img_rid,) = meta_query(server, "SELECT resource_id FROM images WHERE id=?", img["id"])[0]
    assert obj_rid == img_rid
    (refs,) = meta_query(server, "SELECT refs FROM resources WHERE id=?", obj_rid)[0]
    assert refs == 2
    assert api(server, tok, "GET", f"/v2/images/{img['id']}/file").content == data
    # 2.17's locations API on another queued image, and the refusals.
    img2 = new_image(server, tok, name="registered2")
    r = api(server, tok, "POST", f"/v2/images/{img2['id']}/locations", json={"url": url})
    assert r.status_code == 202, r.text
    assert api(server, tok, "GET", f"/v2/images/{img2['id']}").json()["status"] == "active"
    r = api(server, tok, "POST", f"/v2/images/{img2['id']}/locations", json={"url": url})
    assert r.status_code == 409
    img3 = new_image(server, tok, name="registered3")
    r = api(server, tok, "POST", f"/v2/images/{img3['id']}/locations",
            json={"url": f"swift://AUTH_{project}/reg/missing"})
    assert r.status_code == 400
    # Deleting the object keeps the image's data (the resource has refs).
    swift_cli("delete", "reg", "disk.raw").ok()
    assert api(server, tok, "GET", f"/v2/images/{img['id']}/file").content == data
    assert chunk_files(server) == before


def test_register_refused_for_another_account(server, swift_conn_factory, other, admin_token):
    tok, project = admin_token
    conn = swift_conn_factory()
    conn.put_container("mine")
    conn.put_object("mine", "o", b"secret")
    img = new_image(server, other["token"], name="thief")
    r = api(server, other["token"], "POST", f"/v2/images/{img['id']}/locations",
            json={"url": f"swift://AUTH_{project}/mine/o"})
    assert r.status_code == 403
    assert api(server, other["token"], "GET", f"/v2/images/{img['id']}").json()["status"] == "queued"


def test_export_image_to_swift(server, swift_conn_factory, admin_token):
    tok, project = admin_token
    data = os.urandom(4 * MIB + 1)
    img = new_image(server, tok, name="exported")
    upload(server, tok, img["id"], data)
    conn = swift_conn_factory()
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/actions/export",
            json={"container": "nope", "object": "x"})
    assert r.status_code == 404
    conn.put_container("exports")
    before = chunk_files(server)
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/actions/export",
            json={"container": "exports", "object": "disk.raw"})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"swift://AUTH_{project}/exports/disk.raw"
    assert chunk_files(server) == before, "export must write no chunk"
    headers, body = conn.get_object("exports", "disk.raw")
    assert body == data and headers["etag"] == hashlib.md5(data).hexdigest()
    chead = conn.head_container("exports")
    assert int(chead["x-container-object-count"]) == 1
    assert int(chead["x-container-bytes-used"]) == len(data)
    (obj_rid,) = meta_query(server, "SELECT resource_id FROM swift_objects WHERE container='exports'")[0]
    (img_rid,) = meta_query(server, "SELECT resource_id FROM images WHERE id=?", img["id"])[0]
    assert obj_rid == img_rid
    # Deleting the image leaves the object readable.
    assert api(server, tok, "DELETE", f"/v2/images/{img['id']}").status_code == 204
    assert conn.get_object("exports", "disk.raw")[1] == data


def test_snapshot_property(openstack, server, admin_token):
    tok = admin_token[0]
    img = new_image(server, tok, name="snap")
    openstack("image", "set", "--property", "EXCLUDE_ALL_TASKS=yes", img["id"]).ok()
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert shown["image_type"] == "snapshot"
    listed = api(server, tok, "GET", "/v2/images?image_type=snapshot").json()["images"]
    assert [i["id"] for i in listed] == [img["id"]]
    openstack("image", "unset", "--property", "EXCLUDE_ALL_TASKS", img["id"]).ok()
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert "image_type" not in shown


def test_visibility_and_sharing(server, openstack, other, admin_token):
    tok = admin_token[0]
    priv = new_image(server, tok, name="private-one", visibility="private")
    shared = new_image(server, tok, name="shared-one", visibility="shared")
    o = other["token"]
    assert api(server, o, "GET", f"/v2/images/{priv['id']}").status_code == 404
    r = api(server, o, "PATCH", f"/v2/images/{priv['id']}", headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "replace", "path": "/name", "value": "x"}]))
    assert r.status_code == 404
    assert api(server, o, "DELETE", f"/v2/images/{priv['id']}").status_code == 404
    openstack("image", "add", "project", shared["id"], other["project"]).ok()
    ids = [i["id"] for i in api(server, o, "GET", "/v2/images").json()["images"]]
    assert shared["id"] not in ids, "pending shares are not listed"
    r = api(server, o, "PUT", f"/v2/images/{shared['id']}/members/{other['project']}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    ids = [i["id"] for i in api(server, o, "GET", "/v2/images").json()["images"]]
    assert shared["id"] in ids and priv["id"] not in ids
    # A member cannot modify the owner's image, a reader cannot write.
    r = api(server, o, "PATCH", f"/v2/images/{shared['id']}", headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "replace", "path": "/name", "value": "x"}]))
    assert r.status_code == 403
    r = api(server, other["reader"], "POST", "/v2/images", json={"name": "nope"})
    assert r.status_code == 403
    # Members only on shared images.
    r = api(server, tok, "POST", f"/v2/images/{priv['id']}/members", json={"member": other["project"]})
    assert r.status_code == 403
    # Non-admins cannot publicize.
    r = api(server, o, "POST", "/v2/images", json={"name": "pub", "visibility": "public"})
    assert r.status_code == 403


def test_list_filters_sort_and_pages(server, admin_token):
    tok = admin_token[0]
    made = [new_image(server, tok, name=f"page-{i}", tags=["paged"]) for i in range(5)]
    r = api(server, tok, "GET", "/v2/images?tag=paged&sort=name:asc&limit=2")
    body = r.json()
    assert [i["name"] for i in body["images"]] == ["page-0", "page-1"]
    assert "next" in body
    nxt = api(server, tok, "GET", body["next"]).json()
    assert [i["name"] for i in nxt["images"]] == ["page-2", "page-3"]
    r = api(server, tok, "GET", "/v2/images?tag=paged&sort_key=name&sort_dir=desc")
    assert [i["name"] for i in r.json()["images"]] == [f"page-{i}" for i in range(4, -1, -1)]
    r = api(server, tok, "GET", "/v2/images?name=in:page-1,page-3")
    assert sorted(i["name"] for i in r.json()["images"]) == ["page-1", "page-3"]
    assert api(server, tok, "GET", "/v2/images?sort_key=bogus").status_code == 400
    assert api(server, tok, "GET", "/v2/images?marker=nope").status_code == 400
    r = api(server, tok, "GET", f"/v2/images?status=queued&tag=paged&size_max=1")
    assert len(r.json()["images"]) == 0, "queued images have no size"
    for m in made:
        api(server, tok, "DELETE", f"/v2/images/{m['id']}")


def test_bad_input(server, admin_token):
    tok = admin_token[0]
    img = new_image(server, tok, name="bad")
    p = f"/v2/images/{img['id']}"
    r = api(server, tok, "PATCH", p, headers={"Content-Type": "application/json"}, data="[]")
    assert r.status_code == 415 and "json-patch" in r.headers["Accept-Patch"]
    r = api(server, tok, "PATCH", p, headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "replace", "path": "/status", "value": "active"}]))
    assert r.status_code == 403 and r.json()["message"].startswith("Attribute 'status' is read-only.")
    r = api(server, tok, "PATCH", p, headers={"Content-Type": PATCH}, data="{not json")
    assert r.status_code == 400
    r = api(server, tok, "PATCH", p, headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "remove", "path": "/missing"}]))
    assert r.status_code == 409
    r = api(server, tok, "POST", "/v2/images", json={"name": "x", "size": 3})
    assert r.status_code == 403
    r = api(server, tok, "POST", "/v2/images", data="nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = api(server, tok, "POST", "/v2/images", json={"disk_format": "floppy"})
    assert r.status_code == 400
    r = api(server, tok, "PUT", f"{p}/file", data=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    upload(server, tok, img["id"], b"hello")
    r = api(server, tok, "PUT", f"{p}/file", data=b"again", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 409
    r = api(server, tok, "GET", "/v2/images/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "404 Not Found" and body["title"] == "Not Found"
    # webob's HTML body for clients that accept anything.
    r = api(server, tok, "GET", "/v2/images/00000000-0000-0000-0000-000000000000", headers={"Accept": "*/*"})
    assert r.status_code == 404 and "<h1>404 Not Found</h1>" in r.text
    # Deactivated images cannot be downloaded by non-admins; admins can.
    assert api(server, tok, "POST", f"{p}/actions/deactivate").status_code == 204
    assert api(server, tok, "GET", p).json()["status"] == "deactivated"
    assert api(server, tok, "POST", f"{p}/actions/reactivate").status_code == 204
    assert api(server, tok, "GET", f"{p}/file").content == b"hello"
    assert api(server, tok, "PUT", f"{p}/tags/t1").status_code == 204
    assert api(server, tok, "DELETE", f"{p}/tags/t2").status_code == 404
    assert api(server, tok, "DELETE", f"{p}/tags/t1").status_code == 204
    assert api(server, tok, "GET", "/v2/schemas/image").json()["name"] == "image"
    assert api(server, tok, "GET", "/v2/schemas/members").json()["name"] == "members"


def msg(r) -> str:
    """The `message` of a webob JSON error body."""
    return r.json()["message"]


def test_error_bodies_are_webobs(server, admin_token, admin_env):
    tok = admin_token[0]
    img = new_image(server, tok, name="bodies")
    p = f"/v2/images/{img['id']}"
    missing = "/v2/images/00000000-0000-0000-0000-000000000000"
    # explanation= form, in each of webob's three formats.
    r = api(server, tok, "GET", missing)
    assert r.json() == {"code": "404 Not Found", "title": "Not Found",
                        "message": "No image found with ID 00000000-0000-0000-0000-000000000000<br /><br />\n\n\n"}
    r = api(server, tok, "GET", missing, headers={"Accept": "text/plain"})
    assert r.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert r.text == "404 Not Found\n\nNo image found with ID 00000000-0000-0000-0000-000000000000\n\n   "
    r = api(server, tok, "GET", missing, headers={"Accept": "*/*"})
    assert r.text == ("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
                      "  <h1>404 Not Found</h1>\n  No image found with ID 00000000-0000-0000-0000-000000000000"
                      "<br /><br />\n\n\n\n </body>\n</html>")
    # Positional (detail) form: webob's default explanation, then the message.
    r = api(server, tok, "PATCH", p, headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "remove", "path": "/missing"}]))
    assert r.status_code == 409
    assert msg(r) == ("There was a conflict when trying to complete your request.<br /><br />\n"
                      "Property missing does not exist.\n\n")
    r = api(server, tok, "PATCH", p, headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "remove", "path": "/name"}]))
    assert r.status_code == 403
    assert msg(r) == "Access was denied to this resource.<br /><br />\nProperty name may not be removed.\n\n"
    r = api(server, tok, "POST", "/v2/images", json={"name": "x", "deleted": "1"})
    assert r.status_code == 403 and msg(r).endswith("\nAttribute 'deleted' is reserved.\n\n")
    r = api(server, tok, "POST", "/v2/images", json={"name": "x", "locations": []})
    assert r.status_code == 403 and msg(r).startswith("Attribute 'locations' is reserved.")
    # 415 and 405 have their own webob templates.
    r = api(server, tok, "PATCH", p, headers={"Content-Type": "application/json"}, data="[]")
    assert r.status_code == 415
    assert msg(r) == ("The request media type application/json is not supported by this server.\n"
                      "<br /><br />\nImage PATCH expects Content-Type one of: "
                      "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch")
    r = api(server, tok, "PUT", f"{missing}/file", data=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, "the media type is checked before the image is looked up"
    assert msg(r).endswith("<br /><br />\nInvalid content type text/plain")
    r = api(server, tok, "PUT", p, data="{}")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, PATCH, DELETE"
    assert msg(r) == "The method PUT is not allowed for this resource. <br /><br />\n"
    # Behind keystonemiddleware, every /v2 route needs a token first.
    assert requests.put(f"{server.image_url}{p}", timeout=10).status_code == 401
    assert requests.get(f"{server.image_url}/v2/schemas/image", timeout=10).status_code == 401
    assert requests.get(f"{server.image_url}/v2/nothing", timeout=10).status_code == 401
    # python-glanceclient shows the message of the HTML body it gets.
    glance = util.client_bin("glance")
    priv = new_image(server, tok, name="bodies-private", visibility="private")
    res = util.run([glance, "member-create", priv["id"], "someproject"], env=admin_env)
    assert res.rc != 0, res.describe()
    assert f"Not allowed to create members for image {priv['id']}." in res.stdout + res.stderr, res.describe()
    api(server, tok, "DELETE", f"/v2/images/{priv['id']}")
    api(server, tok, "DELETE", p)


def test_data_states_follow_glance(server, admin_token):
    tok = admin_token[0]
    # Uploading needs both formats.
    bare = api(server, tok, "POST", "/v2/images", json={"name": "noformats"}).json()
    r = api(server, tok, "PUT", f"/v2/images/{bare['id']}/file", data=b"abc",
            headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400
    assert msg(r).startswith("Properties disk_format, container_format must be set prior to saving data.")
    assert api(server, tok, "GET", f"/v2/images/{bare['id']}").json()["status"] == "queued"
    # A staged image shows its size, not yet its hashes.
    data = os.urandom(MIB + 5)
    img = new_image(server, tok, name="staged-fields")
    r = api(server, tok, "PUT", f"/v2/images/{img['id']}/stage", data=data,
            headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert shown["status"] == "uploading" and shown["size"] == len(data)
    assert shown["checksum"] is None and shown["os_hash_value"] is None and shown["os_hash_algo"] is None
    r = api(server, tok, "POST", f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202 and r.text == ""
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert shown["status"] == "active" and shown["checksum"] == hashlib.md5(data).hexdigest()
    for i in (bare, img):
        api(server, tok, "DELETE", f"/v2/images/{i['id']}")


def test_member_api_messages(server, admin_token, other):
    tok = admin_token[0]
    priv = new_image(server, tok, name="m-private", visibility="private")
    shared = new_image(server, tok, name="m-shared", visibility="shared")
    gone = "00000000-0000-0000-0000-00000000beef"
    r = api(server, tok, "POST", f"/v2/images/{priv['id']}/members", json={"member": other["project"]})
    assert r.status_code == 403 and msg(r).startswith(f"Not allowed to create members for image {priv['id']}.")
    r = api(server, tok, "GET", f"/v2/images/{priv['id']}/members")
    assert r.status_code == 403
    assert msg(r).startswith(f"Not allowed to list members for image {priv['id']}: Only shared images have members.")
    r = api(server, tok, "POST", f"/v2/images/{gone}/members", json={"member": other["project"]})
    assert r.status_code == 404 and msg(r).startswith(f"Image {gone} not found.")
    r = api(server, tok, "POST", f"/v2/images/{shared['id']}/members", json={"member": ""})
    assert r.status_code == 400 and msg(r).startswith("Member can't be empty")
    assert api(server, tok, "POST", f"/v2/images/{shared['id']}/members",
               json={"member": other["project"]}).status_code == 200
    r = api(server, tok, "POST", f"/v2/images/{shared['id']}/members", json={"member": other["project"]})
    assert r.status_code == 409
    assert msg(r).startswith(f"Member {other['project']} is duplicated for image {shared['id']}")
    r = api(server, other["token"], "PUT", f"/v2/images/{shared['id']}/members/{other['project']}",
            json={"status": "maybe"})
    assert r.status_code == 400
    assert msg(r).startswith('Incorrect request: Status must be "pending", "accepted" or "rejected".')
    r = api(server, tok, "GET", f"/v2/images/{shared['id']}/members/nobody")
    assert r.status_code == 404
    assert msg(r).startswith(f"nobody not found in the member list of the image {shared['id']}.")
    for i in (priv, shared):
        api(server, tok, "DELETE", f"/v2/images/{i['id']}")


def test_listing_marker_and_links_follow_glance(server, admin_token, other):
    tok = admin_token[0]
    made = [new_image(server, tok, name=f"mk-{i}", tags=["mk"]) for i in range(4)]
    outsider = new_image(server, tok, name="mk-1x")  # sorts between mk-1 and mk-2, untagged
    r = api(server, tok, "GET", f"/v2/images?tag=mk&sort=name:asc&marker={outsider['id']}")
    assert r.status_code == 200, r.text
    assert [i["name"] for i in r.json()["images"]] == ["mk-2", "mk-3"]
    assert r.json()["first"] == "/v2/images?tag=mk&sort=name%3Aasc"
    r = api(server, tok, "GET", "/v2/images?tag=mk&sort=name:asc&limit=2")
    assert r.json()["next"] == f"/v2/images?tag=mk&sort=name%3Aasc&limit=2&marker={made[1]['id']}"
    r = api(server, tok, "GET", "/v2/images?marker=nope")
    assert r.status_code == 400 and msg(r).startswith("No image found with ID nope")
    theirs = new_image(server, other["token"], name="theirs", visibility="private")
    r = api(server, other["token"], "GET", f"/v2/images?marker={made[0]['id']}")
    assert r.status_code == 403
    r = api(server, tok, "GET", "/v2/images?sort_key=owner")
    assert msg(r).startswith("Invalid sort key: owner. It must be one of the following:")
    r = api(server, tok, "GET", "/v2/images?os_hidden=yes")
    assert r.status_code == 400
    # An admin's default listing leaves out other projects' community images.
    comm = new_image(server, other["token"], name="their-community", visibility="community")
    ids = [i["id"] for i in api(server, tok, "GET", "/v2/images?limit=1000").json()["images"]]
    assert comm["id"] not in ids and theirs["id"] in ids
    ids = [i["id"] for i in api(server, tok, "GET", "/v2/images?visibility=community").json()["images"]]
    assert comm["id"] in ids
    for i in made + [outsider]:
        api(server, tok, "DELETE", f"/v2/images/{i['id']}")
    for i in (theirs, comm):
        api(server, other["token"], "DELETE", f"/v2/images/{i['id']}")


def test_patch_with_location_is_one_change(server, admin_token):
    tok, project = admin_token
    img = new_image(server, tok, name="before")
    r = api(server, tok, "PATCH", f"/v2/images/{img['id']}", headers={"Content-Type": PATCH},
            data=json.dumps([{"op": "replace", "path": "/name", "value": "after"},
                             {"op": "add", "path": "/locations/-",
                              "value": {"url": f"swift://AUTH_{project}/nowhere/none", "metadata": {}}}]))
    assert r.status_code == 400, r.text
    shown = api(server, tok, "GET", f"/v2/images/{img['id']}").json()
    assert shown["name"] == "before" and shown["status"] == "queued"
    api(server, tok, "DELETE", f"/v2/images/{img['id']}")
