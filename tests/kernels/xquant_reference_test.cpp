// The reference XQuant quantizer on hand-built groups, and MakeKvBlockLayout's validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/include/xquant_kernels.h"
#include "kernels/include/xquant_params.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

using xqtest::DecodeLayer;
using xqtest::HalfAt;
using xqtest::UnpackCode;

KvLayerSpec Spec(int kb, int vb, float eta = 0.0f, bool share = false) {
  return {{kb, share, eta}, {vb, share, eta}};
}

// Token-major [G][H*D] rows from f(token, head, channel).
template <typename F>
std::vector<_Float16> Rows(const KvBlockLayout& L, F f) {
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens;
  std::vector<_Float16> x(G * H * D);
  for (int64_t j = 0; j < G; ++j)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) x[(j * H + h) * D + d] = static_cast<_Float16>(f(j, h, d));
  return x;
}

std::vector<uint8_t> Quantize(const KvBlockLayout& L, const std::vector<_Float16>& k,
                              const std::vector<_Float16>& v) {
  std::vector<uint8_t> block(L.block_bytes, 0xA5);
  for (int64_t l = 0; l < L.num_layers; ++l) {
    XqQuantizeBlockLayerReference(L, l, xqtest::AsFp16(k.data()), xqtest::AsFp16(v.data()),
                                  block.data());
  }
  return block;
}

// Ties at .5 (round half to even) and values on both sides of them; min 0, max 3.
const double kTwoBitGroup[16] = {0, 3, 1, 2, 0.5, 1.5, 2.5, 0.4, 0.6, 1.49, 2.51, 3, 0, 1, 2, 0.25};
const int kTwoBitCodes[16] = {0, 3, 1, 2, 0, 2, 2, 0, 1, 1, 3, 3, 0, 1, 2, 0};

TEST(XqQuantizeReference, KeyGroupsHaveKnownCodesAndParams) {
  // Channel d holds kTwoBitGroup * 2^(d % 4) - d: the same codes with s = 2^(d % 4), z = -d.
  for (float eta : {0.0f, 0.045f}) {
    const KvBlockLayout L = xqtest::MakeLayout(2, 16, 16, {Spec(2, 16, eta)});
    const auto k = Rows(L, [](int64_t j, int64_t h, int64_t d) {
      return kTwoBitGroup[j] * std::ldexp(1.0, d % 4) - d - 16 * h;
    });
    const auto block = Quantize(L, k, k);
    const KvLayerOffsets& o = L.offsets[0];
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t d = 0; d < 16; ++d) {
        const int64_t group = h * 16 + d;
        for (int64_t j = 0; j < 16; ++j) {
          EXPECT_EQ(UnpackCode(block.data() + o.k_codes + group * 4, j, 2), kTwoBitCodes[j])
              << "h " << h << " d " << d << " token " << j;
        }
        const double s = std::ldexp(1.0, d % 4), z = -d - 16.0 * h;
        const double s_cal = (1 - 2 * eta) * s, z_cal = z + eta * s * 3;
        EXPECT_NEAR(HalfAt(block.data() + o.k_params + group * 4), s_cal, std::abs(s_cal) / 1024);
        EXPECT_NEAR(HalfAt(block.data() + o.k_params + group * 4 + 2), z_cal,
                    std::abs(z_cal) / 1024);
        if (eta == 0.0f) {
          EXPECT_EQ(HalfAt(block.data() + o.k_params + group * 4), s);
          EXPECT_EQ(HalfAt(block.data() + o.k_params + group * 4 + 2), z);
        }
      }
    }
  }
}

