"""Cinder volume types as operators manage them with the `openstack` CLI:
create (public and private), extra specs (atoll:storage_policy picks the
storage policy), access for projects, rename and delete, and the errors
Cinder gives."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest
import requests

import util


@pytest.fixture(scope="module")
def server_config():
    # A second storage policy for a type to name.
    return "[blockd.policies.fast]\nk = 2\nm = 1\n"


def cli_json(res: util.CmdResult):
    return json.loads(res.ok().stdout)


def resource_policy(server, volume_id: str) -> str:
    con = sqlite3.connect(server.data_dir / "meta.db")
    try:
        (policy,) = con.execute(
            "SELECT r.policy FROM volumes v JOIN resources r ON r.id = v.resource_id WHERE v.id = ?",
            (volume_id,),
        ).fetchone()
        return policy
    finally:
        con.close()


@pytest.fixture(scope="module")
def member(server):
    """A member of another project: (token, project id)."""
    server.admin("project", "create", "vt-other").ok()
    server.admin("user", "create", "vt-bob", "--password", "pw", "--project", "vt-other").ok()
    server.admin("role", "add", "--user", "vt-bob", "--project", "vt-other", "member").ok()
    tok, body = server.issue_token("vt-bob", "pw", "vt-other")
    return tok, body["project"]["id"]


def test_configured_types_and_policy_spec(openstack, server):
    types = {t["Name"]: t for t in cli_json(openstack("volume", "type", "list", "--long", "-f", "json"))}
    assert {"__DEFAULT__", "fast"} <= set(types), types
    fast = cli_json(openstack("volume", "type", "show", "fast", "-f", "json"))
    assert "atoll:storage_policy='fast'" in str(fast["properties"]) or fast["properties"].get(
        "atoll:storage_policy"
    ) == "fast", fast

    gold = cli_json(openstack(
        "volume", "type", "create", "--description", "erasure-coded 2+1",
        "--property", "atoll:storage_policy=fast", "gold", "-f", "json",
    ))
    assert gold["name"] == "gold" and gold["is_public"] is True, gold
    openstack("volume", "type", "set", "--property", "tier=gold", "gold").ok()
    shown = cli_json(openstack("volume", "type", "show", "gold", "-f", "json"))
    assert "tier" in str(shown["properties"]) and "fast" in str(shown["properties"]), shown
    openstack("volume", "type", "unset", "--property", "tier", "gold").ok()
    assert "tier" not in str(cli_json(openstack("volume", "type", "show", "gold", "-f", "json"))["properties"])

    v = cli_json(openstack("volume", "create", "--size", "1", "--type", "gold", "vt-gold", "-f", "json"))
    assert v["type"] == "gold", v
    assert resource_policy(server, v["id"]) == "fast"
    plain = cli_json(openstack("volume", "create", "--size", "1", "vt-plain", "-f", "json"))
    assert resource_policy(server, plain["id"]) == "default"

    # A policy that does not exist is refused; so is any spec change of a
    # type in use (as Cinder: its volumes' blocks stay where they are).
    res = openstack("volume", "type", "set", "--property", "atoll:storage_policy=nope", "gold")
    res.failed()
    assert "names no storage policy" in res.stderr, res.describe()
    res = openstack("volume", "type", "set", "--property", "tier=gold", "gold")
    res.failed()
    assert "currently in use" in res.stderr, res.describe()

    # In use: no delete; a rename follows into the volume.
    openstack("volume", "type", "delete", "gold").failed()
    openstack("volume", "type", "set", "--name", "gold2", "gold").ok()
    assert cli_json(openstack("volume", "show", v["id"], "-f", "json"))["type"] == "gold2"
    openstack("volume", "delete", v["id"], plain["id"]).ok()
    openstack("volume", "type", "delete", "gold2").ok()
    assert "gold2" not in {t["Name"] for t in cli_json(openstack("volume", "type", "list", "-f", "json"))}
    openstack("volume", "type", "delete", "__DEFAULT__").failed()


def test_private_type_access(openstack, server, member, api_as):
    tok, project = member
    cli_json(openstack("volume", "type", "create", "--private", "secret", "-f", "json"))
    # Not listed for, nor usable by, a project without access.
    names = {t["name"] for t in api_as(tok, project, "GET", "/types").json()["volume_types"]}
    assert "secret" not in names
    r = api_as(tok, project, "POST", "/volumes", {"volume": {"size": 1, "volume_type": "secret"}})
    assert r.status_code == 404, r.text

    openstack("volume", "type", "set", "--project", "vt-other", "secret").ok()
    shown = cli_json(openstack("volume", "type", "show", "secret", "-f", "json"))
    assert project in str(shown.get("access_project_ids")), shown
    names = {t["name"] for t in api_as(tok, project, "GET", "/types").json()["volume_types"]}
    assert "secret" in names
    r = api_as(tok, project, "POST", "/volumes", {"volume": {"size": 1, "volume_type": "secret"}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    assert api_as(tok, project, "DELETE", f"/volumes/{vid}").status_code == 202

    # Members see no admin-only extra specs, and may not manage types.
    shown = api_as(tok, project, "GET", "/types/secret").json()["volume_type"]
    assert shown["extra_specs"] == {}, shown
    r = api_as(tok, project, "POST", "/types", {"volume_type": {"name": "mine"}})
    assert r.status_code == 403, r.text
    openstack("volume", "type", "unset", "--project", "vt-other", "secret").ok()
    r = api_as(tok, project, "POST", "/volumes", {"volume": {"size": 1, "volume_type": "secret"}})
    assert r.status_code == 404, r.text
    openstack("volume", "type", "delete", "secret").ok()


def test_type_errors_like_cinder(api_as, token):
    tok, project = token
    r = api_as(tok, project, "POST", "/types", {"volume_type": {"name": "dup"}})
    assert r.status_code == 200, r.text
    tid = r.json()["volume_type"]["id"]
    r = api_as(tok, project, "POST", "/types", {"volume_type": {"name": "dup"}})
    assert r.status_code == 409 and "already exists" in r.text, r.text
    r = api_as(tok, project, "POST", "/types", {"volume_type": {"name": "x", "bogus": 1}})
    assert r.status_code == 400, r.text
    r = api_as(tok, project, "PUT", f"/types/{tid}", {"volume_type": {}})
    assert r.status_code == 400, r.text
    assert "Specify volume type name, description, is_public" in r.text
    r = api_as(tok, project, "GET", f"/types/{tid}/extra_specs/nokey")
    assert r.status_code == 404, r.text
    r = api_as(tok, project, "PUT", f"/types/{tid}/extra_specs/a", {"b": "1"})
    assert r.status_code == 400, r.text
    r = api_as(tok, project, "GET", f"/types/{tid}/os-volume-type-access")
    assert r.status_code == 404, r.text
    r = api_as(tok, project, "POST", f"/types/{tid}/action", {"addProjectAccess": {"project": project}})
    assert r.status_code == 400, r.text
    assert api_as(tok, project, "DELETE", f"/types/{tid}").status_code == 202
    assert api_as(tok, project, "GET", f"/types/{tid}").status_code == 404


@pytest.fixture(scope="module")
def api_as(server):
    def call(tok, project, method, path, body=None):
        return requests.request(
            method, f"{server.volume_url}/v3/{project}{path}", json=body,
            headers={"X-Auth-Token": tok}, timeout=60,
        )

    return call


def test_retype_within_a_storage_policy(openstack, server):
    """A retype to a type of the same storage policy changes the type and
    keeps the backend; one to another policy would need the blocks moved,
    which atoll does not offer, and is refused."""
    openstack("volume", "type", "create", "plain2").ok()
    openstack("volume", "type", "create", "--property", "atoll:storage_policy=fast", "fast2").ok()
    v = cli_json(openstack("volume", "create", "--size", "1", "vt-retype", "-f", "json"))
    host = cli_json(openstack("volume", "show", v["id"], "-f", "json"))["os-vol-host-attr:host"]
    openstack("volume", "set", "--type", "plain2", "--retype-policy", "never", v["id"]).ok()
    shown = cli_json(openstack("volume", "show", v["id"], "-f", "json"))
    assert shown["type"] == "plain2" and shown["os-vol-host-attr:host"] == host, shown
    res = openstack("volume", "set", "--type", "fast2", "--retype-policy", "on-demand", v["id"])
    res.failed()
    assert cli_json(openstack("volume", "show", v["id"], "-f", "json"))["type"] == "plain2"
    # The backend named by the host attribute is a cinder-volume service.
    services = cli_json(openstack("volume", "service", "list", "--host", host.split("#")[0], "-f", "json"))
    assert [s["Binary"] for s in services] == ["cinder-volume"], services
    openstack("volume", "delete", v["id"]).ok()
    openstack("volume", "type", "delete", "plain2", "fast2").ok()


@pytest.fixture(scope="module")
def cinder_cli(admin_env):
    def _run(*args):
        return util.run([util.client_bin("cinder"), *args], env=admin_env, timeout=120)

    return _run


def test_quota_updates_are_enforced(cinder_cli, openstack, member, api_as):
    """`cinder quota-update` (also per volume type), `quota-delete` and
    `quota-class-update`: what an admin sets is what a project's next
    volume is checked against."""
    tok, project = member
    openstack("volume", "type", "create", "quota-t").ok()
    cinder_cli("quota-update", "--volumes", "2", "--gigabytes", "5", project).ok()
    cinder_cli("quota-update", "--volume-type", "quota-t", "--volumes", "1", project).ok()
    shown = cinder_cli("quota-show", project).ok().stdout
    assert " 2 " in next(l for l in shown.splitlines() if "| volumes " in l), shown
    assert " 1 " in next(l for l in shown.splitlines() if "| volumes_quota-t " in l), shown

    made = []
    def create(size, vtype=None):
        body = {"volume": {"size": size, **({"volume_type": vtype} if vtype else {})}}
        r = api_as(tok, project, "POST", "/volumes", body)
        if r.status_code == 202:
            made.append(r.json()["volume"]["id"])
        return r

    assert create(6).status_code == 413  # gigabytes 5
    assert create(1, "quota-t").status_code == 202
    r = create(1, "quota-t")
    assert r.status_code == 413 and "volumes_quota-t" in r.text, r.text
    assert create(1).status_code == 202
    r = create(1)
    assert r.status_code == 413 and "VolumeLimitExceeded" in r.text, r.text
    r = api_as(tok, project, "GET", f"/os-quota-sets/{project}?usage=True")
    qs = r.json()["quota_set"]
    assert qs["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0}, qs
    assert qs["volumes_quota-t"]["in_use"] == 1, qs

    # Bad keys and values are refused; members may not update.
    assert api_as(tok, project, "PUT", f"/os-quota-sets/{project}",
                  {"quota_set": {"volumes": 50}}).status_code == 403
    cinder_cli("quota-update", "--volumes", "-2", project).failed()

    # quota-delete returns the project to the defaults, which the default
    # quota class sets.
    cinder_cli("quota-class-update", "--volumes", "12", "default").ok()
    cinder_cli("quota-delete", project).ok()
    r = api_as(tok, project, "GET", f"/os-quota-sets/{project}")
    assert r.json()["quota_set"]["volumes"] == 12, r.text
    assert create(1).status_code == 202
    cinder_cli("quota-class-update", "--volumes", "10", "default").ok()
    for v in made:
        assert api_as(tok, project, "DELETE", f"/volumes/{v}").status_code == 202
    openstack("volume", "type", "delete", "quota-t").ok()


def test_pools_and_capabilities(openstack, server, token, api_as):
    """`openstack volume backend pool list --long` and `volume backend
    capability show`: a pool per storage policy with the capacity its code
    leaves of the filesystem."""
    pools = cli_json(openstack("volume", "backend", "pool", "list", "--long", "-f", "json"))
    by_name = {p["Name"]: p for p in pools}
    assert {"atoll@default#default", "atoll@fast#fast"} <= set(by_name), pools
    tok, project = token
    detail = api_as(tok, project, "GET", "/scheduler-stats/get_pools?detail=True").json()["pools"]
    caps = {p["name"]: p["capabilities"] for p in detail}
    st = os.statvfs(server.data_dir)
    raw_gib = st.f_blocks * st.f_frsize / 2**30
    # default is 4+2 (two thirds usable), fast 2+1 (also two thirds).
    for name in ("atoll@default#default", "atoll@fast#fast"):
        total = caps[name]["total_capacity_gb"]
        assert abs(total - raw_gib * 2 / 3) < 1, (name, total, raw_gib)
        assert 0 < caps[name]["free_capacity_gb"] <= total
    # The CLI lists the backend's properties (none); the API has the rest.
    assert cli_json(openstack("volume", "backend", "capability", "show", "atoll@fast", "-f", "json")) == []
    r = api_as(tok, project, "GET", "/capabilities/atoll@fast")
    assert r.status_code == 200 and r.json()["volume_backend_name"] == "fast", r.text
    r = api_as(tok, project, "GET", "/capabilities/atoll@nope")
    assert r.status_code == 404, r.text


def _wait_for(pred, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_hosts_show_each_backends_usage(openstack, server, token, api_as, member):
    """`os-hosts`: the services as hosts, and per backend (storage policy)
    the volumes and snapshots of each project, as Cinder adds them up."""
    tok, project = token
    hosts = api_as(tok, project, "GET", "/os-hosts").json()["hosts"]
    names = {(h["host_name"], h["service"]) for h in hosts}
    assert {("atoll", "cinder-scheduler"), ("atoll@default", "cinder-volume"),
            ("atoll@fast", "cinder-volume")} <= names, hosts
    assert all(h["service-state"] == "enabled" and h["service-status"] == "available" for h in hosts)

    btok, bproject = member
    fast = "hosts-fast"
    openstack("volume", "type", "create", "--property", "atoll:storage_policy=fast", fast).ok()
    r = api_as(btok, bproject, "POST", "/volumes", {"volume": {"size": 2, "volume_type": fast}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    _wait_for(lambda: api_as(btok, bproject, "GET", f"/volumes/{vid}").json()["volume"]["status"]
                  == "available", timeout=60)
    r = api_as(btok, bproject, "POST", "/snapshots", {"snapshot": {"volume_id": vid}})
    assert r.status_code == 202, r.text
    sid = r.json()["snapshot"]["id"]

    rows = api_as(tok, project, "GET", "/os-hosts/atoll@fast").json()["host"]
    by_project = {row["resource"]["project"]: row["resource"] for row in rows}
    assert by_project[bproject] == {"host": "atoll@fast", "project": bproject, "volume_count": "1",
                                    "total_volume_gb": "2", "snapshot_count": "1",
                                    "total_snapshot_gb": "2"}, rows
    total = by_project["(total)"]
    assert int(total["volume_count"]) >= 1 and int(total["total_snapshot_gb"]) >= 2, rows
    rows = api_as(tok, project, "GET", "/os-hosts/atoll@default").json()["host"]
    assert bproject not in {row["resource"]["project"] for row in rows}, rows
    for bad in ("atoll", "atoll@nope", "elsewhere"):
        r = api_as(tok, project, "GET", f"/os-hosts/{bad}")
        assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
    assert api_as(btok, bproject, "GET", "/os-hosts").status_code == 403

    # os-update_snapshot_status: as Nova reports a snapshot it takes.
    r = api_as(tok, project, "POST", f"/snapshots/{sid}/action",
               {"os-reset_status": {"status": "creating"}})
    assert r.status_code == 202, r.text
    r = api_as(btok, bproject, "POST", f"/snapshots/{sid}/action",
               {"os-update_snapshot_status": {"status": "available", "progress": "80%"}})
    assert r.status_code == 202, r.text
    snap = api_as(btok, bproject, "GET", f"/snapshots/{sid}").json()["snapshot"]
    assert snap["status"] == "available" and snap["os-extended-snapshot-attributes:progress"] == "80%", snap
    # Only from creating (or deleting), as in Cinder.
    r = api_as(btok, bproject, "POST", f"/snapshots/{sid}/action",
               {"os-update_snapshot_status": {"status": "error"}})
    assert r.status_code == 400 and "not allowed" in r.text, r.text
    r = api_as(btok, bproject, "POST", f"/snapshots/{sid}/action", {"os-update_snapshot_status": {}})
    assert r.status_code == 400, r.text
    assert api_as(btok, bproject, "DELETE", f"/snapshots/{sid}").status_code == 202
    _wait_for(lambda: api_as(btok, bproject, "GET", f"/snapshots/{sid}").status_code == 404, timeout=60)
    assert api_as(btok, bproject, "DELETE", f"/volumes/{vid}").status_code == 202


def test_disabled_or_frozen_backends(openstack, server, token, api_as, member):
    """`os-services` actions as operators use them for maintenance: a
    disabled or frozen backend takes no new volume (it ends in error, as
    when Cinder's scheduler finds no valid backend); a frozen one also
    refuses deletes and snapshots; the other backend is untouched."""
    tok, project = token
    btok, bproject = member
    openstack("volume", "type", "create", "--property", "atoll:storage_policy=fast", "svc-fast").ok()

    def create(vtype):
        r = api_as(btok, bproject, "POST", "/volumes", {"volume": {"size": 1, "volume_type": vtype}})
        assert r.status_code == 202, r.text
        vid = r.json()["volume"]["id"]
        _wait_for(lambda: api_as(btok, bproject, "GET", f"/volumes/{vid}").json()["volume"]["status"]
                  in ("available", "error"), timeout=60)
        return vid, api_as(btok, bproject, "GET", f"/volumes/{vid}").json()["volume"]["status"]

    keep, status = create("svc-fast")
    assert status == "available"

    # Disable with a reason (the cinder CLI), shown in the service list.
    openstack("volume", "service", "set", "--disable", "--disable-reason", "maintenance",
              "atoll@fast", "cinder-volume").ok()
    rows = json.loads(openstack("volume", "service", "list", "--long", "-f", "json").ok().stdout)
    fast = next(r for r in rows if r["Host"] == "atoll@fast")
    assert fast["Status"] == "disabled" and fast["Disabled Reason"] == "maintenance", rows
    vid, status = create("svc-fast")
    assert status == "error", "no valid backend while disabled"
    assert api_as(btok, bproject, "DELETE", f"/volumes/{vid}").status_code == 202
    assert create("__DEFAULT__")[1] == "available", "other backends still take volumes"
    openstack("volume", "service", "set", "--enable", "atoll@fast", "cinder-volume").ok()
    vid, status = create("svc-fast")
    assert status == "available"

    # Freeze: no creates, deletes or snapshots until thawed.
    r = api_as(tok, project, "PUT", "/os-services/freeze", {"host": "atoll@fast"})
    assert r.status_code == 200, r.text
    services = api_as(tok, project, "GET", "/os-services?binary=cinder-volume").json()["services"]
    assert next(s for s in services if s["host"] == "atoll@fast")["frozen"] is True, services
    assert api_as(tok, project, "PUT", "/os-services/freeze", {"host": "atoll@fast"}).status_code == 400
    assert create("svc-fast")[1] == "error"
    r = api_as(btok, bproject, "DELETE", f"/volumes/{vid}")
    assert r.status_code == 400 and "frozen" in r.json()["badRequest"]["message"], r.text
    r = api_as(btok, bproject, "POST", "/snapshots", {"snapshot": {"volume_id": vid}})
    assert r.status_code == 400 and "frozen" in r.text, r.text
    assert api_as(tok, project, "PUT", "/os-services/thaw", {"host": "atoll@fast"}).status_code == 200
    assert api_as(tok, project, "PUT", "/os-services/thaw", {"host": "atoll@fast"}).status_code == 400
    assert api_as(btok, bproject, "DELETE", f"/volumes/{vid}").status_code == 202

    # Cinder's errors: bad bodies, unknown hosts and actions.
    for action, body, code in [
        ("disable-log-reason", {"host": "atoll@fast", "binary": "cinder-volume",
                                "disabled_reason": None}, 400),
        ("disable", {"host": "atoll@fast"}, 400),
        ("disable", {"host": "nowhere", "binary": "cinder-volume"}, 404),
        ("freeze", {"host": "nowhere"}, 400),
        ("thaw", {"host": "atoll"}, 400),
        ("freeze", {}, 400),
        ("reboot", {"host": "atoll@fast"}, 404),
    ]:
        r = api_as(tok, project, "PUT", f"/os-services/{action}", body)
        assert r.status_code == code, (action, body, r.status_code, r.text)
    assert api_as(btok, bproject, "PUT", "/os-services/freeze", {"host": "atoll@fast"}).status_code == 403
    assert api_as(btok, bproject, "DELETE", f"/volumes/{keep}").status_code == 202
