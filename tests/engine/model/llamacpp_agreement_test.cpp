// Numerical agreement with llama.cpp, against fixtures that llama.cpp produced
// (scripts/fixtures/, docs/FIXTURES.md), on two files:
//  - the default model (Q4_1), whose blocks our matmul multiplies as they are;
//  - the same model requantized by llama.cpp to Q4_K_M (scripts/make_kquant_model.py: Q4_K, Q6_K,
//    Q5_0 and Q8_0 matrices): the CPU multiplies Q4_K, Q6_K and Q8_0 in their blocks and
//    transcodes Q5_0 to Q8_0 exactly at load (cpu_block_transcode.h).
// Checked: teacher-forced over 2048 tokens of GPL-3 text, top-1 agreement, mean and worst
// KL(llama.cpp || us); greedy continuations identical up to the first near-tie of llama.cpp's
// top-2 logits; and, on the K-quant file, that our matmuls are at least as close to the file's
// exact values as llama.cpp's.
//
// The bars. On Q4_1 our 8-bit activations are llama.cpp's bit for bit, and each block's integer
// dot product is the same; only the float order in which block products (matmuls) and attention
// are summed differs. Those last-bit differences occasionally flip an 8-bit activation code, and
// a 135M model amplifies the flip over the next layers, so the bar is llama.cpp's disagreement
// with itself between two configurations (scripts/fixtures/llamacpp_self_agreement.py, f16 vs
// f32 KV cache), not 100%. On the K-quant file the two engines compute different products:
// llama.cpp quantizes the activations of Q4_K / Q6_K matrices to 8 bits per 256 values (Q8_K), we
// per 32 (as for every type). Each engine then has
// its own distance from the file's exact values (scripts/fixtures/llamacpp_weight_error.py), and
// the last test checks that ours is no larger than llama.cpp's. Top-1 disagreement is a metric,
// so through the exact values ours and llama.cpp's disagree at most twice llama.cpp's rate, up
// to the two engines' own difference on the same weights (nonzero: see Q4_1). KL is not a metric;
// near agreement sqrt(KL) is (KL is half the Fisher quadratic form), which would bound ours against
// llama.cpp's by 4x llama.cpp's KL. We hold the mean and worst-position KL to 2x, tighter than that
// bound (measured: mean 0.0054, worst 0.164), and the near-tie gap to 2x llama.cpp's p90 change: a
// heuristic, as gap changes do not add. A real bug (a wrong nibble order, a lost scale) moves all
// of these far more.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/eval/teacher_forced_eval.h"
#include "engine/kv/kv_profile.h"
#include "engine/model/model_loader.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/sampling/sampler.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

// One GGUF file, its fixtures, and how far llama.cpp's logits may be from ours on it.
struct AgreementCase {
  const char* name;
  const char* model;
  const char* fixture_suffix;  // teacher_forced<suffix>.json, greedy<suffix>.json
  double min_top1;
  double max_mean_kl;
  double max_position_kl;
  // llama.cpp top-2 logits closer than this count as a tie, where a greedy divergence is noise.
  float near_tie;
};

const AgreementCase kCases[] = {
    // llama.cpp against itself: top-1 0.959, mean KL 0.0041, worst position 0.0745, top-2 gap
    // moving by more than 0.235 at 10% of positions.
    {"Q4_1", XQ_DEFAULT_MODEL, "", 0.95, 0.004, 0.0745, 0.23f},
    // Twice llama.cpp's distance from the exact values (weight_error_q4_k_m.json): top-1 0.9568
    // (1 - 2 x 0.0432), mean KL 0.00545, worst position 0.112, top-2 gap change p90 0.281; see
    // the file comment for which of these are bounds.
    {"Q4_K_M", XQ_KQUANT_MODEL, "_q4_k_m", 0.9136, 0.0109, 0.224, 0.56f},
};

// The file's sha256 by coreutils' sha256sum, once per file.
std::string Sha256Of(const std::string& path) {
  static std::map<std::string, std::string> cache;
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("sha256sum '" + path + "'").c_str(), "r"),
                                             pclose);
  char hex[65] = {};
  if (!pipe || std::fscanf(pipe.get(), "%64s", hex) != 1 || std::strlen(hex) != 64) {
    ADD_FAILURE() << "sha256sum could not hash " << path;
    return "";
  }
  return cache[path] = hex;
}

// A fixture, checked to come from `model` (by content, so fixtures and file cannot drift apart
// under the same name).
// gtest names a case by its file type, not its bytes.
void PrintTo(const AgreementCase& c, std::ostream* os) { *os << c.name; }

nlohmann::json ReadFixture(const std::string& name, const std::string& model) {
  std::ifstream in(std::string(XQ_SOURCE_DIR) + "/tests/fixtures/llamacpp/" + name);
  EXPECT_TRUE(in.good()) << name;
  nlohmann::json f = nlohmann::json::parse(in);
  EXPECT_EQ(f.at("model_sha256").get<std::string>(), Sha256Of(model))
      << name << " was not made from " << model << ": regenerate it (docs/FIXTURES.md)";
  return f;
}