TEST(XqQuantizeReference, ValueGroupsHaveKnownCodesAndParams) {
  // D = 32, G = 16: two channel groups per token; group c of token j, head h is
  // kTwoBitGroup * (c + 1) + j / 4 - 4 h (small, so fp16 keeps the non-ties off the ties).
  const KvBlockLayout L = xqtest::MakeLayout(2, 32, 16, {Spec(16, 2)});
  const auto v = Rows(L, [](int64_t j, int64_t h, int64_t d) {
    return kTwoBitGroup[d % 16] * (d / 16 + 1) + j / 4.0 - 4 * h;
  });
  const auto block = Quantize(L, v, v);
  const KvLayerOffsets& o = L.offsets[0];
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t j = 0; j < 16; ++j) {
      const uint8_t* codes = block.data() + o.v_codes + (h * 16 + j) * 8;
      for (int64_t d = 0; d < 32; ++d) EXPECT_EQ(UnpackCode(codes, d, 2), kTwoBitCodes[d % 16]);
      for (int64_t c = 0; c < 2; ++c) {
        const uint8_t* params = block.data() + o.v_params + ((h * 16 + j) * 2 + c) * 4;
        EXPECT_EQ(HalfAt(params), c + 1.0);
        EXPECT_EQ(HalfAt(params + 2), j / 4.0 - 4 * h);
      }
    }
  }
}

TEST(XqQuantizeReference, EightBitTiesRoundToEven) {
  const double x[16] = {0, 255, 0.5, 1.5, 2.5, 3.5, 254.5, 127.5, 128.5, 7, 7.25, 7.75, 0, 0, 0, 0};
  const int want[16] = {0, 255, 0, 2, 2, 4, 254, 128, 128, 7, 7, 8, 0, 0, 0, 0};
  const KvBlockLayout L = xqtest::MakeLayout(1, 16, 16, {Spec(8, 8)});
  const auto k = Rows(L, [&](int64_t j, int64_t, int64_t) { return x[j]; });
  const auto v = Rows(L, [&](int64_t, int64_t, int64_t d) { return x[d]; });
  const auto block = Quantize(L, k, v);
  for (int64_t i = 0; i < 16; ++i) {
    EXPECT_EQ(UnpackCode(block.data() + L.offsets[0].k_codes, i, 8), want[i]) << "key " << x[i];
    EXPECT_EQ(UnpackCode(block.data() + L.offsets[0].v_codes, i, 8), want[i]) << "value " << x[i];
  }
}

TEST(XqQuantizeReference, ConstantGroupReconstructsItsValueExactly) {
  for (int bits : {1, 2, 4, 8}) {
    const KvBlockLayout L = xqtest::MakeLayout(1, 32, 32, {Spec(bits, bits, 1.0f / 6)});
    const auto x = Rows(L, [](int64_t, int64_t, int64_t) { return -1.3; });
    const auto block = Quantize(L, x, x);
    const auto dense = DecodeLayer(L, 0, block.data());
    const double want = static_cast<double>(static_cast<_Float16>(-1.3));
    for (size_t i = 0; i < dense.k.size(); ++i) {
      ASSERT_EQ(dense.k[i], want) << bits << " bits, key " << i;
      ASSERT_EQ(dense.v[i], want) << bits << " bits, value " << i;
    }
    EXPECT_EQ(UnpackCode(block.data() + L.offsets[0].k_codes, 5, bits), 0);
  }
}

TEST(XqQuantizeReference, ExtremesMapToEndCodesWithoutSpilling) {
  // Large ranges, and the extremes sitting next to each other in the packed string.
  for (int bits : {1, 2, 4, 8}) {
    const int top = (1 << bits) - 1;
    const KvBlockLayout L = xqtest::MakeLayout(1, 16, 16, {Spec(bits, bits)});
    const auto x = Rows(L, [](int64_t j, int64_t, int64_t d) {
      const int64_t i = (j + d) % 16;
      return i % 2 == 0 ? -30000.0 : (i % 4 == 1 ? 30000.0 : 29990.0);
    });
    const auto block = Quantize(L, x, x);
    for (int64_t i = 0; i < 16; ++i) {
      const int want = i % 2 == 0 ? 0 : top;
      EXPECT_EQ(UnpackCode(block.data() + L.offsets[0].k_codes, i, bits), want) << bits << " " << i;
      EXPECT_EQ(UnpackCode(block.data() + L.offsets[0].v_codes, i, bits), want) << bits << " " << i;
    }
  }
}

