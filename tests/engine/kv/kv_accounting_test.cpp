#include "engine/kv/kv_accounting.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/kv/kv_profile.h"

namespace xq {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kConfigs = std::filesystem::path(XQ_SOURCE_DIR) / "configs" / "kv";
constexpr int64_t kLayers = 30, kKvHeads = 3, kHeadDim = 64;  // SmolLM2-135M
constexpr int64_t kFp16PerToken = 2 * 30 * 3 * 64 * 2;        // K and V, 2 bytes each
constexpr double kElementsPerBlock = 32.0 * 30 * 2 * 3 * 64;

KvAccounting Account(const std::string& name) {
  const KvProfile p = LoadKvProfile(name, kConfigs);
  return ComputeKvAccounting(ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim), p.recent_window);
}

// Section sizes per layer at H = 3, D = 64, G = 32 (all multiples of 16, so no padding):
//   key codes   H*D*G*B/8 = 768*B    key params   H*D*4     = 768
//   value codes H*G*D*B/8 = 768*B    value params H*G*2*4   = 768
//   fp16 keys or values    H*G*D*2   = 12288
struct Expected {
  const char* name;
  double eq_bits;
  int64_t block_bytes;
};

void PrintTo(const Expected& e, std::ostream* os) { *os << e.name; }

// 8-bit params of one layer (3 heads): per head a 16-byte base and 2 bytes per group; keys have
// 2 x 64 groups (16-token groups), values 32 x 2.
constexpr int64_t kKeyParams8 = 3 * (16 + 2 * 64 * 2);
constexpr int64_t kValueParams8 = 3 * (16 + 32 * 2 * 2);

class KvAccountingShipped : public ::testing::TestWithParam<Expected> {};

TEST_P(KvAccountingShipped, MatchesHandCount) {
  const Expected& e = GetParam();
  const KvAccounting a = Account(e.name);
  EXPECT_DOUBLE_EQ(a.equivalent_bits, e.eq_bits);
  EXPECT_EQ(a.block_bytes, e.block_bytes);
  EXPECT_DOUBLE_EQ(a.bytes_per_token, e.block_bytes / 32.0);
  EXPECT_DOUBLE_EQ(a.real_bits_per_element, e.block_bytes * 8.0 / kElementsPerBlock);
  EXPECT_EQ(a.fp16_bytes_per_token, kFp16PerToken);
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, KvAccountingShipped,
    ::testing::Values(Expected{"fp16", 16.0, 30 * (12288 + 12288)},
                      Expected{"int8", 8.0, 30 * (6144 + 768 + 6144 + 768)},
                      Expected{"kivi-2", 2.0, 30 * (1536 + 768 + 1536 + 768)},
                      Expected{"asymkv-1.5", 1.5, 30 * (1536 + 768 + 768 + 768)},
                      Expected{"xquant-1.5", 1.5, 30 * (1536 + kKeyParams8 + 768 + kValueParams8)},
                      // xquant-1.5 with 4-bit key codes (3072 bytes) in layers 17..19 and 1-bit
                      // (768) in 24..29: 3 * 1536 bytes more, 6 * 768 fewer, the same params.
                      Expected{"xquant-1.5-smollm2", 1.5,
                               30 * (1536 + kKeyParams8 + 768 + kValueParams8) + 3 * 1536 -
                                   6 * 768},
                      // xquant-1.5's layout, but 7 odd layers (17..29) drop their 768-byte value
                      // codes (keeping their params): (60 + 30 - 7) / 60.
                      Expected{"xquant-1.38", 83.0 / 60.0,
                               30 * (1536 + kKeyParams8 + 768 + kValueParams8) - 7 * 768},
                      // ...and their 1536-byte key codes: (60 - 14 + 30 - 7) / 60.
                      Expected{"xquant-1.15", 69.0 / 60.0,
                               30 * (1536 + kKeyParams8 + 768 + kValueParams8) - 7 * (768 + 1536)},
                      // 1-bit key codes, the same params.
                      Expected{"xquant-1.0", 1.0, 30 * (768 + kKeyParams8 + 768 + kValueParams8)}),
    [](const ::testing::TestParamInfo<Expected>& info) {
      std::string s = info.param.name;
      for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return s;
    });

TEST(KvAccounting, RealBitsOfTheBaselines) {
  EXPECT_DOUBLE_EQ(Account("fp16").real_bits_per_element, 16.0);
  EXPECT_DOUBLE_EQ(Account("int8").real_bits_per_element, 9.0);    // 8 + 2*16/32
  EXPECT_DOUBLE_EQ(Account("kivi-2").real_bits_per_element, 3.0);  // 2 + 2*16/32
  EXPECT_EQ(Account("xquant-1.38").bytes_per_token, 3162.0);
}

TEST(KvAccounting, RealBitsIncludeSectionAlignment) {
  // H = 1, D = 8, G = 8, 1-bit K and V: key codes 8 B and value codes 8 B each pad to 16; params
  // are 8*4 = 32 B each. 96 B per layer for 8 tokens * 2 * 8 elements = 128 elements.
  const std::vector<KvLayerSpec> layers(2, KvLayerSpec{{1, false, 0.0f}, {1, false, 0.0f}});
  const KvAccounting a = ComputeKvAccounting(
      MakeKvBlockLayout(1, 8, 8, layers.data(), static_cast<int64_t>(layers.size())), 0);
  EXPECT_EQ(a.block_bytes, 2 * 96);
  EXPECT_DOUBLE_EQ(a.real_bits_per_element, 96 * 8 / 128.0);
  EXPECT_DOUBLE_EQ(a.equivalent_bits, 1.0);
}

