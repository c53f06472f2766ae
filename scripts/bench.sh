#!/usr/bin/env bash
# Object-store benchmark: atoll against a reference OpenStack Swift (SAIO),
# the same bounded load on both in one run, on loopback only.
#
#   usage: scripts/bench.sh [--duration S] [--out FILE]
#
# Builds atoll (release), starts the peer from ../shared/peers/swift-saio and
# an atoll on a temp data dir, lays out test:tester/testing, runs the peer's
# load generator (4 KiB PUT/GET ops/s with 8 workers, 64 MiB PUT/GET MB/s with
# 4 workers) on both, then three single-stream rounds on atoll (96 PUTs of
# 64 MiB one after another, ATOLL_BENCH_SINGLE_COUNT to change: the load
# generator's fixed start-up, a fresh worker process handed the 64 MiB body
# through a pipe and its first, slower PUT, is inside its timed phase and
# weighs about 0.4 s, 12% of a 32-PUT round), each with a single-core MD5
# rate and the CPU steal during it, and atoll's RSS idle and after load.
# Prints a markdown table of figures and ratios (also written to --out).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${ATOLL_PEERS_DIR:-$ROOT/../shared/peers/swift-saio}
DURATION=20
OUT=""
SINGLE_COUNT=${ATOLL_BENCH_SINGLE_COUNT:-96}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$PEERS/start-saio.sh" ] || { echo "peer scripts not found at $PEERS" >&2; exit 1; }

