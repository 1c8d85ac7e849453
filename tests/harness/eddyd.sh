# eddyd.sh — integration-test launcher for shell tests (source it; bash, set -euo pipefail).
#
# Starts a real eddyd on 127.0.0.1 with a fresh temp data dir, waits for its ready line
# ("listening on 127.0.0.1:PORT"), and exposes $EDDYD_PORT / $BOOTSTRAP. The same conventions
# are implemented by eddyd.py (Python), eddyd.js (Node) and eddyd_harness.h (C).
#
#   eddyd_start [--set k=v ...]   first start: --listen 127.0.0.1:0, remembers the args
#   eddyd_stop                    SIGTERM; fails unless eddyd exits 0 within 30 s
#   eddyd_kill                    SIGKILL, reaped
#   eddyd_restart                 same data dir, same port, same args
#   eddyd_bg CMD...               run a helper process in the background, killed at exit
#                                 (exec the real program so that $! is its pid)
#   fail MSG                      print MSG and the broker log tail, exit 1
#
# Binary: $EDDYD, else $EDDY_BUILD_DIR/src/eddyd/eddyd. Missing binary = test failure.
# Every process started here is killed by the EXIT trap, and eddyd also gets SIGKILL from the
# kernel if this shell dies (setpriv --pdeathsig).

EDDY_IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-it-XXXXXX")
EDDYD_DATA="$EDDY_IT_TMP/data"
EDDYD_PID=""
EDDYD_PORT=0
EDDYD_NSTART=0
EDDYD_LOG=""
EDDYD_ARGS=()
EDDY_IT_BG=()
BOOTSTRAP=""

eddyd_bin() {
    if [ -n "${EDDYD:-}" ] && [ -x "$EDDYD" ]; then
        echo "$EDDYD"
    elif [ -n "${EDDY_BUILD_DIR:-}" ] && [ -x "$EDDY_BUILD_DIR/src/eddyd/eddyd" ]; then
        echo "$EDDY_BUILD_DIR/src/eddyd/eddyd"
    else
        echo "harness: eddyd not found (EDDYD='${EDDYD:-}'," \
             "EDDY_BUILD_DIR='${EDDY_BUILD_DIR:-}'/src/eddyd/eddyd)" >&2
        return 1
    fi
}

eddy_it_cleanup() {
    local rc=$?
    set +e
    for p in "${EDDY_IT_BG[@]}"; do kill -TERM "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    if [ -n "$EDDYD_PID" ]; then kill -9 "$EDDYD_PID" 2>/dev/null; wait "$EDDYD_PID" 2>/dev/null; fi
    if [ "$rc" -ne 0 ] && [ -n "$EDDYD_LOG" ]; then
        echo "---- last eddyd log ($EDDYD_LOG) ----" >&2
        tail -n 40 "$EDDYD_LOG" >&2
    fi
    if [ "$rc" -eq 0 ] || [ "${EDDY_IT_KEEP:-0}" != "1" ]; then rm -rf "$EDDY_IT_TMP"; fi
    exit "$rc"
}
trap eddy_it_cleanup EXIT
trap 'exit 143' TERM INT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# proc_gone PID — true once PID has exited (zombie or reaped).
proc_gone() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [ -z "$st" ] || [ "$st" = "Z" ]
}

eddyd_launch() {
    local bin port
    bin=$(eddyd_bin) || exit 1
    EDDYD_NSTART=$((EDDYD_NSTART + 1))
    EDDYD_LOG="$EDDY_IT_TMP/eddyd-$EDDYD_NSTART.log"
    # --http off unless the test's own args set one (the default 8081 would collide)
    setpriv --pdeathsig KILL "$bin" --data-dir "$EDDYD_DATA" --listen "127.0.0.1:$EDDYD_PORT" \
        --http off "${EDDYD_ARGS[@]}" >"$EDDYD_LOG" 2>&1 &
    EDDYD_PID=$!
    local deadline=$((SECONDS + 60)) p=""
    while [ $SECONDS -lt $deadline ]; do
        p=$(grep -oP '(?<!http )listening on 127\.0\.0\.1:\K[0-9]+' "$EDDYD_LOG" | head -n1 || true)
        if [ -n "$p" ]; then
            if [ "$EDDYD_PORT" != 0 ] && [ "$p" != "$EDDYD_PORT" ]; then
                fail "eddyd restarted on port $p, asked for $EDDYD_PORT"
            fi
            EDDYD_PORT=$p
            BOOTSTRAP="127.0.0.1:$p"
            return 0
        fi
        if proc_gone "$EDDYD_PID"; then
            local rc=0
            wait "$EDDYD_PID" || rc=$?
            EDDYD_PID=""
            fail "eddyd exited with status $rc during start-up"
        fi
        sleep 0.05
    done
    fail "eddyd did not print its ready line within 60 s"
}

eddyd_start() {
    EDDYD_ARGS=("$@")
    EDDYD_PORT=0
    eddyd_launch
}

eddyd_restart() {
    [ -z "$EDDYD_PID" ] || eddyd_stop
    eddyd_launch
}

eddyd_stop() {
    [ -n "$EDDYD_PID" ] || return 0
    kill -TERM "$EDDYD_PID"
    local deadline=$((SECONDS + 30))
    while ! proc_gone "$EDDYD_PID"; do
        if [ $SECONDS -ge $deadline ]; then
            kill -9 "$EDDYD_PID" 2>/dev/null || true
            wait "$EDDYD_PID" 2>/dev/null || true
            EDDYD_PID=""
            fail "eddyd did not exit within 30 s of SIGTERM"
        fi
        sleep 0.05
    done
    local rc=0
    wait "$EDDYD_PID" || rc=$?
    EDDYD_PID=""
    [ "$rc" -eq 0 ] || fail "eddyd exited with status $rc after SIGTERM (expected 0)"
}

eddyd_kill() {
    [ -n "$EDDYD_PID" ] || return 0
    kill -9 "$EDDYD_PID" 2>/dev/null || true
    wait "$EDDYD_PID" 2>/dev/null || true
    EDDYD_PID=""
}

eddyd_bg() {
    "$@" &
    EDDY_IT_BG+=("$!")
}
