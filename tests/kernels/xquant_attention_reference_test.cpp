// XqAttentionReference against an fp32 "dequantize everything, then attend" oracle, and chunked
// prefill against one-token-at-a-time decoding over the same blocks and window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/include/xquant_kernels.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff

// Blocks quantized from per-layer token data, a window, and queries for the last n positions.
struct Problem {
  KvBlockLayout L;
  int64_t length = 0, n = 0, gqa = 1, recent_window = 0, window_start = 0, num_blocks = 0;
  std::vector<uint8_t> arena;
  std::vector<int32_t> table, window_pages;
  std::vector<std::vector<_Float16>> k, v;    // per layer [T][H*D] token data
  std::vector<std::vector<_Float16>> wk, wv;  // per layer [length - window_start][H*D]
  std::vector<std::vector<_Float16>> sk, sv;  // per layer [held * G][H*D]: the sinks' pages
  int64_t held = 0;                           // sink blocks in front of the window list
  std::vector<float> q;                       // [n][num_heads*D]

  int64_t NumHeads() const { return L.num_kv_heads * gqa; }
  int64_t Row() const { return L.num_kv_heads * L.head_dim; }

  XqAttentionParams Params(int64_t layer, float* out) const {
    XqAttentionParams p;
    p.layout = &L;
    p.layer = layer;
    p.arena = arena.data();
    p.block_table = table.data();
    p.num_blocks = num_blocks;
    p.window_pages = window_pages.data();
    p.window_start = window_start;
    p.window_len = length - window_start;
    p.q = q.data();
    p.n = n;
    p.num_heads = NumHeads();
    p.recent_window = recent_window;
    p.scale = 1.0f / std::sqrt(static_cast<float>(L.head_dim));
    p.out = out;
    return p;
  }
};

// consistent: the window holds the same tokens the blocks were quantized from (as in serving);
// otherwise independent data, so that reading a position from the wrong side shows.
// sink_blocks: the layout's attention sinks; those that have left the window get pages of their
// own in front of the window's (independent data too unless consistent).
Problem MakeProblem(const KvBlockLayout& L, int64_t length, int64_t n, int64_t gqa, int64_t R,
                    int64_t window_start, int64_t num_blocks, bool consistent, uint32_t seed,
                    int64_t sink_blocks = 0) {
  std::mt19937 rng(seed);
  Problem P;
  P.L = L;
  P.L.sink_blocks = sink_blocks;
  P.held = SinkBlocksHeld(P.L, window_start / L.block_tokens);
  P.length = length, P.n = n, P.gqa = gqa, P.recent_window = R;
  P.window_start = window_start, P.num_blocks = num_blocks;
  const int64_t G = L.block_tokens, row = P.Row();
  const int64_t tokens = std::max(length, num_blocks * G);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> channel_bias(row);
  for (auto& b : channel_bias) b = 1.5f * normal(rng);
  for (int64_t l = 0; l < L.num_layers; ++l) {
    // Keys with outlier channels; upper layers correlated with the one below, as in real models.
    std::vector<_Float16> k(tokens * row), v(tokens * row);
    for (int64_t i = 0; i < tokens * row; ++i) {
      float kx = normal(rng) + channel_bias[i % row], vx = normal(rng);
      if (l > 0) {
        kx = 0.8f * static_cast<float>(P.k[l - 1][i]) + 0.5f * kx;
        vx = 0.8f * static_cast<float>(P.v[l - 1][i]) + 0.5f * vx;
      }
      k[i] = static_cast<_Float16>(kx), v[i] = static_cast<_Float16>(vx);
    }
    P.k.push_back(std::move(k)), P.v.push_back(std::move(v));
    const int64_t first = window_start * row, last = length * row, sinks = P.held * G * row;
    if (consistent) {
      P.wk.emplace_back(P.k[l].begin() + first, P.k[l].begin() + last);
      P.wv.emplace_back(P.v[l].begin() + first, P.v[l].begin() + last);
      P.sk.emplace_back(P.k[l].begin(), P.k[l].begin() + sinks);
      P.sv.emplace_back(P.v[l].begin(), P.v[l].begin() + sinks);
    } else {
      P.wk.push_back(xqtest::RandomHalves(rng, last - first));
      P.wv.push_back(xqtest::RandomHalves(rng, last - first));
      P.sk.push_back(xqtest::RandomHalves(rng, sinks));
      P.sv.push_back(xqtest::RandomHalves(rng, sinks));
    }
  }
  // A shuffled table over a larger arena whose unused bytes are huge fp16 values (0x7B7B).
  // Window pages come from the same arena, shuffled among the blocks.
  const int64_t sink_pages = P.held * L.window_pages_per_block;
  const int64_t pages = sink_pages + xqtest::WindowPageCount(L, length - window_start);
  const int64_t capacity = num_blocks + 2 + pages;
  P.arena.assign(capacity * L.block_bytes, 0x7B);
  std::vector<int32_t> ids(capacity);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  P.table.assign(ids.begin(), ids.begin() + num_blocks);
  P.window_pages.assign(ids.begin() + num_blocks, ids.begin() + num_blocks + pages);
  std::vector<const _Float16*> wk_rows, wv_rows, sk_rows, sv_rows;
  for (int64_t l = 0; l < L.num_layers; ++l) {
    wk_rows.push_back(P.wk[l].data());
    wv_rows.push_back(P.wv[l].data());
    sk_rows.push_back(P.sk[l].data());
    sv_rows.push_back(P.sv[l].data());
  }
  const std::vector<int32_t> sink_ids(P.window_pages.begin(), P.window_pages.begin() + sink_pages);
  const std::vector<int32_t> window_ids(P.window_pages.begin() + sink_pages, P.window_pages.end());
  xqtest::WriteWindowPages(L, 0, P.held * G, sk_rows, sv_rows, sink_ids, P.arena.data());
  xqtest::WriteWindowPages(L, window_start, length - window_start, wk_rows, wv_rows, window_ids,
                           P.arena.data());
  for (int64_t b = 0; b < num_blocks; ++b) {
    for (int64_t l = 0; l < L.num_layers; ++l) {
      XqQuantizeBlockLayerReference(L, l, xqtest::AsFp16(P.k[l].data() + b * G * row),
                                    xqtest::AsFp16(P.v[l].data() + b * G * row),
                                    P.arena.data() + P.table[b] * L.block_bytes);
    }
  }
  P.q.resize(n * P.NumHeads() * L.head_dim);
  for (auto& x : P.q) x = normal(rng);
  return P;
}