// Runs over the paged cache with the fp16 profile, through the real runner, as serving does.
class LlamaCppAgreement : public ::testing::TestWithParam<AgreementCase> {
 protected:
  void SetUp() override {
    const AgreementCase& c = GetParam();
    if (!std::filesystem::exists(c.model)) {
      XQ_SKIP_OR_FAIL() << "model missing: run `make model` (" << c.model << ")";
    }
    model_ = std::make_unique<Model>(LoadModel(c.model));
    const KvProfile profile = LoadKvProfile("fp16", std::string(XQ_SOURCE_DIR) + "/configs/kv");
    backend_ =
        std::make_unique<KvBackend>(MakeKvBackend(*model_, profile, int64_t{1} << 30, 512,
                                                std::make_unique<CpuModelRunner>(*model_)));
  }
  nlohmann::json Fixture(const std::string& what) const {
    return ReadFixture(what + GetParam().fixture_suffix + ".json", GetParam().model);
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<KvBackend> backend_;
};

std::vector<double> LogSoftmax(const float* logits, int64_t n) {
  const double max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
  const double log_z = max + std::log(sum);
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = logits[i] - log_z;
  return out;
}

TEST_P(LlamaCppAgreement, TeacherForcedTop1AndKl) {
  const AgreementCase& c = GetParam();
  const nlohmann::json f = Fixture("teacher_forced");
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
      if (gaps[t] >= c.near_tie) {
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
  EXPECT_GE(top1, c.min_top1);
  EXPECT_LT(mean_kl, c.max_mean_kl);
  // No position disagrees more than llama.cpp's worst against itself: catches a bug that only
  // some positions see (our KL is a lower bound of the full KL, llama.cpp's figure the full one).
  EXPECT_LT(max_kl, c.max_position_kl);
}

TEST_P(LlamaCppAgreement, GreedyContinuationsMatchUpToTheFirstNearTie) {
  const nlohmann::json f = Fixture("greedy");
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
        EXPECT_LT(gaps[step], GetParam().near_tie)
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

// On the K-quant file, both engines against the file's values dequantized to fp32 (each its own
// fp32 matmuls), scored alike: ours must be at least as close as llama.cpp's, as our 32-value
// activation blocks (llama.cpp's are 256 for K-quants) promise (measured 2026-12-05 with Q4_K and
// Q6_K transcoded to Q4_1 / Q8_0: mean KL 0.0036 vs llama.cpp's 0.0054, top-1 where the exact
// top-2 gap >= 0.15: 99.3% vs 98.8%; on 2026-12-06 in their own blocks: KL 0.0035, top-1 96.5% vs
// 95.7% overall and 99.3% vs 98.8% where clear).
TEST(LlamaCppWeightError, OurKQuantMatmulsAreAtLeastAsCloseToTheExactValuesAsLlamaCpps) {
  if (!std::filesystem::exists(XQ_KQUANT_MODEL)) {
    XQ_SKIP_OR_FAIL() << "model missing: run `make model` (" XQ_KQUANT_MODEL ")";
  }
  const nlohmann::json llama = ReadFixture("weight_error_q4_k_m.json", XQ_KQUANT_MODEL);
  const auto tokens = ReadFixture("teacher_forced_q4_k_m.json", XQ_KQUANT_MODEL)["tokens"]
                          .get<std::vector<int32_t>>();
  const Model quantized = LoadModel(XQ_KQUANT_MODEL);
  const Model exact = LoadModel(XQ_KQUANT_MODEL, {.keep_quantized = false});
  // Each model is what it is meant to be (were ours fp32 too, it would score KL 0 and pass): every
  // projection of ours in the CPU kernels' blocks, the Q4_K and Q6_K ones in their own; none of
  // the exact one's.
  int ours_in_blocks = 0, ours_q4_k = 0, ours_q6_k = 0, exact_in_blocks = 0, projections = 0;
  for (size_t l = 0; l < quantized.weights.layers.size(); ++l) {
    const LayerWeights &q = quantized.weights.layers[l], &e = exact.weights.layers[l];
    for (auto member : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                        &LayerWeights::w_gate, &LayerWeights::w_up, &LayerWeights::w_down}) {
      ++projections;
      ours_in_blocks += (q.*member).quantized();
      ours_q4_k += (q.*member).block_type == GgmlType::kQ4_K;
      ours_q6_k += (q.*member).block_type == GgmlType::kQ6_K;
      exact_in_blocks += (e.*member).quantized();
    }
  }
  EXPECT_EQ(ours_in_blocks, projections);
  EXPECT_GT(ours_q4_k, 0);
  EXPECT_GT(ours_q6_k, 0);
  EXPECT_EQ(exact_in_blocks, 0);
  const KvProfile profile = LoadKvProfile("fp16", std::string(XQ_SOURCE_DIR) + "/configs/kv");
  auto backend = [&](const Model& m) {
    return MakeKvBackend(m, profile, int64_t{1} << 30, 512, std::make_unique<CpuModelRunner>(m));
  };
  KvBackend ours = backend(quantized), reference = backend(exact);
  const auto results = EvaluateTeacherForced(quantized, tokens, reference, {&ours},
                                             {.score_from = llama["score_from"].get<int64_t>(),
                                              .clear_gap = llama["clear_gap"].get<double>()});
  const TeacherForcedResult& r = results.at(1);
  std::printf(
      "against the exact values: mean KL %.5f (llama.cpp %.5f), top-1 %.4f (%.4f), "
      "top-1 clear %.4f (%.4f)\n",
      r.kl_vs_baseline, llama["kl_vs_exact"].get<double>(), r.top1_agreement,
      llama["top1_agreement"].get<double>(), r.top1_agreement_clear,
      llama["top1_agreement_clear"].get<double>());
  EXPECT_EQ(r.tokens_scored, llama["tokens_scored"].get<int64_t>());
  EXPECT_LE(r.kl_vs_baseline, llama["kl_vs_exact"].get<double>());
  EXPECT_GE(r.top1_agreement, llama["top1_agreement"].get<double>());
  EXPECT_GE(r.top1_agreement_clear, llama["top1_agreement_clear"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Files, LlamaCppAgreement, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace xq
