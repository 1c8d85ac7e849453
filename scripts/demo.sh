#!/usr/bin/env bash
# demo.sh — the reference e-commerce system on the embedded broker (make demo / make demo-check).
# Starts eddyd (or, if eddyd is not built, eddy-mockd: librdkafka's mock cluster) and the four
# services on loopback with SQLite in a temp dir, places orders along the four paths (happy,
# payment declined, out of stock, gateway retry), prints for each order which path it took, where
# it ended and why, then each order's event chain (eddy trace by its correlation id).
# Then event sourcing, CQRS and orchestration: accounts (event-sourced), the same paths plus a
# timeout path through order-orchestrator (a saga), eddy sagas, an account's history replayed to
# its balance, and an order-summary projection rebuilt from the log.
# Interactive: leaves everything running with the URLs printed (Ctrl-C stops).
#   --check   non-interactive: stop everything afterwards, exit 0 only if every order ended in
#             the state its path predicts.
#   --build   first build only what the demo runs (eddyd, eddy, the services), quietly: the
#             compiler's output goes to BUILD/demo-build.log, shown only if the build fails.
# Every process the demo starts stays in the demo's process group (Ctrl-C in the terminal stops
# them all) and gets SIGTERM if the demo itself dies (setpriv --pdeathsig); the temp dir is
# removed on exit (KEEP_TMP=1 keeps it; a failed --check keeps it and says where).
# Environment: EDDY_BUILD_DIR (default build), EDDYD (the eddyd binary), EDDY_BOOTSTRAP_SERVERS
# (use that cluster, start no broker), EDDY_BROKER=eddyd|mock, DEMO_ORDERS (orders per path,
# default 2), DEMO_TIMEOUT (s, default 120).
# SECURE=1 (make demo SECURE=1): the same system over SASL_SSL with SCRAM-SHA-512 and ACLs: a
# test CA and broker certificate made with openssl in the temp dir, an admin from
# EDDY_BOOTSTRAP_USER, one SCRAM user per service with ACLs for exactly the topics it writes and
# reads and its consumer group, the HTTP port on HTTPS with Basic authentication (docs/security.md).
set -uo pipefail
cd "$(dirname "$0")/.."
CHECK=0 BUILD=0
for a in "$@"; do
    case "$a" in
    --check) CHECK=1 ;;
    --build) BUILD=1 ;;
    *) echo "demo: unknown option $a (--check, --build)" >&2; exit 2 ;;
    esac
done
B=${EDDY_BUILD_DIR:-build}
if [ $BUILD = 1 ]; then
    mkdir -p "$B"
    log="$B/demo-build.log"
    echo "demo: configuring and building eddyd, eddy and the four services (log: $log)"
    if ! { cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_TESTS=OFF &&
           cmake --build "$B" -j "$(nproc)" --target eddyd eddy_cli order payment inventory \
                 notification; } >"$log" 2>&1; then
        echo "demo: the build failed; the end of $log:" >&2
        tail -30 "$log" >&2
        exit 1
    fi
    echo "demo: built"
fi
[ -d "$B" ] || { echo "demo: build dir $B missing (make build, or demo.sh --build)" >&2; exit 1; }
B=$(cd "$B" && pwd)
EDDY_CLI=$B/src/cli/eddy
# the same process group as this script (no setsid: Ctrl-C reaches every process), and SIGTERM
# when this script dies, however it dies
if command -v setpriv >/dev/null 2>&1; then CHILD=(setpriv --pdeathsig TERM); else CHILD=(); fi
N=${DEMO_ORDERS:-2}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-demo-XXXXXX")
PIDS=()
BROKER_PID=""

stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
    PIDS=()
    if [ -n "$BROKER_PID" ]; then
        kill -TERM "$BROKER_PID" 2>/dev/null
        for _ in $(seq 1 150); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null
        BROKER_PID=""
    fi
}
cleanup() { stop_all; if type onramp_cleanup >/dev/null 2>&1; then onramp_cleanup; fi; if [ "${KEEP_TMP:-0}" != 1 ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

wait_line() { # file pattern timeout_s pid → prints the matched line's port
    local f=$1 pat=$2 t=$3 pid=$4 i
    for i in $(seq 1 $((t * 10))); do
        if [ -f "$f" ]; then
            local l; l=$(grep -v "http listening" "$f" 2>/dev/null | grep -m1 -o "$pat" || true)
            [ "$pat" = "http listening on 127.0.0.1:[0-9]*" ] && l=$(grep -m1 -o "$pat" "$f" || true)
            if [ -n "$l" ]; then echo "${l##*:}"; return 0; fi
        fi
        kill -0 "$pid" 2>/dev/null || { echo "demo: process for $f exited" >&2; tail -5 "$f" >&2; return 1; }
        sleep 0.1
    done
    echo "demo: timeout waiting for '$pat' in $f" >&2; return 1
}

# ---- SECURE=1: certificates, users, ACLs -----------------------------------------------------
SECURE=${SECURE:-0}
ADMIN_X=()   # the CLI's client settings as the admin (-X ...), empty when not secure
CURL_X=()    # curl's CA and admin credentials for the HTTP port, empty when not secure
declare -A SVC_PW
# topic → partitions for the topics the services use; created up front by the admin
SECURE_TOPICS="order.events payment.events inventory.events notification.events account.commands
account.events inventory.commands order-orchestrator.replies payment.replies"
# service → "topics it writes|topics it reads|group (a trailing - means a prefix)"
declare -A SVC_ACL=(
    [order]="order.events|payment.events inventory.events notification.events order.events|order"
    [payment]="payment.events account.commands|order.events inventory.events payment.replies|payment"
    [inventory]="inventory.events order-orchestrator.replies payment.replies|payment.events inventory.commands|inventory"
    [notification]="notification.events|inventory.events payment.events|notification"
    [accounts]="account.events order-orchestrator.replies payment.replies|account.commands|accounts"
    [order-summary]="|order.events payment.events inventory.events notification.events|eddy-projection-order-summary-"
    [order-orchestrator]="account.commands inventory.commands|order-orchestrator.replies|order-orchestrator"
)
rand_pw() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }

secure_broker() {
    command -v openssl >/dev/null || { echo "demo: SECURE=1 needs the openssl command" >&2; exit 1; }
    if ! bash tests/security/make_certs.sh "$TMP/certs" >/dev/null 2>&1; then
        echo "demo: could not make the test certificates" >&2; exit 1
    fi
    CA=$TMP/certs/ca.pem
    ADMIN_PW=$(rand_pw)
    EDDY_BOOTSTRAP_USER="admin:$ADMIN_PW" "${CHILD[@]}" "$EDDYD_BIN" --data-dir "$TMP/broker" \
        --set listeners=SASL_SSL://127.0.0.1:0 --set sasl.enabled.mechanisms=SCRAM-SHA-512 \
        --set ssl.keystore.type=PEM --set ssl.keystore.location="$TMP/certs/broker.pem" \
        --set authorizer.class.name=eddy.acl --set super.users=User:admin \
        --http https://127.0.0.1:0 --set http.authentication.method=BASIC \
        --set http.authentication.skip.paths=/healthz \
        --set group.initial.rebalance.delay.ms=0 >"$TMP/eddyd.log" 2>&1 &
    ADMIN_X=(-X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=admin
             -X "sasl.password=$ADMIN_PW" -X "ssl.ca.location=$CA")
    CURL_X=(--cacert "$CA" -u "admin:$ADMIN_PW")
}

acl_add() { # principal-name args...
    "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" acls add --allow-principal "User:$1" "${@:2}" \
        >>"$TMP/acls.log" 2>&1 || { echo "demo: eddy acls add $*: failed (see $TMP/acls.log)" >&2; return 1; }
}

secure_setup() {
    local t s pw w r g
    echo "demo: SECURE=1: SASL_SSL (SCRAM-SHA-512) on $BOOT, HTTPS + Basic auth on $HTTP_URL, ACLs"
    for t in $SECURE_TOPICS; do
        for x in "$t" "$t.dlq"; do
            "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" topics create "$x" -p 3 >>"$TMP/acls.log" 2>&1 ||
                { echo "demo: creating topic $x failed (see $TMP/acls.log)" >&2; return 1; }
        done
    done
    for s in "${!SVC_ACL[@]}"; do
        pw=$(rand_pw); SVC_PW[$s]=$pw
        printf '%s' "$pw" | "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" users add "$s" --password-stdin \
            --mechanism SCRAM-SHA-512 >>"$TMP/acls.log" 2>&1 ||
            { echo "demo: eddy users add $s failed (see $TMP/acls.log)" >&2; return 1; }
        IFS='|' read -r w r g <<<"${SVC_ACL[$s]}"
        for t in $w; do acl_add "$s" --operation Write --topic "$t" || return 1; done
        for t in $r; do
            acl_add "$s" --operation Read --topic "$t" || return 1
            acl_add "$s" --operation Write --topic "$t.dlq" || return 1  # its dead letters
        done
        if [ "${g%-}" != "$g" ]; then
            acl_add "$s" --operation Read --group "$g" --resource-pattern-type prefixed || return 1
        else
            acl_add "$s" --operation Read --group "$g" || return 1
        fi
    done
    echo "demo: $(echo "${!SVC_ACL[@]}" | wc -w) service users, $(grep -c '^' "$TMP/acls.log") admin operations (users, topics, ACLs: eddy acls list)"
}

# The client settings of service $1 (environment assignments for env): SASL_SSL as its own user,
# the registry over HTTPS with the same credentials.
svc_env() {
    [ "$SECURE" = 1 ] || return 0
    echo "EDDY_KAFKA_SECURITY_PROTOCOL=SASL_SSL EDDY_KAFKA_SASL_MECHANISMS=SCRAM-SHA-512"
    echo "EDDY_KAFKA_SASL_USERNAME=$1 EDDY_KAFKA_SASL_PASSWORD=${SVC_PW[$1]}"
    echo "EDDY_KAFKA_SSL_CA_LOCATION=$CA EDDY_TOPIC_CREATE=0"
    echo "EDDY_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=$1:${SVC_PW[$1]} EDDY_SCHEMA_REGISTRY_SSL_CA_LOCATION=$CA"
}

# ---- broker ---------------------------------------------------------------------------------
HTTP_URL=""
if [ -n "${EDDY_BOOTSTRAP_SERVERS:-}" ]; then
    BOOT=$EDDY_BOOTSTRAP_SERVERS
    echo "demo: using the cluster at $BOOT"
else
    kind=${EDDY_BROKER:-}
    EDDYD_BIN=${EDDYD:-$B/src/eddyd/eddyd}
    if [ -z "$kind" ]; then
        if [ -x "$EDDYD_BIN" ]; then kind=eddyd; else kind=mock; fi
    fi
    mkdir -p "$TMP/broker"
    if [ "$kind" = eddyd ] && [ "$SECURE" = 1 ]; then
        secure_broker
    elif [ "$kind" = eddyd ]; then
        "${CHILD[@]}" "$EDDYD_BIN" --data-dir "$TMP/broker" --listen 127.0.0.1:0 \
            --http 127.0.0.1:0 --set group.initial.rebalance.delay.ms=0 >"$TMP/eddyd.log" 2>&1 &
    else
        echo "demo: eddyd is not built; using eddy-mockd (librdkafka's mock cluster, in memory)"
        export EDDY_TOPIC_CREATE=0   # the mock has no CreateTopics; it auto-creates
        "${CHILD[@]}" "$B/src/sdk/eddy-mockd" --data-dir "$TMP/broker" --listen 127.0.0.1:0 \
            >"$TMP/eddyd.log" 2>&1 &
    fi
    BROKER_PID=$!
    port=$(wait_line "$TMP/eddyd.log" "listening on 127.0.0.1:[0-9]*" 30 $BROKER_PID) || exit 1
    BOOT=127.0.0.1:$port
    hp=$(grep -o "http listening on 127.0.0.1:[0-9]*" "$TMP/eddyd.log" | head -1 | sed 's/.*://')
    [ -n "$hp" ] && HTTP_URL="http://127.0.0.1:$hp"
    [ -n "$hp" ] && [ "$SECURE" = 1 ] && HTTP_URL="https://127.0.0.1:$hp"
    echo "demo: broker ($kind) on $BOOT"
fi
[ "$SECURE" = 1 ] && { secure_setup || exit 1; }
export EDDY_BOOTSTRAP_SERVERS=$BOOT
# Each service creates its topics (and their .dlq) with CreateTopics at start; EDDY_TOPIC_CREATE=0
# leaves it to the broker's auto-creation on first use instead.
export EDDY_TOPIC_CREATE=${EDDY_TOPIC_CREATE:-1}

# ---- schema registry: order.events payloads must match the registered schema ---------------
# The order service validates every publish against order.events-value (libeddy refuses an
# invalid event before it reaches the outbox).
ORDER_SCHEMA_V1='{"$defs":{"order.created":{"type":"object","required":["orderId","customerId","items","totalCents"],"properties":{"orderId":{"type":"string"},"customerId":{"type":"string"},"items":{"type":"array","minItems":1,"items":{"type":"object","required":["sku","quantity"],"properties":{"sku":{"type":"string"},"quantity":{"type":"integer","minimum":1},"price":{"type":"number","minimum":0}}}},"totalCents":{"type":"integer","minimum":0},"totalAmount":{"type":"number"},"card":{"type":"string"}}},"order.cancelled":{"type":"object","required":["orderId"],"additionalProperties":false,"properties":{"orderId":{"type":"string"},"reason":{"type":"string"}}}},"anyOf":[{"$ref":"#/$defs/order.created"},{"$ref":"#/$defs/order.cancelled"}]}'
# v2 changes totalCents to a string and adds a required currency: a breaking change
ORDER_SCHEMA_V2='{"$defs":{"order.created":{"type":"object","required":["orderId","customerId","items","totalCents","currency"],"properties":{"orderId":{"type":"string"},"customerId":{"type":"string"},"items":{"type":"array","minItems":1},"totalCents":{"type":"string"},"currency":{"type":"string"}}},"order.cancelled":{"type":"object","required":["orderId"],"additionalProperties":false,"properties":{"orderId":{"type":"string"},"reason":{"type":"string"}}}},"anyOf":[{"$ref":"#/$defs/order.created"},{"$ref":"#/$defs/order.cancelled"}]}'
register() { # subject schema → response body (prints), exit status from HTTP code
    local body code
    body=$(python3 -c 'import json,sys; print(json.dumps({"schemaType":"JSON","schema":sys.argv[1]}))' "$2")
    code=$(curl -s "${CURL_X[@]}" -o "$TMP/reg.out" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
        "$HTTP_URL/subjects/$1/versions" -d "$body")
    cat "$TMP/reg.out"
    [ "$code" = 200 ]
}
SCHEMA_OK=1
if [ -n "${HTTP_URL:-}" ]; then
    export EDDY_SCHEMA_REGISTRY_URL=$HTTP_URL
    echo "demo: registering order.events-value v1: $(register order.events-value "$ORDER_SCHEMA_V1")"
fi

# ---- services -------------------------------------------------------------------------------
declare -A URL
export EDDY_MAIL_LOG=$TMP/mail.log
export EDDY_TRACE_LOG=$TMP/spans.jsonl
for s in order payment inventory notification; do
    # shellcheck disable=SC2046 # svc_env prints KEY=VALUE words without spaces
    env $(svc_env "$s") EDDY_STORE="sqlite:$TMP/$s.db" EDDY_HTTP_LISTEN=127.0.0.1:0 \
        EDDY_RETRY_BACKOFF_MS=50 "${CHILD[@]}" "$B/services/$s/$s" >"$TMP/$s.log" 2>&1 &
    PIDS+=($!)
done
i=0
for s in order payment inventory notification; do
    p=$(wait_line "$TMP/$s.log" "http listening on 127.0.0.1:[0-9]*" 60 "${PIDS[$i]}") || exit 1
    URL[$s]="http://127.0.0.1:$p"
    i=$((i + 1))
done
echo "demo: services up: order ${URL[order]}  payment ${URL[payment]}  inventory ${URL[inventory]}  notification ${URL[notification]}"

# ---- orders ---------------------------------------------------------------------------------
declare -A EXPECT PATHNAME
place() { # path expected body
    local out id
    out=$(curl -s -X POST "${URL[order]}/orders" -H 'Content-Type: application/json' -d "$3")
    id=$(echo "$out" | sed -n 's/.*"orderId":"\([^"]*\)".*/\1/p')
    if [ -z "$id" ]; then echo "demo: POST /orders failed: $out" >&2; return 1; fi
    EXPECT[$id]=$2; PATHNAME[$id]=$1; ORDERS+=("$id")
}
ORDERS=()
for k in $(seq 1 "$N"); do
    place happy completed '{"customerId":"alice","items":[{"sku":"SKU-BOOK","quantity":2,"price":29.99},{"sku":"SKU-MUG","quantity":1,"price":9.5}],"card":"4242424242424242"}'
    place payment-declined payment_failed '{"customerId":"bob","items":[{"sku":"SKU-LAMP","quantity":1,"price":49}],"card":"4000000000000002"}'
    place out-of-stock cancelled+refunded '{"customerId":"carol","items":[{"sku":"SKU-RARE","quantity":1,"price":999}],"card":"4242424242424242"}'
done
place gateway-retry completed '{"customerId":"dave","items":[{"sku":"SKU-MUG","quantity":3,"price":9.5}],"card":"4000000000000119"}'
# the gateway fails on every attempt for card ...0341: payment retries, then dead-letters the
# event; the order stays pending until an operator redrives it (eddy dlq redrive, the console)
place dead-letter pending '{"customerId":"frank","items":[{"sku":"SKU-MUG","quantity":1,"price":9.5}],"card":"4000000000000341"}'
echo "demo: placed ${#ORDERS[@]} orders; waiting for them to settle"

status_of() { curl -s "${URL[order]}/orders/$1"; }
final_of() { # → status or status+refunded
    local j st rf
    j=$(status_of "$1")
    st=$(echo "$j" | sed -n 's/.*"status":"\([^"]*\)".*/\1/p')
    rf=$(echo "$j" | grep -o '"refunded":true' || true)
    [ -n "$rf" ] && st="$st+refunded"
    echo "$st"
}
# the dead letters waiting on order.events.dlq (a dry run of the redrive lists them)
dlq_waiting() {
    [ -x "$EDDY_CLI" ] || { echo 0; return; }
    "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" dlq redrive order.events.dlq --dry-run --json \
        2>/dev/null | grep -c '"outcome": *"would_move"' || true
}
deadline=$((SECONDS + ${DEMO_TIMEOUT:-120}))
while :; do
    left=0
    for id in "${ORDERS[@]}"; do [ "$(final_of "$id")" = "${EXPECT[$id]}" ] || left=$((left + 1)); done
    [ "$(dlq_waiting)" -ge 1 ] || left=$((left + 1))
    [ $left = 0 ] && break
    [ $SECONDS -ge $deadline ] && break
    sleep 0.5
done

# Why each order ended where it did: its path, and the facts the services recorded (the
# payment attempts come from the handler spans in EDDY_TRACE_LOG).
attempts_of() { # correlation id → "errors" of the payment handler for it
    python3 - "$TMP/spans.jsonl" "$1" <<'PY' 2>/dev/null || echo 0
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        s = json.loads(line)
    except ValueError:
        continue
    if s.get("correlationId") == sys.argv[2] and s.get("service") == "payment" \
            and s.get("outcome") == "error":
        n += 1
print(n)
PY
}
corr_of() { status_of "$1" | sed -n 's/.*"correlationId":"\([^"]*\)".*/\1/p'; }
why_of() { # id final
    local id=$1 f=$2 c; c=$(corr_of "$id")
    if [ "$f" != "${EXPECT[$id]}" ]; then echo "expected ${EXPECT[$id]}: see the logs"; return; fi
    case "${PATHNAME[$id]}" in
    happy) echo "card charged, stock reserved, customer mailed" ;;
    payment-declined) echo "the gateway declined card ...0002 (permanent): payment.failed, no stock touched" ;;
    out-of-stock) echo "charged, but SKU-RARE has no stock: reservation failed, payment refunded, order cancelled" ;;
    gateway-retry) echo "gateway timed out $(attempts_of "$c")x on card ...0119 (transient): retried with backoff, then charged" ;;
    dead-letter) echo "gateway failed on all $(attempts_of "$c") attempts on card ...0341: payment dead-lettered the event to order.events.dlq; waits for a redrive" ;;
    esac
}
ok=1
echo
printf '%-40s %-17s %-18s %-18s %-6s %s\n' ORDER PATH EXPECTED FINAL RESULT WHY
for id in "${ORDERS[@]}"; do
    f=$(final_of "$id"); r=ok
    [ "$f" = "${EXPECT[$id]}" ] || { r=WRONG; ok=0; }
    printf '%-40s %-17s %-18s %-18s %-6s %s\n' "$id" "${PATHNAME[$id]}" "${EXPECT[$id]}" "$f" "$r" \
        "$(why_of "$id" "$f")"
