#!/usr/bin/env bash
# bench/run.sh — `make bench` (full, ≤ 25 min) and `make bench-quick` (--quick, < 2 min).
# Measures the machine's limits, then runs workloads W1–W6 against eddyd, librdkafka's mock
# cluster, Redis Streams and NATS JetStream, each server started fresh on loopback in a temp dir
# and stopped after every run. bench/report.py turns the per-run JSON lines into the table,
# results.json and chart.png. See bench/README.md for what is measured and how.
#
# Environment: BUILD (default build/), EDDYD (default $BUILD/src/eddyd/eddyd),
#   EDDY_BENCH_OUT (results dir, default $BUILD/bench-results), EDDY_BENCH_RUNS (runs per cell),
#   EDDY_BENCH_ONLY (space-separated subset of: limits W1 W2 W3 W4 W5 W6 onramp ES W7 W8 W9 TXN TLS),
#   EDDY_BENCH_SERVERS (subset of: eddyd mock redis jetstream),
#   EDDY_BENCH_EDDYD_SET (extra "key=value ..." passed to eddyd as --set),
#   EDDY_BENCH_CREATE (auto | admin: how eddyd's topics are made, see CREATE below),
#   EDDY_BENCH_PERF=1 (perf profile of eddyd in run 1 of W1-W4: $OUT/perf-*.txt).
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$here/build}"
case "$BUILD" in /*) ;; *) BUILD="$here/$BUILD" ;; esac
BIN="$BUILD/bench"
EDDYD="${EDDYD:-$BUILD/src/eddyd/eddyd}"
OUT="${EDDY_BENCH_OUT:-$BUILD/bench-results}"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

if [ $QUICK = 1 ]; then
    RUNS=${EDDY_BENCH_RUNS:-1}; DUR=1.5; WARM=0.5; W3_MIB=128; W4_SECS=2; W6_DUR=1
    FS_MIB=128; FL_COUNT=300; TCP_SECS=1
else
    RUNS=${EDDY_BENCH_RUNS:-3}; DUR=8; WARM=1; W3_MIB=1024; W4_SECS=10; W6_DUR=6
    FS_MIB=1024; FL_COUNT=2000; TCP_SECS=3
fi
ONLY="${EDDY_BENCH_ONLY:-limits W1 W2 W3 W4 W5 W6 onramp ES W7 W8 W9 TXN TLS}"
# eddyd topics: "auto" = started with num.partitions for the cell and auto-created by the
# first Metadata request; "admin" = CreateTopics
CREATE="${EDDY_BENCH_CREATE:-auto}"
SERVERS="${EDDY_BENCH_SERVERS:-eddyd mock redis jetstream}"
EDDY_SETS=()
for kv in ${EDDY_BENCH_EDDYD_SET:-}; do EDDY_SETS+=(--set "$kv"); done

# W1/W2 client settings (same for eddyd and the mock)
LINGER_MS=5          # librdkafka linger.ms for the throughput workloads
W1_PRODUCERS=4; W1_PARTS=8; W1_SIZE=1024
W2_PARTS=8

mkdir -p "$OUT" || exit 1
TMP="$(mktemp -d "${TMPDIR:-/tmp}/eddy-bench.XXXXXX")" || exit 1
RUNS_FILE="$OUT/runs.jsonl"
LOG="$OUT/bench.log"
: > "$RUNS_FILE"
: > "$LOG"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

STARTED=()      # pids of servers this script started
declare -A HUNG # server -> runs that timed out
T_START=$(date +%s)

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        # gone, or a zombie waiting for its reaper
        if ! kill -0 "$pid" 2>/dev/null; then return 0; fi
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ]; then return 0; fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted" >&2; exit 130' INT TERM

progress() {
    local el=$(( $(date +%s) - T_START ))
    local line
    line=$(printf '[bench %d:%02d] %s' $((el / 60)) $((el % 60)) "$*")
    if [ -t 2 ]; then printf '\r\033[K%s' "$line" >&2; else printf '%s\n' "$line" >&2; fi
    printf '%s\n' "$line" >> "$LOG"
}

jnum() { # jnum JSON KEY -> the number, or empty
    printf '%s' "$1" | sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p"
}

record() { # record W SERVER VARIANT RUN JSON
    local res="$5"
    [[ "$res" == \{* ]] || res='{"error":"no result (see bench.log)"}'
    printf '{"w":"%s","server":"%s","variant":"%s","run":%s,"res":%s}\n' \
        "$1" "$2" "$3" "$4" "$res" >> "$RUNS_FILE"
}

runj() { # runj TIMEOUT CMD... -> last stdout line (a JSON object, or an error object)
    local to=$1 out rc
    shift
    printf '+ %s\n' "$*" >> "$LOG"
    out=$(timeout --foreground -k 5 "$to" "$@" 2>>"$LOG" | tail -n 1)
    rc=${PIPESTATUS[0]}
    if [[ "$out" != \{* ]]; then
        if [ "$rc" = 124 ]; then out='{"error":"timed out"}'
        else out="{\"error\":\"exit status $rc, no result (see bench.log)\"}"; fi
    fi
    printf '%s\n' "$out" >> "$LOG"
    printf '%s' "$out"
}

# ------------------------------------------------------------------ servers ----
# start_server KIND (eddyd | redis-always | redis-everysec | jetstream) sets SPID SPORT SDIR
# SREADY, or SERR and returns 1.
start_server() {
    local kind=$1 json port
    SPID=""; SPORT=""; SERR=""; SREADY=""
    SDIR="$(mktemp -d "$TMP/$kind.XXXX")"
    case "$kind" in
    eddyd)
        if [ ! -x "$EDDYD" ]; then SERR="eddyd not built ($EDDYD)"; return 1; fi
        local create=()
        [ "$CREATE" = auto ] && create=(--set "num.partitions=${EDDYD_PARTS:-1}")
        json=$(runj 30 "$BIN/eddy-bench-sys" start --log "$SDIR/server.log" --timeout 15 -- \
            "$EDDYD" --data-dir "$SDIR/data" --listen 127.0.0.1:0 --http off "${create[@]}" \
            "${EDDY_SETS[@]}")
        ;;
    redis-always|redis-everysec)
        if ! command -v redis-server >/dev/null; then
            SERR="redis-server not installed"; return 1
        fi
        port=$("$BIN/eddy-bench-sys" freeport)
        # AOF on; fsync per the workload; no RDB snapshots and no automatic AOF rewrite (a
        # background fork mid-run would only add noise); loopback only.
        json=$(runj 30 "$BIN/eddy-bench-sys" start --log "$SDIR/server.log" --timeout 15 \
            --ready-text "Ready to accept connections" --port "$port" -- \
            redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$SDIR" \
            --appendonly yes --appendfsync "${kind#redis-}" --save "" \
            --auto-aof-rewrite-percentage 0 --daemonize no --logfile "")
        ;;
    jetstream)
        if ! command -v nats-server >/dev/null; then SERR="nats-server not installed"; return 1; fi
        port=$("$BIN/eddy-bench-sys" freeport)
        cat > "$SDIR/nats.conf" <<EOF
listen: 127.0.0.1:$port
jetstream {
  store_dir: "$SDIR/js"
  max_memory_store: 1G
  max_file_store: 64G
}
EOF
        json=$(runj 30 "$BIN/eddy-bench-sys" start --log "$SDIR/server.log" --timeout 15 \
            --ready-text "Server is ready" --port "$port" -- nats-server -c "$SDIR/nats.conf")
        ;;
    esac
    SPID=$(jnum "$json" pid); SPORT=$(jnum "$json" port); SREADY=$(jnum "$json" ready_ms)
    if [ -z "$SPID" ] || [ -z "$SPORT" ]; then
        SERR="$kind did not start: $(printf '%s' "$json" | sed -n 's/.*"error":"\([^"]*\)".*/\1/p')"
        SERR="$SERR; $(tail -n 2 "$SDIR/server.log" 2>/dev/null | tr '\n"\\' '   ' | cut -c1-160)"
        return 1
    fi
    STARTED+=("$SPID")
    return 0
}

