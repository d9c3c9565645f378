// LoadGgufModel: GGUF metadata -> ModelConfig, GGML tensors -> fp32 weights in HF conventions.

#include "engine/common/error.h"
#include "engine/model/cpu_block_transcode.h"
#include "engine/model/dequantize.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/model/model_loader.h"
#include "kernels/include/thread_pool.h"

namespace xq {
namespace {

ModelConfig ConfigFromGguf(const GgufFile& f, int64_t vocab_from_tokenizer) {
  ModelConfig c;
  const std::string arch = f.GetString("general.architecture");
  c.architecture = arch;
  if (!IsSupportedArchitecture(arch)) {
    throw Error(f.path().string() + ": general.architecture '" + arch +
                "' is not supported (llama, mistral, qwen2)");
  }
  c.name = f.GetStringOpt("general.name").value_or("");
  auto key = [&](const std::string& k) { return arch + "." + k; };
  c.hidden_size = f.GetInt(key("embedding_length"));
  c.intermediate_size = f.GetInt(key("feed_forward_length"));
  c.num_layers = f.GetInt(key("block_count"));
  c.num_heads = f.GetInt(key("attention.head_count"));
  c.num_kv_heads = f.GetIntOpt(key("attention.head_count_kv")).value_or(c.num_heads);
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  c.head_dim = f.GetIntOpt(key("attention.key_length")).value_or(c.head_dim);
  if (auto rope_dims = f.GetIntOpt(key("rope.dimension_count")); rope_dims && *rope_dims != c.head_dim) {
    throw Error(f.path().string() + ": " + key("rope.dimension_count") + " " +
                std::to_string(*rope_dims) + " differs from head_dim " +
                std::to_string(c.head_dim) + " (partial RoPE is not supported)");
  }
  c.max_context = f.GetInt(key("context_length"));
  c.rms_norm_eps = static_cast<float>(f.GetFloat(key("attention.layer_norm_rms_epsilon")));
  c.rope_theta = static_cast<float>(f.GetFloatOpt(key("rope.freq_base")).value_or(10000.0));
  c.vocab_size = f.GetIntOpt(key("vocab_size")).value_or(vocab_from_tokenizer);
  const std::string scaling = f.GetStringOpt(key("rope.scaling.type")).value_or("none");
  if (scaling == "linear") {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = static_cast<float>(f.GetFloat(key("rope.scaling.factor")));
  } else if (scaling != "none") {
    throw Error(f.path().string() + ": " + key("rope.scaling.type") + " '" + scaling +
                "' is not supported (none, linear)");
  }
  c.attention_bias = arch == "qwen2";
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;
  c.Validate(f.path().string());
  return c;
}

bool KeptQuantized(GgmlType type, const LoadOptions& options) {
  if (!options.keep_quantized) return false;
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

// A GGUF tensor with HF's row-major [rows = dims[1], cols = dims[0]] shape: matrices of the
// types `options` keeps stay in their blocks, everything else is dequantized to fp32.
Tensor LoadTensor(const GgufFile& f, const std::string& name, bool optional,
                  const LoadOptions& options) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (!t) {
    if (optional) return {};
    throw Error(f.path().string() + ": missing tensor '" + name + "'");
  }
  const GgmlTypeInfo* info = FindGgmlType(t->type);
  if (!info->dequantizable) {
    throw Error(f.path().string() + ": tensor '" + name + "' has type " + info->name +
                ", which is not supported");
  }
  if (t->dims.size() > 2) {
    throw Error(f.path().string() + ": tensor '" + name + "' has " +
                std::to_string(t->dims.size()) + " dimensions, expected at most 2");
  }
  Tensor out;
  const int64_t cols = t->dims[0];
  const int64_t rows = t->dims.size() == 2 ? t->dims[1] : 1;
  out.shape = t->dims.size() == 2 ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{cols};
  const auto type = static_cast<GgmlType>(t->type);
  if (t->dims.size() == 2 && KeptQuantized(type, options)) {
    out.block_type = type;
    out.blocks.assign(t->data, t->data + t->nbytes);
    return out;
  }
  out.data.resize(static_cast<size_t>(rows * cols));
  const int64_t row_bytes = cols / info->block_elems * info->block_bytes;
  ComputePool().ParallelFor(rows, Schedule::kStatic, [&](int64_t r) {
    DequantizeRow(type, t->data + r * row_bytes, out.data.data() + r * cols, cols);
  });
  return out;
}

// GGUF stores llama's Q and K rows permuted so that RoPE rotates adjacent pairs; HF (and we)
// rotate halves. Row h*D + 2j + i of the file is row h*D + i*D/2 + j in HF order.
template <typename T>
void UnpermuteRows(std::vector<T>& rows_data, int64_t row_len, int64_t heads, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  std::vector<T> out(rows_data.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t j = 0; j < half; ++j) {
      for (int64_t i = 0; i < 2; ++i) {
        const T* src = &rows_data[((h * head_dim) + 2 * j + i) * row_len];
        std::copy(src, src + row_len, &out[((h * head_dim) + i * half + j) * row_len]);
      }
    }
  }
  rows_data.swap(out);
}

void UnpermuteRopeRows(Tensor& w, int64_t heads, int64_t head_dim) {
  if (w.quantized()) {
    UnpermuteRows(w.blocks, static_cast<int64_t>(w.blocks.size()) / w.rows(), heads, head_dim);
  } else if (!w.empty()) {
    UnpermuteRows(w.data, w.cols(), heads, head_dim);
  }
}

}  // namespace

