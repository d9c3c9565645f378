// Tokenization of the default model agrees with llama.cpp on a varied corpus (prose, code, CJK,
// emoji, whitespace runs, special tokens) and on chat conversations rendered by our own
// ChatTemplate. Fixture: tests/fixtures/llamacpp/tokenize.json (docs/FIXTURES.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

class LlamaCppTokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      XQ_SKIP_OR_FAIL() << "default model missing: run `make model` (" XQ_DEFAULT_MODEL ")";
    }
    GgufFile file(XQ_DEFAULT_MODEL);
    tokenizer_ = std::make_unique<Tokenizer>(TokenizerSpecFromGguf(file));
    std::ifstream in(std::string(XQ_SOURCE_DIR) + "/tests/fixtures/llamacpp/tokenize.json");
    ASSERT_TRUE(in.good());
    fixture_ = nlohmann::json::parse(in);
  }
  std::unique_ptr<Tokenizer> tokenizer_;
  nlohmann::json fixture_;
};

TEST_F(LlamaCppTokenize, IdsAndDetokenizationMatch) {
  int cases = 0;
  for (const auto& c : fixture_["cases"]) {
    const std::string name = c["name"], text = c["text"];
    const auto special = c["ids_special"].get<std::vector<int32_t>>();
    const auto plain = c["ids_plain"].get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer_->Encode(text, true, /*parse_special=*/true), special) << name;
    EXPECT_EQ(tokenizer_->Encode(text, true, /*parse_special=*/false), plain) << name;
    EXPECT_EQ(tokenizer_->Decode(special), c["detok_special"].get<std::string>()) << name;
    EXPECT_EQ(tokenizer_->Decode(special, /*skip_special=*/true),
              c["detok_special_skipped"].get<std::string>())
        << name;
    EXPECT_EQ(tokenizer_->Decode(plain), c["detok_plain"].get<std::string>()) << name;

    // Streaming the ids through the incremental detokenizer gives the same text.
    IncrementalDetokenizer detok(*tokenizer_, /*skip_special=*/false);
    std::string streamed;
    for (int32_t id : special) streamed += detok.Push(id);
    streamed += detok.Flush();
    EXPECT_EQ(streamed, c["detok_special"].get<std::string>()) << name;
    ++cases;
  }
  EXPECT_GE(cases, 40);
}

TEST_F(LlamaCppTokenize, ChatConversationsRenderAndTokenizeIdentically) {
  ChatTemplate tmpl(tokenizer_->spec().chat_template);
  int chats = 0;
  for (const auto& c : fixture_["cases"]) {
    if (!c.contains("messages")) continue;
    std::vector<ChatMessage> messages;
    for (const auto& m : c["messages"]) messages.push_back({m["role"], m["content"]});
    ChatTemplateOptions opts;
    opts.add_generation_prompt = true;
    const std::string rendered = tmpl.Apply(messages, opts);
    EXPECT_EQ(rendered, c["text"].get<std::string>()) << c["name"];
    EXPECT_EQ(tokenizer_->Encode(rendered, true, true), c["ids_special"].get<std::vector<int32_t>>())
        << c["name"];
    ++chats;
  }
  EXPECT_GE(chats, 5);
}

}  // namespace
}  // namespace xq
