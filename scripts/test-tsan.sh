#!/usr/bin/env bash
# The ThreadSanitizer stage of `make test` (also `make test-tsan`): a -fsanitize=thread build
# (build-tsan, CMake option EDDY_TSAN) of only the targets the threaded tests need, then ctest
# -L tsan. The tests labelled tsan are those where our threads meet: the storage flusher and the
# appending thread (test_storage), the SDK outbox relay (test_sdk_outbox) and OTLP exporter
# (test_sdk_otlp), the registry worker and eddyd's loop (registry_offloop), REST produce parked on the flusher's hook (rest_produce).
# A race report fails the test: halt_on_error makes the process exit non-zero at the first one.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILD=${TSAN_BUILD:-build-tsan}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_TSAN=ON -DEDDY_TESTS=ON >/dev/null || exit 1
cmake --build "$BUILD" -j "$JOBS" --target eddyd test_storage test_sdk_outbox test_sdk_otlp || exit 1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
cd "$BUILD" && ctest --output-on-failure -j "${CTEST_JOBS:-2}" -L tsan
