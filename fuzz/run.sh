#!/bin/sh
# fuzz/run.sh — builds the libFuzzer targets with clang (ASan+UBSan) and runs each one for a
# bounded time from a seed corpus of valid encodings.
#   FUZZ_SECONDS  seconds per fuzzer (default 60)
#   FUZZ_BUILD    build directory (default build-fuzz)
#   FUZZ_JOBS     parallel compile jobs (default 2)
# Exits non-zero if a fuzzer finds a crash; the reproducer is left in $FUZZ_BUILD/fuzz/crashes.
set -eu
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-60}
B=${FUZZ_BUILD:-build-fuzz}
CC=${CC:-clang}
case "$CC" in *clang*) ;; *) CC=clang ;; esac

cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DEDDY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"${FUZZ_JOBS:-2}" --target fuzz_codec fuzz_codec_seeds fuzz_pgoutput

W="$B/fuzz"
mkdir -p "$W/crashes"
rm -rf "$W/seeds"
"$W/fuzz_codec_seeds" "$W/seeds" 3
mkdir -p "$W/corpus/codec"

status=0
for f in "$W"/fuzz_*; do
    case "$f" in *_seeds|*.*) continue ;; esac
    [ -x "$f" ] || continue
    name=$(basename "$f")
    echo "== $name for ${SECS}s"
    if ! "$f" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$W/crashes/$name-" \
            "$W/corpus/codec" "$W/seeds"; then
        echo "!! $name found a failure; reproducers in $W/crashes" >&2
        status=1
    fi
done
exit $status
