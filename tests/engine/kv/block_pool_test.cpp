#include "engine/kv/block_pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/common/error.h"

namespace xq {
namespace {

using Eviction = std::pair<int32_t, uint64_t>;

std::vector<int32_t> AllocateAll(BlockPool& pool) {
  std::vector<int32_t> ids;
  while (auto b = pool.Allocate()) ids.push_back(*b);
  return ids;
}

TEST(BlockPoolTest, HandsOutEveryBlockOnceThenReportsExhaustion) {
  BlockPool pool(64, 8);
  EXPECT_EQ(AllocateAll(pool), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_FALSE(pool.CanAllocate(1));
  EXPECT_TRUE(pool.CanAllocate(0));
  EXPECT_EQ(pool.CheckInvariants(), "");
  const BlockPoolStats s = pool.Stats();
  EXPECT_EQ(s.used_blocks, 8);
  EXPECT_EQ(s.free_blocks, 0);
}

TEST(BlockPoolTest, EmptyPoolAllocatesNothing) {
  BlockPool pool(16, 0);
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_EQ(pool.CheckInvariants(), "");
  EXPECT_EQ(pool.Stats().bytes_total, 0);
}

TEST(BlockPoolTest, RejectsBadSizes) {
  EXPECT_THROW(BlockPool(0, 4), Error);
  EXPECT_THROW(BlockPool(16, -1), Error);
}

TEST(BlockPoolTest, CachedBlocksAreReusedLeastRecentlyFreedFirst) {
  BlockPool pool(16, 4);
  std::vector<Eviction> evicted;
  pool.SetEvictionListener([&](int32_t b, uint64_t h) { evicted.emplace_back(b, h); });
  for (int32_t b : AllocateAll(pool)) pool.SetHash(b, 100 + b);
  for (int32_t b : {2, 0, 3, 1}) pool.Release(b);
  EXPECT_EQ(pool.Stats().cached_free_blocks, 4);
  EXPECT_EQ(pool.CheckInvariants(), "");

  EXPECT_EQ(AllocateAll(pool), (std::vector<int32_t>{2, 0, 3, 1}));
  EXPECT_EQ(evicted, (std::vector<Eviction>{{2, 102}, {0, 100}, {3, 103}, {1, 101}}));
  for (int32_t b = 0; b < 4; ++b) EXPECT_FALSE(pool.Hash(b).has_value());
  EXPECT_EQ(pool.Stats().cached_free_blocks, 0);
}

TEST(BlockPoolTest, BlocksWithoutHashAreReusedBeforeCachedOnes) {
  BlockPool pool(16, 4);
  std::vector<Eviction> evicted;
  pool.SetEvictionListener([&](int32_t b, uint64_t h) { evicted.emplace_back(b, h); });
  ASSERT_EQ(*pool.Allocate(), 0);
  ASSERT_EQ(*pool.Allocate(), 1);
  ASSERT_EQ(*pool.Allocate(), 2);
  pool.SetHash(0, 7);
  pool.Release(0);
  pool.Release(1);
  EXPECT_EQ(pool.CheckInvariants(), "");
  EXPECT_EQ(*pool.Allocate(), 1);
  EXPECT_EQ(*pool.Allocate(), 3);
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(*pool.Allocate(), 0);
  EXPECT_EQ(evicted, (std::vector<Eviction>{{0, 7}}));
}

TEST(BlockPoolTest, SharedBlockIsFreedByItsLastRelease) {
  BlockPool pool(16, 2);
  const int32_t b = *pool.Allocate();
  pool.AddRef(b);
  pool.AddRef(b);
  EXPECT_EQ(pool.RefCount(b), 3);
  pool.Release(b);
  pool.Release(b);
  EXPECT_EQ(pool.RefCount(b), 1);
  EXPECT_EQ(pool.Stats().used_blocks, 1);
  pool.Release(b);
  EXPECT_EQ(pool.RefCount(b), 0);
  EXPECT_EQ(pool.Stats().used_blocks, 0);
  EXPECT_EQ(pool.CheckInvariants(), "");
}

TEST(BlockPoolTest, MisuseThrowsAndLeavesThePoolConsistent) {
  BlockPool pool(16, 3);
  const int32_t b = *pool.Allocate();
  EXPECT_THROW(pool.AddRef(1), std::logic_error);      // free
  EXPECT_THROW(pool.Release(2), std::logic_error);     // free
  EXPECT_THROW(pool.Revive(b), std::logic_error);      // in use
  EXPECT_THROW(pool.Revive(1), std::logic_error);      // free without hash
  EXPECT_THROW(pool.SetHash(1, 5), std::logic_error);  // free
  EXPECT_THROW(pool.Release(3), std::logic_error);     // out of range
  EXPECT_THROW(pool.AddRef(-1), std::logic_error);
  EXPECT_THROW(pool.RefCount(3), std::logic_error);
  pool.SetHash(b, 5);
  pool.SetHash(b, 5);
  EXPECT_THROW(pool.SetHash(b, 6), std::logic_error);
  pool.Release(b);
  EXPECT_THROW(pool.Release(b), std::logic_error);  // double free
  EXPECT_EQ(pool.CheckInvariants(), "");
  EXPECT_EQ(pool.Stats().free_blocks, 3);
}

TEST(BlockPoolTest, ReviveTakesACachedBlockOutOfTheMiddleOfTheFreeList) {
  BlockPool pool(16, 3);
  std::vector<Eviction> evicted;
  pool.SetEvictionListener([&](int32_t b, uint64_t h) { evicted.emplace_back(b, h); });
  for (int32_t b : AllocateAll(pool)) pool.SetHash(b, 10 + b);
  for (int32_t b : {0, 1, 2}) pool.Release(b);

  pool.Revive(1);
  EXPECT_EQ(pool.RefCount(1), 1);
  EXPECT_EQ(pool.Hash(1), 11u);
  BlockPoolStats s = pool.Stats();
  EXPECT_EQ(s.used_blocks, 1);
  EXPECT_EQ(s.cached_free_blocks, 2);
  EXPECT_EQ(pool.CheckInvariants(), "");

  EXPECT_EQ(AllocateAll(pool), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(evicted, (std::vector<Eviction>{{0, 10}, {2, 12}}));
  EXPECT_EQ(pool.Hash(1), 11u);  // the revived block kept its content

  // Released again it goes to the tail as the most recently freed.
  pool.Release(1);
  pool.Release(0);
  EXPECT_EQ(*pool.Allocate(), 0);  // no hash: reused first
  EXPECT_EQ(*pool.Allocate(), 1);
}

TEST(BlockPoolTest, StatsCountBlocksAndBytes) {
  BlockPool pool(32, 10);
  const int32_t a = *pool.Allocate(), b = *pool.Allocate(), c = *pool.Allocate();
  pool.AddRef(a);
  pool.SetHash(b, 1);
  pool.Release(b);
  pool.Release(c);
  const BlockPoolStats s = pool.Stats();
  EXPECT_EQ(s.total_blocks, 10);
  EXPECT_EQ(s.used_blocks, 1);
  EXPECT_EQ(s.free_blocks, 9);
  EXPECT_EQ(s.cached_free_blocks, 1);
  EXPECT_EQ(s.bytes_total, 320);
  EXPECT_EQ(s.bytes_used, 32);
}

// The pool against a plain model: refcounts, hashes, and the free list as an ordered set keyed
// by position (hashed blocks join at ever larger keys, unhashed ones at ever smaller keys).
TEST(BlockPoolTest, RandomizedOperationsMatchASimpleModel) {
  constexpr int32_t kBlocks = 64;
  BlockPool pool(16, kBlocks);
  std::vector<Eviction> evicted;
  pool.SetEvictionListener([&](int32_t b, uint64_t h) { evicted.emplace_back(b, h); });

  std::vector<int32_t> ref(kBlocks, 0);
  std::vector<std::optional<uint64_t>> hash(kBlocks);
  std::vector<int64_t> key(kBlocks);
  std::set<std::pair<int64_t, int32_t>> free_list;
  int64_t front = 0, back = 0;
  for (int32_t b = 0; b < kBlocks; ++b) {
    key[b] = back++;
    free_list.emplace(key[b], b);
  }
  std::vector<int32_t> held;  // one entry per reference the "sequences" hold
  uint64_t next_hash = 1;
  int exhausted = 0, evictions = 0, revives = 0;

  std::mt19937_64 rng(20240611);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (int op = 0; op < 100000; ++op) {
    const int kind = static_cast<int>(rng() % 20);
    if (kind < 7) {  // allocate
      evicted.clear();
      const std::optional<int32_t> got = pool.Allocate();
      if (free_list.empty()) {
        ASSERT_FALSE(got.has_value()) << "op " << op;
        ++exhausted;
        continue;
      }
      const int32_t want = free_list.begin()->second;
      free_list.erase(free_list.begin());
      ASSERT_EQ(got, want) << "op " << op;
      if (hash[want]) {
        ASSERT_EQ(evicted, (std::vector<Eviction>{{want, *hash[want]}})) << "op " << op;
        ++evictions;
      } else {
        ASSERT_TRUE(evicted.empty()) << "op " << op;
      }
      hash[want].reset();
      ref[want] = 1;
      held.push_back(want);
    } else if (kind < 12 && !held.empty()) {  // release
      const size_t i = pick(held.size());
      const int32_t b = held[i];
      held[i] = held.back();
      held.pop_back();
      pool.Release(b);
      if (--ref[b] == 0) {
        key[b] = hash[b] ? back++ : --front;
        free_list.emplace(key[b], b);
      }
    } else if (kind < 14 && !held.empty()) {  // share
      const int32_t b = held[pick(held.size())];
      pool.AddRef(b);
      ++ref[b];
      held.push_back(b);
    } else if (kind < 16 && !held.empty()) {  // a block fills up
      const int32_t b = held[pick(held.size())];
      if (!hash[b]) {
        hash[b] = next_hash++;
        pool.SetHash(b, *hash[b]);
      }
    } else if (kind < 18) {  // prefix hit on a cached free block
      std::vector<int32_t> cached;
      for (const auto& [k, b] : free_list) {
        if (hash[b]) cached.push_back(b);
      }
      if (cached.empty()) continue;
      const int32_t b = cached[pick(cached.size())];
      pool.Revive(b);
      free_list.erase({key[b], b});
      ref[b] = 1;
      held.push_back(b);
      ++revives;
    } else {  // a short sequence finishes
      for (int n = 0; n < 2 && !held.empty(); ++n) {
        const int32_t b = held.back();
        held.pop_back();
        pool.Release(b);
        if (--ref[b] == 0) {
          key[b] = hash[b] ? back++ : --front;
          free_list.emplace(key[b], b);
        }
      }
    }
    if (op % 997 == 0) {
      ASSERT_EQ(pool.CheckInvariants(), "") << "op " << op;
    }
  }

  ASSERT_EQ(pool.CheckInvariants(), "");
  // The mix must reach the interesting states, or the comparison proves little.
  EXPECT_GT(exhausted, 100);
  EXPECT_GT(evictions, 100);
  EXPECT_GT(revives, 100);
  int32_t cached = 0;
  for (int32_t b = 0; b < kBlocks; ++b) {
    EXPECT_EQ(pool.RefCount(b), ref[b]) << "block " << b;
    EXPECT_EQ(pool.Hash(b), hash[b]) << "block " << b;
    cached += ref[b] == 0 && hash[b].has_value();
  }
  const BlockPoolStats s = pool.Stats();
  EXPECT_EQ(s.free_blocks, static_cast<int32_t>(free_list.size()));
  EXPECT_EQ(s.cached_free_blocks, cached);
  // The remaining free order must match the model too.
  std::vector<int32_t> want_order;
  for (const auto& [k, b] : free_list) want_order.push_back(b);
  EXPECT_EQ(AllocateAll(pool), want_order);
}

}  // namespace
}  // namespace xq
