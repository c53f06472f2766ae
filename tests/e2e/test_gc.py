"""Garbage collection never takes a block that a live object still uses:
equal content stored twice, COPY (a new view of the same resource) and
overwrites, with GC running every second and a 2 s grace."""

from __future__ import annotations

import os
import time

import pytest

import util

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_config():
    return "[gc]\ninterval_secs = 1\ngrace_secs = 2\n"


@pytest.fixture(scope="module")
def conn(admin_conn):
    admin_conn.put_container("gc")
    return admin_conn


def let_gc_run():
    # Past the grace period, then a few passes.
    time.sleep(5)


def test_equal_content_survives_deleting_one_copy(conn, server):
    data = os.urandom(9 << 20)
    conn.put_object("gc", "dup-a", data)
    frags = util.fragment_files(server.data_dir)
    conn.put_object("gc", "dup-b", data)
    # Content-addressed blocks: the second upload stores no new fragment.
    assert util.fragment_files(server.data_dir) == frags
    conn.delete_object("gc", "dup-a")
    let_gc_run()
    _, body = conn.get_object("gc", "dup-b")
    assert body == data
    assert frags <= util.fragment_files(server.data_dir)


def test_copy_survives_deleting_the_source(conn, server):
    data = os.urandom(6 << 20)
    conn.put_object("gc", "src", data)
    conn.copy_object("gc", "src", destination="/gc/copy")
    conn.delete_object("gc", "src")
    let_gc_run()
    assert conn.get_object("gc", "copy")[1] == data
    conn.delete_object("gc", "copy")


def test_overwrite_frees_the_old_version(conn, server):
    before = util.fragment_files(server.data_dir)
    old = os.urandom(5 << 20)
    conn.put_object("gc", "over", old)
    old_frags = util.fragment_files(server.data_dir) - before
    assert old_frags
    new = os.urandom(5 << 20)
    conn.put_object("gc", "over", new)
    util.wait_until(
        lambda: not (old_frags & util.fragment_files(server.data_dir)),
        timeout=30, interval=0.5, what="GC to remove the overwritten version's fragments",
    )
    assert conn.get_object("gc", "over")[1] == new


def test_slo_segments_stay_while_the_manifest_lives(conn):
    import json

    seg = [os.urandom(1 << 20) for _ in range(3)]
    for i, s in enumerate(seg):
        conn.put_object("gc", f"seg/{i}", s)
    manifest = [
        {"path": f"/gc/seg/{i}", "etag": util.md5_hex(s), "size_bytes": len(s)}
        for i, s in enumerate(seg)
    ]
    conn.put_object(
        "gc", "slo", json.dumps(manifest).encode(), query_string="multipart-manifest=put"
    )
    let_gc_run()
    assert conn.get_object("gc", "slo")[1] == b"".join(seg)
    # Deleting the manifest with multipart-manifest=delete takes the segments.
    conn.delete_object("gc", "slo", query_string="multipart-manifest=delete")
    listed = [o["name"] for o in conn.get_container("gc", prefix="seg/")[1]]
    assert listed == []
