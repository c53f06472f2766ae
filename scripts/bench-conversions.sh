#!/usr/bin/env bash
# Conversion benchmark: how long each view conversion (image -> volume,
# volume -> snapshot -> volume, volume -> image, image <-> object) takes for
# 1 GiB and 100 GiB resources, and how many bytes it writes (none may reach
# the chunk store). Run by hand; not part of CI's verdict.
#
#   usage: scripts/bench-conversions.sh
#
# Builds atoll (release), starts it on a temp data dir on loopback, runs
# scripts/bench_conversions.py with the test venv's Python (requests) and
# prints a markdown table.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/tests/.venv/bin/python}
[ -x "$PY" ] || { echo "no $PY: run ./scripts/test.sh --e2e-only once to create the venv" >&2; exit 1; }

WORK=$(mktemp -d /tmp/atoll-conv.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building atoll (release)" >&2
(cd "$ROOT" && cargo build --release -q -p atoll)
BIN=$ROOT/target/release/atoll
ID=${ATOLL_BENCH_IDENTITY_PORT:-25000}
OBJ=${ATOLL_BENCH_OBJECT_PORT:-28080}
IMG=${ATOLL_BENCH_IMAGE_PORT:-29292}
VOL=${ATOLL_BENCH_VOLUME_PORT:-28776}
NBD=${ATOLL_BENCH_NBD_PORT:-20809}
PASS=bench-admin
for port in "$ID" "$OBJ" "$IMG" "$VOL" "$NBD"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use: set ATOLL_BENCH_*_PORT" >&2
        exit 1
    fi
done
ATOLL_ADMIN_PASSWORD=$PASS "$BIN" serve --data-dir "$WORK/data" --identity-port "$ID" \
    --object-port "$OBJ" --image-port "$IMG" --volume-port "$VOL" --nbd-port "$NBD" \
    >"$WORK/atoll.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$OBJ/healthcheck" >/dev/null 2>&1 && break
    sleep 0.1
done
"$PY" "$ROOT/scripts/bench_conversions.py" "http://127.0.0.1:$ID" "http://127.0.0.1:$IMG" \
    "http://127.0.0.1:$VOL" "http://127.0.0.1:$OBJ" "$WORK/data" "$PID" "$PASS"
