"""Helpers of the volume tests: raw Cinder REST calls with a token, NBD
URIs from connection_info, and QEMU's tools over NBD."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

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
