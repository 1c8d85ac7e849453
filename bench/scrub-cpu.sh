#!/usr/bin/env bash
# scrub-cpu.sh — what the background scrub and the cold-read check cost eddyd in CPU (issue 11
# item 5). Writes MIB MiB of 1 KiB records (kcat) into one partition with 64 MiB segments, then:
#   1. idle broker, SECS seconds, log.scrub.bytes.per.second=RATE (default 4 MiB/s, eddyd's
#      default) and then =0: eddyd's CPU (user+system, /proc/PID/stat) in each window;
#   2. a restart with the scrub off, kcat reads the partition from the beginning twice: the
#      first read is cold (every slice CRC-checked before it is sent), the second is served
#      from verified ranges (sendfile only): eddyd's CPU per read, and the difference per GiB.
# The page cache is not dropped (that needs root and would disturb other work on the machine):
# the figures are CPU, not disk time. Usage: bash bench/scrub-cpu.sh  (env BUILD, EDDYD, MIB,
# SECS, RATE, DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$here/build}"
EDDYD="${EDDYD:-$BUILD/src/eddyd/eddyd}"
MIB="${MIB:-1024}"
SECS="${SECS:-60}"
RATE="${RATE:-4194304}"
command -v kcat >/dev/null || { echo "scrub-cpu: kcat is required" >&2; exit 2; }
[ -x "$EDDYD" ] || { echo "scrub-cpu: eddyd not found at $EDDYD" >&2; exit 2; }
DIR="${DIR:-$(mktemp -d /var/tmp/eddy-scrub-cpu.XXXXXX)}"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TCK=$(getconf CLK_TCK)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

start() { # $1 = scrub rate
    "$EDDYD" --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" --http off \
        --set log.segment.bytes=67108864 --set "log.scrub.bytes.per.second=$1" \
        >>"$DIR/eddyd.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 600); do
        kcat -L -b "127.0.0.1:$PORT" -t x >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "scrub-cpu: eddyd did not start" >&2
    exit 1
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }
cpu() { awk -v t="$TCK" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$PID/stat"; }

start 0
line=$(head -c 1023 </dev/zero | tr '\0' x)
{ yes "$line" || true; } | head -n $((MIB * 1024)) |
    kcat -P -b "127.0.0.1:$PORT" -t scrubcpu -p 0 -X linger.ms=20 -X batch.size=1000000 \
        -X compression.codec=none
segs=$(ls "$DIR/data"/scrubcpu-0/*.log | wc -l)
stop
echo "data: $MIB MiB of 1 KiB records in $segs segments ($((segs - 1)) closed)"

for rate in "$RATE" 0; do
    start "$rate"
    sleep 2
    c0=$(cpu)
    sleep "$SECS"
    c1=$(cpu)
    stop
    echo "idle ${SECS}s, log.scrub.bytes.per.second=$rate: eddyd CPU $(echo "$c1 - $c0" | bc) s"
done

start 0
for pass in cold verified; do
    c0=$(cpu)
    n=$(kcat -C -b "127.0.0.1:$PORT" -t scrubcpu -p 0 -o beginning -e -q -f '.' \
        -X fetch.max.bytes=52428800 | wc -c)
    c1=$(cpu)
    echo "read $n records ($pass): eddyd CPU $(echo "$c1 - $c0" | bc) s"
done
stop
grep -c "read check: CRC mismatch" "$DIR/eddyd.log" | sed 's/^/CRC mismatches logged: /' || true
