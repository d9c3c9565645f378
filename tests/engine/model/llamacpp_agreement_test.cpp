// Numerical agreement with llama.cpp on the default model, against fixtures that llama.cpp
// produced (scripts/fixtures/gen_llamacpp_fixtures.py, docs/FIXTURES.md):
//  - teacher-forced over 2048 tokens of GPL-3 text: top-1 agreement, mean and worst
//    KL(llama.cpp || us)
//  - greedy continuations identical up to the first near-tie of llama.cpp's top-2 logits.
// Our 8-bit activations are llama.cpp's bit for bit, and each block's integer dot product is the
// same; the float order in which block products are summed (matmuls) and attention's are not.
// Those last-bit differences occasionally flip an 8-bit activation code, and a 135M model
// amplifies the flip over the next layers, so the bar is llama.cpp's own disagreement between
// two of its configurations (scripts/fixtures/llamacpp_self_agreement.py, f16 vs f32 KV cache:
// top-1 0.959, mean KL 0.0041, worst position KL 0.0745, its top-2 gap moving by 0.11 on average
// and by more than 0.23 at 10% of positions), not 100%. A real bug moves these numbers far more.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/kv/kv_profile.h"
#include "engine/model/model_loader.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/sampling/sampler.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

// llama.cpp top-2 logits closer than this count as a tie: llama.cpp's own top-2 gap moves by
// more than this at 10% of positions between its f16 and f32 KV caches (p90 0.235).
constexpr float kNearTie = 0.23f;
// The worst single-position KL llama.cpp shows against itself (f16 vs f32 KV cache).
constexpr double kWorstPositionKl = 0.0745;

nlohmann::json ReadFixture(const std::string& name) {
  std::ifstream in(std::string(XQ_SOURCE_DIR) + "/tests/fixtures/llamacpp/" + name);
  EXPECT_TRUE(in.good()) << name;
  return nlohmann::json::parse(in);
}

// Runs over the paged cache with the fp16 profile, through the real runner, as serving does.
class LlamaCppAgreement : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      model_ = new Model(LoadModel(XQ_DEFAULT_MODEL));
    }
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) {
      XQ_SKIP_OR_FAIL() << "default model missing: run `make model` (" XQ_DEFAULT_MODEL ")";
    }
    const KvProfile profile = LoadKvProfile("fp16", std::string(XQ_SOURCE_DIR) + "/configs/kv");
    backend_ =
        std::make_unique<KvBackend>(MakeKvBackend(*model_, profile, int64_t{1} << 30, 512,
                                                std::make_unique<CpuModelRunner>(*model_)));
  }
  std::unique_ptr<KvBackend> backend_;
  static Model* model_;
};
Model* LlamaCppAgreement::model_ = nullptr;

std::vector<double> LogSoftmax(const float* logits, int64_t n) {
  const double max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
  const double log_z = max + std::log(sum);
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = logits[i] - log_z;
  return out;
}

