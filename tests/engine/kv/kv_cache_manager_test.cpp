// The KV manager's bookkeeping without a model: what Reserve takes is what BlocksToGrow said,
// Commit returns the window blocks that left, running out takes nothing, forks share full blocks
// and copy a partial one, a request never needs more than BlocksForRequest, and the window page
// format gives every row of a window block its own place.
#include "engine/kv/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace xq {
namespace {

constexpr int64_t kBlock = 8, kLayers = 2, kKvHeads = 2, kHeadDim = 16;

KvBlockLayout Layout(int k_bits, int v_bits) {
  std::vector<KvLayerSpec> specs(kLayers);
  for (KvLayerSpec& s : specs) {
    s.k = {k_bits, false, 0.0f};
    s.v = {v_bits, false, 0.0f};
  }
  return MakeKvBlockLayout(kKvHeads, kHeadDim, kBlock, specs.data(), kLayers);
}

int32_t Used(const KvCacheManager& kv) { return kv.pool().Stats().used_blocks; }

TEST(KvCacheManager, ReserveTakesWhatBlocksToGrowSaysAndCommitReturnsTheWindowThatLeft) {
  const KvBlockLayout L = Layout(2, 2);
  const int64_t P = L.window_pages_per_block;
  ASSERT_GT(P, 1) << "the test wants window blocks of several pages";
  KvCacheManager kv(L, /*recent_window=*/16, 200, false, "test");
  SequenceKv seq;
  // 45 tokens, R = 16, G = 8: positions [0, 24) end compressed in 3 blocks; while they are
  // appended, window blocks cover all 45 positions (6 blocks).
  EXPECT_EQ(kv.BlocksNeeded(seq, 45), 3 + 6 * P);
  kv.Reserve(seq, 45);
  EXPECT_EQ(Used(kv), 3 + 6 * P);
  EXPECT_EQ(kv.BlocksNeeded(seq, 45), 0);
  kv.Commit(seq, 45);
  EXPECT_EQ(seq.length, 45);
  EXPECT_EQ(seq.window_start, 24);
  EXPECT_EQ(seq.blocks.size(), 3u);
  EXPECT_EQ(static_cast<int64_t>(seq.window_pages.size()), 3 * P);  // [24, 45)
  EXPECT_EQ(Used(kv), 3 + 3 * P);
  // Two more tokens stay within the window blocks held; at 48, positions [24, 32) leave the
  // window (a compressed block); the 49th token needs a new window block.
  EXPECT_EQ(kv.BlocksNeeded(seq, 2), 0);
  EXPECT_EQ(kv.BlocksNeeded(seq, 3), 1);
  EXPECT_EQ(kv.BlocksNeeded(seq, 4), 1 + P);
  kv.Release(seq);
  EXPECT_EQ(Used(kv), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManager, RunningOutTakesNothing) {
  const KvBlockLayout L = Layout(2, 2);
  const int64_t P = L.window_pages_per_block;
  // Exactly what a 24-token prompt takes at its peak with R = 8: 2 compressed blocks and 3
  // window blocks.
  KvCacheManager kv(L, 8, static_cast<int32_t>(2 + 3 * P), false, "test");
  SequenceKv seq;
  kv.Reserve(seq, 24);
  kv.Commit(seq, 24);
  const int32_t held = Used(kv);
  EXPECT_EQ(held, 2 + P);  // the window shrank back to [16, 24)
  const SequenceKv before = seq;
  EXPECT_THROW(kv.Reserve(seq, 24), KvCacheFull);
  EXPECT_EQ(seq.blocks, before.blocks);
  EXPECT_EQ(seq.window_pages, before.window_pages);
  EXPECT_EQ(Used(kv), held);
  EXPECT_EQ(kv.CheckInvariants(), "");
  kv.Release(seq);
  SequenceKv again;
  kv.Reserve(again, 24);  // its blocks serve the next sequence
  kv.Release(again);
}

// Random prompts and decodes: every Reserve takes exactly what BlocksNeeded said, the peak stays
// within BlocksForRequest, and releasing returns everything.
void GrowRandomSequences(KvCacheManager& kv, std::mt19937& rng) {
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t prompt = 1 + rng() % 100, total = prompt + rng() % 60;
    const int64_t chunk = 1 + rng() % 40;
    SequenceKv seq;
    int32_t peak = 0;
    while (seq.length < total) {
      const int64_t n = seq.length < prompt ? std::min(chunk, prompt - seq.length) : 1;
      const int64_t want = kv.BlocksNeeded(seq, n);
      const int32_t used = Used(kv);
      kv.Reserve(seq, n);
      ASSERT_EQ(Used(kv) - used, want);
      peak = std::max(peak, Used(kv));
      kv.Commit(seq, n);
      ASSERT_EQ(kv.CheckInvariants(), "");
    }
    EXPECT_LE(peak, kv.BlocksForRequest(prompt, total, 1, chunk))
        << "prompt " << prompt << " total " << total << " chunk " << chunk;
    kv.Release(seq);
    ASSERT_EQ(Used(kv), 0);
  }
}

TEST(KvCacheManager, RandomGrowthMatchesBlocksToGrowAndStaysWithinTheRequestBound) {
  std::mt19937 rng(11);
  for (const auto& [k_bits, v_bits, R] :
       {std::tuple{2, 1, 16}, std::tuple{16, 16, 0}, std::tuple{4, 2, 32}, std::tuple{1, 1, 8}}) {
    KvCacheManager kv(Layout(k_bits, v_bits), R, 4000, false, "test");
    GrowRandomSequences(kv, rng);
  }
}

TEST(KvCacheManager, ForkSharesFullBlocksAndCopiesThePartialWindowBlock) {
  const KvBlockLayout L = Layout(2, 2);
  const int64_t P = L.window_pages_per_block;
  KvCacheManager kv(L, 16, 200, false, "test");
  SequenceKv parent;
  kv.Reserve(parent, 43);
  kv.Commit(parent, 43);  // 3 compressed blocks; window [24, 43): 2 full blocks + 3 tokens
  std::vector<BlockCopy> copies;
  SequenceKv child = kv.Fork(parent, copies);
  EXPECT_EQ(child.blocks, parent.blocks);
  for (int32_t b : parent.blocks) EXPECT_EQ(kv.pool().RefCount(b), 2);
  for (int64_t i = 0; i < 2 * P; ++i) {
    EXPECT_EQ(child.window_pages[i], parent.window_pages[i]);
    EXPECT_EQ(kv.pool().RefCount(parent.window_pages[i]), 2);
  }
  ASSERT_EQ(static_cast<int64_t>(copies.size()), P);
  for (int64_t i = 0; i < P; ++i) {
    EXPECT_EQ(copies[i].src, parent.window_pages[2 * P + i]);
    EXPECT_EQ(copies[i].dst, child.window_pages[2 * P + i]);
    EXPECT_EQ(kv.pool().RefCount(copies[i].dst), 1);
  }
  // Each goes on on its own: the next token lands in its own partial block.
  kv.Reserve(child, 1);
  kv.Commit(child, 1);
  kv.Release(parent);
  kv.Release(child);
  EXPECT_EQ(Used(kv), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

KvBlockLayout WithSinks(KvBlockLayout L, int64_t sink_blocks) {
  L.sink_blocks = sink_blocks;
  return L;
}

// Attention sinks: the first blocks keep their window pages in front of the window list once
// they leave the window (and are still quantized into their compressed blocks).
TEST(KvCacheManager, SinksKeepTheirWindowPagesAfterLeavingTheWindow) {
  const KvBlockLayout L = WithSinks(Layout(2, 1), 2);
  const int64_t P = L.window_pages_per_block;
  KvCacheManager kv(L, /*recent_window=*/16, 300, false, "test");
  SequenceKv seq;
  kv.Reserve(seq, 45);
  kv.Commit(seq, 45);  // [0, 24) compressed, window [24, 45); blocks 0 and 1 are sinks
  EXPECT_EQ(seq.window_start, 24);
  EXPECT_EQ(seq.blocks.size(), 3u);
  EXPECT_EQ(static_cast<int64_t>(seq.window_pages.size()), (2 + 3) * P);
  EXPECT_EQ(Used(kv), 3 + 5 * P);
  const std::vector<int32_t> sinks(seq.window_pages.begin(), seq.window_pages.begin() + 2 * P);
  // Decoding on: the sinks stay first, the window moves.
  for (int i = 0; i < 40; ++i) {
    const int64_t want = kv.BlocksNeeded(seq, 1);
    const int32_t used = Used(kv);
    kv.Reserve(seq, 1);
    ASSERT_EQ(Used(kv) - used, want);
    kv.Commit(seq, 1);
    ASSERT_EQ(static_cast<int64_t>(seq.window_pages.size()),
              (2 + (seq.length - seq.window_start + kBlock - 1) / kBlock) * P);
    ASSERT_TRUE(std::equal(sinks.begin(), sinks.end(), seq.window_pages.begin()));
  }
  // A sink block left in a single step with the blocks after it.
  SequenceKv one_step;
  kv.Reserve(one_step, 70);
  kv.Commit(one_step, 70);
  EXPECT_EQ(one_step.window_start, 48);
  EXPECT_EQ(static_cast<int64_t>(one_step.window_pages.size()), (2 + 3) * P);
  std::vector<BlockCopy> copies;
  SequenceKv child = kv.Fork(seq, copies);
  for (int32_t page : sinks) EXPECT_EQ(kv.pool().RefCount(page), 2) << "forks share sinks";
  for (SequenceKv* s : {&seq, &one_step, &child}) kv.Release(*s);
  EXPECT_EQ(Used(kv), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManager, RandomGrowthWithSinksMatchesBlocksToGrowAndTheRequestBound) {
  std::mt19937 rng(12);
  for (const auto& [R, sinks] : {std::pair{16, 1}, std::pair{0, 2}, std::pair{32, 3}}) {
    KvCacheManager kv(WithSinks(Layout(2, 1), sinks), R, 4000, false, "test");
    GrowRandomSequences(kv, rng);
  }
}

TEST(KvCacheManager, WindowPagesHoldEveryRowOfAWindowBlockOnce) {
  for (const auto& [k_bits, v_bits] : {std::pair{16, 16}, std::pair{2, 1}, std::pair{8, 4}}) {
    const KvBlockLayout L = Layout(k_bits, v_bits);
    std::vector<int32_t> pages(2 * L.window_pages_per_block);
    for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(10 + 3 * i);
    const XqWindowView w{pages.data(), /*first_block=*/5};
    std::set<int64_t> rows;
    const int64_t row_bytes = L.WindowRowBytes();
    for (int64_t pos = 5 * kBlock; pos < 7 * kBlock; ++pos) {
      for (int64_t layer = 0; layer < kLayers; ++layer) {
        for (int is_value = 0; is_value < 2; ++is_value) {
          int64_t run = 0;
          const int64_t at = WindowRowOffset(L, w, layer, is_value, pos, &run);
          EXPECT_TRUE(rows.insert(at).second) << "row written twice";
          const int64_t page = at / L.block_bytes, slot = at % L.block_bytes;
          EXPECT_NE(std::find(pages.begin(), pages.end(), page), pages.end());
          EXPECT_LE(slot + row_bytes, L.block_bytes) << "a row crosses its page";
          EXPECT_GE(run, 1);
          EXPECT_LE(pos % kBlock + run, kBlock) << "a run crosses its block";
          // The run's rows really are consecutive.
          for (int64_t r = 1; r < run; ++r) {
            int64_t ignored;
            EXPECT_EQ(WindowRowOffset(L, w, layer, is_value, pos + r, &ignored),
                      at + r * row_bytes);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace xq
