"""`openstack container ...` and `openstack object ...` against atoll."""

from __future__ import annotations

import json
import os

import util


def jout(res: util.CmdResult):
    res.ok()
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError(f"not JSON ({e})\n{res.describe()}") from e


def test_container_lifecycle(openstack):
    created = jout(openstack("container", "create", "osc-c1", "osc-c2", "-f", "json"))
    assert {row["container"] for row in created} == {"osc-c1", "osc-c2"}, created
    names = {row["Name"] for row in jout(openstack("container", "list", "-f", "json"))}
    assert {"osc-c1", "osc-c2"} <= names
    shown = jout(openstack("container", "show", "osc-c1", "-f", "json"))
    assert shown["container"] == "osc-c1"
    assert int(shown["object_count"]) == 0
    assert int(shown["bytes_used"]) == 0
    openstack("container", "delete", "osc-c2").ok()
    names = {row["Name"] for row in jout(openstack("container", "list", "-f", "json"))}
    assert "osc-c2" not in names and "osc-c1" in names
    openstack("container", "show", "osc-c2").failed()


def test_container_list_prefix(openstack):
    openstack("container", "create", "pfx-a", "pfx-b", "other-z").ok()
    names = [row["Name"] for row in jout(openstack("container", "list", "--prefix", "pfx-", "-f", "json"))]
    assert names == ["pfx-a", "pfx-b"]


def test_object_create_list_show_save_delete(openstack, tmp_path):
    openstack("container", "create", "osc-obj").ok()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "blob.bin").write_bytes(data)
    (tmp_path / "note.txt").write_text("a small note\n")
    created = jout(
        openstack("object", "create", "osc-obj", "blob.bin", "note.txt", "-f", "json", cwd=tmp_path)
    )
    assert {row["object"] for row in created} == {"blob.bin", "note.txt"}, created
    etags = {row["object"]: row["etag"] for row in created}
    assert etags["blob.bin"] == util.md5_hex(data)

    listed = jout(openstack("object", "list", "osc-obj", "--long", "-f", "json"))
    by_name = {row["Name"]: row for row in listed}
    assert set(by_name) == {"blob.bin", "note.txt"}, listed
    assert int(by_name["blob.bin"]["Bytes"]) == len(data)
    assert by_name["blob.bin"]["Hash"] == util.md5_hex(data)

    shown = jout(openstack("object", "show", "osc-obj", "blob.bin", "-f", "json"))
    assert shown["object"] == "blob.bin"
    assert int(shown["content-length"]) == len(data)
    assert shown["etag"] == util.md5_hex(data)
    shown = jout(openstack("object", "show", "osc-obj", "note.txt", "-f", "json"))
    assert shown["content-type"].startswith("text/plain"), shown

    out = tmp_path / "saved.bin"
    openstack("object", "save", "osc-obj", "blob.bin", "--file", str(out)).ok()
    assert out.read_bytes() == data

    cont = jout(openstack("container", "show", "osc-obj", "-f", "json"))
    assert int(cont["object_count"]) == 2
    assert int(cont["bytes_used"]) == len(data) + len("a small note\n")

    # A non-empty container is not deleted (409 Conflict).
    openstack("container", "delete", "osc-obj").failed()
    openstack("object", "delete", "osc-obj", "blob.bin").ok()
    listed = [row["Name"] for row in jout(openstack("object", "list", "osc-obj", "-f", "json"))]
    assert listed == ["note.txt"]
    openstack("object", "show", "osc-obj", "blob.bin").failed()
    openstack("container", "delete", "--recursive", "osc-obj").ok()
    names = {row["Name"] for row in jout(openstack("container", "list", "-f", "json"))}
    assert "osc-obj" not in names


def test_object_set_and_unset_properties(openstack, tmp_path):
    openstack("container", "create", "osc-meta").ok()
    (tmp_path / "m.txt").write_text("meta\n")
    openstack("object", "create", "osc-meta", "m.txt", cwd=tmp_path).ok()
    openstack("object", "set", "--property", "colour=blue", "--property", "size=xl", "osc-meta", "m.txt").ok()
    shown = jout(openstack("object", "show", "osc-meta", "m.txt", "-f", "json"))
    props = shown.get("properties")
    assert props, shown
    if isinstance(props, str):
        assert "colour='blue'" in props and "size='xl'" in props, props
    else:
        assert {k.lower(): v for k, v in props.items()} == {"colour": "blue", "size": "xl"}, props
    openstack("container", "set", "--property", "team=storage", "osc-meta").ok()
    shown = jout(openstack("container", "show", "osc-meta", "-f", "json"))
    assert "storage" in json.dumps(shown.get("properties")), shown
