// Synthetic models: a config's shapes, reproducible random weights of variance 1 / fan_in, a
// vocabulary the tokenizer accepts, and a forward pass that stays finite through every layer.
#include "engine/model/synthetic_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/runner/cpu_model_runner.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {
namespace {

const std::string kConfig = std::string(XQ_SOURCE_DIR) + "/configs/synthetic/smollm2-135m.json";

TEST(SyntheticModel, HasTheConfigsShapesAndReproducibleWeights) {
  const Model a = MakeSyntheticModel(kConfig), b = MakeSyntheticModel(kConfig);
  const ModelConfig& c = a.config;
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.num_layers, 30);
  ASSERT_EQ(a.weights.layers.size(), 30u);
  const LayerWeights& l = a.weights.layers[7];
  EXPECT_EQ(l.wk.shape, (std::vector<int64_t>{c.num_kv_heads * c.head_dim, c.hidden_size}));
  EXPECT_EQ(l.w_down.shape, (std::vector<int64_t>{c.hidden_size, c.intermediate_size}));
  EXPECT_TRUE(a.weights.output.empty()) << "tied in this config";
  EXPECT_EQ(l.w_up.data, b.weights.layers[7].w_up.data);
  EXPECT_NE(l.w_up.data, a.weights.layers[7].w_gate.data) << "each tensor its own stream";
  EXPECT_NE(MakeSyntheticModel(kConfig, 2).weights.layers[7].w_up.data, l.w_up.data);
  // Uniform with variance 1 / fan_in.
  double sum_sq = 0;
  for (float x : l.w_down.data) sum_sq += double(x) * x;
  const double variance = sum_sq / l.w_down.data.size();
  EXPECT_NEAR(variance * c.intermediate_size, 1.0, 0.01);
}

TEST(SyntheticModel, ItsVocabularyTokenizesAndItsForwardPassStaysFinite) {
  const Model m = MakeSyntheticModel(kConfig);
  const Tokenizer tok(m.tokenizer);
  EXPECT_EQ(tok.vocab_size(), m.config.vocab_size);
  const auto ids = tok.Encode("hello", /*add_special=*/false, /*parse_special=*/false);
  EXPECT_EQ(ids.size(), 5u) << "one byte-level token per byte";
  EXPECT_EQ(tok.Decode(ids), "hello");
  KvBackend kv =
      MakeKvBackend(m, LoadKvProfile("fp16"), 64 << 20, 64, std::make_unique<CpuModelRunner>(m));
  SoloSequence seq(*kv.runner, *kv.kv);
  const int64_t last[] = {static_cast<int64_t>(ids.size()) - 1};
  const std::vector<float>& logits = seq.Append(ids, last);
  ASSERT_EQ(static_cast<int64_t>(logits.size()), m.config.vocab_size);
  double sum_sq = 0;
  for (float x : logits) {
    ASSERT_TRUE(std::isfinite(x));
    sum_sq += double(x) * x;
  }
  EXPECT_GT(sum_sq, 0.0);
}

}  // namespace
}  // namespace xq
