#!/usr/bin/env bash
# test_sarama — Shopify's sarama 1.22.1 (Go; Debian's golang-github-shopify-sarama-dev), the
# fourth client family, against one real eddyd with four listeners:
#   * PLAINTEXT, the everyday calls (sarama_client -mode everyday): admin create/describe/list
#     topics and configs, an idempotent keyed producer with headers, a consumer group that reads
#     every record once in per-key order and commits, the committed offsets through the admin
#     API, a second session resuming there, gzip/snappy/lz4/zstd read back exactly;
#   * SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, SASL_SSL with both SCRAMs,
#     SSL with a client certificate: produce and read back;
#   * refused: a wrong password, an unknown user (each mechanism), a wrong password over TLS,
#     on the SSL listener (listener.name.ssl.ssl.client.auth=required, a per-listener override;
#     SASL_SSL asks for no certificate) a certificate from another CA and no certificate, a
#     broker certificate the client does not trust — and nothing they sent is stored.
set -euo pipefail
. "$(dirname "$0")/../harness/eddyd.sh"

SARAMA=${SARAMA_CLIENT:-$EDDY_BUILD_DIR/tests/clients/sarama_client}
[ -x "$SARAMA" ] || fail "sarama_client not built at $SARAMA"
CERTS="$EDDY_IT_TMP/certs"
bash "$(dirname "$0")/../security/make_certs.sh" "$CERTS"
export EDDY_BOOTSTRAP_USER='admin:sa-pass'
eddyd_start --set listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0 \
    --set super.users=User:admin --set "ssl.keystore.location=$CERTS/broker.pem" \
    --set "ssl.truststore.location=$CERTS/ca.pem" --set listener.name.ssl.ssl.client.auth=required
unset EDDY_BOOTSTRAP_USER
port_of() { grep -oP "listener $1 \\($1\\) on 127\\.0\\.0\\.1:\\K[0-9]+" "$EDDYD_LOG" | tail -n1; }
declare -A PORT
for l in PLAINTEXT SASL_PLAINTEXT SASL_SSL SSL; do
    PORT[$l]=$(port_of $l)
    [ -n "${PORT[$l]}" ] || fail "no $l listener in the log"
done

run() { # what sarama_client-args...
    local what=$1
    shift
    timeout 120 "$SARAMA" "$@" || fail "sarama: $what"
}

run everyday -mode everyday -brokers "127.0.0.1:${PORT[PLAINTEXT]}" -topic sa-everyday

for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
    run "SASL_PLAINTEXT $mech" -mode secure -brokers "127.0.0.1:${PORT[SASL_PLAINTEXT]}" \
        -protocol SASL_PLAINTEXT -mechanism $mech -user admin -password sa-pass -topic sa-secure
done
for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    run "SASL_SSL $mech" -mode secure -brokers "127.0.0.1:${PORT[SASL_SSL]}" -protocol SASL_SSL \
        -mechanism $mech -user admin -password sa-pass -ca "$CERTS/ca.pem" -topic sa-secure
done
run "SSL client certificate" -mode secure -brokers "127.0.0.1:${PORT[SSL]}" -protocol SSL \
    -ca "$CERTS/ca.pem" -cert "$CERTS/alice.pem" -key "$CERTS/alice.key" -topic sa-secure

refused() { # what client-error-regex broker-log-regex|- sarama_client-args...
    local what=$1 re=$2 logre=$3
    shift 3
    local out before
    before=$(grep -ciE "$logre" "$EDDYD_LOG" || true)
    out=$(timeout 120 "$SARAMA" -mode secure -expect-fail -topic sa-secure "$@" 2>&1) \
        || fail "sarama: $what: $out"
    echo "$out"
    grep -qiE "$re" <<<"$out" || fail "$what: not the expected error: $out"
    [ "$logre" = - ] && return 0
    # sarama reports a failed TLS handshake only as "run out of available brokers": the
    # broker's log says why
    for _ in $(seq 50); do
        [ "$(grep -ciE "$logre" "$EDDYD_LOG" || true)" -gt "$before" ] && return 0
        sleep 0.1
    done
    fail "$what: the broker logged no '$logre'"
}
AUTH="SASL Authentication failed"
for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
    refused "$mech wrong password" "$AUTH" - \
        -brokers "127.0.0.1:${PORT[SASL_PLAINTEXT]}" -protocol SASL_PLAINTEXT -mechanism $mech \
        -user admin -password wrong
    refused "$mech unknown user" "$AUTH" - \
        -brokers "127.0.0.1:${PORT[SASL_PLAINTEXT]}" -protocol SASL_PLAINTEXT -mechanism $mech \
        -user nobody -password x
done
refused "SASL_SSL wrong password" "$AUTH" - \
    -brokers "127.0.0.1:${PORT[SASL_SSL]}" -protocol SASL_SSL -mechanism SCRAM-SHA-512 \
    -user admin -password wrong -ca "$CERTS/ca.pem"
# Go's TLS client offers a certificate only if the server's CA list names its issuer: mallory's
# is not offered, and the listener that requires one refuses the connection
NOCERT="TLS handshake: peer did not return a certificate"
NOBROKER="run out of available brokers"
refused "certificate from another CA" "$NOBROKER" "$NOCERT" \
    -brokers "127.0.0.1:${PORT[SSL]}" -protocol SSL -ca "$CERTS/ca.pem" \
    -cert "$CERTS/mallory.pem" -key "$CERTS/mallory.key"
refused "SSL without a client certificate (listener.name.ssl.ssl.client.auth=required)" \
    "$NOBROKER" "$NOCERT" -brokers "127.0.0.1:${PORT[SSL]}" -protocol SSL -ca "$CERTS/ca.pem"
refused "broker certificate not trusted" "$NOBROKER" "TLS handshake: .*alert bad certificate" \
    -brokers "127.0.0.1:${PORT[SASL_SSL]}" -protocol SASL_SSL -mechanism SCRAM-SHA-256 \
    -user admin -password sa-pass -ca "$CERTS/other-ca.pem"

# nothing from a refused client reached the log: 6 accepted clients x 3 records
n=$(kcat -b "127.0.0.1:${PORT[PLAINTEXT]}" -C -t sa-secure -p 0 -o beginning -e -q | wc -l)
[ "$n" = 18 ] || fail "sa-secure holds $n records, want 18 (6 accepted clients x 3)"
echo "PASS nothing stored by refused clients (18 records = 6 accepted clients x 3)"
echo "sarama: all passed"
