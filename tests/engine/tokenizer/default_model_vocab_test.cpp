// The default model's (SmolLM2, byte-level BPE, pre "smollm") vocab: special tokens, digits,
// incremental detokenization of multi-byte characters, and ~100 KB of text round-tripping.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode_util.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

class DefaultModelVocab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      XQ_SKIP_OR_FAIL() << XQ_DEFAULT_MODEL << " is missing; run `make model` to fetch it";
    }
    GgufFile file(XQ_DEFAULT_MODEL);
    tok_ = std::make_unique<Tokenizer>(TokenizerSpecFromGguf(file));
  }
  int32_t IdOf(const std::string& text) const {
    const auto& tokens = tok_->spec().tokens;
    auto it = std::find(tokens.begin(), tokens.end(), text);
    return it == tokens.end() ? -1 : static_cast<int32_t>(it - tokens.begin());
  }
  std::unique_ptr<Tokenizer> tok_;
};

bool IsValidUtf8(const std::string& s) { return SanitizeUtf8(s) == s; }

TEST_F(DefaultModelVocab, RoundTripsPlainText) {
  EXPECT_EQ(tok_->spec().pre, "smollm");
  for (const std::string text : {"Hello world", "  leading spaces\tand\ttabs\n\n", "naïve café",
                                 "def f(x):\n    return x**2  # comment", "你好，世界！"}) {
    const auto ids = tok_->Encode(text, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok_->Decode(ids), text);
  }
  // A frequent word is one token, so merges were applied.
  EXPECT_EQ(tok_->Encode("Hello", false), std::vector<int32_t>{IdOf("Hello")});
  EXPECT_EQ(tok_->Encode(" world", false), std::vector<int32_t>{IdOf("Ġworld")});
}

TEST_F(DefaultModelVocab, SplitsDigitsIndividually) {
  const auto ids = tok_->Encode("2024", false);
  ASSERT_EQ(ids.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ids[i], IdOf(std::string(1, "2024"[i])));
}

TEST_F(DefaultModelVocab, ChatMarkersAreSingleSpecialTokens) {
  const int32_t start = IdOf("<|im_start|>"), end = IdOf("<|im_end|>");
  ASSERT_GE(start, 0);
  ASSERT_GE(end, 0);
  const std::string chat = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
  const auto ids = tok_->Encode(chat, false, true);
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), start), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), end), 1);
  EXPECT_EQ(tok_->Decode(ids), chat);
  EXPECT_TRUE(tok_->IsSpecial(start));
  EXPECT_TRUE(tok_->IsEndOfGeneration(end));
  EXPECT_FALSE(tok_->IsEndOfGeneration(start));
  EXPECT_FALSE(tok_->IsEndOfGeneration(IdOf("Hello")));
  EXPECT_EQ(tok_->Decode(ids, true).find("<|im"), std::string::npos);

  // Without parse_special the markers are plain text, split into ordinary tokens.
  const auto plain = tok_->Encode(chat, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), start), 0);
  EXPECT_EQ(tok_->Decode(plain), chat);
}

TEST_F(DefaultModelVocab, IncrementalDetokenizerHoldsSplitCharacters) {
  const std::string text = "Llama 🦙 says 你好世界 and 😀👍🏽!";
  const auto ids = tok_->Encode(text, false);
  // The test only means something if some token is a partial UTF-8 sequence.
  const bool has_partial = std::any_of(
      ids.begin(), ids.end(), [&](int32_t id) { return !IsValidUtf8(tok_->TokenBytes(id)); });
  ASSERT_TRUE(has_partial);
  IncrementalDetokenizer detok(*tok_);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = detok.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "token " << id;
    streamed += piece;
  }
  streamed += detok.Flush();
  EXPECT_EQ(streamed, text);
}

// Encode's speed is bench/tokenizer_bench's business: a wall-clock bound here can fail whenever
// ctest runs other suites on the same cores.
TEST_F(DefaultModelVocab, RoundTripsHundredKilobytes) {
  std::string text;
  for (int i = 0; text.size() < 100 * 1024; ++i) {
    text += "Paragraph " + std::to_string(i) + ": The quick brown fox jumps over the lazy dog; " +
            "naïve café — 東京 " + std::to_string(i * 7919) + " tokens/s, λx.x+" +
            std::to_string(i % 97) + "\n";
  }
  const auto ids = tok_->Encode(text, false);
  EXPECT_EQ(tok_->Decode(ids), text);
  // Merges were applied all along, not only at the start: well under one token per two bytes.
  EXPECT_LT(ids.size(), text.size() / 2);
}

}  // namespace
}  // namespace xq
