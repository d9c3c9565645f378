#include "engine/kv/kv_profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "engine/common/error.h"

namespace xq {
namespace {

using nlohmann::json;

constexpr float kDefaultEta1 = 1.0f / 6.0f;
constexpr float kDefaultEta2 = 0.045f;

[[noreturn]] void Fail(const std::string& source, const std::string& field,
                       const std::string& what) {
  throw Error(source + ": " + field + ": " + what);
}

void RejectUnknownKeys(const json& obj, std::initializer_list<const char*> allowed,
                       const std::string& source, const std::string& where) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();  // clang 14 cannot capture a structured binding
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      Fail(source, where + key, "unknown key (expected one of: " + list + ")");
    }
  }
}

bool ValidBits(int64_t bits) {
  return bits == 1 || bits == 2 || bits == 4 || bits == 8 || bits == kFp16Bits;
}

int64_t GetInt(const json& v, const std::string& source, const std::string& field) {
  if (!v.is_number_integer()) Fail(source, field, "must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

int ParseBits(const json& v, int64_t block_tokens, const std::string& source,
              const std::string& field) {
  const int64_t bits = GetInt(v, source, field);
  if (!ValidBits(bits)) {
    Fail(source, field, std::to_string(bits) + " is not one of 1, 2, 4, 8, 16 (16 = fp16)");
  }
  if (bits != kFp16Bits && block_tokens % 8 * bits % 8 != 0) {
    Fail(source, field,
         std::to_string(block_tokens) + " tokens of " + std::to_string(bits) +
             "-bit codes are not a whole number of bytes (see block_tokens)");
  }
  return static_cast<int>(bits);
}

LayerThreshold ParseThreshold(const json& v, const std::string& source, const std::string& field) {
  LayerThreshold t;
  t.text = v.is_string() ? v.get<std::string>() : v.dump();
  if (v.is_number_integer()) {
    t.layer = v.get<int64_t>();
    if (*t.layer < 0) Fail(source, field, "layer index " + t.text + " is negative");
    return t;
  }
  if (v.is_string() && !t.text.empty() && t.text.back() == '%') {
    const std::string num = t.text.substr(0, t.text.size() - 1);
    size_t used = 0;
    double p = -1.0;
    try {
      p = std::stod(num, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == num.size() && !num.empty() && p >= 0.0 && p <= 100.0) {
      t.percent = p;
      return t;
    }
  }
  Fail(source, field,
       "expected a layer index or a share such as \"50%\" (0-100%), got " + v.dump());
}

// Every bit-width a slot's layers can have.
std::vector<int> SlotBits(const KvSlotProfile& s) {
  std::vector<int> all{s.bits};
  for (const KvBitsRule& r : s.rules) all.push_back(r.bits);
  return all;
}

KvSlotProfile ParseSlot(const json& v, int64_t block_tokens, const std::string& source,
                        const std::string& where) {
  if (!v.is_object()) Fail(source, where, "must be an object like {\"bits\": 2}");
  RejectUnknownKeys(
      v, {"bits", "rules", "share_from_layer", "rotation", "group_tokens", "group_channels",
          "param_bits"},
      source, where + ".");
  KvSlotProfile s;
  if (!v.contains("bits")) Fail(source, where + ".bits", "missing");
  s.bits = ParseBits(v["bits"], block_tokens, source, where + ".bits");
  if (v.contains("rules")) {
    const json& rules = v["rules"];
    if (!rules.is_array()) Fail(source, where + ".rules", "must be an array");
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string rw = where + ".rules[" + std::to_string(i) + "]";
      if (!rules[i].is_object()) Fail(source, rw, "must be an object {\"from_layer\", \"bits\"}");
      RejectUnknownKeys(rules[i], {"from_layer", "bits"}, source, rw + ".");
      if (!rules[i].contains("from_layer")) Fail(source, rw + ".from_layer", "missing");
      if (!rules[i].contains("bits")) Fail(source, rw + ".bits", "missing");
      s.rules.push_back({ParseThreshold(rules[i]["from_layer"], source, rw + ".from_layer"),
                         ParseBits(rules[i]["bits"], block_tokens, source, rw + ".bits")});
    }
  }
  if (v.contains("share_from_layer") && !v["share_from_layer"].is_null()) {
    s.share_from_layer = ParseThreshold(v["share_from_layer"], source, where + ".share_from_layer");
  }
  if (v.contains("rotation")) {
    const json& r = v["rotation"];
    if (r != "hadamard" && r != "none") {
      Fail(source, where + ".rotation", "expected \"hadamard\" or \"none\", got " + r.dump());
    }
    s.rotated = r == "hadamard";
  }
  if (v.contains("param_bits")) {
    const int64_t bits = GetInt(v["param_bits"], source, where + ".param_bits");
    if (bits != 8 && bits != kFp16Bits) {
      Fail(source, where + ".param_bits", std::to_string(bits) + " is not 8 or 16");
    }
    s.param_bits = static_cast<int>(bits);
  }
  if (v.contains("group_tokens")) {
    const std::string field = where + ".group_tokens";
    if (where != "keys") Fail(source, field, "only keys are grouped by tokens");
    const int64_t t = GetInt(v["group_tokens"], source, field);
    if (t <= 0 || block_tokens % t != 0) {
      Fail(source, field,
           std::to_string(t) + " does not divide block_tokens " + std::to_string(block_tokens));
    }
    for (int bits : SlotBits(s)) {
      if (bits != kFp16Bits && t % 8 * bits % 8 != 0) {
        Fail(source, field,
             std::to_string(t) + " tokens of " + std::to_string(bits) +
                 "-bit codes are not a whole number of bytes");
      }
    }
    s.group_tokens = static_cast<int>(t);
  }
  if (v.contains("group_channels")) {
    const std::string field = where + ".group_channels";
    if (where != "values") Fail(source, field, "only values are grouped by channels");
    const int64_t c = GetInt(v["group_channels"], source, field);
    if (c <= 0 || c > std::numeric_limits<int>::max()) {
      Fail(source, field, "must be a positive int, got " + std::to_string(c));
    }
    for (int bits : SlotBits(s)) {
      if (bits != kFp16Bits && c % 8 * bits % 8 != 0) {
        Fail(source, field,
             std::to_string(c) + " channels of " + std::to_string(bits) +
                 "-bit codes are not a whole number of bytes");
      }
    }
    s.group_channels = static_cast<int>(c);  // dividing head_dim is checked with the model
  }
  return s;
}

// Layer index a threshold names for this model; thresholds past the last layer are mistakes
// (a profile meant for a deeper model), so they fail instead of silently doing nothing.
int64_t ResolveChecked(const LayerThreshold& t, int64_t num_layers, const std::string& source,
                       const std::string& field) {
  const int64_t at = t.Resolve(num_layers);
  if (t.layer && at > num_layers) {
    Fail(source, field,
         "layer " + std::to_string(at) + " is beyond the model's " + std::to_string(num_layers) +
             " layers (use a share such as \"50%\" to fit any depth)");
  }
  return at;
}

void ResolveSlot(const KvProfile& p, const KvSlotProfile& slot, const std::string& where,
                 int64_t num_layers, std::vector<KvLayerSpec>& out, bool keys) {
  std::vector<int> bits(num_layers, slot.bits);
  std::vector<std::string> bits_field(num_layers, where + ".bits");
  for (size_t i = 0; i < slot.rules.size(); ++i) {
    const std::string field = where + ".rules[" + std::to_string(i) + "]";
    const int64_t from =
        ResolveChecked(slot.rules[i].from, num_layers, p.source, field + ".from_layer");
    for (int64_t l = from; l < num_layers; ++l) {
      bits[l] = slot.rules[i].bits;
      bits_field[l] = field + ".bits";
    }
  }
  int64_t share_from = num_layers;
  const std::string share_field = where + ".share_from_layer";
  if (slot.share_from_layer) {
    share_from = ResolveChecked(*slot.share_from_layer, num_layers, p.source, share_field);
  }
  for (int64_t l = 0; l < num_layers; ++l) {
    KvSlotSpec& s = keys ? out[l].k : out[l].v;
    s.bits = bits[l];
    s.shares_codes = l % 2 == 1 && l >= share_from;
    s.rotated = slot.rotated;
    s.group_tokens = slot.group_tokens;
    s.group_channels = slot.group_channels;
    s.param_bits = slot.param_bits;
    s.eta = s.bits == kFp16Bits || !p.calibration ? 0.0f : p.EtaFor(s.bits);
    if (!s.shares_codes) continue;
    if (bits[l] == kFp16Bits) {
      Fail(p.source, share_field,
           "layer " + std::to_string(l) + " is fp16 (" + bits_field[l] +
               "), which has no codes to share");
    }
    if (bits[l] != bits[l - 1]) {
      Fail(p.source, share_field,
           "layer " + std::to_string(l) + " would share the codes of layer " +
               std::to_string(l - 1) + " but has " + std::to_string(bits[l]) + " bits (" +
               bits_field[l] + ") against " + std::to_string(bits[l - 1]) + " (" +
               bits_field[l - 1] + "); a pair must have one bit-width");
    }
  }
}

}  // namespace

int64_t LayerThreshold::Resolve(int64_t num_layers) const {
  if (layer) return *layer;
  const int64_t at = static_cast<int64_t>(std::ceil(percent * num_layers / 100.0 - 1e-9));
  return std::min(num_layers, at + at % 2);
}

float KvProfile::EtaFor(int bits) const {
  const auto it = eta.find(bits);
  return it == eta.end() ? 0.0f : it->second;
}

KvProfile ParseKvProfile(std::string_view json_text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {  // parse errors, and numbers beyond a double (1e999)
    throw Error(source + ": malformed JSON: " + e.what());
  }
  if (!doc.is_object()) Fail(source, "(top level)", "must be a JSON object");
  RejectUnknownKeys(doc,
                    {"name", "description", "block_tokens", "recent_window", "sink_tokens",
                     "calibration", "eta", "keys", "values"},
                    source, "");
  KvProfile p;
  p.source = source;
  p.name = std::filesystem::path(source).stem().string();
  auto get_string = [&](const char* key, std::string& out) {
    if (!doc.contains(key)) return;
    if (!doc[key].is_string()) Fail(source, key, "must be a string");
    out = doc[key].get<std::string>();
  };
  get_string("name", p.name);
  get_string("description", p.description);
  if (doc.contains("block_tokens")) {
    p.block_tokens = GetInt(doc["block_tokens"], source, "block_tokens");
    if (p.block_tokens <= 0) Fail(source, "block_tokens", "must be positive");
  }
  if (doc.contains("recent_window")) {
    p.recent_window = GetInt(doc["recent_window"], source, "recent_window");
    if (p.recent_window < 0) Fail(source, "recent_window", "must not be negative");
  }
  if (p.recent_window % p.block_tokens != 0) {
    Fail(source, "recent_window",
         std::to_string(p.recent_window) + " is not a multiple of block_tokens " +
             std::to_string(p.block_tokens) + " (whole blocks leave the window)");
  }
  if (doc.contains("sink_tokens")) {
    p.sink_tokens = GetInt(doc["sink_tokens"], source, "sink_tokens");
    if (p.sink_tokens < 0 || p.sink_tokens % p.block_tokens != 0) {
      Fail(source, "sink_tokens",
           std::to_string(p.sink_tokens) + " is not a non-negative multiple of block_tokens " +
               std::to_string(p.block_tokens) + " (sinks are whole blocks)");
    }
  }
  if (doc.contains("calibration")) {
    if (!doc["calibration"].is_boolean()) Fail(source, "calibration", "must be true or false");
    p.calibration = doc["calibration"].get<bool>();
  }
  p.eta = {{1, kDefaultEta1}, {2, kDefaultEta2}, {4, 0.0f}, {8, 0.0f}};
  if (doc.contains("eta")) {
    const json& eta = doc["eta"];
    if (!eta.is_object()) Fail(source, "eta", "must be an object like {\"1\": 0.16667}");
    RejectUnknownKeys(eta, {"1", "2", "4", "8"}, source, "eta.");
    for (const auto& [key, value] : eta.items()) {
      if (!value.is_number()) Fail(source, "eta." + key, "must be a number");
      const double e = value.get<double>();
      if (!(e >= 0.0 && e < 0.5)) Fail(source, "eta." + key, value.dump() + " is not in [0, 0.5)");
      p.eta[std::stoi(key)] = static_cast<float>(e);
    }
  }
  for (const char* key : {"keys", "values"}) {
    if (!doc.contains(key)) Fail(source, key, "missing");
  }
  p.keys = ParseSlot(doc["keys"], p.block_tokens, source, "keys");
  p.values = ParseSlot(doc["values"], p.block_tokens, source, "values");
  return p;
}

namespace {

json ThresholdJson(const LayerThreshold& t) {
  if (t.layer) return *t.layer;
  std::ostringstream s;
  s << t.percent << '%';
  return s.str();
}

json SlotJson(const KvSlotProfile& slot) {
  json j = {{"bits", slot.bits}};
  if (!slot.rules.empty()) {
    j["rules"] = json::array();
    for (const KvBitsRule& r : slot.rules) {
      j["rules"].push_back({{"from_layer", ThresholdJson(r.from)}, {"bits", r.bits}});
    }
  }
  if (slot.share_from_layer) j["share_from_layer"] = ThresholdJson(*slot.share_from_layer);
  if (slot.rotated) j["rotation"] = "hadamard";
  if (slot.group_tokens != 0) j["group_tokens"] = slot.group_tokens;
  if (slot.group_channels != 0) j["group_channels"] = slot.group_channels;
  if (slot.param_bits != kFp16Bits) j["param_bits"] = slot.param_bits;
  return j;
}

}  // namespace

std::string KvProfileJson(const KvProfile& p) {
  json eta = json::object();
  for (const auto& [bits, value] : p.eta) eta[std::to_string(bits)] = value;
  const json j = {{"name", p.name},
                  {"description", p.description},
                  {"block_tokens", p.block_tokens},
                  {"recent_window", p.recent_window},
                  {"sink_tokens", p.sink_tokens},
                  {"calibration", p.calibration},
                  {"eta", eta},
                  {"keys", SlotJson(p.keys)},
                  {"values", SlotJson(p.values)}};
  return j.dump(2) + "\n";
}

std::filesystem::path DefaultKvConfigsDir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      for (const fs::path& c :
           {dir / "configs" / "kv", dir / "share" / "xquant" / "configs" / "kv"}) {
        if (fs::is_directory(c, ec)) return c;
      }
      if (dir == dir.root_path()) break;
    }
  }
  return fs::current_path(ec) / "configs" / "kv";
}