done
echo
echo "Event chains, one per order (eddy trace CORRELATION_ID):"
for id in "${ORDERS[@]}"; do
    c=$(corr_of "$id")
    echo
    echo "== order $id: path ${PATHNAME[$id]}, ended $(final_of "$id") =="
    if [ -x "$EDDY_CLI" ] && [ -n "$c" ]; then
        "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" trace "$c" 2>&1 | sed 's/^/  /'
    else
        echo "  (correlation id ${c:-unknown}; build eddy to see the chain)"
    fi
done
echo
if [ -s "$TMP/mail.log" ]; then echo "Mail sent (notification service's outbox log):"; cat "$TMP/mail.log"; echo; fi
if [ -x "$EDDY_CLI" ]; then
    echo "Dead letters: what a redrive would move (eddy dlq redrive order.events.dlq --dry-run; the"
    echo "console's Dead letters page shows the same and redrives with a confirmation):"
    "$EDDY_CLI" -b "$BOOT" "${ADMIN_X[@]}" dlq redrive order.events.dlq --dry-run 2>&1 | sed 's/^/  /'
    if [ "$(dlq_waiting)" -lt 1 ]; then echo "demo: no dead letter on order.events.dlq" >&2; ok=0; fi
    echo
fi

# ---- event sourcing, CQRS, orchestration (accounts, order-summary, order-orchestrator) -------
ES_SVCS="accounts order-summary order-orchestrator"
for s in $ES_SVCS; do
    # shellcheck disable=SC2046
    env $(svc_env "$s") EDDY_STORE="sqlite:$TMP/$s.db" EDDY_HTTP_LISTEN=127.0.0.1:0 \
        EDDY_RETRY_BACKOFF_MS=50 EDDY_SAGA_STEP_TIMEOUT_MS=3000 EDDY_SAGA_STEP_ATTEMPTS=2 \
        EDDY_SAGA_TIMER_MS=100 setsid "$B/services/$s/$s" >"$TMP/$s.log" 2>&1 &
    PIDS+=($!)
    p=$(wait_line "$TMP/$s.log" "http listening on 127.0.0.1:[0-9]*" 60 $!) || exit 1
    URL[$s]="http://127.0.0.1:$p"
