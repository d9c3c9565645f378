// CUDA graphs under the runtime stand-in: captured launches run at each graph launch, with the
// arguments they were captured with and the memory as it is then; copies, allocations and
// synchronization during a capture fail as our graphs must not hold them.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda/ops.h"

namespace xq {
namespace {

TEST(CudaGraphEmulated, CapturedLaunchesRunAtEachLaunchOverTheMemoryThen) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  constexpr int64_t n = 40;
  const std::vector<float> ones(n, 1.0f), twos(n, 2.0f);
  float *x = nullptr, *delta = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&x), n * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&delta), n * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(x, ones.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(delta, ones.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);

  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  cuda::LaunchResidualAdd(x, delta, n, stream);
  void* more = nullptr;
  EXPECT_EQ(cudaMalloc(&more, 16), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaMemcpyAsync(delta, twos.data(), n * 4, cudaMemcpyHostToDevice, stream),
            cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  std::vector<float> got(n);
  ASSERT_EQ(cudaMemcpy(got.data(), x, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, ones) << "captured, not run";

  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(delta, twos.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(got.data(), x, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, std::vector<float>(n, 4.0f)) << "1 + 1, then + 2 read at the second launch";
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaFree(x), cudaSuccess);
  EXPECT_EQ(cudaFree(delta), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

}  // namespace
}  // namespace xq
