#include "engine/eval/profile_tuner.h"

#include <algorithm>
#include <optional>
#include <string>

namespace xq {
namespace {

LayerThreshold Share(double percent) {
  LayerThreshold t;
  t.percent = percent;
  t.text = std::to_string(static_cast<int>(percent)) + "%";
  return t;
}

KvSlotProfile Slot(int bits, std::optional<double> low_bits_from, std::optional<double> share) {
  KvSlotProfile s;
  s.bits = bits;
  s.rotated = true;
  if (low_bits_from) s.rules.push_back({Share(*low_bits_from), bits - 1});
  if (share) s.share_from_layer = Share(*share);
  return s;
}

// How a candidate stores its groups' scales and zero points.
struct ParamLayout {
  int key_group_tokens, value_group_channels, key_param_bits, value_param_bits;
  bool operator==(const ParamLayout&) const = default;
};

// The base's own, and the shipped profiles' (docs/QUALITY.md: at 32-token blocks, 16-token key
// groups with 8-bit params beat 32-token groups with fp16 params in KL and in bytes) where the
// block splits into two whole-byte key groups.
std::vector<ParamLayout> ParamLayouts(const KvProfile& base) {
  std::vector<ParamLayout> out = {{base.keys.group_tokens, base.values.group_channels,
                                   base.keys.param_bits, base.values.param_bits}};
  if (base.block_tokens % 16 == 0) {
    const ParamLayout half_groups = {static_cast<int>(base.block_tokens / 2),
                                     base.values.group_channels, 8, 8};
    if (half_groups != out.front()) out.push_back(half_groups);
  }
  return out;
}

}  // namespace

std::vector<KvProfile> TuneCandidates(const KvProfile& base) {
  const std::vector<KvSlotProfile> keys = {Slot(2, std::nullopt, std::nullopt),
                                           Slot(2, 75.0, std::nullopt),
                                           Slot(2, 50.0, std::nullopt)};
  const std::vector<KvSlotProfile> values = {
      Slot(1, std::nullopt, std::nullopt), Slot(1, std::nullopt, 75.0), Slot(1, std::nullopt, 50.0),
      Slot(2, std::nullopt, std::nullopt)};
  std::vector<KvProfile> out;
  for (const ParamLayout& params : ParamLayouts(base)) {
    for (const KvSlotProfile& k : keys) {
      for (const KvSlotProfile& v : values) {
        for (int64_t sinks : {0, 1, 2}) {
          KvProfile p = base;
          p.name = "tuned-" + std::to_string(out.size());
          p.keys = k;
          p.values = v;
          p.keys.group_tokens = params.key_group_tokens;
          p.keys.param_bits = params.key_param_bits;
          p.values.group_channels = params.value_group_channels;
          p.values.param_bits = params.value_param_bits;
          p.sink_tokens = sinks * base.block_tokens;
          out.push_back(p);
        }
      }
    }
  }
  return out;
}

TuneCandidate CostedCandidate(const KvProfile& p, const ModelKvShape& shape,
                              int64_t context_tokens) {
  TuneCandidate c;
  c.profile = p;
  const KvBlockLayout layout =
      ResolveKvLayout(p, shape.num_layers, shape.num_kv_heads, shape.head_dim);
  c.accounting = ComputeKvAccounting(layout, p.recent_window);
  c.bytes_per_token = BytesPerTokenAt(c.accounting, context_tokens);
  return c;
}

TuneResult TuneProfile(const std::vector<KvProfile>& candidates, const ModelKvShape& shape,
                       const TuneOptions& options, const TuneEvaluator& evaluate) {
  std::vector<TuneCandidate> pool;
  for (const KvProfile& p : candidates) {
    const TuneCandidate c = CostedCandidate(p, shape, options.context_tokens);
    if (c.accounting.real_bits_per_element <= options.max_real_bits) pool.push_back(c);
  }
  std::stable_sort(pool.begin(), pool.end(), [](const TuneCandidate& a, const TuneCandidate& b) {
    return a.bytes_per_token < b.bytes_per_token;
  });
  TuneResult result;
  const size_t batch = static_cast<size_t>(std::max<int64_t>(1, options.batch));
  for (size_t first = 0; first < pool.size(); first += batch) {
    const size_t end = std::min(pool.size(), first + batch);
    std::vector<KvProfile> profiles;
    for (size_t i = first; i < end; ++i) profiles.push_back(pool[i].profile);
    const std::vector<double> kl = evaluate(profiles);
    for (size_t i = first; i < end; ++i) {
      pool[i].kl = kl.at(i - first);
      result.tried.push_back(pool[i]);
      if (!result.found && pool[i].kl <= options.max_kl) {
        result.found = true;
        result.best = pool[i];  // the batch is in cost order: the first within budget wins
      }
    }
    if (result.found) break;
  }
  return result;
}

}  // namespace xq
