#include "engine/sampling/sampler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/sampling/fast_exp.h"

namespace xq {
namespace {

// Above this many survivors the draw lays them out over the vocabulary rather than sorting them.
constexpr size_t kSortedDrawLimit = 512;

struct Candidate {
  float value;  // the logit, then the unnormalized probability
  int32_t id;
};

// Larger first; ties by id so the order (and hence the draw) never depends on the algorithm.
bool Before(const Candidate& a, const Candidate& b) {
  return a.value > b.value || (a.value == b.value && a.id < b.id);
}

// Scratch shared by all sequences sampled on this thread: a vocab-sized buffer per sequence
// would cost hundreds of MB at high concurrency. Nothing in it outlives one Sample call.
std::vector<Candidate>& Scratch() {
  thread_local std::vector<Candidate> candidates;
  return candidates;
}

std::vector<float>& ProbScratch() {
  thread_local std::vector<float> probs;
  return probs;
}

// Fills c with the k best finite logits (unordered) with a bounded heap: almost every token
// fails the first comparison, so this costs about one pass over the vocabulary.
void SelectTopK(std::span<const float> logits, size_t k, std::vector<Candidate>& c) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  c.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (!(l > kNegInf)) continue;
    if (c.size() < k) {
      c.push_back({l, static_cast<int32_t>(i)});
      std::push_heap(c.begin(), c.end(), Before);  // front: the weakest kept
    } else if (l > c.front().value) {              // later ids lose ties, so > is exact
      std::pop_heap(c.begin(), c.end(), Before);
      c.back() = {l, static_cast<int32_t>(i)};
      std::push_heap(c.begin(), c.end(), Before);
    }
  }
}

// Reorders c[0, n) so that its first m entries are the m most likely, m the smallest count whose
// mass reaches target, and returns m. Values are in (0, 1]. One pass buckets the tokens by the
// top bits of their float value (monotonic in the value, 8 buckets per octave) so only the
// bucket holding the cut needs sorting.
size_t TopPCut(std::vector<Candidate>& c, size_t n, double target) {
  static constexpr uint32_t kOne = 0x3F800000;  // the bits of 1.0f
  constexpr int kShift = 20;                    // keeps 3 mantissa bits
  constexpr size_t kBuckets = (kOne >> kShift) + 1;
  auto bucket = [](float v) {
    return (kOne - std::min(std::bit_cast<uint32_t>(v), kOne)) >> kShift;
  };
  thread_local std::vector<double> mass;
  mass.assign(kBuckets, 0.0);
  for (size_t i = 0; i < n; ++i) mass[bucket(c[i].value)] += c[i].value;
  uint32_t cut_bucket = 0;
  double before = 0.0;  // mass of the buckets above cut_bucket
  while (cut_bucket + 1 < kBuckets && before + mass[cut_bucket] < target) {
    before += mass[cut_bucket++];
  }
  auto above = std::partition(c.begin(), c.begin() + n,
                              [&](const Candidate& x) { return bucket(x.value) < cut_bucket; });
  auto at = std::partition(above, c.begin() + n,
                           [&](const Candidate& x) { return bucket(x.value) == cut_bucket; });
  std::sort(above, at, Before);
  for (auto it = above; it != at; ++it) {
    before += it->value;
    if (before >= target) return static_cast<size_t>(it - c.begin()) + 1;
  }
  return static_cast<size_t>(at - c.begin());
}

}  // namespace

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

float MaxLogit(std::span<const float> logits) {
  constexpr size_t kLanes = 16;  // independent maxima so the loop vectorizes
  float lanes[kLanes];
  std::fill(std::begin(lanes), std::end(lanes), -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + kLanes <= logits.size(); i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      lanes[j] = logits[i + j] > lanes[j] ? logits[i + j] : lanes[j];
    }
  }
  float m = *std::max_element(std::begin(lanes), std::end(lanes));
  for (; i < logits.size(); ++i) m = std::max(m, logits[i]);
  return m;
}

int32_t ArgMax(std::span<const float> logits) {
  const float m = MaxLogit(logits);
  const auto it = std::find(logits.begin(), logits.end(), m);
  // Not found only when m is -inf from NaNs; fall back to the plain search.
  if (it == logits.end()) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  return static_cast<int32_t>(it - logits.begin());
}

