// The SIMD XQuant kernels against the scalar references: quantization byte for byte, attention
// within fp32 summation-order tolerance, over random bit-widths, sharing, calibration, block
// sizes, head dims, GQA ratios, ragged lengths, decode and prefill chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/xquant_attention_isa.h"
#include "kernels/include/xquant_kernels.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

constexpr int kBits[] = {1, 2, 4, 8, kFp16Bits};

struct Shape {
  int64_t H, D, G, gq;
};

// How params are stored: key token groups, value channel groups (0 = the block) and param bits.
struct ParamFormat {
  int group_tokens = 0;
  int param_bits = kFp16Bits;
  int group_channels = 0;
};
constexpr ParamFormat kFormats[] = {{0, 16, 0}, {16, 16, 0}, {0, 8, 16}, {16, 8, 16}};

// Two layers; layer 1 optionally reads layer 0's codes.
KvBlockLayout TwoLayers(const Shape& s, int kb, int vb, bool share_k, bool share_v, bool eta,
                        ParamFormat f = {}) {
  auto slot = [&](int bits, bool share, bool key) {
    KvSlotSpec spec;
    spec.bits = bits;
    spec.shares_codes = share && bits != kFp16Bits;
    spec.eta = eta && bits != kFp16Bits ? (bits == 1 ? 1.0f / 6 : 0.045f) : 0.0f;
    spec.group_tokens = key ? f.group_tokens : 0;
    spec.group_channels = key ? 0 : f.group_channels;
    spec.param_bits = f.param_bits;
    return spec;
  };
  KvLayerSpec lower{slot(kb, false, true), slot(vb, false, false)};
  KvLayerSpec upper{slot(kb, share_k, true), slot(vb, share_v, false)};
  return xqtest::MakeLayout(s.H, s.D, s.G, {lower, upper});
}

// [tokens, H * D] fp16 rows: per-channel offsets and scales like post-RoPE keys, some constant
// channels (s == 0 groups) and exact ties.
std::vector<_Float16> RandomRows(int64_t tokens, int64_t width, std::mt19937& rng) {
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> offset(width), scale(width);
  for (int64_t c = 0; c < width; ++c) {
    offset[c] = n01(rng);
    scale[c] = c % 7 == 3 ? 0.0f : std::exp(n01(rng));
  }
  std::vector<_Float16> x(tokens * width);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < width; ++c) {
      const float v = c % 11 == 5 ? std::round(4 * n01(rng)) / 4 : offset[c] + scale[c] * n01(rng);
      x[t * width + c] = static_cast<_Float16>(v);
    }
  }
  return x;
}

// Blocks [0, num_blocks) of both layers quantized with `quantize` at block ids `table`.
template <typename Fn>
std::vector<uint8_t> BuildArena(const KvBlockLayout& L, const std::vector<_Float16> (&k)[2],
                                const std::vector<_Float16> (&v)[2], int64_t num_blocks,
                                const std::vector<int32_t>& table, Fn quantize) {
  std::vector<uint8_t> arena((table.empty() ? 1 : num_blocks + 1) * L.block_bytes, 0xA5);
  const int64_t row = L.num_kv_heads * L.head_dim, G = L.block_tokens;
  for (int64_t b = 0; b < num_blocks; ++b) {
    uint8_t* block = arena.data() + table[b] * L.block_bytes;
    for (int64_t l = 0; l < 2; ++l) {
      quantize(L, l, xqtest::AsFp16(k[l].data() + b * G * row),
               xqtest::AsFp16(v[l].data() + b * G * row), block);
    }
  }
  return arena;
}