done
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
post() { curl -s -X POST "$1" -H 'Content-Type: application/json' -d "$2"; }
echo "Event sourcing: accounts ${URL[accounts]} (streams account-<customer>, published to account.events)"
for a in alice:1000000 bob:1000 carol:100000 erin:100000; do
    echo "  open ${a%%:*} with ${a##*:} cents: $(post "${URL[accounts]}/accounts" "{\"customerId\":\"${a%%:*}\",\"initialBalanceCents\":${a##*:}}")"
done
echo
echo "Orchestrated order flow: order-orchestrator ${URL[order-orchestrator]} (saga: account.debit → inventory.reserve)"
declare -A OEXPECT OPATH
OORDERS=()
oplace() { # path expected body
    local id
    id=$(post "${URL[order-orchestrator]}/orders" "$3" | jget 'd.get("orderId","")')
    [ -n "$id" ] || { echo "demo: orchestrated POST /orders failed" >&2; ok=0; return; }
    OEXPECT[$id]=$2; OPATH[$id]=$1; OORDERS+=("$id")
}
oplace happy completed '{"customerId":"alice","items":[{"sku":"SKU-BOOK","quantity":2,"price":29.99}]}'
oplace payment-declined payment_failed '{"customerId":"bob","items":[{"sku":"SKU-LAMP","quantity":1,"price":49}]}'
oplace out-of-stock cancelled+refunded '{"customerId":"carol","items":[{"sku":"SKU-RARE","quantity":1,"price":999}]}'
oplace timeout cancelled+refunded '{"customerId":"erin","items":[{"sku":"SKU-SILENT","quantity":1,"price":5}]}'
ofinal() {
    curl -s "${URL[order-orchestrator]}/orders/$1" | jget '(d["status"] + ("+refunded" if d["refunded"] else "")) if (d.get("saga") or {}).get("state") in ("completed","compensated") else "pending"'
}
deadline=$((SECONDS + 60))
while :; do
    left=0
    for id in "${OORDERS[@]}"; do [ "$(ofinal "$id")" = "${OEXPECT[$id]}" ] || left=$((left + 1)); done
    [ $left = 0 ] || [ $SECONDS -ge $deadline ] && break
    sleep 0.5
