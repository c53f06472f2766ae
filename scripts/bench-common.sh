# Shared by bench-nbd.sh and bench-volume.sh (sourced, not run): tool checks,
# cleanup of the servers they start, fio's nbd engine in JSON mode, and the
# atoll-vs-qemu-nbd table row. Callers set WORK, KEEP, SIZE_MB and R (an
# associative array of results keyed "atoll.KEY" / "qemu.KEY").

# need NAME TOOL...: exits when a tool is missing.
need() {
    local who=$1; shift
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "$who: $t is not installed" >&2; exit 1; }
    done
}

# Servers started by the script (their PIDs); stopped and waited for on exit.
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# wait_nbd WHO URI: waits up to 10 s for an NBD export to answer.
wait_nbd() {
    for _ in $(seq 100); do
        nbdinfo --size "$2" >/dev/null 2>&1 && return
        sleep 0.1
    done
    nbdinfo --size "$2" >/dev/null || { echo "$1: $2 not reachable" >&2; exit 1; }
}

# fio_json URI NAME ARGS...: runs one job set, leaves $WORK/NAME.json.
fio_json() {
    local uri=$1 name=$2; shift 2
    fio --name="$name" --ioengine=nbd --uri="$uri" --size="${SIZE_MB}M" \
        --group_reporting --output-format=json "$@" >"$WORK/$name.out"
    # The nbd engine prints "fio: connected to NBD server" before the JSON.
    sed -n '/^{/,$p' "$WORK/$name.out" >"$WORK/$name.json"
}

# row WIDTH LABEL KEY SCALE: one table line, atoll and qemu-nbd divided by
# SCALE, and their ratio.
row() {
    local width=$1 label=$2 key=$3 scale=$4 a q
    a=$(awk -v v="${R[atoll.$key]}" -v s="$scale" 'BEGIN{printf "%.1f", v/s}')
    q=$(awk -v v="${R[qemu.$key]}" -v s="$scale" 'BEGIN{printf "%.1f", v/s}')
    printf "%-${width}s %14s %14s %12s\n" "$label" "$a" "$q" \
        "$(awk -v a="$a" -v q="$q" 'BEGIN{ if (q > 0) printf "%.3f", a/q; else print "-" }')"
}

# atoll_writes: bytes the atoll process ($ATOLL_PID) has written to disk.
atoll_writes() { awk '/^write_bytes/ {print $2}' "/proc/$ATOLL_PID/io"; }

# wait_quiet SECONDS: waits until atoll has written nothing for SECONDS (its
# destager done), at most 5 minutes.
wait_quiet() {
    local need=$(($1 * 2)) last now still=0
    last=$(atoll_writes)
    for _ in $(seq 600); do
        sleep 0.5
        now=$(atoll_writes)
        if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
        [ "$still" -ge "$need" ] && return
        last=$now
    done
}
