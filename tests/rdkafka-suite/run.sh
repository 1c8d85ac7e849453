#!/usr/bin/env bash
# run.sh — librdkafka's own test suite (its tests/test-runner) against a fresh eddyd.
#
#   tests/rdkafka-suite/run.sh LIBRDKAFKA_CHECKOUT [options] [TEST ...]
#
#   --profile plaintext|security  plaintext (default): every test that talks to a broker, on a
#                                 PLAINTEXT listener; security: the SASL/SSL/ACL tests on a
#                                 SASL_SSL listener (SCRAM-SHA-512, ACLs on)
#   -p N                          tests in parallel (test-runner -p; default 1)
#   --multiplier X                test.timeout.multiplier (default 3: a shared 2-core machine)
#   --quick                       the runner's quick mode (-Q: fewer messages, shorter tests)
#   --kafka-version V             TEST_KAFKA_VERSION, the broker version the suite assumes
#                                 (default 3.7.0; it gates tests on features, not on ApiVersions)
#   --out DIR                     logs, test.conf and results.txt (default
#                                 $EDDY_BUILD_DIR/rdkafka-suite/<client version>-<profile>)
#   TEST ...                      test numbers (0001 0055 ...); default: all of them
#
# Nothing of the suite is copied into this repository: fetch it with
#   git clone https://github.com/confluentinc/librdkafka -b v2.0.2 /path/librdkafka
# The checkout's test runner is built when missing (./configure --disable-gssapi
# --disable-lz4-ext && make libs && make -C tests build). eddyd and eddy come from
# $EDDY_BUILD_DIR (default ./build). Tests the mock cluster runs (the runner's "local" tests) do
# not talk to eddyd and are not run. Each test ends in the table as PASS, FAIL (with the
# runner's reason), SKIPPED (by the suite itself, with its reason) or EXCLUDED (by us:
# tests/rdkafka-suite/exclusions.txt, one reason each). Exit status 1 if any test failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h | --help) usage; exit 0 ;; esac
rdk=$(cd "$1" && pwd) || { echo "run.sh: $1: not a directory" >&2; exit 2; }
shift
[ -f "$rdk/src/rdkafka.h" ] && [ -f "$rdk/tests/test.c" ] ||
    { echo "run.sh: $rdk is not a librdkafka checkout (no src/rdkafka.h, tests/test.c)" >&2; exit 2; }

profile=plaintext par=1 mult=3 quick=0 kver=3.7.0 out="" tests=()
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) profile=${2:?}; shift 2 ;;
    -p) par=${2:?}; shift 2 ;;
    -p[0-9]*) par=${1#-p}; shift ;;
    --multiplier) mult=${2:?}; shift 2 ;;
    --quick) quick=1; shift ;;
    --kafka-version) kver=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    [0-9][0-9][0-9][0-9]*) tests+=("$1"); shift ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$profile" in plaintext | security) ;; *) echo "run.sh: --profile plaintext|security" >&2; exit 2 ;; esac

# The client's version, from rdkafka.h (0xMMmmrrxx).
hexver=$(sed -n 's/^#define RD_KAFKA_VERSION *0x\([0-9a-fA-F]*\).*/\1/p' "$rdk/src/rdkafka.h")
cver=$(printf '%d.%d.%d' "0x${hexver:0:2}" "0x${hexver:2:2}" "0x${hexver:4:2}")

export EDDY_BUILD_DIR=${EDDY_BUILD_DIR:-$root/build}
export EDDY_CLI=${EDDY_CLI:-$EDDY_BUILD_DIR/src/cli/eddy}
[ -x "$EDDY_CLI" ] || { echo "run.sh: $EDDY_CLI missing (cmake --build build --target eddyd eddy_cli)" >&2; exit 2; }
out=${out:-$EDDY_BUILD_DIR/rdkafka-suite/$cver-$profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/runner-*.log "$out"/report-*.json # a previous run's would join this table

# Build the checkout's test runner if needed (the suite's own recipe).
if [ ! -x "$rdk/tests/test-runner" ]; then
    echo "run.sh: building librdkafka $cver and its test runner in $rdk (log: $out/build.log)"
    (cd "$rdk" && { [ -f Makefile.config ] || ./configure --disable-gssapi --disable-lz4-ext; } &&
        make -j2 libs && make -C tests -j2 build) >"$out/build.log" 2>&1 ||
        { tail -20 "$out/build.log" >&2; exit 1; }
fi

# The suite's CI has three brokers and some tests create topics with replication factor 3:
# rf_clamp.so (LD_PRELOAD) lowers that to 1, logged in the runner's log ("rf_clamp: ...").
cc -shared -fPIC -O2 -o "$out/rf_clamp.so" "$here/rf_clamp.c" -ldl

# Exclusions that apply to this client version and profile: "TEST VERSIONS PROFILE REASON".
ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
applies() { # versions-spec profile-spec
    local v=$1 p=$2
    case "$p" in '*' | "$profile") ;; *) return 1 ;; esac
    case "$v" in
    '*') return 0 ;;
    '<'*) ! ver_ge "$cver" "${v#<}" ;;
    '>='*) ver_ge "$cver" "${v#>=}" ;;
    *) [ "$cver" = "$v" ] ;;
    esac
}
: >"$out/excluded.txt"
: >"$out/filtered.txt"
skip=""
while read -r t v p reason; do
    case "$t" in '' | '#'*) continue ;; esac
    if applies "$v" "$p"; then
        skip="$skip,$t"
        printf '%s\t%s\n' "$t" "$reason" >>"$out/excluded.txt"
    fi
