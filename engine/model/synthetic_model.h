// A model with random weights and a stand-in vocabulary, shaped by a Hugging Face config.json
// (configs/synthetic/): benchmarks at realistic sizes (Llama-3-8B, Mistral-7B) without
// downloading weights. What it writes is noise; what a token costs is the real model's.
#pragma once

#include <cstdint>
#include <filesystem>

#include "engine/model/ggml_types.h"
#include "engine/model/model_weights.h"

namespace xq {

// Weights uniform with variance 1/fan_in (activations stay O(1) through the layers), norms 1,
// deterministic in `seed`. The matrices and the token embedding are fp32, or GGML blocks of
// `matrix_type` (Q8_0, Q4_0, Q4_K, Q6_K: random quants under fixed scales, spread as the fp32
// ones; what a quantized GGUF of that shape costs to run). The vocabulary: the 256 byte-level
// tokens, an end-of-text control token, then placeholders up to the config's vocab_size (which
// must be at least 257). values_on_device (fp32 only): the matrices and the embedding hold
// SyntheticValues instead of data, for the CUDA runner to generate on the device (a Llama-3-8B
// would otherwise be 32 GB of host memory, and seconds of generating and uploading, per run);
// such a model runs on CUDA only.
Model MakeSyntheticModel(const std::filesystem::path& config_json, uint64_t seed = 1,
                         GgmlType matrix_type = GgmlType::kF32, bool values_on_device = false);

}  // namespace xq
