"""Helpers for the end-to-end suite: run the real `atoll` binary and the real
OpenStack clients, and look at what the server leaves on disk.

Nothing here knows atoll's internals beyond the documented interface:
`atoll serve` flags, `<data-dir>/openrc`, `atoll admin`, and the fragment
device directories `<data-dir>/blocks/dev*`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# Servers started by this process and still running: their log tails are
# attached to the report of a failing test (see conftest.py).
_RUNNING: list["AtollServer"] = []
_RUNNING_LOCK = threading.Lock()


def running_servers() -> list["AtollServer"]:
    with _RUNNING_LOCK:
        return list(_RUNNING)


def atoll_bin() -> Path:
    env = os.environ.get("ATOLL_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "atoll"


def client_bin(name: str) -> str:
    """Path of a client installed in the test venv (`openstack`, `swift`)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    return name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def random_file(path: Path, size: int, chunk: int = 8 << 20) -> Path:
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
    return path


@dataclass
class CmdResult:
    args: list[str]
    rc: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {shlex.join(self.args)}\n-> exit {self.rc}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )

    def ok(self) -> "CmdResult":
        assert self.rc == 0, self.describe()
        return self

    def failed(self) -> "CmdResult":
        assert self.rc != 0, "expected a failure\n" + self.describe()
        return self


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    cwd: Path | str | None = None,
) -> CmdResult:
    """Runs a command without stdin; returns its exit code and output.

    A command that outlives `timeout` is killed (it is our own child) and
    reported as a failure with rc -9."""
    args = [str(a) for a in args]
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return CmdResult(args, -9, out, err + f"\n[timed out after {timeout} s]")
    return CmdResult(args, proc.returncode, out, err)


def parse_openrc(path: Path) -> dict[str, str]:
    """Reads `export KEY=VALUE` lines (values optionally quoted)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        parts = shlex.split(value) if value else [""]
        env[key.strip()] = parts[0] if parts else ""
    return env


def client_env(os_vars: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OS_*/ST_* variable, plus
    `os_vars`, with the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("LC_ALL", "C.UTF-8")
    env.update(os_vars or {})
    return env


class AtollServer:
    """One `atoll serve` process on free loopback ports, with its data dir."""

    def __init__(
        self,
        workdir: Path,
        name: str = "atoll",
        config: str | None = None,
        admin_password: str | None = None,
    ):
        self.name = name
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = self.workdir / "atoll.toml"
            self.config_path.write_text(config)
        self.admin_password = admin_password or "adm-" + secrets.token_hex(8)
        ports: list[int] = []
        while len(ports) < 5:
            p = free_port()
            if p not in ports:
                ports.append(p)
        (
            self.identity_port,
            self.object_port,
            self.image_port,
            self.volume_port,
            self.nbd_port,
        ) = ports
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.starts = 0

    # -- addresses -------------------------------------------------------
    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}"

    @property
    def auth_url(self) -> str:
        return f"{self.identity_url}/v3"

    @property
    def object_url(self) -> str:
        return f"http://127.0.0.1:{self.object_port}"

    @property
    def image_url(self) -> str:
        return f"http://127.0.0.1:{self.image_port}"

    @property
    def volume_url(self) -> str:
        return f"http://127.0.0.1:{self.volume_port}"

    @property
    def tempauth_url(self) -> str:
        return f"{self.object_url}/auth/v1.0"

    def account_url(self, project_id: str) -> str:
        return f"{self.object_url}/v1/AUTH_{project_id}"

    # -- lifecycle -------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [str(atoll_bin()), "serve"]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        cmd += [
            "--data-dir",
            str(self.data_dir),
            "--listen-host",
            "127.0.0.1",
            "--identity-port",
            str(self.identity_port),
            "--object-port",
            str(self.object_port),
            "--image-port",
            str(self.image_port),
            "--volume-port",
            str(self.volume_port),
            "--nbd-port",
            str(self.nbd_port),
        ]
        return cmd

    def start(self, timeout: float = 60) -> "AtollServer":
        assert self.proc is None, "server already running"
        binary = atoll_bin()
        assert binary.exists(), (
            f"atoll binary not found at {binary}: run `cargo build -p atoll` or set ATOLL_BIN"
        )
        self.starts += 1
        self._log_file = open(self.log_path, "ab", buffering=0)
        self._log_file.write(
            f"\n===== start #{self.starts}: {shlex.join(self.command())}\n".encode()
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.setdefault("RUST_BACKTRACE", "1")
        # Through the environment, so the password shows in no process list.
        env["ATOLL_ADMIN_PASSWORD"] = self.admin_password
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        with _RUNNING_LOCK:
            _RUNNING.append(self)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"atoll exited with {self.proc.returncode} during startup\n{self.log_tail()}"
                )
            try:
                h = requests.get(f"{self.object_url}/healthcheck", timeout=2)
                v = requests.get(self.auth_url, timeout=2)
                if h.status_code == 200 and v.status_code == 200:
                    return
                last = f"healthcheck {h.status_code}, identity /v3 {v.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.2)
        raise AssertionError(f"atoll not ready after {timeout} s ({last})\n{self.log_tail()}")

    def _forget(self) -> None:
        with _RUNNING_LOCK:
            if self in _RUNNING:
                _RUNNING.remove(self)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.proc = None

    def stop(self, timeout: float = 45) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code.

        The server drains in-flight requests for up to 30 s (actix's
        default), so the timeout is longer than that."""
        proc = self.proc
        if proc is None:
            return None
        rc = proc.poll()
        if rc is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(10)
                self._note(f"did not exit within {timeout} s of SIGTERM: killed")
        self._forget()
        return rc

    def kill9(self) -> None:
        proc = self.proc
        assert proc is not None
        proc.kill()
        proc.wait(10)
        self._note("killed with SIGKILL by the test")
        self._forget()

    def restart(self, timeout: float = 60) -> "AtollServer":
        self.stop()
        return self.start(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _note(self, text: str) -> None:
        with open(self.log_path, "ab") as f:
            f.write(f"===== test: {text}\n".encode())

    def log_tail(self, lines: int = 60) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "(no server log)"
        text = data[-200_000:].decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def healthy(self) -> bool:
        try:
            r = requests.get(f"{self.object_url}/healthcheck", timeout=5)
            return r.status_code == 200 and r.text.strip() == "OK"
        except requests.RequestException:
            return False

    # -- administration --------------------------------------------------
    def openrc_path(self) -> Path:
        return self.data_dir / "openrc"

    def openrc(self) -> dict[str, str]:
        return parse_openrc(self.openrc_path())

    def admin(self, *args: str, timeout: float = 60) -> CmdResult:
        return run(
            [str(atoll_bin()), "admin", "--data-dir", str(self.data_dir), *args],
            env=client_env(),
            timeout=timeout,
        )

    # -- tokens ------------------------------------------------------------
    def password_auth_body(
        self, user: str, password: str, project: str | None
    ) -> dict:
        body: dict = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": user,
                            "domain": {"name": "Default"},
                            "password": password,
                        }
                    },
                }
            }
        }
        if project is not None:
            body["auth"]["scope"] = {
                "project": {"name": project, "domain": {"name": "Default"}}
            }
        return body

    def issue_token(
        self, user: str, password: str, project: str | None
    ) -> tuple[str, dict]:
        """Keystone v3 password auth; returns (token, token body)."""
        r = requests.post(
            f"{self.auth_url}/auth/tokens",
            json=self.password_auth_body(user, password, project),
            timeout=30,
        )
        assert r.status_code == 201, f"token for {user}: {r.status_code} {r.text}"
        token = r.headers.get("X-Subject-Token")
        assert token, f"no X-Subject-Token header: {dict(r.headers)}"
        return token, r.json()["token"]

    def tempauth(self, user: str, key: str) -> tuple[str, str]:
        """TempAuth v1.0; returns (storage url, token)."""
        r = requests.get(
            self.tempauth_url,
            headers={"X-Auth-User": user, "X-Auth-Key": key},
            timeout=30,
        )
        assert r.status_code in (200, 204), f"tempauth {user}: {r.status_code} {r.text}"
        url = r.headers.get("X-Storage-Url")
        token = r.headers.get("X-Auth-Token") or r.headers.get("X-Storage-Token")
        assert url and token, f"tempauth headers: {dict(r.headers)}"
        return url, token


