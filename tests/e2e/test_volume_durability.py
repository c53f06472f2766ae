"""Volume writes acknowledged over NBD survive kill -9 of the server.

A volume is attached with a loopback connector; qemu-io writes patterns
(some followed by FLUSH, some with FUA) and gets its acknowledgements; the
server is killed with SIGKILL and restarted on the same data directory. The
attachment and its export persist, and every acknowledged byte reads back
over NBD, alongside the parts never written (zeros).
"""

from __future__ import annotations

import shutil

import pytest

import util
from volutil import Api, nbd_uri, qemu_io

MIB = 1 << 20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-io") is None, reason="qemu-io is not installed"),
]


def create_volume(api: Api, gib: int) -> str:
    r = api.volume("POST", "/volumes", json={"volume": {"size": gib, "name": "dur-vol"}})
    assert r.status_code == 202, r.text
    return r.json()["volume"]["id"]


def test_acknowledged_nbd_writes_survive_kill9(server, admin_env):
    api = Api(server, admin_env)
    vid = create_volume(api, 1)
    att, info = api.attach(vid)
    uri = nbd_uri(info)
    # Flushed writes: inside one block, across a block boundary, at the end.
    qemu_io(uri, "write -P 0x5a 0 64k", f"write -P 0x6b {4 * MIB - 4096} 8k",
            f"write -P 0x7c {1024 * MIB - MIB} 1M", "flush")
    # FUA writes: durable on their own reply, no FLUSH after them.
    qemu_io(uri, f"write -f -P 0x3c {9 * MIB} 4k", f"write -f -P 0x4d {100 * MIB} 128k")

    server.kill9()
    server.start()

    # The attachment (and so the export) outlives the crash.
    r = api.volume("GET", f"/volumes/{vid}")
    assert r.status_code == 200, r.text
    assert r.json()["volume"]["status"] == "in-use"
    qemu_io(
        uri,
        "read -P 0x5a 0 64k",
        "read -P 0 64k 64k",
        f"read -P 0x6b {4 * MIB - 4096} 8k",
        f"read -P 0x7c {1024 * MIB - MIB} 1M",
        f"read -P 0x3c {9 * MIB} 4k",
        f"read -P 0x4d {100 * MIB} 128k",
        f"read -P 0 {200 * MIB} 1M",
    )
    api.detach(att)
    # Detached: the export is gone for good.
    res = util.run(["qemu-io", "-f", "raw", uri, "-c", "read 0 4k"], timeout=60)
    assert res.rc != 0 or "error" in (res.stdout + res.stderr).lower(), res.describe()
