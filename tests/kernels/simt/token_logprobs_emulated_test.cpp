// The device logprobs kernel (kernels/cuda/token_logprobs.cuh) through the SIMT emulation
// against the CPU's ComputeTokenLogprobs: raw rows (kept before the edits) and edited rows at a
// temperature, every top_logprobs size up to OpenAI's 20, vocabularies smaller than that, ties.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/sampling/token_logprobs.h"
#include "kernels/cuda/token_logprobs.cuh"

namespace xq {
namespace {

std::vector<float> Rows(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(rows * vocab);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = normal(rng);
    if (i % 3 == 1) x[i] = std::round(x[i]);  // ties
    if (rng() % 11 == 0) x[i] = -INFINITY;
  }
  return x;
}

// Two exp implementations (the CPU's vectorized one: about 1e-7 relative) move log Z by about
// 1e-7 of its size (under 30 here); a masked token's -inf must stay exactly -inf.
void ExpectLogprob(float got, float want) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, want);
  } else {
    EXPECT_NEAR(got, want, 1e-5);
  }
}

TEST(TokenLogprobsEmulated, MatchTheCpusLogprobsOfTheChosenTokenAndTheTopAlternatives) {
  int compared = 0, with_alternatives = 0;
  for (const auto& [vocab, threads] :
       {std::pair{300, 64u}, std::pair{1021, 256u}, std::pair{7, 32u}}) {
    const int64_t rows = 4;
    const std::vector<float> logits = Rows(rows, vocab, static_cast<uint32_t>(vocab));
    const std::vector<float> raw = Rows(rows, vocab, static_cast<uint32_t>(vocab) + 1);
    std::vector<int64_t> listed;
    std::vector<int32_t> raw_slots, tokens;
    std::vector<RowSampling> params;
    std::mt19937 rng(static_cast<uint32_t>(vocab) + 2);
    for (const int32_t top : {-1, 0, 1, 5, 20}) {
      for (const float t : {0.0f, 0.7f, 2.0f}) {  // 0: raw logprobs (temperature 1)
        for (int64_t r = 0; r < rows; ++r) {
          listed.push_back(r);
          RowSampling s;
          s.top_logprobs = top;
          s.raw_logprobs = t == 0.0f;
          s.logprobs_temperature = t == 0.0f ? 1.0f : t;
          params.push_back(s);
          raw_slots.push_back(s.raw_logprobs ? static_cast<int32_t>(rows - 1 - r) : -1);
          int32_t token = static_cast<int32_t>(rng() % vocab);
          const float* source =
              s.raw_logprobs ? raw.data() + raw_slots.back() * vocab : logits.data() + r * vocab;
          while (std::isinf(source[token])) token = static_cast<int32_t>(rng() % vocab);
          tokens.push_back(token);
        }
      }
    }
    std::vector<RowLogprobs> out(listed.size());
    out[0].rank = -7;  // an entry that asked for nothing must stay untouched
    simt::Launch(dim3(listed.size()), dim3(threads), cuda::kTokenLogprobsSharedBytes,
                 cuda::TokenLogprobsKernel, logits.data(), static_cast<int64_t>(vocab),
                 listed.data(), raw.data(), raw_slots.data(), params.data(), tokens.data(),
                 out.data());
    for (size_t b = 0; b < listed.size(); ++b) {
      const RowSampling& s = params[b];
      if (s.top_logprobs < 0) {
        if (b == 0) {
          EXPECT_EQ(out[b].rank, -7);
        }
        continue;
      }
      const float* source =
          s.raw_logprobs ? raw.data() + raw_slots[b] * vocab : logits.data() + listed[b] * vocab;
      const TokenLogprobs want = ComputeTokenLogprobs(
          std::span<const float>(source, vocab), tokens[b], s.top_logprobs, s.logprobs_temperature);
      SCOPED_TRACE(::testing::Message() << "vocab " << vocab << " entry " << b << " top "
                                        << s.top_logprobs << " t " << s.logprobs_temperature);
      ExpectLogprob(out[b].logprob, want.logprob);
      EXPECT_EQ(out[b].rank, want.rank);
      ASSERT_EQ(out[b].top_count, static_cast<int32_t>(want.top.size()));
      for (size_t j = 0; j < want.top.size(); ++j) {
        EXPECT_EQ(out[b].top_tokens[j], want.top[j].token) << "alternative " << j;
        ExpectLogprob(out[b].top_logprobs[j], want.top[j].logprob);
      }
      ++compared;
      with_alternatives += want.top.size() > 1;
    }
  }
  EXPECT_GT(compared, 100);
  EXPECT_GT(with_alternatives, 50);
}

}  // namespace
}  // namespace xq
