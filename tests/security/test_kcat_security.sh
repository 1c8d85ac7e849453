#!/usr/bin/env bash
# test_kcat_security — kcat 1.7 (librdkafka 2.0.2) against eddyd's secured listeners:
#   * SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: produce, then consume every
#     record back exactly;
#   * a wrong password and an unknown user: "Authentication failure" with the broker's message,
#     nothing produced.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"

export EDDY_BOOTSTRAP_USER='admin:kc-pass'
eddyd_start --set listeners=SASL_PLAINTEXT://127.0.0.1:0 --set super.users=User:admin
unset EDDY_BOOTSTRAP_USER
ok=0
pass() { echo "PASS $1"; ok=$((ok + 1)); }

kc() { # mech user password kcat-args...
    local mech=$1 user=$2 pw=$3
    shift 3
    timeout 30 kcat -b "$BOOTSTRAP" -X security.protocol=SASL_PLAINTEXT -X "sasl.mechanisms=$mech" \
        -X "sasl.username=$user" -X "sasl.password=$pw" "$@"
}

want=""
for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
    printf '%s-1\n%s-2\n' "$mech" "$mech" | kc "$mech" admin kc-pass -P -t kc-sasl \
        || fail "$mech: produce failed"
    want+="$mech-1"$'\n'"$mech-2"$'\n'
    pass "sasl_plaintext $mech produce"
done
got=$(kc SCRAM-SHA-512 admin kc-pass -C -t kc-sasl -o beginning -e -q)
[ "$got"$'\n' = "$want" ] || fail "consume: got '$got'"
pass "sasl_plaintext consume exact"

for case in "PLAIN admin wrong" "SCRAM-SHA-256 admin wrong" "SCRAM-SHA-512 nobody x" "PLAIN nobody x"; do
    set -- $case
    out=$(echo never | kc "$1" "$2" "$3" -P -t kc-sasl -X message.timeout.ms=3000 2>&1) \
        && fail "$case: produce succeeded"
    echo "$out" | grep -q "Authentication failure" || fail "$case: no authentication error: $out"
    echo "$out" | grep -qE "invalid credentials|Invalid username or password" \
        || fail "$case: no message from the broker: $out"
    pass "rejected: $case"
done
got=$(kc PLAIN admin kc-pass -C -t kc-sasl -o beginning -e -q | grep -c never || true)
[ "$got" = 0 ] || fail "a rejected producer's record was stored"
pass "nothing stored by rejected clients"
echo "$ok passed, 0 failed"
