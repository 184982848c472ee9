# geokv — the two commands of the quick start, and a few more.
#
#   make run    set up, build, start a local 3-datacenter cluster on loopback
#   make test   set up, build, run every test (plus the sanitizer run)
#
# Builds use two jobs: the project's machines have two cores.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
TOPOLOGY   ?= topology/local-3dc.toml
CMAKE_GEN  := -G Ninja

.PHONY: all deps build test test-sanitized run bench fuzz clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) test-sanitized

# The tests that feed hostile bytes to decoders and parsers, again under
# AddressSanitizer + UndefinedBehaviorSanitizer (label "hostile").
test-sanitized: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DGEOKV_SANITIZE=ON -DGEOKV_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target hostile_tests
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L hostile

run: build
	@if [ -x scripts/cluster ]; then scripts/cluster $(TOPOLOGY); \
	else echo "make run: the local cluster arrives with the server (issue 5/6); 'make test' works now."; fi

bench: build
	@for b in $(BUILD)/bench/*; do [ -x "$$b" ] && [ -f "$$b" ] && echo "== $$b" && "$$b"; done; true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
