#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster on loopback (if it is not running) and makes sure the
# test role and database exist: postgresql://eddy:eddy@127.0.0.1:5432/eddy
# The server is configured for logical replication (eddy-cdc, issue 16): wal_level=logical and
# enough replication slots / WAL senders, set with ALTER SYSTEM and a restart only when a value
# is short (idempotent); the eddy role gets the REPLICATION attribute.
set -euo pipefail
cmd=${1:-start}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
ASPG="runuser -u postgres --"; [ "$(id -u)" -ne 0 ] && ASPG="sudo -u postgres"
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$ver" ] || { echo "pg: PostgreSQL is not installed" >&2; exit 1; }
case "$cmd" in
start)
  if ! $SUDO pg_lsclusters -h 2>/dev/null | grep -q .; then
    $SUDO pg_createcluster "$ver" main >/dev/null
  fi
  cluster=$($SUDO pg_lsclusters -h | awk 'NR==1{print $1" "$2}')
  if ! $SUDO pg_lsclusters -h | awk 'NR==1{print $4}' | grep -q online; then
    $SUDO pg_ctlcluster $cluster start
  fi
  for i in $(seq 1 50); do
    $ASPG psql -qAtc 'select 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  $ASPG psql -qAtc "select 1 from pg_roles where rolname='eddy'" | grep -q 1 ||
    $ASPG psql -qc "create role eddy login password 'eddy' createdb" >/dev/null
  $ASPG psql -qAtc "select rolreplication from pg_roles where rolname='eddy'" | grep -q t ||
    $ASPG psql -qc "alter role eddy replication" >/dev/null
  # A second login role that owns nothing (eddy-cdc's missing-rights test).
  $ASPG psql -qAtc "select 1 from pg_roles where rolname='eddy_other'" | grep -q 1 ||
    $ASPG psql -qc "create role eddy_other login password 'eddy' replication" >/dev/null
  # Logical replication: each setting needs a restart, so restart once and only if one changed.
  restart=0
  [ "$($ASPG psql -qAtc 'show wal_level')" = logical ] || {
    $ASPG psql -qc "alter system set wal_level = logical" >/dev/null; restart=1; }
  for s in max_replication_slots max_wal_senders; do
    if [ "$($ASPG psql -qAtc "show $s")" -lt 16 ]; then
      $ASPG psql -qc "alter system set $s = 16" >/dev/null; restart=1
    fi
  done
  if [ $restart = 1 ]; then
    echo "pg: restarting $cluster for logical replication settings"
    $SUDO pg_ctlcluster $cluster restart
    for i in $(seq 1 50); do
      $ASPG psql -qAtc 'select 1' >/dev/null 2>&1 && break
      sleep 0.2
    done
    [ "$($ASPG psql -qAtc 'show wal_level')" = logical ] ||
      { echo "pg: wal_level is still not logical after restart" >&2; exit 1; }
  fi
  $ASPG psql -qAtc "select 1 from pg_database where datname='eddy'" | grep -q 1 ||
    $ASPG psql -qc "create database eddy owner eddy" >/dev/null
  echo "pg: postgresql://eddy:eddy@127.0.0.1:5432/eddy"
  ;;
stop)
  cluster=$($SUDO pg_lsclusters -h | awk 'NR==1{print $1" "$2}')
  $SUDO pg_ctlcluster $cluster stop || true
  ;;
esac
