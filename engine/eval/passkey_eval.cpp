#include "engine/eval/passkey_eval.h"

#include <algorithm>
#include <random>
#include <span>

#include "engine/common/error.h"
#include "engine/sampling/sampler.h"
#include "engine/step/solo_sequence.h"

namespace xq {
namespace {

// The filler of the Landmark-Attention passkey test: repetitive, so only the key is informative.
constexpr const char* kIntro =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n";
constexpr const char* kFiller =
    " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

std::vector<int32_t> Encode(const Tokenizer& t, const std::string& s) {
  return t.Encode(s, /*add_special=*/false, /*parse_special=*/false);
}

}  // namespace

PasskeyPrompt BuildPasskeyPrompt(const Tokenizer& tokenizer, int64_t context_tokens, double depth,
                                 int key) {
  PasskeyPrompt p;
  p.key = std::to_string(key);
  const auto intro = tokenizer.Encode(kIntro, /*add_special=*/true, false);
  const auto filler = Encode(tokenizer, kFiller);
  const auto needle = Encode(
      tokenizer, " The pass key is " + p.key + ". Remember it. " + p.key + " is the pass key.");
  p.question = Encode(tokenizer, " What is the pass key? The pass key is");
  const int64_t budget = context_tokens - static_cast<int64_t>(intro.size() + needle.size());
  if (budget < static_cast<int64_t>(filler.size())) {
    throw Error("passkey: " + std::to_string(context_tokens) + " tokens leave no room for filler");
  }
  const int64_t repeats = budget / static_cast<int64_t>(filler.size());
  const int64_t before = static_cast<int64_t>(std::llround(depth * repeats));
  p.context = intro;
  for (int64_t i = 0; i < repeats; ++i) {
    if (i == before) p.context.insert(p.context.end(), needle.begin(), needle.end());
    p.context.insert(p.context.end(), filler.begin(), filler.end());
  }
  if (before >= repeats) p.context.insert(p.context.end(), needle.begin(), needle.end());
  return p;
}

std::vector<PasskeyResult> EvaluatePasskey(const Model& model, const Tokenizer& tokenizer,
                                           const std::vector<KvBackend*>& profiles,
                                           const PasskeyOptions& options) {
  std::vector<PasskeyResult> results;
  std::mt19937 rng(options.seed);
  std::uniform_int_distribution<int> key_dist(10000, 99999);
  constexpr int64_t kAnswerTokens = 8;
  for (int64_t target : options.context_tokens) {
    // Leave room for the question and the answer inside the model's context.
    const int64_t context_tokens = std::min<int64_t>(target, model.config.max_context - 64);
    std::vector<PasskeyPrompt> prompts;
    for (double depth : options.depths) {
      prompts.push_back(BuildPasskeyPrompt(tokenizer, context_tokens, depth, key_dist(rng)));
    }
    for (KvBackend* backend : profiles) {
      PasskeyResult r{backend->name, context_tokens, 0, 0};
      for (const PasskeyPrompt& p : prompts) {
        SoloSequence seq(*backend->runner, *backend->kv);
        const std::vector<float>* logits = nullptr;
        auto run = [&](std::span<const int32_t> tokens) {
          const int64_t last[] = {static_cast<int64_t>(tokens.size()) - 1};
          logits = &seq.Append(tokens, last);
        };
        const std::span<const int32_t> context(p.context);
        for (size_t s = 0; s < context.size(); s += options.chunk) {
          run(context.subspan(s, std::min<size_t>(options.chunk, context.size() - s)));
        }
        run(p.question);
        std::vector<int32_t> answer;
        for (int64_t i = 0; i < kAnswerTokens; ++i) {
          answer.push_back(ArgMax(*logits));
          if (i + 1 < kAnswerTokens) logits = &seq.Step(answer.back());
        }
        const std::string text = tokenizer.Decode(answer, /*skip_special=*/true);
        std::string digits;
        for (char c : text) {
          if (c >= '0' && c <= '9')
            digits += c;
          else if (!digits.empty())
            break;
        }
        r.correct += digits == p.key;
        ++r.total;
      }
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace xq
