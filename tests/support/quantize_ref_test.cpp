// Reference quantizers: hand-computed blocks, gguf-py's quantizer (fixture), and round trips.
#include "tests/support/quantize_ref.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/model/dequantize.h"
#include "kernels/reference/half.h"

namespace xq::test {
namespace {

uint16_t U16(const std::vector<uint8_t>& b, size_t at) { return b[at] | (b[at + 1] << 8); }

TEST(QuantizeRefTest, Q8_0HandComputed) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax 127 -> d = 1
  x[1] = -3.4f;
  x[2] = 2.5f;  // roundf: half away from zero
  x[3] = -2.5f;
  const std::vector<uint8_t> q = QuantizeRow(GgmlType::kQ8_0, x.data(), 32);
  ASSERT_EQ(q.size(), 34u);
  EXPECT_EQ(U16(q, 0), 0x3c00);
  EXPECT_EQ(static_cast<int8_t>(q[2]), 127);
  EXPECT_EQ(static_cast<int8_t>(q[3]), -3);
  EXPECT_EQ(static_cast<int8_t>(q[4]), 3);
  EXPECT_EQ(static_cast<int8_t>(q[5]), -3);
  EXPECT_EQ(q[6], 0);
}

TEST(QuantizeRefTest, Q4_0HandComputed) {
  std::vector<float> x(32, 0.0f);
  x[5] = -16.0f;  // largest magnitude, negative: d = -16 / -8 = 2
  x[0] = 3.0f;    // 3 / 2 + 8.5 = 10 -> q 10
  x[16] = 14.5f;  // 7.25 + 8.5 = 15.75 -> 15 (clamped range top)
  x[17] = -1.1f;  // -0.55 + 8.5 = 7.95 -> 7
  const std::vector<uint8_t> q = QuantizeRow(GgmlType::kQ4_0, x.data(), 32);
  ASSERT_EQ(q.size(), 18u);
  EXPECT_EQ(HalfToFloat(U16(q, 0)), 2.0f);
  EXPECT_EQ(q[2 + 0], 10 | (15 << 4));
  EXPECT_EQ(q[2 + 1], 8 | (7 << 4));
  EXPECT_EQ(q[2 + 5] & 0xf, 0);  // -16 -> q 0
}

TEST(QuantizeRefTest, Q4_1HandComputed) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = -1.0f + 0.25f * static_cast<float>(i % 16);  // [-1, 2.75]
  const std::vector<uint8_t> q = QuantizeRow(GgmlType::kQ4_1, x.data(), 32);
  ASSERT_EQ(q.size(), 20u);
  EXPECT_EQ(HalfToFloat(U16(q, 0)), 0.25f);  // (2.75 - -1) / 15
  EXPECT_EQ(HalfToFloat(U16(q, 2)), -1.0f);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[4 + j], j | (j << 4)) << j;
}

// Q5: the 5th bits in the u32 qh (bit j for element j), the low nibbles as Q4's.
TEST(QuantizeRefTest, Q5_0AndQ5_1HandComputed) {
  std::vector<float> x(32, 0.0f);
  x[3] = -32.0f;  // largest magnitude, negative: d = -32 / -16 = 2
  x[0] = 3.0f;    // 1.5 + 16.5 = 18 -> q 18: low nibble 2, 5th bit set
  x[20] = 30.0f;  // 15 + 16.5 = 31.5 -> 31
  std::vector<uint8_t> q = QuantizeRow(GgmlType::kQ5_0, x.data(), 32);
  ASSERT_EQ(q.size(), 22u);
  EXPECT_EQ(HalfToFloat(U16(q, 0)), 2.0f);
  uint32_t qh;
  std::memcpy(&qh, &q[2], 4);
  // Zeros are q 16 (5th bit set) except x[3] (q 0).
  EXPECT_EQ(qh, ~(1u << 3));
  EXPECT_EQ(q[6 + 0], 2 | (0 << 4));
  EXPECT_EQ(q[6 + 3], 0 | (0 << 4));
  EXPECT_EQ(q[6 + 4], 0 | (15 << 4));                                          // x[20]: q 31
  for (int i = 0; i < 32; ++i) x[i] = -1.0f + 0.125f * static_cast<float>(i);  // [-1, 2.875]
  q = QuantizeRow(GgmlType::kQ5_1, x.data(), 32);
  ASSERT_EQ(q.size(), 24u);
  EXPECT_EQ(HalfToFloat(U16(q, 0)), 0.125f);  // (2.875 - -1) / 31
  EXPECT_EQ(HalfToFloat(U16(q, 2)), -1.0f);
  std::memcpy(&qh, &q[4], 4);
  EXPECT_EQ(qh, 0xffff0000u);  // q = i
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[8 + j], j | (j << 4)) << j;
}

