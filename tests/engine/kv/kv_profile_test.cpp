#include "engine/kv/kv_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/common/error.h"

namespace xq {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kConfigs = std::filesystem::path(XQ_SOURCE_DIR) / "configs" / "kv";
constexpr int64_t kLayers = 30, kKvHeads = 3, kHeadDim = 64;  // SmolLM2-135M

std::vector<int64_t> SharedLayers(const std::vector<KvLayerSpec>& layers, bool keys) {
  std::vector<int64_t> out;
  for (size_t l = 0; l < layers.size(); ++l) {
    if ((keys ? layers[l].k : layers[l].v).shares_codes) out.push_back(static_cast<int64_t>(l));
  }
  return out;
}

std::vector<int64_t> OddFrom(int64_t first, int64_t end) {
  std::vector<int64_t> out;
  for (int64_t l = first; l < end; l += 2) out.push_back(l);
  return out;
}

TEST(KvProfile, ShippedProfilesAreListed) {
  EXPECT_THAT(ListKvProfiles(kConfigs),
              ::testing::IsSupersetOf({"fp16", "int8", "kivi-2", "asymkv-1.5", "xquant-1.5",
                                       "xquant-1.5-smollm2", "xquant-1.38", "xquant-1.15", "xquant-1.0"}));
}

TEST(KvProfile, EveryShippedProfileResolvesForSmolLM2) {
  for (const std::string& name : ListKvProfiles(kConfigs)) {
    SCOPED_TRACE(name);
    const KvProfile p = LoadKvProfile(name, kConfigs);
    EXPECT_EQ(p.name, name);
    EXPECT_FALSE(p.description.empty());
    const KvBlockLayout layout = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
    EXPECT_EQ(layout.num_layers, kLayers);
    EXPECT_GT(layout.block_bytes, 0);
  }
}

TEST(KvProfile, Xquant138SharesValueCodesOnOddUpperLayers) {
  const KvProfile p = LoadKvProfile("xquant-1.38", kConfigs);
  EXPECT_EQ(p.block_tokens, 32);
  EXPECT_EQ(p.recent_window, 128);
  const std::vector<KvLayerSpec> layers = ResolveLayers(p, kLayers);
  ASSERT_EQ(layers.size(), 30u);
  for (const KvLayerSpec& s : layers) {
    EXPECT_EQ(s.k.bits, 2);
    EXPECT_EQ(s.v.bits, 1);
    EXPECT_FLOAT_EQ(s.k.eta, 0.045f);
    EXPECT_NEAR(s.v.eta, 1.0 / 6.0, 1e-5);
    EXPECT_TRUE(s.k.rotated && s.v.rotated);
  }
  const KvBlockLayout layout = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
  EXPECT_EQ(layout.sink_blocks, 1);
  for (int64_t l = 0; l < kLayers; ++l) {  // xquant-1.5's groups and params
    EXPECT_EQ(layout.layers[l].k.group_tokens, 16);
    EXPECT_EQ(layout.layers[l].k.param_bits, 8);
    EXPECT_EQ(layout.layers[l].v.param_bits, 8);
  }
  EXPECT_TRUE(SharedLayers(layers, true).empty());
  // "50%" of 30 layers is 15, rounded up to the pair boundary 16.
  EXPECT_EQ(SharedLayers(layers, false), OddFrom(17, 30));
  // A 32-layer model gets the paper's setting: odd layers from 16 (17..31).
  EXPECT_EQ(SharedLayers(ResolveLayers(p, 32), false), OddFrom(17, 32));
}

TEST(KvProfile, Xquant115AlsoSharesKeys) {
  const std::vector<KvLayerSpec> layers =
      ResolveLayers(LoadKvProfile("xquant-1.15", kConfigs), kLayers);
  EXPECT_EQ(SharedLayers(layers, true), OddFrom(17, 30));
  EXPECT_EQ(SharedLayers(layers, false), OddFrom(17, 30));
}

TEST(KvProfile, BaselinesHaveNoCalibrationOrSharing) {
  for (const char* name : {"fp16", "int8", "kivi-2"}) {
    SCOPED_TRACE(name);
    const std::vector<KvLayerSpec> layers = ResolveLayers(LoadKvProfile(name, kConfigs), kLayers);
    const int bits = std::string(name) == "fp16" ? 16 : std::string(name) == "int8" ? 8 : 2;
    for (const KvLayerSpec& s : layers) {
      EXPECT_EQ(s.k.bits, bits);
      EXPECT_EQ(s.v.bits, bits);
      EXPECT_EQ(s.k.eta, 0.0f);
      EXPECT_EQ(s.v.eta, 0.0f);
      EXPECT_FALSE(s.k.shares_codes || s.v.shares_codes);
    }
  }
}

TEST(KvProfile, PercentThresholdsRoundUpToEvenLayers) {
  LayerThreshold half{std::nullopt, 50.0, "50%"};
  EXPECT_EQ(half.Resolve(30), 16);
  EXPECT_EQ(half.Resolve(32), 16);
  EXPECT_EQ(half.Resolve(31), 16);
  EXPECT_EQ(half.Resolve(12), 6);
  EXPECT_EQ((LayerThreshold{std::nullopt, 0.0, "0%"}.Resolve(30)), 0);
  EXPECT_EQ((LayerThreshold{std::nullopt, 100.0, "100%"}.Resolve(31)), 31);
  EXPECT_EQ((LayerThreshold{15, 0.0, "15"}.Resolve(30)), 15);
}

TEST(KvProfile, RulesApplyInOrderAndLaterOnesWin) {
  const KvProfile p = ParseKvProfile(R"({
    "calibration": false,
    "keys": {"bits": 2, "rules": [{"from_layer": 10, "bits": 1}, {"from_layer": "66.7%", "bits": 4}]},
    "values": {"bits": 16, "rules": [{"from_layer": 2, "bits": 8}]}})",
                                     "rules.json");
  EXPECT_EQ(p.name, "rules");  // defaults to the file stem
  const std::vector<KvLayerSpec> layers = ResolveLayers(p, kLayers);
  for (int64_t l = 0; l < kLayers; ++l) {
    SCOPED_TRACE(l);
    EXPECT_EQ(layers[l].k.bits, l < 10 ? 2 : l < 22 ? 1 : 4);  // 66.7% of 30 = 20.01 -> 22
    EXPECT_EQ(layers[l].v.bits, l < 2 ? 16 : 8);
    EXPECT_EQ(layers[l].k.eta, 0.0f);  // calibration off
  }
}

