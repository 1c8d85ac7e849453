# Eddy — front door. The real build is CMake; these targets are what people type.
#   make            build everything (build/)
#   make test       install deps, build, run the whole suite, then again under ASan+UBSan, then
#                   the threaded tests under ThreadSanitizer
#   make test-tsan  only the ThreadSanitizer stage (build-tsan, ctest -L tsan)
#   make demo       the reference system on the embedded broker, left running (SECURE=1: over
#                   SASL_SSL with SCRAM users and ACLs per service, HTTPS on the HTTP port)
#   make demo-check the same scenario, non-interactive, exits 0 only if every order ends right
#   make bench      benchmarks against peers (make bench-quick: < 2 min)
#   make soak       SIGKILL/torn-tail/full-disk soak, SOAK_CYCLES (default 50), one-line verdict
#   make multibroker-full  the three-broker chaos scenarios at full size (1,000 choreographed +
#                   1,000 orchestrated orders each; make test runs them with 200 sagas)
#   make rdkafka-suite LIBRDKAFKA=/path/to/librdkafka [PROFILE=security] [TESTS="0001 0055"]
#                   librdkafka's own test suite against a fresh eddyd (tests/rdkafka-suite/run.sh,
#                   docs/rdkafka-suite.md); not part of make test
#   make format     clang-format every C file in place (ctest 'format' checks it)
#   make install    eddyd, eddy, libeddy (.so + .a), headers, eddy.pc, EddyConfig.cmake into
#                   $(PREFIX) (default /usr/local); DESTDIR=/stage stages it
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_ARGS ?=
PREFIX ?= /usr/local
SECURE ?= 0
DESTDIR ?=

.PHONY: all deps build format install asan test test-fast test-asan test-tsan demo demo-check bench bench-quick fuzz soak multibroker-full rdkafka-suite clean

all: build

deps:
	@bash scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

format:
	@bash scripts/check_format.sh --fix

install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON -DEDDY_TESTS=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test: deps
	@bash scripts/test.sh

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

test-asan: asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure $(CTEST_ARGS)

test-tsan:
	@JOBS=$(JOBS) bash scripts/test-tsan.sh

SOAK_CYCLES ?= 50
soak: build
	@EDDYD=$(BUILD)/src/eddyd/eddyd EDDY_BUILD_DIR=$(BUILD) EDDY_SOAK_CYCLES=$(SOAK_CYCLES) \
	  EDDY_SOAK_SHIM=$(BUILD)/tests/soak/libeddy_soak_enospc.so $(BUILD)/tests/soak/eddy_soak

multibroker-full: build
	@cd $(BUILD) && MB_ORDERS=1000 MB_SAGAS=1000 ctest -V -L multibroker \
	  -R 'multibroker_(calm|leaders|broker-down|coordinator|produce-errors)$$'

# The demo installs only what it runs (EDDY_DEMO_DEPS=1: build tools and libraries, curl,
# python3; no Node, no PostgreSQL server, no bench peers) and builds only eddyd, eddy and the
# services, quietly (the compiler's output goes to $(BUILD)/demo-build.log).
demo:
	@EDDY_DEMO_DEPS=1 bash scripts/deps.sh
	@EDDY_BUILD_DIR=$(BUILD) SECURE=$(SECURE) bash scripts/demo.sh --build

demo-check:
	@EDDY_DEMO_DEPS=1 bash scripts/deps.sh
	@EDDY_BUILD_DIR=$(BUILD) SECURE=$(SECURE) bash scripts/demo.sh --build --check

# The peers' client libraries (libnats, hiredis) are installed BEFORE the build, so the first
# run on a fresh machine configures and builds every load generator (a sub-make, not a
# prerequisite, keeps the order under make -j).
bench:
	@EDDY_BENCH_DEPS=1 bash scripts/deps.sh
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh

bench-quick:
	@EDDY_BENCH_DEPS=1 bash scripts/deps.sh
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh --quick

fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEDDY_FUZZ=ON -DEDDY_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	@bash fuzz/run.sh build-fuzz

LIBRDKAFKA ?=
PROFILE ?= plaintext
SUITE_ARGS ?=
rdkafka-suite:
	@test -n "$(LIBRDKAFKA)" || { echo "make rdkafka-suite LIBRDKAFKA=/path/to/librdkafka-checkout (docs/rdkafka-suite.md)" >&2; exit 2; }
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDDY_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target eddyd eddy_cli
	@EDDY_BUILD_DIR=$(abspath $(BUILD)) bash tests/rdkafka-suite/run.sh "$(LIBRDKAFKA)" --profile $(PROFILE) $(SUITE_ARGS) $(TESTS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-tsan build-fuzz