TEST(KvAccounting, BytesPerTokenWithRecentWindow) {
  const KvAccounting a = Account("xquant-1.38");  // R = 128, G = 32, block 101184 B, 1 sink
  // Window tokens live in window pages of the pool: a window block of 32 tokens takes 8 pages
  // of 101184 bytes (263 fp16 rows of 384 bytes each; 2 * 30 * 32 rows), 9.8% more than raw
  // fp16.
  const double window = 8 * 101184.0 / 32;
  EXPECT_DOUBLE_EQ(a.window_bytes_per_token, window);
  // Shorter than the window: everything in window pages.
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 100), window);
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 128), window);
  // 200 tokens: frontier floor(72/32)*32 = 64, so 2 blocks + 136 window tokens + the sink's 32.
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 200), (2 * 101184.0 + (136 + 32) * window) / 200);
  // 4096 tokens: frontier 3968 = 124 blocks, 128 window tokens, 32 sink tokens.
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 4096), (124 * 101184.0 + (128 + 32) * window) / 4096);
  // No window: only the partial block is in a window page, and an fp16 block is exactly one
  // page, so it costs exactly fp16.
  const KvAccounting f = Account("fp16");
  EXPECT_DOUBLE_EQ(f.window_bytes_per_token, kFp16PerToken);
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(f, 100), kFp16PerToken);
  const KvAccounting q8 = Account("int8");  // 2 pages of 414720 bytes per window block
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(q8, 100), (3 * 414720.0 + 4 * 2 * 414720.0 / 32) / 100);
  EXPECT_THROW(BytesPerTokenAt(a, 0), std::invalid_argument);
}

TEST(KvAccounting, SinksCostTheirWindowPagesOnceTheyLeftTheWindow) {
  const KvProfile p = LoadKvProfile("asymkv-1.5", kConfigs);  // R = 128, block 115200 B, P = 7
  KvBlockLayout layout = ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim);
  const KvAccounting plain = ComputeKvAccounting(layout, p.recent_window);
  layout.sink_blocks = 2;
  const KvAccounting a = ComputeKvAccounting(layout, p.recent_window);
  EXPECT_EQ(a.block_bytes, plain.block_bytes) << "sinks change no block";
  const double window = 7 * 115200.0 / 32;
  // Within the window nothing has left it yet: no extra cost.
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 150), BytesPerTokenAt(plain, 150));
  // 170 tokens: frontier 32, so sink block 0 is held (block 1 has not left the window).
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 170), (1 * 115200.0 + (138 + 32) * window) / 170);
  // 4096 tokens: both sinks held, on top of 124 compressed blocks and the 128-token window.
  EXPECT_DOUBLE_EQ(BytesPerTokenAt(a, 4096), (124 * 115200.0 + (128 + 64) * window) / 4096);
  const std::string s = DescribeKvAccounting("sinky", layout, p.recent_window, 4096);
  EXPECT_THAT(s, HasSubstr("the first 64 tokens stay fp16 (attention sinks)"));
}

TEST(KvAccounting, SummaryNamesTheNumbers) {
  const KvProfile p = LoadKvProfile("xquant-1.38", kConfigs);
  const std::string s = DescribeKvAccounting(
      p.name, ResolveKvLayout(p, kLayers, kKvHeads, kHeadDim), p.recent_window, 4096);
  EXPECT_THAT(s, HasSubstr("xquant-1.38"));
  EXPECT_THAT(s, HasSubstr("K 2-bit L0-29, Hadamard-rotated, 16-token groups, 8-bit scales and "
                           "zero points; V 1-bit L0-29, codes shared by 7 layers from L17, "
                           "Hadamard-rotated, 8-bit scales and zero points"));
  EXPECT_THAT(s, HasSubstr("the first 32 tokens stay fp16 (attention sinks)"));
  EXPECT_THAT(s, HasSubstr("eta1=0.1667 eta2=0.045"));
  EXPECT_THAT(s, HasSubstr("1.383 equivalent bits"));
  EXPECT_THAT(s, HasSubstr("2.196 real bits"));
  EXPECT_THAT(s, HasSubstr("101184 bytes: 3162.0 bytes/token vs 23040"));
  EXPECT_THAT(s, HasSubstr("4051.3 bytes/token"));  // (124*101184 + 160*25296) / 4096
  const KvProfile k = LoadKvProfile("kivi-2", kConfigs);
  EXPECT_THAT(DescribeKvAccounting(k.name, ResolveKvLayout(k, kLayers, kKvHeads, kHeadDim),
                                   k.recent_window, 4096),
              HasSubstr("no calibration"));
}

// Prints the table in docs/KV_FORMAT.md (run with --gtest_filter=*PrintTable*).
TEST(KvAccounting, PrintTableForSmolLM2) {
  std::printf(
      "| profile | eq bits | real bits | block bytes | B/token | B/token @1024 | @4096 |\n");
  for (const std::string& name : ListKvProfiles(kConfigs)) {
    const KvAccounting a = Account(name);
    EXPECT_LE(a.equivalent_bits, a.real_bits_per_element);
    EXPECT_LE(a.bytes_per_token, BytesPerTokenAt(a, 4096));
    std::printf("| %s | %.3f | %.3f | %lld | %.1f | %.1f | %.1f |\n", name.c_str(),
                a.equivalent_bits, a.real_bits_per_element, static_cast<long long>(a.block_bytes),
                a.bytes_per_token, BytesPerTokenAt(a, 1024), BytesPerTokenAt(a, 4096));
  }
}

}  // namespace
}  // namespace xq
