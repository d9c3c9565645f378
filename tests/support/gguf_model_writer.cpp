#include "tests/support/gguf_model_writer.h"

namespace xq::test {
namespace {

// Inverse of the loader's un-permutation: HF row h*D + i*D/2 + j goes to file row h*D + 2j + i.
std::vector<float> PermuteRopeRows(const Tensor& w, int64_t heads, int64_t head_dim) {
  const int64_t cols = w.cols(), half = head_dim / 2;
  std::vector<float> out(w.data.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < half; ++j) {
        const float* src = &w.data[(h * head_dim + i * half + j) * cols];
        std::copy(src, src + cols, &out[(h * head_dim + 2 * j + i) * cols]);
      }
    }
  }
  return out;
}

std::vector<int64_t> GgmlDims(const Tensor& t) {
  return t.shape.size() == 2 ? std::vector<int64_t>{t.shape[1], t.shape[0]} : t.shape;
}

}  // namespace

void AddModelToGguf(const Model& model, GgufWriter& w, GgmlType matrix_type) {
  const ModelConfig& c = model.config;
  const std::string a = c.architecture;
  w.SetString("general.architecture", a);
  w.SetString("general.name", c.name.empty() ? "tiny" : c.name);
  w.SetU32(a + ".context_length", static_cast<uint32_t>(c.max_context));
  w.SetU32(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.SetU32(a + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.SetU32(a + ".block_count", static_cast<uint32_t>(c.num_layers));
  w.SetU32(a + ".attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.SetU32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  w.SetU32(a + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.SetF32(a + ".rope.freq_base", c.rope_theta);
  w.SetF32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.SetU32(a + ".vocab_size", static_cast<uint32_t>(c.vocab_size));

  const TokenizerSpec& t = model.tokenizer;
  const bool spm = t.kind == TokenizerKind::kSentencePieceBpe;
  w.SetString("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  w.SetString("tokenizer.ggml.pre", t.pre);
  w.SetStringArray("tokenizer.ggml.tokens", t.tokens);
  std::vector<int32_t> types;
  for (TokenType type : t.types) types.push_back(static_cast<int32_t>(type));
  w.SetI32Array("tokenizer.ggml.token_type", types);
  if (!t.scores.empty()) w.SetF32Array("tokenizer.ggml.scores", t.scores);
  if (!t.merges.empty()) w.SetStringArray("tokenizer.ggml.merges", t.merges);
  if (t.bos_id) w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*t.bos_id));
  if (t.eos_id) w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*t.eos_id));
  if (t.unk_id) w.SetU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*t.unk_id));
  w.SetBool("tokenizer.ggml.add_bos_token", t.add_bos);
  w.SetBool("tokenizer.ggml.add_space_prefix", t.add_space_prefix);
  if (!t.chat_template.empty()) w.SetString("tokenizer.chat_template", t.chat_template);

  auto matrix = [&](const std::string& name, const Tensor& tensor) {
    w.AddQuantizedTensor(name, GgmlDims(tensor), matrix_type, tensor.data);
  };
  auto vec = [&](const std::string& name, const Tensor& tensor) {
    if (!tensor.empty()) w.AddF32Tensor(name, GgmlDims(tensor), tensor.data);
  };
  const ModelWeights& mw = model.weights;
  matrix("token_embd.weight", mw.token_embedding);
  vec("output_norm.weight", mw.output_norm);
  if (!mw.output.empty()) matrix("output.weight", mw.output);
  const bool permute = a != "qwen2";
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const LayerWeights& l = mw.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    vec(p + "attn_norm.weight", l.attn_norm);
    Tensor wq = l.wq, wk = l.wk;
    if (permute) {
      wq.data = PermuteRopeRows(l.wq, c.num_heads, c.head_dim);
      wk.data = PermuteRopeRows(l.wk, c.num_kv_heads, c.head_dim);
    }
    matrix(p + "attn_q.weight", wq);
    matrix(p + "attn_k.weight", wk);
    matrix(p + "attn_v.weight", l.wv);
    matrix(p + "attn_output.weight", l.wo);
    vec(p + "attn_q.bias", l.bq);
    vec(p + "attn_k.bias", l.bk);
    vec(p + "attn_v.bias", l.bv);
    vec(p + "ffn_norm.weight", l.ffn_norm);
    matrix(p + "ffn_gate.weight", l.w_gate);
    matrix(p + "ffn_up.weight", l.w_up);
    matrix(p + "ffn_down.weight", l.w_down);
  }
}

void WriteGgufModel(const Model& model, const std::filesystem::path& path, GgmlType matrix_type) {
  GgufWriter w;
  AddModelToGguf(model, w, matrix_type);
  w.Write(path);
}

}  // namespace xq::test
