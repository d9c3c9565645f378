// GGUF model loading: round trips of tiny random models, and corrupt or unsupported files failing
// with a message that names the file and the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <utility>

#include "engine/common/error.h"
#include "engine/device/device.h"
#include "engine/model/cpu_block_transcode.h"
#include "engine/model/dequantize.h"
#include "engine/model/gguf_file.h"
#include "engine/model/model_loader.h"
#include "kernels/include/qgemm.h"
#include "tests/support/gguf_model_writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

using test::GgufWriter;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;

void ExpectSameWeights(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape, b.shape) << what;
  ASSERT_EQ(a.data, b.data) << what;
}

TEST(GgufModelLoader, RoundTripsF32WeightsIncludingRopePermutation) {
  for (std::string arch : {"llama", "mistral", "qwen2"}) {
    for (bool tied : {false, true}) {
      test::TempDir dir;
      Model original = test::MakeTinyModel({.architecture = arch, .tie_word_embeddings = tied});
      test::WriteGgufModel(original, dir / "m.gguf");
      Model loaded = LoadModel(dir / "m.gguf");
      const std::string what = arch + (tied ? " tied" : " untied");
      EXPECT_EQ(loaded.config.architecture, arch);
      EXPECT_EQ(loaded.config.tie_word_embeddings, tied) << what;
      EXPECT_EQ(loaded.config.attention_bias, arch == "qwen2") << what;
      EXPECT_EQ(loaded.config.num_kv_heads, original.config.num_kv_heads);
      EXPECT_EQ(loaded.config.head_dim, original.config.head_dim);
      ExpectSameWeights(loaded.weights.token_embedding, original.weights.token_embedding, what);
      ExpectSameWeights(loaded.output_matrix(), original.output_matrix(), what);
      for (size_t i = 0; i < original.weights.layers.size(); ++i) {
        const LayerWeights &a = loaded.weights.layers[i], &b = original.weights.layers[i];
        ExpectSameWeights(a.wq, b.wq, what + " wq");
        ExpectSameWeights(a.wk, b.wk, what + " wk");
        ExpectSameWeights(a.wv, b.wv, what + " wv");
        ExpectSameWeights(a.bq, b.bq, what + " bq");
        ExpectSameWeights(a.w_down, b.w_down, what + " w_down");
      }
      EXPECT_EQ(loaded.tokenizer.tokens, original.tokenizer.tokens);
      EXPECT_EQ(loaded.tokenizer.merges, original.tokenizer.merges);
    }
  }
}

TEST(GgufModelLoader, QuantizedMatricesDequantizeCloseToTheOriginal) {
  Model original = test::MakeTinyModel();
  for (GgmlType type : {GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0, GgmlType::kQ4_1}) {
    test::TempDir dir;
    test::WriteGgufModel(original, dir / "m.gguf", type);
    Model loaded = LoadModel(dir / "m.gguf", {.keep_quantized = false});
    const auto& a = loaded.weights.layers[1].w_up.data;
    const auto& b = original.weights.layers[1].w_up.data;
    ASSERT_EQ(a.size(), b.size());
    double err = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      err += (a[i] - b[i]) * (a[i] - b[i]);
      norm += b[i] * b[i];
    }
    const double tolerance = type == GgmlType::kQ4_1   ? 0.15
                             : type == GgmlType::kQ8_0 ? 0.01
                                                       : 0.005;
    EXPECT_LT(std::sqrt(err / norm), tolerance) << GgmlTypeName(static_cast<uint32_t>(type));
    EXPECT_GT(err, 0.0) << "quantization should be lossy";
  }
}

TEST(GgufModelLoader, KeepsQ4AndQ8MatricesInBlocksWithRopeRowsUnpermuted) {
  const Model original = test::MakeTinyModel();
  test::TempDir dir;
  test::WriteGgufModel(original, dir / "m.gguf", GgmlType::kQ8_0);
  const Model blocks = LoadModel(dir / "m.gguf");
  const Model floats = LoadModel(dir / "m.gguf", {.keep_quantized = false});
  const Tensor& wq = blocks.weights.layers[0].wq;
  ASSERT_TRUE(wq.quantized());
  EXPECT_EQ(wq.block_type, GgmlType::kQ8_0);
  EXPECT_TRUE(wq.data.empty());
  EXPECT_TRUE(blocks.weights.token_embedding.quantized());
  EXPECT_FALSE(blocks.weights.layers[0].attn_norm.quantized()) << "norms stay fp32";
  // Each row of blocks dequantizes to the fp32 row of the same index: the un-permutation moved
  // whole rows of blocks, not bytes within them.
  const int64_t cols = wq.cols(), row_bytes = static_cast<int64_t>(wq.blocks.size()) / wq.rows();
  std::vector<float> row(cols);
  for (int64_t r = 0; r < wq.rows(); ++r) {
    DequantizeRow(wq.block_type, wq.blocks.data() + r * row_bytes, row.data(), cols);
    ASSERT_TRUE(
        std::equal(row.begin(), row.end(), floats.weights.layers[0].wq.data.begin() + r * cols))
        << "row " << r;
  }
}

