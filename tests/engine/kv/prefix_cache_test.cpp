// The prefix cache over the KV manager, without a model: window blocks are kept and reused by
// reference (no copies), a hit is confirmed by token ids even when hashes collide, evicting a
// kept page drops its whole window block.
#include "engine/kv/prefix_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "engine/kv/kv_cache_manager.h"

namespace xq {
namespace {

constexpr int64_t kBlock = 8, kLayers = 2;

KvBlockLayout Layout() {
  std::vector<KvLayerSpec> specs(kLayers);
  for (KvLayerSpec& s : specs) s.k = s.v = {2, false, 0.0f};
  return MakeKvBlockLayout(2, 16, kBlock, specs.data(), kLayers);
}

std::vector<int32_t> Tokens(int64_t n, int32_t first = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A finished prompt: appended in one step, then released (its windows kept).
SequenceKv RunPrompt(KvCacheManager& kv, const std::vector<int32_t>& tokens) {
  SequenceKv seq;
  kv.Reserve(seq, static_cast<int64_t>(tokens.size()));
  kv.Track(seq, tokens, static_cast<int64_t>(tokens.size()));
  kv.Commit(seq, static_cast<int64_t>(tokens.size()));
  return seq;
}

TEST(PrefixCache, WindowBlocksAreReusedByReference) {
  const KvBlockLayout L = Layout();
  const int64_t P = L.window_pages_per_block;
  KvCacheManager kv(L, /*recent_window=*/16, 200, true, "test");
  const auto tokens = Tokens(40);
  SequenceKv first = RunPrompt(kv, tokens);
  const std::vector<int32_t> window = first.window_pages;  // blocks 3 and 4
  const std::vector<int32_t> blocks = first.blocks;        // blocks 0..2
  kv.Release(first);
  EXPECT_EQ(kv.pool().Stats().used_blocks, 0);
  EXPECT_GT(kv.pool().Stats().cached_free_blocks, 0);

  auto query = Tokens(45);
  SequenceKv hit = kv.Acquire(query);
  EXPECT_EQ(hit.length, 40);
  EXPECT_EQ(hit.window_start, 24);
  EXPECT_EQ(hit.blocks, blocks);
  EXPECT_EQ(hit.window_pages, window) << "the same pages, revived: no copy";
  EXPECT_EQ(static_cast<int64_t>(hit.window_pages.size()), 2 * P);
  EXPECT_EQ(kv.CheckInvariants(), "");
  // A second sequence shares them while the first holds them.
  SequenceKv again = kv.Acquire(query);
  EXPECT_EQ(again.window_pages, window);
  for (int32_t p : window) EXPECT_EQ(kv.pool().RefCount(p), 2);
  kv.Release(hit);
  kv.Release(again);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

// A hit with attention sinks revives the sinks' window pages too, in front of the window's.
TEST(PrefixCache, SinksAreReusedByReference) {
  KvBlockLayout L = Layout();
  L.sink_blocks = 1;
  const int64_t P = L.window_pages_per_block;
  KvCacheManager kv(L, /*recent_window=*/16, 300, true, "test");
  const auto tokens = Tokens(40);
  SequenceKv first = RunPrompt(kv, tokens);
  const std::vector<int32_t> window = first.window_pages;  // sink block 0, then blocks 3 and 4
  ASSERT_EQ(static_cast<int64_t>(window.size()), 3 * P);
  // While the first runs, a second request can resume where the prompt's blocks left the window
  // (24 tokens: block 0 a sink, blocks 1 and 2 its window), sharing the sink's pages.
  auto query = Tokens(45);
  SequenceKv concurrent = kv.Acquire(query);
  EXPECT_EQ(concurrent.length, 24);
  EXPECT_EQ(concurrent.window_start, 8);
  ASSERT_EQ(static_cast<int64_t>(concurrent.window_pages.size()), 3 * P);
  EXPECT_TRUE(std::equal(window.begin(), window.begin() + P, concurrent.window_pages.begin()));
  kv.Release(concurrent);
  kv.Release(first);
  SequenceKv hit = kv.Acquire(query);
  EXPECT_EQ(hit.length, 40);
  EXPECT_EQ(hit.window_start, 24);
  EXPECT_EQ(hit.window_pages, window) << "the same pages, sinks first";
  EXPECT_EQ(kv.CheckInvariants(), "");
  kv.Release(hit);
  EXPECT_EQ(kv.pool().Stats().used_blocks, 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

uint64_t CollidingHash(uint64_t, uint64_t, std::span<const int32_t>) { return 42; }

TEST(PrefixCache, AHitIsConfirmedByTokenIdsNotTheHashAlone) {
  const KvBlockLayout L = Layout();
  BlockPool pool(L.block_bytes, 100);
  PrefixCache cache(pool, L, 0, 1, CollidingHash);
  SequenceKv seq;
  const auto tokens = Tokens(16);
  for (int i = 0; i < 2; ++i) seq.blocks.push_back(*pool.Allocate());
  seq.length = seq.window_start = 16;
  cache.Track(seq, tokens, 16);
  cache.IndexCompressed(seq, 0);
  cache.IndexCompressed(seq, 1);
  // Every block hashes alike, so only the token ids tell these apart.
  auto other = Tokens(17, 500);
  EXPECT_EQ(cache.Acquire(other).length, 0);
  auto same = Tokens(17);
  EXPECT_EQ(cache.Acquire(same).length, 8) << "block 0 matches; block 1 collides but its"
                                              " parent and tokens are checked";
}

TEST(PrefixCache, EvictingAKeptPageDropsItsWindowBlock) {
  const KvBlockLayout L = Layout();
  const int64_t P = L.window_pages_per_block;
  // Room for the 24-token prompt at its peak (1 compressed block and 3 window blocks) only.
  const int32_t pool_blocks = static_cast<int32_t>(1 + 3 * P);
  KvCacheManager kv(L, 16, pool_blocks, true, "test");
  SequenceKv first = RunPrompt(kv, Tokens(24));
  kv.Release(first);
  // Kept: the compressed block and all three window blocks (block 0's as it left the window).
  ASSERT_EQ(kv.pool().Stats().cached_free_blocks, 1 + 3 * P);
  // Another prompt takes every block: the kept ones are evicted, least recently freed first.
  SequenceKv other = RunPrompt(kv, Tokens(24, 900));
  EXPECT_EQ(kv.CheckInvariants(), "");
  kv.Release(other);
  const auto query = Tokens(25);
  EXPECT_EQ(kv.Acquire(query).length, 0) << "nothing of the first prompt is left";
  EXPECT_EQ(kv.CheckInvariants(), "");
}

}  // namespace
}  // namespace xq
