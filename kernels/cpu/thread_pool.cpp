#include "kernels/include/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <memory>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace xq {
namespace {

// How long an idle thread spins before it sleeps. The regions of one forward pass follow each
// other within microseconds, so workers stay awake through a step; between steps (or when the
// server is idle) they sleep after this long. Waking a sleeping worker costs tens of
// microseconds, which at a few hundred regions per step is what made passive OpenMP 2.5x slower.
constexpr auto kSpinTime = std::chrono::microseconds(200);

thread_local bool inside_parallel_for = false;

void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// Spins until ready() or kSpinTime has passed; yields now and then so that on a shared core
// whatever else is runnable goes first (on an idle one the yield returns at once).
template <class Ready>
bool SpinUntil(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    CpuRelax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
  }
}

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ThreadPool::ThreadPool(int threads) : slices_(new Slice[std::max(1, threads)]) {
  const int workers = std::max(1, threads) - 1;
  workers_.reserve(workers);
  for (int w = 1; w <= workers; ++w) workers_.emplace_back([this, w] { WorkerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(callers_);
    stop_.store(true, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
  }
  for (std::thread& t : workers_) t.join();
}

bool ThreadPool::InsideParallelFor() { return inside_parallel_for; }

void ThreadPool::Run(int64_t n, Schedule schedule, Task task, void* context) {
  std::lock_guard lock(callers_);
  task_ = task;
  context_ = context;
  n_ = n;
  schedule_ = schedule;
  next_.store(0, std::memory_order_relaxed);
  const int64_t t = threads();
  for (int64_t i = 0; i < t; ++i) {
    slices_[i].next.store(n * i / t, std::memory_order_relaxed);
    slices_[i].end = n * (i + 1) / t;
  }
  state_.store(0, std::memory_order_release);  // open, nobody inside
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_all();
  inside_parallel_for = true;
  DoShare(0);
  inside_parallel_for = false;
  // Every index has been claimed; close the region (late workers skip it) and wait only for
  // the workers inside, which are finishing the indices they claimed.
  if (state_.fetch_or(kClosed, std::memory_order_acq_rel) != 0) WaitForWorkersInside();
  parallel_regions_.fetch_add(1, std::memory_order_relaxed);
}

void ThreadPool::WorkerLoop(int worker) {
  inside_parallel_for = true;  // a body that calls ParallelFor runs its loop inline
  uint32_t seen = 0;
  for (;;) {
    WaitForWork(seen);
    seen = epoch_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    if (!Join()) continue;  // finished without this worker
    DoShare(worker);
    Leave();
  }
}

bool ThreadPool::Join() {
  uint32_t s = state_.load(std::memory_order_relaxed);
  while (!(s & kClosed)) {
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) return true;
  }
  return false;
}

void ThreadPool::Leave() {
  if (state_.fetch_sub(1, std::memory_order_release) - 1 == kClosed) state_.notify_all();
}

void ThreadPool::DoShare(int thread) {
  if (schedule_ == Schedule::kDynamic) {
    for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n_;) task_(context_, i);
    return;
  }
  // Its own slice first, then whatever the others have not started.
  const int t = threads();
  for (int k = 0; k < t; ++k) RunSlice(slices_[(thread + k) % t]);
}

void ThreadPool::RunSlice(Slice& slice) {
  for (int64_t i; (i = slice.next.fetch_add(1, std::memory_order_relaxed)) < slice.end;) {
    task_(context_, i);
  }
}

void ThreadPool::WaitForWork(uint32_t seen) {
  auto moved = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
  if (SpinUntil(moved)) return;
  while (!moved()) epoch_.wait(seen, std::memory_order_acquire);
}

void ThreadPool::WaitForWorkersInside() {
  auto done = [&] { return state_.load(std::memory_order_acquire) == kClosed; };
  if (SpinUntil(done)) return;
  for (uint32_t s; (s = state_.load(std::memory_order_acquire)) != kClosed;) {
    state_.wait(s, std::memory_order_acquire);
  }
}

namespace {
std::mutex compute_pool_mutex;
std::unique_ptr<ThreadPool> compute_pool;
}  // namespace

ThreadPool& ComputePool() {
  std::lock_guard lock(compute_pool_mutex);
  if (!compute_pool) compute_pool = std::make_unique<ThreadPool>(UsableCpus());
  return *compute_pool;
}

void SetComputeThreads(int threads) {
  std::lock_guard lock(compute_pool_mutex);
  if (compute_pool && compute_pool->threads() == threads) return;
  compute_pool.reset();
  compute_pool = std::make_unique<ThreadPool>(threads);
}

}  // namespace xq
