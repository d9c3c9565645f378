// The CUDA attention kernel through the SIMT emulation against XqAttentionReference: a ragged
// batch (a decode row, prefill chunks, rows before and after the window frontier) over
// compressed blocks and window pages, for fp16, quantized and shared-code slots with GQA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/attention_view.cuh"  // KeyAt / ValueAt: host code under the emulation
#include "kernels/cuda/batch_rows.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/include/xquant_kernels.h"
#include "tests/kernels/xquant_test_util.h"

namespace xq {
namespace {

struct Seq {
  int64_t length, rows;  // positions held after the step, the step's query rows
};

double Fp16(double x) { return static_cast<double>(static_cast<_Float16>(static_cast<float>(x))); }

// What the tensor-core kernel computes, in double: the reference's attention with scaled
// queries, keys, values and (relative to the row's max) probabilities rounded to fp16, the
// operands its products take. Keys and values come from the kernels' own KeyAt / ValueAt, which the
// row kernel's comparison with the reference vouches for.
std::vector<double> TensorCoreModel(const XqBatchAttentionParams& p, int64_t rows, int64_t D) {
  const int64_t kv_heads = p.kv.layout->num_kv_heads, group = p.num_heads / kv_heads;
  std::vector<double> out(rows * p.num_heads * D);
  for (int64_t row = 0; row < rows; ++row) {
    int64_t s, pos;
    cuda::RowPosition(p.kv, row, &s, &pos);
    for (int64_t h = 0; h < p.num_heads; ++h) {
      const cuda::AttentionView a = cuda::ViewOf(p, s, h / group, pos);
      const float* q = p.q + (row * p.num_heads + h) * D;
      std::vector<double> score(pos + 1);
      double top = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d) {
          bool fp16 = true;
          dot += Fp16(q[d] * p.scale) * Fp16(cuda::KeyAt(a, j, d, &fp16));
        }
        score[j] = dot;
        top = std::max(top, score[j]);
      }
      double sum = 0.0;
      double* o = out.data() + (row * p.num_heads + h) * D;
      for (int64_t j = 0; j <= pos; ++j) {
        const double w = Fp16(std::exp(score[j] - top));
        sum += w;
        for (int64_t d = 0; d < D; ++d) o[d] += w * Fp16(cuda::ValueAt(a, j, d));
      }
      for (int64_t d = 0; d < D; ++d) o[d] /= sum;
    }
  }
  return out;
}

