// The CUDA kernels of kernels/cuda, compiled by the host compiler and run through the SIMT
// emulation, against scalar references: what CI checks of the GPU code without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "engine/sampling/logits_processor.h"
#include "engine/sampling/sampler.h"
#include "kernels/cuda/allowed_tokens.cuh"
#include "kernels/cuda/bias_add.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/logit_edits.cuh"
#include "kernels/cuda/residual_add.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope.cuh"
#include "kernels/cuda/rotate_heads.cuh"
#include "kernels/cuda/sample_tokens.cuh"
#include "kernels/cuda/silu_mul.cuh"
#include "kernels/cuda/synthetic_fill.cuh"
#include "kernels/cuda/to_half.cuh"
#include "kernels/reference/half.h"

namespace xq {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(CudaKernelsEmulated, RmsNormMatchesTheDoublePrecisionReference) {
  for (const auto& [rows, dim, threads] : {std::tuple{3, 576, 256}, std::tuple{2, 100, 64},
                                           std::tuple{1, 31, 32}, std::tuple{4, 1000, 128}}) {
    const auto x = Random(rows * dim, 1, 3.0f), w = Random(dim, 2);
    std::vector<float> out(rows * dim, NAN);
    simt::Launch(dim3(rows), dim3(threads), 32 * sizeof(float), cuda::RmsNormKernel, x.data(),
                 w.data(), out.data(), static_cast<int64_t>(dim), 1e-5f);
    for (int r = 0; r < rows; ++r) {
      double sum = 0;
      for (int i = 0; i < dim; ++i) sum += double(x[r * dim + i]) * x[r * dim + i];
      const double inv = 1.0 / std::sqrt(sum / dim + 1e-5);
      for (int i = 0; i < dim; ++i) {
        const double want = x[r * dim + i] * inv * w[i];
        ASSERT_NEAR(out[r * dim + i], want, 1e-5 * (1 + std::fabs(want)))
            << "row " << r << " i " << i << " dim " << dim << " threads " << threads;
      }
    }
  }
}

TEST(CudaKernelsEmulated, SiluMulAndResidualAddMatchTheCpuRunnerExactly) {
  for (const int64_t n : {1, 255, 256, 1000}) {
    auto gate = Random(n, 3, 4.0f);
    const auto up = Random(n, 4);
    std::vector<float> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    // Fewer threads than elements: the grid-stride loop must cover the rest.
    simt::Launch(dim3(2), dim3(64), 0, cuda::SiluMulKernel, gate.data(), up.data(), n);
    EXPECT_EQ(gate, want) << n;

    auto x = Random(n, 5);
    const auto delta = Random(n, 6);
    std::vector<float> sum(n);
    for (int64_t i = 0; i < n; ++i) sum[i] = x[i] + delta[i];
    simt::Launch(dim3(3), dim3(32), 0, cuda::ResidualAddKernel, x.data(), delta.data(), n);
    EXPECT_EQ(x, sum) << n;
  }
}

TEST(CudaKernelsEmulated, BiasAddBroadcastsOverRowsExactly) {
  for (const auto& [rows, n] : {std::pair{1, 7}, std::pair{5, 64}, std::pair{3, 300}}) {
    auto x = Random(rows * n, 7);
    const auto bias = Random(n, 8);
    std::vector<float> want = x;
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < n; ++i) want[r * n + i] += bias[i];
    }
    simt::Launch(dim3(2), dim3(32), 0, cuda::BiasAddKernel, x.data(), bias.data(),
                 static_cast<int64_t>(n), static_cast<int64_t>(rows * n));
    EXPECT_EQ(x, want) << rows << "x" << n;
  }
}