stop_server() {
    [ -n "$SPID" ] && stop_pid "$SPID"
    local keep=() p
    for p in "${STARTED[@]}"; do [ "$p" != "$SPID" ] && keep+=("$p"); done
    STARTED=("${keep[@]}")
    if [ -n "$SPID" ] && [ "${SKIND:-}" = eddyd ] && [ -s "$SDIR/server.log" ]; then
        # keep eddyd's log when it complained, for the broker engineers
        if grep -qiE 'error|fatal|abort|sanitizer' "$SDIR/server.log"; then
            cp "$SDIR/server.log" "$OUT/eddyd-$(date +%H%M%S).log" 2>/dev/null
        fi
    fi
    rm -rf "$SDIR"
    SPID=""
}

want() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }
wanted() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

client_for() { # server -> generator binary
    case "$1" in
    eddyd|mock) echo "$BIN/eddy-bench-kafka" ;;
    redis) echo "$BIN/eddy-bench-redis" ;;
    jetstream) echo "$BIN/eddy-bench-nats" ;;
    esac
}

# one W SERVER VARIANT RUN KIND TIMEOUT MODE ARGS...
# KIND is the server process to start (eddyd, redis-always, redis-everysec, jetstream, mock).
one() {
    local w=$1 srv=$2 var=$3 run=$4 kind=$5 to=$6 mode=$7 res bin
    shift 7
    progress "$w $var · $srv · run $run/$RUNS"
    # a server that hung twice would eat the whole budget: skip its remaining cells
    if [ "${HUNG[$srv]:-0}" -ge 2 ]; then
        record "$w" "$srv" "$var" "$run" "{\"error\":\"skipped: $srv timed out twice before\"}"
        return
    fi
    bin=$(client_for "$srv")
    # the partition count this cell wants (eddyd auto-creates its topics with it)
    EDDYD_PARTS=1
    local i args=("$@")
    for ((i = 0; i < ${#args[@]} - 1; i++)); do
        [ "${args[i]}" = --partitions ] && EDDYD_PARTS=${args[i + 1]}
    done
    if [ ! -x "$bin" ]; then
        record "$w" "$srv" "$var" "$run" "{\"error\":\"$(basename "$bin") not built\"}"
        return
    fi
    if [ "$kind" = mock ]; then
        res=$(runj "$to" "$bin" "$mode" --mock "$@")
    else
        SKIND=$kind
        if ! start_server "$kind"; then
            record "$w" "$srv" "$var" "$run" "{\"error\":\"$SERR\"}"
            rm -rf "$SDIR"
            return
        fi
        local perfpid=""
        if [ "${EDDY_BENCH_PERF:-0}" = 1 ] && [ "$srv" = eddyd ] && [ "$run" = 1 ] &&
            command -v perf >/dev/null; then
            perf record -q -F 499 -g -p "$SPID" -o "$OUT/perf-$w-$var.data" >/dev/null 2>&1 &
            perfpid=$!
        fi
        if [ "$srv" = eddyd ] || [ "$srv" = mock ]; then
            res=$(runj "$to" "$bin" "$mode" --bootstrap "127.0.0.1:$SPORT" --server-pid "$SPID" \
                --create "$CREATE" "$@")
        else
            res=$(runj "$to" "$bin" "$mode" --port "$SPORT" --server-pid "$SPID" "$@")
        fi
        if [ -n "$perfpid" ]; then
            kill -INT "$perfpid" 2>/dev/null
            wait "$perfpid" 2>/dev/null
            perf report -i "$OUT/perf-$w-$var.data" --stdio --no-children --sort dso,symbol \
                --percent-limit 1 -g none > "$OUT/perf-$w-$var.txt" 2>/dev/null
        fi
        if ! kill -0 "$SPID" 2>/dev/null; then
            res="{\"error\":\"$srv died during the run\"}"
        fi
        if [[ "$res" == *'"error":"timed out"'* ]]; then HUNG[$srv]=$(( ${HUNG[$srv]:-0} + 1 )); fi
        # ready time of every start, as W5 samples
        record "start" "$srv" "$kind" "$run" "{\"ready_ms\":$SREADY}"
        stop_server
    fi
    record "$w" "$srv" "$var" "$run" "$res"
}

# ------------------------------------------------------------------ preflight ----
if [ ! -x "$BIN/eddy-bench-sys" ] || [ ! -x "$BIN/eddy-bench-kafka" ]; then
    echo "bench: load generators not built in $BIN (run make build first)" >&2
    exit 1
fi
[ -x "$EDDYD" ] || echo "bench: $EDDYD not found: eddyd rows will be reported as failed" >&2
for b in nats redis; do
    [ -x "$BIN/eddy-bench-$b" ] || echo "bench: eddy-bench-$b not built: its rows will fail" >&2
done
MODE_NAME=full; [ $QUICK = 1 ] && MODE_NAME=quick
echo "bench: $MODE_NAME mode, $RUNS run(s) per cell; results in $OUT" >&2

# ------------------------------------------------------------------ limits ----
if wanted limits; then
    for r in $(seq 1 "$RUNS"); do
        progress "limits · fdatasync every 1 MiB · run $r/$RUNS"
        record limits machine fsyncbw "$r" \
            "$(runj 300 "$BIN/eddy-bench-sys" fsyncbw --dir "$TMP" --mib "$FS_MIB")"
        progress "limits · 4 KiB append + fdatasync · run $r/$RUNS"
        record limits machine fsynclat "$r" \
            "$(runj 300 "$BIN/eddy-bench-sys" fsynclat --dir "$TMP" --count "$FL_COUNT")"
        progress "limits · loopback TCP · run $r/$RUNS"
        record limits machine tcpbw "$r" \
            "$(runj 60 "$BIN/eddy-bench-sys" tcpbw --seconds "$TCP_SECS")"
        # again with the congestion control eddyd uses for loopback peers (its
        # socket.loopback.congestion.control default): the limit is the faster of the two
        record limits machine tcpbw-cubic "$r" \
            "$(runj 60 "$BIN/eddy-bench-sys" tcpbw --seconds "$TCP_SECS" --cc cubic)"
    done
fi

PTO=$(awk -v d="$DUR" -v w="$WARM" 'BEGIN { printf "%d", d + w + 60 }')
COMMON=(--seconds "$DUR" --warmup "$WARM")

# ------------------------------------------------------------------ W1 ----
# durable produce: acks=all (eddyd), appendfsync always (Redis), JetStream file store (2.9 has
# no sync-always setting: marked unmatched in the report). 1 KiB, 4 producers, 8 partitions.
if wanted W1; then
    for r in $(seq 1 "$RUNS"); do
        want eddyd && one W1 eddyd durable "$r" eddyd "$PTO" produce --topic "w1r$r" \
            --partitions $W1_PARTS --producers $W1_PRODUCERS --size $W1_SIZE --acks all \
            --linger $LINGER_MS "${COMMON[@]}"
        want redis && one W1 redis durable "$r" redis-always "$PTO" produce --partitions $W1_PARTS \
            --producers $W1_PRODUCERS --size $W1_SIZE "${COMMON[@]}"
        want jetstream && one W1 jetstream durable "$r" jetstream "$PTO" produce \
            --partitions $W1_PARTS --producers $W1_PRODUCERS --size $W1_SIZE "${COMMON[@]}"
    done
fi

# ------------------------------------------------------------------ W2 ----
# fast produce: acks=1 / JetStream default / Redis appendfsync everysec; one producer.
if wanted W2; then
    for size in 100 1024; do
        for r in $(seq 1 "$RUNS"); do
            want eddyd && one W2 eddyd "$size" "$r" eddyd "$PTO" produce --topic "w2s${size}r$r" \
                --partitions $W2_PARTS --producers 1 --size $size --acks 1 --linger $LINGER_MS \
                "${COMMON[@]}"
            want mock && one W2 mock "$size" "$r" mock "$PTO" produce --topic "w2s${size}r$r" \
                --partitions $W2_PARTS --producers 1 --size $size --acks 1 --linger $LINGER_MS \
                "${COMMON[@]}"
            want redis && one W2 redis "$size" "$r" redis-everysec "$PTO" produce \
                --partitions $W2_PARTS --producers 1 --size $size "${COMMON[@]}"
            want jetstream && one W2 jetstream "$size" "$r" jetstream "$PTO" produce \
                --partitions $W2_PARTS --producers 1 --size $size "${COMMON[@]}"
        done
    done
fi

# ------------------------------------------------------------------ W3 ----
# catch-up consume: write W3_MIB MiB of 1 KiB records (fast-produce durability), then one
# consumer reads it all from the beginning. No mock row: the mock keeps only ~5 MB per partition.
if wanted W3; then
    CTO=$(( W3_MIB / 4 + 120 ))
    for r in $(seq 1 "$RUNS"); do
        want eddyd && one W3 eddyd catchup "$r" eddyd "$CTO" catchup --topic "w3r$r" \
            --partitions $W2_PARTS --size 1024 --mib "$W3_MIB" --timeout "$CTO" --raw-groups 2
        want redis && one W3 redis catchup "$r" redis-everysec "$CTO" catchup \
            --partitions $W2_PARTS --size 1024 --mib "$W3_MIB" --timeout "$CTO"
        want jetstream && one W3 jetstream catchup "$r" jetstream "$CTO" catchup \
            --partitions $W2_PARTS --size 1024 --mib "$W3_MIB" --timeout "$CTO"
    done
fi

# ------------------------------------------------------------------ W4 ----
# end-to-end latency at 10,000 records/s of 1 KiB, linger.ms=0, acks=1 and acks=all. No mock
# row: the mock does not hold a Fetch until data arrives, so its end-to-end figure is meaningless.
if wanted W4; then
    LTO=$(awk -v d="$W4_SECS" 'BEGIN { printf "%d", d + 60 }')
    LAT=(--rate 10000 --size 1024 --seconds "$W4_SECS" --warmup "$WARM" --linger 0)
    for r in $(seq 1 "$RUNS"); do
        want eddyd && one W4 eddyd acks1 "$r" eddyd "$LTO" latency --topic "w4a1r$r" --acks 1 \
            "${LAT[@]}"
        want redis && one W4 redis acks1 "$r" redis-everysec "$LTO" latency "${LAT[@]}"
        want jetstream && one W4 jetstream acks1 "$r" jetstream "$LTO" latency "${LAT[@]}"
        want eddyd && one W4 eddyd acksall "$r" eddyd "$LTO" latency --topic "w4aar$r" \
            --acks all "${LAT[@]}"
        want redis && one W4 redis acksall "$r" redis-always "$LTO" latency "${LAT[@]}"
        want jetstream && one W4 jetstream acksall "$r" jetstream "$LTO" latency "${LAT[@]}"
    done
fi

# ------------------------------------------------------------------ W5 ----
# footprint: idle RSS, exec-to-accepting time, RSS with 1,000 partitions + 1,000 connections.
if wanted W5; then
    for r in $(seq 1 "$RUNS"); do
        for kind in eddyd redis-everysec jetstream; do
            srv=${kind%-everysec}
            want "$srv" || continue
            progress "W5 footprint · $srv · run $r/$RUNS"
            SKIND=$kind
            EDDYD_PARTS=1000
            if ! start_server "$kind"; then
                record W5 "$srv" footprint "$r" "{\"error\":\"$SERR\"}"
                rm -rf "$SDIR"
                continue
            fi
            sleep 0.5
            rss=$(awk '/^VmRSS:/ { printf "%.3f", $2 / 1024 }' "/proc/$SPID/status" 2>/dev/null)
            res="{\"ready_ms\":$SREADY,\"idle_rss_mib\":${rss:--1}"
            if [ "$srv" = eddyd ]; then
                c=$(runj 120 "$BIN/eddy-bench-kafka" create --bootstrap "127.0.0.1:$SPORT" \
                    --topic w5parts --partitions 1000 --timeout 100 --create "$CREATE")
                if [[ "$c" == *'"error"'* ]]; then
                    res="$res,\"loaded_error\":\"creating 1,000 partitions failed\""
                else
                    c=$(runj 60 "$BIN/eddy-bench-sys" conns --port "$SPORT" --count 1000 \
                        --server-pid "$SPID")
                    opened=$(jnum "$c" opened); answered=$(jnum "$c" answered)
                    lrss=$(jnum "$c" rss_mib)
                    res="$res,\"conns_opened\":${opened:--1},\"conns_answered\":${answered:--1}"
                    if [ -n "$lrss" ] && [ "${opened:-0}" = 1000 ]; then
                        res="$res,\"loaded_rss_mib\":$lrss"
                    else
                        res="$res,\"loaded_error\":\"1,000 connections: $(printf '%s' "$c" |
                            tr -d '"{}' | cut -c1-80)\""
                    fi
                fi
            fi
            kill -0 "$SPID" 2>/dev/null || res="$res,\"error\":\"$srv died\""
            record W5 "$srv" footprint "$r" "$res}"
            stop_server
        done
    done
fi

# ------------------------------------------------------------------ W6 ----
# partition scaling: W2 (100 B, acks=1, one producer) over 1, 10, 100, 1,000 partitions.
if wanted W6; then
    W6TO=$(awk -v d="$W6_DUR" 'BEGIN { printf "%d", d + 90 }')
    for r in $(seq 1 "$RUNS"); do
        for p in 1 10 100 1000; do
            for srv in eddyd mock; do
                want $srv || continue
                one W6 $srv "$p" "$r" $srv "$W6TO" produce --topic "w6p${p}r$r" --partitions "$p" \
                    --producers 1 --size 100 --acks 1 --linger $LINGER_MS --seconds "$W6_DUR" \
                    --warmup "$WARM"
            done
        done
    done
fi

# ------------------------------------------------------------------ onramp ----
# issue 16: eddy-cdc lag (1k / 10k rows/s) and max rows/s, HTTP produce vs Kafka (1 KiB,
# acks=all), eddy-push deliveries/s (1 / 100 keys). Needs PostgreSQL for the CDC part
# (scripts/pg.sh). Appends its rows to runs.jsonl (w "onramp": the report's table and targets)
# and writes the details to $OUT/onramp.json.
if wanted onramp; then
    progress "onramp: eddy-cdc and eddy-push"
    [ -t 2 ] && echo >&2
    EDDY_BUILD_DIR="$BUILD" EDDYD="$EDDYD" python3 "$here/bench/onramp/bench_onramp.py" \
        --out "$OUT" --runs-file "$RUNS_FILE" --run 1 $([ $QUICK = 1 ] && echo --quick) ||
        echo "bench: onramp failed" >&2
fi

# ------------------------------------------------------------------ ES ----
# libeddy's event store, projections and sagas on SQLite (and PostgreSQL when one answers at
# EDDY_BENCH_PG, default the test server): appends/s, aggregate loads, projection rebuild
# rate, sagas/s. Figures only; printed and kept in $OUT/es.txt and $OUT/es.jsonl.
if wanted ES; then
    if [ -x "$BIN/eddy-bench-es" ]; then
        q=(); [ $QUICK = 1 ] && q=(--quick)
        : > "$OUT/es.jsonl"; : > "$OUT/es.txt"
        progress "ES · event store, projection, sagas · SQLite"
        EDDY_BUILD_DIR="$BUILD" EDDYD="$EDDYD" timeout 900 "$BIN/eddy-bench-es" "${q[@]}" \
            2>>"$LOG" | tee -a "$OUT/es.txt" | grep '^{' >> "$OUT/es.jsonl"
        PGURL="${EDDY_BENCH_PG:-postgresql://eddy:eddy@127.0.0.1:5432/eddy}"
        if command -v psql >/dev/null && psql "$PGURL" -qc 'SELECT 1' >/dev/null 2>&1; then
            progress "ES · event store, projection, sagas · PostgreSQL"
            EDDY_BUILD_DIR="$BUILD" EDDYD="$EDDYD" timeout 900 "$BIN/eddy-bench-es" "${q[@]}" \
                --postgres "$PGURL" 2>>"$LOG" | tee -a "$OUT/es.txt" | grep '^{' >> "$OUT/es.jsonl"
        fi
        [ -t 2 ] && echo >&2
        grep -v '^{' "$OUT/es.txt" >&2
    else
        echo "bench: eddy-bench-es not built: no ES figures" >&2
    fi
fi

# ------------------------------------------------------------------ W7 / W8 ----
# issue 18: libeddy's outbox relay (W7) and idempotent handlers (W8), SQLite and PostgreSQL
# (EDDY_BENCH_PG, default the test server, when it answers), each beside the same database's
# own commit rate measured in the same run (bench/README.md "W7-W9").
PGURL="${EDDY_BENCH_PG:-postgresql://eddy:eddy@127.0.0.1:5432/eddy}"
pg_up() { command -v psql >/dev/null && psql "$PGURL" -qc 'SELECT 1' >/dev/null 2>&1; }
patterns() { # patterns W MODE ARGS...
    local w=$1 mode=$2 r db
    shift 2
    for r in $(seq 1 "$RUNS"); do
        for db in sqlite postgres; do
            local dbarg=()
            if [ $db = postgres ]; then
                if ! pg_up; then
                    record "$w" postgres "$mode" "$r" '{"error":"PostgreSQL not reachable"}'
                    continue
                fi
                dbarg=(--postgres "$PGURL")
            fi
            progress "$w $mode · $db · run $r/$RUNS"
            if [ ! -x "$BIN/eddy-bench-patterns" ]; then
                record "$w" "$db" "$mode" "$r" '{"error":"eddy-bench-patterns not built"}'
                continue
            fi
            record "$w" "$db" "$mode" "$r" "$(EDDYD="$EDDYD" runj 900 \
                "$BIN/eddy-bench-patterns" "$mode" "${dbarg[@]}" "$@")"
        done
    done
}
if [ $QUICK = 1 ]; then W7_ARGS=(--seconds 2); W8_ARGS=(--events 20000)
else W7_ARGS=(--seconds 8); W8_ARGS=(--events 1000000); fi
wanted W7 && patterns W7 w7 --batch 100 "${W7_ARGS[@]}"
wanted W8 && patterns W8 w8 --batch 100 "${W8_ARGS[@]}"
# ------------------------------------------------------------------ W9 ----
# issue 18: the reference system (eddyd + order, payment, inventory, notification) under load
# from 32 HTTP clients (bench/w9.py, eddy-bench-orders): the closed-loop maximum, then open
# loops at 25/50/75% of it; SQLite, and PostgreSQL when it answers. One run per database
# (EDDY_BENCH_W9_RUNS): a run is ~3 min (--quick ~1 min).
if wanted W9; then
    W9_RUNS=${EDDY_BENCH_W9_RUNS:-1}
    for r in $(seq 1 "$W9_RUNS"); do
        for db in sqlite postgres; do
            if [ $db = postgres ] && ! pg_up; then
                record W9 postgres w9 "$r" '{"error":"PostgreSQL not reachable"}'
                continue
            fi
            if [ ! -x "$BIN/eddy-bench-orders" ]; then
                record W9 "$db" w9 "$r" '{"error":"eddy-bench-orders not built"}'
                continue
            fi
            progress "W9 reference system · $db · run $r/$W9_RUNS"
            record W9 "$db" w9 "$r" "$(EDDY_BUILD_DIR="$BUILD" EDDYD="$EDDYD" runj 900 \
                python3 "$here/bench/w9.py" --db $db $([ $QUICK = 1 ] && echo --quick))"
        done
    done
fi
# ------------------------------------------------------------------ TXN ----
# Transactions (issue 14): transactional produce at 100 and 10,000 records per transaction
# against non-transactional produce, read_committed against read_uncommitted read-back, all on
# one eddyd in the same run. Figures in $OUT/txn.txt and $OUT/txn.jsonl.
if wanted TXN; then
    if [ -x "$BIN/eddy-bench-txn" ]; then
        # the full run writes 1 GB per produce mode: a 200 MB run lasts ~1 s, too short to
        # judge a ratio on a disk whose fsync pace swings between runs
        q=(--records 1000000); [ $QUICK = 1 ] && q=(--quick)
        progress "TXN · transactional produce, read_committed read-back"
        EDDY_BUILD_DIR="$BUILD" EDDYD="$EDDYD" timeout 900 "$BIN/eddy-bench-txn" "${q[@]}" \
            2>"$OUT/txn.txt" > "$OUT/txn.jsonl"
        [ -t 2 ] && echo >&2
        grep -v '^%' "$OUT/txn.txt" >&2
    else
        echo "bench: eddy-bench-txn not built: no TXN figures" >&2
    fi
fi

# ------------------------------------------------------------------ TLS ----
# Security (issue 13): W2 (1 KiB produce) and W3 (catch-up read) over SASL_SSL against PLAINTEXT
# on one eddyd in the same run, and new SASL_SSL connections per second (bench/tls.sh; its
# whole output in $OUT/tls.txt). Judged: TLS produce >= 0.7x and TLS read >= 0.5x plaintext.
if wanted TLS; then
    progress "TLS · W2/W3 over SASL_SSL against PLAINTEXT, SASL_SSL handshakes/s"
    q=(); [ $QUICK = 1 ] && q=(--quick)
    printf '+ bench/tls.sh %s\n' "${q[*]}" >> "$LOG"
    BUILD="$BUILD" EDDYD="$EDDYD" timeout 900 bash "$here/bench/tls.sh" "${q[@]}" \
        > "$OUT/tls.txt" 2>>"$LOG" || echo "bench: bench/tls.sh failed (see $OUT/tls.txt)" >&2
    for cell in "W2 plaintext" "W2 sasl_ssl" "W3 plaintext" "W3 sasl_ssl"; do
        set -- $cell
        record TLS eddyd "${1}_$2" 1 "$(grep -m1 "^$cell " "$OUT/tls.txt" | sed "s/^$cell *//")"
    done
    record TLS eddyd handshakes 1 "$(grep -m1 '"sasl_ssl_handshakes"' "$OUT/tls.txt")"
    set --
fi

progress "done; writing the report"
[ -t 2 ] && echo >&2
python3 "$here/bench/report.py" --runs "$RUNS_FILE" --out "$OUT" --mode "$MODE_NAME" \
    --linger "$LINGER_MS"