TEST(KvProfile, CustomEtaAndFp16SlotsUncalibrated) {
  const KvProfile p = ParseKvProfile(
      R"({"eta": {"1": 0.25, "4": 0.01}, "keys": {"bits": 4}, "values": {"bits": 16,
          "rules": [{"from_layer": 4, "bits": 1}]}})",
      "eta.json");
  const std::vector<KvLayerSpec> layers = ResolveLayers(p, 8);
  EXPECT_FLOAT_EQ(layers[0].k.eta, 0.01f);
  EXPECT_EQ(layers[0].v.eta, 0.0f);
  EXPECT_FLOAT_EQ(layers[5].v.eta, 0.25f);
  EXPECT_FLOAT_EQ(p.EtaFor(2), 0.045f);  // unspecified entries keep their defaults
}

// Our 1.5-bit profile: the AsymKV layout plus rotation of both halves and one sink block.
TEST(KvProfile, Xquant15IsRotatedWithOneSinkBlock) {
  const KvBlockLayout L =
      ResolveKvLayout(LoadKvProfile("xquant-1.5", kConfigs), kLayers, kKvHeads, kHeadDim);
  EXPECT_EQ(L.sink_blocks, 1);
  for (int64_t l = 0; l < kLayers; ++l) {
    EXPECT_EQ(L.layers[l].k.eta, 0.0f);  // keys uncalibrated: calibration costs retrieval
    EXPECT_EQ(L.layers[l].k.bits, 2);
    EXPECT_EQ(L.layers[l].v.bits, 1);
    EXPECT_TRUE(L.layers[l].k.rotated && L.layers[l].v.rotated);
    EXPECT_FALSE(L.layers[l].k.shares_codes || L.layers[l].v.shares_codes);
    EXPECT_EQ(L.layers[l].k.group_tokens, 16);  // finer key groups paid for with 8-bit params
    EXPECT_EQ(L.layers[l].k.param_bits, 8);
    EXPECT_EQ(L.layers[l].v.param_bits, 8);
  }
}

