"""Helpers of the volume tests: raw Cinder REST calls with a token, NBD
URIs from connection_info, and QEMU's tools over NBD."""

from __future__ import annotations

import json
import socket
import struct
import uuid
from pathlib import Path
from urllib.parse import urlparse

import requests

import util

MIB = 1 << 20


def json_out(res: util.CmdResult):
    return json.loads(res.ok().stdout)


class Api:
    """Raw REST access with the admin token, for what the CLIs do not expose
    directly (attachments with a connector, resource ids)."""

    def __init__(self, server, env: dict[str, str]):
        self.server = server
        tok = util.run(["openstack", "token", "issue", "-f", "json"], env=env)
        body = json_out(tok)
        self.token = body["id"]
        self.project = body["project_id"]

    def volume(self, method: str, path: str, version: str = "3.27", **kw):
        headers = {
            "X-Auth-Token": self.token,
            "OpenStack-API-Version": f"volume {version}",
            "Accept": "application/json",
        }
        url = f"{self.server.volume_url}/v3/{self.project}{path}"
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def attach(self, volume_id: str) -> tuple[str, dict]:
        """Attaches through the 3.27 attachments API with a loopback
        connector; returns the attachment id and its connection_info."""
        connector = {
            "ip": "127.0.0.1",
            "host": "e2e-host",
            "initiator": None,
            "platform": "x86_64",
            "os_type": "linux",
            "multipath": False,
            "mountpoint": "/dev/vdb",
            "mode": "rw",
        }
        # `mode` exists from 3.54; Cinder's schema refuses it before.
        r = self.volume(
            "POST",
            "/attachments",
            version="3.54",
            json={
                "attachment": {
                    "volume_uuid": volume_id,
                    "instance_uuid": str(uuid.uuid4()),
                    "connector": connector,
                    "mode": "rw",
                }
            },
        )
        assert r.status_code == 200, r.text
        att = r.json()["attachment"]
        r = self.volume("POST", f"/attachments/{att['id']}/action", json={"os-complete": {}})
        assert r.status_code in (200, 202, 204), r.text
        return att["id"], att["connection_info"]

    def detach(self, attachment_id: str) -> None:
        r = self.volume("DELETE", f"/attachments/{attachment_id}")
        assert r.status_code == 200, r.text


def nbd_uri(info: dict) -> str:
    assert info["driver_volume_type"] == "nbd", info
    d = info["data"]
    return f"nbd://{d['host']}:{d['port']}/{d['export_name']}"


def qemu_io(uri: str, *cmds: str) -> util.CmdResult:
    args = ["qemu-io", "-f", "raw", uri]
    for c in cmds:
        args += ["-c", c]
    res = util.run(args, timeout=300)
    # qemu-io exits 0 even when a pattern check fails; it prints the failure.
    assert res.rc == 0 and "fail" not in res.stdout.lower(), res.describe()
    assert "Pattern verification failed" not in res.stdout, res.describe()
    return res


def read_range(uri: str, offset: int, length: int, out: Path) -> bytes:
    """Reads [offset, offset+length) of an NBD export with qemu-img."""
    res = util.run(
        [
            "qemu-img",
            "dd",
            "-f",
            "raw",
            "-O",
            "raw",
            f"if={uri}",
            f"of={out}",
            "bs=1M",
            f"skip={offset // MIB}",
            f"count={length // MIB}",
        ],
        timeout=300,
    )
    res.ok()
    return out.read_bytes()


class NbdClient:
    """A minimal NBD client (fixed newstyle, NBD_OPT_GO, simple replies):
    what the tests need that qemu-io cannot give, namely to act the moment a
    reply arrives (kill the server right after a FLUSH is answered)."""

    REQUEST = 0x25609513
    SIMPLE_REPLY = 0x67446698
    OPT_REPLY = 0x3E889045565A9
    CMD_WRITE, CMD_FLUSH = 1, 3
    FLAG_FUA = 1

    def __init__(self, uri: str):
        u = urlparse(uri)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=60)
        self._handle = 0
        hello = self._recv(18)
        assert hello[:16] == b"NBDMAGICIHAVEOPT", hello
        self.sock.sendall(struct.pack(">I", 1 | 2))  # fixed newstyle, no zeroes
        name = u.path.lstrip("/").encode()
        data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
        self.sock.sendall(b"IHAVEOPT" + struct.pack(">II", 7, len(data)) + data)  # NBD_OPT_GO
        while True:
            magic, _opt, rtype, ln = struct.unpack(">QIII", self._recv(20))
            assert magic == self.OPT_REPLY, hex(magic)
            body = self._recv(ln)
            assert rtype & 0x80000000 == 0, f"NBD_OPT_GO refused: {rtype:#x} {body!r}"
            if rtype == 1:  # NBD_REP_ACK
                break

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            got = self.sock.recv(n - len(buf))
            if not got:
                raise ConnectionError("NBD server closed the connection")
            buf += got
        return bytes(buf)

    def send(self, cmd: int, offset: int, data: bytes = b"", length: int = 0, flags: int = 0) -> int:
        """Sends one request without waiting; returns its handle."""
        self._handle += 1
        ln = len(data) if cmd == self.CMD_WRITE else length
        hdr = struct.pack(">IHHQQI", self.REQUEST, flags, cmd, self._handle, offset, ln)
        self.sock.sendall(hdr + data)
        return self._handle

    def reply(self) -> tuple[int, int]:
        """The next simple reply: (handle, error)."""
        magic, err, handle = struct.unpack(">IIQ", self._recv(16))
        assert magic == self.SIMPLE_REPLY, hex(magic)
        return handle, err

    def close(self) -> None:
        self.sock.close()
