# The two commands of the README are `make run` and `make test`; the rest are for developers.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CTEST_ARGS ?=

.PHONY: all deps deps-test configure build test test-asan run bench format clean help stubs

all: build

help:
	@echo "make run     install what is missing, build, start the stack with demo data"
	@echo "make test    install what is missing, build, run every test"
	@echo "make build | bench | format | test-asan | clean"

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
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 $(CTEST_ARGS)

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
	rm -rf $(BUILD_DIR) build-asan
