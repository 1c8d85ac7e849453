#!/usr/bin/env bash
# The whole test suite: services the tests need, a normal build + ctest, then an
# ASan+UBSan build + ctest, then a ThreadSanitizer build of only the tests whose threads meet
# (scripts/test-tsan.sh, ctest label tsan). Exit status is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
# ctest runs one more test than there are cores: most integration tests spend their time waiting
# on sockets, fsync and timers (a whole run used ~35% of 2 cores at -j2); CTEST_JOBS overrides.
CTEST_JOBS=${CTEST_JOBS:-$(($(nproc) + 1))}
bash scripts/pg.sh start || echo "test: PostgreSQL unavailable; PostgreSQL tests will fail"

rc=0
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_TESTS=ON >/dev/null || exit 1
cmake --build build -j "$JOBS" || exit 1
(cd build && ctest --output-on-failure -j "$CTEST_JOBS") || rc=1

if [ "${EDDY_SKIP_ASAN:-0}" != "1" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON -DEDDY_TESTS=ON >/dev/null || exit 1
  cmake --build build-asan -j "$JOBS" || exit 1
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "$CTEST_JOBS" -LE no-asan) || rc=1
fi

if [ "${EDDY_SKIP_TSAN:-0}" != "1" ]; then
  JOBS="$JOBS" bash scripts/test-tsan.sh || rc=1
fi
exit $rc
