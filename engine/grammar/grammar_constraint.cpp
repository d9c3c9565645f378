// The TokenConstraint of a compiled grammar: XGrammar's matcher for one sequence and its
// next-token bitmask.
#include <xgrammar/matcher.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "engine/grammar/compiled_grammar.h"
#include "engine/grammar/grammar_compiler.h"

namespace xq {
namespace {

class GrammarConstraint : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const CompiledGrammar> grammar,
                    std::span<const int32_t> stop_tokens)
      : grammar_(std::move(grammar)),
        matcher_(grammar_->compiled,
                 stop_tokens.empty()
                     ? std::nullopt
                     : std::optional(std::vector<int>(stop_tokens.begin(), stop_tokens.end()))),
        bitmask_(static_cast<size_t>(xgrammar::GetBitmaskSize(grammar_->vocab_size))),
        shape_{static_cast<int64_t>(bitmask_.size())} {}

  void MaskLogits(std::span<float> logits) override {
    if (matcher_.IsTerminated()) return MaskAllButStopTokens(logits);
    DLTensor tensor{bitmask_.data(), DLDevice{kDLCPU, 0}, 1, xgrammar::GetBitmaskDLType(),
                    shape_, nullptr, 0};
    if (!matcher_.FillNextTokenBitmask(&tensor)) return;  // every token allowed
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    const size_t n = std::min(logits.size(), bitmask_.size() * 32);
    for (size_t word = 0; word * 32 < n; ++word) {
      const uint32_t bits = static_cast<uint32_t>(bitmask_[word]);
      if (bits == 0xFFFFFFFFu) continue;
      const size_t end = std::min(n, word * 32 + 32);
      for (size_t t = word * 32; t < end; ++t) {
        if (!((bits >> (t - word * 32)) & 1u)) logits[t] = kNegInf;
      }
    }
  }

  // A terminated matcher (the grammar ended with a stop token the sampler does not stop on,
  // as with ignore_eos) accepts nothing more.
  bool Accept(int32_t token) override {
    return !matcher_.IsTerminated() && matcher_.AcceptToken(token);
  }

 private:
  void MaskAllButStopTokens(std::span<float> logits) const {
    const std::vector<int>& stop = matcher_.GetStopTokenIds();
    for (size_t t = 0; t < logits.size(); ++t) {
      if (std::find(stop.begin(), stop.end(), static_cast<int>(t)) == stop.end()) {
        logits[t] = -std::numeric_limits<float>::infinity();
      }
    }
  }

  std::shared_ptr<const CompiledGrammar> grammar_;
  xgrammar::GrammarMatcher matcher_;
  std::vector<int32_t> bitmask_;  // bit t of the mask: token t may come next
  int64_t shape_[1];
};

}  // namespace

std::unique_ptr<TokenConstraint> MakeGrammarConstraint(std::shared_ptr<const CompiledGrammar> grammar,
                                                       std::span<const int32_t> stop_tokens) {
  return std::make_unique<GrammarConstraint>(std::move(grammar), stop_tokens);
}

}  // namespace xq
