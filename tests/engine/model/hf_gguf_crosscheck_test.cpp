// The two loaders agree: the default GGUF model, with its weights dequantized to fp32 and its
// tokenizer, exported as a Hugging Face directory (config.json, model.safetensors,
// tokenizer.json) and loaded back through the safetensors path, gives the same tokens and
// bit-identical logits.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/model/model_loader.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/support/hf_model_writer.h"
#include "tests/support/kv_test_backend.h"
#include "tests/support/skip_or_fail.h"
#include "tests/support/temp_dir.h"

namespace xq {
namespace {

std::vector<float> LastLogits(const Model& m, const std::vector<int32_t>& tokens) {
  KvBackend kv = test::MakeTestBackend(
      m, test::UniformSpecs(m.config.num_layers, kFp16Bits, kFp16Bits), 32, 0);
  return test::RunTokens(kv, tokens, static_cast<int64_t>(tokens.size()));
}

TEST(HfGgufCrossCheck, DefaultModelGivesIdenticalTokensAndLogits) {
  if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) {
    XQ_SKIP_OR_FAIL() << "default model missing: run `make model` (" XQ_DEFAULT_MODEL ")";
  }
  const Model gguf = LoadGgufModel(XQ_DEFAULT_MODEL, {.keep_quantized = false});
  test::TempDir dir;
  ExportHfModel(gguf, dir.path());
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  }
  const Model hf = LoadModel(dir.path());
  EXPECT_EQ(hf.config.num_layers, gguf.config.num_layers);
  EXPECT_EQ(hf.config.tie_word_embeddings, gguf.config.tie_word_embeddings);

  const std::string text =
      "<|im_start|>user\nTranslate 'paged memory' into French, then explain it in one line."
      "<|im_end|>\n<|im_start|>assistant\n";
  const auto ids_gguf = Tokenizer(gguf.tokenizer).Encode(text);
  const auto ids_hf = Tokenizer(hf.tokenizer).Encode(text);
  ASSERT_EQ(ids_gguf, ids_hf);
  ASSERT_GT(ids_gguf.size(), 10u);

  const auto a = LastLogits(gguf, ids_gguf), b = LastLogits(hf, ids_hf);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a, b) << "the same fp32 weights must give bit-identical logits";
}

}  // namespace
}  // namespace xq
