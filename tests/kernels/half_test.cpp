// fp16 / bf16 conversions: special values, rounding ties, subnormals, and exhaustive properties.
#include "kernels/reference/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

namespace xq {
namespace {

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t b) { return std::bit_cast<float>(b); }

TEST(HalfTest, HalfToFloatSpecialValues) {
  EXPECT_EQ(Bits(HalfToFloat(0x0000)), 0u);
  EXPECT_EQ(Bits(HalfToFloat(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), 0x1p-14f);            // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);            // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), 1023.0f * 0x1p-24f);  // largest subnormal
  EXPECT_EQ(HalfToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x7c00), INFINITY);
  EXPECT_EQ(HalfToFloat(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));  // signalling NaN stays NaN
  EXPECT_TRUE(std::signbit(HalfToFloat(0xfe00)));
}

TEST(HalfTest, FloatToHalfRoundsToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);      // tie, 0x3c00 is even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie, 0x3c01 is odd
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(FloatToHalf(2047.5f), 0x6800);  // 2047.5 ties between 2047 (odd) and 2048 (even)
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.996f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // tie past the largest finite half: infinity
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-INFINITY), 0xfc00);
  const uint16_t nan = FloatToHalf(NAN);
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_NE(FloatToHalf(FromBits(0x7f800001)) & 0x03ff, 0);  // low-payload NaN is not inf
}

TEST(HalfTest, FloatToHalfSubnormals) {
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);  // tie with zero: even
  EXPECT_EQ(FloatToHalf(-0x1p-25f), 0x8000);
  EXPECT_EQ(FloatToHalf(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(FloatToHalf(3 * 0x1p-25f), 0x0002);         // 1.5 units: tie, to even 2
  EXPECT_EQ(FloatToHalf(5 * 0x1p-25f), 0x0002);         // 2.5 units: tie, to even 2
  EXPECT_EQ(FloatToHalf(0x1p-14f - 0x1p-25f), 0x0400);  // tie 0x3ff/0x400: up to normal
  EXPECT_EQ(FloatToHalf(0x1p-14f - 0x1p-24f), 0x03ff);
  EXPECT_EQ(FloatToHalf(1e-30f), 0x0000);
  EXPECT_EQ(FloatToHalf(FromBits(1)), 0x0000);  // fp32 subnormal
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
    }
  }
}

// For many fp32 values across the half range, the result must be a nearest half (ties to even),
// judged in double against its neighbours: independent of how FloatToHalf computes it.
TEST(HalfTest, FloatToHalfIsNearestOnRandomInputs) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int iter = 0; iter < 1 << 20; ++iter) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // Exponents from 2^-27 to 2^16, random mantissa and sign.
    const uint32_t exp = 100 + static_cast<uint32_t>((state >> 33) % 44);
    const uint32_t bits = ((state >> 63) << 31) | (exp << 23) | ((state >> 8) & 0x7fffff);
    const float f = FromBits(bits);
    const uint16_t h = FloatToHalf(f);
    const double x = std::fabs(static_cast<double>(f));
    const uint16_t mag = h & 0x7fff;
    ASSERT_EQ(h >> 15, bits >> 31);
    if (mag == 0x7c00) {
      ASSERT_GE(x, 65520.0) << f;
      continue;
    }
    const double got = HalfToFloat(mag);
    const double up = HalfToFloat(static_cast<uint16_t>(mag + 1));
    const double err = std::fabs(got - x);
    ASSERT_LE(err, std::fabs(up - x)) << f;
    if (mag > 0) {
      const double down = HalfToFloat(static_cast<uint16_t>(mag - 1));
      ASSERT_LE(err, std::fabs(down - x)) << f;
      if (err == std::fabs(down - x)) {
        ASSERT_EQ(mag & 1, 0) << f;
      }
    }
    if (err == std::fabs(up - x)) {
      ASSERT_EQ(mag & 1, 0) << f;
    }
  }
}

TEST(Bf16Test, Conversions) {
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(Bf16ToFloat(0x7f80), INFINITY);
  EXPECT_EQ(Bits(Bf16ToFloat(0x0001)), 0x00010000u);  // subnormal
  EXPECT_TRUE(std::isnan(Bf16ToFloat(0x7fc1)));

  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(FromBits(0x3f808000)), 0x3f80);  // tie, even stays
  EXPECT_EQ(FloatToBf16(FromBits(0x3f818000)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(FloatToBf16(FromBits(0x3f808001)), 0x3f81);
  EXPECT_EQ(FloatToBf16(FromBits(0x7f7fffff)), 0x7f80);  // FLT_MAX rounds to inf
  EXPECT_EQ(FloatToBf16(-INFINITY), 0xff80);
  EXPECT_EQ(FloatToBf16(FromBits(0x00018000)), 0x0002);  // subnormal tie to even
  EXPECT_EQ(FloatToBf16(FromBits(0x7f800001)), 0x7fc0);  // NaN made quiet, not inf
  EXPECT_EQ(FloatToBf16(FromBits(0xffc12345)), 0xffc1);
}

}  // namespace
}  // namespace xq
