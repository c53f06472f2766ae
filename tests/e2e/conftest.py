"""Fixtures of the end-to-end suite.

Every test module gets its own `atoll serve` (module-scoped `server`) on free
loopback ports with a fresh data dir under pytest's temp dir. A failing test's
report carries the tail of every running server's log.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from swiftclient import client as swift_client

import util


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds (still run in CI)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in util.running_servers():
            report.sections.append(
                (f"atoll server log tail: {srv.name} ({srv.log_path})", srv.log_tail(80))
            )


class ServerFactory:
    """Starts servers for one module and stops them all at its end."""

    def __init__(self, tmp_path_factory, module_name: str):
        self._tmp = tmp_path_factory
        self._module = module_name
        self.servers: list[util.AtollServer] = []

    def __call__(self, name: str = "main", config: str | None = None, start: bool = True):
        workdir = self._tmp.mktemp(f"{self._module}-{name}")
        srv = util.AtollServer(workdir, name=f"{self._module}/{name}", config=config)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def stop_all(self):
        for srv in self.servers:
            srv.stop()


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory, request):
    factory = ServerFactory(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def server_config() -> str | None:
    """TOML for the module's server; a module overrides this fixture."""
    return None


@pytest.fixture(scope="module")
def server(server_factory, server_config) -> util.AtollServer:
    return server_factory("main", config=server_config)


@pytest.fixture(scope="module")
def token(server) -> tuple[str, str]:
    """An admin token scoped to the admin project, and that project's id."""
    tok, body = server.issue_token("admin", server.admin_password, "admin")
    return tok, body["project"]["id"]


@pytest.fixture(scope="module")
def admin_env(server) -> dict[str, str]:
    """Environment for the CLIs: the server's openrc, nothing else OS_*."""
    rc = server.openrc()
    return util.client_env(rc)


@pytest.fixture(scope="module")
def openstack(admin_env):
    """Runs the `openstack` CLI as admin; returns util.CmdResult."""

    def _run(*args: str, env: dict | None = None, timeout: float = 120, cwd=None):
        return util.run(
            [util.client_bin("openstack"), *args], env=env or admin_env, timeout=timeout, cwd=cwd
        )

    return _run


@pytest.fixture(scope="module")
def swift_cli(admin_env):
    """Runs the `swift` CLI (Keystone v3 from the openrc unless args say
    otherwise); returns util.CmdResult."""

    def _run(*args: str, env: dict | None = None, timeout: float = 300, cwd=None):
        return util.run(
            [util.client_bin("swift"), *args], env=env or admin_env, timeout=timeout, cwd=cwd
        )

    return _run


@pytest.fixture(scope="module")
def swift_conn_factory(server):
    """Makes python-swiftclient Connections.

    conn(user, key, project)             Keystone v3 password auth
    conn(user="test:tester", key=..., tempauth=True)   TempAuth v1.0
    """

    def _conn(
        user: str = "admin",
        key: str | None = None,
        project: str | None = "admin",
        tempauth: bool = False,
    ) -> swift_client.Connection:
        if key is None:
            key = server.admin_password
        if tempauth:
            return swift_client.Connection(
                authurl=server.tempauth_url, user=user, key=key, auth_version="1", retries=0
            )
        return swift_client.Connection(
            authurl=server.auth_url,
            user=user,
            key=key,
            auth_version="3",
            retries=0,
            os_options={
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
                "region_name": "RegionOne",
            },
        )

    return _conn


@pytest.fixture(scope="module")
def admin_conn(swift_conn_factory) -> swift_client.Connection:
    return swift_conn_factory()


@pytest.fixture(scope="session")
def big_file(tmp_path_factory) -> Path:
    """A 200 MiB file of random bytes, made once per session."""
    size = int(os.environ.get("ATOLL_E2E_BIG_MIB", "200")) << 20
    path = tmp_path_factory.mktemp("big") / "big.bin"
    return util.random_file(path, size)


@pytest.fixture(scope="session")
def big_file_sha256(big_file) -> str:
    return util.file_sha256(big_file)
