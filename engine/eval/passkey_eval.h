// Passkey retrieval: a 5-digit key hidden at some depth of filler text, asked for at the end.
// The question is processed as its own chunk after the whole context, so the context it reads
// has already left the recent window and been quantized, as in a long chat.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/step/kv_backend.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {

struct PasskeyOptions {
  std::vector<int64_t> context_tokens = {1024, 2048, 4096, 8000};  // capped to the model context
  std::vector<double> depths = {0.1, 0.3, 0.5, 0.7, 0.9};          // where the key sits (0 = start)
  uint32_t seed = 1234;
  int64_t chunk = 512;
};

struct PasskeyResult {
  std::string profile;
  int64_t context_tokens = 0;
  int correct = 0;
  int total = 0;
};

std::vector<PasskeyResult> EvaluatePasskey(const Model& model, const Tokenizer& tokenizer,
                                           const std::vector<KvBackend*>& profiles,
                                           const PasskeyOptions& options);

// The prompt parts, exposed for tests: context (filler with the key at `depth`) and question.
struct PasskeyPrompt {
  std::vector<int32_t> context;
  std::vector<int32_t> question;
  std::string key;
};
PasskeyPrompt BuildPasskeyPrompt(const Tokenizer& tokenizer, int64_t context_tokens, double depth,
                                 int key);

}  // namespace xq
