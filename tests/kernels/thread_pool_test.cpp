// The compute pool: every index runs exactly once on any schedule, the parallel path really uses
// several threads, nested and concurrent callers are safe, and sleeping workers wake up.
#include "kernels/include/thread_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace xq {
namespace {

// Runs one region and checks each index was visited exactly once.
void ExpectEachIndexOnce(ThreadPool& pool, int64_t n, Schedule schedule) {
  std::vector<std::atomic<int>> visits(n);
  pool.ParallelFor(n, schedule, [&](int64_t i) { visits[i].fetch_add(1); });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), 1) << "index " << i << " of " << n;
}

TEST(ThreadPool, VisitsEachIndexOnceForRandomSizesThreadsAndSchedules) {
  std::mt19937 rng(7);
  for (int threads : {1, 2, 3, 5, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = std::uniform_int_distribution<int64_t>(0, 3000)(rng);
      ExpectEachIndexOnce(pool, n, trial % 2 ? Schedule::kDynamic : Schedule::kStatic);
    }
  }
}

TEST(ThreadPool, ParallelPathUsesSeveralThreads) {
  ThreadPool pool(4);
  std::mutex mutex;
  std::set<std::thread::id> seen;
  const int64_t before = pool.parallel_regions();
  pool.ParallelFor(4, Schedule::kStatic, [&](int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard lock(mutex);
    seen.insert(std::this_thread::get_id());
  });
  // Each slice is its owner's unless another thread finished first and took it over, which
  // only a busy machine makes likely.
  EXPECT_GE(seen.size(), 2u);
  EXPECT_TRUE(seen.count(std::this_thread::get_id())) << "the caller takes a share";
  EXPECT_EQ(pool.parallel_regions(), before + 1);
}

TEST(ThreadPool, ASlowThreadsUnstartedIndicesAreTakenOver) {
  // The worker stalls on each index it runs (as if descheduled); the caller, done with its own
  // half, takes the rest of the worker's half instead of waiting.
  ThreadPool pool(2);
  const int64_t n = 40;
  const auto caller = std::this_thread::get_id();
  std::vector<std::thread::id> ran_on(n);
  pool.ParallelFor(n, Schedule::kStatic, [&](int64_t i) {
    ran_on[i] = std::this_thread::get_id();
    if (ran_on[i] != caller) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  });
  const auto by_caller = std::count(ran_on.begin() + n / 2, ran_on.end(), caller);
  EXPECT_GE(by_caller, n / 2 - 3) << "of the worker's " << n / 2 << " indices";
  EXPECT_EQ(std::count(ran_on.begin(), ran_on.begin() + n / 2, caller), n / 2);
}

TEST(ThreadPool, SerialWhenAskedOrTooSmall) {
  ThreadPool pool(4);
  const int64_t before = pool.parallel_regions();
  std::set<std::thread::id> seen;
  pool.ParallelFor(100, Schedule::kStatic, [&](int64_t) { seen.insert(std::this_thread::get_id()); },
                   /*parallel=*/false);
  pool.ParallelFor(1, Schedule::kStatic, [&](int64_t) { seen.insert(std::this_thread::get_id()); });
  EXPECT_THAT(seen, ::testing::ElementsAre(std::this_thread::get_id()));
  EXPECT_EQ(pool.parallel_regions(), before);
}

TEST(ThreadPool, NestedRegionsRunInlineOnTheirThread) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> visits(16 * 16);
  std::atomic<bool> inner_moved{false};
  pool.ParallelFor(16, Schedule::kDynamic, [&](int64_t i) {
    EXPECT_TRUE(ThreadPool::InsideParallelFor());
    const auto outer = std::this_thread::get_id();
    pool.ParallelFor(16, Schedule::kStatic, [&](int64_t j) {
      if (std::this_thread::get_id() != outer) inner_moved = true;
      visits[i * 16 + j].fetch_add(1);
    });
  });
  EXPECT_FALSE(ThreadPool::InsideParallelFor());
  EXPECT_FALSE(inner_moved.load());
  for (auto& v : visits) ASSERT_EQ(v.load(), 1);
}

TEST(ThreadPool, ConcurrentCallersTakeTurns) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 200; ++round) {
        const int64_t n = 50 + (c * 37 + round * 11) % 400;
        std::vector<std::atomic<int>> visits(n);
        pool.ParallelFor(n, round % 2 ? Schedule::kDynamic : Schedule::kStatic,
                         [&](int64_t i) { visits[i].fetch_add(1); });
        for (auto& v : visits) failures += v.load() != 1;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ThreadPool, SleepingWorkersWakeForTheNextRegion) {
  ThreadPool pool(4);
  for (int round = 0; round < 5; ++round) {
    // Longer than the spin: the workers are asleep on the futex when the region starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Each index waits until all four are running at once, so no thread can take a second one:
    // four distinct threads must have woken. The deadline only bounds a failure (a worker that
    // never wakes), however slowly a loaded machine schedules the others.
    std::set<std::thread::id> seen;
    std::mutex mutex;
    std::condition_variable all_in;
    pool.ParallelFor(4, Schedule::kStatic, [&](int64_t) {
      std::unique_lock lock(mutex);
      seen.insert(std::this_thread::get_id());
      all_in.notify_all();
      all_in.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() == 4; });
    });
    EXPECT_EQ(seen.size(), 4u) << "round " << round;
  }
}

TEST(ThreadPool, RangesCoverTheIndexSpaceInGrainSizedPieces) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 999, 1000, 1001, 12345}) {
    std::vector<std::atomic<int>> visits(n);
    std::atomic<int64_t> widest{0};
    pool.ParallelForRanges(n, 1000, [&](int64_t begin, int64_t end) {
      int64_t w = widest.load();
      while (end - begin > w && !widest.compare_exchange_weak(w, end - begin)) {
      }
      for (int64_t i = begin; i < end; ++i) visits[i].fetch_add(1);
    });
    for (auto& v : visits) ASSERT_EQ(v.load(), 1) << n;
    EXPECT_LE(widest.load(), 1000);
  }
}

TEST(ComputePool, ResizedBySetComputeThreads) {
  SetComputeThreads(3);
  EXPECT_EQ(ComputePool().threads(), 3);
  ExpectEachIndexOnce(ComputePool(), 1000, Schedule::kStatic);
  SetComputeThreads(1);
  EXPECT_EQ(ComputePool().threads(), 1);
  ExpectEachIndexOnce(ComputePool(), 1000, Schedule::kDynamic);
}

}  // namespace
}  // namespace xq