done
printf '%-42s %-17s %-20s %-20s %s\n' ORDER PATH EXPECTED FINAL RESULT
for id in "${OORDERS[@]}"; do
    f=$(ofinal "$id"); r=ok
    [ "$f" = "${OEXPECT[$id]}" ] || { r=WRONG; ok=0; }
    printf '%-42s %-17s %-20s %-20s %s\n' "$id" "${OPATH[$id]}" "${OEXPECT[$id]}" "$f" "$r"
done
echo
echo "eddy sagas list:"
"$B/src/cli/eddy" sagas list --url "${URL[order-orchestrator]}" | sed 's/^/  /'
tid=${OORDERS[3]}
echo "eddy sagas show $tid (the timeout path):"
"$B/src/cli/eddy" sagas show "$tid" --url "${URL[order-orchestrator]}" | sed 's/^/  /'
echo
echo "alice's account, replayed from its events (GET /accounts/alice/history):"
curl -s "${URL[accounts]}/accounts/alice/history" | python3 -c '
import json, sys
h = json.load(sys.stdin)
for e in h["events"]:
    print("  v%-3d %-18s %-60s balance %d" % (e["version"], e["type"], json.dumps(e["data"], sort_keys=True)[:60], e["balanceCents"]))'
bal=$(curl -s "${URL[accounts]}/accounts/alice" | jget 'd["balanceCents"]')
echo "  GET /accounts/alice: balance $bal (the aggregate, folded from its latest snapshot)"
[ "$bal" = $((1000000 - 5998)) ] || { echo "  WRONG balance"; ok=0; }
echo
echo "CQRS: order-summary ${URL[order-summary]} — GET /customers/carol/orders from a projection over the order, payment, inventory and notification topics:"
deadline=$((SECONDS + 30))
until [ "$(curl -s "${URL[order-summary]}/customers/carol/orders" | jget 'len(d["orders"])')" -ge "$N" ] || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
before=$(curl -s "${URL[order-summary]}/customers/carol/orders")
echo "$before" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for o in d["orders"]:
    print("  %s %-10s paid=%s refunded=%s total=%d (generation %s)" % (o["orderId"], o["status"], o["paid"], o["refunded"], o["totalCents"], d["generation"]))'
