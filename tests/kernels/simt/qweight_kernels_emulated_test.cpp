// The quantized-weight kernels through the SIMT emulation, for every block type the device
// decodes (Q4_0, Q4_1, Q8_0 and the K-quants Q4_K, Q5_K, Q6_K): the GEMV and the tensor-core GEMM
// straight from GGML blocks against a double-precision product of the host's dequantized values,
// and the device's dequantization and embedding bitwise against the host's
// (engine/model/dequantize.h, itself checked against gguf-py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "engine/model/dequantize.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/qweight_blocks.cuh"
#include "kernels/reference/half.h"

namespace xq {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                               GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

bool IsKQuant(GgmlType t) { return cuda::QBlockValues(t) == 256; }

// A [out, in] matrix in GGML blocks: fp16 scales of a real model's magnitude, any quants (and any
// 6- or 8-bit sub-block scales in K-quants).
Tensor RandomMatrix(GgmlType t, int64_t out, int64_t in, std::mt19937& rng) {
  Tensor m;
  m.shape = {out, in};
  m.block_type = t;
  const int64_t bytes = cuda::QBlockBytes(t);
  m.blocks.resize(out * cuda::QRowBytes(t, in));
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t at = 0; at < m.blocks.size(); at += bytes) {
    for (int64_t j = 0; j < bytes; ++j) m.blocks[at + j] = static_cast<uint8_t>(byte(rng));
    // Where each type keeps its fp16 scale, and its min (Q4_1, Q5_1) or the scale of mins (Q4_K,
    // Q5_K).
    const uint16_t d = FloatToHalf(scale(rng) / (IsKQuant(t) ? 32 : 1));
    std::memcpy(&m.blocks[at + (t == GgmlType::kQ6_K ? 208 : 0)], &d, 2);
    const uint16_t min = FloatToHalf(-8.0f * scale(rng)), dmin = FloatToHalf(scale(rng) / 8);
    if (t == GgmlType::kQ4_1 || t == GgmlType::kQ5_1) std::memcpy(&m.blocks[at + 2], &min, 2);
    if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) std::memcpy(&m.blocks[at + 2], &dmin, 2);
  }
  return m;
}

std::vector<float> HostValues(const Tensor& m) {
  std::vector<float> v(m.rows() * m.cols());
  for (int64_t r = 0; r < m.rows(); ++r) DequantizeMatrixRow(m, r, v.data() + r * m.cols());
  return v;
}

// The weights the products take: the host's values rounded to fp16.
std::vector<float> Fp16Values(const Tensor& m) {
  std::vector<float> v = HostValues(m);
  for (float& x : v) x = HalfToFloat(FloatToHalf(x));
  return v;
}

TEST(QWeightKernelsEmulated, DequantizeToHalfIsTheHostsValuesRounded) {
  std::mt19937 rng(5);
  for (GgmlType t : kTypes) {
    const int64_t in = IsKQuant(t) ? 512 : 96;
    const Tensor m = RandomMatrix(t, 5, in, rng);
    const std::vector<float> want = HostValues(m);
    std::vector<uint16_t> got(want.size(), 0xFFFF);
    // Rows 1..4 alone (a slice starts mid-matrix), then row 0.
    const int64_t row_bytes = cuda::QRowBytes(t, in);
    cuda::LaunchDequantizeToHalf(t, m.blocks.data() + row_bytes, 4, in, got.data() + in, nullptr);
    cuda::LaunchDequantizeToHalf(t, m.blocks.data(), 1, in, got.data(), nullptr);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], FloatToHalf(want[i])) << "type " << static_cast<int>(t) << " element " << i;
    }
  }
}

