#!/usr/bin/env bash
# Stand-in for Kafka's bin/kafka-acls.sh, for the librdkafka suite tests that shell out to it
# through KAFKA_PATH (test_kafka_cmd(): 0109, 0115 and 0119 add a DENY/ALLOW ACL on a topic and
# 0119 removes them). It translates those options into Eddy's own CLI (`eddy acls add|delete`,
# $EDDY_CLI); anything else is refused loudly.
set -euo pipefail
eddy=${EDDY_CLI:?EDDY_CLI (the eddy binary) must be set}
brokers="" action="" perm="" principal="" host="" ops=() res=()
while [ $# -gt 0 ]; do
    case "$1" in
    --bootstrap-server) brokers=$2; shift 2 ;;
    --add | --remove) action=${1#--}; shift ;;
    --force) shift ;;
    --allow-principal | --deny-principal) perm=${1#--}; principal=$2; shift 2 ;;
    --allow-host | --deny-host) host=$2; shift 2 ;;
    --operation) ops+=(--operation "$2"); shift 2 ;;
    --topic | --group) res=("$1" "$2"); shift 2 ;;
    --cluster) res=(--cluster); shift ;;
    *) echo "kafka-acls.sh (eddy stand-in): unsupported option $1" >&2; exit 2 ;;
    esac
done
[ -n "$brokers" ] && [ -n "$principal" ] && [ ${#res[@]} -gt 0 ] ||
    { echo "kafka-acls.sh: need --bootstrap-server, a principal and a resource" >&2; exit 2; }
case "$action" in
add) exec "$eddy" -b "$brokers" acls add "--$perm" "$principal" "${ops[@]}" "${res[@]}" ${host:+--host "$host"} ;;
remove) exec "$eddy" -b "$brokers" acls delete "${res[@]}" --principal "$principal" "${ops[@]}" ${host:+--host "$host"} ;;
*) echo "kafka-acls.sh: need --add or --remove" >&2; exit 2 ;;
esac