TEST(XquantSimd, QuantizeMatchesReferenceByteForByte) {
  // Without AVX-512 the fast quantizer is the reference: nothing to compare.
  if (!DetectedCpuFeatures().avx512) GTEST_SKIP() << "this CPU has no AVX-512 quantizer path";
  const int64_t fast_before = XqQuantizePaths().Of(KernelPath::kAvx512);
  std::mt19937 rng(7);
  int cases = 0;
  for (const Shape s : {Shape{2, 64, 16, 1}, Shape{3, 64, 32, 1}, Shape{1, 128, 64, 1},
                        Shape{2, 128, 32, 1}, Shape{1, 64, 64, 1}}) {
    for (int kb : kBits) {
      for (int vb : kBits) {
        for (int variant = 0; variant < 16; ++variant) {
          const bool share_k = variant & 1, share_v = variant & 2, eta = (variant & 3) != 0;
          const ParamFormat format = kFormats[variant / 4];
          const KvBlockLayout L = TwoLayers(s, kb, vb, share_k, share_v, eta, format);
          const std::vector<_Float16> k[2] = {RandomRows(s.G, s.H * s.D, rng),
                                              RandomRows(s.G, s.H * s.D, rng)};
          const std::vector<_Float16> v[2] = {RandomRows(s.G, s.H * s.D, rng),
                                              RandomRows(s.G, s.H * s.D, rng)};
          const std::vector<int32_t> table = {0};
          const auto ref = BuildArena(L, k, v, 1, table, XqQuantizeBlockLayerReference);
          const auto fast = BuildArena(L, k, v, 1, table, XqQuantizeBlockLayer);
          size_t diff = 0;
          while (diff < ref.size() && ref[diff] == fast[diff]) ++diff;
          ASSERT_EQ(diff, ref.size())
              << "first differing byte " << diff << " of " << ref.size() << " (H " << s.H << " D "
              << s.D << " G " << s.G << " K" << kb << " V" << vb << " variant " << variant << ")";
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 5 * 25 * 16);
  // Every fast call (2 layers per case) took the AVX-512 path.
  EXPECT_EQ(XqQuantizePaths().Of(KernelPath::kAvx512) - fast_before, 2 * cases);
}

struct AttnCase {
  Shape s;
  int kb, vb;
  bool share_k, share_v, eta;
  int64_t length, n, R, extra_window;  // extra_window: window starts this many blocks early
  int64_t sinks = 0;                   // attention sink blocks (layout.sink_blocks)
  ParamFormat format;
};

std::string Describe(const AttnCase& c) {
  return "H " + std::to_string(c.s.H) + " D " + std::to_string(c.s.D) + " G " +
         std::to_string(c.s.G) + " gq " + std::to_string(c.s.gq) + " K" + std::to_string(c.kb) +
         (c.share_k ? "s" : "") + " V" + std::to_string(c.vb) + (c.share_v ? "s" : "") +
         (c.eta ? " eta" : "") + " len " + std::to_string(c.length) + " n " + std::to_string(c.n) +
         " R " + std::to_string(c.R) + " sinks " + std::to_string(c.sinks) + " key groups " +
         std::to_string(c.format.group_tokens) + " param bits " +
         std::to_string(c.format.param_bits) + " value groups " +
         std::to_string(c.format.group_channels);
}

constexpr XqAttentionIsa kSimdIsas[] = {XqAttentionIsa::kAvx512, XqAttentionIsa::kAvx2};
// Relative to the largest |value|: one fp16 rounding step of the probabilities (2^-11, see
// CheckAttention) plus fp32 summation order.
constexpr float kRelTol = 1.0f / 2048 + 1e-4f;

const char* IsaName(XqAttentionIsa isa) {
  return isa == XqAttentionIsa::kAvx512 ? "avx512" : isa == XqAttentionIsa::kAvx2 ? "avx2" : "?";
}

bool Available(XqAttentionIsa isa) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  return isa == XqAttentionIsa::kAvx512 ? cpu.avx512 : cpu.avx2;
}

KernelPath PathOf(XqAttentionIsa isa) {
  return isa == XqAttentionIsa::kAvx512 ? KernelPath::kAvx512 : KernelPath::kAvx2;
}

// Runs the reference and every SIMD path this CPU has on layer 1 (which reads shared codes when
// asked) and compares.
void CheckAttention(const AttnCase& c, std::mt19937& rng) {
  SCOPED_TRACE(Describe(c));
  const Shape& s = c.s;
  KvBlockLayout L = TwoLayers(s, c.kb, c.vb, c.share_k, c.share_v, c.eta, c.format);
  L.sink_blocks = c.sinks;
  const int64_t row = s.H * s.D, G = s.G, num_heads = s.H * s.gq;
  const int64_t padded = (c.length + G - 1) / G * G;
  const std::vector<_Float16> k[2] = {RandomRows(padded, row, rng), RandomRows(padded, row, rng)};
  const std::vector<_Float16> v[2] = {RandomRows(padded, row, rng), RandomRows(padded, row, rng)};
  const int64_t num_blocks = QuantizedFrontier(c.length, c.R, G) / G;
  std::vector<int32_t> table(num_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  auto arena = BuildArena(L, k, v, num_blocks, table, XqQuantizeBlockLayer);
  // The window's pages follow the blocks in the arena, in shuffled order.
  const int64_t first_frontier = QuantizedFrontier(c.length - c.n + 1, c.R, G);
  const int64_t window_start = std::max<int64_t>(0, first_frontier - c.extra_window * G);
  // Sinks that left the window come first in the list, with their own (here: other) data.
  const int64_t sink_pages = SinkBlocksHeld(L, window_start / G) * L.window_pages_per_block;
  const int64_t pages = sink_pages + xqtest::WindowPageCount(L, c.length - window_start);
  const int64_t first_page = static_cast<int64_t>(arena.size()) / L.block_bytes;
  arena.resize(arena.size() + pages * L.block_bytes, 0xA5);
  std::vector<int32_t> window_pages(pages);
  std::iota(window_pages.begin(), window_pages.end(), static_cast<int32_t>(first_page));
  std::shuffle(window_pages.begin(), window_pages.end(), rng);
  const std::vector<int32_t> sink_ids(window_pages.begin(), window_pages.begin() + sink_pages);
  const std::vector<int32_t> window_ids(window_pages.begin() + sink_pages, window_pages.end());
  const std::vector<_Float16> sink_k[2] = {RandomRows(G * c.sinks, row, rng),
                                           RandomRows(G * c.sinks, row, rng)};
  const std::vector<_Float16> sink_v[2] = {RandomRows(G * c.sinks, row, rng),
                                           RandomRows(G * c.sinks, row, rng)};
  xqtest::WriteWindowPages(L, 0, sink_pages / L.window_pages_per_block * G,
                           {sink_k[0].data(), sink_k[1].data()},
                           {sink_v[0].data(), sink_v[1].data()}, sink_ids, arena.data());
  xqtest::WriteWindowPages(L, window_start, c.length - window_start,
                           {k[0].data() + window_start * row, k[1].data() + window_start * row},
                           {v[0].data() + window_start * row, v[1].data() + window_start * row},
                           window_ids, arena.data());

  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> q(c.n * num_heads * s.D);
  for (auto& x : q) x = 2.0f * n01(rng);
  std::vector<float> out_ref(q.size(), NAN), out_fast(q.size());

  XqAttentionParams p;
  p.layout = &L;
  p.layer = 1;
  p.arena = arena.data();
  p.block_table = table.data();
  p.num_blocks = num_blocks;
  p.window_pages = window_pages.data();
  p.window_start = window_start;
  p.window_len = c.length - window_start;
  p.q = q.data();
  p.n = c.n;
  p.num_heads = num_heads;
  p.recent_window = c.R;
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.D));
  p.out = out_ref.data();
  XqAttentionReference(p);

  // Every output is a convex combination of values, so errors scale with the largest |value|.
  // Probabilities that weight fp16 values are rounded to fp16 as in the reference, but a
  // probability differing in the last fp32 bit can round to the neighbouring fp16 (2^-11
  // relative); when many do, the output moves by up to 2^-11 of max |v| (seen: 3.8e-4 with
  // 4-bit keys and fp16 values). The rest is fp32 summation order, far below that.
  float vmax = 0.0f;
  for (auto x : v[1]) vmax = std::max(vmax, std::fabs(static_cast<float>(x)));
  for (auto x : sink_v[1]) vmax = std::max(vmax, std::fabs(static_cast<float>(x)));
  const float tol = kRelTol * vmax;
  for (const XqAttentionIsa isa : kSimdIsas) {
    if (!Available(isa)) continue;
    ASSERT_TRUE(ForceXqAttentionIsa(isa));
    SCOPED_TRACE(IsaName(isa));
    p.out = out_fast.data();
    std::fill(out_fast.begin(), out_fast.end(), NAN);
    const int64_t before = XqAttentionPaths().Of(PathOf(isa));
    XqAttention(p);
    ForceXqAttentionIsa(XqAttentionIsa::kAuto);
    ASSERT_EQ(XqAttentionPaths().Of(PathOf(isa)) - before, 1) << "the fast path did not run";
    float worst = 0.0f;
    size_t worst_at = 0;
    for (size_t i = 0; i < out_ref.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out_fast[i])) << "output " << i;
      const float e = std::fabs(out_fast[i] - out_ref[i]);
      if (e > worst) worst = e, worst_at = i;
    }
    EXPECT_LE(worst, tol) << "at " << worst_at << ": " << out_fast[worst_at] << " vs "
                          << out_ref[worst_at];
  }
}