// xquant-1.5 for SmolLM2-135M: the same layout with key bits moved to layers 17..19.
TEST(KvProfile, Xquant15SmolLM2MovesKeyBitsToTheRetrievalLayers) {
  const KvProfile p = LoadKvProfile("xquant-1.5-smollm2", kConfigs);
  const KvBlockLayout L = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
  const KvBlockLayout base =
      ResolveKvLayout(LoadKvProfile("xquant-1.5", kConfigs), kLayers, kKvHeads, kHeadDim);
  EXPECT_EQ(L.sink_blocks, base.sink_blocks);
  for (int64_t l = 0; l < kLayers; ++l) {
    SCOPED_TRACE(l);
    const int expected_key_bits = l >= 24 ? 1 : l >= 20 ? 2 : l >= 17 ? 4 : 2;
    EXPECT_EQ(L.layers[l].k.bits, expected_key_bits);
    // eta is per code width: 1-bit keys are calibrated as 1-bit values are (eta1 = 1/6).
    EXPECT_EQ(L.layers[l].k.eta, expected_key_bits == 1 ? base.layers[l].v.eta : 0.0f);
    EXPECT_EQ(L.layers[l].v.bits, base.layers[l].v.bits);
    EXPECT_EQ(L.layers[l].v.eta, base.layers[l].v.eta);
    EXPECT_TRUE(L.layers[l].k.rotated && L.layers[l].v.rotated);
    EXPECT_FALSE(L.layers[l].k.shares_codes || L.layers[l].v.shares_codes);
    EXPECT_EQ(L.layers[l].k.group_tokens, 16);
    EXPECT_EQ(L.layers[l].k.param_bits, 8);
    EXPECT_EQ(L.layers[l].v.param_bits, 8);
  }
  EXPECT_EQ(L.block_bytes, base.block_bytes);  // 3 layers x 2 more bits = 6 layers x 1 fewer
  // Its layer numbers are SmolLM2's: a model too shallow for them is told so.
  EXPECT_THAT([&] { (void)ResolveKvLayout(p, 22, kKvHeads, kHeadDim); },
              ::testing::ThrowsMessage<Error>(
                  ::testing::HasSubstr("keys.rules[2].from_layer: layer 24 is beyond")));
}

TEST(KvProfile, RotationIsChosenPerHalfAndCarriedToEveryLayer) {
  const KvProfile p = ParseKvProfile(
      R"({"keys": {"bits": 2, "rotation": "hadamard"},
          "values": {"bits": 1, "rotation": "none", "share_from_layer": "50%"}})",
      "rot.json");
  const KvBlockLayout layout = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
  for (int64_t l = 0; l < kLayers; ++l) {
    EXPECT_TRUE(layout.layers[l].k.rotated) << l;
    EXPECT_FALSE(layout.layers[l].v.rotated) << l;
  }
  EXPECT_FALSE(
      ResolveLayers(ParseKvProfile(R"({"keys": {"bits": 2}, "values": {"bits": 1}})", "plain.json"),
                    2)[1]
          .k.rotated);
}

TEST(KvProfile, KeyGroupsAndParamBitsReachEveryLayerAndRoundTrip) {
  const KvProfile p = ParseKvProfile(
      R"({"keys": {"bits": 2, "group_tokens": 16, "param_bits": 8},
          "values": {"bits": 1, "param_bits": 8, "group_channels": 16,
                     "share_from_layer": "50%"}})",
      "groups.json");
  const KvBlockLayout layout = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
  for (int64_t l = 0; l < kLayers; ++l) {
    EXPECT_EQ(layout.layers[l].k.group_tokens, 16) << l;
    EXPECT_EQ(layout.layers[l].v.group_tokens, 0) << l;
    EXPECT_EQ(layout.layers[l].k.param_bits, 8) << l;
    EXPECT_EQ(layout.layers[l].v.param_bits, 8) << l;
    EXPECT_EQ(layout.layers[l].v.group_channels, 16) << l;
    EXPECT_EQ(layout.layers[l].k.group_channels, 0) << l;
  }
  // Keys: 2 groups of 64 channels per head, a byte pair each after a 16-byte base.
  EXPECT_EQ(layout.offsets[0].v_codes - layout.offsets[0].k_params, kKvHeads * (16 + 2 * 64 * 2));
  const KvProfile again = ParseKvProfile(KvProfileJson(p), "again.json");
  EXPECT_EQ(again.keys.group_tokens, 16);
  EXPECT_EQ(again.keys.param_bits, 8);
  EXPECT_EQ(again.values.param_bits, 8);
  EXPECT_EQ(again.values.group_tokens, 0);
  EXPECT_EQ(again.values.group_channels, 16);
}

