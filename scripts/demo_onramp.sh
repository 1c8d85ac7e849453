# demo_onramp.sh — sourced by demo.sh: the strangler-fig on-ramp of issue 16 (docs/migration.md).
# A legacy customer-profile service (HTTP + PostgreSQL only) writes its table; eddy-cdc streams
# the table's changes from the WAL to legacy.<schema>.customers as Debezium events; eddy-push
# delivers them to a plain HTTP endpoint (demo_webhook.py) as the notification channel.
# Runs only when PostgreSQL is reachable (scripts/pg.sh); the embedded demo runs without it.
# Uses demo.sh's B, TMP, BOOT, PIDS, CHECK. onramp_cleanup drops the slot, publication, schema.
ONRAMP_PG=${EDDY_DEMO_PG:-postgresql://eddy:eddy@127.0.0.1:5432/eddy}
ONRAMP_TAG="demo_$$"
ONRAMP_READY=0

onramp_wait() { # file pattern pid → port
    local i l
    for i in $(seq 1 300); do
        l=$(grep -m1 -o "$2" "$1" 2>/dev/null || true)
        if [ -n "$l" ]; then echo "${l##*:}"; return 0; fi
        kill -0 "$3" 2>/dev/null || { echo "demo: $(basename "$1" .log) exited:" >&2; tail -5 "$1" >&2; return 1; }
        sleep 0.1
    done
    echo "demo: timeout waiting for $2 in $1" >&2; return 1
}

onramp_cleanup() {
    [ "$ONRAMP_READY" = 1 ] || return 0
    local i
    for i in $(seq 1 50); do  # the walsender of a just-stopped eddy-cdc lets go of the slot
        [ "$(psql "$ONRAMP_PG" -qAtXc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$ONRAMP_TAG' AND active" 2>/dev/null)" = 0 ] && break
        sleep 0.1
    done
    psql "$ONRAMP_PG" -qAtX -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$ONRAMP_TAG' AND NOT active" \
        -c "DROP PUBLICATION IF EXISTS $ONRAMP_TAG" -c "DROP SCHEMA IF EXISTS $ONRAMP_TAG CASCADE" >/dev/null 2>&1
    ONRAMP_READY=0
}

onramp_run() {
    echo "Strangler-fig on-ramp (legacy customer-profile on PostgreSQL → eddy-cdc → eddy-push → webhook):"
    if ! psql "$ONRAMP_PG" -qAtXc "select 1" >/dev/null 2>&1; then
        echo "  skipped: PostgreSQL is not reachable at $ONRAMP_PG (run scripts/pg.sh)"; echo; return 0
    fi
    psql "$ONRAMP_PG" -qAtXc "CREATE SCHEMA $ONRAMP_TAG" >/dev/null || return 1
    ONRAMP_READY=1
    local pgs="$ONRAMP_PG?options=-csearch_path%3D$ONRAMP_TAG" secret="demo-secret-$$"
    CUSTOMER_PROFILE_PG="$pgs" CUSTOMER_PROFILE_LISTEN=127.0.0.1:0 \
        setsid "$B/services/customer-profile/customer-profile" >"$TMP/customer-profile.log" 2>&1 &
    PIDS+=($!)
    local cp; cp=$(onramp_wait "$TMP/customer-profile.log" "http listening on 127.0.0.1:[0-9]*" $!) || return 1
    local legacy="http://127.0.0.1:$cp"
    # the one change a DBA makes to the legacy database: deletes carry the whole old row
    psql "$ONRAMP_PG" -qAtXc "ALTER TABLE $ONRAMP_TAG.customers REPLICA IDENTITY FULL" >/dev/null || return 1
    setsid "$B/src/cdc/eddy-cdc" --pg "$ONRAMP_PG" --bootstrap-servers "$BOOT" \
        --table "$ONRAMP_TAG.customers" --topic-prefix legacy --slot "$ONRAMP_TAG" \
        --publication "$ONRAMP_TAG" --state-file "$TMP/eddy-cdc.state" \
        --metrics-listen 127.0.0.1:0 >"$TMP/eddy-cdc.log" 2>&1 &
    PIDS+=($!)
    local cpid=$!
    onramp_wait "$TMP/eddy-cdc.log" "streaming from slot" $cpid >/dev/null || return 1
    local cm; cm=$(grep -m1 -o "metrics listening on 127.0.0.1:[0-9]*" "$TMP/eddy-cdc.log"); cm=${cm##*:}
    setsid "$B/src/push/eddy-push" --bootstrap-servers "$BOOT" --listen 127.0.0.1:0 \
        --state-dir "$TMP/push" --session-timeout-ms 6000 >"$TMP/eddy-push.log" 2>&1 &
    PIDS+=($!)
    local pp; pp=$(onramp_wait "$TMP/eddy-push.log" "http listening on 127.0.0.1:[0-9]*" $!) || return 1
    local wp; wp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    setsid python3 scripts/demo_webhook.py "$wp" "$secret" >"$TMP/webhook.log" 2>&1 &
    PIDS+=($!)
    local topic="legacy.$ONRAMP_TAG.customers"
    curl -s -o /dev/null -X POST "http://127.0.0.1:$pp/v1/subscriptions" -H 'Content-Type: application/json' \
        -d "{\"name\":\"customer-mail\",\"topics\":[\"$topic\"],\"group\":\"customer-mail-push\",\"url\":\"http://127.0.0.1:$wp/hook\",\"secret\":\"$secret\"}"
    echo "  legacy service $legacy writes $ONRAMP_TAG.customers; eddy-cdc → $topic; eddy-push → http://127.0.0.1:$wp/hook"
    local a b
    a=$(curl -s -X POST "$legacy/customers" -d '{"name":"Ada","email":"ada@example.com","tier":"gold"}')
    b=$(curl -s -X POST "$legacy/customers" -d '{"name":"Bob","email":"bob@example.com"}')
    echo "  POST /customers → $a"
    echo "  POST /customers → $b"
    local bid; bid=$(echo "$b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    echo "  PUT /customers/$bid → $(curl -s -X PUT "$legacy/customers/$bid" -d '{"tier":"silver"}')"
    curl -s -o /dev/null -X DELETE "$legacy/customers/$bid" && echo "  DELETE /customers/$bid"
    local i n
    for i in $(seq 1 200); do
        n=$(grep -c "webhook:" "$TMP/webhook.log" 2>/dev/null); [ "${n:-0}" -ge 4 ] && break; sleep 0.1
    done
    echo "  change events on $topic (kcat):"
    kcat -b "$BOOT" -C -t "$topic" -e -q -f '    key=%k %s\n' 2>/dev/null | cut -c1-220
    echo "  deliveries at the plain HTTP endpoint:"
    cat "$TMP/webhook.log"
    echo "  eddy-cdc: $(curl -s "http://127.0.0.1:$cm/metrics" | grep -E '^eddy_cdc_(events_total|replication_lag_bytes)' | tr '\n' ' ')"
    echo "  eddy-push: $(curl -s "http://127.0.0.1:$pp/metrics" | grep -E '^eddy_push_delivered_total' | tr '\n' ' ')"
    echo
    [ "${n:-0}" -ge 4 ] && ! grep -q "signature BAD" "$TMP/webhook.log"
}