echo "Projection rebuild from the log (eddy projections rebuild order-summary --wait):"
"$B/src/cli/eddy" projections rebuild order-summary --wait --url "${URL[order-summary]}" | sed 's/^/  /'
grep "projection order-summary" "$TMP/order-summary.log" | sed 's/^/  log: /'
after=$(curl -s "${URL[order-summary]}/customers/carol/orders")
if [ "$(echo "$before" | jget 'd["orders"]')" = "$(echo "$after" | jget 'd["orders"]')" ]; then
    echo "  read model after the rebuild: identical (now generation $(echo "$after" | jget 'd["generation"]'))"
else
    echo "  WRONG: the rebuilt read model differs"; ok=0
fi
echo

if [ -n "${HTTP_URL:-}" ]; then
    echo "Schema evolution (registry on $HTTP_URL):"
    if out=$(register order.events-value "$ORDER_SCHEMA_V2"); then
        echo "  UNEXPECTED: the breaking v2 was accepted under order.events-value: $out"; SCHEMA_OK=0
    else
        echo "  breaking v2 refused for order.events-value (BACKWARD): $out"
    fi
    if out=$(register order.events.v2-value "$ORDER_SCHEMA_V2"); then
        echo "  v2 registered for the new topic order.events.v2 instead: $out"
    else
        echo "  UNEXPECTED: registering order.events.v2-value failed: $out"; SCHEMA_OK=0
    fi
    echo "  subjects now: $(curl -s "${CURL_X[@]}" "$HTTP_URL/subjects")  (v1 producers keep order.events; v2 ones use order.events.v2)"
    echo
    [ $SCHEMA_OK = 1 ] || ok=0
