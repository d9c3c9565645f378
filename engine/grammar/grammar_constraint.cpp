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
    thread_local std::vector<uint32_t> words;
    words.resize((logits.size() + 31) / 32);
    if (!AllowedTokens(words)) return;
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (size_t word = 0; word < words.size(); ++word) {
      if (words[word] == 0xFFFFFFFFu) continue;
      const size_t end = std::min(logits.size(), word * 32 + 32);
      for (size_t t = word * 32; t < end; ++t) {
        if (!((words[word] >> (t - word * 32)) & 1u)) logits[t] = kNegInf;
      }
    }
  }

  bool AllowedTokens(std::span<uint32_t> words) override {
    if (matcher_.IsTerminated()) {  // only a stop token may end it
      std::fill(words.begin(), words.end(), 0u);
      for (const int t : matcher_.GetStopTokenIds()) {
        if (t >= 0 && static_cast<size_t>(t) / 32 < words.size()) words[t / 32] |= 1u << (t % 32);
      }
      return true;
    }
    DLTensor tensor{
        bitmask_.data(), DLDevice{kDLCPU, 0}, 1, xgrammar::GetBitmaskDLType(), shape_, nullptr, 0};
    if (!matcher_.FillNextTokenBitmask(&tensor)) return false;  // every token allowed
    const size_t n = std::min(words.size(), bitmask_.size());
    for (size_t w = 0; w < n; ++w) words[w] = static_cast<uint32_t>(bitmask_[w]);
    std::fill(words.begin() + static_cast<std::ptrdiff_t>(n), words.end(), 0xFFFFFFFFu);
    return true;
  }

  // A terminated matcher (the grammar ended with a stop token the sampler does not stop on,
  // as with ignore_eos) accepts nothing more.
  bool Accept(int32_t token) override {
    return !matcher_.IsTerminated() && matcher_.AcceptToken(token);
  }

 private:
  std::shared_ptr<const CompiledGrammar> grammar_;
  xgrammar::GrammarMatcher matcher_;
  std::vector<int32_t> bitmask_;  // bit t of the mask: token t may come next
  int64_t shape_[1];
};

}  // namespace

std::unique_ptr<TokenConstraint> MakeGrammarConstraint(
    std::shared_ptr<const CompiledGrammar> grammar, std::span<const int32_t> stop_tokens) {
  return std::make_unique<GrammarConstraint>(std::move(grammar), stop_tokens);
}

}  // namespace xq
