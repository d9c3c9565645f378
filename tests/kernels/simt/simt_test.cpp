// The SIMT emulation itself: barriers really wait, shuffles really exchange lanes, shared memory
// belongs to one block, indices are those of a CUDA launch.
#include "tests/kernels/simt/simt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/warp_mma.cuh"

namespace xq {
namespace {

// Each thread writes its index, then (after the barrier) reads its neighbour's: without a real
// barrier some reads would see the 0xCD fill.
__global__ void NeighbourKernel(int* out) {
  XQ_SHARED(int, shared);
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  shared[t] = t + 1000 * static_cast<int>(blockIdx.x);
  __syncthreads();
  out[blockIdx.x * n + t] = shared[(t + 1) % n];
}

__global__ void TouchKernel(int* out) { out[blockIdx.x] = 1; }

// A launch a GPU would refuse is refused here too, before anything runs; the limits themselves
// are accepted.
TEST(Simt, LaunchesOutsideTheGpusLimitsFail) {
  std::vector<int> out(2, 0);
  int* p = out.data();
  EXPECT_THROW(simt::Launch(dim3(0), dim3(32), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1, 65536), dim3(32), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1, 1, 65536), dim3(32), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1), dim3(1025), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1), dim3(32, 32, 2), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1), dim3(1, 1, 65), 0, TouchKernel, p), std::invalid_argument);
  EXPECT_THROW(simt::Launch(dim3(1), dim3(32), simt::kMaxSharedBytes + 1, TouchKernel, p),
               std::invalid_argument);
  EXPECT_EQ(out, std::vector<int>(2, 0));
  simt::Launch(dim3(2), dim3(1024), simt::kMaxSharedBytes, TouchKernel, p);
  EXPECT_EQ(out, std::vector<int>(2, 1));
}

TEST(Simt, BarriersAndSharedMemoryArePerBlock) {
  constexpr int kThreads = 96, kBlocks = 3;
  std::vector<int> out(kThreads * kBlocks, -1);
  simt::Launch(dim3(kBlocks), dim3(kThreads), kThreads * sizeof(int), NeighbourKernel, out.data());
  for (int b = 0; b < kBlocks; ++b) {
    for (int t = 0; t < kThreads; ++t) {
      ASSERT_EQ(out[b * kThreads + t], (t + 1) % kThreads + 1000 * b) << b << " " << t;
    }
  }
}

// Two warps, each loading its own A (16x16) and B (16x8) into fragments by the PTX layout
// (warp_mma.cuh) and accumulating A B onto C twice.
__global__ void MmaKernel(const float* a, const float* b, float* c) {
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  a += warp * 256;
  b += warp * 128;
  c += warp * 128;
  uint32_t af[4], bf[2];
  for (int r = 0; r < 4; ++r) {
    const int row = g + 8 * (r & 1), col = 2 * t + 8 * (r >> 1);
    af[r] = cuda::PackHalves(a[row * 16 + col], a[row * 16 + col + 1]);
  }
  for (int r = 0; r < 2; ++r)
    bf[r] = cuda::PackHalves(b[(2 * t + 8 * r) * 8 + g], b[(2 * t + 8 * r + 1) * 8 + g]);
  float d[4];
  for (int i = 0; i < 4; ++i) d[i] = c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
  cuda::MmaM16N8K16(d, af, bf);
  cuda::MmaM16N8K16(d, af, bf);
  for (int i = 0; i < 4; ++i) c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = d[i];
}

TEST(Simt, WarpMmaMultipliesTheWarpsFragments) {
  std::vector<float> a(2 * 256), b(2 * 128), c(2 * 128);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<float>(static_cast<int>(i * 7 % 23) - 11) / 8;
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<float>(static_cast<int>(i * 5 % 17) - 8) / 4;
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i);
  std::vector<float> want = c;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 16; ++i) {
      for (int j = 0; j < 8; ++j) {
        float sum = 0.0f;  // small multiples of 1/32: exact in fp16 and fp32
        for (int k = 0; k < 16; ++k) sum += a[w * 256 + i * 16 + k] * b[w * 128 + k * 8 + j];
        want[w * 128 + i * 8 + j] += 2 * sum;
      }
    }
  }
  simt::Launch(dim3(1), dim3(64), 0, MmaKernel, static_cast<const float*>(a.data()),
               static_cast<const float*>(b.data()), c.data());
  EXPECT_EQ(c, want);
}