TEST(XqQuantizeReference, ErrorIsAtMostHalfAStepWithoutCalibration) {
  std::mt19937 rng(7);
  for (int bits : {1, 2, 4, 8}) {
    const KvBlockLayout L = xqtest::MakeLayout(2, 64, 32, {Spec(bits, bits)});
    const int64_t H = 2, D = 64, G = 32;
    const auto k = xqtest::RandomHalves(rng, G * H * D, 3.0f);
    const auto v = xqtest::RandomHalves(rng, G * H * D, 0.5f);
    const auto block = Quantize(L, k, v);
    const auto dense = DecodeLayer(L, 0, block.data());
    const int top = (1 << bits) - 1;
    // Half a step, plus the fp16 rounding of s spread over up to `top` steps.
    auto check = [&](const std::vector<_Float16>& x, const std::vector<double>& got, auto index_of,
                     int64_t outer, const char* what) {
      for (int64_t a = 0; a < outer; ++a) {
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < G; ++i) {
          lo = std::min(lo, static_cast<double>(x[index_of(a, i)]));
          hi = std::max(hi, static_cast<double>(x[index_of(a, i)]));
        }
        const double s = (hi - lo) / top, bound = s / 2 + top * s / 2048 + 1e-7;
        for (int64_t i = 0; i < G; ++i) {
          const int64_t e = index_of(a, i);
          ASSERT_LE(std::abs(got[e] - x[e]), bound) << what << " " << bits << " bits, elt " << e;
        }
      }
    };
    // Key groups: (head, channel) over tokens; value groups: (token, head, group) over channels.
    check(
        k, dense.k, [&](int64_t a, int64_t j) { return j * H * D + a; }, H * D, "key");
    check(
        v, dense.v, [&](int64_t a, int64_t i) { return a * G + i; }, G * H * D / G, "value");
  }
}

// Finer key groups: each run of group_tokens tokens gets its own min-max, so two runs with
// far-apart integer ranges both reconstruct exactly at 2 bits, where one 32-token group cannot.
TEST(XqQuantizeReference, KeyTokenGroupsFitTheirOwnRuns) {
  for (int group : {0, 16, 8}) {
    KvLayerSpec spec = Spec(2, 16);
    spec.k.group_tokens = group;
    const KvBlockLayout L = xqtest::MakeLayout(2, 32, 32, {spec});
    EXPECT_EQ(L.offsets[0].v_codes - L.offsets[0].k_params, 2 * (32 / (group ? group : 32)) * 32 * 4);
    const auto k = Rows(L, [](int64_t j, int64_t h, int64_t d) {
      return (j < 16 ? 0 : 40 + 4 * h) + d % 4 + (j + d) % 4;  // integers, range 3 per run
    });
    const auto v = Rows(L, [](int64_t, int64_t, int64_t) { return 0.0; });
    const auto dense = DecodeLayer(L, 0, Quantize(L, k, v).data());
    double worst = 0;
    for (size_t i = 0; i < k.size(); ++i) {
      worst = std::max(worst, std::abs(dense.k[i] - static_cast<double>(k[i])));
    }
    if (group == 0) {
      EXPECT_GT(worst, 1.0) << "one group per block spans both runs";
    } else {
      EXPECT_EQ(worst, 0.0) << "group_tokens " << group;
    }
  }
}