TEST_F(LlamaCppAgreement, TeacherForcedTop1AndKl) {
  const nlohmann::json f = ReadFixture("teacher_forced.json");
  const auto tokens = f["tokens"].get<std::vector<int32_t>>();
  const auto top_ids = f["top_ids"].get<std::vector<std::vector<int32_t>>>();
  const auto top_logprobs = f["top_logprobs"].get<std::vector<std::vector<double>>>();
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = model_->config.vocab_size;
  ASSERT_EQ(static_cast<int64_t>(top_ids.size()), n);

  // Prefill in chunks of 512, as the engine will, which also exercises attention over the cache.
  SoloSequence seq(*backend_->runner, *backend_->kv);
  int64_t agree = 0, agree_excluding_ties = 0, non_ties = 0;
  double kl_sum = 0, max_kl = 0;
  const auto gaps = f["gap"].get<std::vector<double>>();
  for (int64_t start = 0; start < n; start += 512) {
    const int64_t len = std::min<int64_t>(512, n - start);
    std::vector<int64_t> rows(len);
    for (int64_t i = 0; i < len; ++i) rows[i] = i;
    const std::vector<float>& logits =
        seq.Append(std::span<const int32_t>(tokens).subspan(start, len), rows);
    for (int64_t i = 0; i < len; ++i) {
      const int64_t t = start + i;
      const float* row = logits.data() + i * vocab;
      const int32_t ours = ArgMax(std::span<const float>(row, vocab));
      agree += ours == top_ids[t][0];
      if (gaps[t] >= kNearTie) {
        ++non_ties;
        agree_excluding_ties += ours == top_ids[t][0];
      }
      // KL(P_llama || P_ours) over llama.cpp's top-16 plus one bucket for the remaining mass: a
      // lower bound of the full KL (log-sum inequality) that misses only the tail's shape.
      const std::vector<double> lp = LogSoftmax(row, vocab);
      double kl = 0, p_top = 0, q_top = 0;
      for (size_t k = 0; k < top_ids[t].size(); ++k) {
        const double p = std::exp(top_logprobs[t][k]);
        kl += p * (top_logprobs[t][k] - lp[top_ids[t][k]]);
        p_top += p;
        q_top += std::exp(lp[top_ids[t][k]]);
      }
      const double p_tail = std::max(1.0 - p_top, 1e-12), q_tail = std::max(1.0 - q_top, 1e-12);
      kl += p_tail * std::log(p_tail / q_tail);
      kl_sum += kl;
      max_kl = std::max(max_kl, kl);
    }
  }
  const double top1 = double(agree) / n, mean_kl = kl_sum / n;
  std::printf(
      "teacher-forced over %lld tokens: top-1 agreement %.4f (%.4f excluding %lld near-ties),"
      " mean KL %.6f, max KL %.6f\n",
      static_cast<long long>(n), top1, double(agree_excluding_ties) / non_ties,
      static_cast<long long>(n - non_ties), mean_kl, max_kl);
  EXPECT_GE(top1, 0.95);
  EXPECT_LT(mean_kl, 0.004);
  // No position disagrees more than llama.cpp's worst against itself: catches a bug that only
  // some positions see (our KL is a lower bound of the full KL, llama.cpp's figure the full one).
  EXPECT_LT(max_kl, kWorstPositionKl);
}

TEST_F(LlamaCppAgreement, GreedyContinuationsMatchUpToTheFirstNearTie) {
  const nlohmann::json f = ReadFixture("greedy.json");
  int identical = 0, cases = 0;
  for (const auto& c : f["cases"]) {
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto expected = c["output_ids"].get<std::vector<int32_t>>();
    const auto gaps = c["gaps"].get<std::vector<double>>();
    SoloSequence seq(*backend_->runner, *backend_->kv);
    const int64_t last[] = {static_cast<int64_t>(prompt.size()) - 1};
    const std::vector<float>* logits = &seq.Append(prompt, last);
    size_t step = 0;
    bool diverged = false;
    for (; step < expected.size(); ++step) {
      const int32_t ours = ArgMax(*logits);
      if (ours != expected[step]) {
        diverged = true;
        EXPECT_LT(gaps[step], kNearTie)
            << c["name"] << ": diverged at step " << step << " (ours " << ours << ", llama.cpp "
            << expected[step] << ") where llama.cpp's top-2 gap is " << gaps[step];
        break;
      }
      if (step + 1 == expected.size()) break;
      logits = &seq.Step(ours);
    }
    ++cases;
    identical += !diverged;
    std::printf(
        "greedy %-22s %s\n", c["name"].get<std::string>().c_str(),
        diverged ? ("diverged at near-tie step " + std::to_string(step)).c_str() : "identical");
  }
  std::printf("greedy: %d of %d continuations identical all the way\n", identical, cases);
  EXPECT_GE(cases, 8);
  // How many run identically all the way depends on float summation order (README gives the
  // count); what must hold is that every divergence sits on a llama.cpp near-tie, checked above
  // for each case. A count threshold would only restate float noise.
}

}  // namespace
}  // namespace xq