// Round to nearest even, as the CPU's FloatToHalf: normals, ties, subnormals, overflow.
TEST(CudaKernelsEmulated, ToHalfRoundsAsTheReference) {
  std::vector<float> x = Random(1000, 9, 100.0f);
  for (float special : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, 6e-5f, 1.0f + 0x1p-11f,
                        1.0f + 0x1p-10f + 0x1p-11f, INFINITY}) {
    x.push_back(special);
  }
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> got(n, 0xFFFF);
  simt::Launch(dim3(3), dim3(64), 0, cuda::ToHalfKernel, x.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], FloatToHalf(x[i])) << x[i];
}

// A synthetic model's values on the device are the host's bit for bit, as fp32 and rounded to
// fp16; the grid covers fewer threads than elements (grid-stride).
TEST(CudaKernelsEmulated, SyntheticFillGeneratesTheHostsValues) {
  const int64_t n = 1000;
  const uint64_t seed = 3, stream = 17;
  const float scale = 0.0625f * 1.7f;
  std::vector<float> got(n, NAN);
  std::vector<uint16_t> halves(n, 0xFFFF);
  simt::Launch(dim3(3), dim3(64), 0, cuda::SyntheticFillKernel<float>, got.data(), n, seed, stream,
               scale);
  simt::Launch(dim3(2), dim3(96), 0, cuda::SyntheticFillKernel<uint16_t>, halves.data(), n, seed,
               stream, scale);
  for (int64_t i = 0; i < n; ++i) {
    const float want = scale * SyntheticNoise(seed, stream, static_cast<uint64_t>(i));
    ASSERT_EQ(got[i], want) << i;
    ASSERT_EQ(halves[i], FloatToHalf(want)) << i;
  }
  EXPECT_NE(got[0], got[1]);
}

// The same butterflies as the CPU runner's RotateHeads, so the rows both backends cache agree bit
// for bit; the grid covers fewer threads than head vectors, in both directions.
TEST(CudaKernelsEmulated, RotateHeadsMatchesTheCpuRotationExactly) {
  for (const auto& [rows, heads, head_dim] :
       {std::tuple{5, 3, 64}, std::tuple{2, 9, 96}, std::tuple{1, 1, 128}}) {
    const int64_t vectors = rows * heads;
    for (const bool inverse : {false, true}) {
      auto x = Random(vectors * head_dim, 7);
      auto want = x;
      for (int64_t i = 0; i < vectors; ++i)
        RotateHead(want.data() + i * head_dim, head_dim, inverse);
      simt::Launch(dim3(2), dim3(4), 0, cuda::RotateHeadsKernel, x.data(),
                   static_cast<int64_t>(vectors), static_cast<int64_t>(head_dim), inverse);
      EXPECT_EQ(x, want) << rows << "x" << heads << "x" << head_dim << " inverse " << inverse;
    }
  }
}

// The CPU runner's RoPE (engine/runner/cpu_model_runner.cpp), written out: same float
// operations, so the emulated kernel must agree bit for bit.
void RopeReference(std::vector<float>& x, const std::vector<int32_t>& positions, int64_t heads,
                   int64_t head_dim, float theta_scale, float freq_scale,
                   const std::vector<float>& divisors) {
  const int64_t half = head_dim / 2;
  for (size_t r = 0; r < positions.size(); ++r) {
    float theta = static_cast<float>(positions[r]);
    std::vector<float> c(half), s(half);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = freq_scale * (theta / divisors[i]);
      c[i] = std::cos(angle);
      s[i] = std::sin(angle);
      theta *= theta_scale;
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x.data() + (r * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = a * s[i] + b * c[i];
      }
    }
  }
}