TEST(QuantizeRefTest, AllZeroBlocksAndBadSizes) {
  std::vector<float> zeros(32, 0.0f);
  for (GgmlType t :
       {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    const std::vector<uint8_t> q = QuantizeRow(t, zeros.data(), 32);
    std::vector<float> back(32, 1.0f);
    DequantizeRow(t, q.data(), back.data(), 32);
    EXPECT_EQ(back, zeros);
  }
  EXPECT_THROW(QuantizeRow(GgmlType::kQ8_0, zeros.data(), 31), std::invalid_argument);
  EXPECT_THROW(QuantizeRow(GgmlType::kQ2_K, zeros.data(), 256), std::invalid_argument);
}

TEST(QuantizeRefTest, RoundTripErrorIsWithinHalfAStep) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
  for (GgmlType t :
       {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    const std::vector<uint8_t> q = QuantizeRow(t, x.data(), 256);
    std::vector<float> back(256);
    DequantizeRow(t, q.data(), back.data(), 256);
    // Rounding error (amax 3) is half a step: amax/127 for Q8_0, (max-min)/15 <= 2*amax/15 for Q4_1
    // and /31 for Q5_1. Q4_0 (Q5_0) maps -amax to -8 (-16) so +amax clamps at 7 (15): a whole
    // step, amax/8 (amax/16). Slack covers the fp16 scale.
    const float bound = t == GgmlType::kQ8_0   ? 1.5f / 127
                        : t == GgmlType::kQ4_0 ? 3.0f / 8
                        : t == GgmlType::kQ4_1 ? 0.2f
                        : t == GgmlType::kQ5_0 ? 3.0f / 16
                                               : 0.1f;
    for (int i = 0; i < 256; ++i) EXPECT_NEAR(back[i], x[i], bound + 1e-3f) << i;
  }
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::stoi(hex.substr(2 * i, 2), nullptr, 16);
  return out;
}

TEST(QuantizeRefTest, MatchesGgufPyQuantizer) {
  const std::string path = std::string(XQ_SOURCE_DIR) + "/tests/fixtures/dequant_blocks.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing fixture " << path;
  const nlohmann::json doc = nlohmann::json::parse(in);
  int seen = 0;
  for (const auto& c : doc.at("quantize")) {
    const std::string name = c.at("type");
    const GgmlType type = name == "Q8_0"   ? GgmlType::kQ8_0
                          : name == "Q4_0" ? GgmlType::kQ4_0
                                           : GgmlType::kQ4_1;
    const std::vector<uint8_t> in_bytes = FromHex(c.at("input_f32"));
    std::vector<float> x(in_bytes.size() / 4);
    std::memcpy(x.data(), in_bytes.data(), in_bytes.size());
    EXPECT_EQ(QuantizeRow(type, x.data(), static_cast<int64_t>(x.size())),
              FromHex(c.at("expected")))
        << name;
    ++seen;
  }
  EXPECT_EQ(seen, 3);
}

}  // namespace
}  // namespace xq::test
