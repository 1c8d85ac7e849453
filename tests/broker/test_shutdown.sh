#!/usr/bin/env bash
# test_shutdown — scenario 8: graceful shutdown. eddyd gets SIGTERM while a consumer holds an
# open connection with a long-poll Fetch parked and exits 0 (within the harness's 30 s guard);
# the restarted broker (same port, same data dir) serves every record written before, new
# writes continue at the right offsets, and a second stop/start cycle changes nothing.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"

eddyd_start --set num.partitions=2
KC=(kcat -b "$BOOTSTRAP" -X reconnect.backoff.ms=20)

produce() { # topic partition first last
    for i in $(seq "$3" "$4"); do printf 'k%d:v%05d\n' "$i" "$i"; done |
        timeout 60 "${KC[@]}" -P -t "$1" -p "$2" -K: -H "n=$2"
}
expect() { # topic partition first last
    for i in $(seq "$3" "$4"); do printf '%d k%d v%05d n=%d\n' $((i - $3)) "$i" "$i" "$2"; done
}
consume() { # topic partition
    timeout 60 "${KC[@]}" -C -t "$1" -p "$2" -o beginning -e -q -f '%o %k %s %h\n'
}
check_all() { # label
    local got
    got=$(consume shut 0)
    [ "$got" = "$(expect shut 0 1 1500)" ] || {
        diff <(expect shut 0 1 1500) <(echo "$got") | head -20 >&2
        fail "$1: partition 0 differs"
    }
    got=$(consume shut 1)
    [ "$got" = "$(expect shut 1 1 700)" ] || {
        diff <(expect shut 1 1 700) <(echo "$got") | head -20 >&2
        fail "$1: partition 1 differs"
    }
    echo "PASS $1: all 2200 records present, in order, at their offsets"
}

produce shut 0 1 1500
produce shut 1 1 700
check_all "before shutdown"

# A consumer that stays connected (no -e): once it reports the end of the partition its next
# Fetch long-polls (fetch.wait.max.ms=2000) at the end of the log while we stop the broker.
eddyd_bg bash -c 'exec "$@" 2>"$0"' "$EDDY_IT_TMP/idle.err" \
    "${KC[@]}" -C -t shut -p 0 -o end -X fetch.wait.max.ms=2000
deadline=$((SECONDS + 30))
until grep -q 'Reached end of topic shut \[0\]' "$EDDY_IT_TMP/idle.err" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "the idle consumer never reached the end of shut [0]"
    sleep 0.05
done

eddyd_stop
echo "PASS SIGTERM with a connected consumer: exit status 0"

eddyd_restart
check_all "after restart"

# Writes continue after the old ones; both partitions remain independent.
printf 'after:restart\n' | timeout 30 "${KC[@]}" -P -t shut -p 1 -K:
got=$(timeout 30 "${KC[@]}" -C -t shut -p 1 -o 700 -e -q -f '%o %k %s\n')
[ "$got" = "700 after restart" ] || fail "new record after restart: got '$got'"
echo "PASS new record lands at offset 700 after restart"

eddyd_stop
eddyd_restart
got=$(timeout 30 "${KC[@]}" -C -t shut -p 1 -o -1 -e -q -f '%o %k %s\n')
[ "$got" = "700 after restart" ] || fail "second restart: last record of partition 1 is '$got'"
[ "$(consume shut 0)" = "$(expect shut 0 1 1500)" ] || fail "second restart: partition 0 differs"
echo "PASS second stop/start: data unchanged"

eddyd_stop
echo "5 passed, 0 failed"
