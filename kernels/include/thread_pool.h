// The forward pass's worker threads. Each ParallelFor wakes the pool, splits an index range over
// its threads (the caller is thread 0) and returns when all indices are done. Idle workers spin
// briefly (the next region of a decode step follows within microseconds) and then sleep on a
// futex, so the pool is as quick as spinning OpenMP on an idle machine and leaves the cores alone
// on a shared one; no environment variable chooses between the two. On a shared machine a thread
// may be descheduled mid-region: the others take over its unstarted indices, and a region never
// waits for a worker that has not started it (a late worker finds it closed and skips it).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace xq {

enum class Schedule {
  // Thread t takes the t-th contiguous slice (the same data for the same core, region after
  // region); a thread done with its own slice takes the unstarted rest of the others'.
  kStatic,
  kDynamic,  // indices handed out one at a time from the start: for items of uneven cost
};

class ThreadPool {
 public:
  // threads counts the caller: a pool of 1 runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // True on a pool's worker and on a caller inside ParallelFor: a ParallelFor here runs inline.
  static bool InsideParallelFor();

  // Calls body(i) for each i in [0, n) and returns when every call has. Runs inline when
  // parallel is false, n < 2, the pool has one thread, or the caller is already inside a
  // ParallelFor of any pool (nesting). Concurrent callers take turns. body must not throw.
  template <class Body>
  void ParallelFor(int64_t n, Schedule schedule, Body&& body, bool parallel = true) {
    if (!parallel || n < 2 || workers_.empty() || InsideParallelFor()) {
      for (int64_t i = 0; i < n; ++i) body(i);
      return;
    }
    using Callable = std::remove_reference_t<Body>;
    Run(n, schedule, [](void* context, int64_t i) { (*static_cast<Callable*>(context))(i); },
        const_cast<void*>(static_cast<const void*>(&body)));
  }

  // Calls body(begin, end) over [0, n) in ranges of grain indices: for work too cheap per index
  // to pay a call each.
  template <class Body>
  void ParallelForRanges(int64_t n, int64_t grain, Body&& body, bool parallel = true) {
    ParallelFor(
        (n + grain - 1) / grain, Schedule::kStatic,
        [&](int64_t c) { body(c * grain, std::min(n, (c + 1) * grain)); }, parallel);
  }

  // Regions run so far on the parallel path (tests check that it ran).
  int64_t parallel_regions() const { return parallel_regions_.load(std::memory_order_relaxed); }

 private:
  using Task = void (*)(void* context, int64_t index);
  // Thread t's static slice: next is claimed with fetch_add by its owner or by a thief.
  struct alignas(64) Slice {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  // state_: the closed bit, and the number of workers inside the region.
  static constexpr uint32_t kClosed = 1u << 31;

  void Run(int64_t n, Schedule schedule, Task task, void* context);
  void WorkerLoop(int worker);
  bool Join();
  void Leave();
  void DoShare(int thread);
  void RunSlice(Slice& slice);
  void WaitForWork(uint32_t seen);
  void WaitForWorkersInside();

  std::vector<std::thread> workers_;
  std::unique_ptr<Slice[]> slices_;
  std::mutex callers_;  // one region at a time

  // The current region, written by the caller before it opens state_ (release) and read by
  // workers after they join it (acquire); rewritten only once it is closed with nobody inside.
  Task task_ = nullptr;
  void* context_ = nullptr;
  int64_t n_ = 0;
  Schedule schedule_ = Schedule::kStatic;
  std::atomic<int64_t> next_{0};  // the next index of a dynamic region

  std::atomic<uint32_t> state_{kClosed};
  std::atomic<uint32_t> epoch_{0};  // bumped once per region (and at shutdown): wakes workers
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> parallel_regions_{0};
};

// The process-wide pool the kernels and the CPU runner use: as many threads as CPUs this
// process may run on, until SetComputeThreads says otherwise.
ThreadPool& ComputePool();
// Replaces the process-wide pool (at startup: not while a region runs).
void SetComputeThreads(int threads);

}  // namespace xq
