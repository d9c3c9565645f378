// Sampler: draws the next token from (already processed) logits with temperature, top-k, min-p
// and top-p, using its own seeded generator so a sequence's draws depend only on its seed and
// its own logits, never on what else is in the batch.
#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "engine/sampling/sampling_params.h"
#include "kernels/include/row_sampling.h"

namespace xq {

class Sampler {
 public:
  // Reads temperature, top_k, top_p and min_p; seed is the effective seed.
  Sampler(const SamplingParams& params, uint64_t seed);
  // Seeds from params.seed, or from std::random_device when it is absent.
  explicit Sampler(const SamplingParams& params);

  // Greedy (first maximum) when temperature is 0 or top_k is 1. Otherwise, in order: keep the
  // top_k largest; drop tokens whose probability is below min_p times the largest; keep the
  // smallest most-likely prefix whose renormalized mass reaches top_p; draw in id order
  // (kernels/include/row_sampling.h). -inf logits are never drawn.
  int32_t Sample(std::span<const float> logits);

  // The next draw's parameters for a runner that samples where the logits are
  // (kernels/include/row_sampling.h, the same draw as Sample): takes the step's uniform from the
  // generator as Sample would, so the sequence of draws is the same wherever they happen.
  RowSampling NextRow();

  uint64_t seed() const { return seed_; }
  // Whether Sample returns the first maximum (temperature 0 or top_k 1).
  bool greedy() const { return temperature_ <= 0.0f || top_k_ == 1; }

 private:
  // Platform-independent uniform in [0, 1) (std::uniform_real_distribution is not).
  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  // Draws from unnormalized probabilities summing to total, in id order.
  int32_t Draw(std::span<const float> probs, double total, double uniform);

  float temperature_;
  int32_t top_k_;
  float top_p_;
  float min_p_;
  uint64_t seed_;
  std::mt19937_64 rng_;
};

// A 64-bit seed from std::random_device.
uint64_t RandomSeed();

int32_t ArgMax(std::span<const float> logits);
// The largest logit (-inf when all are masked), faster than std::max_element.
float MaxLogit(std::span<const float> logits);

}  // namespace xq
