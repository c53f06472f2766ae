#!/usr/bin/env bash
# THE test command of atoll: installs what the tests need on a fresh Debian
# machine, then runs every check. CI runs it through .ci/run.
#
#   ./scripts/test.sh              everything (fmt, clippy, cargo test, build, e2e)
#   ./scripts/test.sh --rust-only  fmt, clippy, cargo test
#   ./scripts/test.sh --e2e-only   build the binary, then the end-to-end suite
#   ./scripts/test.sh -- ARGS      extra arguments passed to pytest (e.g. -k swift)
#
# Environment:
#   ATOLL_BIN    use this atoll binary for the e2e tests instead of building
#                target/debug/atoll
#   PIP_EXTRA    extra pip arguments (e.g. an index mirror)
set -euo pipefail

# Debian packages the tests need beyond the base machine. Each one is
# installed with apt-get only when missing (`apt-get update` runs once first).
# Add new needs here, e.g. "nasm libnbd-bin".
APT_PACKAGES=(fio libisal-dev libnbd-bin libssl-dev qemu-utils)

# PyPI packages of the e2e virtualenv (tests/.venv). Nothing pinned until a
# release breaks us.
PY_PACKAGES=(python-openstackclient python-swiftclient python-glanceclient python-cinderclient pytest pytest-timeout requests)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

run_rust=1
run_e2e=1
pytest_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rust-only) run_e2e=0 ;;
        --e2e-only) run_rust=0 ;;
        -h | --help)
            sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --)
            shift
            pytest_args=("$@")
            break
            ;;
        *)
            echo "test.sh: unknown option '$1' (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done
if [[ $run_rust -eq 0 && $run_e2e -eq 0 ]]; then
    echo "test.sh: --rust-only and --e2e-only exclude each other" >&2
    exit 2
fi

START=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

declare -a RESULTS=()
FAILED=0
finish() {
    local rc=$?
    echo
    echo "==> test.sh summary ($(($(date +%s) - START)) s)"
    for r in "${RESULTS[@]}"; do echo "    $r"; done
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        echo "test.sh: FAILED"
        [[ $rc -ne 0 ]] || rc=1
    else
        echo "test.sh: all checks passed"
    fi
    exit "$rc"
}
trap finish EXIT

# Runs one named check; records its verdict and keeps going, so one run
# reports every failing check. The script exits non-zero at the end.
check() {
    local name="$1"
    shift
    step "$name: $*"
    local t0 rc
    t0=$(date +%s)
    # A subshell with its own `set -e` (a function called as `f || x` would
    # run with errexit silently off).
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        RESULTS+=("ok     $name ($(($(date +%s) - t0)) s)")
    else
        RESULTS+=("FAILED $name (exit $rc, $(($(date +%s) - t0)) s)")
        FAILED=1
    fi
    return 0
}

