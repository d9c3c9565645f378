// Quality harness: the teacher-forced comparison is exact for identical caches and sensitive to a
// perturbed one; passkey prompts are well formed.
#include <gtest/gtest.h>

#include <random>

#include "engine/eval/passkey_eval.h"
#include "engine/eval/teacher_forced_eval.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

// A cache that attends correctly but adds noise to every attention output: a stand-in for a
// lossy KV profile.
class NoisyCache : public SequenceKvCache {
 public:
  NoisyCache(const ModelConfig& c, int64_t n, float noise) : inner_(c, n), noise_(noise) {}
  int64_t length() const override { return inner_.length(); }
  void AppendAndAttend(int64_t layer, int64_t n, const float* q, const float* k, const float* v,
                       float* out) override {
    inner_.AppendAndAttend(layer, n, q, k, v, out);
    std::normal_distribution<float> d(0.0f, noise_);
    for (int64_t i = 0; i < n * dim_; ++i) out[i] += d(rng_);
  }
  void Commit(int64_t n) override { inner_.Commit(n); }
  int64_t dim_ = 0;

 private:
  ContiguousKvCache inner_;
  float noise_;
  std::mt19937 rng_{7};
};

class NoisyFactory : public KvCacheFactory {
 public:
  NoisyFactory(const ModelConfig& c, float noise) : config_(c), noise_(noise) {}
  std::unique_ptr<SequenceKvCache> NewSequence(int64_t max_tokens) override {
    auto cache = std::make_unique<NoisyCache>(config_, max_tokens, noise_);
    cache->dim_ = config_.num_heads * config_.head_dim;
    return cache;
  }
  std::string name() const override { return "noisy"; }

 private:
  ModelConfig config_;
  float noise_;
};

std::vector<int32_t> Tokens(int64_t n, int64_t vocab) {
  std::mt19937 rng(3);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

TEST(TeacherForcedEval, IdenticalCachesAgreeExactly) {
  const Model m = test::MakeTinyModel();
  ContiguousKvCacheFactory base(m.config), same(m.config);
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
  ContiguousKvCacheFactory base(m.config);
  NoisyFactory noisy(m.config, 0.5f);
  const auto tokens = Tokens(90, m.config.vocab_size);
  const auto r = EvaluateTeacherForced(m, tokens, base, {&noisy}, {.score_from = 20, .chunk = 32});
  EXPECT_GT(r[1].kl_vs_baseline, 1e-4);
  EXPECT_NE(r[1].ppl, r[0].ppl);
  EXPECT_EQ(r[1].profile, "noisy");
}

TEST(TeacherForcedEval, RejectsTooShortText) {
  const Model m = test::MakeTinyModel();
  ContiguousKvCacheFactory base(m.config);
  EXPECT_THROW(EvaluateTeacherForced(m, Tokens(10, m.config.vocab_size), base, {},
                                     {.score_from = 20}),
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
