// CompiledGrammar: a grammar compiled against the model's vocabulary (XGrammar's compiled form,
// with the token-mask cache), shared read-only by every sequence that must follow it. Private to
// engine/grammar: other layers hold it by pointer only.
#pragma once

#include <xgrammar/compiler.h>

#include <cstdint>

namespace xq {

struct CompiledGrammar {
  xgrammar::CompiledGrammar compiled;
  int32_t vocab_size = 0;  // the model's logits width
};

}  // namespace xq