std::vector<std::string> ListKvProfiles(const std::filesystem::path& configs_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(configs_dir, ec)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

KvProfile LoadKvProfile(const std::string& name_or_path, const std::filesystem::path& configs_dir) {
  const bool bare = name_or_path.find('/') == std::string::npos &&
                    std::filesystem::path(name_or_path).extension() != ".json";
  const std::filesystem::path path =
      bare ? configs_dir / (name_or_path + ".json") : std::filesystem::path(name_or_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string known;
    for (const std::string& n : ListKvProfiles(configs_dir))
      known += (known.empty() ? "" : ", ") + n;
    throw Error(
        "KV profile '" + name_or_path + "': cannot read " + path.string() +
        (bare ? "; profiles in " + configs_dir.string() + ": " + (known.empty() ? "(none)" : known)
              : ""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseKvProfile(text.str(), path.string());
}

std::vector<KvLayerSpec> ResolveLayers(const KvProfile& profile, int64_t num_layers) {
  if (num_layers <= 0) {
    throw Error(profile.source + ": the model has " + std::to_string(num_layers) + " layers");
  }
  std::vector<KvLayerSpec> layers(num_layers);
  ResolveSlot(profile, profile.keys, "keys", num_layers, layers, true);
  ResolveSlot(profile, profile.values, "values", num_layers, layers, false);
  return layers;
}

KvBlockLayout ResolveKvLayout(const KvProfile& profile, int64_t num_layers, int64_t num_kv_heads,
                              int64_t head_dim) {
  if (head_dim <= 0 || head_dim % profile.block_tokens != 0) {
    Fail(profile.source, "block_tokens",
         std::to_string(profile.block_tokens) + " does not divide the model's head_dim " +
             std::to_string(head_dim) + " (values are grouped by block_tokens channels)");
  }
  const int64_t channels = profile.values.group_channels;
  if (channels > 0 && head_dim % channels != 0) {
    Fail(profile.source, "values.group_channels",
         std::to_string(channels) + " does not divide the model's head_dim " +
             std::to_string(head_dim));
  }
  std::vector<KvLayerSpec> layers = ResolveLayers(profile, num_layers);
  try {
    KvBlockLayout layout = MakeKvBlockLayout(num_kv_heads, head_dim, profile.block_tokens,
                                             layers.data(), static_cast<int64_t>(layers.size()));
    layout.sink_blocks = profile.sink_tokens / profile.block_tokens;
    return layout;
  } catch (const std::invalid_argument& e) {
    throw Error(profile.source + ": " + e.what());
  }
}

}  // namespace xq
