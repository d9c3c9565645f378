// Runs llama.cpp's tokenizer test vectors (models/llamacpp/ggml-vocab-*.gguf{,.inp,.out}) and the
// default model's vocab through xq::Tokenizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// Same parsing as llama.cpp's tests/test-tokenizer-0.cpp.
std::vector<VocabCase> ReadCases(const fs::path& gguf) {
  const std::string raw = ReadAll(gguf.string() + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(gguf.string() + ".out");
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    VocabCase c;
    c.text = i < inputs.size() ? inputs[i] : "";
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), inputs.size()) << gguf;
  return cases;
}

class LlamaCppVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaCppVocab, MatchesLlamaCppIdsAndRoundTrips) {
  const fs::path gguf =
      fs::path(XQ_SOURCE_DIR) / "models/llamacpp" / ("ggml-vocab-" + GetParam() + ".gguf");
  if (!fs::exists(gguf) || !fs::exists(gguf.string() + ".inp")) {
    XQ_SKIP_OR_FAIL() << gguf << " is missing; run `make model` to fetch llama.cpp's vocab files";
  }
  GgufFile file(gguf);
  Tokenizer tok(TokenizerSpecFromGguf(file));
  const auto cases = ReadCases(gguf);
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    // test-tokenizer-0 tokenizes with add_special = false, parse_special = false.
    const std::vector<int32_t> ids = tok.Encode(c.text, false, false);
    EXPECT_EQ(ids, c.ids) << GetParam() << " input: '" << c.text << "'";
    EXPECT_EQ(tok.Decode(ids), c.text) << GetParam() << " input: '" << c.text << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, LlamaCppVocab,
                         ::testing::Values("llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3",
                                           "starcoder", "refact", "command-r", "mpt"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace xq
