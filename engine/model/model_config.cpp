#include "engine/model/model_config.h"

#include "engine/common/error.h"

namespace xq {

bool IsSupportedArchitecture(const std::string& architecture) {
  return architecture == "llama" || architecture == "mistral" || architecture == "qwen2";
}

void ModelConfig::Validate(const std::string& source) const {
  auto fail = [&](const std::string& field, const std::string& why) {
    throw Error(source + ": " + field + " " + why);
  };
  if (!IsSupportedArchitecture(architecture)) {
    fail("architecture", "'" + architecture + "' is not supported (llama, mistral, qwen2)");
  }
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0) fail(field, "must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_layers", num_layers);
  positive("num_heads", num_heads);
  positive("num_kv_heads", num_kv_heads);
  positive("head_dim", head_dim);
  positive("max_context", max_context);
  if (num_heads % num_kv_heads != 0) {
    fail("num_kv_heads", std::to_string(num_kv_heads) + " does not divide num_heads " +
                             std::to_string(num_heads));
  }
  if (head_dim % 2 != 0) fail("head_dim", "must be even for RoPE");
  if (!(rms_norm_eps > 0.0f)) fail("rms_norm_eps", "must be positive");
  if (!(rope_theta > 0.0f)) fail("rope_theta", "must be positive");
  if (!rope_scaling.type.empty() && rope_scaling.type != "linear" && rope_scaling.type != "llama3") {
    fail("rope_scaling.type", "'" + rope_scaling.type + "' is not supported (linear, llama3)");
  }
  if (!rope_scaling.type.empty() && !(rope_scaling.factor > 0.0f)) {
    fail("rope_scaling.factor", "must be positive");
  }
}

}  // namespace xq
