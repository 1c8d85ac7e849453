#!/usr/bin/env bash
# Installs the Debian packages Eddy needs to build, test, demo and benchmark.
# Idempotent: packages already present are skipped; uses sudo when not root.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# EDDY_DEMO_DEPS=1 (make demo): only what building and running the demo needs.
DEMO=${EDDY_DEMO_DEPS:-0}
PKGS=(
  build-essential cmake pkg-config
  librdkafka-dev libsqlite3-dev libpq-dev
  libjansson-dev libmicrohttpd-dev libcmocka-dev libssl-dev uuid-dev libcurl4-openssl-dev
  zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev
  python3 curl procps util-linux openssl
)
if [ "$DEMO" != "1" ]; then
  PKGS+=(git clang clang-format libclang-rt-14-dev kcat sqlite3 postgresql python3-kafka)
  # sarama, the Go client family (tests/clients/test_sarama.sh), built from Debian's sources
  PKGS+=(golang-go golang-github-shopify-sarama-dev golang-github-xdg-go-scram-dev)
  # the web console's browser test (tests/console): headless, driven by npm playwright-core
  PKGS+=(chromium fonts-liberation)
  # Node.js: the machine image may ship its own node+npm (which conflicts with Debian's npm).
  if ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi
fi
if [ "${EDDY_BENCH_DEPS:-0}" = "1" ]; then
  PKGS+=(nats-server redis-server libnats-dev libhiredis-dev gnuplot-nox)
fi
if [ "${EDDY_EXTRA_DEPS:-1}" = "1" ] && [ "$DEMO" != "1" ]; then
  PKGS+=(prometheus)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node packages for the client-compatibility tests (kafkajs etc.), pinned.
here="$(cd "$(dirname "$0")/.." && pwd)"
# Re-installed whenever the lock file changed since the last install (a stamp in node_modules).
nd="$here/tests/node"
if [ -f "$nd/package.json" ] && [ "$DEMO" != "1" ]; then
  lock="$nd/package-lock.json"
  if [ ! -f "$nd/node_modules/.eddy-stamp" ] || ! cmp -s "$lock" "$nd/node_modules/.eddy-stamp"; then
    echo "deps: npm install in tests/node"
    (cd "$nd" && npm install --no-audit --no-fund --silent)
    [ -f "$lock" ] && cp "$lock" "$nd/node_modules/.eddy-stamp"
  fi
fi
[ "$DEMO" = "1" ] && echo "deps: ok (what the demo needs)" || echo "deps: ok"
