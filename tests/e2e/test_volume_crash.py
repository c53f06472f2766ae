"""Acknowledged volume writes survive kill -9 in the middle of the IO.

`test_volume_durability.py` kills the server at rest. Here it dies while
clients are writing: fio's nbd engine (libnbd) does verified random writes
and the server is killed with SIGKILL at a random moment, several rounds
over. fio records which writes it saw acknowledged (`--verify_state_save`,
written when the job dies of the IO error); after the restart a
`--verify_only` pass that loads that state checks every acknowledged write,
and only those, by its crc32c header. Each round writes its own region, and
the last pass re-checks every round, so a later crash (and the replay that
follows it) must not undo what an earlier round got acknowledged.

fio's state is exact only if a job has one write in flight at a time (with
a deeper queue, replies out of order make it check writes that were still
in flight), so concurrency comes from four jobs, each with its own
connection and region, at queue depth 1.

The qemu-io variant checks the FUA contract on its own: every `write -f`
that qemu-io reported done before the kill reads back with its pattern.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import util
from volutil import Api, nbd_uri

MIB = 1 << 20
ROUNDS = 3
JOBS = 4
# Per job and round: more 4 KiB writes (32768) than a job completes before
# the kill, even with a fast write path, so a round ends in the crash (a
# job that finished anyway is verified whole).
JOB_REGION = 128 * MIB
ROUND_REGION = JOBS * JOB_REGION

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("fio") is None, reason="fio is not installed"),
    pytest.mark.skipif(shutil.which("qemu-io") is None, reason="qemu-io is not installed"),
]


def create_volume(api: Api, gib: int, name: str) -> str:
    r = api.volume("POST", "/volumes", json={"volume": {"size": gib, "name": name}})
    assert r.status_code == 202, r.text
    return r.json()["volume"]["id"]


def fio_args(uri: str, rnd: int) -> list[str]:
    """The job of round `rnd`: the same for the write and the verify pass
    (same seed, same region), as fio's verify replay requires."""
    return [
        "fio",
        "--name=crash",
        "--ioengine=nbd",
        f"--uri={uri}",
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=1",
        f"--numjobs={JOBS}",
        f"--offset={rnd * ROUND_REGION}",
        f"--offset_increment={JOB_REGION}",
        f"--size={JOB_REGION}",
        "--verify=crc32c",
        f"--randseed={1000 + rnd}",
        "--group_reporting",
    ]


def verify_round(uri: str, rnd: int, workdir: Path, with_state: bool) -> None:
    # No state save here: a verify pass would overwrite the write pass's
    # state with its own, and the next check of the round would then
    # include the writes that were in flight at the kill.
    args = fio_args(uri, rnd) + ["--verify_only", "--verify_state_save=0"]
    if with_state:
        args.append("--verify_state_load=1")
    res = util.run(args, cwd=workdir, timeout=120)
    out = res.stdout + res.stderr
    assert res.rc == 0 and "verify:" not in out and "err=" in out, res.describe()
    assert not re.search(r"err=\s*[1-9-]", out), res.describe()


def test_fio_verified_writes_survive_kill9_mid_io(server, admin_env, tmp_path):
    api = Api(server, admin_env)
    vid = create_volume(api, -(-ROUNDS * ROUND_REGION // (1 << 30)), "crash-fio")
    _, info = api.attach(vid)
    uri = nbd_uri(info)
    rng = random.Random()
    states: list[bool] = []
    for rnd in range(ROUNDS):
        workdir = tmp_path / f"round{rnd}"
        workdir.mkdir()
        log = open(workdir / "write.log", "w")
        proc = subprocess.Popen(
            fio_args(uri, rnd) + ["--do_verify=0", "--verify_state_save=1"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Long enough for every job to connect and write for a while.
        time.sleep(rng.uniform(1.0, 2.5))
        finished = proc.poll() is not None
        server.kill9()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"fio hung after the server died (round {rnd})")
        log.close()
        text = (workdir / "write.log").read_text(errors="replace")
        server.start()
        if finished:
            # Every write was acknowledged before the kill: check them all.
            assert proc.returncode == 0, text
            states.append(False)
        else:
            saved = sorted(p.name for p in workdir.glob("*verify.state"))
            assert len(saved) == JOBS, f"fio saved {saved} (round {rnd}):\n{text}"
            states.append(True)
        verify_round(uri, rnd, workdir, states[rnd])
    # Later crashes and restarts kept the earlier rounds' writes.
    for rnd in range(ROUNDS):
        verify_round(uri, rnd, tmp_path / f"round{rnd}", states[rnd])


def test_fua_writes_acknowledged_before_kill9_read_back(server, admin_env):
    api = Api(server, admin_env)
    vid = create_volume(api, 1, "crash-fua")
    _, info = api.attach(vid)
    uri = nbd_uri(info)
    rng = random.Random()
    # Distinct offsets (some crossing 4 MiB block boundaries), a pattern
    # byte per write; more writes than complete before the kill.
    writes = []
    for i in range(600):
        off = i * 1536 * 1024 + (4 * MIB - 32 * 1024 if i % 7 == 0 else 0)
        writes.append((off, 64 * 1024, (i % 250) + 1))
    args = ["qemu-io", "-f", "raw", uri]
    for off, ln, pat in writes:
        args += ["-c", f"write -f -P {pat} {off} {ln}"]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    time.sleep(rng.uniform(0.5, 1.5))
    server.kill9()
    out, _ = proc.communicate(timeout=60)
    server.start()
    # qemu-io prints one "wrote" line per completed write, in order.
    done = {
        int(m.group(1))
        for m in re.finditer(r"wrote \d+/\d+ bytes at offset (\d+)", out)
    }
    assert done, f"no write completed before the kill:\n{out[-2000:]}"
    checks = [f"read -P {pat} {off} {ln}" for off, ln, pat in writes if off in done]
    # Batches keep the command line short.
    for i in range(0, len(checks), 100):
        args = ["qemu-io", "-f", "raw", uri]
        for c in checks[i : i + 100]:
            args += ["-c", c]
        res = util.run(args, timeout=120)
        text = res.stdout + res.stderr
        assert res.rc == 0, res.describe()
        assert "Pattern verification failed" not in text, res.describe()
        assert "fail" not in text.lower(), res.describe()
