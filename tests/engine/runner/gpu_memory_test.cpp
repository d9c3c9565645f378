// --gpu-memory-utilization's arithmetic: what the KV cache gets of the device, and the clear
// errors when the fraction is invalid or leaves nothing.
#include "engine/runner/gpu_memory.h"

#include <gtest/gtest.h>

#include "engine/common/error.h"

namespace xq {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(GpuMemory, TheKvCacheGetsTheFractionLessWhatIsInUseAndTheActivations) {
  const GpuMemorySplit s = SplitGpuMemory(0.9, 100 * kGiB, 80 * kGiB, 2 * kGiB);
  EXPECT_EQ(s.in_use, 20 * kGiB);
  EXPECT_EQ(s.activations, 2 * kGiB);
  EXPECT_EQ(s.kv_cache, 90 * kGiB - 20 * kGiB - 2 * kGiB);
}

TEST(GpuMemory, InvalidOrTooSmallFractionsAreNamedErrors) {
  for (double f : {0.0, -0.5, 1.5}) {
    try {
      SplitGpuMemory(f, 100 * kGiB, 80 * kGiB, kGiB);
      FAIL() << f;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--gpu-memory-utilization: must be in (0, 1]"),
                std::string::npos);
    }
  }
  try {
    SplitGpuMemory(0.2, 100 * kGiB, 80 * kGiB, kGiB);  // 20 GiB, all of it in use already
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("leaves nothing for the KV cache"), std::string::npos)
        << e.what();
  }
}

TEST(GpuMemory, ActivationsGrowWithTheStepAndTheBatch) {
  ModelConfig c;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.vocab_size = 128256;
  const int64_t base = StepActivationBytes(c, 512, 64);
  EXPECT_GT(StepActivationBytes(c, 8192, 64), base);
  EXPECT_GT(StepActivationBytes(c, 512, 256), base);
  // Llama-3-8B's shape at 8192 tokens a step: about 2.4 GiB of per-token buffers and 125 MiB of
  // logits for 256 sequences; the estimate must hold them and stay the same order.
  const int64_t big = StepActivationBytes(c, 8192, 256);
  EXPECT_GT(big, 2 * kGiB);
  EXPECT_LT(big, 4 * kGiB);
}

}  // namespace
}  // namespace xq