// Naive attention in double over the decoded blocks and the window. The reference rounds q to
// fp16 against fp16 keys (mirrored here exactly) and probabilities to fp16 against fp16 values
// (allowed by `tol`, with fp32 roundoff of the dots, the softmax and the sums).
// worst: the largest tol relative to sum_j p_j |v_j|, to show the bound stays tight.
void Oracle(const Problem& P, int64_t layer, std::vector<double>& want, std::vector<double>& tol,
            double& worst) {
  const KvBlockLayout& L = P.L;
  const int64_t H = L.num_kv_heads, D = L.head_dim, G = L.block_tokens, row = P.Row();
  const int64_t heads = P.NumHeads();
  const bool k16 = L.layers[layer].k.bits == kFp16Bits, v16 = L.layers[layer].v.bits == kFp16Bits;
  std::vector<xqtest::DenseLayer> blocks;
  for (int64_t b = 0; b < P.num_blocks; ++b) {
    blocks.push_back(xqtest::DecodeLayer(L, layer, P.arena.data() + P.table[b] * L.block_bytes));
  }
  const double scale = 1.0f / std::sqrt(static_cast<float>(D));
  want.assign(P.n * heads * D, 0.0);
  tol.assign(P.n * heads * D, 0.0);
  worst = 0;
  for (int64_t t = 0; t < P.n; ++t) {
    const int64_t pos = P.length - P.n + t;
    const int64_t frontier = std::max<int64_t>(0, pos + 1 - P.recent_window) / G * G;
    const int64_t sink_end = std::min(L.sink_blocks * G, frontier);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / P.gqa;
      const float* q = P.q.data() + (t * heads + h) * D;
      std::vector<double> score(pos + 1), delta(pos + 1), kv(D), kmag(D);
      std::vector<std::vector<double>> val(pos + 1), vmag(pos + 1);
      std::vector<bool> half_value(pos + 1);
      for (int64_t j = 0; j <= pos; ++j) {
        bool half_key;
        val[j].resize(D), vmag[j].resize(D);
        for (int64_t d = 0; d < D; ++d) {
          if (j >= sink_end && j < frontier) {
            const auto& blk = blocks[j / G];
            const int64_t i = ((j % G) * H + g) * D + d;
            kv[d] = blk.k[i], kmag[d] = blk.k_mag[i], val[j][d] = blk.v[i],
            vmag[j][d] = blk.v_mag[i];
            half_key = k16, half_value[j] = v16;
          } else {
            const bool sink = j < P.held * G;  // else the window, which covers [window_start, ..)
            const int64_t i = (sink ? j : j - P.window_start) * row + g * D + d;
            kv[d] = static_cast<double>((sink ? P.sk : P.wk)[layer][i]), kmag[d] = std::abs(kv[d]);
            val[j][d] = static_cast<double>((sink ? P.sv : P.wv)[layer][i]);
            vmag[j][d] = std::abs(val[j][d]);
            half_key = true, half_value[j] = true;
          }
        }
        double dot = 0, mag = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double qd = half_key ? static_cast<double>(static_cast<_Float16>(q[d])) : q[d];
          dot += qd * kv[d], mag += std::abs(qd) * kmag[d];
        }
        score[j] = dot * scale;
        delta[j] = scale * mag * (D + 8) * kU + std::abs(score[j]) * 2 * kU;
      }
      const double top = *std::max_element(score.begin(), score.end());
      const double delta_max = *std::max_element(delta.begin(), delta.end());
      double sum = 0;
      for (int64_t j = 0; j <= pos; ++j) sum += std::exp(score[j] - top);
      double* out = want.data() + (t * heads + h) * D;
      double* bound = tol.data() + (t * heads + h) * D;
      std::vector<double> mass(D, 0.0);
      for (int64_t j = 0; j <= pos; ++j) {
        const double p = std::exp(score[j] - top) / sum;
        const double dp_scores = p * (std::exp(delta[j] + delta_max) - 1);
        const double dp_half = half_value[j] ? std::max(p / 2048, 1.0 / (1 << 25)) : 0.0;
        for (int64_t d = 0; d < D; ++d) {
          out[d] += p * val[j][d];
          mass[d] += p * std::abs(val[j][d]);
          bound[d] +=
              (dp_scores + dp_half) * std::abs(val[j][d]) + p * vmag[j][d] * (2 * pos + 40) * kU;
        }
      }
      for (int64_t d = 0; d < D; ++d) {
        worst = std::max(worst, bound[d] / mass[d]);
        bound[d] = bound[d] * 1.05 + 1e-7;
      }
    }
  }
}

