// Synthetic models: a config's shapes, reproducible random weights of variance 1 / fan_in, a
// vocabulary the tokenizer accepts, and a forward pass that stays finite through every layer.
#include "engine/model/synthetic_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/common/error.h"
#include "engine/model/dequantize.h"
#include "engine/model/hf_config.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/include/synthetic_noise.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

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

// Values left for the CUDA device describe exactly what the host would have generated: the
// scale and stream of each matrix and of the embedding; norms stay in memory, as do blocks.
TEST(SyntheticModel, ValuesOnTheDeviceAreTheHostsValuesDescribed) {
  const Model host = MakeSyntheticModel(kConfig, 5);
  const Model deferred = MakeSyntheticModel(kConfig, 5, GgmlType::kF32, /*values_on_device=*/true);
  auto same = [](const Tensor& h, const Tensor& d) {
    ASSERT_TRUE(d.synthetic.has_value());
    EXPECT_TRUE(d.data.empty());
    EXPECT_FALSE(d.empty());
    EXPECT_EQ(d.shape, h.shape);
    for (int64_t i : {int64_t{0}, int64_t{1}, h.rows() * h.cols() - 1}) {
      EXPECT_EQ(h.data[i],
                d.synthetic->scale * SyntheticNoise(d.synthetic->seed, d.synthetic->stream, i))
          << i;
    }
  };
  same(host.weights.token_embedding, deferred.weights.token_embedding);
  same(host.weights.layers[3].wk, deferred.weights.layers[3].wk);
  same(host.weights.layers[29].w_down, deferred.weights.layers[29].w_down);
  EXPECT_EQ(deferred.weights.layers[3].attn_norm.data, host.weights.layers[3].attn_norm.data);
  EXPECT_TRUE(deferred.weights.output.empty()) << "tied: the embedding is the output matrix";
  EXPECT_TRUE(
      MakeSyntheticModel(kConfig, 5, GgmlType::kQ8_0, true).weights.layers[0].wq.quantized());
}

// Matrices in GGML blocks (what a quantized GGUF of the shape costs to run): random quants under
// fixed scales, spread like the fp32 weights (variance about 1 / fan_in; the discrete quants'
// second moments put each a little above 1: Q4_K's 16 levels over [-a, a] at 1.13). Q8_0 and
// Q4_0 run on the CPU; K-quants need rows of whole 256-value super-blocks.
TEST(SyntheticModel, MatricesInBlocksSpreadLikeTheFp32Ones) {
  const test::TempDir dir;
  const auto small = dir / "config.json";
  std::ofstream(small) << HfConfigToJson(test::MakeTinyModel({.hidden_size = 256}).config);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    SCOPED_TRACE(GgmlTypeName(static_cast<uint32_t>(type)));
    const Model m = MakeSyntheticModel(small, 1, type);
    const Tensor& down = m.weights.layers[1].w_down;
    ASSERT_EQ(down.block_type, type);
    EXPECT_TRUE(down.data.empty());
    EXPECT_TRUE(m.weights.token_embedding.quantized() && m.weights.output.quantized());
    EXPECT_FALSE(m.weights.layers[0].attn_norm.quantized());
    EXPECT_EQ(MakeSyntheticModel(small, 1, type).weights.layers[1].w_down.blocks, down.blocks);
    EXPECT_NE(m.weights.layers[1].w_up.blocks, m.weights.layers[1].w_gate.blocks);
    double sum_sq = 0;
    std::vector<float> row(down.cols());
    for (int64_t r = 0; r < down.rows(); ++r) {
      DequantizeMatrixRow(down, r, row.data());
      for (float x : row) sum_sq += double(x) * x;
    }
    const double second_moment = sum_sq / (down.rows() * down.cols()) * down.cols();
    EXPECT_GT(second_moment, 0.95);
    EXPECT_LT(second_moment, 1.2);
  }
  // On the CPU, blocks of the Q4_0 family run through the quantized kernels and stay finite.
  const Model q8 = MakeSyntheticModel(kConfig, 1, GgmlType::kQ8_0);
  KvBackend kv =
      MakeKvBackend(q8, LoadKvProfile("fp16"), 64 << 20, 64, std::make_unique<CpuModelRunner>(q8));
  SoloSequence seq(*kv.runner, *kv.kv);
  const int32_t ids[] = {104, 105};
  const int64_t last[] = {1};
  for (float x : seq.Append(ids, last)) ASSERT_TRUE(std::isfinite(x));
  try {
    MakeSyntheticModel(kConfig, 1, GgmlType::kQ4_K);
    ADD_FAILURE() << "576-wide rows are not whole Q4_K super-blocks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K needs rows of whole 256-value blocks"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(MakeSyntheticModel(kConfig, 1, GgmlType::kQ5_1), Error);
}

}  // namespace
}  // namespace xq
