#!/usr/bin/env bash
# Idempotent machine setup: installs the Debian and PyPI packages that building, testing and
# serving need. Every entry point (make, .ci/run) calls this; nothing is assumed installed by hand.
set -euo pipefail

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git unzip curl ca-certificates
  libopenblas-openmp-dev libpcre2-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libcli11-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
)
# "distribution:module" where the import name differs.
PYTHON_PACKAGES=(numpy jinja2 gguf pytest openai requests grpcio:grpc grpcio-tools:grpc_tools
                 grpcio-health-checking:grpc_health grpcio-reflection:grpc_reflection
                 langchain-openai:langchain_openai)

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

pip_missing=()
for pkg in "${PYTHON_PACKAGES[@]}"; do
  python3 -c "import ${pkg#*:}" 2>/dev/null || pip_missing+=("${pkg%%:*}")
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