fi

# SECURE=1: what the ACLs allowed and refused. Every service ran with only its own grants, so
# the broker logged no denial above; these probes show the refusals a stranger meets.
if [ "$SECURE" = 1 ]; then
    echo "Security (SASL_SSL + SCRAM-SHA-512, ACLs, HTTPS):"
    n=$(grep -c "denied:" "$TMP/eddyd.log")
    echo "  denials while the system ran: $n (each service had exactly its grants: eddy acls list)"
    [ "$n" = 0 ] || { echo "  WRONG: a service was refused something it needs:"; grep "denied:" "$TMP/eddyd.log" | head -5; ok=0; }
    svc_x() { echo "-X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=$1 -X sasl.password=$2 -X ssl.ca.location=$CA"; }
    probe() { # what expected-pattern command...
        local what=$1 pat=$2 out; shift 2
        out=$("$@" 2>&1); local rc=$?
        if [ $rc != 0 ] && grep -qiE -- "$pat" <<<"$out"; then
            echo "  refused as it should be: $what ($(echo "$out" | grep -iE -m1 -- "$pat" | cut -c1-120))"
        else
            echo "  WRONG: $what was not refused (rc $rc): $(echo "$out" | tail -2)"; ok=0
        fi
    }
    # shellcheck disable=SC2046
    # a topic the user may not Describe is hidden from its Metadata, as Kafka does: "unknown"
    probe "payment reads account.events (not its topic)" "authoriz|unknown topic" \
        "$EDDY_CLI" -b "$BOOT" $(svc_x payment "${SVC_PW[payment]}") -t 5000 consume account.events -o beginning -e -n 1
    # shellcheck disable=SC2046
    probe "notification writes to order.events" "authoriz|unknown topic" \
        sh -c "echo forged | '$EDDY_CLI' -b '$BOOT' $(svc_x notification "${SVC_PW[notification]}") -t 5000 produce order.events"
    # shellcheck disable=SC2046
    probe "a wrong password" "authentication" \
        "$EDDY_CLI" -b "$BOOT" $(svc_x order wrong-password) -t 5000 topics list
    code=$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "$HTTP_URL/subjects")
    if [ "$code" = 401 ]; then
        echo "  refused as it should be: the registry without credentials (HTTP 401)"
    else
        echo "  WRONG: the registry without credentials answered HTTP $code"; ok=0
    fi
    echo
