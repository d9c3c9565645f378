#include "engine/model/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "engine/common/error.h"
#include "engine/model/ggml_types.h"
#include "engine/model/hf_config.h"
#include "engine/tokenizer/unicode_util.h"
#include "kernels/include/synthetic_noise.h"
#include "kernels/include/thread_pool.h"
#include "kernels/reference/half.h"

namespace xq {
namespace {

// One block of `type` at b whose values spread over about [-a, a]: random quants under fixed
// scales (Q4_K / Q6_K sub-block scales and mins of 32). `random` fills bytes [from, to).
template <typename Random>
void SyntheticBlock(GgmlType type, float a, uint8_t* b, Random random) {
  switch (type) {
    case GgmlType::kQ8_0:  // q d, q in -128..127
      StoreHalfAt(b, a / 127.0f);
      return random(b + 2, b + 34);
    case GgmlType::kQ4_0:  // (q - 8) d
      StoreHalfAt(b, a / 8.0f);
      return random(b + 2, b + 18);
    case GgmlType::kQ4_K:  // d 32 q - dmin 32, q in 0..15
      StoreHalfAt(b, a / (32.0f * 7.5f));
      StoreHalfAt(b + 2, a / 32.0f);
      std::memset(b + 4, 32 | (2 << 6), 8);  // scales and mins of 32 (dequantize.cpp's packing)
      std::memset(b + 12, 0, 4);
      return random(b + 16, b + 144);
    case GgmlType::kQ6_K:  // d 32 (q - 32), q in 0..63
      random(b, b + 192);
      std::memset(b + 192, 32, 16);
      StoreHalfAt(b + 208, a / (32.0f * 32.0f));
      return;
    default:  // Filler refuses other types before any thread fills
      return;
  }
}

class Filler {
 public:
  Filler(uint64_t seed, GgmlType type, bool values_on_device)
      : seed_(seed), type_(type), values_on_device_(values_on_device) {
    using T = GgmlType;
    if (type != T::kF32 && type != T::kQ8_0 && type != T::kQ4_0 && type != T::kQ4_K &&
        type != T::kQ6_K) {
      throw Error("synthetic weights: " + GgmlTypeName(static_cast<uint32_t>(type)) +
                  " is not one of F32, Q8_0, Q4_0, Q4_K, Q6_K");
    }
  }

  // [rows, cols] with variance about 1 / cols (uniform in +-sqrt(3 / cols)): fp32 values, or
  // blocks of the filler's type.
  Tensor Matrix(int64_t rows, int64_t cols) {
    Tensor t;
    t.shape = {rows, cols};
    const float scale = std::sqrt(3.0f / static_cast<float>(cols));
    const uint64_t stream = ++stream_;
    if (type_ != GgmlType::kF32) return Blocks(std::move(t), scale, stream);
    if (values_on_device_) {
      t.synthetic = SyntheticValues{seed_, stream, scale};
      return t;
    }
    t.data.resize(rows * cols);
    const int64_t n = rows * cols;
    ComputePool().ParallelForRanges(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) t.data[i] = scale * SyntheticNoise(seed_, stream, i);
    });
    return t;
  }

  Tensor Blocks(Tensor t, float scale, uint64_t stream) const {
    const GgmlTypeInfo& info = *FindGgmlType(static_cast<uint32_t>(type_));
    if (t.cols() % info.block_elems != 0) {
      throw Error("synthetic weights: " + std::string(info.name) + " needs rows of whole " +
                  std::to_string(info.block_elems) + "-value blocks; a matrix has " +
                  std::to_string(t.cols()));
    }
    const int64_t blocks = t.rows() * t.cols() / info.block_elems;
    t.block_type = type_;
    t.blocks.resize(static_cast<size_t>(blocks * info.block_bytes));
    ComputePool().ParallelForRanges(blocks, 1 << 10, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        auto random = [&](uint8_t* from, uint8_t* to) {
          for (uint8_t* p = from; p < to; p += 8) {
            const uint64_t bits = SyntheticBits(seed_, stream, (i << 8) + (p - from) / 8);
            std::memcpy(p, &bits, std::min<size_t>(8, to - p));
          }
        };
        SyntheticBlock(type_, scale, t.blocks.data() + i * info.block_bytes, random);
      }
    });
    return t;
  }

  static Tensor Ones(int64_t n) {
    Tensor t;
    t.shape = {n};
    t.data.assign(n, 1.0f);
    return t;
  }

 private:
  uint64_t seed_;
  GgmlType type_;
  bool values_on_device_;
  uint64_t stream_ = 0;
};

TokenizerSpec SyntheticVocabulary(int64_t vocab_size, const std::string& source) {
  if (vocab_size < 257) throw Error(source + ": vocab_size: a synthetic model needs >= 257");
  TokenizerSpec t;
  t.kind = TokenizerKind::kByteLevelBpe;
  for (int b = 0; b < 256; ++b) {
    t.tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
    t.types.push_back(TokenType::kNormal);
  }
  t.eos_id = static_cast<int32_t>(t.tokens.size());
  t.tokens.push_back("<|endoftext|>");
  t.types.push_back(TokenType::kControl);
  while (static_cast<int64_t>(t.tokens.size()) < vocab_size) {
    t.tokens.push_back("<|synthetic_" + std::to_string(t.tokens.size()) + "|>");
    t.types.push_back(TokenType::kUnused);
  }
  return t;
}

}  // namespace

Model MakeSyntheticModel(const std::filesystem::path& config_json, uint64_t seed,
                         GgmlType matrix_type, bool values_on_device) {
  Model m;
  m.source = config_json.string() + " (synthetic weights)";
  m.config = ReadHfConfig(config_json);
  const ModelConfig& c = m.config;
  m.tokenizer = SyntheticVocabulary(c.vocab_size, config_json.string());
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim;
  const int64_t kv = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;
  Filler fill(seed, matrix_type, values_on_device);
  ModelWeights& w = m.weights;
  w.token_embedding = fill.Matrix(c.vocab_size, h);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights layer;
    layer.attn_norm = Filler::Ones(h);
    layer.ffn_norm = Filler::Ones(h);
    layer.wq = fill.Matrix(q, h);
    layer.wk = fill.Matrix(kv, h);
    layer.wv = fill.Matrix(kv, h);
    layer.wo = fill.Matrix(h, q);
    if (c.attention_bias) {
      layer.bq = Filler::Ones(q);
      layer.bk = Filler::Ones(kv);
      layer.bv = Filler::Ones(kv);
    }
    layer.w_gate = fill.Matrix(ff, h);
    layer.w_up = fill.Matrix(ff, h);
    layer.w_down = fill.Matrix(h, ff);
    w.layers.push_back(std::move(layer));
  }
  w.output_norm = Filler::Ones(h);
  if (!c.tie_word_embeddings) w.output = fill.Matrix(c.vocab_size, h);
  return m;
}

}  // namespace xq
