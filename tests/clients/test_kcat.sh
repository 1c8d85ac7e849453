#!/usr/bin/env bash
# test_kcat — scenario 1: kcat 1.7 (librdkafka 2.0.2) against a real eddyd.
#   * `kcat -L` lists the one broker at the advertised 127.0.0.1:PORT and the topics;
#   * keyed produce (-K delimiter and fixed -k key) with headers (-H), explicit partitions;
#   * NULL keys and values (-Z), the -J envelope, offsets by time (-Q);
#   * consume from the beginning (-o beginning -e) with exact content, order and offsets;
#   * a 3-partition topic (num.partitions=3) shows all partitions with leader = the broker.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"

eddyd_start --set num.partitions=3
KC=(kcat -b "$BOOTSTRAP" -X reconnect.backoff.ms=20 -X topic.metadata.refresh.interval.ms=500)
ok=0

check_eq() { # name expected actual
    if [ "$2" != "$3" ]; then
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
    echo "PASS $1"
    ok=$((ok + 1))
}

# -- metadata before any topic: exactly one broker, at the address we connected to
meta=$(timeout 30 "${KC[@]}" -L)
echo "$meta"
nb=$(echo "$meta" | grep -cE '^ +broker [0-9]+ at ' || true)
check_eq "metadata: one broker" 1 "$nb"
grep -qE "^ +broker [0-9]+ at 127\.0\.0\.1:$EDDYD_PORT" <<<"$meta" \
    || fail "metadata: broker is not advertised at 127.0.0.1:$EDDYD_PORT"
echo "PASS metadata: broker advertised at 127.0.0.1:$EDDYD_PORT"
node_id=$(echo "$meta" | grep -oP '^ +broker \K[0-9]+' | head -n1)

# -- keyed produce with -K, headers with -H, to partition 0; then consume it back exactly
printf 'k1:first value\nk2:second:with colon\nk3:\xc3\xa9t\xc3\xa9 utf-8\nk1:again k1\n' |
    timeout 30 "${KC[@]}" -P -t kc-keyed -p 0 -K: -H trace=abc -H kind=test
want=$'k1 first value trace=abc,kind=test\nk2 second:with colon trace=abc,kind=test\nk3 \xc3\xa9t\xc3\xa9 utf-8 trace=abc,kind=test\nk1 again k1 trace=abc,kind=test'
got=$(timeout 30 "${KC[@]}" -C -t kc-keyed -p 0 -o beginning -e -q -f '%k %s %h\n')
check_eq "produce -K -H / consume -f '%k %s %h'" "$want" "$got"

got=$(timeout 30 "${KC[@]}" -C -t kc-keyed -p 0 -o beginning -e -q -f '%p %o %k\n')
check_eq "offsets contiguous from 0" $'0 0 k1\n0 1 k2\n0 2 k3\n0 3 k1' "$got"

# -- fixed key (-k) and a second produce run appends after the first
printf 'a\nb\nc\n' | timeout 30 "${KC[@]}" -P -t kc-keyed -p 0 -k fixed -H h=v
got=$(timeout 30 "${KC[@]}" -C -t kc-keyed -p 0 -o 4 -e -q -f '%o %k %s %h\n')
check_eq "produce -k fixed appends at offset 4" $'4 fixed a h=v\n5 fixed b h=v\n6 fixed c h=v' "$got"

# -- consume from an absolute offset and from the end-relative offset
got=$(timeout 30 "${KC[@]}" -C -t kc-keyed -p 0 -o -2 -e -q -f '%o %s\n')
check_eq "consume -o -2 (two before the end)" $'5 b\n6 c' "$got"