Sampler::Sampler(const SamplingParams& params, uint64_t seed)
    : temperature_(params.temperature),
      top_k_(params.top_k),
      top_p_(params.top_p),
      min_p_(params.min_p),
      seed_(seed),
      rng_(seed) {}

Sampler::Sampler(const SamplingParams& params)
    : Sampler(params, params.seed ? *params.seed : RandomSeed()) {}

int32_t Sampler::Sample(std::span<const float> logits) {
  assert(!logits.empty());
  if (greedy()) return ArgMax(logits);
  // Exactly one uniform per sampled step, whatever the path below, as NextRow.
  const double uniform = Uniform();
  const float inv_t = 1.0f / temperature_;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::vector<Candidate>& c = Scratch();
  double total = 0.0;

  if (top_k_ > 0 && static_cast<size_t>(top_k_) < logits.size()) {
    SelectTopK(logits, static_cast<size_t>(top_k_), c);
    if (c.empty()) return ArgMax(logits);  // everything masked: nothing better to do
    float max_logit = kNegInf;
    for (const Candidate& x : c) max_logit = std::max(max_logit, x.value);
    for (Candidate& x : c) {
      // The most likely token gets exactly 1, which makes min_p a plain threshold.
      x.value = std::exp((x.value - max_logit) * inv_t);
    }
    // min_p, and weights that underflowed (never drawn, but not a fallback either).
    std::erase_if(c, [&](const Candidate& x) { return !(x.value > 0.0f && x.value >= min_p_); });
    total = 0.0;
    for (const Candidate& x : c) total += x.value;
  } else {
    const float max_logit = MaxLogit(logits);
    if (!(max_logit > kNegInf)) return ArgMax(logits);
    std::vector<float>& probs = ProbScratch();
    probs.resize(logits.size());
    total = ExpShifted(logits, max_logit, inv_t, probs.data());
    if (min_p_ <= 0.0f && top_p_ >= 1.0f) return Draw(probs, total, uniform);
    // Only survivors of min_p become candidates.
    c.clear();
    total = 0.0;
    for (size_t i = 0; i < probs.size(); ++i) {
      if (probs[i] > 0.0f && probs[i] >= min_p_) {
        c.push_back({probs[i], static_cast<int32_t>(i)});
        total += probs[i];
      }
    }
  }

  size_t n = c.size();
  if (top_p_ < 1.0f) {
    n = TopPCut(c, n, static_cast<double>(top_p_) * total);
  }
  if (n == 0) return ArgMax(logits);  // nothing has weight (a temperature too small to invert)

  // The draw walks the survivors in id order, as the device does (row_sampling.h), so a seed
  // picks the same token on either. Many survivors (a flat top-p) are laid out over the
  // vocabulary instead of sorted: two passes cost less than sorting thousands.
  if (n > kSortedDrawLimit) {
    std::vector<float>& kept = ProbScratch();
    kept.assign(logits.size(), 0.0f);
    for (size_t i = 0; i < n; ++i) kept[c[i].id] = c[i].value;
    total = 0.0;
    for (float w : kept) total += w;
    return Draw(kept, total, uniform);
  }
  std::sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n),
            [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  total = 0.0;
  for (size_t i = 0; i < n; ++i) total += c[i].value;
  const double u = uniform * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += c[i].value;
    if (u < cumulative) return c[i].id;
  }
  return c[n - 1].id;  // rounding left u just past the last bucket
}

RowSampling Sampler::NextRow() {
  RowSampling row{temperature_, top_k_, top_p_, min_p_, 0.0};
  if (!greedy()) row.uniform = Uniform();
  return row;
}

int32_t Sampler::Draw(std::span<const float> probs, double total, double uniform) {
  const double u = uniform * total;
  double cumulative = 0.0;
  int32_t last = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (!(probs[i] > 0.0f)) continue;  // masked, underflowed, or NaN (never drawn)
    cumulative += probs[i];
    last = static_cast<int32_t>(i);
    if (u < cumulative) return last;
  }
  return last;  // rounding left u just past the last bucket
}

}  // namespace xq
