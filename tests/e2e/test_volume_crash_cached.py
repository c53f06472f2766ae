"""The same crash guarantees with cached acknowledgements
(`volumes.wlog_durable_acks = false`, the NBD contract for cached writes):
a write is answered once it is in the log's memory, so only what FUA or an
acknowledged FLUSH covered must survive kill -9 of the server.
"""

from __future__ import annotations

import shutil

import pytest

import util
from test_volume_crash import create_volume
from test_volume_crash import test_fua_writes_acknowledged_before_kill9_read_back  # noqa: F401
from volutil import Api, NbdClient, nbd_uri

MIB = 1 << 20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-io") is None, reason="qemu-io is not installed"),
]


@pytest.fixture(scope="module")
def server_config() -> str:
    return "[volumes]\nwlog_durable_acks = false\n"


def test_writes_before_an_acknowledged_flush_survive_kill9(server, admin_env):
    api = Api(server, admin_env)
    vid = create_volume(api, 1, "cached-flush")
    _, info = api.attach(vid)
    uri = nbd_uri(info)
    # Plain writes (no FUA), some across a 4 MiB block boundary, and a
    # FLUSH, all pipelined; the server is killed the moment the FLUSH is
    # answered, before anything else could make the writes durable. Every
    # write answered before the FLUSH (the ones NBD says it covers; atoll
    # covers all sent before it) must read back.
    writes = [
        (i * 1536 * 1024 + (4 * MIB - 8192 if i % 5 == 0 else 0), 64 * 1024, (i % 250) + 1)
        for i in range(300)
    ]
    nbd = NbdClient(uri)
    handles = {nbd.send(NbdClient.CMD_WRITE, off, bytes([pat]) * ln): (off, ln, pat)
               for off, ln, pat in writes}
    flush = nbd.send(NbdClient.CMD_FLUSH, 0)
    answered = []
    while True:
        handle, err = nbd.reply()
        if handle == flush:
            break
        assert err == 0, err
        answered.append(handles[handle])
    server.kill9()
    nbd.close()
    assert err == 0, err
    assert answered, "no write was answered before the FLUSH"
    server.start()
    args = ["qemu-io", "-f", "raw", uri]
    for off, ln, pat in answered:
        args += ["-c", f"read -P {pat} {off} {ln}"]
    res = util.run(args, timeout=120)
    text = res.stdout + res.stderr
    assert res.rc == 0, res.describe()
    assert "Pattern verification failed" not in text, res.describe()