AttnCase RandomCase(std::mt19937& rng) {
  auto pick = [&](auto... xs) {
    const int64_t v[] = {static_cast<int64_t>(xs)...};
    return v[std::uniform_int_distribution<size_t>(0, sizeof...(xs) - 1)(rng)];
  };
  AttnCase c;
  c.s.G = pick(16, 32, 64);
  c.s.D = c.s.G == 64 ? pick(64, 128) : pick(32, 64, 128);
  c.s.H = pick(1, 2, 3);
  c.s.gq = pick(1, 3, 1, 3, 2, 5);
  c.kb = static_cast<int>(pick(1, 2, 4, 8, 16));
  c.vb = static_cast<int>(pick(1, 2, 4, 8, 16));
  c.share_k = pick(0, 1);
  c.share_v = pick(0, 1);
  c.eta = pick(0, 1);
  c.R = c.s.G * pick(0, 1, 2, 4);
  const int64_t G = c.s.G;
  c.length = pick(1, G - 1, G, G + 1, c.R, c.R + 1, c.R + G, 5 * G + 3, 300, 777);
  c.length = std::max<int64_t>(1, c.length);
  c.n = std::min(c.length, pick(1, 1, 2, G, 37, c.length));
  c.extra_window = pick(0, 0, 1);
  c.sinks = pick(0, 0, 1, 2);
  c.format = kFormats[pick(0, 1, 2, 3)];
  return c;
}

