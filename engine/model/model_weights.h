// ModelWeights: the fp32 weights of a Llama-family decoder, in Hugging Face conventions:
// matrices are row-major [out_features, in_features], and Q/K rows use the rotate-half RoPE
// layout (GGUF's interleaved Q/K rows are un-permuted at load time).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/ggml_types.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace xq {

// The values of a synthetic matrix left for the device to generate: element i (row-major) is
// scale * SyntheticNoise(seed, stream, i) (kernels/include/synthetic_noise.h).
struct SyntheticValues {
  uint64_t seed = 0, stream = 0;
  float scale = 0.0f;
};

struct Tensor {
  std::vector<int64_t> shape;  // row-major; matrices are [rows = out, cols = in]
  std::vector<float> data;     // fp32 values; empty when the matrix is kept in GGML blocks
  // A GGUF matrix kept quantized for the quantized matmul kernels: [rows, cols / block size]
  // GGML blocks; on the CPU Q4_0, Q4_1, Q8_0, Q4_K or Q6_K (Q5 types are transcoded at load), on
  // CUDA every type as the file has it.
  GgmlType block_type = GgmlType::kF32;
  std::vector<uint8_t> blocks;
  // blocks hold the CPU kernels' packed layout (PackQWeights) instead of GGML blocks in file
  // order: PackForCpuKernels did this once at load. Read rows with DequantizeMatrixRow.
  bool packed = false;
  // Neither data nor blocks: a synthetic model's values, which only the CUDA runner generates
  // (MakeSyntheticModel with values_on_device).
  std::optional<SyntheticValues> synthetic;

  bool quantized() const { return !blocks.empty(); }
  bool empty() const { return data.empty() && blocks.empty() && !synthetic; }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

struct LayerWeights {
  Tensor attn_norm;         // [hidden]
  Tensor wq, wk, wv, wo;    // [heads*head_dim, hidden], [kv_heads*head_dim, hidden] x2, [hidden, heads*head_dim]
  Tensor bq, bk, bv;        // [out] biases (qwen2), empty otherwise
  Tensor ffn_norm;          // [hidden]
  Tensor w_gate, w_up;      // [intermediate, hidden]
  Tensor w_down;            // [hidden, intermediate]
};

struct ModelWeights {
  Tensor token_embedding;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Tensor output_norm;  // [hidden]
  Tensor output;       // [vocab, hidden]; empty when tied to token_embedding
  // [head_dim / 2] per-frequency divisors of RoPE (GGUF rope_freqs.weight, Llama 3.1 style);
  // empty when the config's rope_scaling describes the frequencies.
  Tensor rope_freq_factors;
};

// Calls fn on every matrix the matmuls read: the token embedding, the output (empty when tied)
// and each layer's seven projections. W is ModelWeights or const ModelWeights.
template <typename W, typename Fn>
void ForEachMatrix(W& w, Fn&& fn) {
  fn(w.token_embedding);
  fn(w.output);
  for (auto& l : w.layers) {
    for (auto* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) fn(*t);
  }
}

// Whether any tensor holds SyntheticValues instead of data (only the CUDA runner generates them).
inline bool HasSyntheticValues(const ModelWeights& w) {
  bool any = false;
  ForEachMatrix(w, [&](const Tensor& t) { any = any || t.synthetic.has_value(); });
  return any;
}

// A loaded model: hyperparameters, weights and tokenizer description.
struct Model {
  std::string source;  // file or directory it came from
  ModelConfig config;
  ModelWeights weights;
  TokenizerSpec tokenizer;
  std::vector<int32_t> extra_eos_ids;  // generation_config.json eos_token_id list, if any

  const Tensor& output_matrix() const {
    return weights.output.empty() ? weights.token_embedding : weights.output;
  }
};

}  // namespace xq
