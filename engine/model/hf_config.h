// Hugging Face config.json <-> ModelConfig for the llama, mistral and qwen2 model types.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "engine/model/model_config.h"

namespace xq {

// `source` names the file in error messages. Throws xq::Error naming it and the key on a wrong
// type, an unsupported model_type / activation / rope type, or inconsistent head counts.
ModelConfig HfConfigFromJson(const nlohmann::json& json, const std::string& source);
ModelConfig ReadHfConfig(const std::filesystem::path& config_json);

// The config.json that HfConfigFromJson reads back into the same ModelConfig.
nlohmann::json HfConfigToJson(const ModelConfig& config);

}  // namespace xq
