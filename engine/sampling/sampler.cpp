#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace xq {

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature <= 0.0f || params_.top_k == 1) return ArgMax(logits);

  struct Candidate {
    int32_t id;
    float logit;
  };
  std::vector<Candidate> cand(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) cand[i] = {static_cast<int32_t>(i), logits[i]};
  auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
  size_t keep = cand.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(), by_logit);
  } else {
    std::sort(cand.begin(), cand.end(), by_logit);
  }
  cand.resize(keep);

  std::vector<double> probs(keep);
  const double max_logit = cand[0].logit;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((cand[i].logit - max_logit) / params_.temperature);
  }
  const double total = std::accumulate(probs.begin(), probs.end(), 0.0);
  size_t cut = keep;
  if (params_.min_p > 0.0f) {
    // Relative to the most likely token, whose unnormalized probability is 1.
    for (size_t i = 1; i < cut; ++i) {
      if (probs[i] < params_.min_p) {
        cut = i;
        break;
      }
    }
  }
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (size_t i = 0; i < cut; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  std::discrete_distribution<size_t> pick(probs.begin(), probs.begin() + cut);
  return cand[pick(rng_)].id;
}

}  // namespace xq
