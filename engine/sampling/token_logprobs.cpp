#include "engine/sampling/token_logprobs.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "engine/sampling/fast_exp.h"
#include "engine/sampling/sampler.h"

namespace xq {
namespace {

bool Before(const TokenLogprob& a, const TokenLogprob& b) {
  return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
}

}  // namespace

TokenLogprobs ComputeTokenLogprobs(std::span<const float> logits, int32_t token, int32_t top_n,
                                   float temperature) {
  assert(token >= 0 && static_cast<size_t>(token) < logits.size() && temperature > 0.0f);
  const float inv_t = 1.0f / temperature;
  const float max_logit = MaxLogit(logits);
  thread_local std::vector<float> probs;
  probs.resize(logits.size());
  const double sum = ExpShifted(logits, max_logit, inv_t, probs.data());
  const float log_z = static_cast<float>(std::log(sum));
  auto logprob = [&](float l) { return (l - max_logit) * inv_t - log_z; };

  TokenLogprobs out{logprob(logits[token]), 1, {}};
  for (float l : logits) out.rank += l > logits[token] ? 1 : 0;
  const size_t n = std::min<size_t>(std::max(top_n, 0), logits.size());
  if (n == 0) return out;
  // A min-heap (under Before) of the best n seen so far; its front is the weakest kept.
  std::vector<TokenLogprob>& heap = out.top;
  heap.reserve(n);
  for (size_t i = 0; i < logits.size(); ++i) {
    const TokenLogprob x{static_cast<int32_t>(i), logits[i]};
    if (heap.size() < n) {
      heap.push_back(x);
      std::push_heap(heap.begin(), heap.end(), Before);
    } else if (Before(x, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), Before);
      heap.back() = x;
      std::push_heap(heap.begin(), heap.end(), Before);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), Before);
  for (TokenLogprob& x : heap) x.logprob = logprob(x.logprob);
  return out;
}

}  // namespace xq