TEST(XquantSimd, AttentionMatchesReferenceOnRandomCases) {
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    CheckAttention(RandomCase(rng), rng);
    if (HasFatalFailure()) return;
  }
}

// Every bit-width pair with SmolLM2's shape at a length where blocks, the window and several
// parallel chunks are all in play, decode and a prefill chunk.
TEST(XquantSimd, AttentionAllBitPairsLongContext) {
  std::mt19937 rng(13);
  for (int kb : kBits) {
    for (int vb : kBits) {
      for (int64_t n : {1, 9}) {
        AttnCase c{{3, 64, 32, 3}, kb, vb, kb == 2, vb == 1, true, 2900, n, 128, 0};
        CheckAttention(c, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Key token groups and 8-bit params at SmolLM2's shape, the quantized bit-widths of the sub-2-bit
// profiles, with and without sharing.
TEST(XquantSimd, AttentionParamFormatsLongContext) {
  std::mt19937 rng(19);
  for (const ParamFormat f : kFormats) {
    for (int kb : {1, 2, 4}) {
      for (int vb : {1, 2}) {
        for (int64_t n : {1, 9}) {
          AttnCase c{{3, 64, 32, 3}, kb, vb, kb == 2, vb == 1, true, 2900, n, 128, 0, 1, f};
          CheckAttention(c, rng);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

// A sharp softmax makes the fp16 rounding of probabilities matter; R = 0 quantizes everything.
TEST(XquantSimd, AttentionPeakedScoresAndNoWindow) {
  std::mt19937 rng(17);
  for (int kb : kBits) {
    AttnCase c{{2, 128, 64, 2}, kb, 16, false, false, false, 1000, 3, 0, 0};
    CheckAttention(c, rng);
    if (HasFatalFailure()) return;
  }
}

// Forcing works exactly for the paths this CPU has; the attention cases above ran on each of
// them (checked per call through the path counters).
TEST(XquantSimd, ForcedIsaIsTheOneThatRuns) {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "no SIMD path on this CPU";
  for (const XqAttentionIsa isa : kSimdIsas) {
    ASSERT_EQ(ForceXqAttentionIsa(isa), Available(isa)) << IsaName(isa);
    if (Available(isa)) EXPECT_EQ(ActiveXqAttentionIsa(), isa);
  }
  ASSERT_TRUE(ForceXqAttentionIsa(XqAttentionIsa::kAuto));
  EXPECT_EQ(ActiveXqAttentionIsa(),
            Available(XqAttentionIsa::kAvx512) ? XqAttentionIsa::kAvx512 : XqAttentionIsa::kAvx2);
}

}  // namespace
}  // namespace xq