done <"$here/exclusions.txt"

# Tests run with a SUBTESTS filter, alone: "TEST CLIENTS PROFILE SUBTESTS REASON".
declare -A subtests=()
while read -r t v p f reason; do
    case "$t" in '' | '#'*) continue ;; esac
    if applies "$v" "$p" && { [ ${#tests[@]} -eq 0 ] || [[ " ${tests[*]} " == *" $t "* ]]; }; then
        subtests[$t]=$f
        printf '%s\tonly sub-tests matching "%s": %s\n' "$t" "$f" "$reason" >>"$out/filtered.txt"
    fi
done <"$here/subtests.txt"

# shellcheck source=../harness/eddyd.sh
. "$root/tests/harness/eddyd.sh"

# What the suite assumes of a broker (librdkafka's CI runs Kafka through trivup with its
# scenarios/*.json: num_partitions 4, auto-created topics on or off per scenario), otherwise
# Kafka's defaults: group.initial.rebalance.delay.ms stays 3000 (eddyd's default too), 0118
# relies on it (two consumers must join the first generation together).
# An authorizer is on in both profiles: 0081 creates, describes and deletes ACLs, and 0109, 0115
# and 0119 add DENY ACLs with kafka-acls.sh (our stand-in over `eddy acls`) on a PLAINTEXT
# cluster; a resource without ACLs stays open to everyone, as on the suite's Kafka.
common_sets=(--set num.partitions=4
    --set authorizer.class.name=kafka.security.authorizer.AclAuthorizer
    --set allow.everyone.if.no.acl.found=true)
client_conf=""
port_of_listener() { grep -oP "listener $1 \(\S+\) on 127\.0\.0\.1:\K[0-9]+" "$EDDYD_LOG" | tail -n1; }
if [ "$profile" = security ]; then
    certs="$out/certs"
    rm -rf "$certs"
    bash "$root/tests/security/make_certs.sh" "$certs"
    # The suite's principal is "admin" (SCRAM-SHA-512, created at first start), NOT a super
    # user: 0081 checks that an ALLOW Read ACL for it leaves it exactly Read and Describe.
    export EDDY_BOOTSTRAP_USER=admin:admin-secret
    common_sets+=(--set "listeners=SASL_SSL://127.0.0.1:0"
        --set sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
        --set ssl.keystore.type=PEM --set "ssl.keystore.location=$certs/broker.pem")
    # connections.max.reauth.ms: 0142 runs only when the broker reports a non-zero value; a
    # client without KIP-368 re-authentication (librdkafka < 2.2, which has no 0142) would see
    # its connections closed at every expiry, as Kafka closes them.
    if compgen -G "$rdk/tests/0142-*" >/dev/null; then
        common_sets+=(--set connections.max.reauth.ms=5000)
    fi
    # The client's own certificate (alice) in every encoding 0097 loads, under the names
    # trivup exports (SSL_pkcs, SSL_pub_pem, ...); the broker does not ask for it on SASL_SSL.
    pw=eddy-suite
    openssl x509 -in "$certs/alice.pem" -outform DER -out "$certs/alice.der"
    openssl pkey -in "$certs/alice.key" -outform DER -out "$certs/alice.key.der"
    openssl x509 -in "$certs/ca.pem" -outform DER -out "$certs/ca.der"
    openssl pkcs12 -export -in "$certs/alice.pem" -inkey "$certs/alice.key" \
        -certfile "$certs/ca.pem" -passout "pass:$pw" -out "$certs/alice.p12"
    export SSL_pkcs=$certs/alice.p12 SSL_pub_pem=$certs/alice.pem SSL_pub_der=$certs/alice.der \
        SSL_priv_pem=$certs/alice.key SSL_priv_der=$certs/alice.key.der \
        SSL_ca_pem=$certs/ca.pem SSL_ca_der=$certs/ca.der SSL_all_cas_pem=$certs/ca.pem \
        SSL_password=$pw SSL_client_auth=none
    client_conf="security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=admin
sasl.password=admin-secret
ssl.ca.location=$certs/ca.pem
ssl.certificate.location=$certs/alice.pem
ssl.key.location=$certs/alice.key
ssl.key.password=$pw
ssl.endpoint.identification.algorithm=https"
    # The tests that need SASL/SSL (the plaintext profile runs everything else, ACL tests
    # included): 0081's admin calls (ACLs, authorized operations, UserScramCredentials) as a SCRAM user.
    [ ${#tests[@]} -gt 0 ] || tests=(0081 0097 0135 0142)
fi

rc=0
run_scenario() { # scenario auto-create
    local scen=$1 auto=$2 bootstrap
    eddyd_start "${common_sets[@]}" --set "auto.create.topics.enable=$auto"
    bootstrap=$BOOTSTRAP
    if [ "$profile" = security ]; then bootstrap="127.0.0.1:$(port_of_listener SASL_SSL)"; fi
    cp "$EDDYD_LOG" "$out/eddyd-$scen.start.log"
    {
        echo "bootstrap.servers=$bootstrap"
        echo "test.timeout.multiplier=$mult"
        echo "broker.address.family=v4"
        [ -z "$client_conf" ] || echo "$client_conf"
    } >"$out/test.conf"
    local args=(-L -p"$par" -s "$scen")
    [ "$quick" = 0 ] || args+=(-Q)
    echo "run.sh: librdkafka $cver, profile $profile, scenario $scen, eddyd on $bootstrap" \
        "(TEST_KAFKA_VERSION=$kver, -p$par, multiplier $mult$([ "$quick" = 0 ] || echo ", quick"))"
    # RDK_SUITE_PRELOAD: an extra diagnostic shim for the runner (e.g. tls_timing.c).
    # An empty TESTS would match nothing: set the filters only when there is one.
    local envs=(LD_LIBRARY_PATH="$rdk/src:$rdk/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        RDKAFKA_TEST_CONF="$out/test.conf" TEST_KAFKA_VERSION="$kver"
        KAFKA_PATH="$here/kafka" BROKERS="$bootstrap" TEST_REPORT="$out/report-$scen.json"
        LD_PRELOAD="$out/rf_clamp.so${RDK_SUITE_PRELOAD:+ $RDK_SUITE_PRELOAD}")
    local skips=$skip t
    for t in "${!subtests[@]}"; do skips="$skips,$t"; done
    [ -z "$skips" ] || envs+=(TESTS_SKIP="${skips#,}")
    [ ${#tests[@]} -eq 0 ] || envs+=(TESTS="$(IFS=,; echo "${tests[*]}")")
    local trc=0
    (cd "$rdk/tests" && env "${envs[@]}" ./test-runner "${args[@]}") \
        >"$out/runner-$scen.log" 2>&1 || trc=$?
    local f i
    for t in "${!subtests[@]}"; do
        envs=("${envs[@]/#TESTS_SKIP=*/TESTS_SKIP=none}")
        envs=("${envs[@]/#TESTS=*/TESTS=$t}")
        [[ " ${envs[*]} " == *" TESTS=$t "* ]] || envs+=(TESTS="$t")
        i=0
        IFS=, read -ra f <<<"${subtests[$t]}"
        for sub in "${f[@]}"; do # one runner per filter (SUBTESTS takes one substring)
            i=$((i + 1))
            envs=("${envs[@]/#TEST_REPORT=*/TEST_REPORT=$out/report-$scen-$t-$i.json}")
            (cd "$rdk/tests" && env "${envs[@]}" SUBTESTS="$sub" ./test-runner "${args[@]}") \
                >"$out/runner-$scen-$t-$i.log" 2>&1 || true
        done
    done
    cp "$EDDYD_LOG" "$out/eddyd-$scen.log"
    eddyd_stop || true
    rm -rf "$EDDYD_DATA"
    echo "run.sh: scenario $scen: test-runner exit status $trc (log $out/runner-$scen.log)"
}
run_scenario default true
if [ "$profile" = plaintext ]; then run_scenario noautocreate false; fi

python3 "$here/report.py" --client "$cver" --profile "$profile" --excluded "$out/excluded.txt" \
    "$out"/runner-*.log | tee "$out/results.txt"
if [ -s "$out/filtered.txt" ]; then
    sed 's/^/filtered: /; s/\t/ /' "$out/filtered.txt" | tee -a "$out/results.txt"
fi
grep -q '^| .* | FAIL ' "$out/results.txt" && rc=1
exit $rc