// A layer decoding another layer's codes must read them in the same basis.
TEST(KvProfile, ASharedPairMustAgreeOnRotation) {
  std::vector<KvLayerSpec> layers(2);
  for (KvLayerSpec& l : layers) l.k.bits = l.v.bits = 2;
  layers[1].v.shares_codes = true;
  layers[0].v.rotated = true;
  EXPECT_THROW(MakeKvBlockLayout(kKvHeads, kHeadDim, 32, layers.data(), 2), std::invalid_argument);
  layers[1].v.rotated = true;
  EXPECT_NO_THROW(MakeKvBlockLayout(kKvHeads, kHeadDim, 32, layers.data(), 2));
}

TEST(KvProfile, LoadsByPathAndNamesUnknownProfiles) {
  const std::filesystem::path path = kConfigs / "kivi-2.json";
  EXPECT_EQ(LoadKvProfile(path.string(), "/nonexistent").name, "kivi-2");
  try {
    LoadKvProfile("no-such-profile", kConfigs);
    FAIL() << "expected xq::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no-such-profile.json"));
    EXPECT_THAT(e.what(), HasSubstr("xquant-1.38"));  // lists what exists
  }
}

TEST(KvProfile, ErrorsNameTheFileOfALoadedProfile) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "xq_kv_profile_test_bad.json";
  std::ofstream(path) << R"({"keys": {"bits": 3}, "values": {"bits": 1}})";
  try {
    LoadKvProfile(path.string());
    FAIL() << "expected xq::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": keys.bits: 3"));
  }
  std::filesystem::remove(path);
}

struct BadProfile {
  const char* label;
  const char* json;
  const char* field;  // must appear in the message after "bad.json: "
};

void PrintTo(const BadProfile& b, std::ostream* os) { *os << b.label; }

class KvProfileRejects : public ::testing::TestWithParam<BadProfile> {};

TEST_P(KvProfileRejects, NamingFileAndField) {
  const BadProfile& c = GetParam();
  try {
    const KvProfile p = ParseKvProfile(c.json, "bad.json");
    ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
    FAIL() << "accepted: " << c.json;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(std::string("bad.json: ") + c.field)) << e.what();
  }
}

