#include "tests/kernels/simt/simt.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace xq::simt {

Block::Block(unsigned threads, size_t shared_bytes)
    : threads(threads),
      barrier(threads),
      warp_slots((threads + 31) / 32 * 32),
      shared(shared_bytes, 0xCD) {
  for (unsigned w = 0; w < (threads + 31) / 32; ++w) {
    const unsigned lanes = std::min(32u, threads - w * 32);
    warp_barriers.push_back(std::make_unique<std::barrier<>>(lanes));
  }
}

void Run(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block.count();
  if (threads == 0 || threads > 1024) throw std::invalid_argument("simt: 1 to 1024 threads");
  // One OS thread per CUDA thread, reused block after block (blocks run one at a time).
  Block state(threads, shared_bytes);
  const unsigned blocks = grid.count();
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      tls.thread_idx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
      tls.block_dim = block;
      tls.grid_dim = grid;
      tls.linear = t;
      tls.block = &state;
      for (unsigned b = 0; b < blocks; ++b) {
        tls.block_idx = dim3(b % grid.x, b / grid.x % grid.y, b / (grid.x * grid.y));
        body();
        state.barrier.arrive_and_wait();  // every thread is done with block b
        if (t == 0) std::fill(state.shared.begin(), state.shared.end(), 0xCD);
        state.barrier.arrive_and_wait();  // the next block starts with fresh shared memory
      }
    });
  }
  for (std::thread& th : pool) th.join();
}

unsigned char* BlockShared() { return tls.block->shared.data(); }

void SyncThreads() { tls.block->barrier.arrive_and_wait(); }

uint64_t WarpExchange(uint64_t bits, int src_lane) {
  Block& b = *tls.block;
  const unsigned warp = tls.linear / 32, lane = tls.linear % 32;
  std::barrier<>& warp_barrier = *b.warp_barriers[warp];
  if ((warp + 1) * 32 > b.threads || src_lane < 0 || src_lane > 31) {
    throw std::logic_error("simt: shuffles need whole warps of 32 threads");
  }
  b.warp_slots[warp * 32 + lane] = bits;
  warp_barrier.arrive_and_wait();  // every lane has written
  const uint64_t got = b.warp_slots[warp * 32 + static_cast<unsigned>(src_lane)];
  warp_barrier.arrive_and_wait();  // every lane has read before the slots are reused
  return got;
}

void RequireFullMask(unsigned mask) {
  if (mask != 0xffffffffu) throw std::logic_error("simt: only full-warp shuffles are emulated");
}

}  // namespace xq::simt
