# geokv — the two commands of the quick start, and a few more.
#
#   make run    set up, build, start a local 3-datacenter cluster on loopback
#   make test   set up, build, run every test (plus the sanitizer run, a
#               Release build and a short fuzz run)
#
# Builds use two jobs: the project's machines have two cores.

BUILD      ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
JOBS       ?= 2
# Tests at once: the integration tests mostly wait on their servers and on
# the network (measured: ctest -j2 used 0.43 of a core over its 231 s), so
# four at a time finish in about half the time (118 s) on two cores, and
# passed so with the machine's load average at 13.
TEST_JOBS  ?= 4
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
TOPOLOGY   ?= topology/local-3dc.toml
CMAKE_GEN  := -G Ninja

# Our own builds treat warnings as errors (a plain cmake build does not).
CMAKE_OPTS := -DGEOKV_WERROR=ON

.PHONY: all deps build build-release test test-sanitized fuzz run bench check-long clean

all: build

deps:
	@scripts/install-deps

# Each library's sources are merged into a few files (CMAKE_UNITY_BUILD; test
# executables stay one file at a time): it keeps make test within its time
# budget on two cores (the default build took 282 s of the 634 s make test
# took without it). The cost: an edit recompiles the batch of up to eight
# files its file is in. A build directory configured before keeps its setting
# (make configures only a new one).
$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) $(CMAKE_OPTS) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_UNITY_BUILD=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS)
	$(MAKE) test-sanitized
	$(MAKE) build-release
	$(MAKE) fuzz

# Every standard build type must build; the default build is RelWithDebInfo,
# the sanitizer build Debug, and this one Release (-O3 finds warnings -O2 does
# not). It builds what users run (server, tools, benchmarks), not the tests,
# which the RelWithDebInfo build compiles: that keeps make test within its
# time budget on two cores. Like the default build, this build and the
# sanitizer build merge each library's sources (CMAKE_UNITY_BUILD):
# measured, 26% less compile time for the Release build.
build-release: deps
	cmake -S . -B $(RELEASE_BUILD) $(CMAKE_GEN) $(CMAKE_OPTS) -DCMAKE_BUILD_TYPE=Release -DGEOKV_TESTS=OFF -DCMAKE_UNITY_BUILD=ON
	cmake --build $(RELEASE_BUILD) -j $(JOBS)

# The tests that feed hostile bytes to decoders and parsers, again under
# AddressSanitizer + UndefinedBehaviorSanitizer (label "hostile").
test-sanitized: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) $(CMAKE_OPTS) -DCMAKE_BUILD_TYPE=Debug -DGEOKV_SANITIZE=ON -DGEOKV_BENCH=OFF -DCMAKE_UNITY_BUILD=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target hostile_tests
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L hostile

# The RESP parser under libFuzzer (clang, with ASan and UBSan) for
# FUZZ_SECONDS: a few seconds in make test, as long as you like on demand.
# New inputs found go to $(FUZZ_BUILD)/corpus, seeded from fuzz/corpus/resp.
fuzz: deps
	@mkdir -p $(FUZZ_BUILD)/corpus
	clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Isrc src/replica/resp/resp_parser.cc fuzz/resp_parser_fuzz.cc -o $(FUZZ_BUILD)/resp_parser_fuzz
	@$(FUZZ_BUILD)/resp_parser_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus fuzz/corpus/resp > $(FUZZ_BUILD)/fuzz.log 2>&1; \
	  rc=$$?; tail -n 25 $(FUZZ_BUILD)/fuzz.log; exit $$rc

run: build
	@scripts/cluster $(TOPOLOGY)

bench: build
	@for b in $(BUILD)/bench/*; do [ -x "$$b" ] && [ -f "$$b" ] && echo "== $$b" && "$$b"; done; true

# The long geokv-check campaign, on demand (minutes, not part of make test):
# seeds x duration at 3 and 5 datacenters under faults; settings in
# scripts/check-long (make check-long CHECK_SEEDS=6 CHECK_DURATION=30s).
check-long: build
	scripts/check-long --build $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD) $(FUZZ_BUILD)