// Value channel groups: each run of group_channels channels of a token gets its own min-max.
TEST(XqQuantizeReference, ValueChannelGroupsFitTheirOwnRuns) {
  for (int group : {0, 16, 8}) {
    KvLayerSpec spec = Spec(16, 2);
    spec.v.group_channels = group;
    const KvBlockLayout L = xqtest::MakeLayout(2, 64, 32, {spec});
    EXPECT_EQ(L.block_bytes - L.offsets[0].v_params, 2 * 32 * (64 / (group ? group : 32)) * 4);
    const auto k = Rows(L, [](int64_t, int64_t, int64_t) { return 0.0; });
    const auto v = Rows(L, [](int64_t j, int64_t h, int64_t d) {
      return (d / 8 % 2 ? 50 + h : 0) + j % 3 + d % 4;  // integers, range 3 per 8 channels
    });
    const auto dense = DecodeLayer(L, 0, Quantize(L, k, v).data());
    double worst = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      worst = std::max(worst, std::abs(dense.v[i] - static_cast<double>(v[i])));
    }
    if (group == 8) {
      EXPECT_EQ(worst, 0.0);
    } else {
      EXPECT_GT(worst, 1.0) << "group_channels " << group << " spans both ranges";
    }
  }
}

// MiniFloat codes: monotone, and the encoder picks the nearest one (ties either way).
TEST(XqParams, MiniFloatEncodesToTheNearestCode) {
  for (int k = 1; k < 256; ++k) ASSERT_LT(MiniFloat(k - 1), MiniFloat(k)) << k;
  EXPECT_EQ(MiniFloat(0), kMiniFloatMin);
  EXPECT_EQ(MiniFloat(255), kMiniFloatMax);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> log_r(0.0f, 14.0f);
  for (int i = 0; i < 20000; ++i) {
    const float r = std::exp2(log_r(rng));
    const int k = EncodeMiniFloat(r);
    ASSERT_TRUE(k >= 0 && k <= 255);
    const double err = std::abs(MiniFloat(k) - static_cast<double>(r));
    for (int other : {k - 1, k + 1}) {
      if (other < 0 || other > 255) continue;
      ASSERT_LE(err, std::abs(MiniFloat(other) - static_cast<double>(r))) << r << " -> " << k;
    }
  }
  EXPECT_EQ(EncodeMiniFloat(0.0f), 0);
  EXPECT_EQ(EncodeMiniFloat(NAN), 0);
  EXPECT_EQ(EncodeMiniFloat(1e9f), 255);
}

// 8-bit params cost half a byte-pair per group, and what they lose is bounded by their grid:
// a scale off by at most 1/64 of itself (or, below the head's largest / 252, by that floor) on
// each of `top` steps, and a zero point off by at most one zstep / 2 <= (max z - min z) / 254.
TEST(XqQuantizeReference, EightBitParamsStayWithinTheirGrid) {
  std::mt19937 rng(9);
  const int64_t H = 2, D = 64, G = 32;
  for (int bits : {1, 2, 4}) {
    for (int group : {0, 16}) {
      KvLayerSpec spec = Spec(bits, bits);
      spec.k.group_tokens = group;
      spec.v.group_channels = group;
      spec.k.param_bits = spec.v.param_bits = 8;
      const KvBlockLayout L = xqtest::MakeLayout(H, D, G, {spec});
      const int64_t T = group ? group : G, C = group ? group : G, top = (1 << bits) - 1;
      EXPECT_EQ(L.offsets[0].v_codes - L.offsets[0].k_params, H * (16 + G / T * D * 2));
      std::normal_distribution<float> n01(0.0f, 1.0f);
      auto k = Rows(L, [&](int64_t, int64_t, int64_t d) { return (d % 5) + (1 + d % 3) * n01(rng); });
      auto v = Rows(L, [&](int64_t, int64_t, int64_t) { return 0.5f * n01(rng); });
      const auto dense = DecodeLayer(L, 0, Quantize(L, k, v).data());
      // index(h, group, member) of the raw rows for keys and values.
      auto check = [&](const std::vector<_Float16>& x, const std::vector<double>& got,
                       int64_t groups, int64_t size, auto index, const char* what) {
        for (int64_t h = 0; h < H; ++h) {
          std::vector<double> s(groups), z(groups);
          double smax = 0, zmin = INFINITY, zmax = -INFINITY;
          for (int64_t g = 0; g < groups; ++g) {
            double lo = INFINITY, hi = -INFINITY;
            for (int64_t m = 0; m < size; ++m) {
              lo = std::min(lo, static_cast<double>(x[index(h, g, m)]));
              hi = std::max(hi, static_cast<double>(x[index(h, g, m)]));
            }
            s[g] = (hi - lo) / top, z[g] = lo;
            smax = std::max(smax, s[g]), zmin = std::min(zmin, lo), zmax = std::max(zmax, lo);
          }
          for (int64_t g = 0; g < groups; ++g) {
            const double ds = std::max(s[g] / 64, smax / 252);
            const double bound = s[g] / 2 + top * ds + (zmax - zmin) / 254 + 1e-5;
            for (int64_t m = 0; m < size; ++m) {
              const int64_t e = index(h, g, m);
              ASSERT_LE(std::abs(got[e] - x[e]), bound)
                  << what << " " << bits << " bits, group_tokens " << group << ", elt " << e;
            }
          }
        }
      };
      // Keys: group (t, d) holds tokens t*T .. t*T+T-1 of channel d; rows are [G][H][D].
      check(k, dense.k, G / T * D, T, [&](int64_t h, int64_t g, int64_t m) {
        return ((g / D * T + m) * H + h) * D + g % D;
      }, "key");
      check(v, dense.v, G * (D / C), C, [&](int64_t h, int64_t g, int64_t m) {
        return ((g / (D / C)) * H + h) * D + g % (D / C) * C + m;
      }, "value");
    }
  }
}

