// Quality harness: the teacher-forced comparison is exact for identical caches and sensitive to a
// perturbed one; passkey prompts are well formed.
#include <gtest/gtest.h>

#include <random>

#include "engine/eval/passkey_eval.h"
#include "engine/eval/teacher_forced_eval.h"
#include "tests/support/kv_test_backend.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

// The fp16 reference, and a lossy 1-bit profile whose blocks leave a short window: the quality
// harness must see the difference.
KvBackend Backend(const Model& m, int bits, int64_t recent_window) {
  return test::MakeTestBackend(m, test::UniformSpecs(m.config.num_layers, bits, bits), 8,
                               recent_window);
}

std::vector<int32_t> Tokens(int64_t n, int64_t vocab) {
  std::mt19937 rng(3);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

TEST(TeacherForcedEval, IdenticalCachesAgreeExactly) {
  const Model m = test::MakeTinyModel();
  KvBackend base = Backend(m, kFp16Bits, 0), same = Backend(m, kFp16Bits, 0);
  const auto tokens = Tokens(90, m.config.vocab_size);
  const auto r = EvaluateTeacherForced(m, tokens, base, {&same}, {.score_from = 20, .chunk = 16});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].tokens_scored, 89 - 20);
  EXPECT_DOUBLE_EQ(r[1].ppl, r[0].ppl);
  EXPECT_NEAR(r[1].kl_vs_baseline, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(r[1].top1_agreement, 1.0);
  EXPECT_GT(r[0].ppl, 1.0);
}

TEST(TeacherForcedEval, PerturbedCacheShowsUp) {
  const Model m = test::MakeTinyModel();
  KvBackend base = Backend(m, kFp16Bits, 0), lossy = Backend(m, 1, 8);
  lossy.name = "lossy";
  const auto tokens = Tokens(90, m.config.vocab_size);
  const auto r = EvaluateTeacherForced(m, tokens, base, {&lossy}, {.score_from = 20, .chunk = 32});
  // Identical caches agree to 1e-12 (above); a real 1-bit cache on this tiny random model moves
  // KL to ~1e-4, far above that floor.
  EXPECT_GT(r[1].kl_vs_baseline, 1e-6);
  EXPECT_NE(r[1].ppl, r[0].ppl);
  EXPECT_EQ(r[1].profile, "lossy");
}

// Clear positions are those where the baseline's best token leads by clear_gap: all of them at
// gap 0 (agreement there is the overall agreement), none at an impossible gap (vacuously 1),
// some at 0.15 on this random model.
TEST(TeacherForcedEval, ClearPositionsFollowTheBaselinesTopTwoGap) {
  const Model m = test::MakeTinyModel();
  const auto tokens = Tokens(90, m.config.vocab_size);
  std::vector<TeacherForcedResult> by_gap;
  for (double gap : {0.0, 0.15, 1e9}) {
    KvBackend base = Backend(m, kFp16Bits, 0), lossy = Backend(m, 1, 8);
    by_gap.push_back(EvaluateTeacherForced(m, tokens, base, {&lossy},
                                           {.score_from = 20, .chunk = 32, .clear_gap = gap})[1]);
  }
  EXPECT_EQ(by_gap[0].clear_positions, by_gap[0].tokens_scored);
  EXPECT_DOUBLE_EQ(by_gap[0].top1_agreement_clear, by_gap[0].top1_agreement);
  EXPECT_GT(by_gap[1].clear_positions, 0);
  EXPECT_LT(by_gap[1].clear_positions, by_gap[1].tokens_scored);
  EXPECT_EQ(by_gap[2].clear_positions, 0);
  EXPECT_DOUBLE_EQ(by_gap[2].top1_agreement_clear, 1.0);
}

TEST(TeacherForcedEval, RejectsTooShortText) {
  const Model m = test::MakeTinyModel();
  KvBackend base = Backend(m, kFp16Bits, 0);
  EXPECT_THROW(
      EvaluateTeacherForced(m, Tokens(10, m.config.vocab_size), base, {}, {.score_from = 20}),
      Error);
}

TEST(Passkey, PromptHidesTheKeyOnceAtTheRequestedDepth) {
  const Model m = test::MakeTinyModel();
  const Tokenizer tok(m.tokenizer);
  std::vector<double> where;
  for (double depth : {0.0, 0.5, 1.0}) {
    const PasskeyPrompt p = BuildPasskeyPrompt(tok, 600, depth, 48213);
    EXPECT_EQ(p.key, "48213");
    EXPECT_LE(static_cast<int64_t>(p.context.size()), 600);
    EXPECT_GT(static_cast<int64_t>(p.context.size()), 450);
    const std::string text = tok.Decode(p.context);
    const size_t first = text.find("48213");
    ASSERT_NE(first, std::string::npos);
    // "The pass key is K. Remember it. K is the pass key." and nowhere else.
    const size_t second = text.find("48213", first + 5);
    ASSERT_NE(second, std::string::npos);
    EXPECT_EQ(text.find("48213", second + 5), std::string::npos);
    where.push_back(double(first) / text.size());
    EXPECT_EQ(tok.Decode(p.question), " What is the pass key? The pass key is");
  }
  // The key moves through the filler with the depth (the intro comes first).
  EXPECT_LT(where[0], 0.35);
  EXPECT_NEAR(where[1], 0.55, 0.15);
  EXPECT_GT(where[2], 0.9);
  EXPECT_THROW(BuildPasskeyPrompt(tok, 20, 0.5, 12345), Error);
}

}  // namespace
}  // namespace xq