def fragment_files(data_dir: Path) -> set[str]:
    """Relative paths of every regular file under <data-dir>/blocks/dev*."""
    blocks = Path(data_dir) / "blocks"
    found: set[str] = set()
    if not blocks.is_dir():
        return found
    for dev in sorted(blocks.iterdir()):
        if not (dev.is_dir() and dev.name.startswith("dev")):
            continue
        for root, _dirs, files in os.walk(dev):
            for f in files:
                p = Path(root) / f
                if p.is_file() and not p.is_symlink():
                    found.add(str(p.relative_to(blocks)))
    return found


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def raw_http(
    port: int,
    request: bytes,
    *,
    read: bool = True,
    timeout: float = 30,
) -> bytes:
    """Sends raw bytes to 127.0.0.1:port; returns what the server answered
    before closing (or until `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                data = b"".join(chunks)
                if _complete_response(data):
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def _complete_response(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


def status_of(raw: bytes) -> int:
    first = raw.split(b"\r\n", 1)[0].split()
    assert len(first) >= 2, f"not an HTTP response: {raw[:200]!r}"
    return int(first[1])


def parse_multipart_byteranges(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """Splits a multipart/byteranges body into (Content-Range, payload) parts."""
    params = {}
    for part in content_type.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        params[k.lower()] = v.strip('"')
    assert content_type.split(";")[0].strip().lower() == "multipart/byteranges", content_type
    boundary = params["boundary"].encode()
    delim = b"--" + boundary
    assert body.find(delim) >= 0, "boundary not in body"
    pieces = body.split(delim)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # closing delimiter
        piece = piece[2:] if piece.startswith(b"\r\n") else piece
        head, sep, payload = piece.partition(b"\r\n\r\n")
        assert sep, f"part without header end: {piece[:200]!r}"
        headers = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        parts.append((headers.get("content-range", ""), payload))
    return parts


# The accounts Swift's functional tests expect (test/sample.conf): test:tester
# and test:tester2 (admin), test2:tester2 (admin), and test:tester3, whose
# default project is `test` but who holds no role on it.
SWIFT_TEST_PASSWORDS = {"tester": "testing", "tester2": "testing2", "tester3": "testing3"}


def lay_out_swift_test_accounts(server: "AtollServer") -> None:
    """Creates Swift's functional-test accounts with `atoll admin`."""
    pw = SWIFT_TEST_PASSWORDS
    for step in [
        ("project", "create", "test"),
        ("project", "create", "test2"),
        ("user", "create", "tester", "--password", pw["tester"], "--project", "test"),
        ("user", "create", "tester2", "--password", pw["tester2"], "--project", "test"),
        ("user", "create", "tester3", "--password", pw["tester3"], "--project", "test"),
        ("role", "add", "--user", "tester", "--project", "test", "admin"),
        ("role", "add", "--user", "tester2", "--project", "test", "admin"),
        ("role", "add", "--user", "tester2", "--project", "test2", "admin"),
    ]:
        server.admin(*step).ok()
