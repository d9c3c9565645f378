#include "engine/eval/key_layer_search.h"

#include <algorithm>

#include "engine/common/error.h"

namespace xq {
namespace {

constexpr int kWidths[] = {1, 2, 4, 8};  // quantized key widths, narrowest first

// The next width up (+1) or down (-1) from `bits`, or 0 when there is none.
int Neighbour(int bits, int step) {
  const int* end = std::end(kWidths);
  const int* at = std::find(std::begin(kWidths), end, bits);
  if (at == end) return 0;  // fp16
  if (step > 0) return at + 1 == end ? 0 : at[1];
  return at == std::begin(kWidths) ? 0 : at[-1];
}

// Whether this profile resolves for the model (a width may not fit its key groups in whole bytes).
bool Resolves(const KvProfile& p, const ModelKvShape& shape) {
  try {
    (void)ResolveKvLayout(p, shape.num_layers, shape.num_kv_heads, shape.head_dim);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string MoveName(const KvProfile& start, int64_t layer, int bits) {
  return start.name + "-k" + std::to_string(bits) + "-L" + std::to_string(layer);
}

// Evaluates `profiles` `batch` at a time; KL of each, in order.
std::vector<double> EvaluateInBatches(const std::vector<KvProfile>& profiles, int64_t batch,
                                      const TuneEvaluator& evaluate) {
  std::vector<double> kl;
  const size_t step = static_cast<size_t>(std::max<int64_t>(1, batch));
  for (size_t first = 0; first < profiles.size(); first += step) {
    const std::vector<KvProfile> part(profiles.begin() + first,
                                      profiles.begin() + std::min(profiles.size(), first + step));
    const std::vector<double> got = evaluate(part);
    kl.insert(kl.end(), got.begin(), got.end());
  }
  return kl;
}

struct Move {
  int64_t layer;
  int bits;       // the width after the move
  double change;  // measured KL of the move alone minus the start's
  int cost;       // key bits it adds (negative: frees)
};

// The combined layouts: the `n` most helpful widenings (n = 1, 2, ...) paid for by the least
// harmful narrowings of other layers, where the sum of the single-move changes predicts a gain.
std::vector<std::vector<int>> Combinations(const std::vector<int>& start_bits,
                                           std::vector<Move> wider, std::vector<Move> narrower,
                                           int64_t max_widened) {
  const auto by_change = [](const Move& a, const Move& b) { return a.change < b.change; };
  std::stable_sort(wider.begin(), wider.end(), by_change);
  std::stable_sort(narrower.begin(), narrower.end(), by_change);
  std::vector<std::vector<int>> out;
  for (int64_t n = 1; n <= std::min<int64_t>(max_widened, wider.size()); ++n) {
    if (wider[n - 1].change >= 0) break;  // the rest do not help even alone
    std::vector<int> bits = start_bits;
    int cost = 0;
    double predicted = 0;
    for (int64_t i = 0; i < n; ++i) {
      bits[wider[i].layer] = wider[i].bits;
      cost += wider[i].cost;
      predicted += wider[i].change;
    }
    for (const Move& m : narrower) {
      if (cost <= 0) break;
      if (bits[m.layer] != start_bits[m.layer]) continue;  // widened in this layout
      bits[m.layer] = m.bits;
      cost += m.cost;
      predicted += m.change;
    }
    if (cost <= 0 && predicted < 0) out.push_back(bits);
  }
  return out;
}

}  // namespace

KvProfile WithKeyBits(const KvProfile& start, const std::vector<int>& bits) {
  KvProfile p = start;
  p.keys.bits = bits.at(0);
  p.keys.rules.clear();
  for (size_t l = 1; l < bits.size(); ++l) {
    if (bits[l] == bits[l - 1]) continue;
    LayerThreshold from;
    from.layer = static_cast<int64_t>(l);
    from.text = std::to_string(l);
    p.keys.rules.push_back({from, bits[l]});
  }
  return p;
}

KeyLayerSearchResult SearchKeyLayers(const KvProfile& start, double start_kl,
                                     const ModelKvShape& shape, const TuneEvaluator& evaluate,
                                     const KeyLayerSearchOptions& options) {
  const std::vector<KvLayerSpec> specs = ResolveLayers(start, shape.num_layers);
  std::vector<int> start_bits(specs.size());
  for (size_t l = 0; l < specs.size(); ++l) start_bits[l] = specs[l].k.bits;

  // One layer one width up or down, alone.
  KeyLayerSearchResult result{start, start_kl, {}, {}};
  std::vector<KvProfile> singles;
  std::vector<Move> moves;
  for (int64_t l = 0; l < shape.num_layers; ++l) {
    const bool paired = specs[l].k.shares_codes ||
                        (l + 1 < shape.num_layers && specs[l + 1].k.shares_codes);
    if (paired) continue;
    for (int step : {+1, -1}) {
      const int bits = Neighbour(start_bits[l], step);
      if (bits == 0) continue;
      std::vector<int> moved = start_bits;
      moved[l] = bits;
      KvProfile p = WithKeyBits(start, moved);
      p.name = MoveName(start, l, bits);
      if (!Resolves(p, shape)) continue;
      singles.push_back(p);
      moves.push_back({l, bits, 0.0, bits - start_bits[l]});
    }
  }
  const std::vector<double> kl = EvaluateInBatches(singles, options.batch, evaluate);
  std::vector<Move> wider, narrower;
  for (size_t i = 0; i < moves.size(); ++i) {
    Move& m = moves[i];
    m.change = kl.at(i) - start_kl;
    (m.cost > 0 ? wider : narrower).push_back(m);
    if (result.layers.empty() || result.layers.back().layer != m.layer) {
      result.layers.push_back({m.layer, start_bits[m.layer]});
    }
    (m.cost > 0 ? result.layers.back().kl_wider : result.layers.back().kl_narrower) = kl.at(i);
  }

  // Widenings paid for by narrowings, measured together.
  std::vector<KvProfile> combined;
  for (const std::vector<int>& bits : Combinations(start_bits, wider, narrower,
                                                   options.max_widened)) {
    KvProfile p = WithKeyBits(start, bits);
    p.name = start.name + "-moves" + std::to_string(combined.size() + 1);
    if (Resolves(p, shape)) combined.push_back(p);
  }
  const std::vector<double> combined_kl = EvaluateInBatches(combined, options.batch, evaluate);
  for (size_t i = 0; i < combined.size(); ++i) {
    result.tried.emplace_back(combined[i].name, combined_kl[i]);
    if (combined_kl[i] < result.kl) {
      result.profile = combined[i];
      result.kl = combined_kl[i];
    }
  }
  return result;
}

}  // namespace xq
