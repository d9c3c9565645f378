# Entry points. Each one runs the idempotent setup first, so a fresh machine needs nothing else.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2
MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf
CMAKE_FLAGS ?=

.PHONY: setup model configure build test serve bench clean format

setup:
	@scripts/setup.sh

model: setup
	@scripts/fetch_model.sh
	@scripts/make_kquant_model.py
	@scripts/fetch_llamacpp_assets.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build model
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The OpenAI-compatible server on the default model (http://127.0.0.1:8000/v1); extra flags in
# SERVE_ARGS, e.g. make serve SERVE_ARGS="--kv-profile xquant-1.38 --port 8080".
serve: build model
	@$(BUILD_DIR)/bin/xquant serve --model $(MODEL) $(SERVE_ARGS)

bench: build model
	@$(BUILD_DIR)/bin/xquant bench --model $(MODEL)

format:
	@git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR)
