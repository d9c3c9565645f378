// LoadHfModel: a Hugging Face model directory (config.json, safetensors, tokenizer.json) -> Model.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/common/error.h"
#include "engine/model/hf_config.h"
#include "engine/model/model_loader.h"
#include "engine/model/safetensors_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The safetensors files of a model and which one holds each tensor.
class WeightFiles {
 public:
  explicit WeightFiles(const fs::path& dir) {
    const fs::path index_path = dir / "model.safetensors.index.json";
    const fs::path single = dir / "model.safetensors";
    std::error_code ec;
    if (fs::exists(index_path, ec)) {
      source_ = index_path.string();
      const json index = ReadJson(index_path);
      const auto map = index.find("weight_map");
      if (!index.is_object() || map == index.end() || !map->is_object()) {
        throw Error(source_ + ": weight_map missing or not an object");
      }
      std::map<std::string, size_t> shard_ids;
      for (const auto& [name, file] : map->items()) {
        if (!file.is_string()) throw Error(source_ + ": weight_map." + name + " is not a string");
        const std::string shard = file.get<std::string>();
        // Shards must sit next to the index; a path could reach outside the model directory.
        if (shard.empty() || shard.find('/') != std::string::npos || shard == "." ||
            shard == "..") {
          throw Error(source_ + ": weight_map." + name + " names an invalid shard '" + shard + "'");
        }
        auto [it, added] = shard_ids.emplace(shard, files_.size());
        if (added) files_.push_back(std::make_unique<SafetensorsFile>(dir / shard));
        where_[name] = it->second;
      }
    } else if (fs::exists(single, ec)) {
      source_ = single.string();
      files_.push_back(std::make_unique<SafetensorsFile>(single));
      for (const auto& t : files_[0]->tensors()) where_[t.name] = 0;
    } else {
      throw Error(dir.string() + ": no model.safetensors or model.safetensors.index.json");
    }
  }

  bool Has(const std::string& name) const { return where_.count(name) != 0; }

  Tensor Read(const std::string& name, const std::vector<int64_t>& shape) const {
    const auto it = where_.find(name);
    if (it == where_.end()) throw Error(source_ + ": missing tensor '" + name + "'");
    const SafetensorsFile& file = *files_[it->second];
    if (file.Find(name) == nullptr) {
      throw Error(source_ + ": tensor '" + name + "' is not in its shard " + file.path().string());
    }
    Tensor t = file.ReadTensor(name);
    if (t.shape != shape) {
      throw Error(file.path().string() + ": tensor '" + name + "' has shape " +
                  ShapeString(t.shape) + ", expected " + ShapeString(shape));
    }
    return t;
  }

 private:
  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

ModelWeights ReadWeights(const WeightFiles& files, const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t ff = c.intermediate_size;
  ModelWeights w;
  w.token_embedding = files.Read("model.embed_tokens.weight", {c.vocab_size, h});
  w.output_norm = files.Read("model.norm.weight", {h});
  // A tied checkpoint may still carry a copy of lm_head; the embedding is the one that is used.
  if (!c.tie_word_embeddings) w.output = files.Read("lm_head.weight", {c.vocab_size, h});
  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    l.attn_norm = files.Read(p + "input_layernorm.weight", {h});
    l.wq = files.Read(p + "self_attn.q_proj.weight", {q, h});
    l.wk = files.Read(p + "self_attn.k_proj.weight", {kv, h});
    l.wv = files.Read(p + "self_attn.v_proj.weight", {kv, h});
    l.wo = files.Read(p + "self_attn.o_proj.weight", {h, q});
    if (c.attention_bias) {
      l.bq = files.Read(p + "self_attn.q_proj.bias", {q});
      l.bk = files.Read(p + "self_attn.k_proj.bias", {kv});
      l.bv = files.Read(p + "self_attn.v_proj.bias", {kv});
    }
    l.ffn_norm = files.Read(p + "post_attention_layernorm.weight", {h});
    l.w_gate = files.Read(p + "mlp.gate_proj.weight", {ff, h});
    l.w_up = files.Read(p + "mlp.up_proj.weight", {ff, h});
    l.w_down = files.Read(p + "mlp.down_proj.weight", {h, ff});
  }
  return w;
}

std::vector<int32_t> ReadExtraEos(const fs::path& path, int64_t vocab_size) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  const json j = ReadJson(path);
  if (!j.is_object()) throw Error(path.string() + ": not a JSON object");
  const auto eos = j.find("eos_token_id");
  if (eos == j.end() || eos->is_null()) return {};
  std::vector<json> items;
  if (eos->is_array()) {
    items.assign(eos->begin(), eos->end());
  } else {
    items.push_back(*eos);
  }
  std::vector<int32_t> ids;
  for (const auto& v : items) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab_size) {
      throw Error(path.string() + ": eos_token_id " + v.dump() + " is not a token id below " +
                  std::to_string(vocab_size));
    }
    const auto id = static_cast<int32_t>(v.get<int64_t>());
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

}  // namespace

Model LoadHfModel(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir.string() + ": not a directory");
  Model m;
  m.source = dir.string();
  m.config = ReadHfConfig(dir / "config.json");
  if (m.config.name.empty()) {
    fs::path abs = fs::absolute(dir, ec).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();
    m.config.name = abs.filename().string();
  }
  m.weights = ReadWeights(WeightFiles(dir), m.config);
  m.tokenizer = Tokenizer::SpecFromHfDir(dir);
  m.extra_eos_ids = ReadExtraEos(dir / "generation_config.json", m.config.vocab_size);
  ValidateWeights(m);
  return m;
}

}  // namespace xq
