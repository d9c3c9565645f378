#include "engine/model/model_loader.h"

#include "engine/common/error.h"

namespace xq {

Model LoadModel(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return LoadHfModel(path);
  if (!std::filesystem::exists(path, ec)) throw Error(path.string() + ": no such file");
  return LoadGgufModel(path, options);
}

namespace {

void CheckShape(const Model& m, const Tensor& t, const std::string& name,
                std::vector<int64_t> want, bool optional = false) {
  if (t.empty() && optional) return;
  if (t.empty()) throw Error(m.source + ": missing tensor " + name);
  if (t.shape != want) {
    auto str = [](const std::vector<int64_t>& s) {
      std::string out = "[";
      for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw Error(m.source + ": tensor " + name + " has shape " + str(t.shape) + ", expected " +
                str(want));
  }
  int64_t n = 1;
  for (int64_t d : want) n *= d;
  if (t.quantized()) {
    const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(t.block_type));
    if (!info || static_cast<int64_t>(t.blocks.size()) != n / info->block_elems * info->block_bytes) {
      throw Error(m.source + ": tensor " + name + " holds " + std::to_string(t.blocks.size()) +
                  " bytes of blocks for shape of " + std::to_string(n));
    }
  } else if (static_cast<int64_t>(t.data.size()) != n) {
    throw Error(m.source + ": tensor " + name + " holds " + std::to_string(t.data.size()) +
                " values for shape of " + std::to_string(n));
  }
}

}  // namespace

void ValidateWeights(const Model& m) {
  const ModelConfig& c = m.config;
  c.Validate(m.source);
  const ModelWeights& w = m.weights;
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  CheckShape(m, w.token_embedding, "token_embedding", {c.vocab_size, h});
  CheckShape(m, w.output_norm, "output_norm", {h});
  CheckShape(m, w.output, "output", {c.vocab_size, h}, /*optional=*/c.tie_word_embeddings);
  CheckShape(m, w.rope_freq_factors, "rope_freq_factors", {c.head_dim / 2}, true);
  if (static_cast<int64_t>(w.layers.size()) != c.num_layers) {
    throw Error(m.source + ": " + std::to_string(w.layers.size()) + " layers of weights for " +
                std::to_string(c.num_layers) + " in the config");
  }
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    CheckShape(m, l.attn_norm, p + "attn_norm", {h});
    CheckShape(m, l.wq, p + "wq", {q, h});
    CheckShape(m, l.wk, p + "wk", {kv, h});
    CheckShape(m, l.wv, p + "wv", {kv, h});
    CheckShape(m, l.wo, p + "wo", {h, q});
    CheckShape(m, l.bq, p + "bq", {q}, !c.attention_bias);
    CheckShape(m, l.bk, p + "bk", {kv}, !c.attention_bias);
    CheckShape(m, l.bv, p + "bv", {kv}, !c.attention_bias);
    CheckShape(m, l.ffn_norm, p + "ffn_norm", {h});
    CheckShape(m, l.w_gate, p + "w_gate", {c.intermediate_size, h});
    CheckShape(m, l.w_up, p + "w_up", {c.intermediate_size, h});
    CheckShape(m, l.w_down, p + "w_down", {h, c.intermediate_size});
  }
}

}  // namespace xq
