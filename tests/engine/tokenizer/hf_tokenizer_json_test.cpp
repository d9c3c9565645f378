// Tokenizer::SpecFromHfDir on tokenizer.json / tokenizer_config.json files written to a temp dir.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/common/error.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode_util.h"

namespace xq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class HfTokenizerJson : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("xq_hf_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const json& j) { std::ofstream(dir_ / name) << j.dump(); }
  void WriteRaw(const std::string& name, const std::string& s) { std::ofstream(dir_ / name) << s; }

  // Byte-level vocab: the 256 byte characters, then "he", "hel", "hello" built by merges.
  json ByteLevelJson(const json& pre_tokenizer) {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[ByteToUnicode(static_cast<uint8_t>(b))] = b;
    vocab["he"] = 256;
    vocab["ll"] = 257;
    vocab["hell"] = 258;
    vocab["hello"] = 259;
    return {
        {"model",
         {{"type", "BPE"},
          {"vocab", vocab},
          {"merges", json::array({json::array({"h", "e"}), "l l", "he ll", "hell o"})}}},
        {"added_tokens", json::array({{{"id", 260}, {"content", "<|im_end|>"}, {"special", true}},
                                      {{"id", 261}, {"content", "<think>"}, {"special", false}}})},
        {"pre_tokenizer", pre_tokenizer},
        {"decoder", {{"type", "ByteLevel"}}}};
  }
  fs::path dir_;
};

TEST_F(HfTokenizerJson, ByteLevelWithConfig) {
  Write("tokenizer.json",
        ByteLevelJson({{"type", "Sequence"},
                       {"pretokenizers",
                        json::array({{{"type", "Digits"}, {"individual_digits", true}},
                                     {{"type", "ByteLevel"}, {"add_prefix_space", false}}})}}));
  Write("tokenizer_config.json", {{"add_bos_token", false},
                                  {"bos_token", {{"content", "<|im_end|>"}}},
                                  {"eos_token", "<|im_end|>"},
                                  {"chat_template", "{{ messages }}"}});
  const TokenizerSpec spec = Tokenizer::SpecFromHfDir(dir_);
  EXPECT_EQ(spec.kind, TokenizerKind::kByteLevelBpe);
  EXPECT_EQ(spec.pre, "smollm");
  EXPECT_TRUE(spec.pre_regexes.empty());
  ASSERT_EQ(spec.tokens.size(), 262u);
  EXPECT_EQ(spec.merges.front(), "h e");
  EXPECT_EQ(spec.types[260], TokenType::kControl);
  EXPECT_EQ(spec.types[261], TokenType::kUserDefined);
  EXPECT_EQ(spec.bos_id, 260);
  EXPECT_EQ(spec.eos_id, 260);
  EXPECT_FALSE(spec.add_bos);
  EXPECT_EQ(spec.chat_template, "{{ messages }}");

  Tokenizer tok(spec);
  EXPECT_EQ(tok.Encode("hello<|im_end|>", true, true), (std::vector<int32_t>{259, 260}));
  EXPECT_TRUE(tok.IsEndOfGeneration(260));
}

TEST_F(HfTokenizerJson, KnownAndCustomSplitRegexes) {
  const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  auto split = [](const std::string& regex) {
    return json{{"type", "Sequence"},
                {"pretokenizers", json::array({{{"type", "Split"},
                                                {"pattern", {{"Regex", regex}}},
                                                {"behavior", "Isolated"},
                                                {"invert", false}},
                                               {{"type", "ByteLevel"}, {"use_regex", false}}})}};
  };
  Write("tokenizer.json", ByteLevelJson(split(llama3)));
  EXPECT_EQ(Tokenizer::SpecFromHfDir(dir_).pre, "llama-bpe");

  Write("tokenizer.json", ByteLevelJson(split(R"(\p{L}+|\s+)")));
  const TokenizerSpec spec = Tokenizer::SpecFromHfDir(dir_);
  EXPECT_EQ(spec.pre_regexes, std::vector<std::string>{R"(\p{L}+|\s+)"});
  Tokenizer tok(spec);
  EXPECT_EQ(tok.Decode(tok.Encode("hello, hello", false)), "hello, hello");
}