void ExpectMatchesOracle(const Problem& P, int64_t layer) {
  std::vector<float> got(P.n * P.NumHeads() * P.L.head_dim, NAN);
  XqAttentionReference(P.Params(layer, got.data()));
  std::vector<double> want, tol;
  double worst = 0;
  Oracle(P, layer, want, tol, worst);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(got[i] - want[i]), tol[i])
        << "layer " << layer << ", query " << i / (P.NumHeads() * P.L.head_dim) << ", head "
        << i / P.L.head_dim % P.NumHeads() << ", channel " << i % P.L.head_dim << ": got " << got[i]
        << " want " << want[i];
  }
  // fp16 rounding of p (2^-11) plus that of q: tight enough to catch one misplaced position out
  // of a few hundred (p ~ 1/300 times an O(1) value difference).
  EXPECT_LT(worst, 1.5e-3);
}

int64_t Frontier(int64_t length, int64_t R, int64_t G) {
  return std::max<int64_t>(0, length - R) / G * G;
}

const int kBits[] = {1, 2, 4, 8, 16};

float EtaFor(int bits) {
  return bits == 1 ? 1.0f / 6 : bits == 2 ? 0.045f : bits == 16 ? 0 : 0.01f;
}

class XqAttentionReferenceOracle : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(XqAttentionReferenceOracle, MatchesDequantizedFp32Attention) {
  const auto [ki, vi] = GetParam();
  const int kb = kBits[ki], vb = kBits[vi];
  for (int share = 0; share < 2; ++share) {
    if (share && kb == kFp16Bits && vb == kFp16Bits) continue;
    // Shapes cycle over the parameter space so that every value meets several bit pairs.
    const int c = (ki * 5 + vi) * 2 + share;
    const int64_t G = (int64_t[]){16, 32, 64}[c % 3], D = (c / 3) % 2 ? 128 : 64;
    const int64_t H = 1 + (c / 2) % 3, gqa = (c / 5) % 2 ? 3 : 1;
    const bool calibrate = c % 4 < 2;
    // Param formats cycle too: keys in half-block token groups and values in half-block channel
    // groups, 8-bit params.
    const int format = (c / 4 + c) % 4;
    auto slot = [&](int bits, bool shares, float boost, bool key) {
      KvSlotSpec spec{bits, shares && bits != kFp16Bits, calibrate ? EtaFor(bits) * boost : 0};
      spec.group_tokens = key && format & 1 ? static_cast<int>(G / 2) : 0;
      spec.group_channels = !key && format & 1 ? static_cast<int>(G / 2) : 0;
      spec.param_bits = format & 2 ? 8 : kFp16Bits;
      return spec;
    };
    const KvBlockLayout L =
        xqtest::MakeLayout(H, D, G,
                           {{slot(kb, false, 1, true), slot(vb, false, 1, false)},
                            {slot(kb, share, 1.5f, true), slot(vb, share, 1.5f, false)}});
    for (int64_t R : {0, 32, 128}) {
      if (R % G != 0) continue;
      const std::vector<int64_t> lengths = {1,         G - 1, G,         G + 1,
                                            R + G - 1, R + G, R + G + 1, R + 2 * G + 5};
      for (size_t i = 0; i < lengths.size(); ++i) {
        const int64_t length = lengths[i];
        if (length < 1) continue;
        for (int64_t n : {int64_t{1}, std::min<int64_t>(length, 37)}) {
          if (n > 1 && i % 3 != 2 && i + 1 != lengths.size()) continue;
          const int64_t first = Frontier(length - n + 1, R, G);
          // The window starts at a block boundary (its pages are whole window blocks), at the
          // first query's frontier or a block earlier (overlapping the compressed blocks).
          const int64_t window_start = i % 2 ? std::max<int64_t>(0, first - G) : first;
          int64_t num_blocks = Frontier(length, R, G) / G;
          if (i % 2 && (num_blocks + 1) * G <= length) ++num_blocks;
          SCOPED_TRACE(::testing::Message()
                       << "K" << kb << " V" << vb << " share " << share << " G " << G << " D " << D
                       << " H " << H << " gqa " << gqa << " eta " << calibrate << " format "
                       << format << " R " << R
                       << " length " << length << " n " << n << " window_start " << window_start
                       << " blocks " << num_blocks);
          const Problem P = MakeProblem(L, length, n, gqa, R, window_start, num_blocks, false,
                                        static_cast<uint32_t>(c * 1000 + R * 10 + i));
          ExpectMatchesOracle(P, 0);
          ExpectMatchesOracle(P, 1);
          // The same with one or two attention sinks, once the first block has left the window
          // (the sinks then have fp16 pages of their own; before, nothing changes).
          if (window_start < G) continue;
          const Problem S = MakeProblem(L, length, n, gqa, R, window_start, num_blocks, false,
                                        static_cast<uint32_t>(c * 1000 + R * 10 + i), 1 + i % 2);
          ExpectMatchesOracle(S, 0);
          ExpectMatchesOracle(S, 1);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBitPairs, XqAttentionReferenceOracle,
                         ::testing::Combine(::testing::Range(0, 5), ::testing::Range(0, 5)),
                         [](const auto& info) {
                           return (::testing::Message() << "K" << kBits[std::get<0>(info.param)]
                                                        << "_V" << kBits[std::get<1>(info.param)])
                               .GetString();
                         });

// The frontier rule makes each query of a prefill chunk see exactly what decoding it alone
// would: same blocks, same window positions, so identical bits.
TEST(XqAttentionReference, ChunkedPrefillEqualsTokenByTokenDecode) {
  struct Case {
    int kb, vb;
    bool share;
    int64_t G, R, D, H, gqa;
  };
  for (const Case& cs : {Case{2, 1, true, 32, 128, 64, 3, 3}, Case{4, 16, false, 16, 32, 128, 1, 1},
                         Case{16, 16, false, 64, 0, 64, 2, 3}, Case{8, 2, true, 16, 0, 64, 2, 1}}) {
    const KvSlotSpec k0{cs.kb, false, EtaFor(cs.kb)}, v0{cs.vb, false, EtaFor(cs.vb)};
    KvSlotSpec k1 = k0, v1 = v0;
    k1.shares_codes = cs.share && cs.kb != kFp16Bits;
    v1.shares_codes = cs.share && cs.vb != kFp16Bits;
    const KvBlockLayout L = xqtest::MakeLayout(cs.H, cs.D, cs.G, {{k0, v0}, {k1, v1}});
    const int64_t n = 37, length = cs.R + 3 * cs.G + 9;
    const int64_t window_start = Frontier(length - n + 1, cs.R, cs.G);
    const Problem P = MakeProblem(L, length, n, cs.gqa, cs.R, window_start,
                                  Frontier(length, cs.R, cs.G) / cs.G, true, 99);
    const int64_t width = P.NumHeads() * cs.D;
    for (int64_t layer = 0; layer < 2; ++layer) {
      std::vector<float> chunk(n * width), single(n * width);
      XqAttentionReference(P.Params(layer, chunk.data()));
      for (int64_t t = 0; t < n; ++t) {
        const int64_t pos = length - n + t;
        XqAttentionParams p = P.Params(layer, single.data() + t * width);
        p.num_blocks = Frontier(pos + 1, cs.R, cs.G) / cs.G;
        p.window_len = pos + 1 - window_start;
        p.q = P.q.data() + t * width;
        p.n = 1;
        XqAttentionReference(p);
      }
      EXPECT_EQ(0, std::memcmp(chunk.data(), single.data(), chunk.size() * sizeof(float)))
          << "K" << cs.kb << " V" << cs.vb << " layer " << layer;
      // With consistent data the answer also matches the oracle.
      ExpectMatchesOracle(P, layer);
    }
  }
}

}  // namespace
}  // namespace xq