Model LoadGgufModel(const std::filesystem::path& path, const LoadOptions& options) {
  GgufFile f(path);
  Model m;
  m.source = path.string();
  m.tokenizer = TokenizerSpecFromGguf(f);
  m.config = ConfigFromGguf(f, static_cast<int64_t>(m.tokenizer.tokens.size()));
  if (m.config.vocab_size != static_cast<int64_t>(m.tokenizer.tokens.size())) {
    throw Error(m.source + ": vocab_size " + std::to_string(m.config.vocab_size) +
                " differs from the " + std::to_string(m.tokenizer.tokens.size()) +
                " tokens of tokenizer.ggml.tokens");
  }
  const ModelConfig& c = m.config;
  const bool permuted = c.architecture != "qwen2";
  ModelWeights& w = m.weights;
  const LoadOptions& q = options;
  w.token_embedding = LoadTensor(f, "token_embd.weight", false, q);
  w.output_norm = LoadTensor(f, "output_norm.weight", false, q);
  w.output = LoadTensor(f, "output.weight", /*optional=*/true, q);
  w.rope_freq_factors = LoadTensor(f, "rope_freqs.weight", true, q);
  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    l.attn_norm = LoadTensor(f, p + "attn_norm.weight", false, q);
    l.wq = LoadTensor(f, p + "attn_q.weight", false, q);
    l.wk = LoadTensor(f, p + "attn_k.weight", false, q);
    l.wv = LoadTensor(f, p + "attn_v.weight", false, q);
    l.wo = LoadTensor(f, p + "attn_output.weight", false, q);
    l.bq = LoadTensor(f, p + "attn_q.bias", !c.attention_bias, q);
    l.bk = LoadTensor(f, p + "attn_k.bias", !c.attention_bias, q);
    l.bv = LoadTensor(f, p + "attn_v.bias", !c.attention_bias, q);
    l.ffn_norm = LoadTensor(f, p + "ffn_norm.weight", false, q);
    l.w_gate = LoadTensor(f, p + "ffn_gate.weight", false, q);
    l.w_up = LoadTensor(f, p + "ffn_up.weight", false, q);
    l.w_down = LoadTensor(f, p + "ffn_down.weight", false, q);
    if (permuted) {
      UnpermuteRopeRows(l.wq, c.num_heads, c.head_dim);
      UnpermuteRopeRows(l.wk, c.num_kv_heads, c.head_dim);
    }
  }
  ValidateWeights(m);
  if (options.keep_quantized && !options.keep_file_block_types) TranscodeModelForCpu(m);
  return m;
}

}  // namespace xq
