#include "tests/kernels/simt/simt.h"

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace xq::simt {
namespace {

// Kernels keep small arrays on their stacks (a head's query and accumulator); sanitizer builds
// grow frames a lot.
constexpr size_t kStackBytes = 256 * 1024;

enum class Status { kRunnable, kWaiting, kDone };

// Threads arrived at one barrier; released together when all `expected` are there.
struct Barrier {
  unsigned expected = 0, arrived = 0;
};

namespace ctx = boost::context;

// Gives a fiber the same stack memory block after block: a block's threads have all finished
// before the next block's start.
class ReusedStack {
 public:
  explicit ReusedStack(char* base) : base_(base) {}
  ctx::stack_context allocate() {
    ctx::stack_context sc;
    sc.size = kStackBytes;
    sc.sp = base_ + kStackBytes;  // stacks grow down
    return sc;
  }
  void deallocate(ctx::stack_context&) noexcept {}

 private:
  char* base_;
};

struct Fiber {
  // Declared before the context, so destroyed after it: a fiber abandoned mid-kernel (a failed
  // launch) is unwound on its own stack when its context goes.
  std::unique_ptr<char[]> stack;  // left uninitialized: only what a thread uses gets touched
  ctx::fiber context;             // the suspended thread; empty while it runs and once done
  ThreadState state;
  Status status = Status::kRunnable;
  const Barrier* waiting_on = nullptr;
};

}  // namespace

struct Block {
  std::vector<Fiber> fibers;
  std::vector<unsigned char> shared;  // dynamic shared memory, 0xCD before each block
  Barrier block_barrier;
  std::vector<Barrier> warp_barriers;  // one per warp of 32
  std::vector<uint64_t> warp_slots;    // [warps][32] exchange area
  std::vector<unsigned char> gather;   // [warps][32][kGatherBytes] for WarpGather
  ctx::fiber scheduler;                // inside a running thread: where it yields to
  const std::function<void()>* body = nullptr;
  Fiber* running = nullptr;
  std::exception_ptr error;
};

namespace {

// The calling thread arrives at `barrier`; it stops until the last of its peers arrives, which
// releases them all.
void Arrive(Barrier& barrier) {
  Block& b = *tls.block;
  Fiber& self = *b.running;
  if (++barrier.arrived == barrier.expected) {
    barrier.arrived = 0;
    for (Fiber& f : b.fibers) {
      if (f.status == Status::kWaiting && f.waiting_on == &barrier) f.status = Status::kRunnable;
    }
    return;  // the last to arrive goes on
  }
  self.status = Status::kWaiting;
  self.waiting_on = &barrier;
  b.scheduler = std::move(b.scheduler).resume();
  tls = self.state;  // other fibers ran meanwhile
}

// Makes f the start of the kernel body on its own stack. An exception leaving the body is kept
// for the launch to rethrow; the unwinding of an abandoned fiber (boost's forced_unwind) passes.
void StartFiber(Fiber& f, Block& b) {
  f.context =
      ctx::fiber(std::allocator_arg, ReusedStack(f.stack.get()), [&f, &b](ctx::fiber&& scheduler) {
        b.scheduler = std::move(scheduler);
        try {
          (*b.body)();
        } catch (const ctx::detail::forced_unwind&) {
          throw;
        } catch (...) {
          if (!b.error) b.error = std::current_exception();
        }
        f.status = Status::kDone;
        return std::move(b.scheduler);
      });
}

// Runs the block's threads until all are done; throws when every thread left waits.
void RunBlock(Block& b, bool reverse) {
  const size_t n = b.fibers.size();
  for (;;) {
    bool ran = false, all_done = true;
    for (size_t k = 0; k < n; ++k) {
      Fiber& f = b.fibers[reverse ? n - 1 - k : k];
      if (f.status == Status::kDone) continue;
      all_done = false;
      if (f.status != Status::kRunnable) continue;
      ran = true;
      b.running = &f;
      tls = f.state;
      f.context = std::move(f.context).resume();
    }
    if (b.error) std::rethrow_exception(b.error);
    if (all_done) return;
    if (!ran) {
      throw std::logic_error(
          "simt: threads wait at a barrier that others never reach (exited "
          "or waiting elsewhere): a deadlock on a GPU");
    }
  }
}

}  // namespace

void CheckLaunch(dim3 grid, dim3 block, size_t shared_bytes) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("simt: launch of grid (" + std::to_string(grid.x) + ", " +
                                std::to_string(grid.y) + ", " + std::to_string(grid.z) +
                                "), block (" + std::to_string(block.x) + ", " +
                                std::to_string(block.y) + ", " + std::to_string(block.z) + "), " +
                                std::to_string(shared_bytes) + " shared bytes: " + what +
                                " (cudaErrorInvalidConfiguration on a GPU)");
  };
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) {
    fail("1 to 1024 threads, z at most 64");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535) {
    fail("a grid of 1 to 2^31 - 1 blocks in x, 1 to 65535 in y and z");
  }
  if (shared_bytes > kMaxSharedBytes) fail("more than 48 KiB of dynamic shared memory");
}