TEST(XqQuantizeReference, SharingLayerDecodesLowerCodesWithItsOwnParams) {
  std::mt19937 rng(11);
  const int64_t H = 2, D = 64, G = 32;
  for (int bits : {1, 2, 4, 8}) {
    // Layer 1 = 2 * layer 0 (exact in fp16): same codes, doubled params. Layer 3 shares layer 2's
    // codes but has independent data and its own eta.
    const KvBlockLayout L =
        xqtest::MakeLayout(H, D, G,
                           {Spec(bits, bits), Spec(bits, bits, 0.0f, true), Spec(bits, bits),
                            Spec(bits, bits, 1.0f / 6, true)});
    const auto x0 = xqtest::RandomHalves(rng, G * H * D);
    std::vector<_Float16> x1(x0.size());
    for (size_t i = 0; i < x0.size(); ++i) x1[i] = x0[i] * static_cast<_Float16>(2);
    const auto x3 = xqtest::RandomHalves(rng, G * H * D, 4.0f);
    std::vector<uint8_t> block(L.block_bytes, 0);
    XqQuantizeBlockLayerReference(L, 0, xqtest::AsFp16(x0.data()), xqtest::AsFp16(x0.data()),
                                  block.data());
    XqQuantizeBlockLayerReference(L, 2, xqtest::AsFp16(x0.data()), xqtest::AsFp16(x0.data()),
                                  block.data());
    const std::vector<uint8_t> before = block;
    XqQuantizeBlockLayerReference(L, 1, xqtest::AsFp16(x1.data()), xqtest::AsFp16(x1.data()),
                                  block.data());
    XqQuantizeBlockLayerReference(L, 3, xqtest::AsFp16(x3.data()), xqtest::AsFp16(x3.data()),
                                  block.data());
    // The lower layers' sections are untouched by their sharing partners.
    for (int64_t l : {0, 2}) {
      EXPECT_TRUE(std::equal(block.begin() + L.offsets[l].k_codes,
                             block.begin() + L.offsets[l + 1].k_params,
                             before.begin() + L.offsets[l].k_codes))
          << "layer " << l;
    }
    const auto d0 = DecodeLayer(L, 0, block.data()), d1 = DecodeLayer(L, 1, block.data());
    for (size_t i = 0; i < d0.k.size(); ++i) {
      ASSERT_EQ(d1.k[i], 2 * d0.k[i]) << bits << " bits, key " << i;
      ASSERT_EQ(d1.v[i], 2 * d0.v[i]) << bits << " bits, value " << i;
    }
    // Layer 3's params come from its own data and eta: key group (h, d) over tokens.
    const double eta = static_cast<double>(1.0f / 6), top = (1 << bits) - 1;
    for (int64_t g = 0; g < H * D; ++g) {
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t j = 0; j < G; ++j) {
        lo = std::min(lo, static_cast<double>(x3[j * H * D + g]));
        hi = std::max(hi, static_cast<double>(x3[j * H * D + g]));
      }
      const double s = (hi - lo) / top;
      const uint8_t* params = block.data() + L.offsets[3].k_params + g * 4;
      ASSERT_NEAR(HalfAt(params), (1 - 2 * eta) * s, s / 1000) << g;
      ASSERT_NEAR(HalfAt(params + 2), lo + eta * s * top, (std::abs(lo) + s * top) / 1000) << g;
    }
  }
}

