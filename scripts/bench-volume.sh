#!/usr/bin/env bash
# Volume benchmark through atoll itself, run by hand (not in CI): starts
# `atoll serve` (release build) on a temp data dir and free ports, creates
# and attaches volumes through the Cinder API (3.54 attachments with a
# loopback connector, as tests/e2e/volutil.py does), and runs the same fio
# jobs (nbd engine) against the first volume's NBD export and against
# qemu-nbd serving a raw file in the same work directory:
#   1 MiB sequential write (fills the area; refilled buffers), iodepth 8
#   1 MiB sequential read, iodepth 8
#   4 KiB random read and random write, iodepth 32, numjobs 1 and 4 (one NBD
#   connection per job; qemu-nbd is started with -e so it accepts them)
#   4 KiB random write with --fsync=1 (a FLUSH after every write), iodepth 1:
#   write completion and FLUSH latency, p50 / p99 / p99.9
# Every job starts on a quiet disk (see quiet below).
# Then memory per active volume: atoll's RSS before, and its peak during, 4
# KiB random read/write (iodepth 32) on all N volumes at once, (peak - idle)/N.
#
# Durability differs: atoll acknowledges a write once it is durable (its
# write log or the block store); qemu-nbd (cache=writeback) once the data is
# in the page cache. The fsync job makes both sync every write. Timing never
# decides a test verdict.
#
# Knobs (environment): SIZE_MB (area per job set, default 256), RUNTIME
# (seconds per random job, default 15), ROUNDS (of the sequential jobs,
# default 3), JOBS (all, or seq: the sequential rounds only), VOLUMES (N for
# the memory figure, default 4), WORK (default a new temp dir, removed unless KEEP=1),
# ATOLL_CONFIG (a TOML file passed to `atoll serve --config`).
set -euo pipefail

SIZE_MB=${SIZE_MB:-256}
RUNTIME=${RUNTIME:-15}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-all}
VOLUMES=${VOLUMES:-4}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/bench-volume.XXXXXX")}
KEEP=${KEEP:-0}
PY=${PY:-tests/.venv/bin/python}

cd "$(dirname "$0")/.."
# shellcheck source=bench-common.sh
. scripts/bench-common.sh
need bench-volume fio qemu-nbd jq nbdinfo "$PY"


cargo build --release -q -p atoll
mkdir -p "$WORK"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ID_PORT=$(free_port); OBJ_PORT=$(free_port); IMG_PORT=$(free_port)
VOL_PORT=$(free_port); NBD_PORT=$(free_port); QEMU_PORT=$(free_port)
PASSWORD=bench-$RANDOM$RANDOM

CONFIG_ARGS=()
[ -n "${ATOLL_CONFIG:-}" ] && CONFIG_ARGS=(--config "$ATOLL_CONFIG")
ATOLL_ADMIN_PASSWORD=$PASSWORD ./target/release/atoll serve "${CONFIG_ARGS[@]}" \
    --data-dir "$WORK/atoll" --listen-host 127.0.0.1 \
    --identity-port "$ID_PORT" --object-port "$OBJ_PORT" --image-port "$IMG_PORT" \
    --volume-port "$VOL_PORT" --nbd-port "$NBD_PORT" >"$WORK/atoll.log" 2>&1 &
ATOLL_PID=$!
PIDS+=("$ATOLL_PID")
truncate -s "${SIZE_MB}M" "$WORK/file.raw"
qemu-nbd -f raw -x bench --persistent -e 8 -p "$QEMU_PORT" -b 127.0.0.1 "$WORK/file.raw" \
    >"$WORK/qemu-nbd.log" 2>&1 &
PIDS+=($!)

# Volumes through the Cinder API: token, create, wait available, attach.
"$PY" - "$ID_PORT" "$VOL_PORT" "$PASSWORD" "$VOLUMES" "$SIZE_MB" >"$WORK/uris" <<'EOF'
import sys, time, uuid, requests
idp, volp, pw, n, size_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
auth = f"http://127.0.0.1:{idp}/v3"
for _ in range(300):
    try:
        if requests.get(auth, timeout=2).status_code == 200:
            break
    except requests.RequestException:
        pass
    time.sleep(0.2)
