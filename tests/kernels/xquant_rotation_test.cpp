// The KV rotation (kernels/include/xquant_rotation.h): the fast Walsh-Hadamard butterflies
// against the definition written out as a matrix product in double precision, orthogonality
// (inverse undoes forward; dot products survive, which is why attention is unchanged) and the
// signs being a real mix of +1 and -1.
#include "kernels/include/xquant_rotation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace xq {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Entry (i, j) of the Sylvester Hadamard matrix H_n: (-1)^popcount(i & j).
double SylvesterEntry(int64_t i, int64_t j) {
  return __builtin_popcountll(static_cast<uint64_t>(i & j)) % 2 ? -1.0 : 1.0;
}

// y = H_n (s ⊙ x) / sqrt(n) per block of n channels, as a plain matrix-vector product.
std::vector<double> RotateByDefinition(const std::vector<float>& x) {
  const int64_t d = static_cast<int64_t>(x.size()), n = RotationBlock(d);
  std::vector<double> y(d, 0.0);
  for (int64_t b = 0; b < d; b += n) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        y[b + i] += SylvesterEntry(i, j) * RotationSign(static_cast<uint32_t>(b + j)) * x[b + j];
      }
      y[b + i] /= std::sqrt(static_cast<double>(n));
    }
  }
  return y;
}

TEST(XquantRotation, BlockIsTheLargestPowerOfTwoDividingTheHead) {
  EXPECT_EQ(RotationBlock(64), 64);
  EXPECT_EQ(RotationBlock(128), 128);
  EXPECT_EQ(RotationBlock(96), 32);
  EXPECT_EQ(RotationBlock(80), 16);
}

TEST(XquantRotation, ButterfliesMatchTheMatrixDefinition) {
  for (int64_t d : {1, 2, 16, 64, 80, 96, 128, 256}) {
    const auto x = Random(d, static_cast<uint32_t>(d));
    auto y = x;
    RotateHead(y.data(), d, /*inverse=*/false);
    const auto want = RotateByDefinition(x);
    for (int64_t i = 0; i < d; ++i) ASSERT_NEAR(y[i], want[i], 1e-5) << "d " << d << " i " << i;
  }
}

TEST(XquantRotation, InverseUndoesForwardAndDotProductsSurvive) {
  for (int64_t d : {64, 96, 128}) {
    const auto a = Random(d, 1), b = Random(d, 2);
    auto ra = a, rb = b;
    RotateHead(ra.data(), d, false);
    RotateHead(rb.data(), d, false);
    double dot = 0, rdot = 0;
    for (int64_t i = 0; i < d; ++i) {
      dot += double(a[i]) * b[i];
      rdot += double(ra[i]) * rb[i];
    }
    EXPECT_NEAR(rdot, dot, 1e-4 * d) << d;
    RotateHead(ra.data(), d, /*inverse=*/true);
    for (int64_t i = 0; i < d; ++i) ASSERT_NEAR(ra[i], a[i], 1e-5) << "d " << d << " i " << i;
  }
}

// An outlier channel is what hurts low-bit groups; after rotation its energy is spread evenly.
TEST(XquantRotation, SpreadsAnOutlierOverTheBlock) {
  std::vector<float> x(64, 0.0f);
  x[5] = 8.0f;
  RotateHead(x.data(), 64, false);
  for (float v : x) EXPECT_FLOAT_EQ(std::fabs(v), 1.0f);
}

TEST(XquantRotation, SignsAreMixed) {
  int negative = 0;
  for (uint32_t c = 0; c < 1024; ++c) {
    const float s = RotationSign(c);
    ASSERT_TRUE(s == 1.0f || s == -1.0f);
    negative += s < 0;
  }
  EXPECT_GT(negative, 400);
  EXPECT_LT(negative, 624);
}

}  // namespace
}  // namespace xq