fi

# The strangler-fig on-ramp (issue 16) where PostgreSQL is available: scripts/demo_onramp.sh.
if [ "${DEMO_ONRAMP:-1}" = 1 ] && [ "$SECURE" != 1 ] && [ "${EDDY_BROKER:-eddyd}" != mock ] && [ -x "$B/src/cdc/eddy-cdc" ]; then
    . scripts/demo_onramp.sh
    onramp_run || { echo "demo: the on-ramp part failed; logs in $TMP" >&2; ok=0; }
fi

if [ "$CHECK" = 1 ]; then
    stop_all
    if [ $ok = 1 ]; then echo "demo-check: PASS (${#ORDERS[@]} orders reached their predicted state)"; exit 0; fi
    echo "demo-check: FAIL; logs kept in $TMP" >&2; KEEP_TMP=1; exit 1
fi
echo "Running. Try:"
echo "  curl -s -X POST ${URL[order]}/orders -d '{\"customerId\":\"you\",\"items\":[{\"sku\":\"SKU-BOOK\",\"quantity\":1,\"price\":12.5}]}'"
echo "  curl -s ${URL[order]}/orders/<id>        curl -s ${URL[order]}/orders"
echo "  curl -s ${URL[payment]}/payments/<id>    curl -s ${URL[inventory]}/stock    curl -s ${URL[notification]}/mail/<id>"
for s in order payment inventory notification; do echo "  $s metrics: ${URL[$s]}/metrics"; done
echo "  curl -s ${URL[accounts]}/accounts/alice/history    curl -s ${URL[order-summary]}/customers/alice/orders"
echo "  $B/src/cli/eddy sagas list --url ${URL[order-orchestrator]}    $B/src/cli/eddy projections list --url ${URL[order-summary]}"
[ -n "$HTTP_URL" ] && echo "  broker: $HTTP_URL/metrics"
[ -n "$HTTP_URL" ] && echo "  web console: $HTTP_URL/   (recent orders' traces are one click from its overview)"
if [ "$SECURE" = 1 ]; then
    echo "  SECURE=1: the admin's client settings (the CLI's -X, librdkafka's names; EDDY_KAFKA_* for libeddy):"
    echo "    security.protocol=SASL_SSL sasl.mechanisms=SCRAM-SHA-512 sasl.username=admin sasl.password=$ADMIN_PW ssl.ca.location=$CA"
    echo "  $EDDY_CLI -b $BOOT ${ADMIN_X[*]} acls list"
    echo "  curl --cacert $CA -u admin:$ADMIN_PW $HTTP_URL/subjects"
fi
echo "  broker: $BOOT (Kafka protocol)   logs: $TMP (removed when the demo stops; KEEP_TMP=1 keeps them)"
echo "  $EDDY_CLI -b $BOOT topics list       ... consume order.events -o beginning -e"
echo "Ctrl-C stops everything."
while :; do
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "demo: a service exited; see $TMP" >&2; exit 1; }; done
    sleep 1
done
