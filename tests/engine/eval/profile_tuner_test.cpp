// The tuner's search without a model: candidates cover the grid and resolve for a real shape,
// the answer is the cheapest candidate within the KL budget, evaluation stops at the first batch
// that holds one, the real-bits cap removes candidates before any evaluation, and a tuned
// profile written as JSON reads back to the same layout.
#include "engine/eval/profile_tuner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace xq {
namespace {

constexpr ModelKvShape kSmolLM2{30, 3, 64};

KvProfile Base() {
  return LoadKvProfile("xquant-1.5", std::filesystem::path(XQ_SOURCE_DIR) / "configs" / "kv");
}

TEST(ProfileTuner, CandidatesCoverTheGridAndAllResolve) {
  const std::vector<KvProfile> c = TuneCandidates(Base());
  EXPECT_EQ(c.size(), 3u * 4u * 3u) << "the base already has 16-token key groups, 8-bit params";
  for (const KvProfile& p : c) {
    const KvBlockLayout L = ResolveKvLayout(p, 30, 3, 64);
    EXPECT_TRUE(L.layers[0].k.rotated && L.layers[0].v.rotated) << p.name;
    EXPECT_LE(L.sink_blocks, 2) << p.name;
  }
}

// A base with fp16 params also gets the grid again with 16-token key groups and 8-bit params,
// which the search may pick (cheaper blocks at the same bits).
TEST(ProfileTuner, AFp16ParamBaseAlsoTriesHalfBlockKeyGroupsWith8BitParams) {
  const KvProfile base =
      LoadKvProfile("asymkv-1.5", std::filesystem::path(XQ_SOURCE_DIR) / "configs" / "kv");
  const std::vector<KvProfile> c = TuneCandidates(base);
  ASSERT_EQ(c.size(), 2u * 3u * 4u * 3u);
  size_t fine = 0;
  for (const KvProfile& p : c) {
    const KvBlockLayout L = ResolveKvLayout(p, 30, 3, 64);
    if (p.keys.group_tokens == 16) {
      ++fine;
      EXPECT_EQ(L.layers[0].k.group_tokens, 16) << p.name;
      EXPECT_EQ(L.layers[0].k.param_bits, 8) << p.name;
      EXPECT_EQ(L.layers[0].v.param_bits, 8) << p.name;
    } else {
      EXPECT_EQ(p.keys.param_bits, 16) << p.name;
      EXPECT_EQ(p.values.param_bits, 16) << p.name;
    }
  }
  EXPECT_EQ(fine, c.size() / 2);
  // The same bits, sharing and sinks cost fewer bytes with 8-bit params.
  const auto bytes = [](const KvProfile& p) {
    return ComputeKvAccounting(ResolveKvLayout(p, 30, 3, 64), p.recent_window).block_bytes;
  };
  EXPECT_LT(bytes(c[c.size() / 2]), bytes(c[0]));
}

// KL falls as bytes grow (a made-up but monotone quality model), so the answer is the cheapest
// candidate whose KL is within budget; evaluating stops at its batch.
TEST(ProfileTuner, ReturnsTheCheapestWithinBudgetAndStopsEarly) {
  const std::vector<KvProfile> candidates = TuneCandidates(Base());
  std::map<std::string, double> bytes;
  for (const KvProfile& p : candidates) {
    const KvAccounting a = ComputeKvAccounting(ResolveKvLayout(p, 30, 3, 64), p.recent_window);
    bytes[p.name] = BytesPerTokenAt(a, 4096);
  }
  int calls = 0;
  auto evaluate = [&](const std::vector<KvProfile>& ps) {
    ++calls;
    std::vector<double> kl;
    for (const KvProfile& p : ps) kl.push_back(4000.0 / bytes[p.name] - 0.8);
    return kl;
  };
  const TuneResult r = TuneProfile(candidates, kSmolLM2, {.max_kl = 0.1, .batch = 4}, evaluate);
  ASSERT_TRUE(r.found);
  EXPECT_LE(r.best.kl, 0.1);
  for (const auto& [name, b] : bytes) {
    if (4000.0 / b - 0.8 <= 0.1) {
      EXPECT_GE(b, r.best.bytes_per_token) << name;
    }
  }
  EXPECT_EQ(r.tried.size(), static_cast<size_t>(calls) * 4);
  EXPECT_LT(r.tried.size(), candidates.size());
  EXPECT_TRUE(std::is_sorted(r.tried.begin(), r.tried.end(), [](const auto& a, const auto& b) {
    return a.bytes_per_token < b.bytes_per_token;
  }));
}

TEST(ProfileTuner, RealBitsCapAndAnImpossibleBudget) {
  const std::vector<KvProfile> candidates = TuneCandidates(Base());
  std::vector<double> seen_bits;
  auto evaluate = [&](const std::vector<KvProfile>& ps) {
    for (const KvProfile& p : ps) {
      seen_bits.push_back(ComputeKvAccounting(ResolveKvLayout(p, 30, 3, 64), p.recent_window)
                              .real_bits_per_element);
    }
    return std::vector<double>(ps.size(), 1.0);  // never good enough
  };
  const TuneResult r =
      TuneProfile(candidates, kSmolLM2, {.max_kl = 0.5, .max_real_bits = 2.5}, evaluate);
  EXPECT_FALSE(r.found);
  ASSERT_FALSE(seen_bits.empty());
  for (double b : seen_bits) EXPECT_LE(b, 2.5);
  EXPECT_LT(seen_bits.size(), candidates.size()) << "2-bit values exceed 2.5 real bits";
}

TEST(ProfileTuner, TunedProfilesRoundTripThroughJson) {
  for (const KvProfile& p : TuneCandidates(Base())) {
    const KvProfile back = ParseKvProfile(KvProfileJson(p), "tuned.json");
    const KvBlockLayout a = ResolveKvLayout(p, 30, 3, 64), b = ResolveKvLayout(back, 30, 3, 64);
    EXPECT_EQ(a.block_bytes, b.block_bytes) << p.name;
    EXPECT_EQ(a.sink_blocks, b.sink_blocks) << p.name;
    for (int64_t l = 0; l < 30; ++l) {
      for (const auto& [x, y] :
           {std::pair{a.layers[l].k, b.layers[l].k}, std::pair{a.layers[l].v, b.layers[l].v}}) {
        EXPECT_EQ(x.bits, y.bits) << p.name << " layer " << l;
        EXPECT_EQ(x.shares_codes, y.shares_codes) << p.name << " layer " << l;
        EXPECT_EQ(x.rotated, y.rotated) << p.name << " layer " << l;
        EXPECT_EQ(x.group_tokens, y.group_tokens) << p.name << " layer " << l;
        EXPECT_EQ(x.group_channels, y.group_channels) << p.name << " layer " << l;
        EXPECT_EQ(x.param_bits, y.param_bits) << p.name << " layer " << l;
        EXPECT_FLOAT_EQ(x.eta, y.eta) << p.name << " layer " << l;
      }
    }
    EXPECT_EQ(back.recent_window, p.recent_window);
  }
}

}  // namespace
}  // namespace xq
