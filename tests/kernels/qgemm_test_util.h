// What the quantized matmul tests share: realistic random activations, the reference activation
// quantizer, and a fixture that forces each SIMD path this CPU can run in turn.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/qgemm_isa.h"
#include "kernels/include/qgemm.h"

namespace xq::qgemm_test {

inline std::vector<float> RandomActivations(int64_t rows, int64_t in, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(rows * in);
  for (auto& v : x) v = dist(rng);
  // Outliers per block, as in real hidden states, and an all-zero block.
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
  if (x.size() >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  return x;
}

inline std::vector<uint8_t> Quantize(QWeightType t, const std::vector<float>& x, int64_t rows,
                                     int64_t in) {
  std::vector<uint8_t> xq(QuantizedActivationBytes(t, rows, in));
  QuantizeActivationsReference(t, x.data(), rows, in, xq.data());
  return xq;
}

// Every SIMD path this CPU can run, forced in turn; restores automatic selection on exit.
class QGemmIsas : public ::testing::Test {
 protected:
  struct Path {
    QGemmIsa isa;
    KernelPath counted;
    const char* name;
  };
  std::vector<Path> Paths() const {
    std::vector<Path> paths;
    if (DetectedCpuFeatures().avx512_vnni) {
      paths.push_back({QGemmIsa::kAvx512Vnni, KernelPath::kAvx512, "avx512-vnni"});
    }
    if (DetectedCpuFeatures().avx2) paths.push_back({QGemmIsa::kAvx2, KernelPath::kAvx2, "avx2"});
    return paths;
  }
  void SetUp() override {
    if (Paths().empty()) GTEST_SKIP() << "this CPU has no AVX2: no fast path to test";
  }
  void TearDown() override { ForceQGemmIsa(QGemmIsa::kAuto); }
};

}  // namespace xq::qgemm_test