TEST(CudaKernelsEmulated, RopeMatchesTheCpuRunnerExactly) {
  const std::vector<int32_t> positions = {0, 1, 7, 300, 8191};
  for (const auto& [heads, head_dim, llama3] :
       {std::tuple{3, 64, false}, std::tuple{9, 64, true}, std::tuple{2, 128, false}}) {
    const float theta_scale = std::pow(10000.0f, -2.0f / static_cast<float>(head_dim));
    std::vector<float> divisors(head_dim / 2, 1.0f);
    if (llama3) {
      for (int64_t i = head_dim / 4; i < head_dim / 2; ++i) divisors[i] = 8.0f - i % 3;
    }
    auto x = Random(static_cast<int64_t>(positions.size()) * heads * head_dim, 8);
    auto want = x;
    RopeReference(want, positions, heads, head_dim, theta_scale, 0.5f, divisors);
    simt::Launch(dim3(static_cast<unsigned>(positions.size())), dim3(64), 0, cuda::RopeKernel,
                 x.data(), positions.data(), static_cast<int64_t>(heads),
                 static_cast<int64_t>(head_dim), theta_scale, 0.5f, divisors.data());
    EXPECT_EQ(x, want) << heads << "x" << head_dim;
  }
}

TEST(CudaKernelsEmulated, EmbeddingGathersRows) {
  constexpr int64_t kVocab = 50, kHidden = 70;
  const auto table = Random(kVocab * kHidden, 7);
  const std::vector<int32_t> tokens = {3, 49, 0, 3, 17};
  std::vector<float> out(tokens.size() * kHidden, NAN);
  simt::Launch(dim3(static_cast<unsigned>(tokens.size())), dim3(32), 0, cuda::EmbeddingKernel,
               tokens.data(), table.data(), out.data(), kHidden);
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int64_t i = 0; i < kHidden; ++i) {
      ASSERT_EQ(out[t * kHidden + i], table[tokens[t] * kHidden + i]);
    }
  }
}

}  // namespace
}  // namespace xq