// A kernel computing y (+)= x * w^T against the product in double: fp32 sums of `in` products in
// some order are within in * 2^-24 of their magnitude each way.
using Product = std::function<void(const uint16_t* x, float* y, bool accumulate)>;
void CheckProduct(const Product& kernel, const std::vector<float>& w, int64_t rows, int64_t out,
                  int64_t in, std::mt19937& rng) {
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<uint16_t> x(rows * in);
  for (uint16_t& h : x) h = FloatToHalf(n01(rng));
  for (bool accumulate : {false, true}) {
    std::vector<float> y(rows * out);
    for (float& v : y) v = n01(rng);
    const std::vector<float> before = y;
    kernel(x.data(), y.data(), accumulate);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double want = accumulate ? before[r * out + o] : 0.0, magnitude = 0.0;
        for (int64_t i = 0; i < in; ++i) {
          const double p = double(w[o * in + i]) * HalfToFloat(x[r * in + i]);
          want += p;
          magnitude += std::fabs(p);
        }
        ASSERT_NEAR(y[r * out + o], want, in * std::ldexp(magnitude, -24) + 1e-6)
            << rows << " rows, " << out << " x " << in << ", row " << r << " output " << o
            << (accumulate ? ", accumulating" : "");
      }
    }
  }
}

TEST(QWeightKernelsEmulated, GemvMatchesTheFp16Product) {
  std::mt19937 rng(6);
  for (GgmlType t : kTypes) {
    SCOPED_TRACE(::testing::Message() << "type " << static_cast<int>(t));
    // 3 or 8 groups of 32 a row (most lanes idle) and 70 or 72 (lanes take 2 or 3); 7 outputs: a
    // warp of the second CUDA block has none.
    const auto ins = IsKQuant(t) ? std::vector<int64_t>{256, 2304} : std::vector<int64_t>{96, 2240};
    for (int64_t in : ins) {
      const int64_t out = 7;
      const Tensor m = RandomMatrix(t, out, in, rng);
      for (int64_t rows : {1, 2, 3, 5, 8}) {
        CheckProduct(
            [&](const uint16_t* x, float* y, bool accumulate) {
              cuda::LaunchQGemv(t, m.blocks.data(), out, in, x, rows, y, accumulate, nullptr);
            },
            Fp16Values(m), rows, out, in, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(QWeightKernelsEmulated, TensorCoreGemmMatchesTheFp16Product) {
  std::mt19937 rng(7);
  for (GgmlType t : kTypes) {
    SCOPED_TRACE(::testing::Message() << "type " << static_cast<int>(t));
    // Partial tiles every way: 9 and 70 rows (64 a tile), 7 and 130 features (64 a tile), 96
    // and 288 inputs (128 a stage; K-quants: 256 and 768, two stages a super-block).
    for (const auto& [rows, out, in96] :
         {std::tuple<int64_t, int64_t, int64_t>{9, 7, 96}, {70, 130, 288}}) {
      const int64_t in = IsKQuant(t) ? in96 / 96 * 256 : in96;
      const Tensor m = RandomMatrix(t, out, in, rng);
      CheckProduct(
          [&](const uint16_t* x, float* y, bool accumulate) {
            cuda::LaunchQMmaGemm(t, m.blocks.data(), out, in, x, rows, y, accumulate, nullptr);
          },
          Fp16Values(m), rows, out, in, rng);
      if (HasFatalFailure()) return;
    }
  }
}

constexpr int64_t kWorkspaceFloats = 2 * cuda::kQMmaTargetBlocks * 64 * 64;

// Inputs split over grid.z: every split's partial sums are written (the workspace's NaNs are
// gone) and added into y, accumulating or not, with 2 and 3 splits of 3 stages (K-quants: 6).
TEST(QWeightKernelsEmulated, SplitTensorCoreGemmAddsEverySplitsSums) {
  std::mt19937 rng(9);
  const int64_t rows = 70, out = 130;
  for (GgmlType t : kTypes) {
    SCOPED_TRACE(::testing::Message() << "type " << static_cast<int>(t));
    const int64_t in = IsKQuant(t) ? 768 : 288;
    const Tensor m = RandomMatrix(t, out, in, rng);
    for (int splits : {2, 3}) {
      std::vector<float> workspace(kWorkspaceFloats);
      CheckProduct(
          [&](const uint16_t* x, float* y, bool accumulate) {
            std::fill(workspace.begin(), workspace.end(), NAN);
            cuda::LaunchQMmaGemm(t, m.blocks.data(), out, in, x, rows, y, accumulate, nullptr,
                                 workspace.data(), kWorkspaceFloats, splits);
            const auto written = workspace.begin() + splits * rows * out;
            EXPECT_EQ(
                std::count_if(workspace.begin(), written, [](float v) { return std::isnan(v); }),
                0);
            EXPECT_TRUE(std::isnan(*written));
          },
          Fp16Values(m), rows, out, in, rng);
      if (HasFatalFailure()) return;
    }
  }
  // More splits than stages, or partial sums past the workspace, are refused when asked for; the
  // launcher's own choice falls back to one split when the workspace is short.
  const Tensor m = RandomMatrix(GgmlType::kQ8_0, 64, 256, rng);
  alignas(16) static uint16_t x[9 * 256] = {};
  std::vector<float> y(9 * 64), workspace(kWorkspaceFloats, NAN);
  auto launch = [&](int64_t floats, int splits) {
    cuda::LaunchQMmaGemm(GgmlType::kQ8_0, m.blocks.data(), 64, 256, x, 9, y.data(), false, nullptr,
                         workspace.data(), floats, splits);
  };
  EXPECT_THROW(launch(kWorkspaceFloats, 3), std::invalid_argument);  // 2 stages
  const Tensor five = RandomMatrix(GgmlType::kQ8_0, 64, 640, rng);   // 5 stages: 4 splits of 2
  std::vector<uint16_t> x5(9 * 640);
  EXPECT_THROW(
      cuda::LaunchQMmaGemm(GgmlType::kQ8_0, five.blocks.data(), 64, 640, x5.data(), 9, y.data(),
                           false, nullptr, workspace.data(), kWorkspaceFloats, 4),
      std::invalid_argument)
      << "the fourth split would have no stage";
  EXPECT_THROW(launch(2 * 9 * 64 - 1, 2), std::invalid_argument);
  ASSERT_EQ(cuda::QMmaSplits(9, 64, 256), 2);
  launch(2 * 9 * 64 - 1, 0);
  EXPECT_TRUE(std::isnan(workspace[0]));
  EXPECT_EQ(y[0], 0.0f);
  launch(2 * 9 * 64, 0);
  EXPECT_FALSE(std::isnan(workspace[0]));
}

// How many splits a product gets: none where the tiles already fill the GPU or one stage is all
// there is; otherwise enough to reach the target, each with the same number of stages give or
// take the last's remainder (none empty), within the workspace.
TEST(QWeightKernelsEmulated, SplitsFillTheGpuWithinTheWorkspace) {
  EXPECT_EQ(cuda::QMmaSplits(256, 14336, 4096), 1);  // 896 tiles
  EXPECT_EQ(cuda::QMmaSplits(32, 1024, 96), 1);      // one stage
  EXPECT_EQ(cuda::QMmaSplits(32, 1024, 4096), 16);   // Llama-3-8B's K: 16 tiles, 32 stages
  EXPECT_EQ(cuda::QMmaSplits(32, 4096, 4096), 8);    // Q: 64 tiles -> 9 wanted, 4 stages each
  for (int64_t rows = 9; rows <= 256; rows += 13) {
    for (int64_t out : {7, 130, 1024, 4096, 14336, 128256}) {
      for (int64_t in : {96, 288, 4096, 14336}) {
        const int s = cuda::QMmaSplits(rows, out, in);
        const int64_t stages = (in + 127) / 128, per = (stages + s - 1) / s;
        ASSERT_GE(s, 1);
        ASSERT_LE(s, cuda::kQMmaMaxSplits);
        ASSERT_LT((s - 1) * per, stages) << rows << " " << out << " " << in;
        ASSERT_EQ(cuda::QMmaPartialFloats(rows, out, in), s > 1 ? s * rows * out : 0);
        ASSERT_LE(cuda::QMmaPartialFloats(rows, out, in), kWorkspaceFloats);
      }
    }
  }
}

TEST(QWeightKernelsEmulated, EmbeddingRowsAreTheHostsValues) {
  std::mt19937 rng(8);
  for (GgmlType t : kTypes) {
    const int64_t hidden = IsKQuant(t) ? 512 : 96;
    const Tensor table = RandomMatrix(t, 5, hidden, rng);
    const std::vector<float> want = HostValues(table);
    const std::vector<int32_t> tokens = {3, 0, 3, 4};
    std::vector<float> got(tokens.size() * hidden, NAN);
    cuda::LaunchQEmbedding(t, tokens.data(), 4, table.blocks.data(), got.data(), hidden, nullptr);
    for (size_t i = 0; i < tokens.size(); ++i) {
      EXPECT_EQ(std::memcmp(got.data() + i * hidden, want.data() + tokens[i] * hidden,
                            hidden * sizeof(float)),
                0)
          << "type " << static_cast<int>(t) << " token " << tokens[i];
    }
  }
}

TEST(QWeightKernelsEmulated, GemvRefusesMoreRowsThanItHolds) {
  std::vector<uint8_t> w(34);
  std::vector<uint16_t> x(9 * 32);
  std::vector<float> y(9);
  EXPECT_THROW(
      cuda::LaunchQGemv(GgmlType::kQ8_0, w.data(), 1, 32, x.data(), 9, y.data(), false, nullptr),
      std::invalid_argument);
}

// The launchers take exactly the types DeviceDecodes names (the runner uploads the rest as fp16),
// and K-quant rows only in whole super-blocks of 256.
TEST(QWeightKernelsEmulated, LaunchersTakeTheTypesTheDeviceDecodes) {
  std::vector<uint8_t> w(4096);
  alignas(16) uint16_t x[2 * 512] = {};
  std::vector<float> y(2 * 8);
  for (GgmlType t : {GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_1, GgmlType::kQ2_K,
                     GgmlType::kQ3_K, GgmlType::kQ8_K}) {
    EXPECT_FALSE(cuda::DeviceDecodes(t));
    EXPECT_THROW(cuda::LaunchQGemv(t, w.data(), 1, 256, x, 1, y.data(), false, nullptr),
                 std::invalid_argument)
        << static_cast<int>(t);
    EXPECT_THROW(cuda::LaunchDequantizeToHalf(t, w.data(), 1, 256, x, nullptr),
                 std::invalid_argument);
  }
  for (GgmlType t : kTypes) {
    EXPECT_TRUE(cuda::DeviceDecodes(t));
    EXPECT_NO_THROW(cuda::LaunchQGemv(t, w.data(), 1, 256, x, 1, y.data(), false, nullptr));
    if (!IsKQuant(t)) continue;
    EXPECT_THROW(cuda::LaunchQGemv(t, w.data(), 1, 96, x, 1, y.data(), false, nullptr),
                 std::invalid_argument);
    EXPECT_THROW(cuda::LaunchQMmaGemm(t, w.data(), 1, 384, x, 9, y.data(), false, nullptr),
                 std::invalid_argument);
    EXPECT_THROW(cuda::LaunchDequantizeToHalf(t, w.data(), 1, 96, x, nullptr),
                 std::invalid_argument);
    int32_t token = 0;
    EXPECT_THROW(cuda::LaunchQEmbedding(t, &token, 1, w.data(), y.data(), 96, nullptr),
                 std::invalid_argument);
  }
}

}  // namespace
}  // namespace xq