user = {"name": "admin", "domain": {"id": "default"}, "password": pw}
scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                 "scope": scope}}
r = requests.post(f"{auth}/auth/tokens", json=body, timeout=30)
r.raise_for_status()
tok, project = r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]
base = f"http://127.0.0.1:{volp}/v3/{project}"
def call(method, path, version="3.54", **kw):
    h = {"X-Auth-Token": tok, "OpenStack-API-Version": f"volume {version}",
         "Accept": "application/json"}
    r = requests.request(method, base + path, headers=h, timeout=60, **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None
gib = max(1, -(-size_mb // 1024))
for i in range(n):
    vid = call("POST", "/volumes", json={"volume": {"size": gib, "name": f"bench-{i}"}})["volume"]["id"]
    for _ in range(300):
        if call("GET", f"/volumes/{vid}")["volume"]["status"] == "available":
            break
        time.sleep(0.1)
    conn = {"ip": "127.0.0.1", "host": "bench", "initiator": None, "platform": "x86_64",
            "os_type": "linux", "multipath": False, "mountpoint": "/dev/vdb", "mode": "rw"}
    att = call("POST", "/attachments", json={"attachment": {
        "volume_uuid": vid, "instance_uuid": str(uuid.uuid4()), "connector": conn, "mode": "rw"}})["attachment"]
    call("POST", f"/attachments/{att['id']}/action", json={"os-complete": {}})
    d = att["connection_info"]["data"]
    print(f"nbd://{d['host']}:{d['port']}/{d['export_name']}")
EOF
mapfile -t VOL_URIS <"$WORK/uris"
ATOLL_URI=${VOL_URIS[0]}
QEMU_URI="nbd://127.0.0.1:$QEMU_PORT/bench"
wait_nbd bench-volume "$ATOLL_URI"
wait_nbd bench-volume "$QEMU_URI"

q() { jq -r ".jobs[0].$2" "$WORK/$1.json"; }

# Each job starts on a quiet disk, so it measures its own IO and not the
# background work the previous one left (atoll's destager, qemu-nbd's dirty
# page cache): wait until atoll has written nothing for 2 s (at most 5 min;
# its background writes are in the write amplification figure of
# bench-nbd.sh), then sync.
quiet() { wait_quiet 2; sync; }
# job URI NAME ARGS...: fio_json on a quiet disk.
job() { quiet; fio_json "$@"; }

declare -A R
uri_of() { if [ "$1" = qemu ]; then echo "$QEMU_URI"; else echo "$ATOLL_URI"; fi; }
# The sequential jobs move the most between runs (a short job; qemu-nbd's
# figure is its page cache, atoll's its log on this shared disk): ROUNDS
# rounds, atoll and qemu-nbd alternating, each side's median reported with
# every round's figure.
declare -A SEQ
for round in $(seq "$ROUNDS"); do
    for side in atoll qemu; do
        uri=$(uri_of "$side")
        echo "== round $round, $side sequential ($uri)" >&2
        job "$uri" "$side-seqwrite-$round" --rw=write --bs=1M --iodepth=8 --runtime=120 --refill_buffers
        SEQ[$side.seqwrite]+=" $(q "$side-seqwrite-$round" write.bw_bytes)"
        job "$uri" "$side-seqread-$round" --rw=read --bs=1M --iodepth=8 --runtime=120
        SEQ[$side.seqread]+=" $(q "$side-seqread-$round" read.bw_bytes)"
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for k in "${!SEQ[@]}"; do R[$k]=$(echo "${SEQ[$k]}" | median); done

for side in atoll qemu; do
    [ "$JOBS" = seq ] && break
    uri=$(uri_of "$side")
    echo "== $side ($uri)" >&2
    for nj in 1 4; do
        job "$uri" "$side-randread$nj" --rw=randread --bs=4k --iodepth=32 --numjobs=$nj \
            --time_based --runtime="$RUNTIME"
        R[$side.randread$nj]=$(q "$side-randread$nj" read.iops)
        job "$uri" "$side-randwrite$nj" --rw=randwrite --bs=4k --iodepth=32 --numjobs=$nj \
            --time_based --runtime="$RUNTIME" --refill_buffers
        R[$side.randwrite$nj]=$(q "$side-randwrite$nj" write.iops)
    done
    job "$uri" "$side-fsync" --rw=randwrite --bs=4k --iodepth=1 --fsync=1 \
        --time_based --runtime="$RUNTIME" --refill_buffers
    R[$side.fsync]=$(q "$side-fsync" write.iops)
    for p in 50.000000 99.000000 99.900000; do
        R[$side.p$p]=$(q "$side-fsync" "write.clat_ns.percentile[\"$p\"]")
        R[$side.s$p]=$(q "$side-fsync" "sync.lat_ns.percentile[\"$p\"]")
    done
done

# Memory per active volume: RSS at rest, then the peak while all volumes
# take random reads and writes at once.
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$ATOLL_PID/status"; }
MEM=""
if [ "$JOBS" != seq ]; then
    IDLE=$(rss_kib)
    PEAK=$IDLE
    LOAD_PIDS=()
    for i in "${!VOL_URIS[@]}"; do
        fio --name="mem$i" --ioengine=nbd --uri="${VOL_URIS[$i]}" --size="${SIZE_MB}M" \
            --rw=randrw --bs=4k --iodepth=32 --time_based --runtime="$RUNTIME" --refill_buffers \
            >"$WORK/mem$i.out" 2>&1 &
        LOAD_PIDS+=($!)
    done
    end=$((SECONDS + RUNTIME))
    while [ $SECONDS -lt "$end" ]; do
        r=$(rss_kib); [ "$r" -gt "$PEAK" ] && PEAK=$r
        sleep 0.5
    done
    for p in "${LOAD_PIDS[@]}"; do wait "$p" || true; done
    MEM="atoll RSS: idle $((IDLE / 1024)) MiB, peak under load on ${#VOL_URIS[@]} volumes $((PEAK / 1024)) MiB, per active volume $(((PEAK - IDLE) / ${#VOL_URIS[@]} / 1024)) MiB"
fi

echo
echo "Volume benchmark through atoll serve (Cinder-attached volume over NBD) vs qemu-nbd on a raw file"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+dirty'), ${SIZE_MB} MiB area, random jobs ${RUNTIME}s, $(fio --version), $(nproc) cores"
printf '%-40s %14s %14s %12s\n' job atoll qemu-nbd atoll/qemu
if [ "$JOBS" != seq ]; then
    row 40 "4k randread IOPS (qd32, 1 job)" randread1 1
    row 40 "4k randread IOPS (qd32, 4 jobs)" randread4 1
    row 40 "4k randwrite IOPS (qd32, 1 job)" randwrite1 1
    row 40 "4k randwrite IOPS (qd32, 4 jobs)" randwrite4 1
    row 40 "4k randwrite+fsync IOPS (qd1)" fsync 1
    row 40 "  its write p50 (us)" p50.000000 1000
    row 40 "  its write p99 (us)" p99.000000 1000
    row 40 "  its write p99.9 (us)" p99.900000 1000
    row 40 "  its FLUSH p50 (us)" s50.000000 1000
    row 40 "  its FLUSH p99 (us)" s99.000000 1000
    row 40 "  its FLUSH p99.9 (us)" s99.900000 1000
fi
row 40 "1M seq read MB/s (qd8, median)" seqread 1000000
row 40 "1M seq write MB/s (qd8, median)" seqwrite 1000000
for k in seqread seqwrite; do
    for side in atoll qemu; do
        echo "  $k $side rounds (MB/s):$(for v in ${SEQ[$side.$k]}; do awk -v v="$v" 'BEGIN{printf " %.0f", v/1e6}'; done)"
    done
done
if [ -n "$MEM" ]; then echo "$MEM"; fi
