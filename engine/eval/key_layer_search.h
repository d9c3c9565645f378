// Key-bit moves between layers at a constant cost. Layers differ in how much their key error
// costs (docs/QUALITY.md: on SmolLM2-135M, layers 17-19 decide retrieval and the top layers
// matter least), so a profile with one key width everywhere usually does better with wider keys
// in a few layers paid for by narrower keys in others. The search measures each layer alone one
// width up and one width down, then tries the most helpful widenings paid for by the least
// harmful narrowings, and keeps the best measured profile. Code bytes grow with bits and a
// group's params do not, so a layout whose key bits sum to no more than the start's costs no
// more bytes. Evaluation is a callback (as in the tuner), so the search is tested without a
// model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/eval/profile_tuner.h"
#include "engine/kv/kv_profile.h"

namespace xq {

struct KeyLayerSearchOptions {
  int64_t max_widened = 8;  // the most layers given wider keys at once
  int64_t batch = 4;        // profiles evaluated together (one baseline run each)
};

// One layer's keys one width up or down, alone; kl < 0 where the move does not exist.
struct KeyLayerSensitivity {
  int64_t layer = 0;
  int bits = 0;  // the start's width there
  double kl_wider = -1.0, kl_narrower = -1.0;
};

struct KeyLayerSearchResult {
  KvProfile profile;  // the best measured layout: the start when no move lowered KL
  double kl = 0.0;
  std::vector<KeyLayerSensitivity> layers;            // every layer the search could move
  std::vector<std::pair<std::string, double>> tried;  // combined layouts: name, measured KL
};

// `start` with these key widths per layer, written as integer from_layer rules.
KvProfile WithKeyBits(const KvProfile& start, const std::vector<int>& bits);

// Searches from `start`, whose KL is `start_kl`. Layers in a pair that shares key codes keep
// their width (a pair has one width), as do fp16 layers.
KeyLayerSearchResult SearchKeyLayers(const KvProfile& start, double start_kl,
                                     const ModelKvShape& shape, const TuneEvaluator& evaluate,
                                     const KeyLayerSearchOptions& options = {});

}  // namespace xq
