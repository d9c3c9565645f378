// Transformer: the CPU forward pass of a Llama-family decoder (llama, mistral, qwen2) over a
// flattened, ragged batch of tokens from many sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_weights.h"
#include "engine/model/sequence_kv_cache.h"

namespace xq {

struct BatchSequence {
  SequenceKvCache* cache = nullptr;  // receives this sequence's keys/values
  int64_t num_tokens = 0;            // its tokens are the next num_tokens of ForwardBatch::tokens
};

struct ForwardBatch {
  std::vector<int32_t> tokens;           // [total_tokens], sequences back to back
  std::vector<int32_t> positions;        // [total_tokens] absolute positions (RoPE)
  std::vector<BatchSequence> sequences;  // slices of tokens, in order
  std::vector<int64_t> logits_rows;      // indices into tokens whose next-token logits are wanted
};

// RoPE angles: position * freq_scale * theta_scale^i / freq_divisors[i] for pair i.
struct RopeTable {
  float theta_scale = 1.0f;          // rope_theta^(-2 / head_dim)
  float freq_scale = 1.0f;           // linear scaling: 1 / factor
  std::vector<float> freq_divisors;  // [head_dim / 2] llama3 scaling or GGUF rope_freqs
};

class Transformer {
 public:
  explicit Transformer(const Model& model);  // model must outlive this

  // Runs the batch; logits: [logits_rows.size(), vocab_size] (resized). Each sequence's cache
  // receives and commits its tokens. Throws xq::Error on an invalid batch.
  void Forward(const ForwardBatch& batch, std::vector<float>& logits);

  const ModelConfig& config() const { return model_.config; }

 private:
  // Runs each sequence's attention for `layer`: over sequences in parallel, or one at a time
  // with each kernel parallel inside.
  void Attend(const ForwardBatch& batch, int64_t layer, bool across_sequences);
  void MatMul(const float* x, int64_t rows, int64_t in, const Tensor& w, float* y,
              bool accumulate = false);

  static constexpr int64_t kMaxTokensPerThread = 16;

  const Model& model_;
  std::vector<int64_t> sequence_offsets_;  // [sequences] first token of each in the batch
  RopeTable rope_;
  std::vector<uint8_t> activations_q8_;  // [rows, in / 32] 8-bit activation blocks
  // Scratch activations, sized for the largest batch seen.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_;
};

}  // namespace xq
