// GrammarCompiler: turns a request's GrammarSpec (JSON schema, JSON object, regex, choice, EBNF,
// structural tag) into a CompiledGrammar for the model's vocabulary, with XGrammar. Compiled
// grammars are cached (by XGrammar, keyed by their source), so a schema sent with every request
// is compiled once. Thread-safe: frontends compile on their own threads before submitting.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "engine/sampling/grammar_spec.h"
#include "engine/sampling/token_constraint.h"

namespace xq {

class Tokenizer;
struct CompiledGrammar;

class GrammarCompiler {
 public:
  // vocab_size is the model's logits width (at least the tokenizer's); eos_ids end a grammar
  // by default.
  GrammarCompiler(const Tokenizer& tokenizer, int32_t vocab_size,
                  std::span<const int32_t> eos_ids);
  ~GrammarCompiler();
  GrammarCompiler(const GrammarCompiler&) = delete;
  GrammarCompiler& operator=(const GrammarCompiler&) = delete;

  // Throws xq::Error naming spec.field when the grammar is invalid or uses a feature the
  // engine cannot enforce (never a silently looser constraint).
  std::shared_ptr<const CompiledGrammar> Compile(const GrammarSpec& spec) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A sequence's own matcher state for a compiled grammar. stop_tokens end the grammar (and only
// once it is complete); empty means the compiler's eos_ids.
std::unique_ptr<TokenConstraint> MakeGrammarConstraint(std::shared_ptr<const CompiledGrammar> grammar,
                                                       std::span<const int32_t> stop_tokens);

}  // namespace xq
