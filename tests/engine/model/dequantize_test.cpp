// Dequantizers against hand-built blocks (expected values from each format's formula) and against
// gguf-py's dequantizer (tests/fixtures/dequant_blocks.json).
#include "engine/model/dequantize.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/common/error.h"

namespace xq {
namespace {

// Scales below are powers of two and quants small integers, so every expected value is exact.
constexpr uint16_t kHalfQuarter = 0x3400;    // 0.25
constexpr uint16_t kHalfHalf = 0x3800;       // 0.5
constexpr uint16_t kHalfOne = 0x3c00;        // 1.0
constexpr uint16_t kHalfTwo = 0x4000;        // 2.0
constexpr uint16_t kHalfEighth = 0x3000;     // 0.125
constexpr uint16_t kHalfMinus1_75 = 0xbf00;  // -1.75

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = v & 0xff;
  b[at + 1] = v >> 8;
}

// Quant values that differ between elements 32/64/128 apart, so a nibble or bit-plane mix-up shows.
int Pattern(int i, int mod) {
  return static_cast<int>((static_cast<uint32_t>(i) * 2654435761u) >> 9) % mod;
}

std::vector<float> Dequantize(GgmlType type, const std::vector<uint8_t>& raw, int64_t n) {
  std::vector<float> out(n, -12345.0f);
  DequantizeRow(type, raw.data(), out.data(), n);
  return out;
}

TEST(DequantizeTest, F32CopiesAndF16Bf16Convert) {
  const std::vector<float> f = {1.5f, -0.0f, 3e38f, -7.25f};
  std::vector<uint8_t> raw(16);
  std::memcpy(raw.data(), f.data(), 16);
  EXPECT_EQ(Dequantize(GgmlType::kF32, raw, 4), f);

  std::vector<uint8_t> h(6);
  PutU16(h, 0, 0x3c00);  // 1
  PutU16(h, 2, 0xc500);  // -5
  PutU16(h, 4, 0x0001);  // 2^-24
  EXPECT_EQ(Dequantize(GgmlType::kF16, h, 3), (std::vector<float>{1.0f, -5.0f, 0x1p-24f}));

  std::vector<uint8_t> b(4);
  PutU16(b, 0, 0x3fc0);  // 1.5
  PutU16(b, 2, 0xc2f7);  // -123.5
  EXPECT_EQ(Dequantize(GgmlType::kBF16, b, 2), (std::vector<float>{1.5f, -123.5f}));
}

TEST(DequantizeTest, Q4_0) {
  // Two blocks: byte j of qs holds element j (low nibble) and element j + 16 (high nibble).
  std::vector<uint8_t> raw(36);
  const uint16_t ds[2] = {kHalfQuarter, 0xb800 /* -0.5 */};
  const float dv[2] = {0.25f, -0.5f};
  std::vector<float> want(64);
  for (int blk = 0; blk < 2; ++blk) {
    PutU16(raw, 18 * blk, ds[blk]);
    for (int i = 0; i < 32; ++i) {
      const int q = Pattern(i + 32 * blk, 16);
      raw[18 * blk + 2 + i % 16] |= static_cast<uint8_t>(i < 16 ? q : q << 4);
      want[32 * blk + i] = static_cast<float>(q - 8) * dv[blk];
    }
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ4_0, raw, 64), want);
}

TEST(DequantizeTest, Q4_1) {
  std::vector<uint8_t> raw(20);
  PutU16(raw, 0, kHalfHalf);
  PutU16(raw, 2, kHalfMinus1_75);
  std::vector<float> want(32);
  for (int i = 0; i < 32; ++i) {
    const int q = Pattern(i, 16);
    raw[4 + i % 16] |= static_cast<uint8_t>(i < 16 ? q : q << 4);
    want[i] = static_cast<float>(q) * 0.5f - 1.75f;
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ4_1, raw, 32), want);
}

// Q5_0/Q5_1: bit i of the little-endian u32 qh is bit 4 of element i.
void PackQ5(std::vector<uint8_t>& raw, size_t qh_at, const int* q) {
  uint32_t qh = 0;
  for (int i = 0; i < 32; ++i) {
    raw[qh_at + 4 + i % 16] |= static_cast<uint8_t>(i < 16 ? (q[i] & 15) : (q[i] & 15) << 4);
    qh |= static_cast<uint32_t>(q[i] >> 4) << i;
  }
  for (int k = 0; k < 4; ++k) raw[qh_at + k] = (qh >> (8 * k)) & 0xff;
}

TEST(DequantizeTest, Q5_0) {
  std::vector<uint8_t> raw(22);
  PutU16(raw, 0, kHalfEighth);
  int q[32];
  for (int i = 0; i < 32; ++i) q[i] = Pattern(i, 32);
  q[31] = 31;  // top bit of qh
  q[16] = 16;  // bit 16: the first high-nibble element
  PackQ5(raw, 2, q);
  std::vector<float> want(32);
  for (int i = 0; i < 32; ++i) want[i] = static_cast<float>(q[i] - 16) * 0.125f;
  EXPECT_EQ(Dequantize(GgmlType::kQ5_0, raw, 32), want);

  // Literal bytes: only qh bit 16 and qs[0] = 0xf0 set: element 16 = (0xf | 0x10) - 16 = 15.
  std::vector<uint8_t> lit(22, 0);
  PutU16(lit, 0, kHalfOne);
  lit[2 + 2] = 0x01;
  lit[6] = 0xf0;
  const std::vector<float> got = Dequantize(GgmlType::kQ5_0, lit, 32);
  EXPECT_EQ(got[0], -16.0f);
  EXPECT_EQ(got[16], 15.0f);
  EXPECT_EQ(got[17], -16.0f);
}