// Q5 and K-quant matrices (Q4_K_M files) keep the file's blocks when asked (the CUDA runner
// multiplies them); by default Q4_K / Q6_K stay as they are for the CPU kernels and Q5 types are
// transcoded to Q8_0; fp32 only without keep_quantized.
TEST(GgufModelLoader, KeepsOrTranscodesQ5AndKQuantBlocks) {
  const Model original = test::MakeTinyModel({.hidden_size = 256});
  test::TempDir dir;
  for (GgmlType type :
       {GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    SCOPED_TRACE(GgmlTypeName(static_cast<uint32_t>(type)));
    test::WriteGgufModel(original, dir / "k.gguf", type);
    const Model blocks = LoadModel(dir / "k.gguf", {.keep_file_block_types = true});
    const Model cpu = LoadModel(dir / "k.gguf");
    const Model floats = LoadModel(dir / "k.gguf", {.keep_quantized = false});
    EXPECT_EQ(blocks.weights.layers[1].w_down.block_type, type);
    EXPECT_EQ(blocks.weights.output.block_type, type);
    EXPECT_EQ(cpu.weights.layers[1].w_down.block_type, CpuBlockTypeFor(type));
    EXPECT_EQ(cpu.weights.output.block_type, CpuBlockTypeFor(type));
    EXPECT_FALSE(floats.weights.layers[1].w_down.quantized());
    const Tensor& wk = blocks.weights.layers[0].wk;  // rows un-permuted as whole rows of blocks
    std::vector<float> row(wk.cols());
    const int64_t row_bytes = static_cast<int64_t>(wk.blocks.size()) / wk.rows();
    for (int64_t r = 0; r < wk.rows(); ++r) {
      DequantizeRow(type, wk.blocks.data() + r * row_bytes, row.data(), wk.cols());
      ASSERT_TRUE(std::equal(row.begin(), row.end(),
                             floats.weights.layers[0].wk.data.begin() + r * wk.cols()))
          << "row " << r;
    }
    const Tensor& cpu_wk = cpu.weights.layers[0].wk;  // transcoded after the un-permutation
    if (CpuBlockTypeFor(type) == type) {
      EXPECT_EQ(cpu_wk.blocks, wk.blocks);
    } else {
      EXPECT_EQ(cpu_wk.blocks, TranscodeBlocksForCpu(type, wk.blocks.data(), wk.rows(), wk.cols()));
    }
  }
  // What the commands load for each device: a CPU runner gets the blocks its kernels take (and
  // readies the model: packs them), a CUDA one the file's.
  for (auto [type, cpu_type] :
       {std::pair{GgmlType::kQ5_K, GgmlType::kQ8_0}, std::pair{GgmlType::kQ6_K, GgmlType::kQ6_K}}) {
    test::WriteGgufModel(original, dir / "k.gguf", type);
    Model for_cpu = LoadModel(dir / "k.gguf", LoadOptionsFor(Device::kCpu));
    EXPECT_EQ(for_cpu.weights.layers[0].wq.block_type, cpu_type);
    EXPECT_NO_THROW(PrepareModelForDevice(for_cpu, Device::kCpu));
    EXPECT_EQ(for_cpu.weights.layers[0].wq.packed, CanPackQWeights());
    EXPECT_EQ(
        LoadModel(dir / "k.gguf", LoadOptionsFor(Device::kCuda)).weights.layers[0].wq.block_type,
        type);
  }
}

class GgufCorruption : public ::testing::Test {
 protected:
  void SetUp() override { test::AddModelToGguf(test::MakeTinyModel(), writer_); }
  std::string LoadError(uint32_t version = 3) {
    const auto path = dir_ / "bad.gguf";
    writer_.Write(path, version);
    return ErrorOf(path);
  }
  static std::string ErrorOf(const std::filesystem::path& path) {
    try {
      LoadModel(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::filesystem::path WriteBytes(const std::vector<uint8_t>& bytes) {
    const auto path = dir_ / "bytes.gguf";
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  test::TempDir dir_;
  GgufWriter writer_;
};

TEST_F(GgufCorruption, TruncatedAnywhereFailsCleanly) {
  const std::vector<uint8_t> bytes = writer_.Serialize();
  // Cut inside the header, the metadata, the tensor infos and the tensor data.
  for (size_t cut : {size_t{3}, size_t{12}, size_t{100}, bytes.size() / 3, bytes.size() - 1}) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + cut);
    const std::string err = ErrorOf(WriteBytes(part));
    EXPECT_THAT(err, AllOf(HasSubstr("bytes.gguf"), HasSubstr("truncated"))) << "cut " << cut;
  }
}

TEST_F(GgufCorruption, BadMagicAndVersion) {
  std::vector<uint8_t> bytes = writer_.Serialize();
  bytes[0] = 'X';
  EXPECT_THAT(ErrorOf(WriteBytes(bytes)), HasSubstr("bad magic"));
  EXPECT_THAT(LoadError(/*version=*/1), HasSubstr("unsupported GGUF version 1"));
  writer_.Write(dir_ / "v2.gguf", 2);
  EXPECT_EQ(GgufFile(dir_ / "v2.gguf").version(), 2u);
}

TEST_F(GgufCorruption, UnknownArchitecture) {
  writer_.SetString("general.architecture", "mamba");
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("bad.gguf"), HasSubstr("general.architecture"), HasSubstr("mamba")));
}

TEST_F(GgufCorruption, MissingMetadataKeyIsNamed) {
  writer_.Remove("llama.block_count");
  EXPECT_THAT(LoadError(), HasSubstr("missing metadata 'llama.block_count'"));
}

TEST_F(GgufCorruption, WrongMetadataTypeIsNamed) {
  writer_.SetString("llama.embedding_length", "sixty-four");
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("llama.embedding_length"), HasSubstr("integer")));
}

