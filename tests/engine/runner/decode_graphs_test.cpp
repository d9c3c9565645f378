// DecodeGraphs' policy over the runtime stand-in, with a one-kernel "step" (x += 1): eager the
// first time a shape is seen, captured the second, replayed after; captured again when the
// step's addresses change; the least recently used dropped past the limit; a failed capture
// turns graphs off and still runs the step.
#include "engine/runner/cuda/decode_graphs.h"

#include <gtest/gtest.h>

#include <vector>

#include "engine/runner/cuda/cuda_check.h"
#include "engine/runner/cuda/device_buffer.h"
#include "kernels/cuda/ops.h"

namespace xq {
namespace {

class DecodeGraphsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CheckCuda(cudaStreamCreate(&stream_), "stream");
    x_.Upload(std::vector<float>{0.0f}, stream_);
    one_.Upload(std::vector<float>{1.0f}, stream_);
  }
  void TearDown() override { cudaStreamDestroy(stream_); }
  // One step of shape `bucket` (x += 1), its addresses those given.
  void Step(DecodeGraphs& graphs, int64_t bucket, std::vector<const void*> addresses = {}) {
    graphs.Run(DecodeGraphKey{bucket, 1, 1}, std::move(addresses), stream_,
               [&] { cuda::LaunchResidualAdd(x_.data(), one_.data(), 1, stream_); });
  }
  float X() {
    float v = 0;
    CheckCuda(cudaMemcpy(&v, x_.data(), 4, cudaMemcpyDeviceToHost), "read");
    return v;
  }
  cudaStream_t stream_ = nullptr;
  DeviceBuffer<float> x_, one_;
};

TEST_F(DecodeGraphsTest, EagerOnceThenCapturedThenReplayed) {
  DecodeGraphs graphs;
  for (int i = 0; i < 4; ++i) Step(graphs, 8);
  EXPECT_EQ(X(), 4.0f) << "every step ran once, captured or not";
  EXPECT_EQ(graphs.stats().eager_steps, 1);
  EXPECT_EQ(graphs.stats().captures, 1);
  EXPECT_EQ(graphs.stats().replays, 3);
  EXPECT_EQ(graphs.size(), 1u);
}

TEST_F(DecodeGraphsTest, MovedAddressesAreCapturedAgain) {
  DecodeGraphs graphs;
  int a = 0, b = 0;
  Step(graphs, 8, {&a});
  Step(graphs, 8, {&a});
  Step(graphs, 8, {&b});  // a buffer of the step moved
  Step(graphs, 8, {&b});
  EXPECT_EQ(X(), 4.0f);
  EXPECT_EQ(graphs.stats().captures, 2);
  EXPECT_EQ(graphs.stats().replays, 3);
  EXPECT_EQ(graphs.size(), 1u);
}

TEST_F(DecodeGraphsTest, TheLeastRecentlyUsedIsDroppedPastTheLimit) {
  DecodeGraphs graphs(2);
  for (const int64_t bucket : {1, 1, 2, 2, 1, 4, 4}) Step(graphs, bucket);
  // 1 and 2 captured; 1 replayed (so 2 is the least recent); 4 captured in 2's place.
  EXPECT_EQ(graphs.size(), 2u);
  EXPECT_EQ(graphs.stats().captures, 3);
  Step(graphs, 1);  // still there: a replay
  EXPECT_EQ(graphs.stats().captures, 3);
  Step(graphs, 2);  // dropped, seen before: captured again
  EXPECT_EQ(graphs.stats().captures, 4);
  EXPECT_EQ(X(), 9.0f);
}

TEST_F(DecodeGraphsTest, AFailedCaptureTurnsGraphsOffAndStillRunsTheStep) {
  DecodeGraphs graphs;
  const std::vector<float> two = {2.0f};
  auto copy_step = [&] {  // a copy: refused inside a capture
    CheckCuda(cudaMemcpyAsync(x_.data(), two.data(), 4, cudaMemcpyHostToDevice, stream_), "copy");
  };
  graphs.Run(DecodeGraphKey{8}, {}, stream_, copy_step);
  EXPECT_TRUE(graphs.enabled());
  CheckCuda(cudaMemcpy(x_.data(), std::vector<float>{0.0f}.data(), 4, cudaMemcpyHostToDevice),
            "reset");
  graphs.Run(DecodeGraphKey{8}, {}, stream_, copy_step);  // the capture fails
  EXPECT_FALSE(graphs.enabled());
  EXPECT_EQ(X(), 2.0f) << "the step ran eagerly";
  EXPECT_EQ(graphs.stats().captures, 0);
  EXPECT_EQ(graphs.stats().eager_steps, 2);
  EXPECT_EQ(graphs.size(), 0u);
}

}  // namespace
}  // namespace xq
