// Completions' `suffix`: the FIM tokens are found by name in real code-model vocabularies, the
// prompt is laid out prefix / suffix / middle, and a model without them refuses `suffix` by name.
#include "server/core/fill_in_middle.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "server/core/api_error.h"
#include "server/core/openai_request.h"
#include "server/core/prompt_builder.h"
#include "server/core/request_builder.h"
#include "tests/support/skip_or_fail.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

namespace fs = std::filesystem;

TokenizerSpec SpecWith(const std::vector<std::string>& extra) {
  TokenizerSpec spec = test::TinyByteLevelSpec();
  for (const std::string& text : extra) {
    spec.tokens.push_back(text);
    spec.types.push_back(TokenType::kUserDefined);
  }
  return spec;
}

TEST(FindFimTokens, FindsEachFamilyByName) {
  const TokenizerSpec plain = test::TinyByteLevelSpec();
  EXPECT_FALSE(FindFimTokens(plain).has_value());

  const auto n = static_cast<int32_t>(plain.tokens.size());
  // Listed out of order: the roles come from the names, not the positions.
  const auto qwen = FindFimTokens(SpecWith({"<|fim_middle|>", "<|fim_prefix|>", "<|fim_suffix|>"}));
  ASSERT_TRUE(qwen.has_value());
  EXPECT_EQ(qwen->prefix, n + 1);
  EXPECT_EQ(qwen->suffix, n + 2);
  EXPECT_EQ(qwen->middle, n);

  const auto code_llama = FindFimTokens(SpecWith({"\xE2\x96\x81<PRE>", "\xE2\x96\x81<SUF>",
                                                  "\xE2\x96\x81<MID>"}));
  ASSERT_TRUE(code_llama.has_value());
  EXPECT_EQ(code_llama->prefix, n);

  // An incomplete family is no family.
  EXPECT_FALSE(FindFimTokens(SpecWith({"<fim_prefix>", "<fim_suffix>"})).has_value());
}

TEST(FindFimTokens, RealCodeModelVocabularies) {
  for (const std::string name : {"starcoder", "deepseek-coder", "refact"}) {
    const fs::path gguf =
        fs::path(XQ_SOURCE_DIR) / "models/llamacpp" / ("ggml-vocab-" + name + ".gguf");
    if (!fs::exists(gguf)) {
      XQ_SKIP_OR_FAIL() << gguf << " is missing; run `make model` to fetch llama.cpp's vocab files";
    }
    GgufFile file(gguf);
    const TokenizerSpec spec = TokenizerSpecFromGguf(file);
    const auto fim = FindFimTokens(spec);
    ASSERT_TRUE(fim.has_value()) << name;
    // Each is a single special token whose name says its role.
    EXPECT_NE(spec.tokens[fim->prefix].find(name == "deepseek-coder" ? "begin" : "prefix"),
              std::string::npos)
        << name;
    EXPECT_NE(spec.tokens[fim->suffix].find(name == "deepseek-coder" ? "hole" : "suffix"),
              std::string::npos)
        << name;
    EXPECT_NE(spec.tokens[fim->middle].find(name == "deepseek-coder" ? "end" : "middle"),
              std::string::npos)
        << name;
  }
}

TEST(FillInMiddle, PromptIsPrefixSuffixMiddle) {
  const Tokenizer tokenizer(SpecWith({"<fim_prefix>", "<fim_suffix>", "<fim_middle>"}));
  const PromptBuilder prompts(tokenizer, ResolveChatTemplate("", tokenizer.spec()));
  const auto fim = *FindFimTokens(tokenizer.spec());

  const OpenAiRequest r = ParseCompletionRequest(
      {{"prompt", "def is_the"}, {"suffix", "\n    return x"}}, tokenizer.vocab_size());
  EXPECT_EQ(r.suffix, "\n    return x");
  const GenerateRequest g = BuildGenerateRequest(r, prompts, 200, "id");

  std::vector<int32_t> want = {fim.prefix};
  for (int32_t id : tokenizer.Encode("def is_the", false, false)) want.push_back(id);
  want.push_back(fim.suffix);
  for (int32_t id : tokenizer.Encode("\n    return x", false, false)) want.push_back(id);
  want.push_back(fim.middle);
  EXPECT_EQ(g.prompt, want);
}

TEST(FillInMiddle, RefusedByNameWithoutFimTokensOrWithTokenIds) {
  const Tokenizer tokenizer(test::TinyByteLevelSpec());
  const PromptBuilder prompts(tokenizer, ResolveChatTemplate("", tokenizer.spec()));
  const int64_t vocab = tokenizer.vocab_size();
  const OpenAiRequest r = ParseCompletionRequest({{"prompt", "a"}, {"suffix", "b"}}, vocab);
  try {
    BuildGenerateRequest(r, prompts, 200, "id");
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "suffix");
  }
  try {
    ParseCompletionRequest({{"prompt", {5, 6}}, {"suffix", "b"}}, vocab);
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param(), "suffix");
  }
  // An empty suffix is no suffix: a plain completion.
  const OpenAiRequest plain = ParseCompletionRequest({{"prompt", "a"}, {"suffix", ""}}, vocab);
  EXPECT_EQ(BuildGenerateRequest(plain, prompts, 200, "id").prompt, prompts.Text("a"));
}

}  // namespace
}  // namespace xq
