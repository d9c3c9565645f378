// KvProfile: a KV-cache precision profile (configs/kv/<name>.json) and its resolution into
// per-layer slot specs and a block layout for one model shape. docs/KV_FORMAT.md documents it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/include/xquant_format.h"

namespace xq {

// A layer index, given either absolutely ("16") or as a share of the model's depth ("50%") so one
// profile fits models of any depth. A share resolves to the smallest EVEN index >= p * L, so a
// percentage threshold never splits a (2j, 2j+1) pair.
struct LayerThreshold {
  std::optional<int64_t> layer;  // absolute index, or
  double percent = 0.0;          // share of the layer count in [0, 100]
  std::string text;              // as written, for messages

  int64_t Resolve(int64_t num_layers) const;
};

// Layers >= from get `bits` (rules apply in order, later ones win).
struct KvBitsRule {
  LayerThreshold from;
  int bits = kFp16Bits;
};

// The K or V half of a profile.
struct KvSlotProfile {
  int bits = kFp16Bits;  // for every layer before the rules apply
  std::vector<KvBitsRule> rules;
  // Odd layers l >= this decode with the codes of layer l - 1 and store only their own params.
  std::optional<LayerThreshold> share_from_layer;
  // "rotation": "hadamard" caches this half in the rotated basis
  // (kernels/include/xquant_rotation.h).
  bool rotated = false;
  // "group_tokens" (keys only): tokens per key group, a divisor of block_tokens; 0 = the block.
  int group_tokens = 0;
  // "group_channels" (values only): channels per value group, a divisor of head_dim; 0 = the
  // block size.
  int group_channels = 0;
  // "param_bits": 16 stores each group's {s, z} in fp16, 8 in one byte each against a per-head
  // base (kernels/include/xquant_params.h).
  int param_bits = kFp16Bits;
};

struct KvProfile {
  std::string name;
  std::string description;
  std::string source;  // the file it came from; every error message names it
  int64_t block_tokens = 32;
  int64_t recent_window = 128;
  int64_t sink_tokens = 0;  // the first tokens kept fp16 for good (a multiple of block_tokens)
  bool calibration = true;
  std::map<int, float> eta;  // bits -> calibration eta, used only when calibration is on
  KvSlotProfile keys, values;

  float EtaFor(int bits) const;
};

// Parses and validates the shape-independent parts: unknown keys, types, bits in
// {1, 2, 4, 8, 16}, eta in [0, 0.5), recent_window a multiple of block_tokens, whole-byte code
// strings. Throws xq::Error "<source>: <field>: <problem>".
KvProfile ParseKvProfile(std::string_view json_text, const std::string& source);

// The profile as a JSON document ParseKvProfile reads back to the same profile (what
// `xquant tune` writes).
std::string KvProfileJson(const KvProfile& profile);

// The shipped profiles: the first of <exe dir>/configs/kv, <exe dir>/../configs/kv,
// <exe dir>/../share/xquant/configs/kv, ./configs/kv that exists (else the last).
std::filesystem::path DefaultKvConfigsDir();

// `name_or_path` is a bare profile name (configs_dir/<name>.json) or a path to a .json file.
KvProfile LoadKvProfile(const std::string& name_or_path,
                        const std::filesystem::path& configs_dir = DefaultKvConfigsDir());

// Sorted names of the profiles in `configs_dir`.
std::vector<std::string> ListKvProfiles(const std::filesystem::path& configs_dir);

// Per-layer specs for a model of `num_layers` layers. Throws xq::Error naming the profile file
// and field for thresholds beyond the layer count and for shared pairs with mixed or fp16 bits.
std::vector<KvLayerSpec> ResolveLayers(const KvProfile& profile, int64_t num_layers);

// ResolveLayers plus the shape checks (block_tokens must divide head_dim) and the block layout.
KvBlockLayout ResolveKvLayout(const KvProfile& profile, int64_t num_layers, int64_t num_kv_heads,
                              int64_t head_dim);

}  // namespace xq
