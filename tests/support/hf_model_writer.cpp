#include "tests/support/hf_model_writer.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/common/error.h"
#include "engine/model/hf_config.h"
#include "engine/model/model_loader.h"
#include "tests/support/hf_tokenizer_writer.h"

namespace xq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using NamedTensors = std::vector<std::pair<std::string, const Tensor*>>;

void WriteJson(const fs::path& path, const nlohmann::ordered_json& j) {
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2) << "\n";
  if (!out.flush()) throw Error(path.string() + ": write failed");
}

const char* TorchDtype(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32:
      return "float32";
    case SafetensorsDtype::kBF16:
      return "bfloat16";
    case SafetensorsDtype::kF16:
      return "float16";
    default:
      throw Error(std::string("ExportHfModel: dtype ") + SafetensorsDtypeName(dtype) +
                  " is not supported (F32, BF16, F16)");
  }
}

NamedTensors HfTensorNames(const Model& m) {
  const ModelWeights& w = m.weights;
  NamedTensors out = {{"model.embed_tokens.weight", &w.token_embedding}};
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const LayerWeights& l = w.layers[i];
    out.insert(out.end(), {{p + "input_layernorm.weight", &l.attn_norm},
                           {p + "self_attn.q_proj.weight", &l.wq},
                           {p + "self_attn.k_proj.weight", &l.wk},
                           {p + "self_attn.v_proj.weight", &l.wv},
                           {p + "self_attn.o_proj.weight", &l.wo}});
    if (m.config.attention_bias) {
      out.insert(out.end(), {{p + "self_attn.q_proj.bias", &l.bq},
                             {p + "self_attn.k_proj.bias", &l.bk},
                             {p + "self_attn.v_proj.bias", &l.bv}});
    }
    out.insert(out.end(), {{p + "post_attention_layernorm.weight", &l.ffn_norm},
                           {p + "mlp.gate_proj.weight", &l.w_gate},
                           {p + "mlp.up_proj.weight", &l.w_up},
                           {p + "mlp.down_proj.weight", &l.w_down}});
  }
  out.push_back({"model.norm.weight", &w.output_norm});
  if (!m.config.tie_word_embeddings) out.push_back({"lm_head.weight", &w.output});
  return out;
}

void WriteWeights(const Model& m, const fs::path& dir, SafetensorsDtype dtype,
                  int64_t max_shard_bytes) {
  const NamedTensors tensors = HfTensorNames(m);
  for (const auto& named : tensors) {
    if (named.second->quantized()) {
      throw Error(m.source + ": " + named.first +
                  " is held in GGML blocks; load with LoadOptions{.keep_quantized = false} to "
                  "export");
    }
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  const size_t elem = SafetensorsDtypeSize(dtype);
  const fs::path index_path = dir / "model.safetensors.index.json";
  std::vector<NamedTensors> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& named : tensors) {
    const auto bytes = static_cast<int64_t>(named.second->data.size() * elem);
    if (max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(named);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  std::error_code ec;
  if (max_shard_bytes <= 0) {
    fs::remove(index_path, ec);  // a stale index would take precedence over the single file
    WriteSafetensors(dir / "model.safetensors", tensors, dtype, metadata);
    return;
  }
  fs::remove(dir / "model.safetensors", ec);
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    WriteSafetensors(dir / name, shards[s], dtype, metadata);
    for (const auto& named : shards[s]) weight_map[named.first] = name;
  }
  WriteJson(index_path, {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}});
}

}  // namespace

void ExportHfModel(const Model& m, const fs::path& dir, SafetensorsDtype dtype,
                   int64_t max_shard_bytes) {
  ValidateWeights(m);
  if (!m.weights.rope_freq_factors.empty() && m.config.rope_scaling.type != "llama3") {
    throw Error(m.source +
                ": rope_freq_factors cannot be expressed in config.json without "
                "llama3 rope_scaling");
  }
  if (m.config.architecture == "qwen2" && !m.config.attention_bias) {
    throw Error(m.source + ": qwen2 without attention biases cannot be expressed in config.json");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create directory: " + ec.message());

  json config = HfConfigToJson(m.config);
  config["torch_dtype"] = TorchDtype(dtype);
  if (m.tokenizer.bos_id) config["bos_token_id"] = *m.tokenizer.bos_id;
  if (m.tokenizer.eos_id) config["eos_token_id"] = *m.tokenizer.eos_id;
  WriteJson(dir / "config.json", config);

  const fs::path generation = dir / "generation_config.json";
  if (m.extra_eos_ids.empty()) {
    fs::remove(generation, ec);
  } else {
    json g = {{"eos_token_id", m.extra_eos_ids}};
    if (m.tokenizer.bos_id) g["bos_token_id"] = *m.tokenizer.bos_id;
    WriteJson(generation, g);
  }

  WriteWeights(m, dir, dtype, max_shard_bytes);
  WriteJson(dir / "tokenizer.json", HfTokenizerJson(m.tokenizer));
  WriteJson(dir / "tokenizer_config.json", HfTokenizerConfigJson(m.tokenizer));
}

}  // namespace xq