TEST(XqQuantizeReference, Fp16SlotsAreBitExactCopies) {
  std::mt19937 rng(3);
  const int64_t H = 3, D = 64, G = 16;
  const KvBlockLayout L = xqtest::MakeLayout(H, D, G, {Spec(2, 2), Spec(16, 16)});
  auto k = xqtest::RandomHalves(rng, G * H * D), v = xqtest::RandomHalves(rng, G * H * D);
  k[5] = static_cast<_Float16>(-0.0f);
  v[7] = static_cast<_Float16>(1e-7f);  // subnormal
  const auto block = Quantize(L, k, v);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t j = 0; j < G; ++j) {
      const int64_t at = ((h * G + j) * D) * 2;
      ASSERT_EQ(0,
                std::memcmp(block.data() + L.offsets[1].k_codes + at, &k[(j * H + h) * D], 2 * D));
      ASSERT_EQ(0,
                std::memcmp(block.data() + L.offsets[1].v_codes + at, &v[(j * H + h) * D], 2 * D));
    }
  }
}

TEST(XqQuantizeReference, WritesOnlyItsOwnLayersSections) {
  std::mt19937 rng(5);
  const int64_t H = 2, D = 64, G = 32;
  for (int bits : {1, 8, 16}) {
    const KvBlockLayout L = xqtest::MakeLayout(
        H, D, G, {Spec(bits, 2), Spec(bits, 2, 0.1f, bits != 16), Spec(4, bits)});
    const auto k = xqtest::RandomHalves(rng, G * H * D), v = xqtest::RandomHalves(rng, G * H * D);
    auto start = [&](int64_t l) {
      if (l == L.num_layers) return L.block_bytes;
      const KvLayerOffsets& o = L.offsets[l];
      int64_t first = L.block_bytes;
      for (int64_t off : {o.k_codes, o.k_params, o.v_codes, o.v_params})
        if (off >= 0) first = std::min(first, off);
      return first;
    };
    for (int64_t l = 0; l < L.num_layers; ++l) {
      std::vector<uint8_t> block(L.block_bytes, 0x5A);
      XqQuantizeBlockLayerReference(L, l, xqtest::AsFp16(k.data()), xqtest::AsFp16(v.data()),
                                    block.data());
      for (int64_t b = 0; b < L.block_bytes; ++b) {
        if (b >= start(l) && b < start(l + 1)) continue;
        ASSERT_EQ(block[b], 0x5A) << "layer " << l << " wrote byte " << b;
      }
    }
  }
}