TEST(DequantizeTest, Q5_1) {
  std::vector<uint8_t> raw(24);
  PutU16(raw, 0, kHalfTwo);
  PutU16(raw, 2, kHalfHalf);
  int q[32];
  for (int i = 0; i < 32; ++i) q[i] = Pattern(i + 7, 32);
  PackQ5(raw, 4, q);
  std::vector<float> want(32);
  for (int i = 0; i < 32; ++i) want[i] = static_cast<float>(q[i]) * 2.0f + 0.5f;
  EXPECT_EQ(Dequantize(GgmlType::kQ5_1, raw, 32), want);
}

TEST(DequantizeTest, Q8_0) {
  std::vector<uint8_t> raw(68);
  PutU16(raw, 0, kHalfHalf);
  PutU16(raw, 34, 0xc400);  // -4
  std::vector<float> want(64);
  for (int i = 0; i < 64; ++i) {
    const int q = (i * 37) % 256 - 128;  // includes -128 and 127-ish values
    raw[(i < 32 ? 2 : 36) + i % 32] = static_cast<uint8_t>(static_cast<int8_t>(q));
    want[i] = static_cast<float>(q) * (i < 32 ? 0.5f : -4.0f);
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ8_0, raw, 64), want);
}

// K-quant 6-bit scale/min packing of 8 sub-blocks into 12 bytes (Q4_K, Q5_K).
void PackScalesK4(uint8_t* out, const int* sc, const int* m) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

// Edge cases: 0, 63, values whose top two bits (which live in bytes 0-7) are 01, 10, 11.
constexpr int kScales[8] = {63, 0, 17, 40, 63, 16, 33, 48};
constexpr int kMins[8] = {0, 63, 32, 5, 63, 47, 0, 31};

TEST(DequantizeTest, Q4_K) {
  std::vector<uint8_t> raw(144, 0);
  PutU16(raw, 0, kHalfHalf);    // d
  PutU16(raw, 2, kHalfEighth);  // dmin
  PackScalesK4(&raw[4], kScales, kMins);
  std::vector<float> want(256);
  for (int i = 0; i < 256; ++i) {
    const int sub = i / 32, q = Pattern(i, 16);
    // Chunk of 64 = two sub-blocks sharing 32 bytes: low nibbles first, then high nibbles.
    raw[16 + 32 * (i / 64) + i % 32] |= static_cast<uint8_t>(q << (sub % 2 ? 4 : 0));
    want[i] = 0.5f * static_cast<float>(kScales[sub]) * static_cast<float>(q) -
              0.125f * static_cast<float>(kMins[sub]);
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ4_K, raw, 256), want);
}

TEST(DequantizeTest, Q4_KLiteralScaleBytes) {
  // d = 1, dmin = 2^-10, every quant 1: each sub-block reads sc - m / 1024.
  std::vector<uint8_t> raw(144, 0x11);
  PutU16(raw, 0, kHalfOne);
  PutU16(raw, 2, 0x1400);
  const uint8_t scales[12] = {0xC1, 0x3f, 0x80, 0x00, 0x42, 0x00,
                              0x7f, 0xff, 0x5A, 0x0f, 0xf0, 0x00};
  std::memcpy(&raw[4], scales, 12);
  // Decoded by hand: sub j<4: sc = byte[j] & 63, m = byte[j+4] & 63; sub j>=4: low 4 bits from
  // byte[j+4] (sc: low nibble, m: high nibble), top 2 bits from byte[j-4] (sc) / byte[j] (m).
  const int sc[8] = {1, 63, 0, 0, 0x0A | (3 << 4), 0x0F | (0 << 4), 0x00 | (2 << 4), 0};
  const int m[8] = {2, 0, 63, 63, 0x5 | (1 << 4), 0x0 | (0 << 4), 0xF | (1 << 4), 0 | (3 << 4)};
  const std::vector<float> got = Dequantize(GgmlType::kQ4_K, raw, 256);
  for (int s = 0; s < 8; ++s) {
    for (int l = 0; l < 32; ++l) {
      ASSERT_EQ(got[32 * s + l], static_cast<float>(sc[s]) - static_cast<float>(m[s]) / 1024.0f)
          << "sub-block " << s;
    }
  }
}

