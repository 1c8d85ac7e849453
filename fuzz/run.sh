#!/bin/sh
# fuzz/run.sh — long coverage-guided runs of every fuzz target with libFuzzer (`make fuzz`).
#   usage: fuzz/run.sh [BUILD_DIR]   (default build-fuzz, configured by `make fuzz`)
#   FUZZ_SECONDS  seconds per target (default 60)
# Seeds: fuzz/seeds/<name>/ (checked in) and, for fuzz_codec, fuzz_codec_seeds' output. The
# growing corpus stays in BUILD_DIR/fuzz/corpus/<target>. Exits non-zero if a target finds a
# failure; reproducers are left in BUILD_DIR/fuzz/crashes (re-run one: BUILD_DIR/fuzz/<target>
# <file>, or the ctest build's driver: build/fuzz/<target> -t 0 <file>).
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-fuzz}
SECS=${FUZZ_SECONDS:-60}
W="$B/fuzz"
[ -d "$W" ] || { echo "run.sh: $W missing — run 'make fuzz'" >&2; exit 2; }
mkdir -p "$W/crashes"
if [ -x "$W/fuzz_codec_seeds" ]; then
    rm -rf "$W/seeds-codec"
    "$W/fuzz_codec_seeds" "$W/seeds-codec" 3
fi
status=0
for f in "$W"/fuzz_*; do
    case "$f" in *_seeds|*.*) continue ;; esac
    [ -x "$f" ] && [ -f "$f" ] || continue
    name=$(basename "$f")
    short=${name#fuzz_}
    corpus="$W/corpus/$name"
    mkdir -p "$corpus"
    seeds=""
    [ -d "fuzz/seeds/$short" ] && seeds="fuzz/seeds/$short"
    [ "$short" = codec ] && seeds="$W/seeds-codec"
    echo "== $name for ${SECS}s"
    # shellcheck disable=SC2086
    if ! "$f" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$W/crashes/$name-" "$corpus" $seeds; then
        echo "!! $name found a failure; reproducers in $W/crashes" >&2
        status=1
    fi
done
exit $status
