"""OpenStack Swift's own functional tests against atoll.

`scripts/test.sh` downloads Swift's sdist from PyPI (its `test/` tree is
what runs here) and installs `swift` and pytest into a venv of their own;
this module lays out the accounts of Swift's `test/sample.conf` with
`atoll admin`, points a `test.conf` at this module's server and runs one
functional module per test with Swift's pytest. Modules for features that
atoll does not advertise in `/info` (symlinks, the new object versioning,
static web, domain remap, account ACLs) skip their tests themselves; the pass
floors below catch a change that turns passing tests into skips.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import util

SRC = os.environ.get("ATOLL_SWIFT_FUNCTIONAL_SRC", "")
PY = os.environ.get("ATOLL_SWIFT_FUNCTIONAL_PY", "")

# module -> how many of its tests must pass (what passed when these floors
# were set; the rest skip or are listed below).
MODULES = {
    "tests.py": 207,
    "test_account.py": 17,
    "test_container.py": 17,
    "test_object.py": 21,
    "test_dlo.py": 32,
    "test_slo.py": 106,
    "test_versioned_writes.py": 30,
    "test_object_versioning.py": 0,
    "test_symlink.py": 0,
    "test_tempurl.py": 71,
    "test_staticweb.py": 0,
    "test_access_control.py": 0,
    "test_domain_remap.py": 0,
}

# Known differences from Swift, each with its reason. They are deselected
# so that anything else failing fails this suite.
KNOWN_FAILURES = {
    "tests.py::TestAccount::testInvalidUTF8Path": "invalid UTF-8 sent raw in the request "
    "path: hyper refuses the request line with a bare 400 before atoll sees it (Swift: 412)",
    "tests.py::TestAccountUTF8::testInvalidUTF8Path": "as above",
    "tests.py::TestContainer::testUtf8Container": "as above (its second half)",
    "tests.py::TestContainerUTF8::testUtf8Container": "as above",
    "test_account.py::TestAccount::test_GET_HEAD_content_type": "hyper drops Content-Length "
    "from 204 responses (RFC 9110 forbids it there); Swift sends `Content-Length: 0`",
    "test_container.py::TestContainer::test_GET_HEAD_content_type": "as above",
}

PASSWORDS = util.SWIFT_TEST_PASSWORDS


@pytest.fixture(scope="module")
def test_conf(server, tmp_path_factory) -> Path:
    if not (SRC and PY and Path(SRC, "test/functional/tests.py").is_file()):
        pytest.fail(
            "Swift's functional tests are not installed: run through scripts/test.sh "
            "(ATOLL_SWIFT_FUNCTIONAL_SRC and ATOLL_SWIFT_FUNCTIONAL_PY)"
        )
    util.lay_out_swift_test_accounts(server)
    # Account 6, the reseller admin (keystoneauth's ResellerAdmin), for the
    # account quota tests.
    for step in [
        ("role", "create", "ResellerAdmin"),
        ("project", "create", "resell6"),
        ("user", "create", "reseller6", "--password", "reselling6", "--project", "resell6"),
        ("role", "add", "--user", "reseller6", "--project", "resell6", "ResellerAdmin"),
    ]:
        server.admin(*step).ok()
    conf = tmp_path_factory.mktemp("swift-functional") / "test.conf"
    conf.write_text(
        f"""[func_test]
auth_uri = {server.tempauth_url}
account = test
username = tester
password = {PASSWORDS["tester"]}
account2 = test2
username2 = tester2
password2 = {PASSWORDS["tester2"]}
username3 = tester3
password3 = {PASSWORDS["tester3"]}
account6 = resell6
username6 = reseller6
password6 = reselling6
collate = C
insecure = no

[unit_test]
fake_syslog = False

[swift-constraints]
"""
    )
    return conf


@pytest.mark.slow
@pytest.mark.parametrize("module", list(MODULES))
def test_swift_functional_module(test_conf, module):
    deselect = []
    for name in KNOWN_FAILURES:
        if name.startswith(module + "::"):
            deselect += ["--deselect", f"test/functional/{name}"]
    proc = subprocess.run(
        [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--tb=short",
         f"test/functional/{module}", *deselect],
        cwd=SRC,
        env={**os.environ, "SWIFT_TEST_CONFIG_FILE": str(test_conf)},
        capture_output=True,
        text=True,
        timeout=500,
    )
    out = proc.stdout + proc.stderr
    failures = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert proc.returncode == 0, (
        f"Swift's {module} failed against atoll (exit {proc.returncode}):\n"
        + "\n".join(failures[:40])
        + "\n--- tail:\n"
        + out[-3000:]
    )
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", out)) else 0
    assert passed >= MODULES[module], (
        f"only {passed} of Swift's {module} tests passed (floor {MODULES[module]}): "
        f"tests that passed now skip?\n{out[-2000:]}"
    )
