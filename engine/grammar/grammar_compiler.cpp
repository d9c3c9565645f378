#include "engine/grammar/grammar_compiler.h"

#include <xgrammar/compiler.h>
#include <xgrammar/tokenizer_info.h>

#include <algorithm>

#include "engine/common/cpu_budget.h"
#include "engine/common/error.h"
#include "engine/grammar/compiled_grammar.h"
#include "engine/grammar/json_schema_support.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {
namespace {

// Each token as the bytes it decodes to (XGrammar's RAW vocabulary). Control tokens and ids past
// the tokenizer's vocabulary are empty, which XGrammar treats as special: never part of a match.
std::vector<std::string> DecodedVocab(const Tokenizer& tokenizer, int32_t vocab_size) {
  std::vector<std::string> vocab(static_cast<size_t>(vocab_size));
  const int32_t known = std::min(vocab_size, tokenizer.vocab_size());
  for (int32_t id = 0; id < known; ++id) {
    if (!tokenizer.IsSpecial(id)) vocab[id] = tokenizer.TokenBytes(id);
  }
  return vocab;
}

// Compiling builds the token-mask cache, which XGrammar spreads over threads.
int CompileThreads() {
  return std::clamp(DetectCpuBudget().cpus, 1, 8);
}

// One alternative per choice: root ::= "a" | "b". JSON string escapes are EBNF string escapes.
std::string ChoiceEbnf(const std::vector<std::string>& choices) {
  std::string ebnf = "root ::=";
  for (size_t i = 0; i < choices.size(); ++i) {
    ebnf += (i ? " | " : " ") + nlohmann::json(choices[i]).dump();
  }
  return ebnf;
}

}  // namespace

struct GrammarCompiler::Impl {
  int32_t vocab_size;
  xgrammar::GrammarCompiler compiler;
};

GrammarCompiler::GrammarCompiler(const Tokenizer& tokenizer, int32_t vocab_size,
                                 std::span<const int32_t> eos_ids) {
  xgrammar::TokenizerInfo info(DecodedVocab(tokenizer, vocab_size), xgrammar::VocabType::RAW,
                               vocab_size, std::vector<int32_t>(eos_ids.begin(), eos_ids.end()));
  impl_.reset(new Impl{vocab_size, xgrammar::GrammarCompiler(info, CompileThreads())});
}

GrammarCompiler::~GrammarCompiler() = default;

// Compact JSON (", " and ": " separators, no other whitespace): with free whitespace a small
// model can spend its whole budget on newlines inside a valid document.
constexpr bool kAnyWhitespace = false;

static xgrammar::CompiledGrammar CompileSpec(xgrammar::GrammarCompiler& c, const GrammarSpec& spec) {
  switch (spec.kind) {
    case GrammarKind::kJsonObject:
      return c.CompileJSONSchema(R"({"type": "object"})", kAnyWhitespace);
    case GrammarKind::kJsonSchema: {
      const nlohmann::json schema = nlohmann::json::parse(spec.source, nullptr, false);
      if (schema.is_discarded() || !(schema.is_object() || schema.is_boolean())) {
        throw Error(spec.field + ": must be a JSON Schema object");
      }
      CheckJsonSchemaSupported(schema, spec.field);
      return c.CompileJSONSchema(spec.source, kAnyWhitespace);
    }
    case GrammarKind::kRegex:
      return c.CompileRegex(spec.source);
    case GrammarKind::kChoice:
      if (spec.choices.empty()) throw Error(spec.field + ": must list at least one choice");
      return c.CompileGrammar(ChoiceEbnf(spec.choices));
    case GrammarKind::kEbnf:
      return c.CompileGrammar(spec.source, "root");
    case GrammarKind::kStructuralTag:
      return c.CompileStructuralTag(spec.source);
  }
  throw Error(spec.field + ": unknown grammar kind");
}

std::shared_ptr<const CompiledGrammar> GrammarCompiler::Compile(const GrammarSpec& spec) const {
  try {
    return std::make_shared<const CompiledGrammar>(
        CompiledGrammar{CompileSpec(impl_->compiler, spec), impl_->vocab_size});
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(spec.field + ": " + e.what());
  }
}

}  // namespace xq
