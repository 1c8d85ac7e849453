# Eddy — front door. The real build is CMake; these targets are what people type.
#   make            build everything (build/)
#   make test       install deps, build, run the whole suite, then again under ASan+UBSan
#   make demo       the reference system on the embedded broker, left running
#   make demo-check the same scenario, non-interactive, exits 0 only if every order ends right
#   make bench      benchmarks against peers (make bench-quick: < 2 min)
#   make soak       SIGKILL/torn-tail/full-disk soak, SOAK_CYCLES (default 50), one-line verdict
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_ARGS ?=

.PHONY: all deps build asan test test-fast test-asan demo demo-check bench bench-quick fuzz soak clean

all: build

deps:
	@bash scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test: deps
	@bash scripts/test.sh

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

test-asan: asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure $(CTEST_ARGS)

SOAK_CYCLES ?= 50
soak: build
	@EDDYD=$(BUILD)/src/eddyd/eddyd EDDY_BUILD_DIR=$(BUILD) EDDY_SOAK_CYCLES=$(SOAK_CYCLES) \
	  EDDY_SOAK_SHIM=$(BUILD)/tests/soak/libeddy_soak_enospc.so $(BUILD)/tests/soak/eddy_soak

demo: deps build
	@bash scripts/demo.sh

demo-check: deps build
	@bash scripts/demo.sh --check

bench: build
	@EDDY_BENCH_DEPS=1 bash scripts/deps.sh
	@bash bench/run.sh

bench-quick: build
	@EDDY_BENCH_DEPS=1 bash scripts/deps.sh
	@bash bench/run.sh --quick

fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEDDY_FUZZ=ON -DEDDY_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	@bash fuzz/run.sh build-fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