TEST(DequantizeTest, Q5_K) {
  std::vector<uint8_t> raw(176, 0);
  PutU16(raw, 0, kHalfQuarter);
  PutU16(raw, 2, kHalfTwo);
  PackScalesK4(&raw[4], kScales, kMins);
  std::vector<float> want(256);
  for (int i = 0; i < 256; ++i) {
    const int sub = i / 32, q = Pattern(i, 32);
    raw[48 + 32 * (i / 64) + i % 32] |= static_cast<uint8_t>((q & 15) << (sub % 2 ? 4 : 0));
    raw[16 + i % 32] |= static_cast<uint8_t>((q >> 4) << sub);  // bit `sub` of qh[l]
    want[i] = 0.25f * static_cast<float>(kScales[sub]) * static_cast<float>(q) -
              2.0f * static_cast<float>(kMins[sub]);
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ5_K, raw, 256), want);
}

TEST(DequantizeTest, Q6_K) {
  std::vector<uint8_t> raw(210, 0);
  const int8_t scales[16] = {1, -1, 127, -128, 0, 2, -3, 64, 5, -64, 7, 8, -9, 10, 100, -100};
  std::memcpy(&raw[192], scales, 16);
  PutU16(raw, 208, kHalfQuarter);
  std::vector<float> want(256);
  for (int i = 0; i < 256; ++i) {
    const int q = Pattern(i, 64);
    // Within each 128-element half h, part p = (i % 128) / 32 and l = i % 32: low 4 bits in
    // ql[64h + l + 32(p % 2)] (low nibble for p < 2, high for p >= 2), top 2 bits in qh[32h + l]
    // at bit 2p.
    const int h = i / 128, p = (i % 128) / 32, l = i % 32;
    raw[64 * h + l + 32 * (p % 2)] |= static_cast<uint8_t>((q & 15) << (p >= 2 ? 4 : 0));
    raw[128 + 32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * p));
    want[i] = 0.25f * static_cast<float>(scales[i / 16]) * static_cast<float>(q - 32);
  }
  EXPECT_EQ(Dequantize(GgmlType::kQ6_K, raw, 256), want);
}

TEST(DequantizeTest, Q6_KLiteralBytes) {
  std::vector<uint8_t> raw(210, 0);
  raw[0] = 0x21;          // ql[0]: element 0 low bits 1, element 64 low bits 2
  raw[128] = 0b11100100;  // qh[0]: top bits 0 (el. 0), 1 (el. 32), 2 (el. 64), 3 (el. 96)
  const int8_t scales[16] = {3, 0, 5, 0, 7, 0, -2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(&raw[192], scales, 16);
  PutU16(raw, 208, kHalfOne);
  const std::vector<float> got = Dequantize(GgmlType::kQ6_K, raw, 256);
  EXPECT_EQ(got[0], 3.0f * (1 - 32));
  EXPECT_EQ(got[32], 5.0f * (16 - 32));
  EXPECT_EQ(got[64], 7.0f * (34 - 32));
  EXPECT_EQ(got[96], -2.0f * (48 - 32));
  EXPECT_EQ(got[1], 3.0f * -32);
}

TEST(DequantizeTest, RejectsPartialBlocksAndUnsupportedTypes) {
  std::vector<uint8_t> raw(1024);
  std::vector<float> out(512);
  EXPECT_THROW(DequantizeRow(GgmlType::kQ4_0, raw.data(), out.data(), 31), Error);
  EXPECT_THROW(DequantizeRow(GgmlType::kQ6_K, raw.data(), out.data(), 128), Error);
  EXPECT_THROW(DequantizeRow(GgmlType::kQ2_K, raw.data(), out.data(), 256), Error);
  EXPECT_THROW(DequantizeRow(static_cast<GgmlType>(77), raw.data(), out.data(), 32), Error);
  EXPECT_NO_THROW(DequantizeRow(GgmlType::kQ4_0, raw.data(), out.data(), 0));
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::stoi(hex.substr(2 * i, 2), nullptr, 16);
  return out;
}

TEST(DequantizeTest, MatchesGgufPyOnRandomBlocks) {
  const std::string path = std::string(XQ_SOURCE_DIR) + "/tests/fixtures/dequant_blocks.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing fixture " << path;
  const nlohmann::json doc = nlohmann::json::parse(in);
  int types_seen = 0;
  for (const auto& c : doc.at("dequantize")) {
    const std::string name = c.at("type");
    const int64_t n = c.at("n");
    const std::vector<uint8_t> raw = FromHex(c.at("raw"));
    const std::vector<uint8_t> want_bytes = FromHex(c.at("expected_f32"));
    ASSERT_EQ(want_bytes.size(), static_cast<size_t>(n) * 4) << name;
    const std::vector<float> got =
        Dequantize(static_cast<GgmlType>(c.at("type_id").get<uint32_t>()), raw, n);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t want_bits, got_bits = std::bit_cast<uint32_t>(got[i]);
      std::memcpy(&want_bits, &want_bytes[4 * i], 4);
      // Bit-exact: both sides round every product and sum separately in fp32.
      ASSERT_EQ(got_bits, want_bits) << name << " element " << i << ": got " << got[i]
                                     << ", gguf-py " << std::bit_cast<float>(want_bits);
    }
    ++types_seen;
  }
  EXPECT_EQ(types_seen, 11);
}

}  // namespace
}  // namespace xq
