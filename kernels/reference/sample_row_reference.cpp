#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/include/row_sampling.h"

namespace xq {
namespace {

struct Token {
  float logit;
  float weight;
  int64_t id;
};

// As the CPU's ArgMax: the first index of the largest non-NaN value, 0 when all are NaN.
int32_t FirstMaximum(const float* logits, int64_t vocab) {
  int64_t best = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i])) continue;
    if (best < 0 || logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best < 0 ? 0 : best);
}

// Larger value first, then the smaller id.
template <typename Value>
void SortBy(std::vector<Token>& tokens, Value value) {
  std::sort(tokens.begin(), tokens.end(), [&](const Token& a, const Token& b) {
    return value(a) > value(b) || (value(a) == value(b) && a.id < b.id);
  });
}

}  // namespace

int32_t SampleRowReference(const float* logits, int64_t vocab, const RowSampling& s) {
  if (s.given_token >= 0) return s.given_token;
  const int32_t first_max = FirstMaximum(logits, vocab);
  const float max_logit = logits[first_max];
  if (IsGreedy(s) || !(max_logit > -INFINITY)) return first_max;
  const float inv_t = 1.0f / s.temperature;
  std::vector<Token> kept;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] > -INFINITY)
      kept.push_back({logits[i], std::exp((logits[i] - max_logit) * inv_t), i});
  }
  if (s.top_k > 0 && static_cast<size_t>(s.top_k) < kept.size()) {
    SortBy(kept, [](const Token& t) { return t.logit; });
    kept.resize(static_cast<size_t>(s.top_k));
  }
  std::erase_if(kept, [&](const Token& t) { return !(t.weight > 0.0f && t.weight >= s.min_p); });
  if (s.top_p < 1.0f) {
    SortBy(kept, [](const Token& t) { return t.weight; });
    double total = 0.0;
    for (const Token& t : kept) total += t.weight;
    const double target = static_cast<double>(s.top_p) * total;
    double mass = 0.0;
    size_t n = 0;
    while (n < kept.size() && mass < target) mass += kept[n++].weight;
    kept.resize(n);
  }
  if (kept.empty()) return first_max;
  std::sort(kept.begin(), kept.end(), [](const Token& a, const Token& b) { return a.id < b.id; });
  double total = 0.0;
  for (const Token& t : kept) total += t.weight;
  const double target = s.uniform * total;
  double cumulative = 0.0;
  for (const Token& t : kept) {
    cumulative += t.weight;
    if (target < cumulative) return static_cast<int32_t>(t.id);
  }
  return static_cast<int32_t>(kept.back().id);
}

}  // namespace xq
