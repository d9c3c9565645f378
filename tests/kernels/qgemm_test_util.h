// What the quantized matmul tests share: realistic random activations, the reference activation
// quantizer, and a fixture that forces each SIMD path this CPU can run in turn.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
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

// QGemm on one weight matrix, per-call packing and packed once, against QGemmReference bit for bit
// at row counts across tiles of 4 and 8 and items of 64; adds the QGemm calls made to *calls (for
// the path counters).
inline void ExpectQGemmMatchesReference(QWeightType t, const std::vector<uint8_t>& w, int64_t out,
                                        int64_t in, std::mt19937& rng, const std::string& what,
                                        int64_t* calls) {
  std::vector<uint8_t> packed(PackedQWeightBytes(t, out, in));
  PackQWeights(t, w.data(), out, in, packed.data());
  for (int64_t rows : {1, 2, 5, 14, 33, 70}) {
    const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
    std::vector<float> want(rows * out), got(rows * out, NAN), got_packed = got;
    QGemmReference({t, w.data(), out, in, xq.data(), rows, want.data(), false});
    QGemm({t, w.data(), out, in, xq.data(), rows, got.data(), false});
    QGemm({t, packed.data(), out, in, xq.data(), rows, got_packed.data(), false, true});
    *calls += 2;
    ASSERT_EQ(got, want) << what << " in=" << in << " out=" << out << " rows=" << rows;
    ASSERT_EQ(got_packed, want) << what << " packed in=" << in << " out=" << out
                                << " rows=" << rows;
  }
}

// What serving relies on: a row's outputs are the same whether it runs alone or in a batch of 67.
inline void ExpectRowsIndependentOfBatch(QWeightType t, const std::vector<uint8_t>& w, int64_t out,
                                         int64_t in, std::mt19937& rng, const std::string& what) {
  const int64_t rows = 67;
  const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
  std::vector<float> batch(rows * out);
  QGemm({t, w.data(), out, in, xq.data(), rows, batch.data(), false});
  const size_t row_bytes = xq.size() / rows;
  for (int64_t r : {0, 3, 64, 66}) {
    std::vector<float> alone(out);
    QGemm({t, w.data(), out, in, xq.data() + r * row_bytes, 1, alone.data(), false});
    EXPECT_EQ(alone, std::vector<float>(batch.begin() + r * out, batch.begin() + (r + 1) * out))
        << what << " row " << r;
  }
}

// accumulate = true adds exactly the product to y, in QGemm and in QGemmReference (9 rows).
inline void ExpectAccumulateAddsToY(QWeightType t, const std::vector<uint8_t>& w, int64_t out,
                                    int64_t in, std::mt19937& rng, const std::string& what) {
  const int64_t rows = 9;
  const auto xq = Quantize(t, RandomActivations(rows, in, rng), rows, in);
  std::vector<float> product(rows * out), base = RandomActivations(rows, out, rng);
  QGemmReference({t, w.data(), out, in, xq.data(), rows, product.data(), false});
  std::vector<float> simd = base, ref = base;
  QGemm({t, w.data(), out, in, xq.data(), rows, simd.data(), true});
  QGemmReference({t, w.data(), out, in, xq.data(), rows, ref.data(), true});
  for (size_t i = 0; i < base.size(); ++i) {
    EXPECT_EQ(simd[i], base[i] + product[i]) << what << " i=" << i;
    EXPECT_EQ(ref[i], base[i] + product[i]) << what << " reference i=" << i;
  }
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