TEST_F(GgufCorruption, InconsistentConfig) {
  writer_.SetU32("llama.attention.head_count_kv", 3);  // 4 heads
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("num_kv_heads"), HasSubstr("does not divide")));
}

TEST_F(GgufCorruption, MissingTensorIsNamed) {
  // A llama model relabelled qwen2 lacks the Q/K/V biases qwen2 requires.
  Model m = test::MakeTinyModel();
  m.config.architecture = "qwen2";
  writer_ = GgufWriter{};
  test::AddModelToGguf(m, writer_);
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("bad.gguf"), HasSubstr("missing tensor 'blk.0.attn_q.bias'")));
}

TEST_F(GgufCorruption, WrongTensorShapeIsNamed) {
  writer_ = GgufWriter{};
  Model m = test::MakeTinyModel();
  m.weights.layers[0].wv.shape = {m.config.num_kv_heads * m.config.head_dim / 2,
                                  m.config.hidden_size * 2};
  test::AddModelToGguf(m, writer_);
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("layers.0.wv"), HasSubstr("expected")));
}

TEST_F(GgufCorruption, UnsupportedAndUnknownTensorTypes) {
  // Rewrites the type id of token_embd.weight (F32, dims [64, vocab]) in the tensor-info table.
  std::vector<uint8_t> bytes = writer_.Serialize();
  const std::string name = "token_embd.weight";
  auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  ASSERT_NE(it, bytes.end());
  const size_t type_pos = (it - bytes.begin()) + name.size() + 4 /*n_dims*/ + 2 * 8 /*dims*/;
  uint32_t type = 1234;
  std::memcpy(&type, &bytes[type_pos], 4);
  ASSERT_EQ(type, 0u) << "expected F32 at the patched position";
  bytes[type_pos] = 99;
  EXPECT_THAT(ErrorOf(WriteBytes(bytes)),
              AllOf(HasSubstr("token_embd.weight"), HasSubstr("unknown tensor type type#99")));
  bytes[type_pos] = static_cast<uint8_t>(GgmlType::kQ8_K);  // known to ggml, not dequantizable
  EXPECT_THAT(ErrorOf(WriteBytes(bytes)), AnyOf(HasSubstr("not supported"), HasSubstr("block size"),
                                                HasSubstr("beyond the end")));
}

TEST_F(GgufCorruption, NotAFileOrMissing) {
  EXPECT_THAT(ErrorOf(dir_ / "nope.gguf"), HasSubstr("no such file"));
  EXPECT_THAT(ErrorOf(WriteBytes({})), HasSubstr("truncated"));
}

}  // namespace
}  // namespace xq
