// RoPE frequencies of a model (rope_theta, linear or Llama 3 scaling, GGUF rope_freqs), shared
// by every runner so that all compute the same angles.
#pragma once

#include <vector>

#include "engine/model/model_weights.h"

namespace xq {

// RoPE angles: position * freq_scale * theta_scale^i / freq_divisors[i] for pair i.
struct RopeTable {
  float theta_scale = 1.0f;          // rope_theta^(-2 / head_dim)
  float freq_scale = 1.0f;           // linear scaling: 1 / factor
  std::vector<float> freq_divisors;  // [head_dim / 2] llama3 scaling or GGUF rope_freqs
};

RopeTable MakeRopeTable(const Model& model);

}  // namespace xq