namespace xq {
namespace {

// Rows of random logits with the cases ArgMax has to get right: exact ties (values on a coarse
// grid), -inf (masked), NaN, a row masked everywhere and one NaN everywhere.
std::vector<float> ArgMaxRows(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(rows * vocab);
  for (float& v : x) {
    const uint32_t r = rng() % 100;
    v = r < 5   ? -INFINITY
        : r < 7 ? NAN
                : static_cast<float>(static_cast<int>(rng() % 64) - 32) * 0.25f;
  }
  if (rows > 2) {
    std::fill(x.begin() + vocab, x.begin() + 2 * vocab, -INFINITY);
    std::fill(x.begin() + 2 * vocab, x.begin() + 3 * vocab, NAN);
  }
  return x;
}

TEST(CudaKernelsEmulated, GreedyRowsSampleTheCpuArgMaxOfTheListedRows) {
  for (const auto& [vocab, threads] :
       {std::pair{1000, 256}, std::pair{1, 32}, std::pair{31, 64}, std::pair{5000, 128}}) {
    const int64_t rows = 7;
    const auto x = ArgMaxRows(rows, vocab, static_cast<uint32_t>(vocab));
    const std::vector<int64_t> listed = {0, 1, 2, 4, 6};
    std::vector<int32_t> tokens(listed.size(), -1);
    // Greedy by temperature 0 and by top_k 1 (whatever the temperature).
    std::vector<RowSampling> params(listed.size());
    params[1].temperature = params[3].temperature = 0.7f;
    params[1].top_k = params[3].top_k = 1;
    simt::Launch(dim3(listed.size()), dim3(threads),
                 cuda::SampleTokensSharedBytes(static_cast<unsigned>(threads)),
                 cuda::SampleTokensKernel, x.data(), static_cast<int64_t>(vocab), listed.data(),
                 params.data(), tokens.data());
    for (size_t i = 0; i < listed.size(); ++i) {
      const std::span<const float> row(x.data() + listed[i] * vocab, vocab);
      EXPECT_EQ(tokens[i], ArgMax(row)) << "vocab " << vocab << " row " << listed[i];
    }
  }
}

TEST(CudaKernelsEmulated, AllowedTokensMaskWhatTheBitmaskForbidsAndNothingElse) {
  const int64_t vocab = 100, rows = 4;  // 100: the last word is partly past the vocabulary
  const std::vector<float> before = Random(rows * vocab, 31);
  std::vector<float> x = before;
  std::mt19937 rng(32);
  const int64_t words = AllowedTokenWords(vocab);
  std::vector<uint32_t> allowed(2 * words);
  for (uint32_t& w : allowed) w = static_cast<uint32_t>(rng());
  // Entry 0: row 1, bitmask 1; entry 1: row 3, no bitmask; entry 2: row 2, bitmask 0.
  const std::vector<int64_t> listed = {1, 3, 2};
  std::vector<RowSampling> params(3);
  params[0].allowed_tokens = 1;
  params[2].allowed_tokens = 0;
  simt::Launch(dim3(listed.size()), dim3(64), 0, cuda::AllowedTokensKernel, x.data(), vocab,
               listed.data(), params.data(), allowed.data());
  int masked = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t slot = r == 1 ? 1 : r == 2 ? 0 : -1;
    for (int64_t t = 0; t < vocab; ++t) {
      const bool allowed_here = slot < 0 || TokenAllowed(allowed.data() + slot * words, t);
      const float want = allowed_here ? before[r * vocab + t] : -INFINITY;
      ASSERT_EQ(x[r * vocab + t], want) << "row " << r << " token " << t;
      masked += !allowed_here;
    }
  }
  EXPECT_GT(masked, 50);
}

TEST(CudaKernelsEmulated, LogitEditsGiveTheCpuSamplersRowBitwise) {
  std::mt19937 rng(21);
  const int64_t vocab = 700, rows = 5;
  auto x = Random(rows * vocab, 22, 4.0f);
  std::vector<float> want = x;
  // Each listed row: its own history and parameters, every kind of edit.
  const std::vector<int64_t> listed = {0, 2, 3};
  std::vector<int64_t> indptr = {0};
  std::vector<LogitEdit> edits;
  for (int64_t r : listed) {
    SamplingParams p;
    p.repetition_penalty = 1.0f + static_cast<float>(r) * 0.3f;
    p.presence_penalty = 0.7f;
    p.frequency_penalty = r == 2 ? -1.3f : 0.4f;
    for (int i = 0; i < 20; ++i) p.logit_bias[static_cast<int32_t>(rng() % vocab)] = 0.1f * i - 1;
    p.logit_bias[static_cast<int32_t>(vocab + 5)] = 3.0f;  // out of range: ignored
    std::vector<int32_t> prompt;
    for (int i = 0; i < 200; ++i) prompt.push_back(static_cast<int32_t>(rng() % vocab));
    TokenHistory history(prompt);
    for (int i = 0; i < 60; ++i) history.AddOutput(static_cast<int32_t>(rng() % vocab));
    const std::vector<int32_t> masked = {1, 7, 1, static_cast<int32_t>(rng() % vocab)};
    const size_t first = edits.size();
    AppendLogitEdits(p, history, masked, edits);
    indptr.push_back(static_cast<int64_t>(edits.size()));
    ApplyLogitEdits(std::span(want).subspan(r * vocab, vocab),
                    std::span(edits).subspan(first, edits.size() - first));
  }
  // The kernel must not depend on the host's kind order: shuffle each row's edits.
  for (size_t i = 0; i + 1 < indptr.size(); ++i) {
    std::shuffle(edits.begin() + indptr[i], edits.begin() + indptr[i + 1], rng);
  }
  simt::Launch(dim3(listed.size()), dim3(64), 0, cuda::LogitEditsKernel, x.data(), vocab,
               listed.data(), indptr.data(), edits.data());
  ASSERT_EQ(std::memcmp(x.data(), want.data(), x.size() * sizeof(float)), 0);
  EXPECT_NE(x, Random(rows * vocab, 22, 4.0f)) << "the edits changed nothing";
}

}  // namespace
}  // namespace xq
