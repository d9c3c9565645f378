// Loading a model from a GGUF file or a Hugging Face directory into fp32 weights.
#pragma once

#include <filesystem>

#include "engine/model/model_weights.h"

namespace xq {

struct LoadOptions {
  // Keep GGUF quantized matrices in GGML blocks for the quantized matmul kernels (a fraction of
  // the memory); false dequantizes everything to fp32 (the file's exact values).
  bool keep_quantized = true;
  // With keep_quantized: keep Q5_0 / Q5_1 / Q5_K matrices in the file's blocks (the CUDA runner
  // multiplies them as they are). Otherwise they are transcoded to the CPU kernels' Q8_0
  // (engine/model/cpu_block_transcode.h). Q4_K / Q6_K stay as they are either way.
  bool keep_file_block_types = false;
  // A synthetic model's fp32 values are left for the CUDA runner to generate on the device
  // (MakeSyntheticModel's values_on_device).
  bool synthetic_values_on_device = false;
};

// Dispatches on the path: a directory is a Hugging Face model, a file is GGUF.
Model LoadModel(const std::filesystem::path& path, const LoadOptions& options = {});
Model LoadGgufModel(const std::filesystem::path& path, const LoadOptions& options = {});
// config.json, *.safetensors (single, or sharded via model.safetensors.index.json),
// tokenizer.json, tokenizer_config.json, generation_config.json.
Model LoadHfModel(const std::filesystem::path& dir);

// Checks every tensor's presence and shape against the config; throws xq::Error naming the
// source and the tensor.
void ValidateWeights(const Model& model);

}  // namespace xq