// sinks: the layout's attention sink blocks; those that left the window get pages (with data of
// their own) in front of each sequence's window list.
void CheckBatch(int kb, int vb, bool share, int64_t R, const std::vector<Seq>& seqs,
                std::mt19937& rng, int64_t sinks = 0, int64_t gqa = 2, int64_t D = 32,
                int64_t forced_split = 0, int key_group_tokens = 0, int param_bits = kFp16Bits,
                int value_group_channels = 0) {
  constexpr int64_t H = 2, G = 16;
  const int64_t kGqa = gqa;
  auto slot = [&](int bits, bool shares, bool key) {
    KvSlotSpec s;
    s.bits = bits;
    s.shares_codes = shares && bits != kFp16Bits;
    s.eta = bits == kFp16Bits ? 0.0f : 0.1f;
    s.group_tokens = key ? key_group_tokens : 0;
    s.group_channels = key ? 0 : value_group_channels;
    s.param_bits = param_bits;
    return s;
  };
  KvBlockLayout L =
      xqtest::MakeLayout(H, D, G,
                         {KvLayerSpec{slot(kb, false, true), slot(vb, false, false)},
                          KvLayerSpec{slot(kb, share, true), slot(vb, share, false)}});
  L.sink_blocks = sinks;
  const int64_t row = H * D, heads = H * kGqa;
  std::vector<uint8_t> arena;
  auto new_block = [&] {
    arena.resize(arena.size() + L.block_bytes, 0x7B);  // huge fp16 values where nothing wrote
    return static_cast<int32_t>(arena.size() / L.block_bytes - 1);
  };
  XqBatchKv kv;
  std::vector<int64_t> qo{0}, kv_len, block_indptr{0}, window_indptr{0}, window_start;
  std::vector<int32_t> block_ids, window_pages;
  std::vector<std::vector<int32_t>> seq_blocks, seq_pages;
  std::normal_distribution<float> n01(0.0f, 1.0f);
  float vmax = 0.0f;
  for (const Seq& s : seqs) {
    const int64_t padded = (s.length + G - 1) / G * G;
    std::vector<_Float16> k[2], v[2];
    for (int l = 0; l < 2; ++l) {
      k[l] = xqtest::RandomHalves(rng, padded * row, 1.5f);
      v[l] = xqtest::RandomHalves(rng, padded * row);
      for (auto x : v[l]) vmax = std::max(vmax, std::fabs(static_cast<float>(x)));
    }
    const int64_t num_blocks = QuantizedFrontier(s.length, R, G) / G;
    const int64_t start = QuantizedFrontier(s.length - s.rows + 1, R, G);
    std::vector<int32_t> blocks, pages;
    for (int64_t b = 0; b < num_blocks; ++b) blocks.push_back(new_block());
    for (int64_t i = 0; i < xqtest::WindowPageCount(L, s.length - start); ++i) {
      pages.push_back(new_block());
    }
    std::shuffle(pages.begin(), pages.end(), rng);
    const int64_t held = SinkBlocksHeld(L, start / G);
    std::vector<int32_t> sink_pages;
    for (int64_t i = 0; i < held * L.window_pages_per_block; ++i) sink_pages.push_back(new_block());
    std::vector<_Float16> sink_k[2], sink_v[2];
    for (int l = 0; l < 2; ++l) {
      sink_k[l] = xqtest::RandomHalves(rng, held * G * row, 1.5f);
      sink_v[l] = xqtest::RandomHalves(rng, held * G * row);
      for (auto x : sink_v[l]) vmax = std::max(vmax, std::fabs(static_cast<float>(x)));
    }
    xqtest::WriteWindowPages(L, 0, held * G, {sink_k[0].data(), sink_k[1].data()},
                             {sink_v[0].data(), sink_v[1].data()}, sink_pages, arena.data());
    for (int64_t b = 0; b < num_blocks; ++b) {
      for (int l = 0; l < 2; ++l) {
        XqQuantizeBlockLayerReference(L, l, xqtest::AsFp16(k[l].data() + b * G * row),
                                      xqtest::AsFp16(v[l].data() + b * G * row),
                                      arena.data() + blocks[b] * L.block_bytes);
      }
    }
    xqtest::WriteWindowPages(
        L, start, s.length - start, {k[0].data() + start * row, k[1].data() + start * row},
        {v[0].data() + start * row, v[1].data() + start * row}, pages, arena.data());
    pages.insert(pages.begin(), sink_pages.begin(), sink_pages.end());
    qo.push_back(qo.back() + s.rows);
    kv_len.push_back(s.length);
    block_ids.insert(block_ids.end(), blocks.begin(), blocks.end());
    block_indptr.push_back(static_cast<int64_t>(block_ids.size()));
    window_pages.insert(window_pages.end(), pages.begin(), pages.end());
    window_indptr.push_back(static_cast<int64_t>(window_pages.size()));
    window_start.push_back(start);
    seq_blocks.push_back(blocks);
    seq_pages.push_back(pages);
  }
  const int64_t rows = qo.back();
  std::vector<float> q(rows * heads * D);
  for (float& x : q) x = 2.0f * n01(rng);
  kv = {&L,
        arena.data(),
        static_cast<int64_t>(seqs.size()),
        qo.data(),
        kv_len.data(),
        block_indptr.data(),
        block_ids.data(),
        window_indptr.data(),
        window_pages.data(),
        window_start.data()};
  for (int64_t layer = 0; layer < 2; ++layer) {
    SCOPED_TRACE(::testing::Message() << "K" << kb << " V" << vb << " share " << share << " R " << R
                                      << " sinks " << sinks << " layer " << layer);
    std::vector<float> want(q.size(), NAN), got(q.size(), NAN);
    for (size_t s = 0; s < seqs.size(); ++s) {
      XqAttentionParams a;
      a.layout = &L;
      a.layer = layer;
      a.arena = arena.data();
      a.block_table = seq_blocks[s].data();
      a.num_blocks = static_cast<int64_t>(seq_blocks[s].size());
      a.window_pages = seq_pages[s].data();
      a.window_start = window_start[s];
      a.window_len = kv_len[s] - window_start[s];
      a.q = q.data() + qo[s] * heads * D;
      a.n = seqs[s].rows;
      a.num_heads = heads;
      a.recent_window = R;
      a.scale = 1.0f / std::sqrt(static_cast<float>(D));
      a.out = want.data() + qo[s] * heads * D;
      XqAttentionReference(a);
    }
    XqBatchAttentionParams p;
    p.kv = kv;
    p.layer = layer;
    p.q = q.data();
    p.num_heads = heads;
    p.recent_window = R;
    p.scale = 1.0f / std::sqrt(static_cast<float>(D));
    p.out = got.data();
    // The planner's split (here a few, with boundaries inside blocks), one split holding
    // everything, and a forced one if asked.
    const int64_t longest = *std::max_element(kv_len.begin(), kv_len.end());
    std::vector<cuda::AttentionSplit> splits = {cuda::PlanAttentionSplit(rows, H, longest),
                                                cuda::AttentionSplit{longest, 1}};
    if (forced_split > 0) {
      splits.push_back({forced_split, (longest + forced_split - 1) / forced_split});
    }
    // Every row alone, and prefill rows in tiles (the plan the runner makes).
    const cuda::AttentionTilePlan plan = cuda::PlanAttentionTiles(qo, kv_len, heads, H, D, R, G);
    const bool prefill =
        std::any_of(seqs.begin(), seqs.end(), [](const Seq& s) { return s.rows > 1; });
    if (prefill && kGqa <= 8 && D <= 128) {
      ASSERT_FALSE(plan.tiles.empty()) << "the tile kernel runs";
    }
    const cuda::AttentionTiles tiled{plan.tiles.data(), static_cast<int64_t>(plan.tiles.size() / 2),
                                     plan.rows.data(), static_cast<int64_t>(plan.rows.size())};
    // And in tensor-core tiles (64 pairs a tile), checked against a model of their roundings
    // that is itself close to the reference.
    const cuda::AttentionTilePlan tensor_plan =
        cuda::PlanAttentionTiles(qo, kv_len, heads, H, D, R, G, cuda::TileKernel::kTensorCores);
    if (prefill && D <= 128) {
      ASSERT_FALSE(tensor_plan.tiles.empty()) << "the tensor-core kernel runs";
    }
    const cuda::AttentionTiles tensor_tiled{
        tensor_plan.tiles.data(), static_cast<int64_t>(tensor_plan.tiles.size() / 2),
        tensor_plan.rows.data(), static_cast<int64_t>(tensor_plan.rows.size()),
        cuda::TileKernel::kTensorCores};
    const std::vector<double> tensor_model = TensorCoreModel(p, rows, D);
    double model_error = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      model_error = std::max(model_error, std::fabs(tensor_model[i] - want[i]) / vmax);
    }
    // Operands rounded to fp16 (2^-11 relative) move outputs by well under 1% of max |v| at
    // these magnitudes (scores of |q| ~ 2, |k| ~ 1.5 over D channels).
    EXPECT_LT(model_error, 0.01) << "the rounding model strays from the reference";
    for (const cuda::AttentionSplit& split : splits) {
      std::vector<float> alone;
      for (const cuda::AttentionTiles& tiles : {cuda::AttentionTiles{}, tiled}) {
        std::vector<float> workspace(cuda::AttentionWorkspaceFloats(rows, heads, D, split), NAN);
        std::fill(got.begin(), got.end(), NAN);
        cuda::LaunchXqAttention(p, rows, D, H, split, workspace.data(), nullptr, tiles);
        // Outputs are convex combinations of values: errors scale with max |v|; the reference
        // rounds probabilities that weight fp16 values to fp16 (2^-11 relative), the kernel
        // does not; the rest is fp32 summation order.
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_NEAR(got[i], want[i], (1.0f / 2048 + 1e-4f) * vmax)
              << "output " << i << ", split " << split.split_tokens << " x " << split.splits << ", "
              << tiles.count << " tiles";
        }
        if (alone.empty()) {
          alone = got;
        } else {  // a row's arithmetic is the same in a tile (bitwise here, contraction off;
                  // nvcc may contract the two kernels differently)
          EXPECT_EQ(std::memcmp(got.data(), alone.data(), got.size() * sizeof(float)), 0)
              << "split " << split.split_tokens << " x " << split.splits;
        }
      }
      if (tensor_tiled.count == 0) continue;
      std::vector<float> workspace(cuda::AttentionWorkspaceFloats(rows, heads, D, split), NAN);
      std::fill(got.begin(), got.end(), NAN);
      cuda::LaunchXqAttention(p, rows, D, H, split, workspace.data(), nullptr, tensor_tiled);
      // Against the model of its roundings: the kernel rounds each probability relative to the
      // running max rather than the final one (2^-11 relative either way: weights move by up to
      // e^(2^-10) - 1, a convex combination by that times max |v|), and sums in fp32 in another
      // order (the 1e-4 the other kernels get).
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], tensor_model[i], (std::exp(std::ldexp(1.0, -10)) - 1 + 1e-4) * vmax)
            << "output " << i << ", split " << split.split_tokens << " x " << split.splits << ", "
            << tensor_tiled.count << " tensor-core tiles";
      }
    }
  }
}

