"""The `swift` CLI (Keystone v3 from the server's openrc) against atoll."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import util


def stat_fields(res: util.CmdResult) -> dict[str, str]:
    res.ok()
    fields = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


@pytest.fixture(scope="module")
def project_id(server):
    _, body = server.issue_token("admin", server.admin_password, "admin")
    return body["project"]["id"]


def test_stat_empty_account(swift_cli, project_id):
    f = stat_fields(swift_cli("stat"))
    assert f["Account"] == f"AUTH_{project_id}", f
    assert f["Containers"] == "0" and f["Objects"] == "0" and f["Bytes"] == "0", f


def test_post_creates_container_with_metadata(swift_cli):
    swift_cli("post", "sc").ok()
    swift_cli("post", "-m", "Color:blue", "-m", "Size:XL", "-r", ".r:*,.rlistings", "sc").ok()
    f = stat_fields(swift_cli("stat", "sc"))
    assert f["Container"] == "sc"
    assert f["Meta Color"] == "blue" and f["Meta Size"] == "XL", f
    assert f["Read ACL"] == ".r:*,.rlistings", f
    swift_cli("post", "-m", "Color:", "sc").ok()
    f = stat_fields(swift_cli("stat", "sc"))
    assert "Meta Color" not in f and f["Meta Size"] == "XL", f
    assert "sc" in swift_cli("list").ok().stdout.split()


def test_upload_list_download_small(swift_cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(70_000), "c.bin": os.urandom(5 << 20)}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    swift_cli("upload", "sc", *files, cwd=src).ok()
    assert swift_cli("list", "sc").ok().stdout.split() == sorted(files)
    assert swift_cli("list", "sc", "--prefix", "dir/").ok().stdout.split() == ["dir/b.bin"]
    out = tmp_path / "out"
    swift_cli("download", "sc", "-D", str(out)).ok()
    for name, data in files.items():
        assert (out / name).read_bytes() == data, name
    f = stat_fields(swift_cli("stat", "sc", "c.bin"))
    assert f["Content Length"] == str(5 << 20)
    assert f["ETag"] == util.md5_hex(files["c.bin"])
    f = stat_fields(swift_cli("stat", "sc"))
    assert f["Objects"] == "3" and f["Bytes"] == str(sum(map(len, files.values()))), f


def test_object_metadata_with_post(swift_cli):
    swift_cli("post", "-m", "Owner:alice", "-H", "Content-Type:text/x-alpha", "sc", "a.txt").ok()
    f = stat_fields(swift_cli("stat", "sc", "a.txt"))
    assert f["Meta Owner"] == "alice", f
    assert f["Content Type"] == "text/x-alpha", f
    assert f["Content Length"] == "6"


def test_copy(swift_cli, tmp_path):
    swift_cli("post", "sc-dst").ok()
    swift_cli("copy", "-d", "/sc-dst/a-copy.txt", "-m", "Copied:yes", "sc", "a.txt").ok()
    f = stat_fields(swift_cli("stat", "sc-dst", "a-copy.txt"))
    assert f["Meta Copied"] == "yes", f
    assert f["Meta Owner"] == "alice", f  # copies keep the source's metadata
    swift_cli("download", "sc-dst", "a-copy.txt", "-o", str(tmp_path / "copy")).ok()
    assert (tmp_path / "copy").read_bytes() == b"alpha\n"
    # The source is untouched.
    f = stat_fields(swift_cli("stat", "sc", "a.txt"))
    assert "Meta Copied" not in f


def test_delete(swift_cli):
    swift_cli("delete", "sc", "a.txt").ok()
    assert swift_cli("list", "sc").ok().stdout.split() == ["c.bin", "dir/b.bin"]
    swift_cli("stat", "sc", "a.txt").failed()
    swift_cli("delete", "sc").ok()  # objects, then the container
    names = swift_cli("list").ok().stdout.split()
    assert "sc" not in names and "sc-dst" in names


def _upload_large(swift_cli, big_file: Path, container: str, name: str, *extra: str):
    return swift_cli(
        "upload", "--segment-size", "64M", *extra, "--object-name", name,
        container, big_file.name, cwd=big_file.parent, timeout=900,
    ).ok()


@pytest.mark.slow
def test_large_upload_dlo(swift_cli, admin_conn, big_file, big_file_sha256, tmp_path):
    size = big_file.stat().st_size
    # swiftclient makes an SLO by default when /info offers it.
    _upload_large(swift_cli, big_file, "big", "dlo.bin", "--use-dlo")
    f = stat_fields(swift_cli("stat", "big", "dlo.bin"))
    assert f["Manifest"].startswith("big_segments/dlo.bin/"), f
    assert f["Content Length"] == str(size), f
    segments = swift_cli("list", "big_segments", "--prefix", "dlo.bin/").ok().stdout.split()
    assert len(segments) == -(-size // (64 << 20)), segments
    out = tmp_path / "dlo.out"
    swift_cli("download", "big", "dlo.bin", "-o", str(out), timeout=900).ok()
    assert out.stat().st_size == size
    assert util.file_sha256(out) == big_file_sha256
    # A ranged read across a segment boundary.
    headers, body = admin_conn.get_object(
        "big", "dlo.bin", headers={"Range": f"bytes={(64 << 20) - 10}-{(64 << 20) + 9}"}
    )
    with open(big_file, "rb") as fh:
        fh.seek((64 << 20) - 10)
        assert body == fh.read(20)
    out.unlink()
    swift_cli("delete", "big", "dlo.bin").ok()
    assert swift_cli("list", "big_segments", "--prefix", "dlo.bin/").ok().stdout.split() == []


@pytest.mark.slow
def test_large_upload_slo(swift_cli, admin_conn, big_file, big_file_sha256, tmp_path):
    size = big_file.stat().st_size
    _upload_large(swift_cli, big_file, "big", "slo.bin", "--use-slo")
    headers = admin_conn.head_object("big", "slo.bin")
    assert headers.get("x-static-large-object", "").lower() == "true", headers
    assert int(headers["content-length"]) == size
    _, manifest = admin_conn.get_object("big", "slo.bin", query_string="multipart-manifest=get")
    segs = json.loads(manifest)
    assert len(segs) == -(-size // (64 << 20)), segs
    assert sum(int(s["bytes"]) for s in segs) == size
    assert all(s["name"].startswith("/big_segments/slo.bin/") for s in segs), segs
    out = tmp_path / "slo.out"
    swift_cli("download", "big", "slo.bin", "-o", str(out), timeout=900).ok()
    assert util.file_sha256(out) == big_file_sha256
    out.unlink()
    _, body = admin_conn.get_object("big", "slo.bin", headers={"Range": "bytes=-7"})
    with open(big_file, "rb") as fh:
        fh.seek(-7, os.SEEK_END)
        assert body == fh.read()
    swift_cli("delete", "big", "slo.bin").ok()
    assert swift_cli("list", "big_segments", "--prefix", "slo.bin/").ok().stdout.split() == []
    swift_cli("stat", "big", "slo.bin").failed()
