// Packing a loaded model for the CPU matmul kernels: every quantized matrix is packed, rows read
// back as before, and the forward pass gives the same logits bit for bit as on the GGML blocks.
// On the default model (Q4_1) and on a tiny one whose matrices alternate Q4_K and Q6_K.
#include "engine/model/cpu_kernel_weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <vector>

#include "engine/kv/kv_profile.h"
#include "engine/model/dequantize.h"
#include "engine/model/model_loader.h"
#include "engine/runner/cpu_model_runner.h"
#include "engine/step/kv_backend.h"
#include "engine/step/solo_sequence.h"
#include "tests/support/skip_or_fail.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

enum class Weights { kDefaultModel, kTinyKQuants };

class CpuKernelWeights : public ::testing::TestWithParam<Weights> {
 protected:
  void SetUp() override {
    if (GetParam() == Weights::kDefaultModel && !std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      XQ_SKIP_OR_FAIL() << "default model missing: run `make model` (" XQ_DEFAULT_MODEL ")";
    }
    if (!CanPackQWeights()) GTEST_SKIP() << "this CPU has no AVX2: weights stay GGML blocks";
    plain_ = Load();
    packed_ = Load();
    PackForCpuKernels(packed_);
  }

  static Model Load() {
    if (GetParam() == Weights::kDefaultModel) return LoadModel(XQ_DEFAULT_MODEL);
    // hidden 256: every row is whole K-quant blocks.
    return test::WithQuantizedMatrices(test::MakeTinyModel({.hidden_size = 256}),
                                       {GgmlType::kQ4_K, GgmlType::kQ6_K});
  }

  std::vector<float> PrefillLogits(const Model& model) {
    const KvProfile profile = LoadKvProfile("fp16", std::string(XQ_SOURCE_DIR) + "/configs/kv");
    KvBackend backend = MakeKvBackend(model, profile, int64_t{256} << 20, 64,
                                      std::make_unique<CpuModelRunner>(model));
    SoloSequence seq(*backend.runner, *backend.kv);
    std::vector<int32_t> tokens(40);
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = static_cast<int32_t>((100 + 37 * i) % model.config.vocab_size);
    }
    std::vector<int64_t> rows(tokens.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    return seq.Append(tokens, rows);
  }

  Model plain_, packed_;
};

TEST_P(CpuKernelWeights, PacksEveryQuantizedMatrixAndKeepsItsRows) {
  std::set<GgmlType> types;
  for (const LayerWeights& l : packed_.weights.layers) {
    for (const Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      ASSERT_TRUE(t->quantized());
      EXPECT_TRUE(t->packed);
      types.insert(t->block_type);
    }
  }
  if (GetParam() == Weights::kTinyKQuants) {
    EXPECT_EQ(types, (std::set<GgmlType>{GgmlType::kQ4_K, GgmlType::kQ6_K}));
  }
  const Tensor& a = plain_.weights.token_embedding;
  const Tensor& b = packed_.weights.token_embedding;
  ASSERT_TRUE(b.packed);
  std::vector<float> ra(a.cols()), rb(b.cols());
  for (int64_t row : {int64_t{0}, int64_t{1}, int64_t{15}, int64_t{16}, b.rows() - 1}) {
    DequantizeMatrixRow(a, row, ra.data());
    DequantizeMatrixRow(b, row, rb.data());
    EXPECT_EQ(ra, rb) << "row " << row;
  }
  PackForCpuKernels(packed_);  // idempotent: packed matrices are left alone
  DequantizeMatrixRow(b, 7, rb.data());
  DequantizeMatrixRow(a, 7, ra.data());
  EXPECT_EQ(ra, rb);
}

TEST_P(CpuKernelWeights, ForwardPassIsBitIdentical) {
  EXPECT_EQ(PrefillLogits(packed_), PrefillLogits(plain_));
}

INSTANTIATE_TEST_SUITE_P(Models, CpuKernelWeights,
                         ::testing::Values(Weights::kDefaultModel, Weights::kTinyKQuants),
                         [](const auto& info) {
                           return info.param == Weights::kDefaultModel ? "DefaultQ4_1"
                                                                       : "TinyQ4_KAndQ6_K";
                         });

}  // namespace
}  // namespace xq
