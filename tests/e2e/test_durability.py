"""Durability: kill -9 at rest and mid-upload, a lost device, a corrupt
fragment. Every acknowledged object must read back byte-identical."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import util

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_config():
    # Fast GC, so blocks of an upload cut by the crash are seen reclaimed.
    return "[gc]\ninterval_secs = 1\ngrace_secs = 2\n"


@pytest.fixture(scope="module")
def stored(server, admin_conn) -> dict[str, str]:
    """Acknowledged objects: name -> md5."""
    admin_conn.put_container("dur")
    objects = {f"small-{i}": os.urandom(1024) for i in range(5)}
    objects.update({f"large-{i}": os.urandom(10 << 20) for i in range(3)})
    objects["zero-4m"] = b"\0" * (4 << 20)
    md5s = {}
    for name, data in objects.items():
        etag = admin_conn.put_object("dur", name, data)
        assert etag == util.md5_hex(data), name
        md5s[name] = etag
    return md5s


def fresh_conn(swift_conn_factory):
    return swift_conn_factory()


def read_all_back(conn, stored: dict[str, str]) -> None:
    listed = sorted(o["name"] for o in conn.get_container("dur", full_listing=True)[1])
    assert listed == sorted(stored), listed
    for name, md5 in stored.items():
        headers, body = conn.get_object("dur", name)
        assert util.md5_hex(body) == md5, f"{name}: content differs"
        assert headers["etag"].strip('"') == md5


def test_objects_reach_fragment_devices(server, stored):
    frags = util.fragment_files(server.data_dir)
    devices = {f.split(os.sep, 1)[0] for f in frags}
    assert len(devices) >= 2, f"fragments on {devices} only: {sorted(frags)[:20]}"
    assert "dev1" in devices, sorted(devices)


def test_kill9_at_rest_then_restart(server, stored, swift_conn_factory, admin_conn):
    _, old_token = admin_conn.get_auth()
    server.kill9()
    server.start()
    read_all_back(fresh_conn(swift_conn_factory), stored)
    # Tokens issued before the crash are still valid (the signing key persists).
    url, _ = admin_conn.get_auth()
    r = requests.head(url, headers={"X-Auth-Token": old_token}, timeout=10)
    assert r.status_code in (200, 204), r.status_code


class SlowUpload(threading.Thread):
    """PUTs `size` random bytes over a raw socket, 1 MiB at a time."""

    def __init__(self, port: int, path: str, token: str, size: int):
        super().__init__(daemon=True)
        self.port, self.path, self.token, self.size = port, path, token, size
        self.sent = 0
        self.response = b""
        self.error: BaseException | None = None
        self.md5 = None

    def run(self):
        import hashlib

        h = hashlib.md5()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                s.sendall(
                    (
                        f"PUT {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"X-Auth-Token: {self.token}\r\nContent-Length: {self.size}\r\n\r\n"
                    ).encode()
                )
                while self.sent < self.size:
                    chunk = os.urandom(min(1 << 20, self.size - self.sent))
                    h.update(chunk)
                    s.sendall(chunk)
                    self.sent += len(chunk)
                    time.sleep(0.02)
                self.md5 = h.hexdigest()
                self.response = s.recv(4096)
        except OSError as e:
            self.error = e


def test_kill9_during_streaming_upload(server, stored, swift_conn_factory):
    conn = fresh_conn(swift_conn_factory)
    url, token = conn.get_auth()
    frags_before = util.fragment_files(server.data_dir)
    up = SlowUpload(server.object_port, urlsplit(url).path + "/dur/streaming", token, 100 << 20)
    up.start()
    util.wait_until(lambda: up.sent >= 30 << 20 or not up.is_alive(), timeout=120, what="30 MiB sent")
    assert up.is_alive(), f"upload ended early: sent {up.sent}, error {up.error!r}, {up.response[:200]!r}"
    server.kill9()
    up.join(60)
    assert not up.is_alive()
    server.start()
    conn = fresh_conn(swift_conn_factory)
    acked = up.response.startswith(b"HTTP/1.1 201")
    listed = {o["name"]: o for o in conn.get_container("dur", full_listing=True)[1]}
    if acked:
        assert listed["streaming"]["bytes"] == 100 << 20
        assert conn.get_object("dur", "streaming")[1] and listed["streaming"]["hash"] == up.md5
        stored = dict(stored, streaming=up.md5)
    else:
        assert "streaming" not in listed, listed.get("streaming")
        r = requests.head(f"{url}/dur/streaming", headers={"X-Auth-Token": conn.get_auth()[1]}, timeout=10)
        assert r.status_code == 404
    read_all_back(conn, stored)
    h, _ = conn.get_container("dur")
    assert int(h["x-container-object-count"]) == len(stored)
    if not acked:
        # Blocks written for the cut upload are orphans: GC reclaims them.
        util.wait_until(
            lambda: not (util.fragment_files(server.data_dir) - frags_before),
            timeout=30, interval=0.5, what="GC to reclaim the cut upload's fragments",
        )
        read_all_back(conn, stored)


def _corrupt(path: Path) -> None:
    size = path.stat().st_size
    assert size > 0
    with open(path, "r+b") as f:
        f.seek(size // 2)
        chunk = f.read(min(256, size - size // 2))
        f.seek(size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
        f.flush()
        os.fsync(f.fileno())


def test_lost_device_and_corrupt_fragment(server, stored, swift_conn_factory):
    blocks = server.data_dir / "blocks"
    assert (blocks / "dev1").is_dir()
    victims = sorted(
        (p for p in (blocks / "dev3").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
        reverse=True,
    )
    assert victims, "no fragment file under blocks/dev3"
    shutil.rmtree(blocks / "dev1")
    _corrupt(victims[0])
    read_all_back(fresh_conn(swift_conn_factory), stored)
    # And again from a cold start with the device still missing.
    assert server.stop() == 0
    if (blocks / "dev1").exists():
        shutil.rmtree(blocks / "dev1")
    server.start()
    read_all_back(fresh_conn(swift_conn_factory), stored)


def test_writes_work_after_device_loss(server, stored, swift_conn_factory):
    conn = fresh_conn(swift_conn_factory)
    data = os.urandom(6 << 20)
    conn.put_object("dur", "after-loss", data)
    assert conn.get_object("dur", "after-loss")[1] == data
    conn.delete_object("dur", "after-loss")
    read_all_back(conn, stored)