// Tiles hold consecutive rows of one sequence that share a quantized frontier, as many as a
// tile's pairs allow; every other row runs alone; no tiles where two rows' heads do not fit.
TEST(XqAttentionTiles, CoverPrefillRowsWithinFrontiersAndSequences) {
  // Sequences: a decode row at position 40; 13 rows at positions 37..49 (rows 1..13); 3 rows at
  // positions 0..2 (rows 14..16).
  const std::vector<int64_t> qo = {0, 1, 14, 17}, kv_len = {41, 50, 3};
  // 4 query heads per KV head: 4 rows per tile. R = G = 8: the frontier of position p is
  // (p + 1 - 8) / 8 * 8, so 24 at 37..38, 32 at 39..46, 40 at 47..49, and 0 at 0..2.
  const cuda::AttentionTilePlan plan = cuda::PlanAttentionTiles(qo, kv_len, 8, 2, 64, 8, 8);
  EXPECT_EQ(plan.tiles, (std::vector<int32_t>{1, 2, 3, 4, 7, 4, 11, 3, 14, 3}));
  EXPECT_EQ(plan.rows, (std::vector<int32_t>{0}));
  // 16 query heads per KV head fill a tile with one row; head_dim 256 is past the tile kernel.
  for (const auto& [heads, dim] : {std::pair{32, 64}, std::pair{8, 256}}) {
    const cuda::AttentionTilePlan alone = cuda::PlanAttentionTiles(qo, kv_len, heads, 2, dim, 8, 8);
    EXPECT_TRUE(alone.tiles.empty());
    EXPECT_EQ(alone.rows.size(), 17u);
  }
}

