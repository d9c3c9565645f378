// A model with random weights and a stand-in vocabulary, shaped by a Hugging Face config.json
// (configs/synthetic/): benchmarks at realistic sizes (Llama-3-8B, Mistral-7B) without
// downloading weights. What it writes is noise; what a token costs is the real model's.
#pragma once

#include <cstdint>
#include <filesystem>

#include "engine/model/model_weights.h"

namespace xq {

// Weights uniform with variance 1/fan_in (activations stay O(1) through the layers), norms 1,
// deterministic in `seed`. The vocabulary: the 256 byte-level tokens, an end-of-text control
// token, then placeholders up to the config's vocab_size (which must be at least 257).
Model MakeSyntheticModel(const std::filesystem::path& config_json, uint64_t seed = 1);

}  // namespace xq
