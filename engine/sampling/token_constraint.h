// TokenConstraint: a per-sequence restriction of which tokens may come next (a grammar's state,
// for structured outputs), applied to the logits before anything else and advanced with each
// sampled token. The sampler sees only this interface; engine/grammar implements it.
#pragma once

#include <cstdint>
#include <span>

namespace xq {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets the logits of every token that may not come next to -inf.
  virtual void MaskLogits(std::span<float> logits) = 0;
  // The same as a bitmask: bit t % 32 of words[t / 32] is set when token t may come next (every
  // word is written; tokens past the constraint's vocabulary are allowed, as MaskLogits leaves
  // them). False when every token is allowed: nothing to mask.
  virtual bool AllowedTokens(std::span<uint32_t> words) = 0;
  // Advances past the sampled token; false when the constraint did not allow it.
  virtual bool Accept(int32_t token) = 0;
};

}  // namespace xq
