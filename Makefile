# The two commands of the README are `make run` and `make test`; the rest are for developers.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CTEST_ARGS ?=

.PHONY: all deps deps-test configure build test test-asan run bench format clean help stubs \
	fuzz-build fuzz-quick reliability

all: build

help:
	@echo "make run     install what is missing, build, start the stack with demo data"
	@echo "make test    install what is missing, build, run every test"
	@echo "make build | bench | format | test-asan | fuzz-quick | reliability | clean"

deps:
	@./deploy/install-deps.sh

deps-test:
	@./deploy/install-deps.sh --test

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: deps-test configure
	cmake --build $(BUILD_DIR) -j$(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j$(JOBS) $(CTEST_ARGS)
	$(MAKE) fuzz-quick

# Fuzzing: a separate clang build with libFuzzer, ASan and UBSan, of the fuzz targets only.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 6
FUZZ_LONG_SECONDS ?= 300

$(FUZZ_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=clang++-14 \
		-DSTP_FUZZ=ON -DSTP_BUILD_BENCH=OFF

fuzz-build: deps-test $(FUZZ_BUILD_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzz_targets

# Every fuzz target for FUZZ_SECONDS (part of `make test`).
fuzz-quick: fuzz-build
	./tests/fuzz/run_fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

# The long reliability suite (more operations and fault cycles) and long fuzz runs.
reliability: deps-test configure
	cmake --build $(BUILD_DIR) -j$(JOBS) --target reliability_fault_test reliability_hostile_test
	cd $(BUILD_DIR) && STP_RELIABILITY_LONG=1 ctest --output-on-failure -L reliability $(CTEST_ARGS)
	$(MAKE) fuzz-build
	./tests/fuzz/run_fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_LONG_SECONDS)

# AddressSanitizer and UndefinedBehaviorSanitizer over the unit and integration suites.
test-asan: deps-test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTP_SANITIZE=address,undefined -DSTP_BUILD_BENCH=OFF
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -L 'unit|integration' $(CTEST_ARGS)

run: build
	./deploy/run-local.sh $(BUILD_DIR)

bench: build
	./bench/run.sh $(BUILD_DIR)

# Python stubs for partners, generated from the protos into $(BUILD_DIR)/stubs/python.
stubs: deps
	./tools/python/generate.sh $(BUILD_DIR)/stubs/python
	@echo "add $(BUILD_DIR)/stubs/python to PYTHONPATH; see examples/python/quickstart.py"

format:
	find libs services tools tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-asan $(FUZZ_BUILD_DIR)