# -- NULL key and NULL value (tombstone) with -Z survive the round trip (record length -1)
printf ':nokey\nk:\nk2:v2\n' | timeout 30 "${KC[@]}" -P -Z -K: -t kc-null -p 0
got=$(timeout 30 "${KC[@]}" -C -Z -t kc-null -p 0 -o beginning -e -q -f '%k|%s|%K|%S\n')
check_eq "NULL key / NULL value (-Z)" $'NULL|nokey|-1|5\nk|NULL|1|-1\nk2|v2|2|2' "$got"
got=$(timeout 30 "${KC[@]}" -C -t kc-null -p 0 -o beginning -e -q -J |
      sed -E 's/"ts":[0-9]+/"ts":T/')
want='{"topic":"kc-null","partition":0,"offset":0,"tstype":"create","ts":T,"broker":'"$node_id"',"key":null,"payload":"nokey"}'
check_eq "JSON envelope (-J) of the first record" "$want" "$(echo "$got" | head -n1)"

# -- offsets by time (-Q, ListOffsets): first offset whose timestamp >= t; none → -1
printf 'a\nb\n' | timeout 30 "${KC[@]}" -P -t kc-time -p 0
last_ts=$(timeout 30 "${KC[@]}" -C -t kc-time -p 0 -o -1 -e -q -f '%T\n')
until [ "$(date +%s%3N)" -gt "$last_ts" ]; do sleep 0.001; done
t=$(date +%s%3N)
printf 'c\n' | timeout 30 "${KC[@]}" -P -t kc-time -p 0
got=$(for ts in 0 "$t" 99999999999999; do timeout 30 "${KC[@]}" -Q -t "kc-time:0:$ts"; done)
check_eq "kcat -Q offsets for times 0, t, future" \
    $'kc-time [0] offset 0\nkc-time [0] offset 2\nkc-time [0] offset -1' "$got"

# -- multi-partition topic: 200 messages, 4 per key, spread by key; per-partition order kept
for i in $(seq 0 199); do printf 'key%d:value-%03d\n' $((i % 50)) "$i"; done |
    timeout 30 "${KC[@]}" -P -t kc-multi -K:
meta=$(timeout 30 "${KC[@]}" -L -t kc-multi)
echo "$meta"
grep -q 'topic "kc-multi" with 3 partitions' <<<"$meta" || fail "kc-multi does not show 3 partitions"
for p in 0 1 2; do
    grep -qE "partition $p, leader $node_id, replicas: $node_id, isrs: $node_id" <<<"$meta" \
        || fail "partition $p of kc-multi: leader/replicas/isrs are not broker $node_id"
done
echo "PASS metadata: kc-multi has 3 partitions led by broker $node_id"
ok=$((ok + 1))
all=$(timeout 60 "${KC[@]}" -C -t kc-multi -o beginning -e -q -f '%p %k %s\n')
check_eq "all 200 messages back" 200 "$(echo "$all" | wc -l)"
check_eq "no duplicates" 200 "$(echo "$all" | sort -u | wc -l)"
# Each key lands in exactly one partition, and within a partition values keep produce order.
keyparts=$(echo "$all" | awk '{print $2, $1}' | sort -u | awk '{print $1}' | uniq -d | wc -l)
check_eq "each key in one partition" 0 "$keyparts"
for p in 0 1 2; do
    vals=$(echo "$all" | awk -v p="$p" '$1 == p {print $3}')
    check_eq "partition $p in produce order" "$(echo "$vals" | sort)" "$vals"
done
parts_used=$(echo "$all" | awk '{print $1}' | sort -u | wc -l)
[ "$parts_used" -ge 2 ] || fail "keys landed in only $parts_used partition(s)"

# -- the listing now shows the topics
meta=$(timeout 30 "${KC[@]}" -L)
grep -q 'topic "kc-keyed" with 3 partitions' <<<"$meta" || fail "kc-keyed missing from -L"
grep -q 'topic "kc-multi" with 3 partitions' <<<"$meta" || fail "kc-multi missing from -L"
echo "PASS metadata lists both topics"
ok=$((ok + 1))

eddyd_stop
echo "$ok passed, 0 failed"
