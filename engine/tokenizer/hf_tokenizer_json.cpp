// Tokenizer::SpecFromHfDir: builds a TokenizerSpec from a Hugging Face tokenizer.json plus the
// optional tokenizer_config.json.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/common/error.h"
#include "engine/tokenizer/tokenizer.h"

namespace xq {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581
// The regex Hugging Face's ByteLevel pre-tokenizer applies when use_regex is true.
constexpr const char* kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Regex chains of known families, as tokenizer.json spells them, and llama.cpp's names for them.
const std::vector<std::pair<std::vector<std::string>, std::string>>& KnownPreFamilies() {
  static const std::vector<std::pair<std::vector<std::string>, std::string>> families = {
      {{kByteLevelRegex}, "gpt2"},
      {{R"(\p{N})", kByteLevelRegex}, "smollm"},
      {{R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       "llama-bpe"},
      {{R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
       "qwen2"},
  };
  return families;
}

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
}

[[noreturn]] void Bad(const fs::path& path, const std::string& field, const std::string& what) {
  throw Error(path.string() + ": field '" + field + "' " + what);
}

// Collects what a tokenizer.json pre_tokenizer / normalizer tree implies.
struct PipelineInfo {
  std::vector<std::string> regexes;
  bool byte_level = false;
  bool metaspace = false;
  bool prepend_space = false;
};

void WalkPreTokenizer(const json& node, const fs::path& path, const std::string& field,
                      PipelineInfo& info) {
  if (node.is_null()) return;
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) {
    Bad(path, field, "must be an object with a string 'type'");
  }
  const std::string type = node["type"];
  if (type == "Sequence") {
    const json& items = node.value("pretokenizers", json::array());
    if (!items.is_array()) Bad(path, field + ".pretokenizers", "must be an array");
    for (size_t i = 0; i < items.size(); ++i) {
      WalkPreTokenizer(items[i], path, field + ".pretokenizers[" + std::to_string(i) + "]", info);
    }
  } else if (type == "ByteLevel") {
    info.byte_level = true;
    if (node.value("use_regex", true)) info.regexes.push_back(kByteLevelRegex);
  } else if (type == "Split") {
    const json& pattern = node.value("pattern", json());
    if (node.value("invert", false)) Bad(path, field + ".invert", "true is not supported");
    const std::string behavior = node.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated") Bad(path, field + ".behavior", "'" + behavior + "' unsupported");
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      info.regexes.push_back(pattern["Regex"]);
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      info.regexes.push_back("\\Q" + pattern["String"].get<std::string>() + "\\E");
    } else {
      Bad(path, field + ".pattern", "must hold a string 'Regex' or 'String'");
    }
  } else if (type == "Digits") {
    info.regexes.push_back(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Metaspace") {
    info.metaspace = true;
    const std::string scheme = node.value("prepend_scheme", std::string());
    info.prepend_space = scheme.empty() ? node.value("add_prefix_space", true) : scheme != "never";
  } else {
    Bad(path, field + ".type", "'" + type + "' is not supported");
  }
}

void WalkNormalizer(const json& node, const fs::path& path, PipelineInfo& info) {
  if (!node.is_object()) return;
  const std::string type = node.value("type", std::string());
  if (type == "Sequence" && node.contains("normalizers") && node["normalizers"].is_array()) {
    for (const json& n : node["normalizers"]) WalkNormalizer(n, path, info);
  } else if (type == "Prepend" && node.value("prepend", std::string()) == kSpaceMarker) {
    info.prepend_space = true;
  } else if (type == "Replace" && node.value("content", std::string()) == kSpaceMarker) {
    info.metaspace = true;
  }
}

// TemplateProcessing "single": a SpecialToken before/after the sequence means BOS/EOS is added.
void WalkPostProcessor(const json& node, std::optional<std::string>& bos,
                       std::optional<std::string>& eos) {
  if (!node.is_object()) return;
  const std::string type = node.value("type", std::string());
  if (type == "Sequence" && node.contains("processors") && node["processors"].is_array()) {
    for (const json& p : node["processors"]) WalkPostProcessor(p, bos, eos);
  } else if (type == "TemplateProcessing" && node.contains("single") && node["single"].is_array() &&
             !node["single"].empty()) {
    const json& single = node["single"];
    auto special = [](const json& item) -> std::optional<std::string> {
      if (item.is_object() && item.contains("SpecialToken") &&
          item["SpecialToken"].contains("id") && item["SpecialToken"]["id"].is_string()) {
        return item["SpecialToken"]["id"].get<std::string>();
      }
      return std::nullopt;
    };
    bos = special(single.front());
    eos = single.size() > 1 ? special(single.back()) : std::nullopt;
  }
}

std::optional<std::string> TokenText(const json& cfg, const char* key, const fs::path& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  Bad(path, key, "must be a string or an object with a string 'content'");
}

}  // namespace