WORK=$(mktemp -d /tmp/atoll-bench.XXXXXX)
SAIO_STATE=${SAIO_STATE:-$WORK/saio}
ATOLL_PID=""
cleanup() {
    if [ -n "$ATOLL_PID" ] && kill -0 "$ATOLL_PID" 2>/dev/null; then
        kill -TERM "$ATOLL_PID"; wait "$ATOLL_PID" 2>/dev/null || true
    fi
    "$PEERS/stop-saio.sh" "$SAIO_STATE" >/dev/null 2>&1 || true
    # Keep the reports and logs, not the gigabytes both servers stored.
    rm -rf "$WORK/atoll"
    if [ "$SAIO_STATE" = "$WORK/saio" ]; then
        "$PEERS/stop-saio.sh" "$SAIO_STATE" --purge >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "== building atoll (release)" >&2
(cd "$ROOT" && cargo build --release -q -p atoll)
BIN=$ROOT/target/release/atoll

echo "== starting reference Swift" >&2
SAIO_URL=$("$PEERS/start-saio.sh" "$SAIO_STATE" | tail -1)

echo "== starting atoll" >&2
ID_PORT=${ATOLL_BENCH_IDENTITY_PORT:-25000}
OBJ_PORT=${ATOLL_BENCH_OBJECT_PORT:-28080}
DATA=$WORK/atoll
ATOLL_ADMIN_PASSWORD=bench-admin "$BIN" serve --data-dir "$DATA" \
    --identity-port "$ID_PORT" --object-port "$OBJ_PORT" \
    --image-port "${ATOLL_BENCH_IMAGE_PORT:-29292}" --volume-port "${ATOLL_BENCH_VOLUME_PORT:-28776}" \
    --nbd-port "${ATOLL_BENCH_NBD_PORT:-20809}" >"$WORK/atoll.log" 2>&1 &
ATOLL_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$OBJ_PORT/healthcheck" >/dev/null 2>&1 && break
    sleep 0.1
done
"$BIN" admin --data-dir "$DATA" project create test >/dev/null
"$BIN" admin --data-dir "$DATA" user create tester --password testing --project test >/dev/null
"$BIN" admin --data-dir "$DATA" role add --user tester --project test admin >/dev/null
ATOLL_URL="http://127.0.0.1:$OBJ_PORT"
sleep 1
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$ATOLL_PID/status"; }
hwm() { awk '/^VmHWM/ {print int($2/1024)}' "/proc/$ATOLL_PID/status"; }
IDLE_RSS=$(rss)

run() { # name url extra...
    local name=$1 url=$2; shift 2
    echo "== load on $name" >&2
    # Start each server's load with no dirty pages left by the previous
    # one: otherwise writeback of its data slows whoever runs second.
    sync
    BENCH_JSON=$WORK/$name.json "$PEERS/bench.sh" "$url/auth/v1.0" \
        --duration "$DURATION" --large-duration "$DURATION" "$@" >&2 ||
        echo "   ($name: the load generator reported errors)" >&2
}
run swift "$SAIO_URL"
run atoll "$ATOLL_URL"
LOAD_RSS=$(hwm)
# The single-stream rounds compare atoll with MD5, not with Swift: stop the
# peer first, whose replicators, auditors and updaters otherwise take CPU
# from the rounds at random moments.
"$PEERS/stop-saio.sh" "$SAIO_STATE" >/dev/null 2>&1 || true
# The single-stream PUT is capped by MD5, which runs on one core, so the
# hypervisor taking CPU from this VM (steal) moves it more than anything in
# atoll: three rounds, each with its own MD5 rate and the steal share of
# CPU time during the round, and the median ratio reported.
md5_rate() {
    python3 - <<'PY'
import hashlib, os, time
buf = os.urandom(64 << 20); best = 0
for _ in range(3):
    t = time.perf_counter(); hashlib.md5(buf).digest(); best = max(best, len(buf) / (time.perf_counter() - t))
print(f"{best / 1e6:.0f}")
PY
}
cpu_times() { head -1 /proc/stat; }
: >"$WORK/single-rounds"
for round in 1 2 3; do
    MD5=$(md5_rate)
    before=$(cpu_times)
    run "atoll-single-$round" "$ATOLL_URL" --phases large --large-concurrency 1 \
        --large-count "$SINGLE_COUNT" --large-duration 120
    after=$(cpu_times)
    STEAL=$(python3 -c '
import sys
a, b = ([int(x) for x in l.split()[1:]] for l in sys.argv[1:3])
d = [y - x for x, y in zip(a, b)]
print(f"{100 * d[7] / sum(d):.0f}")' "$before" "$after")
    echo "$round $MD5 $STEAL" >>"$WORK/single-rounds"
done

python3 - "$WORK" "$IDLE_RSS" "$LOAD_RSS" "$OUT" <<'PY'
import json, statistics, sys
work, idle, load, out = sys.argv[1:5]
def phases(n):
    with open(f"{work}/{n}.json") as f:
        return {p["phase"]: p for p in json.load(f)["phases"]}
s, a = phases("swift"), phases("atoll")
rows = ["| measure | Swift 2.38.3 (SAIO) | atoll | atoll / Swift | target |", "|---|---|---|---|---|"]
for ph, key, label, target in [
    ("small-put", "ops_per_s", "4 KiB PUT ops/s (8 workers)", "≥ 10x"),
    ("small-get", "ops_per_s", "4 KiB GET ops/s (8 workers)", "≥ 10x"),
    ("large-put", "MB_per_s", "64 MiB PUT MB/s (4 workers)", "≥ 1.5x"),
    ("large-get", "MB_per_s", "64 MiB GET MB/s (4 workers)", "≥ 2x"),
]:
    sv, av = s.get(ph, {}).get(key), a.get(ph, {}).get(key)
    err = f" ({a[ph]['errors']} errors)" if a.get(ph, {}).get("errors") else ""
    ratio = f"{av / sv:.2f}x" if sv and av else "n/a"
    rows.append(f"| {label} | {sv} | {av}{err} | {ratio} | {target} |")
    if key == "ops_per_s":
        rows.append(f"| {label.split(' ops')[0]} p50 / p99 ms | {s.get(ph, {}).get('p50_ms')} / {s.get(ph, {}).get('p99_ms')} | {a.get(ph, {}).get('p50_ms')} / {a.get(ph, {}).get('p99_ms')} | | |")
rounds = []
with open(f"{work}/single-rounds") as f:
    for line in f:
        r, md5, steal = line.split()
        p = phases(f"atoll-single-{r}").get("large-put", {})
        mb = p.get("MB_per_s")
        if mb:
            # The rate of the median request alone, without the load
            # generator's start-up: the body over its p50 latency.
            per_req = (p["bytes"] / p["ok"]) / (p["p50_ms"] / 1e3) / 1e6
            rounds.append((mb / float(md5), mb, md5, steal, per_req))
if rounds:
    detail = ", ".join(f"{mb} MB/s vs {md5} = {x:.2f}x at {st}% steal, p50 request {pr:.0f} MB/s" for x, mb, md5, st, pr in rounds)
    med = statistics.median(x for x, *_ in rounds)
    rows.append(f"| single-stream 64 MiB PUT ({p['ok']} in a row) vs single-core MD5, median of {len(rounds)} rounds ({detail}) | | | {med:.2f}x of MD5 | ≥ 0.8x |")
rows.append(f"| atoll RSS idle / peak after load | | {idle} MiB / {load} MiB | | idle < 50 MiB |")
text = "\n".join(rows)
print(text)
if out:
    with open(out, "w") as f:
        f.write(text + "\n")
PY
echo "raw reports: $WORK/{swift,atoll,atoll-single-*}.json" >&2