#define KV(k, v) R"("keys": )" k R"(, "values": )" v
INSTANTIATE_TEST_SUITE_P(
    Cases, KvProfileRejects,
    ::testing::Values(
        BadProfile{"bits3", "{" KV(R"({"bits": 3})", R"({"bits": 1})") "}", "keys.bits"},
        BadProfile{"bits0", "{" KV(R"({"bits": 2})", R"({"bits": 0})") "}", "values.bits"},
        BadProfile{"bitsString", "{" KV(R"({"bits": "2"})", R"({"bits": 1})") "}", "keys.bits"},
        BadProfile{
            "ruleBits",
            "{" KV(R"({"bits": 2})", R"({"bits": 1, "rules": [{"from_layer": 3, "bits": 5}]})") "}",
            "values.rules[0].bits"},
        BadProfile{
            "mixedPair",
            "{" KV(
                R"({"bits": 2, "rules": [{"from_layer": 15, "bits": 1}], "share_from_layer": 0})",
                R"({"bits": 1})") "}",
            "keys.share_from_layer"},
        BadProfile{"sinksNotWholeBlocks",
                   R"({"sink_tokens": 20, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "sink_tokens"},
        BadProfile{"groupNotDividing",
                   "{" KV(R"({"bits": 2, "group_tokens": 12})", R"({"bits": 1})") "}",
                   "keys.group_tokens"},
        BadProfile{"groupOnValues",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "group_tokens": 16})") "}",
                   "values.group_tokens"},
        BadProfile{"groupSplitsBytes",
                   "{" KV(R"({"bits": 1, "group_tokens": 4})", R"({"bits": 1})") "}",
                   "keys.group_tokens"},
        BadProfile{"groupSplitsRuleBytes",
                   "{" KV(R"({"bits": 2, "group_tokens": 2, "rules": [{"from_layer": 4, "bits": 1}]})",
                          R"({"bits": 1})") "}",
                   "keys.group_tokens"},
        BadProfile{"channelsOnKeys",
                   "{" KV(R"({"bits": 2, "group_channels": 16})", R"({"bits": 1})") "}",
                   "keys.group_channels"},
        BadProfile{"channelsVsHeadDim",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "group_channels": 24})") "}",
                   "values.group_channels"},
        BadProfile{"channelsHuge",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "group_channels": 4294967312})") "}",
                   "values.group_channels"},
        BadProfile{"channelsSplitBytes",
                   "{" KV(R"({"bits": 2})", R"({"bits": 2, "group_channels": 2})") "}",
                   "values.group_channels"},
        BadProfile{"paramBits",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "param_bits": 4})") "}",
                   "values.param_bits"},
        BadProfile{"rotationName",
                   "{" KV(R"({"bits": 2, "rotation": "walsh"})", R"({"bits": 1})") "}",
                   "keys.rotation"},
        BadProfile{"rotationType", "{" KV(R"({"bits": 2})", R"({"bits": 1, "rotation": true})") "}",
                   "values.rotation"},
        BadProfile{"fp16Shared",
                   "{" KV(R"({"bits": 2})", R"({"bits": 16, "share_from_layer": "50%"})") "}",
                   "values.share_from_layer"},
        BadProfile{"window",
                   R"({"recent_window": 100, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "recent_window"},
        BadProfile{"negativeWindow",
                   R"({"recent_window": -32, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "recent_window"},
        BadProfile{"ruleBeyondDepth",
                   "{" KV(R"({"bits": 2, "rules": [{"from_layer": 31, "bits": 1}]})",
                          R"({"bits": 1})") "}",
                   "keys.rules[0].from_layer"},
        BadProfile{"shareBeyondDepth",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "share_from_layer": 40})") "}",
                   "values.share_from_layer"},
        BadProfile{"negativeLayer",
                   "{" KV(R"({"bits": 2, "share_from_layer": -2})", R"({"bits": 1})") "}",
                   "keys.share_from_layer"},
        BadProfile{"badPercent",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "share_from_layer": "150%"})") "}",
                   "values.share_from_layer"},
        BadProfile{"wordThreshold",
                   "{" KV(R"({"bits": 2})", R"({"bits": 1, "share_from_layer": "half"})") "}",
                   "values.share_from_layer"},
        BadProfile{"groupVsHeadDim",
                   R"({"block_tokens": 48, "recent_window": 96, )" KV(R"({"bits": 2})",
                                                                      R"({"bits": 1})") "}",
                   "block_tokens"},
        BadProfile{"partialBytes",
                   R"({"block_tokens": 4, "recent_window": 0, )" KV(R"({"bits": 1})",
                                                                    R"({"bits": 1})") "}",
                   "keys.bits"},
        BadProfile{"topLevelTypo",
                   R"({"recent_windw": 128, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "recent_windw: unknown key"},
        BadProfile{"slotTypo", "{" KV(R"({"bit": 2})", R"({"bits": 1})") "}",
                   "keys.bit: unknown key"},
        BadProfile{
            "ruleTypo",
            "{" KV(R"({"bits": 2, "rules": [{"from": 3, "bits": 1}]})", R"({"bits": 1})") "}",
            "keys.rules[0].from: unknown key"},
        BadProfile{"etaKey", R"({"eta": {"3": 0.1}, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "eta.3"},
        BadProfile{"etaRange", R"({"eta": {"1": 0.5}, )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "eta.1"},
        BadProfile{"calibrationType",
                   R"({"calibration": "yes", )" KV(R"({"bits": 2})", R"({"bits": 1})") "}",
                   "calibration"},
        BadProfile{"missingValues", R"({"keys": {"bits": 2}})", "values: missing"},
        BadProfile{"missingBits", "{" KV(R"({"rules": []})", R"({"bits": 1})") "}",
                   "keys.bits: missing"},
        BadProfile{"malformed", R"({"keys": {"bits": 2},, })", "malformed JSON"},
        BadProfile{"notObject", "[1, 2]", "(top level)"}),
    [](const ::testing::TestParamInfo<BadProfile>& info) { return std::string(info.param.label); });
#undef KV

}  // namespace
}  // namespace xq
