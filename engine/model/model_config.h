// ModelConfig: the hyperparameters of a Llama-family decoder (llama, mistral, qwen2), read from
// GGUF metadata or a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>

namespace xq {

struct RopeScaling {
  std::string type;  // "" (none), "linear", "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;   // llama3
  float high_freq_factor = 4.0f;  // llama3
  int64_t original_max_position = 8192;  // llama3
};

struct ModelConfig {
  std::string architecture;  // "llama", "mistral" or "qwen2"
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_context = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // qwen2: biases on Q, K, V projections

  // Throws xq::Error naming `source` and the offending field when the numbers are inconsistent
  // (zero sizes, heads not dividing, unknown architecture, ...).
  void Validate(const std::string& source) const;
};

bool IsSupportedArchitecture(const std::string& architecture);

}  // namespace xq