TEST_F(HfTokenizerJson, ByteFallbackMeansSentencePiece) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    vocab[hex] = 3 + b;
  }
  int next = 259;
  for (const char* p : {"▁", "h", "i", "hi", "▁hi"}) vocab[p] = next++;
  Write(
      "tokenizer.json",
      {{"model",
        {{"type", "BPE"},
         {"vocab", vocab},
         {"merges", json::array({"h i", "▁ hi"})},
         {"byte_fallback", true},
         {"unk_token", "<unk>"}}},
       {"added_tokens", json::array({{{"id", 1}, {"content", "<s>"}, {"special", true}},
                                     {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
       {"normalizer",
        {{"type", "Sequence"},
         {"normalizers",
          json::array({{{"type", "Prepend"}, {"prepend", "▁"}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}})}}},
       {"pre_tokenizer", nullptr},
       {"post_processor",
        {{"type", "TemplateProcessing"},
         {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}}});
  const TokenizerSpec spec = Tokenizer::SpecFromHfDir(dir_);
  EXPECT_EQ(spec.kind, TokenizerKind::kSentencePieceBpe);
  EXPECT_TRUE(spec.add_space_prefix);
  EXPECT_TRUE(spec.add_bos);
  EXPECT_EQ(spec.bos_id, 1);
  EXPECT_EQ(spec.unk_id, 0);
  EXPECT_EQ(spec.types[3 + 'A'], TokenType::kByte);
  Tokenizer tok(spec);
  const int32_t space_hi = 263;
  EXPECT_EQ(tok.Encode("hi"), (std::vector<int32_t>{1, space_hi}));
  EXPECT_EQ(tok.Encode("hé", false), (std::vector<int32_t>{259, 260, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.Decode(tok.Encode("hi hé", false)), "hi hé");
}

void ExpectErrorMentions(const fs::path& dir, const std::string& file, const std::string& field) {
  try {
    Tokenizer::SpecFromHfDir(dir);
    ADD_FAILURE() << "no error for " << field;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << msg;
  }
}

TEST_F(HfTokenizerJson, MalformedFilesNameTheFileAndField) {
  ExpectErrorMentions(dir_, "tokenizer.json", "not found");
  WriteRaw("tokenizer.json", "{ not json");
  ExpectErrorMentions(dir_, "tokenizer.json", "invalid JSON");
  Write("tokenizer.json", {{"model", {{"type", "BPE"}}}});
  ExpectErrorMentions(dir_, "tokenizer.json", "model.vocab");
  Write("tokenizer.json", {{"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}}}});
  ExpectErrorMentions(dir_, "tokenizer.json", "model.type");
  json bad_merge = ByteLevelJson({{"type", "ByteLevel"}});
  bad_merge["model"]["merges"] = json::array({42});
  Write("tokenizer.json", bad_merge);
  ExpectErrorMentions(dir_, "tokenizer.json", "model.merges[0]");

  Write("tokenizer.json", ByteLevelJson({{"type", "ByteLevel"}}));
  Write("tokenizer_config.json", {{"eos_token", "<missing>"}});
  ExpectErrorMentions(dir_, "tokenizer_config.json", "eos_token");
  Write("tokenizer_config.json", {{"add_bos_token", "yes"}});
  ExpectErrorMentions(dir_, "tokenizer_config.json", "add_bos_token");
  Write("tokenizer_config.json", {{"bos_token", {{"text", "x"}}}});
  ExpectErrorMentions(dir_, "tokenizer_config.json", "bos_token");
}

}  // namespace
}  // namespace xq
