// A test-only SIMT emulation: CUDA kernel sources compiled by the host compiler and run with one
// fiber (Boost.Context) per CUDA thread on the launching OS thread, so that barriers, shared memory
// and warp shuffles behave as on a GPU: a thread at __syncthreads really stops until every thread
// of its block is there; a shuffle really exchanges values between the 32 lanes of a warp. A
// thread runs until it waits, then the next one does. Blocks run one after another, even ones
// scheduling threads 0..n-1 and odd ones n-1..0, so that a missing barrier shows up whichever
// side of it the unordered reads fall. A barrier that some threads never reach (they exited or
// wait elsewhere) fails the launch instead of hanging. Small and deterministic: it exists to
// check kernel logic against the scalar references in CI, which has no GPU.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__

namespace xq::simt {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  unsigned count() const { return x * y * z; }
};

struct Block;  // one block's threads, barriers and shared memory (simt.cpp)

struct ThreadState {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
  unsigned linear = 0;  // thread index within the block (x fastest)
  Block* block = nullptr;
};
inline thread_local ThreadState tls;

// Calls `body` once per thread of every block of the grid, as a kernel launch would.
void Run(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body);

// Work ordered on "the stream" (kernel launches, GEMMs): runs now, or while a CUDA graph is
// being captured (BeginCapture) is recorded instead, with its arguments as they are now, to run
// each time the graph is launched: what a GPU does with a captured launch's parameters.
void Enqueue(std::function<void()> work);
void BeginCapture();
bool Capturing();
std::vector<std::function<void()>> EndCapture();

// A GPU's launch limits (compute capability 8.0 and later), which a launch that breaks them meets
// as cudaErrorInvalidConfiguration there and as std::invalid_argument here: 1 to 1024 threads
// (x, y at most 1024, z at most 64), a grid of at least one block with y and z at most 65535, and
// at most 48 KiB of dynamic shared memory (more needs an opt-in attribute our kernels do not set).
inline constexpr size_t kMaxSharedBytes = 48 * 1024;
void CheckLaunch(dim3 grid, dim3 block, size_t shared_bytes);

template <typename Kernel, typename... Args>
void Launch(dim3 grid, dim3 block, size_t shared_bytes, Kernel kernel, Args... args) {
  CheckLaunch(grid, block, shared_bytes);
  Enqueue([=] { Run(grid, block, shared_bytes, [&] { kernel(args...); }); });
}

unsigned char* BlockShared();
void SyncThreads();
// Every lane of the calling thread's warp stores `bits`; returns lane `src`'s value.
uint64_t WarpExchange(uint64_t bits, int src_lane);
// Every lane of the calling thread's warp stores `bytes` (at most kGatherBytes) from `mine`; each
// gets all 32 lanes' in lane order at `all` (32 * bytes): what a warp-collective instruction
// (mma.sync) sees of its lanes' registers.
inline constexpr size_t kGatherBytes = 64;
void WarpGather(const void* mine, size_t bytes, void* all);
void RequireFullMask(unsigned mask);

// Lane src_lane's v, for every lane of the calling thread's (full) warp.
template <typename T>
T Shuffle(unsigned mask, T v, int src_lane) {
  static_assert(sizeof(T) <= 8);
  RequireFullMask(mask);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  const uint64_t got = WarpExchange(bits, src_lane & 31);
  T out;
  std::memcpy(&out, &got, sizeof(T));
  return out;
}

template <typename T>
T ShuffleXor(unsigned mask, T v, int lane_mask) {
  return Shuffle(mask, v, static_cast<int>(tls.linear % 32) ^ lane_mask);
}

}  // namespace xq::simt

using xq::simt::dim3;
#define threadIdx (::xq::simt::tls.thread_idx)
#define blockIdx (::xq::simt::tls.block_idx)
#define blockDim (::xq::simt::tls.block_dim)
#define gridDim (::xq::simt::tls.grid_dim)
#define XQ_SHARED(T, name) T* name = reinterpret_cast<T*>(::xq::simt::BlockShared())

inline void __syncthreads() { ::xq::simt::SyncThreads(); }
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
  return ::xq::simt::ShuffleXor(mask, v, lane_mask);
}
template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane) {
  return ::xq::simt::Shuffle(mask, v, src_lane);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
