#include "engine/sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace xq {
namespace {

constexpr int kDraws = 40000;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

SamplingParams Params(float temperature, int32_t top_k = 0, float top_p = 1.0f,
                      float min_p = 0.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  return p;
}

std::vector<int> Counts(const SamplingParams& params, const std::vector<float>& logits,
                        uint64_t seed = 1234) {
  Sampler sampler(params, seed);
  std::vector<int> counts(logits.size());
  for (int i = 0; i < kDraws; ++i) ++counts[sampler.Sample(logits)];
  return counts;
}

// softmax(logits / t) restricted to `kept`, computed independently of the sampler.
std::vector<double> Expected(const std::vector<float>& logits, float t,
                             const std::vector<int>& kept) {
  std::vector<double> p(logits.size(), 0.0);
  double z = 0.0;
  for (int i : kept) z += std::exp(logits[i] / t);
  for (int i : kept) p[i] = std::exp(logits[i] / t) / z;
  return p;
}

// Chi-square goodness of fit at the 0.1% level; tokens with zero expected mass must never
// appear at all.
void ExpectDistribution(const std::vector<int>& counts, const std::vector<double>& expected) {
  static const double kCritical[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12};
  double chi2 = 0.0;
  int bins = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been cut";
      continue;
    }
    const double e = expected[i] * kDraws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++bins;
  }
  ASSERT_GE(bins, 2);
  ASSERT_LE(bins - 1, 8);
  EXPECT_LT(chi2, kCritical[bins - 1]) << "chi-square with " << bins - 1 << " degrees of freedom";
}

// Logits whose softmax is exactly these probabilities.
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(SamplerTest, GreedyPicksTheFirstMaximum) {
  const std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(ArgMax(logits), 1);
  Sampler greedy(Params(0.0f), 7);
  Sampler top1(Params(1.0f, 1), 7);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(greedy.Sample(logits), 1);
    EXPECT_EQ(top1.Sample(logits), 1);
  }
}

TEST(SamplerTest, PlainSamplingFollowsTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  ExpectDistribution(Counts(Params(1.0f), logits), Expected(logits, 1.0f, {0, 1, 2, 3, 4}));
}

TEST(SamplerTest, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  ExpectDistribution(Counts(Params(0.5f), logits), Expected(logits, 0.5f, {0, 1, 2, 3, 4}));
  ExpectDistribution(Counts(Params(2.0f), logits), Expected(logits, 2.0f, {0, 1, 2, 3, 4}));
}

TEST(SamplerTest, TopKKeepsTheKLargestRenormalized) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 1.5f};
  ExpectDistribution(Counts(Params(1.0f, 3), logits), Expected(logits, 1.0f, {1, 4, 5}));
  ExpectDistribution(Counts(Params(0.7f, 2), logits), Expected(logits, 0.7f, {1, 4}));
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingTheMass) {
  const std::vector<float> logits = LogitsOf({0.1, 0.5, 0.15, 0.25});
  // 0.5 < 0.7 <= 0.5 + 0.25: tokens 1 and 3.
  ExpectDistribution(Counts(Params(1.0f, 0, 0.7f), logits), Expected(logits, 1.0f, {1, 3}));
  // 0.75 < 0.8 <= 0.9.
  ExpectDistribution(Counts(Params(1.0f, 0, 0.8f), logits), Expected(logits, 1.0f, {1, 3, 2}));
  // Only the top token when it alone reaches the mass.
  const std::vector<int> only = Counts(Params(1.0f, 0, 0.4f), logits);
  EXPECT_EQ(only[1], kDraws);
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheTop) {
  const std::vector<float> logits = LogitsOf({0.1, 0.5, 0.15, 0.25});
  // Threshold 0.25 * 0.5 = 0.125 drops only the 0.1 token.
  ExpectDistribution(Counts(Params(1.0f, 0, 1.0f, 0.25f), logits),
                     Expected(logits, 1.0f, {1, 2, 3}));
  // Threshold 0.4 * 0.5 = 0.2 keeps 0.5 and 0.25.
  ExpectDistribution(Counts(Params(1.0f, 0, 1.0f, 0.4f), logits), Expected(logits, 1.0f, {1, 3}));
}

TEST(SamplerTest, TopPIsMeasuredAfterTopKAndMinP) {
  // probs 0.4 0.3 0.1 0.1 0.05 0.05.
  const std::vector<float> logits = LogitsOf({0.05, 0.4, 0.1, 0.3, 0.05, 0.1});
  // top_k 3 keeps {0.4, 0.3, one 0.1 (the smaller id, 2)}, renormalized 0.5, 0.375, 0.125;
  // top_p 0.8 then keeps 0.5 + 0.375.
  ExpectDistribution(Counts(Params(1.0f, 3, 0.8f), logits), Expected(logits, 1.0f, {1, 3}));
  // min_p 0.2 (threshold 0.08) keeps 0.4 0.3 0.1 0.1 (sum 0.9): 0.444 0.333 0.111 0.111;
  // top_p 0.85 needs three of them, the tie broken towards the smaller id.
  ExpectDistribution(Counts(Params(1.0f, 0, 0.85f, 0.2f), logits),
                     Expected(logits, 1.0f, {1, 3, 2}));
}