void Run(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block.count();
  if (threads == 0 || threads > 1024) throw std::invalid_argument("simt: 1 to 1024 threads");
  Block b;
  b.body = &body;
  b.fibers.resize(threads);
  b.shared.resize(shared_bytes);
  const unsigned warps = (threads + 31) / 32;
  b.warp_barriers.resize(warps);
  for (unsigned w = 0; w < warps; ++w)
    b.warp_barriers[w].expected = std::min(32u, threads - w * 32);
  b.block_barrier.expected = threads;
  b.warp_slots.resize(warps * 32);
  b.gather.resize(warps * 32 * kGatherBytes);
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = b.fibers[t];
    f.stack.reset(new char[kStackBytes]);
    f.state.thread_idx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
    f.state.block_dim = block;
    f.state.grid_dim = grid;
    f.state.linear = t;
    f.state.block = &b;
  }
  const unsigned blocks = grid.count();
  for (unsigned bi = 0; bi < blocks; ++bi) {
    std::fill(b.shared.begin(), b.shared.end(), 0xCD);
    for (Fiber& f : b.fibers) {
      f.state.block_idx = dim3(bi % grid.x, bi / grid.x % grid.y, bi / (grid.x * grid.y));
      f.status = Status::kRunnable;
      StartFiber(f, b);
    }
    const ThreadState outer = tls;
    try {
      RunBlock(b, /*reverse=*/bi % 2 == 1);
    } catch (...) {
      tls = outer;
      throw;
    }
    tls = outer;
  }
}

namespace {
// The graph being captured on this thread (CUDA's thread-local capture mode), if any.
thread_local std::unique_ptr<std::vector<std::function<void()>>> captured;
}  // namespace

void Enqueue(std::function<void()> work) {
  if (captured) {
    captured->push_back(std::move(work));
  } else {
    work();
  }
}

void BeginCapture() {
  if (captured) throw std::logic_error("simt: a capture is already in progress");
  captured = std::make_unique<std::vector<std::function<void()>>>();
}

bool Capturing() { return captured != nullptr; }

std::vector<std::function<void()>> EndCapture() {
  if (!captured) throw std::logic_error("simt: no capture in progress");
  std::vector<std::function<void()>> work = std::move(*captured);
  captured.reset();
  return work;
}

unsigned char* BlockShared() { return tls.block->shared.data(); }

void SyncThreads() { Arrive(tls.block->block_barrier); }

namespace {
void RequireWholeWarp(const Block& b) {
  if ((tls.linear / 32 + 1) * 32 > b.fibers.size()) {
    throw std::logic_error("simt: warp-collective operations need whole warps of 32 threads");
  }
}
}  // namespace

uint64_t WarpExchange(uint64_t bits, int src_lane) {
  Block& b = *tls.block;
  const unsigned warp = tls.linear / 32, lane = tls.linear % 32;
  RequireWholeWarp(b);
  if (src_lane < 0 || src_lane > 31) throw std::logic_error("simt: shuffle lane out of 0..31");
  b.warp_slots[warp * 32 + lane] = bits;
  Arrive(b.warp_barriers[warp]);  // every lane has written
  const uint64_t got = b.warp_slots[warp * 32 + static_cast<unsigned>(src_lane)];
  Arrive(b.warp_barriers[warp]);  // every lane has read before the slots are reused
  return got;
}

void WarpGather(const void* mine, size_t bytes, void* all) {
  Block& b = *tls.block;
  RequireWholeWarp(b);
  if (bytes > kGatherBytes) throw std::logic_error("simt: WarpGather holds 64 bytes a lane");
  unsigned char* slots = b.gather.data() + tls.linear / 32 * 32 * kGatherBytes;
  std::memcpy(slots + tls.linear % 32 * kGatherBytes, mine, bytes);
  Arrive(b.warp_barriers[tls.linear / 32]);  // every lane has written
  for (int l = 0; l < 32; ++l) {
    std::memcpy(static_cast<unsigned char*>(all) + l * bytes, slots + l * kGatherBytes, bytes);
  }
  Arrive(b.warp_barriers[tls.linear / 32]);  // every lane has read before the slots are reused
}

void RequireFullMask(unsigned mask) {
  if (mask != 0xffffffffu) throw std::logic_error("simt: only full-warp shuffles are emulated");
}

}  // namespace xq::simt
