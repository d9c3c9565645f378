// The key-layer search without a model. A made-up quality model: each layer's key error falls
// fourfold per doubled width and is weighted by how much that layer matters, and KL is the sum.
// On it the search must find the layers that matter, pay for them with the ones that do not,
// never cost more bytes than the start, leave shared pairs and fp16 layers alone, and keep the
// start when measuring shows no gain.
#include "engine/eval/key_layer_search.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/kv/kv_accounting.h"

namespace xq {
namespace {

constexpr ModelKvShape kSmolLM2{30, 3, 64};
const std::filesystem::path kConfigs = std::filesystem::path(XQ_SOURCE_DIR) / "configs" / "kv";

double KeyError(int bits) { return bits == 16 ? 0.0 : 4.0 / (bits * bits); }

// Layers 17-19 matter ten times more than most, 24-29 ten times less.
double Weight(int64_t layer) {
  if (layer >= 17 && layer <= 19) return 0.01;
  return layer >= 24 ? 0.0001 : 0.001;
}

double ModelKl(const KvProfile& p, double (*weight)(int64_t) = Weight) {
  double kl = 0.0;
  const std::vector<KvLayerSpec> specs = ResolveLayers(p, kSmolLM2.num_layers);
  for (size_t l = 0; l < specs.size(); ++l) kl += weight(l) * KeyError(specs[l].k.bits);
  return kl;
}

struct CountingEvaluator {
  std::function<double(const KvProfile&)> kl = [](const KvProfile& p) { return ModelKl(p); };
  int calls = 0;
  size_t largest_batch = 0;
  TuneEvaluator Get() {
    return [this](const std::vector<KvProfile>& profiles) {
      ++calls;
      largest_batch = std::max(largest_batch, profiles.size());
      std::vector<double> out;
      for (const KvProfile& p : profiles) {
        (void)ResolveKvLayout(p, kSmolLM2.num_layers, kSmolLM2.num_kv_heads, kSmolLM2.head_dim);
        out.push_back(kl(p));
      }
      return out;
    };
  }
};

std::vector<int> KeyBits(const KvProfile& p) {
  std::vector<int> bits;
  for (const KvLayerSpec& s : ResolveLayers(p, kSmolLM2.num_layers)) bits.push_back(s.k.bits);
  return bits;
}

KvAccounting Account(const KvProfile& p) {
  return ComputeKvAccounting(
      ResolveKvLayout(p, kSmolLM2.num_layers, kSmolLM2.num_kv_heads, kSmolLM2.head_dim),
      p.recent_window);
}

TEST(KeyLayerSearch, WidensTheLayersThatMatterAndPaysWithTheOnesThatDoNot) {
  const KvProfile start = LoadKvProfile("xquant-1.5", kConfigs);
  CountingEvaluator eval;
  const KeyLayerSearchResult r =
      SearchKeyLayers(start, ModelKl(start), kSmolLM2, eval.Get(), {.max_widened = 8, .batch = 4});
  std::vector<int> expected(30, 2);
  for (int l = 17; l <= 19; ++l) expected[l] = 4;
  for (int l = 24; l < 30; ++l) expected[l] = 1;
  EXPECT_EQ(KeyBits(r.profile), expected);  // xquant-1.5-smollm2's keys, found by the search
  EXPECT_DOUBLE_EQ(r.kl, ModelKl(r.profile));
  EXPECT_LT(r.kl, ModelKl(start));
  EXPECT_EQ(Account(r.profile).block_bytes, Account(start).block_bytes);
  EXPECT_DOUBLE_EQ(Account(r.profile).equivalent_bits, 1.5);
  // Every layer measured one width up (4) and down (1) from 2 bits.
  ASSERT_EQ(r.layers.size(), 30u);
  for (const KeyLayerSensitivity& s : r.layers) {
    EXPECT_EQ(s.bits, 2);
    EXPECT_GE(s.kl_wider, 0.0);
    EXPECT_GE(s.kl_narrower, 0.0);
  }
  EXPECT_DOUBLE_EQ(r.layers[18].kl_wider, ModelKl(start) - 0.01 * (1.0 - 0.25));
  // Combinations with n = 1..8 widened layers where the single moves predict a gain: from n = 7
  // the seventh widening (gain 0.00075) paid by two narrowings (0.003 each) no longer adds up.
  EXPECT_EQ(r.tried.size(), 6u);
  EXPECT_EQ(eval.largest_batch, 4u);
  EXPECT_EQ(eval.calls, 60 / 4 + 2);  // 60 single moves, then 6 combinations in batches of 4
}

TEST(KeyLayerSearch, KeepsTheStartWhenNoSingleMoveHelps) {
  const KvProfile start = LoadKvProfile("xquant-1.5", kConfigs);
  CountingEvaluator eval;
  eval.kl = [](const KvProfile&) { return 0.5; };  // nothing changes anything
  const KeyLayerSearchResult r = SearchKeyLayers(start, 0.5, kSmolLM2, eval.Get());
  EXPECT_EQ(r.profile.name, start.name);
  EXPECT_EQ(KeyBits(r.profile), KeyBits(start));
  EXPECT_EQ(r.kl, 0.5);
  EXPECT_TRUE(r.tried.empty());
}

// The single moves add up on paper, but together they hurt: measurement wins over prediction.
TEST(KeyLayerSearch, KeepsTheStartWhenTheCombinationMeasuresWorse) {
  const KvProfile start = LoadKvProfile("xquant-1.5", kConfigs);
  const std::vector<int> start_bits = KeyBits(start);
  CountingEvaluator eval;
  eval.kl = [&](const KvProfile& p) {
    const std::vector<int> bits = KeyBits(p);
    int moved = 0;
    for (size_t l = 0; l < bits.size(); ++l) moved += bits[l] != start_bits[l];
    return moved > 1 ? 1.0 : ModelKl(p);
  };
  const KeyLayerSearchResult r = SearchKeyLayers(start, ModelKl(start), kSmolLM2, eval.Get());
  EXPECT_FALSE(r.tried.empty());
  for (const auto& [name, kl] : r.tried) EXPECT_EQ(kl, 1.0) << name;
  EXPECT_EQ(KeyBits(r.profile), start_bits);
  EXPECT_EQ(r.kl, ModelKl(start));
}

// Here layer 5 matters most and layers 3-4 and the shared pairs least.
double PairWeight(int64_t layer) {
  if (layer == 5) return 0.01;
  return layer == 3 || layer == 4 || layer >= 16 ? 0.0001 : 0.001;
}

// xquant-1.15 shares key codes in the odd layers from 17 up (pairs 16-17 ... 28-29); with fp16
// keys in layers 0-1 too, only layers 2-15 may move, though the pairs would be cheaper to narrow.
TEST(KeyLayerSearch, SharedPairsAndFp16LayersKeepTheirWidth) {
  KvProfile start = LoadKvProfile("xquant-1.15", kConfigs);
  start.keys.rules.insert(start.keys.rules.begin(),
                          {{LayerThreshold{0, 0.0, "0"}, 16}, {LayerThreshold{2, 0.0, "2"}, 2}});
  CountingEvaluator eval;
  eval.kl = [](const KvProfile& p) { return ModelKl(p, PairWeight); };
  const KeyLayerSearchResult r =
      SearchKeyLayers(start, ModelKl(start, PairWeight), kSmolLM2, eval.Get());
  ASSERT_EQ(r.layers.size(), 14u);
  for (size_t i = 0; i < r.layers.size(); ++i) EXPECT_EQ(r.layers[i].layer, 2 + int64_t(i));
  const std::vector<int> bits = KeyBits(r.profile), start_bits = KeyBits(start);
  for (int l : {0, 1}) EXPECT_EQ(bits[l], 16);
  for (int l = 16; l < 30; ++l) EXPECT_EQ(bits[l], start_bits[l]) << l;
  EXPECT_LE(Account(r.profile).block_bytes, Account(start).block_bytes);
  EXPECT_EQ(bits[5], 4);
  EXPECT_EQ(bits[3], 1);
  EXPECT_EQ(bits[4], 1);
  EXPECT_LT(r.kl, ModelKl(start, PairWeight));
}

TEST(KeyLayerSearch, WithKeyBitsWritesIntegerRulesThatReadBack) {
  const KvProfile start = LoadKvProfile("xquant-1.5", kConfigs);
  std::vector<int> bits(30, 2);
  bits[0] = 4;
  bits[7] = 1;
  bits[29] = 8;
  const KvProfile p = WithKeyBits(start, bits);
  EXPECT_EQ(p.keys.bits, 4);
  ASSERT_EQ(p.keys.rules.size(), 4u);  // from 1: 2, from 7: 1, from 8: 2, from 29: 8
  EXPECT_EQ(KeyBits(p), bits);
  EXPECT_EQ(KeyBits(ParseKvProfile(KvProfileJson(p), "round trip")), bits);
}

}  // namespace
}  // namespace xq