void ExpectInvalid(int64_t H, int64_t D, int64_t G, const std::vector<KvLayerSpec>& layers,
                   const std::string& names) {
  try {
    xqtest::MakeLayout(H, D, G, layers);
    ADD_FAILURE() << "accepted; expected an error naming " << names;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(XqBlockLayout, RejectsInvalidSpecs) {
  ExpectInvalid(2, 64, 32, {Spec(2, 2), Spec(3, 2)}, "layer 1.k.bits");
  ExpectInvalid(2, 64, 32, {Spec(2, 2, 0.0f, true)}, "layer 0.k.shares_codes");
  ExpectInvalid(2, 64, 32, {Spec(2, 1), {{2, false}, {2, true}}}, "layer 1.v.shares_codes");
  ExpectInvalid(2, 64, 32, {Spec(16, 16), Spec(16, 16, 0.0f, true)}, "layer 1.k.shares_codes");
  ExpectInvalid(2, 64, 32, {Spec(2, 2), Spec(2, 2, 0.0f, true), Spec(2, 2, 0.0f, true)},
                "layer 2.k.shares_codes");
  ExpectInvalid(2, 48, 32, {Spec(2, 2)}, "head_dim 48");
  ExpectInvalid(2, 64, 4, {Spec(1, 2)}, "layer 0.k");
  ExpectInvalid(2, 64, 32, {Spec(2, 2, 0.5f)}, "layer 0.k.eta");
  KvLayerSpec odd_group = Spec(2, 2), value_group = Spec(2, 2), byte_split = Spec(1, 1),
              param_bits = Spec(2, 2);
  odd_group.k.group_tokens = 12;
  value_group.v.group_tokens = 16;
  byte_split.k.group_tokens = 4;
  param_bits.v.param_bits = 4;
  KvLayerSpec channels = Spec(2, 2), key_channels = Spec(2, 2), channel_bytes = Spec(2, 1);
  channels.v.group_channels = 24;
  key_channels.k.group_channels = 16;
  channel_bytes.v.group_channels = 4;
  ExpectInvalid(2, 64, 32, {channels}, "layer 0.v.group_channels 24");
  ExpectInvalid(2, 64, 32, {key_channels}, "layer 0.k.group_channels");
  ExpectInvalid(2, 64, 32, {channel_bytes}, "layer 0.v: group_channels times bits");
  ExpectInvalid(2, 64, 32, {odd_group}, "layer 0.k.group_tokens 12");
  ExpectInvalid(2, 64, 32, {value_group}, "layer 0.v.group_tokens");
  ExpectInvalid(2, 64, 32, {byte_split}, "layer 0.k: group_tokens times bits");
  ExpectInvalid(2, 64, 32, {param_bits}, "layer 0.v.param_bits 4");
}

TEST(XqBlockLayout, SectionsAreAlignedAndDisjoint) {
  const int64_t H = 3, D = 128, G = 32;
  const KvBlockLayout L =
      xqtest::MakeLayout(H, D, G, {Spec(2, 1), Spec(2, 1, 0.1f, true), Spec(16, 8), Spec(4, 16)});
  std::vector<std::pair<int64_t, int64_t>> sections;  // [begin, end)
  for (int64_t l = 0; l < L.num_layers; ++l) {
    const KvLayerSpec& s = L.layers[l];
    const KvLayerOffsets& o = L.offsets[l];
    auto add = [&](int64_t at, int64_t bytes, bool present) {
      EXPECT_EQ(at >= 0, present) << "layer " << l;
      if (present) sections.push_back({at, at + bytes});
    };
    add(o.k_codes, s.k.bits == 16 ? H * G * D * 2 : H * D * G * s.k.bits / 8, !s.k.shares_codes);
    add(o.k_params, H * D * 4, s.k.bits != 16);
    add(o.v_codes, s.v.bits == 16 ? H * G * D * 2 : H * G * D * s.v.bits / 8, !s.v.shares_codes);
    add(o.v_params, H * G * (D / G) * 4, s.v.bits != 16);
  }
  std::sort(sections.begin(), sections.end());
  for (size_t i = 0; i < sections.size(); ++i) {
    EXPECT_EQ(sections[i].first % 16, 0);
    if (i + 1 < sections.size()) {
      EXPECT_LE(sections[i].second, sections[i + 1].first);
    }
  }
  EXPECT_LE(sections.back().second, L.block_bytes);
}

}  // namespace
}  // namespace xq
