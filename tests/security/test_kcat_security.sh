#!/usr/bin/env bash
# test_kcat_security — kcat 1.7 (librdkafka 2.0.2) against eddyd's secured listeners:
#   * SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: produce, then consume every
#     record back exactly;
#   * a wrong password and an unknown user: "Authentication failure" with the broker's message,
#     nothing produced;
#   * SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512, SSL with a client certificate: produce and
#     consume; a wrong password over TLS and a certificate from another CA fail.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"

CERTS="$EDDY_IT_TMP/certs"
bash "$(dirname "$0")/make_certs.sh" "$CERTS"
export EDDY_BOOTSTRAP_USER='admin:kc-pass'
eddyd_start --set listeners=SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0 \
    --set super.users=User:admin --set "ssl.keystore.location=$CERTS/broker.pem" \
    --set "ssl.truststore.location=$CERTS/ca.pem" --set ssl.client.auth=requested
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
    grep -q "Authentication failure" <<<"$out" || fail "$case: no authentication error: $out"
    grep -qE "invalid credentials|Invalid username or password" <<<"$out" \
        || fail "$case: no message from the broker: $out"
    pass "rejected: $case"
done
got=$(kc PLAIN admin kc-pass -C -t kc-sasl -o beginning -e -q | grep -c never || true)
[ "$got" = 0 ] || fail "a rejected producer's record was stored"
pass "nothing stored by rejected clients"

port_of() { grep -oP "listener $1 \\($1\\) on 127\\.0\\.0\\.1:\\K[0-9]+" "$EDDYD_LOG" | tail -n1; }
SASL_SSL_PORT=$(port_of SASL_SSL)
SSL_PORT=$(port_of SSL)
kcs() { # mech password kcat-args...  (SASL_SSL)
    local mech=$1 pw=$2
    shift 2
    timeout 30 kcat -b "127.0.0.1:$SASL_SSL_PORT" -X security.protocol=SASL_SSL \
        -X "ssl.ca.location=$CERTS/ca.pem" -X "sasl.mechanisms=$mech" -X sasl.username=admin \
        -X "sasl.password=$pw" "$@"
}
kct() { # cert-name kcat-args...  (SSL with a client certificate)
    local who=$1
    shift
    timeout 30 kcat -b "127.0.0.1:$SSL_PORT" -X security.protocol=SSL \
        -X "ssl.ca.location=$CERTS/ca.pem" -X "ssl.certificate.location=$CERTS/$who.pem" \
        -X "ssl.key.location=$CERTS/$who.key" "$@"
}
for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    printf '%s-tls\n' "$mech" | kcs "$mech" kc-pass -P -t kc-tls || fail "SASL_SSL $mech: produce"
    pass "sasl_ssl $mech produce"
done
echo cert-tls | kct alice -P -t kc-tls || fail "SSL client certificate: produce"
pass "ssl client certificate produce"
got=$(kct alice -C -t kc-tls -o beginning -e -q)
[ "$got" = $'SCRAM-SHA-256-tls\nSCRAM-SHA-512-tls\ncert-tls' ] || fail "TLS consume: got '$got'"
got=$(kcs SCRAM-SHA-512 kc-pass -C -t kc-tls -o beginning -e -q)
[ "$got" = $'SCRAM-SHA-256-tls\nSCRAM-SHA-512-tls\ncert-tls' ] || fail "SASL_SSL consume: '$got'"
pass "tls consume exact (SSL and SASL_SSL)"
out=$(echo never | kcs SCRAM-SHA-256 wrong -P -t kc-tls -X message.timeout.ms=3000 2>&1) \
    && fail "SASL_SSL wrong password: produce succeeded"
grep -q "invalid credentials" <<<"$out" || fail "SASL_SSL wrong password: $out"
pass "rejected: SASL_SSL wrong password"
out=$(echo never | kct mallory -P -t kc-tls -X message.timeout.ms=3000 2>&1) \
    && fail "certificate from another CA: produce succeeded"
grep -qiE "alert|certificate|SSL" <<<"$out" || fail "other CA: no TLS error: $out"
for _ in $(seq 50); do # the alert reaches the client before the broker writes its log line
    grep -q "client certificate: unable to get local issuer certificate" "$EDDYD_LOG" && break
    sleep 0.1
done
grep -q "client certificate: unable to get local issuer certificate" "$EDDYD_LOG" \
    || fail "other CA: no broker log line"
pass "rejected: certificate from another CA"
got=$(kct alice -C -t kc-tls -o beginning -e -q | grep -c never || true)
[ "$got" = 0 ] || fail "a rejected TLS client's record was stored"
pass "nothing stored by rejected TLS clients"
echo "$ok passed, 0 failed"