install_apt_packages() {
    local missing=()
    local p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "apt: all of ${APT_PACKAGES[*]:-(none)} present"
        return 0
    fi
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "apt: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

VENV="$REPO_ROOT/tests/.venv"
setup_venv() {
    local py
    py="$(command -v python3.11 || command -v python3)"
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        "$py" -m venv "$VENV"
    fi
    local stamp="$VENV/.atoll-packages"
    local want="${PY_PACKAGES[*]}"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$VENV/bin/python" -c 'import swiftclient, openstackclient, glanceclient, cinderclient, pytest, pytest_timeout, requests' 2>/dev/null; then
        echo "venv: $VENV up to date"
        return 0
    fi
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --retries 5 ${PIP_EXTRA:-} "${PY_PACKAGES[@]}"
    echo "$want" >"$stamp"
    "$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
        | grep -Ei '^(python-openstackclient|python-swiftclient|keystoneauth1|openstacksdk|pytest) ' || true
}

# OpenStack Swift's own functional tests (test/functional in Swift's sdist
# from PyPI) run against atoll by tests/e2e/test_swift_functional.py, in a
# venv of their own: they import swift, whose dependencies should not move
# the clients' versions.
SWIFT_FUNCTIONAL_VERSION=2.38.1
SWIFT_FUNCTIONAL_DIR="$REPO_ROOT/tests/.swift-functional"
setup_swift_functional() {
    local py venv="$SWIFT_FUNCTIONAL_DIR/venv" src="$SWIFT_FUNCTIONAL_DIR/swift-$SWIFT_FUNCTIONAL_VERSION"
    py="$(command -v python3.11 || command -v python3)"
    mkdir -p "$SWIFT_FUNCTIONAL_DIR"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        "$py" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import pytest, swiftclient, swift; assert swift.__version__ == '$SWIFT_FUNCTIONAL_VERSION'" 2>/dev/null; then
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 5 ${PIP_EXTRA:-} \
            "swift==$SWIFT_FUNCTIONAL_VERSION" python-swiftclient pytest
    fi
    if [[ ! -f "$src/test/functional/tests.py" ]]; then
        # The sdist only (no build): its test/ tree is what we run.
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --retries 5 ${PIP_EXTRA:-} \
            --no-deps --no-binary :all: -d "$SWIFT_FUNCTIONAL_DIR" "swift==$SWIFT_FUNCTIONAL_VERSION"
        tar xzf "$SWIFT_FUNCTIONAL_DIR/swift-$SWIFT_FUNCTIONAL_VERSION.tar.gz" -C "$SWIFT_FUNCTIONAL_DIR"
    fi
    [[ -f "$src/test/functional/tests.py" ]]
}

# OpenStack's own API conformance suite, from PyPI, in a venv of its own.
TEMPEST_VERSION=47.0.0
TEMPEST_DIR="$REPO_ROOT/tests/.tempest"

setup_tempest() {
    local py venv="$TEMPEST_DIR/venv"
    py="$(command -v python3.11 || command -v python3)"
    mkdir -p "$TEMPEST_DIR"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        "$py" -m venv "$venv"
    fi
    if ! "$venv/bin/tempest" --version 2>/dev/null | grep -q "$TEMPEST_VERSION"; then
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 5 ${PIP_EXTRA:-} \
            "tempest==$TEMPEST_VERSION"
    fi
    "$venv/bin/tempest" --version
}

build_atoll() {
    if [[ -n "${ATOLL_BIN:-}" ]]; then
        echo "using ATOLL_BIN=$ATOLL_BIN"
        [[ -x "$ATOLL_BIN" ]] || { echo "ATOLL_BIN is not an executable file" >&2; return 1; }
        return 0
    fi
    cargo build -p atoll
}

run_e2e_tests() {
    export ATOLL_BIN="${ATOLL_BIN:-$REPO_ROOT/target/debug/atoll}"
    export ATOLL_SWIFT_FUNCTIONAL_SRC="$SWIFT_FUNCTIONAL_DIR/swift-$SWIFT_FUNCTIONAL_VERSION"
    export ATOLL_SWIFT_FUNCTIONAL_PY="$SWIFT_FUNCTIONAL_DIR/venv/bin/python"
    export ATOLL_TEMPEST="$TEMPEST_DIR/venv/bin/tempest"
    export PATH="$VENV/bin:$PATH"
    # pytest exits 5 when it collected nothing: that is a failure here too.
    local junit out rc=0
    junit="$(mktemp /tmp/atoll-e2e-junit.XXXXXX.xml)"
    out="$(mktemp /tmp/atoll-e2e-out.XXXXXX.log)"
    # Without CI/BUILD_NUMBER: when pytest sees them it renders a full
    # pprint+ndiff of both sides of a failed `==` on bytes, which for a
    # 20 MiB object took 24 s and 850 MB here (a 200 MiB one would exhaust
    # memory and crash the run instead of reporting the failure).
    env -u CI -u BUILD_NUMBER "$VENV/bin/python" -m pytest "$REPO_ROOT/tests/e2e" -v -ra --durations=15 \
        --junitxml="$junit" "${pytest_args[@]}" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
    if [[ $rc -ne 0 ]]; then
        # CI shows only the head and tail of a long log: repeat here which
        # test was running and how pytest ended (a timeout's stack dump or
        # a crash leaves no summary).
        echo "--- e2e ended with exit $rc; the last tests it reported:"
        grep -E '::' "$out" | grep -vE '^(FAILED|ERROR|PASSED|SKIPPED) ' | tail -n 3 || true
        echo "--- failures, timeouts and crashes it printed:"
        grep -nE '^(FAILED|ERROR) |Timeout \+|INTERNALERROR|^Traceback|Error: |Killed' "$out" | tail -n 15 || true
    fi
    rm -f "$out"
    # One plain closing line with the counts, whatever pytest printed.
    "$VENV/bin/python" - "$junit" <<'PY' || true
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tot = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
failed = tot["failures"] + tot["errors"]
passed = tot["tests"] - failed - tot["skipped"]
print(f"e2e: {passed} passed, {failed} failed, {tot['skipped']} skipped")
PY
    rm -f "$junit"
    return "$rc"
}

if [[ $run_rust -eq 1 || $run_e2e -eq 1 ]]; then
    step "apt packages: ${APT_PACKAGES[*]:-(none)}"
    install_apt_packages
fi

if [[ $run_rust -eq 1 ]]; then
    check "cargo fmt" cargo fmt --all -- --check
    check "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
    check "cargo test" cargo test --workspace
fi

if [[ $run_e2e -eq 1 ]]; then
    build_ok=1
    check "build atoll" build_atoll
    [[ ${RESULTS[-1]} == ok* ]] || build_ok=0
    venv_ok=1
    check "python venv" setup_venv
    [[ ${RESULTS[-1]} == ok* ]] || venv_ok=0
    check "swift functional tests (sdist and venv)" setup_swift_functional
    [[ ${RESULTS[-1]} == ok* ]] || venv_ok=0
    check "tempest (venv)" setup_tempest
    [[ ${RESULTS[-1]} == ok* ]] || venv_ok=0
    if [[ $build_ok -eq 1 && $venv_ok -eq 1 ]]; then
        check "e2e tests" run_e2e_tests
    else
        RESULTS+=("FAILED e2e tests (not run: build or venv failed)")
        FAILED=1
    fi
fi