TEST(XqAttentionEmulated, MatchesTheReferenceOnARaggedBatch) {
  std::mt19937 rng(21);
  // A decode row deep in the cache, prefill chunks crossing the frontier (rows at 76..99 cross
  // two with R = 0: several tiles, split where the frontier moves), a short fresh prompt.
  const std::vector<Seq> batch = {{150, 1}, {90, 7}, {100, 24}, {12, 12}};
  for (const auto& [kb, vb, share] :
       {std::tuple{16, 16, false}, std::tuple{2, 1, true}, std::tuple{4, 2, false},
        std::tuple{8, 8, false}, std::tuple{1, 1, true}, std::tuple{2, 16, false}}) {
    // (recent window, sink blocks): R = 0 with sinks keeps all but the sinks quantized.
    for (const auto& [R, sinks] : {std::pair{0, 0}, std::pair{32, 0}, std::pair{0, 2}}) {
      CheckBatch(kb, vb, share, R, batch, rng, sinks);
      if (HasFatalFailure()) return;
    }
  }
}

// Keys in 8-token groups, values in 8-channel groups and 8-bit params, alone and together.
TEST(XqAttentionEmulated, KeyTokenGroupsAndEightBitParams) {
  std::mt19937 rng(23);
  const std::vector<Seq> batch = {{150, 1}, {90, 7}, {12, 12}};
  for (const auto& [group, param_bits, channels] :
       {std::tuple{8, 16, 0}, std::tuple{0, 8, 0}, std::tuple{0, 16, 8}, std::tuple{8, 8, 8}}) {
    for (const auto& [kb, vb, share] :
         {std::tuple{2, 1, true}, std::tuple{4, 2, false}, std::tuple{1, 1, true}}) {
      CheckBatch(kb, vb, share, 32, batch, rng, 1, 2, 32, 0, group, param_bits, channels);
      if (HasFatalFailure()) return;
    }
  }
}

// More query heads per KV head than one pass holds (kHeadsPerPass), a head_dim narrower than a
// warp (lanes past D hold no channel), and each channels-per-lane instantiation.
TEST(XqAttentionEmulated, WideGqaGroupsAndNarrowHeads) {
  std::mt19937 rng(22);
  const std::vector<Seq> batch = {{70, 1}, {40, 5}};
  CheckBatch(2, 1, true, 16, batch, rng, 0, /*gqa=*/10, /*D=*/32);
  // Many short splits: most hold a few positions, some warps none.
  CheckBatch(4, 2, false, 16, batch, rng, 0, /*gqa=*/2, /*D=*/32, /*forced_split=*/3);
  CheckBatch(16, 16, false, 0, batch, rng, 1, /*gqa=*/3, /*D=*/16);
  // Every instantiation of channels per lane: D 64, 128 (two passes of 4 heads), 256.
  CheckBatch(2, 2, false, 16, batch, rng, 0, /*gqa=*/3, /*D=*/64);
  CheckBatch(2, 1, true, 16, batch, rng, 0, /*gqa=*/6, /*D=*/128);
  CheckBatch(16, 4, false, 0, batch, rng, 0, /*gqa=*/2, /*D=*/256);
}

}  // namespace
}  // namespace xq
