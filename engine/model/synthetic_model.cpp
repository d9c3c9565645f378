#include "engine/model/synthetic_model.h"

#include <cmath>
#include <string>

#include "engine/common/error.h"
#include "engine/model/hf_config.h"
#include "engine/tokenizer/unicode_util.h"
#include "kernels/include/thread_pool.h"

namespace xq {
namespace {

// Uniform in [-1, 1) from (seed, stream, index) alone (SplitMix64), so tensors fill in parallel
// and reproducibly.
float Noise(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + index;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
}

class Filler {
 public:
  explicit Filler(uint64_t seed) : seed_(seed) {}

  // [rows, cols] with variance 1 / cols (uniform in +-sqrt(3 / cols)).
  Tensor Matrix(int64_t rows, int64_t cols) {
    Tensor t;
    t.shape = {rows, cols};
    t.data.resize(rows * cols);
    const float scale = std::sqrt(3.0f / static_cast<float>(cols));
    const uint64_t stream = ++stream_;
    const int64_t n = rows * cols;
    ComputePool().ParallelForRanges(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) t.data[i] = scale * Noise(seed_, stream, i);
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

Model MakeSyntheticModel(const std::filesystem::path& config_json, uint64_t seed) {
  Model m;
  m.source = config_json.string() + " (synthetic weights)";
  m.config = ReadHfConfig(config_json);
  const ModelConfig& c = m.config;
  m.tokenizer = SyntheticVocabulary(c.vocab_size, config_json.string());
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim;
  const int64_t kv = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;
  Filler fill(seed);
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