TokenizerSpec Tokenizer::SpecFromHfDir(const fs::path& dir) {
  const fs::path path = dir / "tokenizer.json";
  if (!fs::exists(path)) throw Error(path.string() + ": file not found");
  const json root = ReadJson(path);
  if (!root.is_object()) Bad(path, "(root)", "must be an object");
  if (!root.contains("model") || !root["model"].is_object()) Bad(path, "model", "is missing");
  const json& model = root["model"];
  const std::string model_type = model.value("type", std::string("BPE"));
  if (model_type != "BPE") Bad(path, "model.type", "'" + model_type + "' is not supported");
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    Bad(path, "model.vocab", "must be an object of token -> id");
  }

  std::map<int64_t, std::pair<std::string, TokenType>> entries;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      Bad(path, "model.vocab", "has a non-integer or negative id for '" + text + "'");
    }
    entries[id.get<int64_t>()] = {text, TokenType::kNormal};
  }
  const json& added = root.value("added_tokens", json::array());
  if (!added.is_array()) Bad(path, "added_tokens", "must be an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const json& t = added[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        t["id"].get<int64_t>() < 0 || !t.contains("content") || !t["content"].is_string()) {
      Bad(path, field, "must have an integer 'id' and a string 'content'");
    }
    const bool special = t.value("special", false);
    entries[t["id"].get<int64_t>()] = {t["content"].get<std::string>(),
                                       special ? TokenType::kControl : TokenType::kUserDefined};
  }
  if (entries.empty()) Bad(path, "model.vocab", "is empty");

  TokenizerSpec spec;
  const int64_t n = entries.rbegin()->first + 1;
  if (n > (int64_t{1} << 24)) Bad(path, "model.vocab", "has an id above 2^24");
  spec.tokens.resize(n);
  spec.types.assign(n, TokenType::kUnused);
  for (int64_t i = 0; i < n; ++i) spec.tokens[i] = "[PAD" + std::to_string(i) + "]";
  std::unordered_map<std::string, int32_t> ids;
  for (const auto& [id, entry] : entries) {
    spec.tokens[id] = entry.first;
    spec.types[id] = entry.second;
    ids[entry.first] = static_cast<int32_t>(id);
  }
  auto find_id = [&](const std::string& text, const fs::path& file,
                     const std::string& field) -> int32_t {
    auto it = ids.find(text);
    if (it == ids.end()) Bad(file, field, "names '" + text + "', which is not in the vocab");
    return it->second;
  };

  if (model.contains("merges") && !model["merges"].is_null()) {
    const json& merges = model["merges"];
    if (!merges.is_array()) Bad(path, "model.merges", "must be an array");
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      if (m.is_string()) {
        spec.merges.push_back(m);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        spec.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        Bad(path, "model.merges[" + std::to_string(i) + "]", "must be \"a b\" or [a, b]");
      }
    }
  }
  spec.ignore_merges = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    spec.unk_id = find_id(model["unk_token"], path, "model.unk_token");
    spec.types[*spec.unk_id] = TokenType::kUnknown;
  }

  PipelineInfo info;
  WalkPreTokenizer(root.value("pre_tokenizer", json()), path, "pre_tokenizer", info);
  WalkNormalizer(root.value("normalizer", json()), path, info);
  const bool byte_fallback = model.value("byte_fallback", false);
  if (byte_fallback || info.metaspace) {
    spec.kind = TokenizerKind::kSentencePieceBpe;
    spec.add_space_prefix = info.prepend_space;
    // SentencePiece merges by token score; a merge's rank gives the same order.
    spec.scores.assign(n, -1e30f);
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
      const std::string& m = spec.merges[rank];
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos) continue;
      auto it = ids.find(m.substr(0, space) + m.substr(space + 1));
      if (it != ids.end() && spec.scores[it->second] < -static_cast<float>(rank)) {
        spec.scores[it->second] = -static_cast<float>(rank);
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const std::string& t = spec.tokens[i];
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>' &&
          spec.types[i] == TokenType::kNormal) {
        spec.types[i] = TokenType::kByte;
      }
    }
  } else {
    spec.kind = TokenizerKind::kByteLevelBpe;
    spec.pre = "custom";
    for (const auto& [regexes, name] : KnownPreFamilies()) {
      if (regexes == info.regexes) spec.pre = name;
    }
    if (spec.pre == "custom") {
      // No split at all: the whole text is one word.
      spec.pre_regexes =
          info.regexes.empty() ? std::vector<std::string>{R"([\s\S]+)"} : info.regexes;
    }
  }

  std::optional<std::string> bos_text, eos_text;
  WalkPostProcessor(root.value("post_processor", json()), bos_text, eos_text);
  if (bos_text) {
    spec.bos_id = find_id(*bos_text, path, "post_processor.single");
    spec.add_bos = true;
  }
  if (eos_text) {
    spec.eos_id = find_id(*eos_text, path, "post_processor.single");
    spec.add_eos = true;
  }

  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    const json cfg = ReadJson(cfg_path);
    if (!cfg.is_object()) Bad(cfg_path, "(root)", "must be an object");
    auto flag = [&](const char* key, bool& out) {
      if (!cfg.contains(key) || cfg[key].is_null()) return;
      if (!cfg[key].is_boolean()) Bad(cfg_path, key, "must be a boolean");
      out = cfg[key];
    };
    flag("add_bos_token", spec.add_bos);
    flag("add_eos_token", spec.add_eos);
    if (auto t = TokenText(cfg, "bos_token", cfg_path))
      spec.bos_id = find_id(*t, cfg_path, "bos_token");
    if (auto t = TokenText(cfg, "eos_token", cfg_path))
      spec.eos_id = find_id(*t, cfg_path, "eos_token");
    if (auto t = TokenText(cfg, "unk_token", cfg_path))
      spec.unk_id = find_id(*t, cfg_path, "unk_token");
    if (auto t = TokenText(cfg, "pad_token", cfg_path))
      spec.pad_id = find_id(*t, cfg_path, "pad_token");
    if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
      const json& ct = cfg["chat_template"];
      if (ct.is_string()) {
        spec.chat_template = ct;
      } else if (ct.is_array()) {
        for (const json& named : ct) {
          if (named.is_object() && named.value("name", std::string()) == "default" &&
              named.contains("template") && named["template"].is_string()) {
            spec.chat_template = named["template"];
          }
        }
      } else {
        Bad(cfg_path, "chat_template", "must be a string or a list of {name, template}");
      }
    }
  }
  if (spec.add_bos && !spec.bos_id) Bad(cfg_path, "add_bos_token", "is true but no bos_token");
  if (spec.add_eos && !spec.eos_id) Bad(cfg_path, "add_eos_token", "is true but no eos_token");
  return spec;
}

}  // namespace xq
