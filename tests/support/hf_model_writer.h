// ExportHfModel: writes a Model as a Hugging Face directory that LoadHfModel reads back.
#pragma once

#include <cstdint>
#include <filesystem>

#include "engine/model/model_weights.h"
#include "engine/model/safetensors_file.h"

namespace xq {

// Writes config.json, generation_config.json (when extra_eos_ids is set), model.safetensors (or
// shards of at most max_shard_bytes plus model.safetensors.index.json when max_shard_bytes > 0),
// tokenizer.json and tokenizer_config.json into `dir`, creating it. dtype: F32 (exact), BF16 or
// F16 (rounded to nearest even). Throws xq::Error when the model cannot be expressed in HF form.
void ExportHfModel(const Model& model, const std::filesystem::path& dir,
                   SafetensorsDtype dtype = SafetensorsDtype::kF32, int64_t max_shard_bytes = 0);

}  // namespace xq