__global__ void ShuffleKernel(float* xor_sum, int* broadcast) {
  const float v = static_cast<float>(threadIdx.x);
  xor_sum[threadIdx.x] = cuda::WarpSum(v);
  broadcast[threadIdx.x] = __shfl_sync(cuda::kFullWarp, static_cast<int>(threadIdx.x), 5);
}

TEST(Simt, ShufflesExchangeWithinEachWarp) {
  std::vector<float> sums(64);
  std::vector<int> casts(64);
  simt::Launch(dim3(1), dim3(64), 0, ShuffleKernel, sums.data(), casts.data());
  for (int t = 0; t < 64; ++t) {
    const int warp = t / 32;
    const float want = static_cast<float>(32 * 31 / 2 + warp * 32 * 32);
    EXPECT_EQ(sums[t], want) << t;
    EXPECT_EQ(casts[t], warp * 32 + 5) << t;
  }
}

__global__ void BlockSumKernel(const float* x, float* out) {
  XQ_SHARED(float, scratch);
  const float total = cuda::BlockSum(x[threadIdx.x], scratch);
  out[threadIdx.x] = total;
}

TEST(Simt, BlockSumGivesEveryThreadTheTotal) {
  for (unsigned threads : {32u, 128u, 256u}) {
    std::vector<float> x(threads), out(threads, -1.0f);
    std::iota(x.begin(), x.end(), 1.0f);
    simt::Launch(dim3(1), dim3(threads), 32 * sizeof(float), BlockSumKernel, x.data(), out.data());
    for (float v : out) EXPECT_EQ(v, threads * (threads + 1) / 2.0f) << threads;
  }
}

__global__ void IndexKernel(int* out) {
  const unsigned linear = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned block = blockIdx.x + gridDim.x * blockIdx.y;
  out[block * blockDim.x * blockDim.y * blockDim.z + linear] =
      static_cast<int>(block * 1000 + linear);
}

TEST(Simt, IndicesFollowCudaLaunchOrder) {
  const dim3 grid(2, 3), block(4, 2, 2);
  std::vector<int> out(6 * 16, -1);
  simt::Launch(grid, block, 0, IndexKernel, out.data());
  for (int b = 0; b < 6; ++b) {
    for (int t = 0; t < 16; ++t) EXPECT_EQ(out[b * 16 + t], b * 1000 + t);
  }
}

// Reads the neighbour's value with no barrier between write and read: a race on a GPU. Even
// blocks run threads in order (thread t reads t+1 before it wrote), odd blocks in reverse (t
// reads t-1... and t+1 already wrote): the race must show as the 0xCD fill in one of them.
__global__ void RacyNeighbourKernel(int* out) {
  XQ_SHARED(int, shared);
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  shared[t] = t;
  out[blockIdx.x * n + t] = shared[(t + 1) % n];
}

TEST(Simt, AMissingBarrierShowsUp) {
  constexpr int kThreads = 64;
  std::vector<int> out(2 * kThreads, -1);
  simt::Launch(dim3(2), dim3(kThreads), kThreads * sizeof(int), RacyNeighbourKernel, out.data());
  int stale = 0;
  for (int v : out) stale += v == static_cast<int>(0xCDCDCDCDu);
  EXPECT_GT(stale, 0);
}

// Thread 0 leaves before the barrier the others wait at: a deadlock on a GPU, an error here.
__global__ void EarlyExitKernel(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(Simt, ABarrierSomeThreadsNeverReachFailsTheLaunch) {
  std::vector<int> out(64);
  EXPECT_THROW(simt::Launch(dim3(1), dim3(64), 0, EarlyExitKernel, out.data()), std::logic_error);
  // The emulation is usable again afterwards.
  std::vector<int> casts(64);
  std::vector<float> sums(64);
  simt::Launch(dim3(1), dim3(64), 0, ShuffleKernel, sums.data(), casts.data());
  EXPECT_EQ(casts[40], 37);
}

}  // namespace
}  // namespace xq
