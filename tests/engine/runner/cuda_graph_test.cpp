// CudaGraph over the runtime stand-in: what it records runs at each launch, and a capture
// whose body fails throws with the stream out of capture mode (the runner then runs eagerly).
#include "engine/runner/cuda/cuda_graph.h"

#include <gtest/gtest.h>

#include <vector>

#include "engine/common/error.h"
#include "engine/runner/cuda/cuda_check.h"
#include "engine/runner/cuda/device_buffer.h"
#include "kernels/cuda/ops.h"

namespace xq {
namespace {

class CudaGraphTest : public ::testing::Test {
 protected:
  void SetUp() override { CheckCuda(cudaStreamCreate(&stream_), "stream"); }
  void TearDown() override { cudaStreamDestroy(stream_); }
  std::vector<float> Read(const DeviceBuffer<float>& b, size_t n) {
    std::vector<float> host(n);
    CheckCuda(cudaMemcpy(host.data(), b.data(), n * 4, cudaMemcpyDeviceToHost), "read");
    return host;
  }
  cudaStream_t stream_ = nullptr;
};

TEST_F(CudaGraphTest, EachLaunchRunsWhatWasCaptured) {
  DeviceBuffer<float> x, one;
  x.Upload(std::vector<float>(8, 0.0f), stream_);
  one.Upload(std::vector<float>(8, 1.0f), stream_);
  CudaGraph graph(stream_, [&] {
    cuda::LaunchResidualAdd(x.data(), one.data(), 8, stream_);
    cuda::LaunchResidualAdd(x.data(), one.data(), 8, stream_);
  });
  EXPECT_EQ(Read(x, 8), std::vector<float>(8, 0.0f));
  graph.Launch(stream_);
  graph.Launch(stream_);
  EXPECT_EQ(Read(x, 8), std::vector<float>(8, 4.0f));
}

TEST_F(CudaGraphTest, AFailedCaptureThrowsAndLeavesTheStreamUsable) {
  DeviceBuffer<float> x;
  x.Reserve(8);
  const std::vector<float> host(8, 2.0f);
  auto copy_inside = [&] {
    CheckCuda(cudaMemcpyAsync(x.data(), host.data(), 32, cudaMemcpyHostToDevice, stream_),
              "copying inside a capture");
  };
  EXPECT_THROW(CudaGraph(stream_, copy_inside), Error);
  x.Upload(host, stream_);  // not capturing any more: runs
  EXPECT_EQ(Read(x, 8), host);
  CudaGraph again(stream_, [&] { cuda::LaunchResidualAdd(x.data(), x.data(), 8, stream_); });
  again.Launch(stream_);
  EXPECT_EQ(Read(x, 8), std::vector<float>(8, 4.0f));
}

}  // namespace
}  // namespace xq