TEST(SamplerTest, TopPOnALargeFlatVocabularyCutsWhereASortWould) {
  // Slowly decaying logits put the cut thousands of tokens deep, past the first partial sorts.
  std::vector<float> logits(20000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = -0.0002f * static_cast<float>(i);
  const float top_p = 0.6f;
  double z = 0.0;
  for (float l : logits) z += std::exp(l);
  double cumulative = 0.0;
  int cut = 0;
  while (cumulative < top_p * z) cumulative += std::exp(logits[cut++]);
  ASSERT_GT(cut, 3000);

  const std::vector<int> counts = Counts(Params(1.0f, 0, top_p), logits);
  int last = 0;
  for (int i = 0; i < static_cast<int>(counts.size()); ++i) {
    if (counts[i] > 0) last = i;
  }
  EXPECT_LT(last, cut);
  EXPECT_GT(last, cut - 100);
}

TEST(SamplerTest, MaskedTokensAreNeverDrawn) {
  const std::vector<float> logits = {kNegInf, 0.0f, kNegInf, 0.0f, kNegInf};
  ExpectDistribution(Counts(Params(1.5f), logits), Expected(logits, 1.5f, {1, 3}));
}

TEST(SamplerTest, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<float> logits(1000);
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (float& l : logits) l = normal(gen);
  auto draws = [&](uint64_t seed) {
    Sampler s(Params(1.0f, 50, 0.95f, 0.01f), seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.Sample(logits));
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
  SamplingParams seeded = Params(1.0f);
  seeded.seed = 99;
  EXPECT_EQ(Sampler(seeded).seed(), 99u);
}

// The CPU sampler and the draw a runner makes where the logits are (row_sampling.h, here its
// scalar reference) take the same uniform from the same seed and walk the survivors in the same
// order, so they pick the same token. With top_k both compute the weights with std::exp and sum
// them in id order: identical, bit for bit. Without it the CPU uses a vectorized exp (about 1e-7
// relative error), which moves each boundary of the draw by about that much: a different token
// only when the uniform falls that close to a boundary (expected well under 1 in 1000 here).
TEST(SamplerTest, TheRunnersDrawPicksTheSameTokenFromTheSameSeed) {
  std::mt19937 gen(17);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(3000);
  for (float& l : logits) l = normal(gen);
  for (size_t i = 0; i < logits.size(); i += 7) logits[i] = kNegInf;         // masked
  for (size_t i = 3; i < logits.size(); i += 11) logits[i] = logits[i - 1];  // ties
  int draws = 0, differ = 0, full_vocabulary = 0, not_first_maximum = 0;
  for (const float t : {0.6f, 1.0f, 1.7f}) {
    for (const int32_t top_k : {0, 2, 40, 2999}) {
      for (const float top_p : {1.0f, 0.9f, 0.3f}) {
        for (const float min_p : {0.0f, 0.02f}) {
          const SamplingParams params = Params(t, top_k, top_p, min_p);
          for (uint64_t seed = 0; seed < 25; ++seed) {
            Sampler cpu(params, seed), runner(params, seed);
            const int32_t want = cpu.Sample(logits);
            const RowSampling row = runner.NextRow();
            const int32_t got = SampleRowReference(logits.data(), logits.size(), row);
            ++draws;
            not_first_maximum += got != ArgMax(logits);
            if (top_k > 0) {
              EXPECT_EQ(got, want) << "t " << t << " top_k " << top_k << " top_p " << top_p
                                   << " min_p " << min_p << " seed " << seed;
            } else {
              ++full_vocabulary;
              differ += got != want;
            }
          }
        }
      }
    }
  }
  EXPECT_LE(differ, full_vocabulary / 200) << "of " << full_vocabulary;
  EXPECT_GT(not_first_maximum, draws / 4) << "the draws should spread";
}

TEST(SamplerTest, NextRowCarriesTheParametersAndOneUniformPerSampledStep) {
  const SamplingParams params = Params(0.8f, 5, 0.9f, 0.1f);
  const std::vector<float> logits = {0.1f, 0.7f, -0.2f, 0.4f, 0.0f, 0.3f};
  const std::vector<float> masked(6, kNegInf);  // an early return of Sample
  const std::vector<float> one = {kNegInf, kNegInf, 2.0f, kNegInf, kNegInf, kNegInf};
  // `mixed` alternates host draws (including ones that return early) with runner draws; `runner`
  // only makes runner draws. Each step takes one uniform either way, so every runner draw of
  // `mixed` is the same as `runner`'s draw of that step.
  Sampler mixed(params, 3), runner(params, 3);
  for (int i = 0; i < 12; ++i) {
    const RowSampling want = runner.NextRow();
    EXPECT_EQ(want.temperature, 0.8f);
    EXPECT_EQ(want.top_k, 5);
    EXPECT_EQ(want.top_p, 0.9f);
    EXPECT_EQ(want.min_p, 0.1f);
    EXPECT_GE(want.uniform, 0.0);
    EXPECT_LT(want.uniform, 1.0);
    if (i % 3 == 0) {
      EXPECT_EQ(mixed.NextRow().uniform, want.uniform) << "step " << i;
    } else {
      EXPECT_EQ(mixed.Sample(i % 3 == 1 ? masked : one), i % 3 == 1 ? 0 : 2);
    }
  }
  // A runner draw and a host draw of the same step pick the same token.
  Sampler host(params, 5), device(params, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(SampleRowReference(logits.data(), 6, device.NextRow()), host.Sample(logits));
  }
  SamplingParams greedy = params;
  greedy.temperature = 0.0f;
  EXPECT_TRUE(IsGreedy(Sampler(greedy, 3).NextRow()));
}

}  // namespace
}  // namespace xq
