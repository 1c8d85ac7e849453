#!/usr/bin/env bash
# test_loopback_cc — socket.loopback.congestion.control: connections from this host get the
# configured TCP congestion control (default cubic: BBR's pacing halves what a loopback socket
# sends, bench/README.md), an empty value keeps the system's, and a name the kernel does not
# know is logged once while the connection still works. Reads the broker-side socket with `ss`.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"
command -v ss >/dev/null || fail "ss (iproute2) is not installed"

# holds a connection open for 3 s after one Metadata round trip; writes its own port to
# $HOLD_PORT_FILE so only that connection is inspected (tests running beside this one have
# loopback connections of their own)
HOLD_PORT_FILE=$(mktemp)
hold() {
    : > "$HOLD_PORT_FILE"
    /usr/bin/python3 - "$EDDYD_PORT" "$HOLD_PORT_FILE" <<'PY' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write(str(s.getsockname()[1]))
body = struct.pack(">hhih", 3, 1, 7, 4) + b"test" + struct.pack(">i", -1)  # Metadata v1, all topics
s.sendall(struct.pack(">i", len(body)) + body)
n = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
s.recv(n, socket.MSG_WAITALL)
time.sleep(3)
PY
    HOLD_PID=$!
}

# the congestion control of eddyd's side of the held connection (source port = EDDYD_PORT)
broker_cc() {
    local i out cport
    for i in $(seq 1 50); do
        cport=$(cat "$HOLD_PORT_FILE" 2>/dev/null)
        if [ -z "$cport" ]; then sleep 0.05; continue; fi
        out=$(ss -tinH state established "( sport = :$EDDYD_PORT and dport = :$cport )" \
              2>/dev/null | tr '\n' ' ')
        for cc in cubic reno bbr htcp vegas westwood dctcp; do
            case " $out " in *" $cc "*) echo "$cc"; return 0 ;; esac
        done
        sleep 0.05
    done
    fail "no established broker-side socket on port $EDDYD_PORT (ss: $out)"
}

check() { # label expected
    hold
    local got
    got=$(broker_cc)
    kill "$HOLD_PID" 2>/dev/null || true
    wait "$HOLD_PID" 2>/dev/null || true
    [ "$got" = "$2" ] || fail "$1: broker socket uses $got, expected $2"
    echo "PASS $1: broker side of a loopback connection uses $got"
}

eddyd_start
check "default" cubic
eddyd_stop

eddyd_start --set socket.loopback.congestion.control=reno
check "reno configured" reno
eddyd_stop

sys_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
eddyd_start --set socket.loopback.congestion.control=
check "empty: the system's ($sys_cc)" "$sys_cc"
eddyd_stop

eddyd_start --set socket.loopback.congestion.control=no-such-cc
check "unknown name: the system's ($sys_cc)" "$sys_cc"
grep -q "socket.loopback.congestion.control=no-such-cc" "$EDDYD_LOG" ||
    fail "an unknown congestion control was not logged"
n=$(grep -c "socket.loopback.congestion.control=no-such-cc" "$EDDYD_LOG")
hold; wait "$HOLD_PID" 2>/dev/null || true
[ "$(grep -c "socket.loopback.congestion.control=no-such-cc" "$EDDYD_LOG")" = "$n" ] ||
    fail "the warning repeats per connection"
echo "PASS unknown congestion control: logged once, connections still served"
eddyd_stop
