#!/usr/bin/env bash
# NBD load benchmark, run by hand (not in CI): atoll's NBD server against
# qemu-nbd serving a raw file on the same filesystem, with the same fio jobs
# (fio's nbd engine, numjobs 1):
#   1 MiB sequential write (fills the area, so later reads hit data), iodepth 8
#   (write jobs refill their buffers: fio otherwise writes one buffer over and
#   over, which atoll's content-addressed blocks would store once)
#   1 MiB sequential read, iodepth 8
#   4 KiB random read, iodepth 32, time-based
#   4 KiB random write, iodepth 32, time-based
# and prints a table with the atoll/qemu-nbd ratio.
#
# atoll's side is blockd's example server (`blockd/examples/nbd_bench_server.rs`:
# LocalStore + SQLite + Archipelago + one export, no volume API needed).
# Durability differs: atoll acknowledges a write once its write-log record is
# fdatasynced (group commit; blocks are rewritten later by the destager);
# qemu-nbd (default cache=writeback) acknowledges once the data is in the
# page cache. Timing never decides a test verdict.
# Write amplification (atoll only): bytes the server process wrote to disk
# (/proc/PID/io write_bytes: log, destaged fragments, metadata) per byte fio
# wrote, counted until the destager has gone quiet after the job.
# ATOLL_ARGS passes extra flags to the server (e.g. "--wlog off",
# "--direct-io on", "--durable-acks off").
#
# Knobs (environment): SIZE_MB (area the jobs cover, default 256), RUNTIME
# (seconds per random job, default 20), PORT_ATOLL (10810), PORT_QEMU (10811),
# WORK (work directory; default a new temp dir, removed unless KEEP=1).
set -euo pipefail

SIZE_MB=${SIZE_MB:-256}
RUNTIME=${RUNTIME:-20}
PORT_ATOLL=${PORT_ATOLL:-10810}
PORT_QEMU=${PORT_QEMU:-10811}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/bench-nbd.XXXXXX")}
KEEP=${KEEP:-0}

cd "$(dirname "$0")/.."
# shellcheck source=bench-common.sh
. scripts/bench-common.sh
need bench-nbd fio qemu-nbd jq nbdinfo


cargo build --release -q -p blockd --example nbd_bench_server
mkdir -p "$WORK"

./target/release/examples/nbd_bench_server --root "$WORK/atoll" --port "$PORT_ATOLL" \
    --size $((SIZE_MB * 1024 * 1024)) --name bench ${ATOLL_ARGS:-} >"$WORK/atoll.out" 2>"$WORK/atoll.err" &
ATOLL_PID=$!
PIDS+=($ATOLL_PID)
truncate -s "${SIZE_MB}M" "$WORK/file.raw"
qemu-nbd -f raw -x bench --persistent -p "$PORT_QEMU" -b 127.0.0.1 "$WORK/file.raw" \
    >"$WORK/qemu-nbd.log" 2>&1 &
PIDS+=($!)

ATOLL_URI="nbd://127.0.0.1:$PORT_ATOLL/bench"
QEMU_URI="nbd://127.0.0.1:$PORT_QEMU/bench"
wait_nbd bench-nbd "$ATOLL_URI"
wait_nbd bench-nbd "$QEMU_URI"

# fio_run URI NAME ARGS... -> prints "iops bw_bytes" of the job's direction.
fio_run() {
    local uri=$1 name=$2 dir=$3; shift 3
    fio_json "$uri" "$name" --numjobs=1 "$@"
    jq -r ".jobs[0].$dir | \"\(.iops) \(.bw_bytes)\"" "$WORK/$name.json"
}

fio_bytes() { jq -r '.jobs[0].write.io_bytes' "$WORK/$1.json"; }

declare -A R
for side in atoll qemu; do
    [ "$side" = atoll ] && W0=$(atoll_writes)
    uri=$ATOLL_URI; [ "$side" = qemu ] && uri=$QEMU_URI
    echo "== $side ($uri)" >&2
    read -r _ R[$side.seqwrite] < <(fio_run "$uri" "$side-seqwrite" write \
        --rw=write --bs=1M --iodepth=8 --runtime=120 --refill_buffers)
    if [ "$side" = atoll ]; then
        wait_quiet 3
        R[wa.seq]=$(awk -v d=$(( $(atoll_writes) - W0 )) -v c="$(fio_bytes atoll-seqwrite)" 'BEGIN{printf "%.2f", d/c}')
    fi
    read -r _ R[$side.seqread] < <(fio_run "$uri" "$side-seqread" read \
        --rw=read --bs=1M --iodepth=8 --runtime=120)
    read -r R[$side.randread] _ < <(fio_run "$uri" "$side-randread" read \
        --rw=randread --bs=4k --iodepth=32 --time_based --runtime="$RUNTIME")
    [ "$side" = atoll ] && W0=$(atoll_writes)
    read -r R[$side.randwrite] _ < <(fio_run "$uri" "$side-randwrite" write \
        --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$RUNTIME" --refill_buffers)
    if [ "$side" = atoll ]; then
        wait_quiet 3
        R[wa.rand]=$(awk -v d=$(( $(atoll_writes) - W0 )) -v c="$(fio_bytes atoll-randwrite)" 'BEGIN{printf "%.2f", d/c}')
    fi
done

echo
echo "NBD benchmark: ${SIZE_MB} MiB area, random jobs ${RUNTIME}s, fio $(fio --version), $(nproc) cores"
printf '%-32s %14s %14s %12s\n' job atoll qemu-nbd atoll/qemu
row 32 "4k randread IOPS (qd32)" randread 1
row 32 "4k randwrite IOPS (qd32)" randwrite 1
row 32 "1M seq read MB/s (qd8)" seqread 1000000
row 32 "1M seq write MB/s (qd8)" seqwrite 1000000
echo "atoll write amplification (disk bytes / client bytes, after destage): 1M seq write ${R[wa.seq]}, 4k rand write ${R[wa.rand]}"
