#include "engine/model/hf_config.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/common/error.h"

namespace xq {

namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  [[noreturn]] void Fail(const std::string& key, const std::string& why) const {
    throw Error(source_ + ": " + key + " " + why);
  }

  // Absent and null keys read as "not given" (HF writes null for unset optional fields).
  const json* Find(const json& obj, const std::string& key) const {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<int64_t> Int(const std::string& key, const json* obj = nullptr,
                             const std::string& prefix = "") const {
    const json* v = Find(obj ? *obj : j_, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) Fail(prefix + key, "must be an integer, got " + v->dump());
    if (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX) Fail(prefix + key, "too large");
    return v->get<int64_t>();
  }
  int64_t RequiredInt(const std::string& key, const json* obj = nullptr,
                      const std::string& prefix = "") const {
    const auto v = Int(key, obj, prefix);
    if (!v) Fail(prefix + key, "is missing");
    return *v;
  }
  std::optional<double> Float(const std::string& key, const json* obj = nullptr,
                              const std::string& prefix = "") const {
    const json* v = Find(obj ? *obj : j_, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) Fail(prefix + key, "must be a number, got " + v->dump());
    return v->get<double>();
  }
  double RequiredFloat(const std::string& key, const json* obj, const std::string& prefix) const {
    const auto v = Float(key, obj, prefix);
    if (!v) Fail(prefix + key, "is missing");
    return *v;
  }
  std::optional<bool> Bool(const std::string& key) const {
    const json* v = Find(j_, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) Fail(key, "must be true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::optional<std::string> String(const std::string& key, const json* obj = nullptr,
                                    const std::string& prefix = "") const {
    const json* v = Find(obj ? *obj : j_, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) Fail(prefix + key, "must be a string, got " + v->dump());
    return v->get<std::string>();
  }

  const json& root() const { return j_; }

 private:
  const json& j_;
  std::string source_;
};

int64_t DefaultMaxPositions(const std::string& model_type) {
  if (model_type == "mistral") return 4096 * 32;
  if (model_type == "qwen2") return 32768;
  return 2048;
}

const char* ArchitectureClass(const std::string& model_type) {
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  return "LlamaForCausalLM";
}

}  // namespace

ModelConfig HfConfigFromJson(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": not a JSON object");
  const ConfigReader r(j, source);
  ModelConfig c;

  const auto model_type = r.String("model_type");
  if (!model_type) r.Fail("model_type", "is missing");
  if (!IsSupportedArchitecture(*model_type)) {
    r.Fail("model_type", "'" + *model_type + "' is not supported (llama, mistral, qwen2)");
  }
  c.architecture = *model_type;
  c.name = r.String("_name_or_path").value_or("");

  const std::string act = r.String("hidden_act").value_or("silu");
  if (act != "silu") r.Fail("hidden_act", "'" + act + "' is not supported (silu)");
  if (r.Bool("mlp_bias").value_or(false)) r.Fail("mlp_bias", "true is not supported");

  c.vocab_size = r.RequiredInt("vocab_size");
  c.hidden_size = r.RequiredInt("hidden_size");
  c.intermediate_size = r.RequiredInt("intermediate_size");
  c.num_layers = r.RequiredInt("num_hidden_layers");
  c.num_heads = r.RequiredInt("num_attention_heads");
  if (c.num_heads <= 0) r.Fail("num_attention_heads", "must be positive");
  c.num_kv_heads = r.Int("num_key_value_heads").value_or(c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    r.Fail("num_key_value_heads", std::to_string(c.num_kv_heads) +
                                      " does not divide num_attention_heads " +
                                      std::to_string(c.num_heads));
  }
  if (const auto head_dim = r.Int("head_dim")) {
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      r.Fail("num_attention_heads", std::to_string(c.num_heads) + " does not divide hidden_size " +
                                        std::to_string(c.hidden_size) + " (and head_dim is unset)");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.max_context = r.Int("max_position_embeddings").value_or(DefaultMaxPositions(c.architecture));
  // No sliding-window attention here: cap the context where full attention is still exact.
  const bool sliding = c.architecture == "mistral" ||
                       (c.architecture == "qwen2" && r.Bool("use_sliding_window").value_or(false));
  if (const auto window = r.Int("sliding_window"); sliding && window && *window > 0) {
    c.max_context = std::min(c.max_context, *window);
  }
  c.rms_norm_eps = static_cast<float>(r.Float("rms_norm_eps").value_or(1e-6));
  c.rope_theta = static_cast<float>(r.Float("rope_theta").value_or(10000.0));

  if (const json* rs = r.Find(j, "rope_scaling")) {
    if (!rs->is_object()) r.Fail("rope_scaling", "must be an object or null, got " + rs->dump());
    const std::string p = "rope_scaling.";
    auto type = r.String("rope_type", rs, p);
    if (!type) type = r.String("type", rs, p);
    if (!type) r.Fail(p + "rope_type", "is missing");
    if (*type == "linear") {
      c.rope_scaling.type = "linear";
      c.rope_scaling.factor = static_cast<float>(r.RequiredFloat("factor", rs, p));
    } else if (*type == "llama3") {
      c.rope_scaling.type = "llama3";
      c.rope_scaling.factor = static_cast<float>(r.RequiredFloat("factor", rs, p));
      c.rope_scaling.low_freq_factor =
          static_cast<float>(r.RequiredFloat("low_freq_factor", rs, p));
      c.rope_scaling.high_freq_factor =
          static_cast<float>(r.RequiredFloat("high_freq_factor", rs, p));
      c.rope_scaling.original_max_position =
          r.RequiredInt("original_max_position_embeddings", rs, p);
      if (c.rope_scaling.original_max_position <= 0) {
        r.Fail(p + "original_max_position_embeddings", "must be positive");
      }
      if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)) {
        r.Fail(p + "high_freq_factor", "must exceed low_freq_factor");
      }
    } else if (*type != "default") {
      r.Fail(p + "rope_type", "'" + *type + "' is not supported (linear, llama3)");
    }
  }

  c.tie_word_embeddings = r.Bool("tie_word_embeddings").value_or(false);
  c.attention_bias = c.architecture == "qwen2" || r.Bool("attention_bias").value_or(false);
  c.Validate(source);
  return c;
}

ModelConfig ReadHfConfig(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) throw Error(config_json.string() + ": cannot open");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(config_json.string() + ": not valid JSON: " + e.what());
  }
  return HfConfigFromJson(j, config_json.string());
}

json HfConfigToJson(const ModelConfig& c) {
  json j = {
      {"architectures", {ArchitectureClass(c.architecture)}},
      {"model_type", c.architecture},
      {"hidden_act", "silu"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_context},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"attention_bias", c.attention_bias},
      {"rope_scaling", nullptr},
  };
  if (!c.name.empty()) j["_name_or_path"] = c.name;
  if (c.architecture == "mistral") j["sliding_window"] = nullptr;
  if (c.rope_scaling.type == "linear") {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
  } else if (c.rope_scaling.type == "llama3") {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position},
    };
  }
  return j;
}

}  // namespace xq
