#!/usr/bin/env bash
# Stand-in for Kafka's bin/kafka-topics.sh, for the few librdkafka suite tests that shell out to
# it through KAFKA_PATH (test_kafka_topics(): 0045 alters partitions and deletes topics, 0052
# and 0077 create topics with configs). It translates the options those tests use into Eddy's
# own CLI (`eddy topics ...`, $EDDY_CLI); anything else is refused loudly.
set -euo pipefail
eddy=${EDDY_CLI:?EDDY_CLI (the eddy binary) must be set}
brokers="" action="" topic="" parts="" rf="" cfgs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --bootstrap-server) brokers=$2; shift 2 ;;
    --create | --alter | --delete) action=${1#--}; shift ;;
    --topic) topic=$2; shift 2 ;;
    --partitions) parts=$2; shift 2 ;;
    --replication-factor) rf=$2; shift 2 ;;
    --config) cfgs+=(-c "$2"); shift 2 ;;
    *) echo "kafka-topics.sh (eddy stand-in): unsupported option $1" >&2; exit 2 ;;
    esac
done
[ -n "$brokers" ] && [ -n "$topic" ] || { echo "kafka-topics.sh: need --bootstrap-server and --topic" >&2; exit 2; }
case "$action" in
create) exec "$eddy" -b "$brokers" topics create "$topic" ${parts:+-p "$parts"} ${rf:+-r "$rf"} "${cfgs[@]}" ;;
alter)
    [ -n "$parts" ] || { echo "kafka-topics.sh: --alter supports only --partitions" >&2; exit 2; }
    exec "$eddy" -b "$brokers" topics add-partitions "$topic" -p "$parts" ;;
delete) exec "$eddy" -b "$brokers" topics delete "$topic" ;;
*) echo "kafka-topics.sh: need --create, --alter or --delete" >&2; exit 2 ;;
esac
