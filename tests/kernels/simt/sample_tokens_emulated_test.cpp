// The device sampling kernel (kernels/cuda/sample_tokens.cuh) through the SIMT emulation against
// the scalar reference of the draw (kernels/include/row_sampling.h): every truncation alone and
// combined, masked and tied logits, vocabularies that are not a multiple of the block.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/sample_tokens.cuh"
#include "kernels/include/row_sampling.h"

namespace xq {
namespace {

// Row r of `rows`: normal logits, some masked to -inf, and in odd rows coarse values so that
// many tokens tie (top_k and top_p then cut inside a run of equal values).
std::vector<float> Logits(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> x(rows * vocab);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < vocab; ++i) {
      float v = normal(rng);
      if (r % 2 == 1) v = std::round(v);
      if (rng() % 9 == 0) v = -INFINITY;
      x[r * vocab + i] = v;
    }
  }
  return x;
}

struct Outcome {
  int rows = 0, sampled = 0;  // rows compared; of them, tokens other than the first maximum
};

// Samples every row once per parameter set in one launch and compares with the reference.
Outcome ExpectSameAsReference(int64_t vocab, unsigned threads, const std::vector<RowSampling>& ps,
                              uint32_t seed) {
  const int64_t rows = 6;
  const std::vector<float> x = Logits(rows, vocab, seed);
  std::vector<int64_t> listed;
  std::vector<RowSampling> params;
  std::mt19937_64 rng(seed);
  for (const RowSampling& p : ps) {
    for (int64_t r = 0; r < rows; ++r) {
      listed.push_back(r);
      params.push_back(p);
      params.back().uniform = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    }
  }
  std::vector<int32_t> tokens(listed.size(), -1);
  simt::Launch(dim3(listed.size()), dim3(threads), cuda::SampleTokensSharedBytes(threads),
               cuda::SampleTokensKernel, x.data(), vocab, listed.data(), params.data(),
               tokens.data());
  Outcome out;
  for (size_t i = 0; i < listed.size(); ++i) {
    const float* row = x.data() + listed[i] * vocab;
    const int32_t want = SampleRowReference(row, vocab, params[i]);
    const RowSampling& p = params[i];
    EXPECT_EQ(tokens[i], want) << "vocab " << vocab << " threads " << threads << " row "
                               << listed[i] << " t " << p.temperature << " top_k " << p.top_k
                               << " top_p " << p.top_p << " min_p " << p.min_p << " u "
                               << p.uniform;
    ++out.rows;
    out.sampled += want != SampleRowReference(row, vocab, RowSampling{});
  }
  return out;
}

std::vector<RowSampling> ParameterGrid(int64_t vocab) {
  std::vector<RowSampling> grid;
  for (const float t : {0.5f, 1.0f, 2.5f}) {
    for (const int32_t top_k : {0, 2, 17, static_cast<int32_t>(vocab) + 3}) {
      for (const float top_p : {1.0f, 0.93f, 0.4f, 0.02f}) {
        for (const float min_p : {0.0f, 0.08f}) grid.push_back({t, top_k, top_p, min_p, 0.0});
      }
    }
  }
  return grid;
}

TEST(SampleTokensEmulated, DrawsTheReferencesTokenForEveryTruncation) {
  Outcome total;
  for (const auto& [vocab, threads] :
       {std::pair{300, 64u}, std::pair{1021, 256u}, std::pair{37, 32u}}) {
    const Outcome o =
        ExpectSameAsReference(vocab, threads, ParameterGrid(vocab), static_cast<uint32_t>(vocab));
    total.rows += o.rows;
    total.sampled += o.sampled;
  }
  // The draws really spread: most parameter sets keep more than one token.
  EXPECT_GT(total.sampled, total.rows / 3) << "of " << total.rows;
}

TEST(SampleTokensEmulated, EdgeRowsFallBackAsTheReferenceDoes) {
  // Rows: 0 all masked, 1 all NaN (both: the first maximum, token 0); 2 a single finite token;
  // 3 two tied maxima, drawn with top_k 1 (greedy: the first), top_k 2 (either, by the uniform)
  // and top_p 0.5 (the first reaches the mass alone: ties go to the smaller id), then given.
  const int64_t vocab = 70;
  std::vector<float> x(4 * vocab, -INFINITY);
  std::fill(x.begin() + vocab, x.begin() + 2 * vocab, NAN);
  x[2 * vocab + 33] = 1.0f;
  x[3 * vocab + 9] = x[3 * vocab + 40] = 2.0f;
  const std::vector<int64_t> listed = {0, 1, 2, 3, 3, 3, 3, 3};
  const std::vector<RowSampling> params = {
      {1.0f, 0, 0.9f, 0.1f, 0.5},
      {1.0f, 0, 0.9f, 0.1f, 0.5},
      {0.7f, 5, 0.5f, 0.0f, 0.99},
      {1.0f, 1, 1.0f, 0.0f, 0.9},
      {1.0f, 2, 1.0f, 0.0f, 0.25},
      {1.0f, 2, 1.0f, 0.0f, 0.75},
      {1.0f, 0, 0.5f, 0.0f, 0.75},
      // A given token (a prompt row scored for its logprobs) is not drawn at all.
      {1.0f, 0, 0.5f, 0.0f, 0.75, -1, 1, 1.0f, -1, 61}};
  const std::vector<int32_t> want = {0, 0, 33, 9, 9, 40, 9, 61};
  std::vector<int32_t> tokens(listed.size(), -1);
  simt::Launch(dim3(listed.size()), dim3(64), cuda::SampleTokensSharedBytes(64),
               cuda::SampleTokensKernel, x.data(), vocab, listed.data(), params.data(),
               tokens.data());
  for (size_t i = 0; i < listed.size(); ++i) {
    EXPECT_EQ(tokens[i], want[i]) << "entry " << i;
    EXPECT_EQ(SampleRowReference(x.data() + listed[i] * vocab, vocab, params[i]), want[i])
        << "entry " << i;
  }
  // A vocabulary of one token.
  const int64_t row0 = 0;
  const float single = 0.5f;
  int32_t token = -1;
  simt::Launch(dim3(1), dim3(32), cuda::SampleTokensSharedBytes(32), cuda::SampleTokensKernel,
               &single, int64_t{1}, &row0, &params[4], &token);
  EXPECT_EQ(token, 0);
}

}  // namespace
}  // namespace xq
