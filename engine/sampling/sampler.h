// Sampler: picks the next token from logits (greedy, temperature, top-k, top-p, min-p) with a
// per-request seeded generator so results are reproducible.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace xq {

struct SamplingParams {
  float temperature = 1.0f;  // 0 means greedy
  int32_t top_k = 0;         // 0 disables
  float top_p = 1.0f;        // 1 disables
  float min_p = 0.0f;        // 0 disables
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t Sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

int32_t ArgMax(std::span<const float> logits);

}  // namespace xq
